"""Topology operations: remesh, collisions, multi-node splitting, tiny loops — Burgers conservation, geometry,
junction formation and annihilation, periodic boundaries."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ddml_engine.dynamics import topology as topo
from ddml_engine.dynamics.collisions import collide, point_segment_closest, segment_closest_points
from ddml_engine.dynamics.remesh import coarsen, refine, remesh
from ddml_engine.dynamics.split import arm_partitions, split_multinodes
from ddml_engine.network import GLISSILE_111, JUNCTION_100, PINNED_NODE, Cell, DislocationNetwork

BOX = 100.0
S3 = np.sqrt(3.0)
B111 = np.array([[1, 1, 1], [-1, 1, 1], [1, -1, 1], [1, 1, -1]], float) / S3


# ----------------------------------------------------------------------------------------- builders
def polygon(cell, vertices, b, plane=None, pinned_ends=False, closed=True, wrap=True):
    """Polyline through `vertices` carrying b; closed loop or open line (pinned ends when asked)."""
    v = np.asarray(vertices, float)
    n = len(v)
    idx = np.arange(n)
    segs = np.stack([idx, (idx + 1) % n], 1) if closed else np.stack([idx[:-1], idx[1:]], 1)
    if plane is None:
        plane = np.zeros(3)
    cons = np.zeros(n, int)
    if pinned_ends:
        cons[[0, -1]] = PINNED_NODE
    pos = cell.wrap(v) if wrap else v
    return DislocationNetwork(cell, pos, segs, np.tile(b, (len(segs), 1)), np.tile(plane, (len(segs), 1)), cons)


def straight_line(cell, start, direction, length, step, b, pinned=True):
    direction = np.asarray(direction, float) / np.linalg.norm(direction)
    k = int(round(length / step))
    pts = np.asarray(start, float) + np.outer(np.arange(k + 1) * step, direction)
    return polygon(cell, pts, b, pinned_ends=pinned, closed=False, wrap=False)


def periodic_line(cell, y, z, spacing, offset, b, reverse=False):
    """Closed straight line along x through the periodic box (nodes every `spacing`, shifted by `offset`)."""
    xs = offset + np.arange(0.0, BOX, spacing)
    pts = np.stack([xs, np.full_like(xs, y), np.full_like(xs, z)], 1)
    if reverse:
        pts = pts[::-1]
    return polygon(cell, pts, b, plane=[0.0, 0.0, 1.0])


def check_conserved(net):
    assert len(net.frank_violations()) == 0, net.frank_violations()
    net.validate()


@st.composite
def random_loops(draw, max_loops=3, spread=BOX):
    """A few random closed planar polygons with random 1/2<111> Burgers vectors in a periodic box, centres
    uniform in [-spread, spread]^3 (a small spread makes the loops cross)."""
    cell = Cell.cubic(BOX, centered=draw(st.booleans()))
    parts = []
    for _ in range(draw(st.integers(1, max_loops))):
        k = draw(st.integers(3, 8))
        center = np.array(draw(st.lists(st.floats(-spread, spread), min_size=3, max_size=3)))
        normal = np.array(draw(st.lists(st.floats(-1, 1), min_size=3, max_size=3))) + [0.0, 0.0, 1e-3]
        normal /= np.linalg.norm(normal)
        u = np.cross(normal, [1.0, 0.3, 0.1])
        u /= np.linalg.norm(u)
        w = np.cross(normal, u)
        angles = np.sort(np.array(draw(st.lists(st.floats(0, 2 * np.pi), min_size=k, max_size=k, unique=True))))
        if np.min(np.diff(np.concatenate([angles, [angles[0] + 2 * np.pi]]))) < 0.2:
            angles = np.linspace(0, 2 * np.pi, k, endpoint=False)
        radius = draw(st.floats(3.0, 35.0))
        pts = center + radius * (np.cos(angles)[:, None] * u + np.sin(angles)[:, None] * w)
        b = B111[draw(st.integers(0, 3))] * draw(st.sampled_from([-1.0, 1.0]))
        parts.append(polygon(cell, pts, b, plane=normal))
    net = DislocationNetwork.concatenate(parts)
    return DislocationNetwork(cell, net.positions, net.segments, net.burgers, net.planes)


def components(net):
    graph = coo_matrix((np.ones(net.num_segments), (net.segments[:, 0], net.segments[:, 1])),
                       shape=(net.num_nodes, net.num_nodes))
    return connected_components(graph, directed=False)


def on_polygon(points, original):
    """Distance of each point to the nearest segment of `original` (minimum image)."""
    r0, _ = original.segment_endpoints()
    vec = original.segment_vectors()
    best = np.full(len(points), np.inf)
    for p, d in zip(r0, vec):
        rel = original.cell.minimum_image(points - p) + p
        _, dist = point_segment_closest(rel, np.tile(p, (len(points), 1)), np.tile(d, (len(points), 1)))
        best = np.minimum(best, dist)
    return best


# ----------------------------------------------------------------------------------------- primitives
def test_segment_closest_points_against_brute_force():
    rng = np.random.default_rng(1)
    p1, d1, p2, d2 = (rng.normal(size=(150, 3)) * 3 for _ in range(4))
    d2[:30] = d1[:30] * rng.uniform(-2, 2, size=(30, 1))  # parallel pairs
    s, t, dist = segment_closest_points(p1, d1, p2, d2)
    grid = np.linspace(0, 1, 201)
    pts1 = p1[:, None, :] + grid[None, :, None] * d1[:, None, :]
    pts2 = p2[:, None, :] + grid[None, :, None] * d2[:, None, :]
    brute = np.linalg.norm(pts1[:, :, None, :] - pts2[:, None, :, :], axis=-1).min(axis=(1, 2))
    assert np.all(dist <= brute + 1e-12)
    assert np.all(dist >= brute - 0.02 * (np.linalg.norm(d1, axis=1) + np.linalg.norm(d2, axis=1)))
    gap = p1 + s[:, None] * d1 - p2 - t[:, None] * d2
    assert np.allclose(np.linalg.norm(gap, axis=1), dist)


def test_insert_points_and_merge_duplicate_arms_conserve_burgers():
    cell = Cell.cubic(BOX)
    net = polygon(cell, [[10, 10, 10], [30, 10, 10], [20, 30, 10]], B111[0])
    split, new = topo.insert_points(net, np.array([0, 0, 2]), np.array([0.75, 0.25, 0.5]))
    check_conserved(split)
    assert np.allclose(split.positions[new], [[25, 10, 10], [15, 10, 10], [15, 20, 10]])
    assert np.array_equal(split.tags[new], [3, 4, 5])
    assert np.isclose(split.total_length(), net.total_length(), rtol=1e-14)
    # two arms between the same nodes with b and -b (in opposite orientations: same net b) combine
    pos = [[0, 0, 0], [5, 0, 0], [5, 5, 0]]
    two = DislocationNetwork(cell, pos, [[0, 1], [1, 0], [1, 2], [2, 0]], [B111[0], -B111[1], B111[0] + B111[1],
                                                                          B111[0] + B111[1]])
    merged = topo.merge_duplicate_arms(two)
    assert merged.num_segments == 3
    check_conserved(merged)
    b01 = merged.burgers[np.flatnonzero((merged.segments == [0, 1]).all(1))[0]]
    assert np.allclose(b01, B111[0] + B111[1])
    annihilate = DislocationNetwork(cell, pos[:2], [[0, 1], [1, 0]], [B111[0], B111[0]])
    assert topo.cleanup(annihilate).num_segments == 0 and topo.cleanup(annihilate).num_nodes == 0


# ----------------------------------------------------------------------------------------- remesh
def test_refine_refuses_a_maxseg_that_would_make_absurd_piece_counts():
    """maxseg = 1e-300 b (a units mistake) is a named error, not an integer overflow that leaves the line as is."""
    cell = Cell.cubic(100.0)
    net = DislocationNetwork(cell, np.array([[10.0, 10, 10], [30.0, 10, 10]]), [[0, 1], [1, 0]],
                             [B111[0], -B111[0]])
    with pytest.raises(ValueError, match="maxseg"):
        refine(net, 1e-300)
    assert refine(net, 5.0).num_segments == 8


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_loops(), st.floats(2.0, 20.0), st.floats(0.05, 0.9))
def test_remesh_conserves_burgers_and_geometry(net, maxseg, min_fraction):
    minseg = min_fraction * maxseg
    fine = refine(net, maxseg)
    check_conserved(fine)
    assert fine.segment_lengths().max() <= maxseg * (1 + 1e-8)
    assert np.isclose(fine.total_length(), net.total_length(), rtol=1e-12)  # bisection keeps length
    assert np.array_equal(fine.tags[:net.num_nodes], net.tags)  # old nodes keep tags and positions
    assert np.allclose(fine.positions[:net.num_nodes], net.positions)
    assert np.all(on_polygon(fine.positions, net) < 1e-9)  # new nodes on the old polygon
    mids = fine.positions[fine.segments[:, 0]] + 0.5 * fine.segment_vectors()
    assert np.all(on_polygon(mids, net) < 1e-9)

    out = remesh(net, maxseg, minseg)
    check_conserved(out)
    assert out.segment_lengths().max() <= maxseg * (1 + 1e-8)
    # coarsening removes discretization nodes only: survivors keep tags and positions
    tag_to_row = {int(t): k for k, t in enumerate(fine.tags)}
    rows = np.array([tag_to_row[int(t)] for t in out.tags])
    assert np.allclose(out.positions, fine.positions[rows])
    removed = np.setdiff1d(np.arange(fine.num_nodes), rows)
    assert not fine.physical_nodes()[removed].any()
    # line length can only shrink (chords) and by no more than the arms of the removed nodes
    arms = np.bincount(fine.segments.ravel(), weights=np.repeat(fine.segment_lengths(), 2),
                       minlength=fine.num_nodes)
    assert fine.total_length() - 1e-9 <= out.total_length() + arms[removed].sum()
    assert out.total_length() <= fine.total_length() + 1e-9
    # every loop survives with at least three nodes; the result is a fixed point
    assert np.all(out.node_degree() == 2)
    count, labels = components(out)
    assert count == components(net)[0] and np.all(np.bincount(labels) >= 3)
    again = remesh(out, maxseg, minseg)
    assert again.num_nodes == out.num_nodes and np.array_equal(again.segments, out.segments)
    assert np.array_equal(again.positions, out.positions)


def test_coarsen_keeps_pinned_junction_nodes_and_triangles():
    cell = Cell.cubic(BOX)
    # a dense open line between pinned ends collapses to (nearly) the chord, the pinned ends stay
    line = straight_line(cell, [10, 10, 10], [1, 1, 0], 20.0, 0.5, B111[0])
    out = coarsen(line, minseg=4.0, maxseg=6.0)
    check_conserved(out)
    assert set(line.tags[line.constraints == PINNED_NODE]) <= set(out.tags)
    assert np.all(out.segment_lengths() >= 4.0 - 1e-9) and np.all(out.segment_lengths() <= 6.0 + 1e-9)
    # a triangle smaller than minseg stays a triangle
    tri = polygon(cell, [[0, 0, 0], [1, 0, 0], [0, 1, 0]], B111[1])
    assert remesh(tri, 10.0, 5.0).num_nodes == 3
    # a junction (3-node) is never removed by remeshing
    junction = three_arm_star(cell)
    out = remesh(junction, 50.0, 30.0)
    check_conserved(out)
    assert 0 in out.tags and np.sum(out.node_degree() == 3) == 1


def three_arm_star(cell):
    """Node 0 with three arms of 1/2[111], 1/2[-1-11] and their sum to pinned ends, finely discretized."""
    b1, b2 = B111[0], -B111[3]
    center = np.array([50.0, 50, 50])
    dirs = np.array([[1.0, 0, 0], [0, 1, 0], [0, 0, 1]])
    pos, segs, burg = [center], [], []
    for d, b in zip(dirs, [b1, b2, -(b1 + b2)]):
        prev = 0
        for k in range(1, 11):
            pos.append(center + 2.0 * k * d)
            segs.append([prev, len(pos) - 1])
            burg.append(b)
            prev = len(pos) - 1
    cons = np.zeros(len(pos), int)
    cons[[10, 20, 30]] = PINNED_NODE
    return DislocationNetwork(cell, pos, segs, burg, constraints=cons)


def test_coarsening_keeps_corners_between_different_glide_planes():
    from ddml_engine.dynamics.configs import prismatic_loop

    cell = Cell.cubic(BOX)
    loop = prismatic_loop(cell, np.array([50.0, 50, 50]), 20.0, B111[0], maxseg=5.0)
    out = remesh(loop, 100.0, 12.0)
    check_conserved(out)
    # each hexagon edge lies on its own {110} plane: only the six corners survive (corner arms are 5 b long,
    # above 0.2 minseg, where ExaDiS and we allow a plane change)
    assert out.num_nodes == 6 and np.isclose(out.total_length(), 120.0)
    assert np.allclose(np.abs(np.sum(out.planes * out.segment_vectors(), axis=1)), 0.0, atol=1e-9)


def test_bcc_coarsening_crosses_glide_plane_changes_as_exadis():
    """Without glide planes (ExaDiS's BCC crystals) the corners of the hexagon above may go too: fewer than its 6
    nodes remain, no segment is left below minseg, Burgers vectors are conserved and each new segment lies on the
    plane that holds its b and line direction. The simulation builder turns glide planes off for BCC only."""
    from ddml_engine.dynamics.config import build_simulation, load_config
    from ddml_engine.dynamics.configs import prismatic_loop

    cell = Cell.cubic(BOX)
    loop = prismatic_loop(cell, np.array([50.0, 50, 50]), 20.0, B111[0], maxseg=5.0)
    out = remesh(loop, 100.0, 12.0, glide_planes=False)
    check_conserved(out)
    assert out.num_nodes < 6 and out.segment_lengths().min() >= 12.0
    unit = out.planes / np.linalg.norm(out.planes, axis=1)[:, None]
    assert np.allclose(np.sum(unit * out.segment_vectors(), axis=1), 0.0, atol=1e-9)
    assert np.allclose(unit @ B111[0], 0.0, atol=1e-9)
    for name, keeps in (("Ta", False), ("W", False), ("Cu", True)):
        config = load_config(None, [f'material.name="{name}"', "initial.count=1", "forces.model=\"line-tension\""])
        assert build_simulation(config)[0].topology.glide_planes is keeps


def test_remesh_across_periodic_boundary():
    cell = Cell.cubic(BOX, centered=True)
    loop = polygon(cell, [[40, 40, 0], [60, 40, 0], [60, 60, 0], [40, 60, 0]], B111[0], plane=[0, 0, 1])
    assert np.any(np.abs(loop.positions) > 0)  # wrapped: corners on both sides of the boundary
    out = remesh(loop, 4.0, 1.0)
    check_conserved(out)
    assert np.isclose(out.total_length(), 80.0, rtol=1e-12)
    assert np.all(out.segment_lengths() <= 4.0 + 1e-9)


# ----------------------------------------------------------------------------------------- collisions
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_loops(max_loops=4, spread=3.0), st.floats(0.2, 3.0), st.floats(3.0, 12.0))
def test_collisions_conserve_burgers(net, rann, maxseg):
    net = remesh(net, maxseg, 0.0)
    out = collide(net, rann, max_passes=100)
    check_conserved(out)
    # surviving original nodes keep their tags; new nodes got fresh ones
    old = out.tags[out.tags < net.num_nodes]
    assert len(np.unique(out.tags)) == out.num_nodes and len(np.unique(old)) == len(old)
    # converged: no two unconnected nodes remain within rann
    from ddml_engine.forces.neighbors import segment_pairs_within

    pairs = segment_pairs_within(out.positions, out.cell, rann)
    joined = topo.pair_keys(out.segments[:, 0], out.segments[:, 1], out.num_nodes)
    free = ~np.isin(topo.pair_keys(pairs[:, 0], pairs[:, 1], out.num_nodes), joined)
    both_pinned = (out.constraints[pairs] == PINNED_NODE).all(1)
    assert not np.any(free & ~both_pinned)


@pytest.mark.parametrize("offset", [0.0, 2.5, 5.0])
def test_opposite_lines_annihilate(offset):
    cell = Cell.cubic(BOX)
    a = periodic_line(cell, 50.0, 50.0, 10.0, 0.0, B111[0])
    b = periodic_line(cell, 50.3, 50.0, 10.0, offset, -B111[0])  # same line sense, opposite b
    net = DislocationNetwork.concatenate([a, b])
    check_conserved(net)
    out = collide(net, 1.0)
    check_conserved(out)
    assert out.num_segments == 0 and out.num_nodes == 0


def test_parallel_lines_same_burgers_merge_into_double_line():
    cell = Cell.cubic(BOX)
    a = periodic_line(cell, 50.0, 50.0, 10.0, 0.0, B111[0])
    b = periodic_line(cell, 50.3, 50.0, 10.0, 0.0, B111[1])
    out = collide(DislocationNetwork.concatenate([a, b]), 1.0)
    check_conserved(out)
    assert out.num_nodes == 10  # one line of ten nodes carrying the sum
    assert np.allclose(np.abs(out.burgers), np.abs(B111[0] + B111[1]))
    assert np.isclose(out.total_length(), BOX)


def crossing_lines(cell, angle_deg=60.0, gap=0.3, center=(50.0, 50.0, 50.0)):
    b1, b2 = B111[0], -B111[3]  # 1/2[111] and 1/2[-1-11]
    c = np.asarray(center, float)
    t1 = np.array([1.0, 0.0, 0.0])
    th = np.radians(angle_deg)
    t2 = np.array([np.cos(th), np.sin(th), 0.0])
    l1 = straight_line(cell, c - 30 * t1, t1, 60.0, 5.0, b1)
    l2 = straight_line(cell, c - 30 * t2 + [0, 0, gap], t2, 60.0, 5.0, b2)
    return DislocationNetwork.concatenate([l1, l2]).wrapped()


class LineTension:
    """Test force: each arm pulls its node towards its neighbour with tension |b|^2 (energy ~ b^2 L)."""

    def __call__(self, net):
        vec = net.segment_vectors()
        t = vec / np.linalg.norm(vec, axis=1, keepdims=True)
        f = t * np.sum(net.burgers ** 2, axis=1, keepdims=True)
        out = np.zeros((net.num_nodes, 3))
        np.add.at(out, net.segments[:, 0], f)
        np.add.at(out, net.segments[:, 1], -f)
        return out


class Isotropic:
    """Test mobility V = M F, pinned nodes still."""

    def velocities(self, net, forces):
        return np.where((net.constraints == PINNED_NODE)[:, None], 0.0, forces * 1e-3)


@pytest.mark.parametrize("center", [(50.0, 50.0, 50.0), (0.0, 0.0, 0.0)])  # second: at the cell corner
def test_crossing_lines_form_4node_then_100_junction(center):
    cell = Cell.cubic(BOX)
    net = crossing_lines(cell, center=center)
    out = collide(net, 1.0)
    check_conserved(out)
    deg = out.node_degree()
    assert np.sum(deg == 4) == 1 and np.sum(deg > 2) == 1
    four = int(np.flatnonzero(deg == 4)[0])
    assert np.allclose(cell.minimum_image(out.positions[four] - np.array(center)), [0, 0, 0.15])
    assert np.isclose(out.total_length(), net.total_length(), atol=0.2)

    split = split_multinodes(out, LineTension(), Isotropic(), split_distance=1.0, local=False)
    check_conserved(split)
    assert np.sum(split.node_degree() == 4) == 0 and np.sum(split.node_degree() == 3) == 2
    classes = split.segment_classes()
    junction = np.flatnonzero(classes == JUNCTION_100)
    assert len(junction) == 1 and np.sum(classes == GLISSILE_111) == split.num_segments - 1
    assert np.allclose(np.abs(split.burgers[junction[0]]), [0, 0, 2 / S3])
    # the junction lies along the bisector of the two arms that zip (+t1, +t2), and the plane is b x t
    i, j = split.segments[junction[0]]
    t = split.cell.minimum_image(split.positions[j] - split.positions[i])
    assert np.isclose(np.linalg.norm(t), 1.0)
    assert abs(np.dot(t / np.linalg.norm(t), [0, 0, 1])) < 0.2
    plane = split.planes[junction[0]]
    assert np.isclose(np.linalg.norm(plane), 1.0) and abs(np.dot(plane, split.burgers[junction[0]])) < 1e-9
    # local patch evaluation takes the same decision for a local force law
    local = split_multinodes(out, LineTension(), Isotropic(), split_distance=1.0, local=True)
    assert np.allclose(np.sort(local.positions, axis=0), np.sort(split.positions, axis=0))
    # remeshing keeps the two junction nodes
    assert np.sum(remesh(split, 10.0, 3.0).node_degree() == 3) == 2


def test_split_keeps_node_when_no_split_dissipates_more():
    cell = Cell.cubic(BOX)
    # at 120 degrees zipping +t1,+t2 pulls with 2 cos(60) = 1 < 4/3 (tension of the [001] junction), and
    # +t1,-t2 with 2 cos(30) < 8/3 ([110]): no junction forms; the 4-node stays (or unzips to two lines)
    out = collide(crossing_lines(cell, angle_deg=120.0), 1.0)
    res = split_multinodes(out, LineTension(), Isotropic(), local=False)
    check_conserved(res)
    assert not np.any(res.segment_classes() == JUNCTION_100)


def test_split_with_engine_core_forces_if_available():
    local = pytest.importorskip("ddml_engine.forces.local")
    from ddml_engine.materials import material

    mat = material("W")
    cell = Cell.cubic(BOX)
    out = collide(crossing_lines(cell, angle_deg=45.0), 1.0)
    split = split_multinodes(out, lambda n: local.core_forces(n, mat.Ec, mat.nu), Isotropic(), local=False)
    check_conserved(split)
    assert np.sum(split.segment_classes() == JUNCTION_100) == 1


def bcc_crossing(angle_deg):
    """1/2[111](01-1) and 1/2[-1-11](101) lines crossing 0.3 b apart, each at angle_deg from the planes'
    intersection [1-1-1] (the <100> junction direction), ends pinned."""
    cell = Cell.cubic(400.0)
    n1, n2 = np.array([0, 1, -1]) / np.sqrt(2), np.array([1, 0, 1]) / np.sqrt(2)
    xi = np.array([1, -1, -1]) / S3
    th = np.radians(angle_deg)
    t1 = np.cos(th) * xi + np.sin(th) * np.cross(n1, xi)
    t2 = np.cos(th) * xi - np.sin(th) * np.cross(n2, xi)
    c = np.full(3, 200.0)
    gap = 0.3 * np.cross(t1, t2) / np.linalg.norm(np.cross(t1, t2))
    l1 = straight_line(cell, c - 60 * t1, t1, 120.0, 5.0, B111[0])
    l2 = straight_line(cell, c - 60 * t2 + gap, t2, 120.0, 5.0, -B111[3])
    l1.planes[:], l2.planes[:] = n1, n2
    return DislocationNetwork.concatenate([l1, l2]), xi


@pytest.mark.parametrize("angle, model, forms", [(30.0, "line-tension", True), (30.0, "elastic", True),
                                                 (75.0, "line-tension", False)])
def test_bcc_junction_with_engine_forces_and_mobility(angle, model, forms):
    """W line tension (or full elasticity) and the BCC linear mobility: lines crossing at a small angle to
    the intersection of their glide planes zip a [001] junction along it; at a large angle they do not."""
    pytest.importorskip("ddml_engine.mobility.bcc")
    from ddml_engine.forces.model import make_force_model
    from ddml_engine.materials import material
    from ddml_engine.mobility.bcc import BCCLinearMobility

    forces = make_force_model(model, material("W"))
    net, xi = bcc_crossing(angle)
    out = collide(net, 1.0)
    assert np.sum(out.node_degree() == 4) == 1
    res = split_multinodes(out, lambda n: forces(n, np.zeros(6)), BCCLinearMobility(), split_distance=2.0)
    check_conserved(res)
    junction = np.flatnonzero(res.segment_classes() == JUNCTION_100)
    assert len(junction) == (1 if forms else 0)
    if forms:
        t = res.segment_vectors()[junction[0]]
        assert abs(np.dot(t, xi)) / np.linalg.norm(t) > 0.999  # along the glide-plane intersection
        assert np.allclose(np.abs(res.burgers[junction[0]]) * S3, [0, 0, 2])


def test_arm_partitions_count():
    # unordered splits of n arms into two groups of >= 2: (2^n - 2 - 2n) / 2
    for n in range(4, 8):
        parts = arm_partitions(n)
        assert len(parts) == (2 ** n - 2 - 2 * n) // 2
        assert all(0 not in p and 2 <= len(p) <= n - 2 for p in parts)


# ----------------------------------------------------------------------------------------- tiny loops
def test_remove_tiny_loops_including_across_periodic_boundary():
    cell = Cell.cubic(BOX)
    big = polygon(cell, [[20, 20, 20], [60, 20, 20], [60, 60, 20], [20, 60, 20]], B111[0])
    # small square loop around the cell corner: its segments cross the periodic boundaries
    small = polygon(cell, [[-1, -1, 30], [1, -1, 30], [1, 1, 30], [-1, 1, 30]], B111[2])
    assert np.any(small.segment_lengths() < 3) and np.all(small.positions >= 0)
    net = DislocationNetwork.concatenate([big, refine(small, 1.0)])
    out = topo.remove_tiny_loops(net, 10.0)
    check_conserved(out)
    assert out.num_nodes == 4 and np.isclose(out.total_length(), 160.0)
    assert topo.remove_tiny_loops(net, 5.0).num_nodes == net.num_nodes  # small loop is 8 long: kept


def test_remove_tiny_loop_hanging_from_a_junction_node():
    cell = Cell.cubic(BOX)
    big = polygon(cell, [[20, 20, 20], [60, 20, 20], [60, 60, 20], [20, 60, 20]], B111[0])
    pos = np.concatenate([big.positions, [[21, 19, 21], [21, 21, 22]]])
    segs = np.concatenate([big.segments, [[0, 4], [4, 5], [5, 0]]])
    burg = np.concatenate([big.burgers, np.tile(B111[1], (3, 1))])
    net = DislocationNetwork(cell, pos, segs, burg)
    check_conserved(net)
    assert net.node_degree()[0] == 4
    out = topo.remove_tiny_loops(net, 8.0)
    check_conserved(out)
    assert out.num_nodes == 4 and np.all(out.node_degree() == 2)
    assert np.array_equal(out.tags, [0, 1, 2, 3])


def test_cleanup_removes_zero_burgers_and_orphans():
    cell = Cell.cubic(BOX)
    net = DislocationNetwork(cell, [[0, 0, 0], [3, 0, 0], [3, 3, 0], [9, 9, 9]], [[0, 1], [1, 2], [2, 0]],
                             [B111[0], [0, 0, 0], B111[0]])
    out = topo.cleanup(net)
    assert out.num_segments == 2 and out.num_nodes == 3 and np.array_equal(out.tags, [0, 1, 2])
