"""Non-singular isotropic elastic forces and stresses of straight dislocation segments.

Cai, Arsenlis, Weinberger & Bulatov, JMPS 54 (2006) 561 ("non-singular continuum theory"): core radius `a`,
shear modulus `mu`, Poisson ratio `nu`. Engine units: lengths in b, stresses in Pa, forces in Pa*b^2 (any
consistent units work for the array functions).

Array functions (K independent items, float64 (K, 3) arrays):
    segment_pair_forces(p1, p2, p3, p4, b12, b34, mu, nu, a) -> f1, f2, f3, f4
    segment_stress(p1, p2, b, x, mu, nu, a)                  -> (K, 3, 3)
    self_force(p1, p2, b, mu, nu, a)                         -> f1, f2
Network functions (periodic cell, nearest-image convention):
    interaction_forces(network, mu, nu, a, cutoff=None)      -> (N, 3)
    self_forces(network, mu, nu, a)                          -> (N, 3)
    stress_at_points(network, points, mu, nu, a)             -> (P, 3, 3)
    interaction_pairs(network, cutoff)                       -> (P, 2) segment pairs of the cutoff model
    listed_pair_forces(network, pairs, mu, nu, a)            -> (N, 3) from given pairs only

Periodic images: every segment is taken unwrapped (`DislocationNetwork.segment_endpoints`), and the partner
segment of a pair (or a segment seen from a field point) is shifted by the cell vectors that bring its midpoint
to the minimum image of the separation of midpoints (field point). Only that one image contributes.
"""
from __future__ import annotations

import numba
import numpy as np

from ddml_engine.network import DislocationNetwork
from ddml_engine.parallel import threads_for

from . import _elastic_kernels as _k
from .neighbors import segment_pairs_within

__all__ = ["segment_pair_forces", "segment_stress", "self_force", "interaction_forces", "self_forces",
           "stress_at_points", "interaction_pairs", "listed_pair_forces"]


def _vec3(name: str, x: np.ndarray, k: int | None = None) -> np.ndarray:
    arr = np.ascontiguousarray(x, dtype=np.float64)
    if arr.ndim == 1 and arr.shape == (3,):
        arr = arr.reshape(1, 3)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"{name} must have shape (K, 3), got {np.shape(x)}")
    if k is not None and len(arr) != k:
        raise ValueError(f"{name} has {len(arr)} rows, expected {k}")
    bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
    if len(bad):
        raise ValueError(f"{name} has non-finite values in rows {bad[:8].tolist()}")
    return arr


def _check_material(mu: float, nu: float, a: float) -> tuple[float, float, float]:
    if not (np.isfinite(mu) and mu > 0):
        raise ValueError(f"shear modulus mu must be positive, got {mu}")
    if not (-1.0 < nu < 0.5):
        raise ValueError(f"Poisson ratio nu must lie in (-1, 0.5), got {nu}")
    if not (np.isfinite(a) and a > 0):
        raise ValueError(f"core radius a must be positive, got {a}")
    return float(mu), float(nu), float(a)


