"""Local nodal forces of straight segments: applied Peach-Koehler force and core (line-tension) force.

Units: lengths in b, stress and Ec in Pa, forces in Pa*b^2. Stress 6-vectors in Voigt order
[xx, yy, zz, yz, xz, xy].

Applied force (uniform stress sigma). The Peach-Koehler force per unit length is f = (sigma.b) x xi, with xi the
unit line sense of the segment i->j carrying b (ParaDiS/ExaDiS `pk_force`). Integrated along the straight
segment with linear shape functions it gives F = (sigma.b) x (r_j - r_i), half to each end node.

Core force (ParaDiS/ExaDiS `CoreDefault` core model, src/force_types/force_core.h). A segment of length L, unit
line direction t and Burgers vector b (units of b, no normalisation by |b|^2) carries the core energy
    W = L * E(t),   E(t) = Ec * [ b_s^2 + |b_e|^2 / (1 - nu) ],   b_s = b.t,  b_e = b - b_s t,
(optionally Ec -> junction_factor * Ec for 1.01 < |b| < 1.5, ExaDiS `Ecore_junc_fact`). The nodal forces are
minus the gradient of W with respect to the end positions, including the character-angle dependence:
    F_j = -dW/dr_j = -E(t) t + Ec * 2 nu b_s / (1 - nu) * b_e,     F_i = -F_j.
"""
from __future__ import annotations

import numpy as np

from ddml_engine.network import DislocationNetwork

_VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


# ----------------------------------------------------------------------------- stress conversions
def voigt_to_tensor(s6: np.ndarray) -> np.ndarray:
    """Voigt 6-vector(s) [xx, yy, zz, yz, xz, xy] (..., 6) -> symmetric tensor(s) (..., 3, 3)."""
    s6 = np.asarray(s6, dtype=np.float64)
    if s6.shape[-1:] != (6,):
        raise ValueError(f"a Voigt stress needs 6 components [xx, yy, zz, yz, xz, xy], got shape {s6.shape}")
    out = np.empty(s6.shape[:-1] + (3, 3))
    for k, (i, j) in enumerate(_VOIGT):
        out[..., i, j] = s6[..., k]
        out[..., j, i] = s6[..., k]
    return out


