"""Mobility protocol and helpers shared by the local (per-node, arm-summed) mobility laws.

A mobility maps nodal forces (N, 3) in Pa*b^2 to nodal velocities (N, 3) in b/s: V_i = M[F_i]. Local laws
(ParaDiS/ExaDiS `MobilityLocal`) sum a drag contribution over the arms of each node; pinned nodes and nodes with
fewer than two arms do not move.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from ddml_engine.network import PINNED_NODE, DislocationNetwork


@runtime_checkable
class Mobility(Protocol):
    def velocities(self, network: DislocationNetwork, forces: np.ndarray) -> np.ndarray:
        """Nodal velocities (N, 3) in b/s for nodal forces (N, 3) in Pa*b^2."""


@dataclass(frozen=True)
class Arms:
    """Both ends of every segment seen from their node: 2M arms, arm a < M leaves node i, a >= M leaves node j.

    node (2M,) node index; segment (2M,) segment index; vector (2M, 3) r_other - r_node (minimum image);
    length (2M,); direction (2M, 3) unit vector (zero for zero-length arms); burgers (2M, 3) outgoing b;
    nonzero (2M,) length > eps.
    """

    node: np.ndarray
    segment: np.ndarray
    vector: np.ndarray
    length: np.ndarray
    direction: np.ndarray
    burgers: np.ndarray
    nonzero: np.ndarray

    @classmethod
    def of(cls, network: DislocationNetwork, eps: float = 1e-12) -> "Arms":
        m = network.num_segments
        v = network.segment_vectors()
        vec = np.concatenate([v, -v])
        length = np.linalg.norm(vec, axis=1)
        nonzero = length > eps
        direction = vec / np.where(nonzero, length, 1.0)[:, None]
        direction[~nonzero] = 0.0
        return cls(node=network.segments.T.ravel(), segment=np.concatenate([np.arange(m), np.arange(m)]),
                   vector=vec, length=length, direction=direction,
                   burgers=np.concatenate([network.burgers, -network.burgers]), nonzero=nonzero)


def check_forces(network: DislocationNetwork, forces: np.ndarray) -> np.ndarray:
    """Forces as a float64 (N, 3) array; raises ValueError naming the nodes with non-finite forces."""
    f = np.asarray(forces, dtype=np.float64)
    if f.shape != (network.num_nodes, 3):
        raise ValueError(f"forces must have shape ({network.num_nodes}, 3), got {f.shape}")
    bad = np.flatnonzero(~np.isfinite(f).all(axis=1))
    if len(bad):
        shown = ", ".join(f"{int(k)} (tag {int(network.tags[k])})" for k in bad[:8])
        raise ValueError(f"non-finite forces at nodes {shown}" + (f" ... ({len(bad)} in all)" if len(bad) > 8 else ""))
    return f


def mobile_nodes(network: DislocationNetwork) -> np.ndarray:
    """True for nodes allowed to move: at least two arms and not pinned."""
    return (network.node_degree() >= 2) & (network.constraints != PINNED_NODE)


def outer(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Batched outer products (K, 3) x (K, 3) -> (K, 3, 3)."""
    return a[:, :, None] * b[:, None, :]
