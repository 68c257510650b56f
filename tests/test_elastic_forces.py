"""Non-singular isotropic elastic forces (Cai, Arsenlis, Weinberger & Bulatov, JMPS 2006).

Reference data: OpenDiS/ExaDiS segment-pair forces and segment stresses (../shared/reference, BSD-3).
Independent checks: Gauss-Legendre quadrature of the segment stress along the partner segment, subdivision of a
segment (self force = sub-segment self forces + their pair forces), Volterra fields of long straight
dislocations, network invariances (translation, relabelling, periodic images, cubic rotations), zero total force
on isolated closed loops, and the cutoff model against a brute-force pair search.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ddml_engine.forces.elastic import (interaction_forces, interaction_pairs, segment_pair_forces,
                                        segment_stress, self_force, self_forces, stress_at_points)
from ddml_engine.network import Cell, DislocationNetwork

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
MU, NU, A = 50.0, 0.3, 0.01


def _needs(name: str) -> Path:
    path = REFERENCE / name
    if not path.exists():
        pytest.skip(f"reference file {path} not available")
    return path


# ----------------------------------------------------------------------------- reference data
def test_pair_forces_match_opendis_reference():
    data = np.loadtxt(_needs("segseg_pairs_mu50_nu0.3_a0.01.dat"))
    f = segment_pair_forces(data[:, 0:3], data[:, 3:6], data[:, 6:9], data[:, 9:12], data[:, 12:15],
                            data[:, 15:18], 50.0, 0.3, 0.01)
    np.testing.assert_allclose(np.concatenate(f, axis=1), data[:, 18:30], rtol=0, atol=1e-9)


def test_segment_stress_matches_opendis_reference():
    inp = np.load(_needs("seg_stress_input.npy"))
    expected = np.load(_needs("seg_stress_expected.npy"))
    sigma = segment_stress(inp[:, 0:3], inp[:, 3:6], inp[:, 6:9], inp[:, 9:12], 1000.0, 0.3, 0.01)
    np.testing.assert_allclose(sigma, expected, rtol=0, atol=1e-10)
    np.testing.assert_allclose(sigma, np.swapaxes(sigma, 1, 2), atol=1e-12)


# ----------------------------------------------------------------------------- independent kernel checks
def _quadrature_forces(p1, p2, p3, p4, b12, b34, npts=160):
    """f3, f4 = integral over 3-4 of N(x) (sigma_12(x) . b34) x t dL by Gauss-Legendre quadrature."""
    xg, wg = np.polynomial.legendre.leggauss(npts)
    s, w = 0.5 * (xg + 1.0), 0.5 * wg
    length = np.linalg.norm(p4 - p3)
    t = (p4 - p3) / length
    x = p3 + s[:, None] * (p4 - p3)
    rep = lambda v: np.repeat(v[None], npts, axis=0)  # noqa: E731
    sigma = segment_stress(rep(p1), rep(p2), rep(b12), x, MU, NU, A)
    line_force = np.cross(np.einsum("kij,j->ki", sigma, b34), t)
    return (w * (1 - s)) @ line_force * length, (w * s) @ line_force * length


def _pair_geometry(angle: float, rng: np.random.Generator, flip: bool = False):
    t = rng.normal(size=3)
    t /= np.linalg.norm(t)
    off = np.cross(t, rng.normal(size=3))
    off /= np.linalg.norm(off)
    t2 = np.cos(angle) * t + np.sin(angle) * np.cross(t, off)
    p1 = rng.normal(size=3) * 3.0
    p2 = p1 + 4.0 * t
    p3 = p1 + 1.5 * off + 0.7 * t
    p4 = p3 + 3.0 * t2 * (-1.0 if flip else 1.0)
    return p1, p2, p3, p4, rng.normal(size=3), rng.normal(size=3)


@pytest.mark.parametrize("angle,flip", [(0.3, False), (1.2, True), (0.05, False), (0.0, False), (0.0, True)])
def test_pair_forces_match_quadrature_of_segment_stress(angle, flip):
    """General and exactly parallel (special-case) formulas both equal the integrated Peach-Koehler force."""
    rng = np.random.default_rng(7)
    p1, p2, p3, p4, b12, b34 = _pair_geometry(angle, rng, flip)
    f1, f2, f3, f4 = (f[0] for f in segment_pair_forces(p1, p2, p3, p4, b12, b34, MU, NU, A))
    q3, q4 = _quadrature_forces(p1, p2, p3, p4, b12, b34)
    q1, q2 = _quadrature_forces(p3, p4, p1, p2, b34, b12)
    scale = np.abs([q1, q2, q3, q4]).max()
    np.testing.assert_allclose([f1, f2, f3, f4], [q1, q2, q3, q4], rtol=0, atol=1e-10 * scale)


def test_nearly_parallel_pairs_are_continuous_across_the_special_case_threshold():
    """Just below 1 - c^2 = 1e-4 the ParaDiS parallel scheme (projection + corrective segments) is used; it
    approximates the integrated force to better than ~1e-3 of its magnitude."""
    rng = np.random.default_rng(3)
    for angle in (0.0099, 0.003):  # 1 - c^2 = 9.8e-5 and 9e-6: special case
        p1, p2, p3, p4, b12, b34 = _pair_geometry(angle, rng)
        f = np.array([x[0] for x in segment_pair_forces(p1, p2, p3, p4, b12, b34, MU, NU, A)])
        q3, q4 = _quadrature_forces(p1, p2, p3, p4, b12, b34)
        q1, q2 = _quadrature_forces(p3, p4, p1, p2, b34, b12)
        q = np.array([q1, q2, q3, q4])
        assert np.abs(f - q).max() < 2e-3 * np.abs(q).max()


def test_self_force_equals_subdivided_segment():
    """Forces are integrals of the (linear) stress, so splitting a segment into n collinear parts and mapping
    the sub-node forces back with the linear shape functions reproduces the self force exactly; this also
    exercises the collinear (parallel, shared node) pair formulas."""
    rng = np.random.default_rng(11)
    p1 = rng.normal(size=3)
    p2 = p1 + np.array([5.0, 2.0, 1.0])
    b = rng.normal(size=3)
    f1, f2 = (f[0] for f in self_force(p1, p2, b, MU, NU, A))
    n = 5
    xs = [p1 + (p2 - p1) * k / n for k in range(n + 1)]
    nodal = np.zeros((n + 1, 3))
    for k in range(n):
        g1, g2 = self_force(xs[k], xs[k + 1], b, MU, NU, A)
        nodal[k] += g1[0]
        nodal[k + 1] += g2[0]
        for m in range(k + 1, n):
            h = segment_pair_forces(xs[k], xs[k + 1], xs[m], xs[m + 1], b, b, MU, NU, A)
            np.add.at(nodal, [k, k + 1, m, m + 1], np.array([h[0][0], h[1][0], h[2][0], h[3][0]]))
    s = np.arange(n + 1) / n
    np.testing.assert_allclose(s @ nodal, f2, atol=1e-9 * np.abs(f2).max())
    np.testing.assert_allclose((1 - s) @ nodal, f1, atol=1e-9 * np.abs(f1).max())
    # a pure screw segment has no self force, and f1 = -f2 in general
    g1, g2 = self_force(p1, p2, (p2 - p1) / np.linalg.norm(p2 - p1), MU, NU, A)
    assert np.abs(g1).max() < 1e-12 and np.abs(g2).max() < 1e-12
    np.testing.assert_allclose(f1, -f2)


@pytest.mark.parametrize("character", ["screw", "edge"])
def test_long_segment_stress_approaches_volterra_field(character):
    """Far from the ends and for r >> a: screw sigma_theta_z = mu b/(2 pi r); edge (b = x, t = z) the
    Hirth-Lothe field with D = mu b / (2 pi (1 - nu))."""
    mu, nu, a, half = 1.0, 0.3, 1.0, 1.0e7
    b = np.array([0.0, 0.0, 1.0]) if character == "screw" else np.array([1.0, 0.0, 0.0])
    theta = np.linspace(0.1, 2 * np.pi, 7)
    r = 200.0
    x, y = r * np.cos(theta), r * np.sin(theta)
    pts = np.stack([x, y, np.zeros_like(x)], axis=1)
    k = len(pts)
    sigma = segment_stress(np.tile([0, 0, -half], (k, 1)), np.tile([0, 0, half], (k, 1)), np.tile(b, (k, 1)),
                           pts, mu, nu, a)
    expected = np.zeros((k, 3, 3))
    if character == "screw":
        szx = -mu / (2 * np.pi) * y / r**2
        szy = mu / (2 * np.pi) * x / r**2
        expected[:, 0, 2] = expected[:, 2, 0] = szx
        expected[:, 1, 2] = expected[:, 2, 1] = szy
        # sigma_theta_z = -sin * s_xz + cos * s_yz
        s_tz = -np.sin(theta) * sigma[:, 0, 2] + np.cos(theta) * sigma[:, 1, 2]
        np.testing.assert_allclose(s_tz, mu / (2 * np.pi * r), rtol=1e-4)
    else:
        d = mu / (2 * np.pi * (1 - nu))
        r4 = (x**2 + y**2) ** 2
        expected[:, 0, 0] = -d * y * (3 * x**2 + y**2) / r4
        expected[:, 1, 1] = d * y * (x**2 - y**2) / r4
        expected[:, 0, 1] = expected[:, 1, 0] = d * x * (x**2 - y**2) / r4
        expected[:, 2, 2] = nu * (expected[:, 0, 0] + expected[:, 1, 1])
    np.testing.assert_allclose(sigma, expected, rtol=0, atol=1e-4 * mu / (2 * np.pi * r))


# ----------------------------------------------------------------------------- networks
def _loop(center, radius, normal, burgers, nodes):
    normal = normal / np.linalg.norm(normal)
    e1 = np.cross(normal, [0.3, 0.5, 0.8])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(normal, e1)
    phi = 2 * np.pi * np.arange(nodes) / nodes
    pos = center + radius * (np.cos(phi)[:, None] * e1 + np.sin(phi)[:, None] * e2)
    segs = np.stack([np.arange(nodes), (np.arange(nodes) + 1) % nodes], axis=1)
    return pos, segs, np.tile(burgers, (nodes, 1))


def random_loops(cell: Cell, nloops: int, seed: int, radius=(15.0, 45.0)) -> DislocationNetwork:
    rng = np.random.default_rng(seed)
    parts = []
    for _ in range(nloops):
        center = cell.to_cartesian(rng.random(3))
        pos, segs, b = _loop(center, rng.uniform(*radius), rng.normal(size=3), rng.normal(size=3),
                             int(rng.integers(7, 12)))
        parts.append(DislocationNetwork(cell, cell.wrap(pos), segs, b))
    return DislocationNetwork.concatenate(parts)


@pytest.fixture(scope="module")
def periodic_net() -> DislocationNetwork:
    return random_loops(Cell.cubic(200.0, centered=True), 6, seed=5)


@pytest.fixture(scope="module")
def periodic_forces(periodic_net) -> np.ndarray:
    return interaction_forces(periodic_net, MU, NU, A)


def _close(f, g):
    np.testing.assert_allclose(f, g, rtol=0, atol=1e-9 * np.abs(g).max())


def test_interaction_forces_translation_invariant(periodic_net, periodic_forces):
    moved = periodic_net.with_positions(periodic_net.cell.wrap(periodic_net.positions + [37.3, -81.2, 55.9]))
    _close(interaction_forces(moved, MU, NU, A), periodic_forces)


def test_interaction_forces_follow_node_relabelling(periodic_net, periodic_forces):
    perm = np.random.default_rng(1).permutation(periodic_net.num_nodes)
    f = interaction_forces(periodic_net.relabelled(perm), MU, NU, A)
    _close(f[perm], periodic_forces)


def test_interaction_forces_unchanged_by_cell_vector_shift_of_a_node(periodic_net, periodic_forces):
    pos = periodic_net.positions.copy()
    pos[3] += periodic_net.cell.matrix[:, 0] - 2 * periodic_net.cell.matrix[:, 2]
    pos[10] -= periodic_net.cell.matrix[:, 1]
    _close(interaction_forces(periodic_net.with_positions(pos), MU, NU, A), periodic_forces)


@pytest.mark.parametrize("rotation", [
    np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),   # 90 degrees about z
    np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),    # 120 degrees about [111]
])
def test_interaction_forces_rotate_with_cubic_symmetry(periodic_net, periodic_forces, rotation):
    """A cubic symmetry about the centre of a centred cube maps the periodic cell (and all its images) to itself."""
    centre = periodic_net.cell.center
    rotated = DislocationNetwork(periodic_net.cell, (periodic_net.positions - centre) @ rotation.T + centre,
                                 periodic_net.segments, periodic_net.burgers @ rotation.T)
    _close(interaction_forces(rotated, MU, NU, A), periodic_forces @ rotation.T)


def test_isolated_loops_feel_no_net_force_and_rotate_covariantly():
    cell = Cell.cubic(2000.0, centered=True, periodic=(False, False, False))
    rng = np.random.default_rng(2)
    parts = []
    for k in range(3):
        pos, segs, b = _loop(rng.normal(size=3) * 30, 25.0 + 5 * k, rng.normal(size=3), rng.normal(size=3), 9)
        parts.append(DislocationNetwork(cell, pos, segs, b))
    net = DislocationNetwork.concatenate(parts)
    single = parts[0]
    for network in (single, net):
        total = interaction_forces(network, MU, NU, A) + self_forces(network, MU, NU, A)
        assert np.linalg.norm(total.sum(axis=0)) < 1e-9 * np.abs(total).sum()
    # a general rotation (no periodic images involved)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    rot = q * np.sign(np.linalg.det(q))
    rotated = DislocationNetwork(cell, net.positions @ rot.T, net.segments, net.burgers @ rot.T)
    _close(interaction_forces(rotated, MU, NU, A), interaction_forces(net, MU, NU, A) @ rot.T)
    _close(self_forces(rotated, MU, NU, A), self_forces(net, MU, NU, A) @ rot.T)


def test_cutoff_beyond_cell_size_equals_all_pairs(periodic_net, periodic_forces):
    _close(interaction_forces(periodic_net, MU, NU, A, cutoff=250.0), periodic_forces)


def _brute_pairs(mid: np.ndarray, cell: Cell, cutoff: float) -> set[tuple[int, int]]:
    i, j = np.triu_indices(len(mid), k=1)
    dist = np.linalg.norm(cell.minimum_image(mid[j] - mid[i]), axis=1)
    return set(zip(i[dist < cutoff].tolist(), j[dist < cutoff].tolist()))


@pytest.mark.parametrize("cell", [
    Cell.cubic(200.0, centered=True),
    Cell(np.array([[180.0, 40.0, 0.0], [0.0, 150.0, 30.0], [0.0, 0.0, 210.0]]), np.zeros(3), (True, True, False)),
])
def test_cutoff_model_uses_exactly_the_pairs_within_cutoff(cell):
    net = random_loops(cell, 8, seed=9)
    p1, p2 = net.segment_endpoints()
    mid = 0.5 * (p1 + p2)
    cutoff = 45.0
    pairs = interaction_pairs(net, cutoff)
    assert np.all(pairs[:, 0] < pairs[:, 1])
    listed = set(map(tuple, pairs.tolist()))
    assert len(listed) == len(pairs)
    expected = _brute_pairs(mid, cell, cutoff)
    assert 0 < len(expected) < len(mid) * (len(mid) - 1) // 2
    assert listed == expected
    # forces of the cutoff model = independent numpy assembly over those pairs (partner at minimum image)
    i, j = np.array(sorted(expected)).T
    shift = cell.minimum_image(mid[j] - mid[i]) - (mid[j] - mid[i])
    f = segment_pair_forces(p1[i], p2[i], p1[j] + shift, p2[j] + shift, net.burgers[i], net.burgers[j], MU, NU, A)
    nodal = np.zeros((net.num_nodes, 3))
    for nodes, fk in zip((net.segments[i, 0], net.segments[i, 1], net.segments[j, 0], net.segments[j, 1]), f):
        np.add.at(nodal, nodes, fk)
    _close(interaction_forces(net, MU, NU, A, cutoff=cutoff), nodal)


def test_stress_at_points_sums_nearest_images(periodic_net):
    rng = np.random.default_rng(4)
    pts = periodic_net.cell.to_cartesian(rng.random((5, 3)))
    sigma = stress_at_points(periodic_net, pts, MU, NU, A)
    p1, p2 = periodic_net.segment_endpoints()
    mid = 0.5 * (p1 + p2)
    expected = np.zeros((5, 3, 3))
    for q, x in enumerate(pts):
        shift = periodic_net.cell.minimum_image(mid - x) - (mid - x)
        m = len(p1)
        expected[q] = segment_stress(p1 + shift, p2 + shift, periodic_net.burgers, np.tile(x, (m, 1)),
                                     MU, NU, A).sum(axis=0)
    np.testing.assert_allclose(sigma, expected, rtol=0, atol=1e-10 * np.abs(expected).max())


def test_bad_input_is_reported():
    p = np.zeros((2, 3))
    with pytest.raises(ValueError, match="p3"):
        segment_pair_forces(p, p + 1, np.zeros((3, 3)), p, p, p, MU, NU, A)
    with pytest.raises(ValueError, match="core radius"):
        segment_stress(p, p + 1, p, p, MU, NU, 0.0)
    bad = p.copy()
    bad[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"rows \[1\]"):
        self_force(p, bad, p, MU, NU, A)


@pytest.mark.parametrize("name", ["line-tension", "elastic", "elastic-cutoff", "fft"])
def test_every_force_model_takes_an_empty_network(name):
    from ddml_engine.forces.model import make_force_model
    from ddml_engine.materials import material
    from ddml_engine.network import Cell, DislocationNetwork

    empty = DislocationNetwork(Cell.cubic(100.0), np.zeros((0, 3)), np.zeros((0, 2)), np.zeros((0, 3)))
    forces = make_force_model(name, material("W"), cutoff=50.0, grid=8)(empty, np.array([0, 0, 1e8, 0, 0, 0]))
    assert forces.shape == (0, 3)
