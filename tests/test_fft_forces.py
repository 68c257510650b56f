"""DDD-FFT long-range forces against the real-space non-singular model."""
import numpy as np
import pytest

from ddml_engine.dynamics.configs import prismatic_loop, random_prismatic_loops
from ddml_engine.forces.elastic import interaction_forces, self_forces, stress_at_points
from ddml_engine.forces.local import applied_forces
from ddml_engine.forces.fft import FFTLongRange, FFTStressSolver, _quadrature
from ddml_engine.network import Cell

MU, NU, A_CORE = 1.0, 0.3, 1.0


def test_grid_stress_matches_nonsingular_segment_stress():
    """The spectral field of a loop with Cai's kernel (radius A) is its non-singular stress with a = A,
    up to the periodic images' field and the zero mean stress of a periodic cell (both O((R/L)^3) here)."""
    cell = Cell.cubic(200.0)
    loop = prismatic_loop(cell, np.array([100.0, 100, 100]), 15.0, np.ones(3) / np.sqrt(3), 3.0)
    A = 4.0
    x1, x2 = loop.segment_endpoints()
    d = x2 - x1
    s, g = _quadrature(4)
    points = (x1[:, None] + s[None, :, None] * d[:, None]).reshape(-1, 3)
    w9 = ((loop.burgers[:, :, None] * d[:, None, :]).reshape(-1, 9)[:, None, :] * g[None, :, None]).reshape(-1, 9)
    solver = FFTStressSolver(MU, NU, A, 128)
    grid, n = solver.stress_grid(cell.to_fractional(points) % 1.0, w9, cell.matrix)
    probes = np.array([[100, 100, 130.0], [125, 100, 100], [100, 120, 110], [110, 110, 100]])
    spectral = solver.interpolate(grid, n, cell.to_fractional(probes) % 1.0)
    direct = stress_at_points(loop, probes, MU, NU, A)
    scale = np.abs(direct).max()
    assert np.abs(spectral - direct).max() < 0.02 * scale


@pytest.mark.parametrize("grid", [32, 64])
def test_fft_forces_agree_with_all_pairs_on_dilute_loops(grid):
    """Loops small compared with the cell: nearest-image all-pairs and the periodic FFT sum differ only by
    the far images (relative size ~ (R/L)^2 ~ 0.5 %); tolerance 1.5 % of the rms force."""
    cell = Cell.cubic(600.0)
    network = random_prismatic_loops(cell, 3, 40.0, 10.0, seed=1)
    reference = interaction_forces(network, MU, NU, A_CORE) + self_forces(network, MU, NU, A_CORE)
    fft = FFTLongRange(MU, NU, A_CORE, grid=grid)(network)
    rms = np.sqrt((reference**2).sum(1).mean())
    assert np.sqrt(((fft - reference) ** 2).sum(1).mean()) < 0.015 * rms
    assert np.abs(fft - reference).max() < 0.03 * rms


def test_fft_forces_dense_box_differ_from_nearest_image_by_image_field_only():
    """12 loops of radius 0.21 L (the paper's box): the FFT result is independent of the grid (the exact
    short-range correction absorbs the grid spreading) and its difference from the nearest-image all-pairs
    sum is the far-image field, mostly a uniform stress (fitted and removed here)."""
    cell = Cell.cubic(300.0)
    network = random_prismatic_loops(cell, 12, 63.0, 15.0, seed=1)
    f32 = FFTLongRange(MU, NU, A_CORE, grid=32)(network)
    f64 = FFTLongRange(MU, NU, A_CORE, grid=64)(network)
    rms = np.sqrt((f64**2).sum(1).mean())
    assert np.sqrt(((f32 - f64) ** 2).sum(1).mean()) < 0.02 * rms
    reference = interaction_forces(network, MU, NU, A_CORE) + self_forces(network, MU, NU, A_CORE)
    diff = (f64 - reference).ravel()
    basis = np.stack([applied_forces(network, np.eye(6)[i]).ravel() for i in range(6)], 1)
    coef, *_ = np.linalg.lstsq(basis, diff, rcond=None)
    assert np.sqrt(((diff - basis @ coef) ** 2).sum() / network.num_nodes) < 0.08 * rms


