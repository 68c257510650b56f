"""Linear elastic compliance of the loading: isotropic (mu, nu) or cubic (C11, C12, C44), as 3x3x3x3 tensors.

The DDD forces stay isotropic (mu, nu); the loading's elastic response can use the crystal's cubic constants, as
the MD box does. Compliance S (1/Pa) gives the elastic strain of a stress, eps = S : sigma; the Young modulus
along a unit vector e is 1 / (e e : S : e e), for a cubic crystal
1/E(e) = S11 - 2 (S11 - S12 - S44/2) (e1^2 e2^2 + e2^2 e3^2 + e3^2 e1^2)  (Nye, Physical Properties of Crystals,
ch. VIII), so E[001] = 1/S11 = C11 - 2 C12^2 / (C11 + C12).
"""
from __future__ import annotations

import numpy as np

_VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


def stiffness_from_voigt(c6: np.ndarray) -> np.ndarray:
    """C_ijkl (3,3,3,3) of a 6x6 Voigt stiffness matrix (Pa)."""
    c = np.zeros((3, 3, 3, 3))
    for a, (i, j) in enumerate(_VOIGT):
        for b, (k, l) in enumerate(_VOIGT):
            for p, q in ((i, j), (j, i)):
                for r, s in ((k, l), (l, k)):
                    c[p, q, r, s] = c6[a, b]
    return c


def cubic_stiffness(c11: float, c12: float, c44: float) -> np.ndarray:
    """C_ijkl (Pa) of a cubic crystal with its cube axes along x, y, z."""
    c6 = np.zeros((6, 6))
    c6[:3, :3] = c12
    c6[[0, 1, 2], [0, 1, 2]] = c11
    c6[[3, 4, 5], [3, 4, 5]] = c44
    return stiffness_from_voigt(c6)


def isotropic_stiffness(mu: float, nu: float) -> np.ndarray:
    """C_ijkl = lambda d_ij d_kl + mu (d_ik d_jl + d_il d_jk), lambda = 2 mu nu / (1 - 2 nu)."""
    lam = 2.0 * mu * nu / (1.0 - 2.0 * nu)
    return cubic_stiffness(lam + 2.0 * mu, lam, mu)


def compliance(stiffness: np.ndarray) -> np.ndarray:
    """S_ijkl = C^-1 on symmetric tensors (S : C : eps = eps for symmetric eps)."""
    c9 = np.asarray(stiffness, float).reshape(9, 9)
    return np.linalg.pinv(c9, rcond=1e-12, hermitian=True).reshape(3, 3, 3, 3)


def youngs_modulus_along(compliance_tensor: np.ndarray, direction: np.ndarray) -> float:
    """E(e) = 1 / (e e : S : e e) (Pa) for the uniaxial stress along `direction`."""
    e = np.asarray(direction, float) / np.linalg.norm(direction)
    projector = np.outer(e, e)
    return 1.0 / float(np.einsum("ij,ijkl,kl->", projector, compliance_tensor, projector))