# ----------------------------------------------------------------------------- array functions
def segment_pair_forces(p1: np.ndarray, p2: np.ndarray, p3: np.ndarray, p4: np.ndarray, b12: np.ndarray,
                        b34: np.ndarray, mu: float, nu: float, a: float
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Forces on the end nodes of segment pairs 1-2 (Burgers b12) and 3-4 (b34), each (K, 3).

    Non-singular isotropic interaction (Cai et al. 2006, Appendix A closed forms); nearly parallel pairs
    (1 - cos^2 <= 1e-4) use the special parallel formulas. Zero-length segments get zero forces.
    """
    mu, nu, a = _check_material(mu, nu, a)
    p1 = _vec3("p1", p1)
    k = len(p1)
    p2, p3, p4 = _vec3("p2", p2, k), _vec3("p3", p3, k), _vec3("p4", p4, k)
    b12, b34 = _vec3("b12", b12, k), _vec3("b34", b34, k)
    out = [np.empty((k, 3)) for _ in range(4)]
    _k.batch_pair_forces(p1, p2, p3, p4, b12, b34, a, mu, nu, *out)
    return out[0], out[1], out[2], out[3]


def segment_stress(p1: np.ndarray, p2: np.ndarray, b: np.ndarray, x: np.ndarray, mu: float, nu: float,
                   a: float) -> np.ndarray:
    """Non-singular stress (K, 3, 3) at field points x of straight segments p1->p2 with Burgers vectors b."""
    mu, nu, a = _check_material(mu, nu, a)
    p1 = _vec3("p1", p1)
    k = len(p1)
    p2, b, x = _vec3("p2", p2, k), _vec3("b", b, k), _vec3("x", x, k)
    out = np.zeros((k, 3, 3))
    _k.batch_segment_stress(p1, p2, b, x, a, mu, nu, out)
    return out


def self_force(p1: np.ndarray, p2: np.ndarray, b: np.ndarray, mu: float, nu: float, a: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """Non-singular elastic self force (f1, f2) of straight segments (Cai et al. 2006), no core-energy term.

    With t the unit line direction, L the length, b_s = b.t, b_e = b - b_s t and L_a = sqrt(L^2 + a^2):
        S  = mu b_s / (4 pi (1 - nu)) * [ nu ln((L_a + L)/a) - (1 - nu) L / (2 L_a)
                                          - (2 nu L_a + (1 - nu) a^2 / L_a - (1 + nu) a) / L ],
        f1 = -S b_e,  f2 = +S b_e.
    """
    mu, nu, a = _check_material(mu, nu, a)
    p1 = _vec3("p1", p1)
    k = len(p1)
    p2, b = _vec3("p2", p2, k), _vec3("b", b, k)
    v = p2 - p1
    length = np.linalg.norm(v, axis=1)
    ok = length > 1e-10
    safe = np.where(ok, length, 1.0)
    t = v / safe[:, None]
    bs = np.einsum("ij,ij->i", b, t)
    be = b - bs[:, None] * t
    la = np.sqrt(safe * safe + a * a)
    s = (nu * np.log((la + safe) / a) - (1 - nu) * 0.5 * safe / la
         - (2 * nu * la + (1 - nu) * a * a / la - (1 + nu) * a) / safe) * mu / (4 * np.pi * (1 - nu)) * bs
    s = np.where(ok, s, 0.0)
    f2 = s[:, None] * be
    return -f2, f2


# ----------------------------------------------------------------------------- network functions
def _network_arrays(network: DislocationNetwork):
    p1, p2 = network.segment_endpoints()
    p1 = np.ascontiguousarray(p1, dtype=np.float64)
    p2 = np.ascontiguousarray(p2, dtype=np.float64)
    mid = 0.5 * (p1 + p2)
    cell = network.cell
    return (p1, p2, mid, np.ascontiguousarray(network.burgers, dtype=np.float64),
            np.ascontiguousarray(network.segments, dtype=np.int64), np.ascontiguousarray(cell.matrix),
            np.ascontiguousarray(cell.inverse), np.array(cell.periodic, dtype=np.bool_))


def _nchunks() -> int:
    """Work chunks (one force buffer each) for the parallel pair loops: two per numba thread."""
    return 2 * numba.get_num_threads()


def _use_pair_list(network: DislocationNetwork, cutoff: float) -> bool:
    """A linked-cell pair list pays off only with at least 3 bins along every periodic axis."""
    h = network.cell.matrix
    widths = [network.cell.volume / np.linalg.norm(np.cross(h[:, (k + 1) % 3], h[:, (k + 2) % 3]))
              for k in range(3)]
    return all(w / cutoff >= 3.0 for w, per in zip(widths, network.cell.periodic) if per)


def interaction_pairs(network: DislocationNetwork, cutoff: float) -> np.ndarray:
    """Segment pairs (P, 2), i < j, of the cutoff model: midpoints closer than `cutoff` (minimum image)."""
    p1, p2 = network.segment_endpoints()
    return segment_pairs_within(0.5 * (p1 + p2), network.cell, float(cutoff))


def interaction_forces(network: DislocationNetwork, mu: float, nu: float, a: float,
                       cutoff: float | None = None) -> np.ndarray:
    """Nodal forces (N, 3) from the non-singular interaction of distinct segment pairs.

    All M(M-1)/2 pairs when `cutoff` is None (segments sharing a node included, self forces excluded), each
    partner at the minimum image of the separation of midpoints. With a cutoff, only pairs whose midpoints
    are closer than `cutoff` (minimum image) interact; they are found by a linked-cell search, or filtered in
    the all-pairs loop when the cell is narrower than three cutoffs. No O(M^2) memory in either case.
    """
    mu, nu, a = _check_material(mu, nu, a)
    n = network.num_nodes
    if network.num_segments < 2:
        return np.zeros((n, 3))
    p1, p2, mid, burgers, seg, h, hinv, periodic = _network_arrays(network)
    if cutoff is None:
        return _k.all_pair_node_forces(p1, p2, mid, burgers, seg, n, h, hinv, periodic, a, mu, nu, -1.0,
                                       _nchunks())
    if not cutoff > 0:
        raise ValueError(f"cutoff must be positive or None, got {cutoff}")
    if not _use_pair_list(network, float(cutoff)):
        return _k.all_pair_node_forces(p1, p2, mid, burgers, seg, n, h, hinv, periodic, a, mu, nu,
                                       float(cutoff) ** 2, _nchunks())
    pairs = segment_pairs_within(mid, network.cell, float(cutoff))
    with threads_for(len(pairs)):
        return _k.listed_pair_node_forces(pairs, p1, p2, mid, burgers, seg, n, h, hinv, periodic, a, mu, nu,
                                          _nchunks())


def listed_pair_forces(network: DislocationNetwork, pairs: np.ndarray, mu: float, nu: float, a: float) -> np.ndarray:
    """Nodal forces (N, 3) from the non-singular interaction of the listed segment pairs (P, 2) only."""
    mu, nu, a = _check_material(mu, nu, a)
    n = network.num_nodes
    if len(pairs) == 0:
        return np.zeros((n, 3))
    p1, p2, mid, burgers, seg, h, hinv, periodic = _network_arrays(network)
    with threads_for(len(pairs)):
        return _k.listed_pair_node_forces(np.ascontiguousarray(pairs, dtype=np.int64), p1, p2, mid, burgers, seg,
                                          n, h, hinv, periodic, a, mu, nu, _nchunks())


def self_forces(network: DislocationNetwork, mu: float, nu: float, a: float) -> np.ndarray:
    """Nodal non-singular self forces (N, 3), summed over the arms of each node."""
    p1, p2 = network.segment_endpoints()
    f1, f2 = self_force(p1, p2, network.burgers, mu, nu, a)
    return network.end_values_to_nodes(f1, f2)


def stress_at_points(network: DislocationNetwork, points: np.ndarray, mu: float, nu: float,
                     a: float) -> np.ndarray:
    """Total non-singular stress (P, 3, 3) of all segments at the points (each segment at its nearest image)."""
    mu, nu, a = _check_material(mu, nu, a)
    pts = _vec3("points", points)
    p1, p2, mid, burgers, _, h, hinv, periodic = _network_arrays(network)
    if network.num_segments == 0:
        return np.zeros((len(pts), 3, 3))
    return _k.stress_at_points(pts, p1, p2, mid, burgers, h, hinv, periodic, a, mu, nu)
