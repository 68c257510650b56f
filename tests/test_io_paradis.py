"""ParaDiS .data reader/writer: the shared Cu file, exact round trips, and file:line errors on bad input."""
import time
from pathlib import Path

import numpy as np
import pytest

from ddml_engine.io import read_network
from ddml_engine.io.errors import FileFormatError
from ddml_engine.io.paradis import decode_tag, encode_tag, format_paradis, read_paradis, write_paradis
from ddml_engine.network import PINNED_NODE, Cell, DislocationNetwork

CU = Path(__file__).resolve().parents[2] / "shared" / "reference" / "cu_180chains_16.10e.data"
if not CU.exists():
    CU = Path("/work/shared/reference/cu_180chains_16.10e.data")
ARRAYS = ("positions", "segments", "burgers", "planes", "constraints", "tags")


def assert_same(a: DislocationNetwork, b: DislocationNetwork) -> None:
    assert a.cell == b.cell
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name


def canonical(net: DislocationNetwork):
    """Segments as (lo, hi) node pairs, sorted, with Burgers vectors oriented lo -> hi."""
    flip = net.segments[:, 0] > net.segments[:, 1]
    seg = np.sort(net.segments, axis=1)
    b = np.where(flip[:, None], -net.burgers, net.burgers)
    order = np.lexsort((seg[:, 1], seg[:, 0]))
    return seg[order], b[order], net.planes[order]


def random_network(rng, n=40, m=70) -> DislocationNetwork:
    cell = Cell.from_bounds([-50.5, -20.0, 0.0], [49.5, 80.25, 33.3])
    pos = cell.to_cartesian(rng.random((n, 3)))
    pairs = set()
    while len(pairs) < m:
        i, j = rng.choice(n, 2, replace=False)
        if (i, j) not in pairs and (j, i) not in pairs:
            pairs.add((int(i), int(j)))
    seg = np.array(sorted(pairs, key=lambda p: rng.random()))
    b = rng.normal(size=(m, 3)) / 3.0
    planes = rng.normal(size=(m, 3))
    constraints = np.where(rng.random(n) < 0.2, PINNED_NODE, 0)
    tags = encode_tag(rng.integers(0, 3, n), rng.permutation(10 * n)[:n])
    return DislocationNetwork(cell, pos, seg, b, planes, constraints, tags)


# ----------------------------------------------------------------------------- the Cu reference file
@pytest.fixture(scope="module")
def cu():
    return read_paradis(CU)


def test_cu_file_counts_cell_and_frank(cu):
    assert cu.num_nodes == 5055 and cu.num_segments == 5930
    assert np.allclose(cu.cell.origin, -29412.0) and np.allclose(cu.cell.lengths, 58824.0)
    cu.validate()  # Burgers vector conserved at every node, no duplicate or zero-length segments
    # FCC 1/2<110> Burgers vectors, |b| = 1 in units of b, or <100>-type (Lomer-like, |b| = sqrt 2) ones.
    norms = np.linalg.norm(cu.burgers, axis=1)
    assert np.all(np.isclose(norms, 1.0, atol=1e-9) | np.isclose(norms, np.sqrt(2), atol=1e-9))
    # glide planes are unit normals perpendicular to their Burgers vector (glissile or sessile segments)
    assert np.allclose(np.linalg.norm(cu.planes, axis=1), 1.0, atol=1e-9)
    assert np.allclose(np.einsum("ij,ij->i", cu.planes, cu.burgers), 0.0, atol=1e-9)
    # node 0 of the file, as written there; tags keep file indices (domain 0)
    assert cu.tags[0] == 0 and cu.tags[1] == 1 and cu.tags[-1] == 12959
    assert np.array_equal(cu.positions[0], [-7870.72203056, -2562.60522563, -17483.10586793])
    # degree distribution from the num_arms column: 3639 two-armed, 1097, 307, 9, 3 with 3..6 arms
    assert np.array_equal(np.bincount(cu.node_degree()), [0, 0, 3639, 1097, 307, 9, 3])


