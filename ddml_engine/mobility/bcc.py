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

from ddml_engine.mobility.base import Arms, check_forces, mobile_nodes, outer
from ddml_engine.network import DislocationNetwork, node_sum

_SCREW_EPS = 1e-12                 # ExaDiS: arm is treated as pure screw when 1 - cos^2 <= 1e-12
_EDGE_NORM2 = 1e-2                 # ExaDiS BCC_binary_junction_node: |b x t|^2 > 1e-2 marks a non-screw arm
_ANGLE_TOL = np.deg2rad(5.0)       # ExaDiS BCC_binary_junction_node: 5 degree planarity tolerance


def _perpendicular(t: np.ndarray) -> np.ndarray:
    """A unit vector normal to each unit row of t (zero rows give a unit axis)."""
    axis = np.eye(3)[np.argmin(np.abs(t), axis=1)]
    p = axis - np.einsum("ij,ij->i", axis, t)[:, None] * t
    return p / np.linalg.norm(p, axis=1)[:, None]


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

    # ------------------------------------------------------------------ binary junction nodes
    def _line_junction_nodes(self, network: DislocationNetwork, arms: Arms, is_junction: np.ndarray,
                             forces: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(linejunc (N,) bool, t_j (N, 3)) following ExaDiS BCC_binary_junction_node + the unzipping test."""
        n = network.num_nodes
        linejunc = np.zeros(n, dtype=bool)
        tj = np.zeros((n, 3))
        if not self.binary_junctions or n == 0:
            return linejunc, tj
        junc = is_junction & arms.nonzero
        glide = ~is_junction & arms.nonzero
        n_junc = np.bincount(arms.node[junc], minlength=n)
        n_glide = np.bincount(arms.node[glide], minlength=n)
        candidate = (network.node_degree() == 3) & (n_junc == 1) & (n_glide == 2)
        if not candidate.any():
            return linejunc, tj
        tj = node_sum(arms.node[junc], arms.direction[junc], n)
        nvec = np.cross(arms.burgers, arms.direction)
        edge = glide & (np.einsum("ij,ij->i", nvec, nvec) > _EDGE_NORM2)
        n_edge = np.bincount(arms.node[edge], minlength=n)
        idx = np.flatnonzero(edge)
        idx = idx[np.argsort(arms.node[idx], kind="stable")]
        first = np.searchsorted(arms.node[idx], np.arange(n), side="left")
        planar = np.zeros(n, dtype=bool)
        k2 = np.flatnonzero(candidate & (n_edge == 2))
        if len(k2):
            tdir = np.cross(nvec[idx[first[k2]]], nvec[idx[first[k2] + 1]])
            norm = np.linalg.norm(tdir, axis=1)
            ok = norm > 1e-12
            cosang = np.abs(np.einsum("ij,ij->i", tdir, tj[k2])) / np.where(ok, norm, 1.0)
            planar[k2] = ok & (np.abs(cosang - 1.0) < 1.0 - np.cos(_ANGLE_TOL))
        k1 = np.flatnonzero(candidate & (n_edge == 1))
        if len(k1):  # ExaDiS compares the un-normalised b x t with sin(5 deg)
            planar[k1] = np.abs(np.einsum("ij,ij->i", nvec[idx[first[k1]]], tj[k1])) < np.sin(_ANGLE_TOL)
        planar[candidate & (n_edge == 0)] = True
        unzipping = np.zeros(n, dtype=bool) if forces is None else np.einsum("ij,ij->i", forces, tj) > 0.0
        linejunc = candidate & (planar | unzipping)
        tj[~candidate] = 0.0
        return linejunc, tj

    # ------------------------------------------------------------------ drag matrices
    def _assemble(self, network: DislocationNetwork, forces: np.ndarray | None, arms: Arms
                  ) -> tuple[np.ndarray, np.ndarray]:
        """(B' (N, 3, 3), R (N, 3, 3)): drag matrices in per-node frames, B_lab = R^T B' R.

        Each node's frame R (rows t, n, m) is that of its first non-zero arm, and every arm's drag is built from
        its (t, n, m) expressed in that frame. Mathematically the same as summing lab-frame matrices, but on a
        smooth or straight line the huge climb drag (Bec ~ 1e4 Pa s vs Bg ~ 4e-4) then stays on its own diagonal
        entry instead of spreading round-off of size eps*Bec over the glide entries.
        """
        n = network.num_nodes
        bmag = np.linalg.norm(arms.burgers, axis=1)
        is_junction = bmag > 1.0 + self.junction_tol
        linejunc, tj = self._line_junction_nodes(network, arms, is_junction, forces)
        t = arms.direction
        bs = np.einsum("ij,ij->i", t, arms.burgers)
        cos2 = bs * bs / np.where(bmag > 0, bmag * bmag, 1.0)
        nonscrew = (1.0 - cos2) > _SCREW_EPS
        sin_b = np.sqrt(np.where(nonscrew, (1.0 - cos2) * bmag * bmag, 1.0))
        nr = np.where(nonscrew[:, None], np.cross(arms.burgers, t) / sin_b[:, None], _perpendicular(t))
        mr = np.cross(nr, t)

        # Per-node frames from the first non-zero arm of each node.
        index = np.arange(len(t))
        first = np.full(n, len(t))
        np.minimum.at(first, arms.node[arms.nonzero], index[arms.nonzero])
        has_arm = first < len(t)
        frames = np.tile(np.eye(3), (n, 1, 1))
        fa = first[has_arm]
        frames[has_arm] = np.stack([t[fa], nr[fa], mr[fa]], axis=1)

        lj = linejunc[arms.node]
        if linejunc.any():  # orthogonalise the climb direction of glissile arms to the junction line
            tja = tj[arms.node]
            proj = nr - np.einsum("ij,ij->i", nr, tja)[:, None] * tja
            pnorm = np.linalg.norm(proj, axis=1)
            fix = lj & nonscrew & (pnorm > 0)
            nr = np.where(fix[:, None], proj / np.where(pnorm > 0, pnorm, 1.0)[:, None], nr)

        rot = frames[arms.node]
        tl, nl, ml = (np.einsum("aij,aj->ai", rot, x) for x in (t, nr, mr))
        eye = np.broadcast_to(np.eye(3), (len(t), 3, 3))
        tt = outer(tl, tl)
        two_armed = (network.node_degree() == 2)[arms.node]
        # Junction arms.
        d_junction = np.where(lj[:, None, None], self.Bline * eye,
                              np.where(two_armed[:, None, None], self.Bec * eye,
                                       self.Bec * eye + (self.Bline - self.Bec) * tt))
        # Glissile arms: screw part plus non-screw correction.
        inv_be2, inv_bs2 = self.Be ** -2, self.Bs ** -2
        b_glide = 1.0 / np.sqrt(inv_be2 + (inv_bs2 - inv_be2) * cos2)
        b_climb = np.sqrt(self.Bec ** 2 + (self.Bs ** 2 - self.Bec ** 2) * cos2)
        correction = ((b_climb - self.Bs)[:, None, None] * outer(nl, nl)
                      + (b_glide - self.Bs)[:, None, None] * outer(ml, ml))
        d_glide = (self.Bs * eye + (self.Bline - self.Bs) * tt
                   + np.where(nonscrew[:, None, None], correction, 0.0))

        half = np.where(arms.nonzero, 0.5 * arms.length, 0.0)
        per_arm = half[:, None, None] * np.where(is_junction[:, None, None], d_junction, d_glide)
        return node_sum(arms.node, per_arm, n), frames

    def drag_matrices(self, network: DislocationNetwork, forces: np.ndarray | None = None) -> np.ndarray:
        """Nodal drag matrices B_k (N, 3, 3) in Pa*s*b, lab frame (forces enter only through junction unzipping)."""
        local, frames = self._assemble(network, forces, Arms.of(network))
        return np.einsum("nki,nkl,nlj->nij", frames, local, frames)

    # ------------------------------------------------------------------ velocities
    def velocities(self, network: DislocationNetwork, forces: np.ndarray) -> np.ndarray:
        """Nodal velocities V = B^-1 F (N, 3) in b/s; zero for pinned, < 2-armed and zero-length-armed nodes."""
        f = check_forces(network, forces)
        n = network.num_nodes
        v = np.zeros((n, 3))
        if n == 0 or network.num_segments == 0:
            return v
        arms = Arms.of(network)
        active = mobile_nodes(network) & (np.bincount(arms.node[arms.nonzero], minlength=n) > 0)
        if not active.any():
            return v
        local, frames = self._assemble(network, f, arms)
        if self.Fedge > 0 or self.Fscrew > 0:
            f = self._apply_friction(network, arms, f)
        f_local = np.einsum("nij,nj->ni", frames[active], f[active])
        v_local = np.linalg.solve(local[active], f_local[:, :, None])[:, :, 0]
        v[active] = np.einsum("nji,nj->ni", frames[active], v_local)
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
