"""Analytic W potential tabulated for LAMMPS `pair_style eam/fs`.

Finnis & Sinclair, Phil. Mag. A 50, 45 (1984), with the short-range repulsion of Ackland & Thetford,
Phil. Mag. A 56, 15 (1987):

    E_i = 1/2 sum_j V(r_ij) - A sqrt(rho_i),   rho_i = sum_j phi(r_ij)
    phi(r) = (r - d)^2 + beta (r - d)^3 / d                          r < d
    V(r)   = (r - c)^2 (c0 + c1 r + c2 r^2) + B (b0 - r)^3 exp(-alpha r) [second term for r < b0]   r < c

W parameters (eV, Å): d = 4.400224, A = 1.896373, beta = 0, c = 3.25, c0 = 47.1346499, c1 = -33.7665655,
c2 = 6.2541999 (FS 1984); B = 90.3, alpha = 1.2, b0 = 2.7411 (AT 1987). At 0 K this gives a0 = 3.1652 Å,
E_coh = 8.90 eV and C11, C12, C44 = 522, 204, 161 GPa (the experimental values it was fitted to); the
Ackland-Thetford term vanishes at and beyond the nearest-neighbour distance (b0 = a0 sqrt(3)/2), so it leaves
these unchanged and only stiffens close approaches. Cut-off 4.40 Å (second-neighbour shell plus a margin):
several times cheaper per atom-step than the 7.9 Å range of the shipped W_zhou.eam.alloy.
"""
from __future__ import annotations

import os

import numpy as np

FS_W = {"d": 4.400224, "A": 1.896373, "beta": 0.0, "c": 3.25, "c0": 47.1346499, "c1": -33.7665655,
        "c2": 6.2541999, "B": 90.3, "alpha": 1.2, "b0": 2.7411}
W_LATTICE_0K = 3.1652
W_MASS = 183.84
W_ATOMIC_NUMBER = 74
FS_W_FILE = "W_ackland_thetford.eam.fs"


def fs_density(r: np.ndarray, p: dict = FS_W) -> np.ndarray:
    """phi(r) = (r - d)^2 + beta (r - d)^3 / d inside the cut-off d."""
    r = np.asarray(r, float)
    x = r - p["d"]
    return np.where(r < p["d"], x * x + p["beta"] * x**3 / p["d"], 0.0)


def fs_pair(r: np.ndarray, p: dict = FS_W) -> np.ndarray:
    """V(r) (eV): FS quartic repulsion inside c plus the Ackland-Thetford core term inside b0."""
    r = np.asarray(r, float)
    v = np.where(r < p["c"], (r - p["c"]) ** 2 * (p["c0"] + p["c1"] * r + p["c2"] * r * r), 0.0)
    return v + np.where(r < p["b0"], p["B"] * (p["b0"] - r) ** 3 * np.exp(-p["alpha"] * r), 0.0)


def fs_embedding(rho: np.ndarray, p: dict = FS_W) -> np.ndarray:
    """F(rho) = -A sqrt(rho)."""
    return -p["A"] * np.sqrt(np.maximum(np.asarray(rho, float), 0.0))


def write_fs_w(path: str | os.PathLike, nr: int = 5000, nrho: int = 5000, rho_max: float = 250.0,
               p: dict = FS_W) -> str:
    """Write the setfl (eam/fs) table: F(rho) on [0, rho_max], phi(r) and r V(r) on [0, d]. Returns the path."""
    from ddml_engine.io._atomic import write_text_atomic

    cutoff = max(p["d"], p["c"])
    dr = cutoff / (nr - 1)
    drho = rho_max / (nrho - 1)
    r = np.arange(nr) * dr
    rho = np.arange(nrho) * drho

    def block(values: np.ndarray) -> list[str]:
        return [" ".join(f"{v:.16e}" for v in values[k:k + 5]) for k in range(0, len(values), 5)]

    lines = ["Finnis-Sinclair W (Phil. Mag. A 50, 45, 1984) + Ackland-Thetford core (Phil. Mag. A 56, 15, 1987)",
             "tabulated by ddml_engine.md.potentials; units metal (eV, Angstrom)",
             "d=4.400224 A=1.896373 c=3.25 c0=47.1346499 c1=-33.7665655 c2=6.2541999 B=90.3 alpha=1.2 b0=2.7411",
             "1 W",
             f"{nrho} {drho!r} {nr} {dr!r} {cutoff!r}",
             f"{W_ATOMIC_NUMBER} {W_MASS} {W_LATTICE_0K} bcc"]
    lines += block(fs_embedding(rho, p))
    lines += block(fs_density(r, p))
    lines += block(r * fs_pair(r, p))
    write_text_atomic(path, "\n".join(lines) + "\n")
    return os.fspath(path)


def lattice_energy(a: float, strain: np.ndarray | None = None, p: dict = FS_W) -> float:
    """Energy per atom (eV) of a BCC crystal of lattice constant a (Å) under deformation gradient 1 + strain,
    by direct lattice sums (for checks of the tabulation)."""
    g = np.arange(-4, 5)
    cubic = np.array(np.meshgrid(g, g, g, indexing="ij"), float).reshape(3, -1).T
    pts = np.concatenate([cubic, cubic + 0.5])
    pts = pts[np.linalg.norm(pts, axis=1) > 1e-9]
    f = np.eye(3) + (np.zeros((3, 3)) if strain is None else np.asarray(strain, float))
    r = np.linalg.norm(pts @ (a * f).T, axis=1)
    return float(0.5 * fs_pair(r, p).sum() + fs_embedding(fs_density(r, p).sum(), p))