def test_cu_read_is_fast():
    start = time.perf_counter()
    read_paradis(CU)
    assert time.perf_counter() - start < 1.0


def test_cu_round_trip_exact(cu, tmp_path):
    first, second = tmp_path / "a.data", tmp_path / "b.data"
    write_paradis(cu, first)
    again = read_paradis(first)
    assert_same(cu, again)
    write_paradis(again, second)
    assert first.read_text() == second.read_text()


def test_dispatch_by_extension(tmp_path):
    assert read_network(CU).num_segments == 5930
    with pytest.raises(FileFormatError, match="extension"):
        read_network(tmp_path / "x.xyz")


# ----------------------------------------------------------------------------- random networks
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_network_round_trip(seed, tmp_path):
    net = random_network(np.random.default_rng(seed))
    path = tmp_path / "r.data"
    write_paradis(net, path)
    back = read_paradis(path)
    # nodes keep order, bits, tags (with domains) and constraints; segments come back in canonical form
    assert back.cell == net.cell
    for name in ("positions", "constraints", "tags"):
        assert np.array_equal(getattr(back, name), getattr(net, name)), name
    for x, y in zip(canonical(back), canonical(net)):
        assert np.array_equal(x, y)
    # a file-born network is a fixed point: read -> write -> read identical, write -> read -> write same text
    write_paradis(back, tmp_path / "s.data")
    assert_same(back, read_paradis(tmp_path / "s.data"))
    assert (tmp_path / "s.data").read_text() == format_paradis(read_paradis(tmp_path / "s.data"))


def test_tag_encoding_keeps_domain_and_index():
    d, i = decode_tag(encode_tag([0, 3, 7], [5, 0, 2**32 - 1]))
    assert d.tolist() == [0, 3, 7] and i.tolist() == [5, 0, 2**32 - 1]


def test_skewed_cell_is_refused(tmp_path):
    net = random_network(np.random.default_rng(3))
    net.cell = Cell(np.array([[10.0, 1.0, 0], [0, 10, 0], [0, 0, 10]]))
    with pytest.raises(ValueError, match="orthogonal"):
        write_paradis(net, tmp_path / "x.data")
    assert not (tmp_path / "x.data").exists()


