"""Cubic-symmetry augmentation of snapshot pairs: the 24 proper rotations of the cube.

A mobility law of a cubic crystal is invariant under the crystal's point group: rotating a network, its forces
and its Burgers vectors by a cube rotation P rotates the velocities, V(P G) = P V(G). The GNN is not equivariant
by construction (its inputs are Cartesian components), so it has to learn every orientation from data; the
{110}<111> glide systems of a small data set are few per orientation (a model trained on one system learns in
tens of epochs what one trained on all twelve does not learn in a hundred). Training on P G instead of G, with P
drawn afresh per pair and epoch, shows every trajectory in all 24 orientations at no extra data cost.

The whole periodic system is rotated about its cell centre c = o + H (1,1,1)/2, cell included:
x -> P (x - c) + c, H -> P H, o -> P (o - c) + c, b -> P b, F -> P F, segment vectors d -> P d. The grid points
o' + H' idx / n are the rotated grid points, and the Nye field transforms as alpha'(x') = P alpha(x) P^T, so the
grid spectrum of every mode m (A = rfftn(alpha_grid), ml.dataset) transforms in place: A'(m) = P A(m) P^T.
This holds for any cell shape (straight lines along <111> or <112> need skewed or rotated cells).
"""
from __future__ import annotations

import itertools

import numpy as np


def _cube_rotations() -> np.ndarray:
    """(24, 3, 3) signed permutation matrices with determinant +1; index 0 is the identity."""
    mats = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1, -1), repeat=3):
            p = np.zeros((3, 3))
            p[np.arange(3), perm] = signs
            if np.linalg.det(p) > 0:
                mats.append(p)
    mats.sort(key=lambda m: 0 if np.array_equal(m, np.eye(3)) else 1)
    return np.stack(mats)


CUBE_ROTATIONS = _cube_rotations()


def rotate_points(x: np.ndarray, rotation: np.ndarray, cell_matrix: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """x -> P (x - c) + c about the cell centre c = o + H (1,1,1)/2; x (..., 3)."""
    centre = np.asarray(origin, float) + np.asarray(cell_matrix, float) @ np.full(3, 0.5)
    return (np.asarray(x, float) - centre) @ rotation.T + centre


def rotate_cell(cell_matrix: np.ndarray, origin: np.ndarray, rotation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P H, P (o - c) + c): the cell rotated about its centre c = o + H (1,1,1)/2."""
    h = np.asarray(cell_matrix, float)
    return rotation @ h, rotate_points(origin, rotation, h, origin)


def rotate_half_spectrum(spectrum: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Half spectrum (..., 3, 3) of alpha for the system rotated with its cell: A'(m) = P A(m) P^T."""
    if spectrum.shape[-2:] != (3, 3):
        raise ValueError(f"rotate_half_spectrum: expected (..., 3, 3), got {spectrum.shape}")
    return np.einsum("ik,...kl,jl->...ij", rotation, spectrum, rotation).astype(spectrum.dtype, copy=False)
