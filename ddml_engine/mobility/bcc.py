"""Linear BCC drag-matrix mobility (Cai & Bulatov; ParaDiS/ExaDiS `BCC_0B`, src/mobility_types/mobility_bcc0b.h).

Drag coefficients B = 1/M (Pa*s): Be = 1/Me (edge glide), Bs = 1/Ms (screw, all directions normal to the line),
Bec = 1/Mclimb (edge climb), Bl = 0.01 min(Bs, Be) (along the line). For node k with arms a (length L_a, unit
direction t_a away from the node, outgoing Burgers vector b_a, units of b):

    B_k = sum_a (L_a/2) D_a,     V_k = B_k^-1 F_k     (F in Pa*b^2, V in b/s)

Glissile arm (|b| <= 1 + junction_tol, i.e. 1/2<111>), cos^2 = (t.b)^2/|b|^2:
    D = Bs I + (Bl - Bs) t t                                                 (screw part)
      + [(Bc - Bs) n n + (Bg - Bs) m m]   only if 1 - cos^2 > 1e-12          (non-screw correction)
    n = b x t / |b x t| (glide-plane normal, climb direction), m = n x t (glide direction),
    Bg = [Be^-2 + (Bs^-2 - Be^-2) cos^2]^(-1/2),   Bc = [Bec^2 + (Bs^2 - Bec^2) cos^2]^(1/2).
Junction arm (|b| > 1 + junction_tol, e.g. <100>): climb-like drag in every direction but along the line,
    D = Bec I + (Bl - Bec) t t   at nodes with three or more arms,  D = Bec I at two-armed nodes.
Binary-junction nodes (ExaDiS default `split3node`; `binary_junctions=True` here): a three-armed node with one
junction arm (direction t_j) and two glissile arms is a "line junction" node when the junction lies in the
intersection of the glide planes of its parent arms (5 degree tolerance; arms with |b x t|^2 <= 1e-2 count as
screw and do not constrain; two screw parents count as planar) or when the node unzips it (F.t_j > 0). Then the
junction arm gets the isotropic drag Bl I and the climb directions n of its glissile arms are made orthogonal to
t_j (n -> normalised n - (n.t_j) t_j; m unchanged), so that the node can run along the junction line.
Pinned nodes, nodes with fewer than two arms and nodes whose arms all have zero length get V = 0.

Optional ExaDiS extras, off by default: friction stresses Fedge/Fscrew (Pa): the force is reduced in magnitude
by F_fric = (1/2) sum_a [Fedge + (Fscrew - Fedge)|t.b|/|b|] |b| L_a (zero when |F| <= F_fric); and a velocity cap
vmax (m/s): |v| -> |v| / (1 + (|v|/vmax)^10)^(1/10), which needs `burgers_m` to convert b/s to m/s.

The law uses only b, t and |b| — no crystal axes — so it is covariant under any rotation of the network and the
forces (not only cubic symmetry operations); no crystal orientation parameter is needed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ddml_engine.mobility._bcc_kernels import bcc_drag, solve_in_frames
from ddml_engine.mobility.base import Arms, check_forces, mobile_nodes
from ddml_engine.network import DislocationNetwork


@dataclass
class BCCLinearMobility:
    """Cai-Bulatov BCC drag-matrix law (ExaDiS `BCC_0B`); mobilities in 1/(Pa*s), velocities in b/s.

    Mclimb defaults to 1e-4 /(Pa*s), the value of the ExaDiS BCC examples (Ta, junction, cross-slip): 2.6e7 times
    smaller than Me, so climb is frozen on any glide time scale, yet the drag matrix stays finite and well
    conditioned (Bec/Bl ~ 2.6e9). `junction_tol`: an arm is a junction arm when |b| > 1 + junction_tol (ExaDiS uses
    1e-12; a looser default keeps 1/2<111> arms whose |b| carries rounding from file conversions glissile, and still
    separates <100> (|b| = 1.155) and <110> (1.633)).
    """

    Me: float = 2600.0
    Ms: float = 20.0
    Mclimb: float = 1e-4
    Fedge: float = 0.0
    Fscrew: float = 0.0
    vmax: float | None = None
    burgers_m: float | None = None
    binary_junctions: bool = True
    junction_tol: float = 1e-3
    Be: float = field(init=False, repr=False)
    Bs: float = field(init=False, repr=False)
    Bec: float = field(init=False, repr=False)
    Bline: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("Me", "Ms", "Mclimb"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"BCCLinearMobility: {name} must be a positive finite mobility (1/(Pa*s)), got {value}")
        if self.Fedge < 0 or self.Fscrew < 0:
            raise ValueError(f"BCCLinearMobility: friction stresses must be >= 0, got {self.Fedge}, {self.Fscrew}")
        if self.vmax is not None and (self.vmax <= 0 or not self.burgers_m or self.burgers_m <= 0):
            raise ValueError("BCCLinearMobility: vmax (m/s) must be positive and needs burgers_m (m) to convert b/s")
        self.Be, self.Bs, self.Bec = 1.0 / self.Me, 1.0 / self.Ms, 1.0 / self.Mclimb
        self.Bline = 1e-2 * min(self.Bs, self.Be)

    # ------------------------------------------------------------------ drag matrices
    def _assemble(self, network: DislocationNetwork, forces: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(B' (N, 3, 3), R (N, 3, 3)): drag matrices in per-node frames, B_lab = R^T B' R (numba kernel
        `_bcc_kernels.bcc_drag`).

        Each node's frame R (rows t, n, m) is that of its first non-zero arm, and every arm's drag is built from
        its (t, n, m) expressed in that frame. Mathematically the same as summing lab-frame matrices, but on a
        smooth or straight line the huge climb drag (Bec ~ 1e4 Pa s vs Bg ~ 4e-4) then stays on its own diagonal
        entry instead of spreading round-off of size eps*Bec over the glide entries.
        """
        offsets, arm_seg, arm_sign = network.arms()
        f = np.zeros((network.num_nodes, 3)) if forces is None else np.ascontiguousarray(forces, float)
        return bcc_drag(offsets, arm_seg, arm_sign.astype(np.float64), np.ascontiguousarray(network.segment_vectors()),
                        np.ascontiguousarray(network.burgers, float), f, self.Be, self.Bs, self.Bec, self.Bline,
                        self.junction_tol, self.binary_junctions)

    def drag_matrices(self, network: DislocationNetwork, forces: np.ndarray | None = None) -> np.ndarray:
        """Nodal drag matrices B_k (N, 3, 3) in Pa*s*b, lab frame (forces enter only through junction unzipping)."""
        local, frames = self._assemble(network, forces)
        return np.einsum("nki,nkl,nlj->nij", frames, local, frames)

    # ------------------------------------------------------------------ velocities
    def velocities(self, network: DislocationNetwork, forces: np.ndarray) -> np.ndarray:
        """Nodal velocities V = B^-1 F (N, 3) in b/s; zero for pinned, < 2-armed and zero-length-armed nodes."""
        f = check_forces(network, forces)
        n = network.num_nodes
        v = np.zeros((n, 3))
        if n == 0 or network.num_segments == 0:
            return v
        local, frames = self._assemble(network, f)
        has_arm = np.einsum("nii->n", local) > 0.0  # zero drag: no arm of non-zero length
        active = mobile_nodes(network) & has_arm
        if not active.any():
            return v
        if self.Fedge > 0 or self.Fscrew > 0:
            f = self._apply_friction(network, Arms.of(network), f)
        v = solve_in_frames(local, frames, f, active)
        if self.vmax is not None:
            v = self._cap(v)
        return v

    def _apply_friction(self, network: DislocationNetwork, arms: Arms, f: np.ndarray) -> np.ndarray:
        bmag = np.linalg.norm(arms.burgers, axis=1)
        dangle = np.abs(np.einsum("ij,ij->i", arms.direction, arms.burgers)) / np.where(bmag > 0, bmag, 1.0)
        stress = self.Fedge + (self.Fscrew - self.Fedge) * dangle
        fric = 0.5 * np.bincount(arms.node, weights=np.where(arms.nonzero, stress * bmag * arms.length, 0.0),
                                 minlength=network.num_nodes)
        fmag = np.linalg.norm(f, axis=1)
        scale = np.where(fmag > fric, 1.0 - fric / np.where(fmag > 0, fmag, 1.0), 0.0)
        return np.where((fric > 1e-12)[:, None], scale[:, None] * f, f)

    def _cap(self, v: np.ndarray) -> np.ndarray:
        vmag = np.linalg.norm(v, axis=1) * self.burgers_m
        capped = vmag / (1.0 + (vmag / self.vmax) ** 10) ** 0.1
        factor = np.where(vmag >= 1e-5, capped / np.where(vmag > 0, vmag, 1.0), 1.0)
        return v * factor[:, None]