# ----------------------------------------------------------------------------- malformed files
def small_text() -> list[str]:
    cell = Cell.cubic(100.0, centered=True)
    pos = [[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [10.0, 10.0, 0.0]]
    b = np.array([1.0, 1.0, 1.0]) / np.sqrt(3)
    net = DislocationNetwork(cell, pos, [[0, 1], [1, 2], [2, 0]], [b, b, b], [[0, 0, 1.0]] * 3)
    return format_paradis(net).splitlines()


def line_of(lines: list[str], prefix: str, nth: int = 0) -> int:
    hits = [k for k, line in enumerate(lines) if line.strip().startswith(prefix)]
    return hits[nth]


def expect_error(tmp_path, lines: list[str], line_number: int | None, match: str):
    path = tmp_path / "bad.data"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(FileFormatError, match=match) as info:
        read_paradis(path)
    assert info.value.path == str(path) and info.value.line == line_number
    assert str(info.value).startswith(f"{path}:{line_number}:" if line_number else f"{path}:")


def test_good_small_file_reads(tmp_path):
    path = tmp_path / "ok.data"
    path.write_text("\n".join(small_text()))
    net = read_paradis(path)
    assert net.num_segments == 3
    net.validate()


def test_truncated_file(tmp_path):
    lines = small_text()
    cut = line_of(lines, "0,2", 2) + 1  # the node record of tag 0,2 (after two arm lines naming it), one arm line
    expect_error(tmp_path, lines[:cut + 1], cut + 1, "truncated")


def test_missing_nodes(tmp_path):
    lines = small_text()
    cut = line_of(lines, "0,2", 2)  # drop the last node record entirely
    expect_error(tmp_path, lines[:cut], cut, "nodeCount is 3 but the file holds 2 nodes")


def test_bad_number(tmp_path):
    lines = small_text()
    k = line_of(lines, "0,1", 1)  # the record of node 0,1 (after node 0,0's arm to it)
    lines[k] = lines[k].replace("10.0", "1O.0", 1)
    expect_error(tmp_path, lines, k + 1, "bad number in node position")
    lines = small_text()
    k = line_of(lines, "0,2", 0)  # first arm of node 0,0 (to 0,2)
    lines[k] = lines[k].replace("0.5773", "0.57x3", 1)
    expect_error(tmp_path, lines, k + 1, "bad number in Burgers vector")


def test_unknown_arm_tag(tmp_path):
    lines = small_text()
    k = line_of(lines, "0,2", 0)
    lines[k] = lines[k].replace("0,2", "0,9", 1)
    expect_error(tmp_path, lines, k + 1, "unknown node tag 0,9")


def test_inconsistent_burgers_vector(tmp_path):
    lines = small_text()
    k = line_of(lines, "0,2", 0)
    fields = lines[k].split()
    fields[1] = repr(-float(fields[1]))  # flip bx of one copy only
    lines[k] = "   " + " ".join(fields)
    expect_error(tmp_path, lines, k + 1, "is not the opposite")


def test_inconsistent_plane_and_missing_reverse_arm(tmp_path):
    lines = small_text()
    k = line_of(lines, "0,2", 0)
    lines[k + 1] = "       0.0 1.0 0.0"
    expect_error(tmp_path, lines, k + 2, "glide plane")
    lines = small_text()
    k = line_of(lines, "0,0", 1)  # arm of node 0,1 back to 0,0, pointed to 0,2 (already its other arm)
    lines[k] = lines[k].replace("0,0", "0,2", 1)
    expect_error(tmp_path, lines, k + 1, "listed twice")


@pytest.mark.parametrize("old, new, message", [
    ("nodeCount = ", "nodeCount = inf #", "'nodeCount' is not finite"),
    ("nodeCount = ", "nodeCount = 2.5 #", "'nodeCount' must be a whole number"),
])
def test_header_numbers_must_be_finite_whole_numbers(tmp_path, cu, old, new, message):
    text = format_paradis(cu).replace(old, new, 1)
    path = tmp_path / "bad.data"
    path.write_text(text)
    with pytest.raises(FileFormatError, match=message):
        read_paradis(path)


def test_nan_burgers_vectors_and_planes_are_refused_with_their_line(tmp_path):
    rng = np.random.default_rng(0)
    net = random_network(rng, n=6, m=6)
    lines = format_paradis(net).splitlines()
    for what, index in (("Burgers vector", 1), ("glide plane", 2)):
        first_node = next(k for k, line in enumerate(lines) if line.startswith(" ") and "," in line.split()[0]
                          and len(line.split()) == 6)
        bad = list(lines)
        fields = bad[first_node + index].split()
        fields[-1] = "nan"
        bad[first_node + index] = "   " + " ".join(fields)
        path = tmp_path / f"{index}.data"
        path.write_text("\n".join(bad) + "\n")
        with pytest.raises(FileFormatError, match=rf":{first_node + index + 1}: .*non-finite {what}"):
            read_paradis(path)


def test_empty_network_round_trips():
    import tempfile

    empty = DislocationNetwork(Cell.cubic(100.0), np.zeros((0, 3)), np.zeros((0, 2)), np.zeros((0, 3)))
    with tempfile.TemporaryDirectory() as tmp:
        write_paradis(empty, f"{tmp}/empty.data")
        back = read_paradis(f"{tmp}/empty.data")
    assert back.num_nodes == 0 and back.num_segments == 0 and back.cell == empty.cell
