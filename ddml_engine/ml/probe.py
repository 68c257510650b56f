"""Mobility probe (paper section 2.2, Fig. 3): velocity of infinite straight edge and screw dislocations vs stress.

A straight periodic line of character theta on the glide system (b, n) is loaded by a shear stress tau acting on
a plane rotated by chi about b (chi = 0: the glide plane; for screws chi = -30 / +30 deg are the MRSSPs of the
twinning / anti-twinning sense in the paper's convention), F = F_app(tau) only (no line tension: a straight line has
none). The glide velocity v = V . (n x t) is fitted as v = M tau b (least squares through the origin; b = 1 in
engine units). Works with any Mobility (linear BCC law, a trained GNN model file, ...).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ddml_engine.forces.local import applied_forces, tensor_to_voigt
from ddml_engine.geometry import line_direction, straight_line
from ddml_engine.mobility.base import Mobility

# The reference glide system: b = 1/2[111] (units of b), n = (1-10).
PROBE_BURGERS = np.array([1.0, 1.0, 1.0]) / np.sqrt(3.0)
PROBE_PLANE = np.array([1.0, -1.0, 0.0]) / np.sqrt(2.0)
DEFAULT_TAUS = np.linspace(50e6, 500e6, 10)


def shear_on_rotated_plane(tau: float, burgers: np.ndarray, plane: np.ndarray, chi_deg: float) -> np.ndarray:
    """Voigt stress tau (b^ m + m b^) with m the glide-plane normal rotated by chi about b^.

    Its resolved shear stress on the glide plane n along b is tau cos(chi)."""
    bhat = burgers / np.linalg.norm(burgers)
    chi = np.deg2rad(chi_deg)
    m = np.cos(chi) * plane + np.sin(chi) * np.cross(bhat, plane)
    return tensor_to_voigt(tau * (np.outer(bhat, m) + np.outer(m, bhat)))


def glide_velocities(mobility: Mobility, character_deg: float, taus: np.ndarray, chi_deg: float = 0.0,
                     length: float = 40.0, n_nodes: int = 8) -> np.ndarray:
    """Mean glide velocity (b/s) along n x t of a straight line of the given character for each tau (Pa)."""
    t = line_direction(PROBE_BURGERS, PROBE_PLANE, character_deg)
    line = straight_line(length, t, PROBE_BURGERS, PROBE_PLANE, n_nodes, width=length)
    glide = np.cross(PROBE_PLANE, t)
    out = np.empty(len(taus))
    for k, tau in enumerate(taus):
        forces = applied_forces(line, shear_on_rotated_plane(tau, PROBE_BURGERS, PROBE_PLANE, chi_deg))
        out[k] = float(np.mean(mobility.velocities(line, forces) @ glide))
    return out


def fit_mobility(taus: np.ndarray, velocities: np.ndarray) -> float:
    """M of v = M tau b through the origin (b = 1), in 1/(Pa s)."""
    taus, velocities = np.asarray(taus, float), np.asarray(velocities, float)
    return float(np.sum(taus * velocities) / np.sum(taus * taus))


@dataclass
class ProbeResult:
    taus_pa: list[float]
    edge_velocity: list[float]  # b/s
    screw_velocity: list[float]
    screw_twinning_velocity: list[float]  # chi = -30 deg
    screw_antitwinning_velocity: list[float]  # chi = +30 deg
    Me: float  # fitted, 1/(Pa s)
    Ms: float
    truth: dict = field(default_factory=dict)

    def errors_percent(self) -> dict:
        return {k: 100.0 * (getattr(self, k) - v) / v for k, v in self.truth.items() if v}


def probe(mobility: Mobility, taus: np.ndarray = DEFAULT_TAUS, truth: dict | None = None, length: float = 40.0,
          n_nodes: int = 8) -> ProbeResult:
    """Edge and screw velocities vs tau on the glide plane, and the screw on the MRSSPs chi = -30 / +30 deg."""
    taus = np.asarray(taus, float)
    kw = dict(length=length, n_nodes=n_nodes)
    edge = glide_velocities(mobility, 90.0, taus, **kw)
    screw = glide_velocities(mobility, 0.0, taus, **kw)
    return ProbeResult(taus.tolist(), edge.tolist(), screw.tolist(),
                       glide_velocities(mobility, 0.0, taus, chi_deg=-30.0, **kw).tolist(),
                       glide_velocities(mobility, 0.0, taus, chi_deg=30.0, **kw).tolist(),
                       fit_mobility(taus, edge), fit_mobility(taus, screw), dict(truth or {}))


def write_probe(result: ProbeResult, output_dir: str | os.PathLike, burgers_m: float | None = None) -> dict[str, Path]:
    """probe.json and probe.png (edge / screw velocity vs stress with the fits and the truth)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    scale, unit = (burgers_m, "m/s") if burgers_m else (1.0, "b/s")
    taus = np.array(result.taus_pa) / 1e6
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, name in ((axes[0], "edge", "Me"), (axes[1], "screw", "Ms")):
        v = np.array(getattr(result, f"{key}_velocity")) * scale
        ax.plot(taus, v, "o", label=f"{key}: fit {name} = {getattr(result, name):.4g} /(Pa s)")
        if name in result.truth:
            ax.plot(taus, result.truth[name] * np.array(result.taus_pa) * scale, "k--",
                    label=f"truth {name} = {result.truth[name]:.4g}")
        if key == "screw":
            ax.plot(taus, np.array(result.screw_twinning_velocity) * scale, "v", label="screw, MRSSP chi = -30 (twinning)")
            ax.plot(taus, np.array(result.screw_antitwinning_velocity) * scale, "^",
                    label="screw, MRSSP chi = +30 (anti-twinning)")
        ax.set_xlabel("resolved shear stress on the MRSSP (MPa)")
        ax.set_ylabel(f"glide velocity ({unit})")
        ax.set_title(f"{key} dislocation")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    png, js = out / "probe.png", out / "probe.json"
    tmp = out / ".probe.tmp.png"
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, png)
    data = asdict(result) | {"errors_percent": result.errors_percent()}
    tmp = out / ".probe.json.tmp"
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, js)
    return {"png": png, "json": js}
