"""Cell and DislocationNetwork: periodic geometry, connectivity, classification and validation."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ddml_engine.network import (GLISSILE_111, JUNCTION_100, OTHER_BURGERS, PINNED_NODE, Cell,
                                 DislocationNetwork, NetworkError)

B111 = np.array([1.0, 1.0, 1.0]) / np.sqrt(3.0)


def triangle(cell=None, b=B111):
    cell = cell or Cell.cubic(200.0)
    pos = np.array([[10.0, 10.0, 10.0], [90.0, 10.0, 10.0], [50.0, 80.0, 10.0]])
    return DislocationNetwork(cell, pos, [[0, 1], [1, 2], [2, 0]], np.tile(b, (3, 1)))


def skewed_cell():
    return Cell(np.array([[50.0, 10.0, 0.0], [0.0, 40.0, 5.0], [0.0, 0.0, 60.0]]), origin=[-3.0, 2.0, 1.0])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-500, 500), min_size=3, max_size=3), st.lists(st.integers(-3, 3), min_size=3, max_size=3))
def test_minimum_image_is_invariant_under_cell_vector_shifts(dx, shift):
    cell = skewed_cell()
    dx = np.array(dx)
    shifted = dx + cell.matrix @ np.array(shift)
    image, image_shifted = cell.minimum_image(dx), cell.minimum_image(shifted)
    # Equal up to ties at exactly half a cell vector, where both images are equally short.
    frac = cell.inverse @ (image - image_shifted)
    assert np.allclose(frac, np.round(frac), atol=1e-9)
    assert np.allclose(cell.inverse @ image, cell.inverse @ image_shifted, atol=1e-9) or np.any(
        np.isclose(np.abs(cell.inverse @ image), 0.5))
    # The minimum image has fractional coordinates in [-1/2, 1/2] and differs from dx by whole cell vectors.
    assert np.all(np.abs(cell.inverse @ image) <= 0.5 + 1e-12)
    assert np.allclose(np.round(cell.inverse @ (dx - image)), cell.inverse @ (dx - image), atol=1e-9)
    assert np.allclose(dx - image, cell.matrix @ cell.image_shift(dx), atol=1e-9)


def test_wrap_maps_into_cell_and_respects_non_periodic_axes():
    cell = Cell(np.diag([10.0, 10.0, 10.0]), origin=[-5, -5, -5], periodic=(True, True, False))
    x = np.array([[7.0, -12.0, 30.0]])
    w = cell.wrap(x)
    assert np.allclose(w, [[-3.0, -2.0, 30.0]])
    assert np.allclose(cell.minimum_image(np.array([9.0, 9.0, 9.0])), [-1.0, -1.0, 9.0])


def test_segment_vectors_use_nearest_image():
    net = triangle()
    net.positions[1] = [-10.0, 10.0, 10.0]  # same point as 90 in a periodic box of 100
    assert np.allclose(net.segment_vectors()[0], [-20.0, 0.0, 0.0])
    assert np.isclose(net.segment_lengths()[0], 20.0)


def test_arms_and_burgers_balance():
    net = triangle()
    offsets, seg, sign = net.arms()
    assert np.array_equal(np.diff(offsets), [2, 2, 2])
    for node in range(3):
        arms = seg[offsets[node]:offsets[node + 1]]
        signs = sign[offsets[node]:offsets[node + 1]]
        for s, g in zip(arms, signs):
            assert net.segments[s, 0 if g > 0 else 1] == node
    assert np.allclose(net.burgers_balance(), 0.0)
    assert not net.physical_nodes().any()
    net.validate()


def test_total_length_and_density():
    net = triangle()
    perimeter = 80.0 + 2 * np.hypot(40.0, 70.0)
    assert np.isclose(net.total_length(), perimeter)
    assert np.isclose(net.density(), perimeter / 8e6)
    assert np.isclose(net.density(2.743e-10), perimeter / 8e6 / 2.743e-10**2)


def test_segment_classes_bcc():
    b = np.array([B111, [1, -1, 1] / np.sqrt(3), [0, 0, 2 / np.sqrt(3)], [-2 / np.sqrt(3), 0, 0], [1, 1, 0]])
    pos = np.arange(18, dtype=float).reshape(6, 3) * 3
    net = DislocationNetwork(Cell.cubic(100), pos, [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]], b)
    assert net.segment_classes().tolist() == [GLISSILE_111, GLISSILE_111, JUNCTION_100, JUNCTION_100, OTHER_BURGERS]


def test_junction_nodes_are_physical():
    # Two 1/2<111> lines meet a [001] junction segment at nodes 1 and 2 (Frank's rule holds at both).
    b1, b2 = B111, np.array([-1, -1, 1]) / np.sqrt(3)
    pos = np.array([[0, 0, 0], [10, 0, 0], [20, 0, 0], [30, 0, 0], [10, 10, 0], [20, 10, 0], [0, 10, 0], [30, 10, 0.]])
    segs = [[0, 1], [1, 2], [2, 3], [6, 4], [4, 1], [2, 5], [5, 7]]
    burg = [b1, b1 + b2, b1, b2, b2, b2, b2]
    net = DislocationNetwork(Cell.cubic(100, periodic=(False,) * 3), pos, segs, burg,
                             constraints=[PINNED_NODE, 0, 0, PINNED_NODE, 0, 0, PINNED_NODE, PINNED_NODE])
    net.validate()
    physical = net.physical_nodes()
    assert physical[[0, 1, 2, 3]].all() and not physical[[4, 5]].any()
    assert net.segment_classes()[1] == JUNCTION_100


def test_validation_names_offending_nodes_and_segments():
    net = triangle()
    net.burgers[1] *= -1
    with pytest.raises(NetworkError, match=r"Frank's rule violated at 2 unpinned nodes: node 1 .*node 2"):
        net.validate()
    net = triangle()
    net.positions[2, 0] = np.nan
    with pytest.raises(NetworkError, match="non-finite position at nodes 2"):
        net.validate()
    net = triangle()
    net.segments[2] = [2, 5]
    with pytest.raises(NetworkError, match=r"segments 2 refer to nodes outside 0..2"):
        net.validate()
    net = triangle()
    net.positions[1] = net.positions[0] + [200.0, 0, 0]  # same point under periodicity
    with pytest.raises(NetworkError, match=r"zero-length segments: 0 \(0-1\)"):
        net.validate()
    net = DislocationNetwork(Cell.cubic(200), triangle().positions, [[0, 1], [1, 0], [1, 2]], np.tile(B111, (3, 1)))
    with pytest.raises(NetworkError, match="duplicate segments between nodes 0-1"):
        net.validate(check_frank=False)
    with pytest.raises(NetworkError, match="3 segments but 2 Burgers"):
        DislocationNetwork(Cell.cubic(200), triangle().positions, [[0, 1], [1, 2], [2, 0]], np.tile(B111, (2, 1)))


def test_pinned_nodes_are_exempt_from_frank_rule():
    pos = np.array([[0.0, 0, 0], [10, 0, 0], [20, 0, 0]])
    net = DislocationNetwork(Cell.cubic(100), pos, [[0, 1], [1, 2]], np.tile(B111, (2, 1)),
                             constraints=[PINNED_NODE, 0, PINNED_NODE])
    net.validate()
    net.constraints[2] = 0
    with pytest.raises(NetworkError, match="node 2"):
        net.validate()


def test_relabelling_preserves_geometry():
    rng = np.random.default_rng(1)
    net = triangle(skewed_cell())
    perm = rng.permutation(3)
    other = net.relabelled(perm)
    assert np.allclose(other.positions[perm], net.positions)
    assert np.allclose(other.segment_vectors(), net.segment_vectors())
    assert np.allclose(other.burgers_balance()[perm], net.burgers_balance())
    other.validate()


def test_concatenate_offsets_indices():
    net = DislocationNetwork.concatenate([triangle(), triangle()])
    assert net.num_nodes == 6 and net.num_segments == 6
    assert net.segments[3:].min() == 3
    net.validate()
