"""Applied Peach-Koehler and core (line-tension) forces: analytic limits, potentials, conservation."""
import numpy as np
import pytest

from ddml_engine.forces.local import (applied_forces, applied_segment_forces, core_energy, core_forces,
                                      shear_stress, stress_tensor, tensor_to_voigt, voigt_to_tensor)
from ddml_engine.geometry import circular_loop, line_direction, line_frame, straight_line
from ddml_engine.network import Cell, DislocationNetwork

B111 = np.array([1.0, 1.0, 1.0]) / np.sqrt(3.0)
N110 = np.array([1.0, -1.0, 0.0]) / np.sqrt(2.0)
B100 = np.array([2.0, 0.0, 0.0]) / np.sqrt(3.0)  # <100> junction Burgers vector in units of b = |1/2<111>|


def test_voigt_round_trip_and_order():
    rng = np.random.default_rng(0)
    s6 = rng.normal(size=(4, 6))
    t = voigt_to_tensor(s6)
    assert np.allclose(t, np.swapaxes(t, -1, -2))
    assert np.array_equal(tensor_to_voigt(t), s6)
    one = voigt_to_tensor([1, 2, 3, 4, 5, 6])
    assert one[1, 2] == 4 and one[0, 2] == 5 and one[0, 1] == 6 and one[2, 2] == 3
    with pytest.raises(ValueError, match="not symmetric"):
        tensor_to_voigt(np.array([[0, 1, 0], [0, 0, 0], [0, 0, 0]], float))
    with pytest.raises(ValueError, match="Voigt"):
        stress_tensor(np.zeros(5))


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("character", [90.0, 0.0, 35.0])
def test_straight_line_applied_force_is_tau_b_L_in_glide_plane(character, aligned):
    tau, n_nodes, length = 2.5e8, 12, 240.0
    t = line_direction(B111, N110, character)
    net = straight_line(length, t, B111, N110, n_nodes, aligned=aligned)
    rot = line_frame(t, N110) if aligned else np.eye(3)
    stress = voigt_to_tensor(shear_stress(tau, B111, N110))
    f = applied_forces(net, rot @ stress @ rot.T)
    l_node = length / n_nodes
    expected = tau * 1.0 * l_node * (rot @ np.cross(N110, t))  # |b| = 1, direction n x t (glide, normal to line)
    assert np.allclose(f, expected, rtol=0, atol=1e-12 * tau * l_node)
    assert np.abs(f @ (rot @ N110)).max() < 1e-12 * tau * l_node
    assert np.abs(f @ (rot @ t)).max() < 1e-12 * tau * l_node
    # Every segment hands half its integral to each end.
    seg = applied_segment_forces(net, shear_stress(tau, rot @ B111, rot @ N110))
    assert np.array_equal(seg[:, 0], seg[:, 1])
    assert np.allclose(seg.sum(1), expected, rtol=0, atol=1e-12 * tau * l_node)


def test_straight_line_has_no_core_force():
    for character in (0.0, 90.0, 63.0):
        t = line_direction(B111, N110, character)
        net = straight_line(100.0, t, B111, N110, 10, center=[3.0, -7.0, 11.0])
        f = core_forces(net, 2.5e9, 0.3)
        assert np.abs(f).max() < 1e-12 * 2.5e9 * 10


def _rough_network(rng):
    """A wiggly periodic closed loop (mixed b) plus a <100> junction triangle across the cell boundaries."""
    cell = Cell(np.array([[80.0, 6.0, 0.0], [0.0, 70.0, -4.0], [3.0, 0.0, 90.0]]), origin=[-40.0, -35.0, -45.0])
    loop = circular_loop([30.0, 25.0, 40.0], 22.0, [1.0, 1.0, -1.0], [1.0, -1.0, 1.0] / np.sqrt(3), 14, cell)
    loop.positions += rng.normal(scale=1.5, size=loop.positions.shape)
    pos = np.array([[-30.0, 0.0, 0.0], [30.0, 5.0, 2.0], [0.0, 30.0, -20.0]]) + rng.normal(scale=1.0, size=(3, 3))
    tri = DislocationNetwork(cell, pos, [[0, 1], [1, 2], [2, 0]], np.tile(B100, (3, 1)))
    net = DislocationNetwork.concatenate([loop, tri])
    return net.with_positions(cell.wrap(net.positions))


@pytest.mark.parametrize("nu,jfac", [(0.3, 1.0), (0.289, 1.7), (0.0, 1.0)])
def test_core_forces_are_minus_gradient_of_core_energy(nu, jfac):
    rng = np.random.default_rng(1)
    net = _rough_network(rng)
    ec = 3.1e9
    f = core_forces(net, ec, nu, junction_factor=jfac)
    h = 1e-4
    fd = np.zeros_like(f)
    for k in range(net.num_nodes):
        for d in range(3):
            plus, minus = net.positions.copy(), net.positions.copy()
            plus[k, d] += h
            minus[k, d] -= h
            fd[k, d] = -(core_energy(net.with_positions(plus), ec, nu, jfac)
                         - core_energy(net.with_positions(minus), ec, nu, jfac)) / (2 * h)
    scale = np.abs(f).max()
    assert np.abs(f - fd).max() < 1e-6 * scale
    assert np.allclose(f.sum(0), 0.0, atol=1e-9 * scale)  # closed loops: no net core force


