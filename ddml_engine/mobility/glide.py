"""Isotropic glide-only mobility (after ParaDiS/ExaDiS `GLIDE`, src/mobility_types/mobility_glide.h).

For node k with arms a (length L_a, unit direction t_a, Burgers vector b_a, glide-plane normal n_a):

    M_a = M + (Mscrew - M) |t_a.b_a| / |b_a|          (linear in |cos theta|; Mscrew = M gives one mobility)
    V_k = P_k F_k / sum_a (L_a / (2 M_a))

P_k projects out every glide-plane normal of the node's arms: with A_k = sum_a n_a n_a (unit normals; arms with
zero planes or zero length ignored), P_k = I - sum_e e e over the eigenvectors e of A_k with eigenvalue > plane_tol.
One plane: V in that plane; two distinct planes: V along their intersection; three: V = 0. ExaDiS instead
Gram-Schmidt orthogonalises the normals in arm order (keeping those with residual |n|^2 >= 0.05); the eigen form
is independent of arm order (so of node relabelling) and the default plane_tol = 0.025 makes two planes count as
distinct at the same angle (~13 degrees, 1 - cos = 0.025 <=> sin^2 = 0.05). Pinned nodes and nodes with fewer
than two arms do not move.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ddml_engine.mobility.base import Arms, check_forces, mobile_nodes, outer
from ddml_engine.network import DislocationNetwork, node_sum


@dataclass
class GlideMobility:
    """Glide-constrained isotropic mobility: M (edge) and Mscrew (default M) in 1/(Pa*s); V in b/s."""

    M: float
    Mscrew: float | None = None
    plane_tol: float = 0.025

    def __post_init__(self) -> None:
        if self.Mscrew is None:
            self.Mscrew = self.M
        for name in ("M", "Mscrew"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"GlideMobility: {name} must be a positive finite mobility (1/(Pa*s)), got {value}")

    def glide_projectors(self, network: DislocationNetwork, arms: Arms | None = None) -> np.ndarray:
        """Per-node projectors P_k (N, 3, 3) onto the intersection of the glide planes of their arms."""
        arms = Arms.of(network) if arms is None else arms
        planes = network.planes[arms.segment]
        pn = np.linalg.norm(planes, axis=1)
        use = arms.nonzero & (pn > 1e-12)
        unit = planes[use] / pn[use, None]
        a = node_sum(arms.node[use], outer(unit, unit), network.num_nodes)
        w, e = np.linalg.eigh(a)
        keep = (w > self.plane_tol).astype(np.float64)
        return np.eye(3) - np.einsum("nik,nk,njk->nij", e, keep, e)

    def velocities(self, network: DislocationNetwork, forces: np.ndarray) -> np.ndarray:
        """Nodal glide velocities (N, 3) in b/s."""
        f = check_forces(network, forces)
        n = network.num_nodes
        v = np.zeros((n, 3))
        if n == 0 or network.num_segments == 0:
            return v
        arms = Arms.of(network)
        bmag = np.linalg.norm(arms.burgers, axis=1)
        cos = np.abs(np.einsum("ij,ij->i", arms.direction, arms.burgers)) / np.where(bmag > 0, bmag, 1.0)
        mob = self.M + (self.Mscrew - self.M) * cos
        drag = 0.5 * np.bincount(arms.node, weights=np.where(arms.nonzero, arms.length / mob, 0.0), minlength=n)
        active = mobile_nodes(network) & (drag > 0)
        if not active.any():
            return v
        proj = self.glide_projectors(network, arms)
        v[active] = np.einsum("nij,nj->ni", proj[active], f[active]) / drag[active, None]
        return v
