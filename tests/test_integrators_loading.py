"""Time integrators (analytic ODEs) and loading (strain-rate control, swept-area plastic strain)."""
import numpy as np
import pytest

from ddml_engine.dynamics.integrators import EulerIntegrator, MultiStepIntegrator, TrapezoidIntegrator
from ddml_engine.dynamics.loading import UniaxialStrainRate, plastic_strain_increment, swept_area_vectors
from ddml_engine.network import Cell, DislocationNetwork

B = np.array([1.0, 1.0, 1.0]) / np.sqrt(3.0)


def square_loop(side=10.0, cell_size=100.0):
    pos = np.array([[0, 0, 0], [side, 0, 0], [side, side, 0], [0, side, 0]], float) + 40.0
    return DislocationNetwork(Cell.cubic(cell_size), pos, [[0, 1], [1, 2], [2, 3], [3, 0]], np.tile(B, (4, 1)))


@pytest.mark.parametrize("integrator, order", [(EulerIntegrator(maxdt=1e-3), 1),
                                                (TrapezoidIntegrator(maxdt=1e-3, rtol=1e-12, max_iterations=50), 2)])
def test_integrators_converge_on_linear_decay(integrator, order):
    """dx/dt = -k x has x(t) = x0 exp(-kt); the global error scales as dt^order."""
    k = 50.0
    net = square_loop()
    x0 = net.positions.copy()

    def velocity(n):
        return -k * (n.positions - 40.0)

    errors = []
    for dt in (1e-3, 5e-4):
        integrator.maxdt = dt
        if hasattr(integrator, "dt"):
            integrator.dt = 0.0
        current, t = net, 0.0
        while t < 0.02 - 1e-15:
            result = integrator.step(current, velocity)
            current, t = result.network, t + result.dt
        exact = 40.0 + (x0 - 40.0) * np.exp(-k * t)
        errors.append(np.max(np.abs(current.positions - exact)))
    assert errors[0] / errors[1] == pytest.approx(2.0**order, rel=0.1)


def test_trapezoid_halves_dt_until_error_below_rtol_and_respects_dt_limit():
    net = square_loop()

    def velocity(n):  # stiff: fast decay towards 40, error large for big dt
        return -1e6 * (n.positions - 40.0)

    integ = TrapezoidIntegrator(maxdt=1e-3, rtol=1e-3)
    result = integ.step(net, velocity)
    halvings = np.log2(1e-3 / result.dt)
    assert halvings >= 1 and np.isclose(halvings, round(halvings))
    # ExaDiS's rule: after a step that needed halving the next trial step keeps the accepted one ...
    assert integ.dt == result.dt
    # ... and it grows by 1.2 after a step whose first iteration converged.
    gentle = TrapezoidIntegrator(maxdt=1.0, rtol=1e-3, dt=1e-4)
    first = gentle.step(net, lambda n: -1.0 * (n.positions - 40.0))
    assert first.dt == 1e-4 and first.evaluations == 2 and gentle.dt == pytest.approx(1.2e-4)
    limited = TrapezoidIntegrator(maxdt=1e-3, rtol=10.0).step(net, lambda n: np.zeros_like(n.positions), 2e-4)
    assert limited.dt == 2e-4


def test_multistep_trapezoid_reuses_the_last_velocities_first_same_as_last():
    """The accepted position is where V was last evaluated, so each sub-step after the first starts from the
    previous one's V: 10 sub-steps that converge at once cost 11 evaluations, not 20, and the returned
    velocities are V(final network)."""
    net = square_loop()
    calls = []

    def velocity(n):
        calls.append(n.positions.copy())
        return -3.0 * (n.positions - 40.0) + np.array([1.0, 0.0, 0.0])

    multi = MultiStepIntegrator(TrapezoidIntegrator(maxdt=1.0, rtol=1e-2, dt=1e-3, increase=1.0), substeps=10)
    result = multi.step(net, velocity)
    assert result.evaluations == 11 == len(calls)
    np.testing.assert_array_equal(calls[-1], result.network.positions)
    np.testing.assert_allclose(result.velocities, velocity(result.network), rtol=0, atol=0)
    # The same trajectory as re-evaluating V at every sub-step start.
    fresh = MultiStepIntegrator(TrapezoidIntegrator(maxdt=1.0, rtol=1e-2, dt=1e-3, increase=1.0), substeps=10,
                                reuse_velocities=False).step(net, velocity)
    assert fresh.evaluations == 20
    np.testing.assert_array_equal(fresh.network.positions, result.network.positions)


def test_strain_rate_control_without_dislocations_follows_hooke():
    loading = UniaxialStrainRate(rate=-2e8, youngs_modulus=2 * 149.78e9 * 1.289)
    for dt in np.random.default_rng(0).uniform(1e-13, 1e-12, 200):
        loading.advance(dt, np.zeros((3, 3)))
    assert loading.axial_stress == pytest.approx(loading.youngs_modulus * loading.strain, rel=1e-12)
    assert np.allclose(loading.stress(), [0, 0, loading.axial_stress, 0, 0, 0])


def test_swept_area_of_rigid_translation_and_plastic_work():
    """A segment translated by delta sweeps (x2 - x1) x delta; sigma : d eps_p V equals the PK work."""
    net = square_loop()
    delta = np.array([0.3, -0.2, 0.7])
    moved = net.with_positions(net.positions + delta)
    area = swept_area_vectors(net, moved)
    assert np.allclose(area, np.cross(net.segment_vectors(), delta))
    # A rigidly translated closed loop sweeps no net area.
    assert np.allclose(plastic_strain_increment(net, moved), 0.0, atol=1e-15)


def test_expanding_loop_plastic_strain_matches_area():
    """Expanding a planar loop by a factor changes eps_p by -sym(b (x) dA)/V with dA its area change."""
    net = square_loop(side=10.0)
    center = net.positions.mean(axis=0)
    grown = net.with_positions(center + 1.5 * (net.positions - center))
    d_eps = plastic_strain_increment(net, grown)
    d_area = np.array([0.0, 0.0, 15.0**2 - 10.0**2])  # right-handed area vector of the line sense grows
    expected = -0.5 * (np.outer(B, d_area) + np.outer(d_area, B)) / net.cell.volume
    assert np.allclose(d_eps, expected, rtol=1e-12, atol=1e-18)


def test_strain_rate_control_relaxes_with_plastic_strain():
    loading = UniaxialStrainRate(rate=1e8, youngs_modulus=1e11)
    d_eps = np.zeros((3, 3))
    d_eps[2, 2] = 1e-5
    loading.advance(1e-12, d_eps)
    assert loading.axial_stress == pytest.approx(1e11 * (1e8 * 1e-12 - 1e-5))
    assert loading.plastic_strain == pytest.approx(1e-5)
