"""Cubic-symmetry augmentation (ml.symmetry): the rotation group, the exact transform of Nye spectra, and the
invariance of the ground-truth law that makes augmentation valid."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from ddml_engine.dynamics.configs import random_prismatic_loops
from ddml_engine.forces.model import LineTensionModel
from ddml_engine.materials import material
from ddml_engine.ml.symmetry import CUBE_ROTATIONS, rotate_cell, rotate_half_spectrum, rotate_points
from ddml_engine.mobility.bcc import BCCLinearMobility
from ddml_engine.network import Cell
from ddml_engine.nye import nye_field_fourier


def test_cube_rotations_form_the_proper_octahedral_group():
    assert CUBE_ROTATIONS.shape == (24, 3, 3) and np.array_equal(CUBE_ROTATIONS[0], np.eye(3))
    keys = {tuple(p.round().astype(int).ravel()) for p in CUBE_ROTATIONS}
    assert len(keys) == 24
    for p in CUBE_ROTATIONS:
        assert np.linalg.det(p) == 1.0 and np.allclose(p @ p.T, np.eye(3))
        for q in CUBE_ROTATIONS:  # closed under products
            assert tuple((p @ q).round().astype(int).ravel()) in keys


def test_rotated_spectrum_equals_spectrum_of_rotated_system():
    """A'(m) = P A(m) P^T against a direct evaluation in the rotated cell, for all 24 rotations, a skewed cell
    with an off-centre origin and segments crossing its faces."""
    rng = np.random.default_rng(0)
    cell = np.array([[30.0, 6.0, -4.0], [0.0, 26.0, 3.0], [0.0, 0.0, 34.0]])
    origin = np.array([-5.0, 2.0, 1.0])
    x1 = origin + rng.uniform(0, 1, (7, 3)) @ cell.T
    x2 = x1 + rng.normal(0, 4, (7, 3))
    b = rng.normal(0, 1, (7, 3))

    def spectrum(a1, a2, bb, h, o):
        t = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
        return nye_field_fourier(t(a1), t(a2), t(bb), t(h), t(o), 16, 2.0).numpy()

    reference = spectrum(x1, x2, b, cell, origin)
    for p in CUBE_ROTATIONS[1:]:
        h, o = rotate_cell(cell, origin, p)
        assert np.allclose(o + h @ np.full(3, 0.5), origin + cell @ np.full(3, 0.5))  # same centre
        direct = spectrum(rotate_points(x1, p, cell, origin), rotate_points(x2, p, cell, origin), b @ p.T, h, o)
        np.testing.assert_allclose(rotate_half_spectrum(reference, p), direct, rtol=0, atol=1e-12 * np.abs(direct).max())
        assert np.abs(direct - reference).max() > 1e-3 * np.abs(direct).max()  # the rotation does change it


def test_linear_bcc_law_is_cube_invariant():
    """V(P G) = P V(G) for line-tension + applied forces and the BCC_0B law: what augmentation relies on."""
    net = random_prismatic_loops(Cell.cubic(80.0), 3, (10.0, 18.0), 6.0, seed=3)
    stress_tensor = np.array([[0.0, 2e8, -1e8], [2e8, 5e7, 0.0], [-1e8, 0.0, -3e8]])
    forces = LineTensionModel(material("W"))
    law = BCCLinearMobility(Me=2600.0, Ms=20.0)

    def voigt(s):
        return np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])

    v = law.velocities(net, forces(net, voigt(stress_tensor)))
    for p in CUBE_ROTATIONS[[1, 7, 13, 23]]:
        moved = replace(net, positions=rotate_points(net.positions, p, net.cell.matrix, net.cell.origin),
                        burgers=net.burgers @ p.T, planes=net.planes @ p.T)
        v_rot = law.velocities(moved, forces(moved, voigt(p @ stress_tensor @ p.T)))
        np.testing.assert_allclose(v_rot, v @ p.T, rtol=0, atol=1e-9 * np.abs(v).max())