def test_core_energy_depends_on_character_and_junction_factor():
    edge = straight_line(100.0, line_direction(B111, N110, 90.0), B111, N110, 10)
    screw = straight_line(100.0, line_direction(B111, N110, 0.0), B111, N110, 10)
    nu = 0.3
    assert core_energy(edge, 1.0, nu) == pytest.approx(100.0 / (1 - nu))
    assert core_energy(screw, 1.0, nu) == pytest.approx(100.0)
    net = _rough_network(np.random.default_rng(2))
    junction = np.linalg.norm(net.burgers, axis=1) > 1.01
    base = core_energy(net, 1.0, nu)
    sub = net.copy()
    sub.segments = sub.segments[junction]
    sub.burgers, sub.planes = sub.burgers[junction], sub.planes[junction]
    assert core_energy(net, 1.0, nu, 2.0) == pytest.approx(base + core_energy(sub, 1.0, nu))


def test_applied_force_is_minus_gradient_of_loop_work_and_sums_to_zero():
    """Closed polygon in uniform stress: F_app = -grad W with W = (sigma.b).A, A = 1/2 sum r_k x r_k+1.

    This pins the ParaDiS/ExaDiS sign convention f = (sigma.b) x xi (xi the line sense of b).
    """
    rng = np.random.default_rng(3)
    cell = Cell.cubic(1000.0, centered=True)
    loop = circular_loop([0.0, 0.0, 0.0], 30.0, [0.2, 0.3, 1.0], [0.3, -0.5, 0.8], 11, cell)
    pos = loop.positions + rng.normal(scale=3.0, size=loop.positions.shape)  # non-planar polygon
    net = loop.with_positions(pos)
    s6 = rng.normal(size=6) * 1e8
    f = applied_forces(net, s6)
    sb = voigt_to_tensor(s6) @ loop.burgers[0]

    def work(p):
        area = 0.5 * np.cross(p, np.roll(p, -1, axis=0)).sum(0)
        return sb @ area

    h = 1e-3
    fd = np.zeros_like(f)
    for k in range(len(pos)):
        for d in range(3):
            e = np.zeros_like(pos)
            e[k, d] = h
            fd[k, d] = -(work(pos + e) - work(pos - e)) / (2 * h)
    assert np.allclose(f, fd, rtol=1e-7, atol=1e-7 * np.abs(f).max())
    assert np.allclose(f.sum(0), 0.0, atol=1e-9 * np.abs(f).max())
    # A glide loop (line sense counter-clockwise about n) expands when (sigma.b).n < 0, shrinks when > 0.
    glide = circular_loop([0, 0, 0], 50.0, N110, B111, 16, cell)
    radial = glide.positions / np.linalg.norm(glide.positions, axis=1)[:, None]
    for tau, sign in ((-1e8, 1.0), (1e8, -1.0)):
        fg = applied_forces(glide, shear_stress(tau, B111, N110))
        assert np.allclose(fg, sign * 1e8 * 50.0 * np.sin(2 * np.pi / 16) * radial, rtol=1e-12, atol=1e-3)


def test_core_force_on_circular_loop_points_inward_with_line_tension_over_radius():
    radius, n_nodes, ec = 80.0, 96, 1.0e9
    loop = circular_loop([5.0, -3.0, 2.0], radius, N110, B111, n_nodes, Cell.cubic(1000.0, centered=True))
    l_node = 2 * radius * np.sin(np.pi / n_nodes)  # chord length = length per node of the regular polygon
    radial = loop.positions - np.array([5.0, -3.0, 2.0])
    radial /= np.linalg.norm(radial, axis=1)[:, None]
    # nu = 0: orientation-independent energy Ec |b|^2, F = Ec L_node / R inward, exact for the regular polygon.
    f0 = core_forces(loop, ec, 0.0)
    assert np.allclose(f0, -ec * l_node / radius * radial, rtol=0, atol=1e-10 * ec)
    # nu > 0: inward force ~ Gamma(theta) L_node / R with Gamma = E + E'' (E = Ec [cos^2 + sin^2/(1 - nu)]).
    nu = 0.3
    f = core_forces(loop, ec, nu)
    t = np.cross(N110, radial)  # line sense at each node
    cos = t @ B111
    sin2 = 1 - cos**2
    gamma = ec * (1 + nu * sin2 / (1 - nu) + 2 * nu * (2 * cos**2 - 1) / (1 - nu))
    inward = -np.einsum("ij,ij->i", f, radial)
    assert np.allclose(inward, gamma * l_node / radius, rtol=2e-3)
    assert np.abs(np.einsum("ij,ij->i", f, t)).max() < 2e-2 * np.abs(inward).max()
    assert np.abs(f @ N110).max() < 1e-9 * ec
    # The screw parts (node 0 lies along b) are stiffer than the edge parts: Gamma_s/Gamma_e = (1+nu)/(1-2nu).
    assert inward.max() / inward.min() == pytest.approx((1 + nu) / (1 - 2 * nu), rel=5e-3)


def test_bad_inputs_are_named():
    net = straight_line(50.0, line_direction(B111, N110, 90.0), B111, N110, 5)
    with pytest.raises(ValueError, match="Poisson"):
        core_forces(net, 1e9, 0.6)
    with pytest.raises(ValueError, match="shape"):
        applied_forces(net, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="does not lie"):
        straight_line(50.0, B111, B111, [1.0, 1.0, 0.0], 5)
    with pytest.raises(ValueError, match="n_nodes"):
        straight_line(50.0, line_direction(B111, N110, 0.0), B111, N110, 2)