def test_fft_forces_invariant_under_translation_by_grid_vector_and_relabelling():
    cell = Cell.cubic(300.0)
    network = random_prismatic_loops(cell, 4, 40.0, 15.0, seed=3)
    model = FFTLongRange(MU, NU, A_CORE, grid=32)
    base = model(network)
    shifted = model(network.with_positions(network.positions + cell.matrix[:, 0] * 5 / 32))
    assert np.allclose(shifted, base, atol=1e-9 * np.abs(base).max())
    perm = np.random.default_rng(0).permutation(network.num_nodes)
    assert np.allclose(model(network.relabelled(perm))[perm], base, atol=1e-9 * np.abs(base).max())


def test_total_force_on_periodic_network_vanishes():
    """Newton's third law for the periodic sum: the FFT long range has zero net force (k = 0 term removed)."""
    cell = Cell.cubic(300.0)
    network = random_prismatic_loops(cell, 6, 50.0, 15.0, seed=2)
    f = FFTLongRange(MU, NU, A_CORE, grid=32)(network)
    assert np.linalg.norm(f.sum(0)) < 1e-3 * np.abs(f).sum()


def test_frozen_long_range_grid_within_a_step():
    """precompute() freezes the far field for one DDD step; after random node moves of 0.1 b (about what one
    trapezoid sub-step allows with rtol = 0.3 b) the frozen result stays within 1 % (rms) of the exact one (0.2 %
    measured), and release() restores exact evaluation."""
    cell = Cell.cubic(300.0)
    network = random_prismatic_loops(cell, 6, 50.0, 15.0, seed=4)
    model = FFTLongRange(MU, NU, A_CORE, grid=64)
    moved = network.with_positions(network.positions + np.random.default_rng(1).normal(0, 0.1, network.positions.shape))
    exact = model(moved)
    model.precompute(network)
    frozen = model(moved)
    rms = np.sqrt((exact**2).sum(1).mean())
    assert 0 < np.sqrt(((frozen - exact) ** 2).sum(1).mean()) < 0.01 * rms
    model.release()
    assert np.allclose(model(moved), exact)


def test_fft_forces_in_a_skewed_periodic_cell():
    """General (triclinic) periodic cell: dilute loops give the all-pairs nearest-image forces to 1.5 % rms."""
    cell = Cell(np.array([[600.0, 150.0, 0.0], [0.0, 580.0, 120.0], [0.0, 0.0, 620.0]]))
    network = random_prismatic_loops(cell, 3, 40.0, 10.0, seed=5)
    reference = interaction_forces(network, MU, NU, A_CORE) + self_forces(network, MU, NU, A_CORE)
    fft = FFTLongRange(MU, NU, A_CORE, grid=48)(network)
    rms = np.sqrt((reference**2).sum(1).mean())
    assert np.sqrt(((fft - reference) ** 2).sum(1).mean()) < 0.015 * rms


def test_nye_spreading_kernel_matches_the_bspline_stencil():
    """The numba spreading of Nye samples equals the bincount of the 4x4x4 cubic B-spline stencil (`_stencil`),
    including points on the far side of the periodic grid."""
    from ddml_engine.forces.fft import _spread_nye, _stencil

    rng = np.random.default_rng(2)
    n = (12, 12, 12)
    u = rng.uniform(0.0, 12.0, size=(50, 3))
    u[:3] = [[0.0, 0.0, 0.0], [11.999, 0.5, 11.2], [6.0, 11.9999, 0.01]]
    weights9 = rng.normal(size=(50, 9))
    grid = np.zeros((9,) + n)
    _spread_nye(u, weights9, grid)
    flat, w = _stencil(u, n)
    for c in range(9):
        expected = np.bincount(flat.ravel(), weights=(w * weights9[:, c, None]).ravel(), minlength=12**3)
        assert np.allclose(grid[c].ravel(), expected, rtol=1e-12, atol=1e-12)
    assert np.allclose(grid.sum(axis=(1, 2, 3)), weights9.sum(axis=0))  # B-spline weights sum to one