def tensor_to_voigt(sigma: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Symmetric tensor(s) (..., 3, 3) -> Voigt 6-vector(s) [xx, yy, zz, yz, xz, xy]; rejects asymmetric input."""
    sigma = np.asarray(sigma, dtype=np.float64)
    if sigma.shape[-2:] != (3, 3):
        raise ValueError(f"a stress tensor needs shape (..., 3, 3), got {sigma.shape}")
    asym = np.abs(sigma - np.swapaxes(sigma, -1, -2)).max(initial=0.0)
    if asym > tol * max(1.0, np.abs(sigma).max(initial=0.0)):
        raise ValueError(f"stress tensor is not symmetric (largest |s_ij - s_ji| = {asym:.3g})")
    return np.stack([sigma[..., i, j] for i, j in _VOIGT], axis=-1)


def stress_tensor(stress: np.ndarray) -> np.ndarray:
    """Accept a Voigt 6-vector or a symmetric 3x3 tensor; return the 3x3 tensor (Pa)."""
    s = np.asarray(stress, dtype=np.float64)
    if s.shape == (6,):
        t = voigt_to_tensor(s)
    elif s.shape == (3, 3):
        t = voigt_to_tensor(tensor_to_voigt(s))  # validates symmetry
    else:
        raise ValueError(f"stress must be a Voigt 6-vector or a 3x3 tensor, got shape {s.shape}")
    if not np.all(np.isfinite(t)):
        raise ValueError(f"stress is not finite: {s.tolist()}")
    return t


def shear_stress(tau: float, slip_direction: np.ndarray, plane_normal: np.ndarray) -> np.ndarray:
    """Voigt stress tau (s n + n s) whose resolved shear stress on plane n along s is tau (s, n made unit).

    For a dislocation with Burgers vector along s gliding on n, (sigma.b) = tau |b| n and the Peach-Koehler
    force per length is tau |b| (n x xi), in the glide plane and normal to the line, for any character.
    """
    s = np.asarray(slip_direction, float)
    n = np.asarray(plane_normal, float)
    if np.linalg.norm(s) < 1e-12 or np.linalg.norm(n) < 1e-12:
        raise ValueError("shear_stress needs non-zero slip direction and plane normal")
    s, n = s / np.linalg.norm(s), n / np.linalg.norm(n)
    if abs(s @ n) > 1e-8:
        raise ValueError(f"slip direction {s.tolist()} does not lie in the plane with normal {n.tolist()}")
    return tensor_to_voigt(tau * (np.outer(s, n) + np.outer(n, s)))


# ----------------------------------------------------------------------------- helpers
def _check_network(network: DislocationNetwork) -> None:
    seg = network.segments
    n = network.num_nodes
    bad = np.flatnonzero(((seg < 0) | (seg >= n)).any(1))
    if len(bad):
        raise ValueError(f"segments {bad[:8].tolist()} refer to nodes outside 0..{n - 1}")


# ----------------------------------------------------------------------------- applied (Peach-Koehler)
def applied_segment_forces(network: DislocationNetwork, stress: np.ndarray) -> np.ndarray:
    """Per-segment end forces (M, 2, 3): [:, 0] on node i, [:, 1] on node j, each (1/2)(sigma.b) x (r_j - r_i)."""
    _check_network(network)
    sigma = stress_tensor(stress)
    half = 0.5 * np.cross(network.burgers @ sigma.T, network.segment_vectors())
    return np.stack([half, half], axis=1)


def applied_forces(network: DislocationNetwork, stress: np.ndarray) -> np.ndarray:
    """Nodal Peach-Koehler forces (N, 3) of a uniform stress: sum over arms of (1/2)(sigma.b) x (r_j - r_i)."""
    _check_network(network)
    sigma = stress_tensor(stress)
    half = 0.5 * np.cross(network.burgers @ sigma.T, network.segment_vectors())
    return network.end_values_to_nodes(half, half)


# ----------------------------------------------------------------------------- core (line tension)
def _segment_core_energy_density(b: np.ndarray, t: np.ndarray, Ec: float, nu: float,
                                 junction_factor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(E, b_s, b_e, Ec_seg) for unit directions t (K, 3)."""
    bs = np.einsum("ij,ij->i", b, t)
    be = b - bs[:, None] * t
    bmag = np.linalg.norm(b, axis=1)
    ec = np.where((bmag > 1.01) & (bmag < 1.5), Ec * junction_factor, Ec)
    energy = ec * (bs * bs + np.einsum("ij,ij->i", be, be) / (1.0 - nu))
    return energy, bs, be, ec


def _check_core_parameters(Ec: float, nu: float) -> None:
    if not np.isfinite(Ec) or Ec < 0:
        raise ValueError(f"core energy Ec must be finite and >= 0 (Pa), got {Ec}")
    if not -1.0 < nu < 0.5:
        raise ValueError(f"Poisson ratio must lie in (-1, 0.5), got {nu}")


def core_energy(network: DislocationNetwork, Ec: float, nu: float, junction_factor: float = 1.0) -> float:
    """Total core energy sum_s L_s Ec [b_s^2 + |b_e|^2/(1 - nu)] (Pa*b^3) — the potential of `core_forces`."""
    _check_core_parameters(Ec, nu)
    v = network.segment_vectors()
    length = np.linalg.norm(v, axis=1)
    ok = length > 1e-10
    t = v / np.where(ok, length, 1.0)[:, None]
    energy, *_ = _segment_core_energy_density(network.burgers, t, Ec, nu, junction_factor)
    return float(np.sum(np.where(ok, length * energy, 0.0)))


def core_segment_forces(network: DislocationNetwork, Ec: float, nu: float,
                        junction_factor: float = 1.0) -> np.ndarray:
    """Per-segment core forces (M, 2, 3) on (node i, node j): F_j = -E(t) t + 2 Ec nu b_s/(1 - nu) b_e, F_i = -F_j."""
    _check_network(network)
    _check_core_parameters(Ec, nu)
    v = network.segment_vectors()
    length = np.linalg.norm(v, axis=1)
    ok = length > 1e-10
    t = v / np.where(ok, length, 1.0)[:, None]
    energy, bs, be, ec = _segment_core_energy_density(network.burgers, t, Ec, nu, junction_factor)
    fj = -energy[:, None] * t + (2.0 * nu / (1.0 - nu) * ec * bs)[:, None] * be
    fj[~ok] = 0.0
    return np.stack([-fj, fj], axis=1)


def core_forces(network: DislocationNetwork, Ec: float, nu: float, junction_factor: float = 1.0) -> np.ndarray:
    """Nodal core (line-tension) forces (N, 3) = -grad of `core_energy` (ExaDiS CoreDefault model)."""
    f = core_segment_forces(network, Ec, nu, junction_factor)
    return network.end_values_to_nodes(f[:, 0], f[:, 1])
