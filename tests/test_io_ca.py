"""OVITO .ca reader: junction rings, periodic unwrapping, Burgers modes, malformed files, and DXA of
synthetic BCC W crystals (Volterra loops) read back as networks (needs the ovito module)."""
import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ddml_engine.io import read_network
from ddml_engine.io.ca import parse_ca, read_ca
from ddml_engine.io.errors import FileFormatError
from ddml_engine.network import GLISSILE_111, JUNCTION_100, PINNED_NODE

A_HAND = float(2.0 / np.sqrt(3.0))  # lattice constant of the hand-made file: |1/2<111>| = 1 Å


def hand_made(junction_lines=None, point_override=None) -> str:
    """A small CA file: a periodic straight line, a [001] junction across the x boundary, a dangling line."""
    lines = [
        # 0: infinite line along x, closed through the periodic boundary (start and end 20 Å apart)
        ((0.5, 0.5, 0.5), [(0, 5, 5), (10, 5, 5), (20, 5, 5)]),
        # 1: P -> Q, 1/2[111], straight
        ((0.5, 0.5, 0.5), [(18, 12, 12), (23, 12, 12)]),
        # 2: P -> Q, 1/2[-1-11], bowed, with a repeated point
        ((-0.5, -0.5, 0.5), [(18, 12, 12), (20.5, 14, 12), (20.5, 14, 12), (23, 12, 12)]),
        # 3: Q -> P, [001], written from the wrapped image of Q (x = 3) and unwrapped from there
        ((0.0, 0.0, 1.0), [(3, 12, 12), (-2, 12, 12)]),
        # 4: dangling line (both ends are 1-nodes)
        ((0.5, 0.5, -0.5), [(5, 2, 15), (8, 2, 15), (11, 2, 15)]),
    ]
    junctions = junction_lines or [
        "0 0", "1 0",  # 0: end -> its own start, start -> its own end
        "1 2", "0 2",  # 1: end (Q) -> end of 2, start (P) -> start of 2
        "0 3", "1 3",  # 2: end (Q) -> start of 3, start (P) -> end of 3
        "0 1", "1 1",  # 3: end (P) -> start of 1, start (Q) -> end of 1
        "1 4", "0 4",  # 4: each end points to itself
    ]
    out = ["CA_FILE_VERSION 6", "CA_LIB_VERSION 0.0.0", "STRUCTURE_TYPES 1", "STRUCTURE_TYPE 3", "NAME bcc",
           "FULL_NAME BCC", "COLOR 0.4 0.4 1.0", "TYPE LATTICE", "BURGERS_VECTOR_FAMILIES 2",
           "BURGERS_VECTOR_FAMILY ID 0", "Other", "0.0 0.0 0.0", "0.9 0.2 0.2",
           "BURGERS_VECTOR_FAMILY ID 1", "1/2<111>", "0.5 0.5 0.5", "0.0 1.0 0.0", "END_STRUCTURE_TYPE",
           "SIMULATION_CELL_ORIGIN 0.0 0.0 0.0", "SIMULATION_CELL_MATRIX", "20.0 0.0 0.0", "0.0 20.0 0.0",
           "0.0 0.0 20.0", "PBC_FLAGS 1 1 1", "CLUSTERS 1", "CLUSTER 1", "CLUSTER_STRUCTURE 3",
           "CLUSTER_ORIENTATION", f"{A_HAND!r} 0.0 0.0", f"0.0 {A_HAND!r} 0.0", f"0.0 0.0 {A_HAND!r}",
           "CLUSTER_COLOR 1.0 1.0 1.0", "CLUSTER_SIZE 1000", "END_CLUSTER", f"DISLOCATIONS {len(lines)}"]
    for k, (b, pts) in enumerate(lines):
        out += [str(k), " ".join(map(str, b)), "1", str(len(pts))]
        out += [" ".join(map(str, p)) for p in pts]
    out += ["DISLOCATION_JUNCTIONS", *junctions, "DEFECT_MESH_VERTICES 0", "DEFECT_MESH_FACETS 0"]
    if point_override:
        out = [point_override.get(k, text) for k, text in enumerate(out)]
    return "\n".join(out) + "\n"


def write(tmp_path, text, name="x.ca"):
    path = tmp_path / name
    path.write_text(text)
    return path


def components(net) -> int:
    n = net.num_nodes
    graph = coo_matrix((np.ones(net.num_segments), (net.segments[:, 0], net.segments[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[0]


# ----------------------------------------------------------------------------- hand-made file
def test_hand_made_network(tmp_path):
    path = write(tmp_path, hand_made())
    net = read_ca(path, burgers_magnitude_angstrom=1.0)
    net.validate()  # Frank's rule at the junctions (dangling ends are pinned), no duplicate/zero segments
    # unwrapped polylines of total length 20 + 5 + 2*sqrt(2.5^2+2^2) + 5 + 6 Å, repeated point dropped
    assert net.total_length() == pytest.approx(20 + 5 + 2 * np.hypot(2.5, 2.0) + 5 + 6, rel=1e-12)
    # every node inside the cell, every segment short (minimum image recovers it)
    assert np.all((net.positions >= 0) & (net.positions < 20))
    assert net.segment_lengths().max() <= 0.4 * 20 + 1e-12
    degree = net.node_degree()
    assert np.sum(degree == 3) == 2  # P and Q
    assert np.sum(net.constraints == PINNED_NODE) == 2 and np.all(degree[net.constraints == PINNED_NODE] == 1)
    # P sits at x = 18 (ends at 18 and at -2 = 18 - 20 merged), Q at x = 3 (ends at 23 and 3)
    junction_x = np.sort(net.positions[degree == 3, 0])
    assert np.allclose(junction_x, [3.0, 18.0])
    classes = net.segment_classes()
    assert np.sum(net.segment_lengths()[classes == JUNCTION_100]) == pytest.approx(5.0)
    assert np.sum(classes == GLISSILE_111) == np.sum(classes != JUNCTION_100)
    assert components(net) == 3  # periodic line, junction network, dangling line
    # the line through the boundary is a closed ring of degree-2 nodes of length 20
    # written b = 1/2[111] along the line's sense: ddml's convention is the opposite of DXA's (io.ca docstring)
    assert np.allclose(net.burgers[np.isclose(net.positions[net.segments[:, 0], 1], 5.0)], -1 / np.sqrt(3))


def test_junction_burgers_directions(tmp_path):
    net = read_ca(write(tmp_path, hand_made()), burgers_magnitude_angstrom=1.0)
    junction = net.segment_classes() == JUNCTION_100
    seg = net.segment_vectors()[junction]
    # line 3 runs Q -> P in -x with b = [001] written: ddml's b is its negative (DXA -> ParaDiS sign convention)
    assert np.allclose(net.burgers[junction], [0, 0, -2 / np.sqrt(3)])
    assert np.all(seg[:, 0] < 0)


def test_burgers_units_and_modes(tmp_path):
    path = write(tmp_path, hand_made())
    inferred = read_ca(path, burgers="spatial")  # b from the lattice: |1/2<111>| * |det F|^(1/3) = 1 Å here
    assert np.allclose(np.linalg.norm(inferred.burgers, axis=1)[inferred.segment_classes() == GLISSILE_111], 1.0)
    scaled = read_ca(path, burgers_magnitude_angstrom=2.0, burgers="spatial")
    assert scaled.total_length() == pytest.approx(0.5 * inferred.total_length())
    assert np.allclose(scaled.burgers, 0.5 * inferred.burgers)
    ideal = read_ca(path, burgers_magnitude_angstrom=2.0, burgers="ideal")
    assert np.allclose(ideal.burgers, inferred.burgers)  # unstrained cluster: ideal = spatial / b
    assert np.array_equal(read_ca(path).burgers, read_ca(path, burgers="crystal").burgers)  # the default
    # a cluster rotated by 30 degrees about z: 'crystal' refuses, 'ideal' follows the rotation
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    text = hand_made().replace(f"{A_HAND!r} 0.0 0.0\n0.0 {A_HAND!r} 0.0",
                               f"{float(A_HAND * c)!r} {float(-A_HAND * s)!r} 0.0\n{float(A_HAND * s)!r} {float(A_HAND * c)!r} 0.0")
    rotated = write(tmp_path, text, "rot.ca")
    with pytest.raises(ValueError, match="rotated 30.0 degrees"):
        read_ca(rotated, burgers="crystal")
    axes = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    snapped = read_ca(rotated, burgers="crystal", crystal_axes=axes)
    assert np.allclose(snapped.burgers, read_ca(rotated, burgers="ideal").burgers)
    with pytest.raises(ValueError, match="burgers must be"):
        read_ca(path, burgers="true")


def test_dispatch_and_parse_sections(tmp_path):
    path = write(tmp_path, hand_made())
    assert read_network(path, burgers_magnitude_angstrom=1.0).num_segments == read_ca(path, 1.0).num_segments
    ca = parse_ca(path)
    assert len(ca.lines) == 5 and ca.junctions.shape == (5, 2, 2) and ca.pbc == (True, True, True)


def line_number(text: str, content: str, nth: int = 0) -> int:
    hits = [k + 1 for k, line in enumerate(text.splitlines()) if line == content]
    return hits[nth]


@pytest.mark.parametrize("case", ["bad point", "truncated", "bad junction", "no junctions", "bad header",
                                  "unknown cluster"])
def test_malformed_files(tmp_path, case):
    text = hand_made()
    if case == "bad point":
        k = line_number(text, "10 5 5")
        text = text.replace("10 5 5", "10 5 x5")
        match = "bad point of dislocation 0"
    elif case == "truncated":
        k = line_number(text, "(20.5, 14, 12)".strip("()").replace(",", ""))
        text = "\n".join(text.splitlines()[:k - 1])
        k = k - 1
        match = "truncated"
    elif case == "bad junction":
        text = text.replace("0 4\nDEFECT", "0 9\nDEFECT")
        k = line_number(text, "0 9")
        match = "junction record '0 9' of dislocation 4"
    elif case == "no junctions":
        text = text[:text.index("DISLOCATION_JUNCTIONS")]
        k = len(text.splitlines())
        match = "junction records for 0"
    elif case == "bad header":
        text = "CA_FILE_VERSION six\n" + text.split("\n", 1)[1]
        k, match = 1, "bad value for CA_FILE_VERSION"
    else:
        text = text.replace("0\n0.5 0.5 0.5\n1\n3\n", "0\n0.5 0.5 0.5\n7\n3\n")
        k, match = line_number(text, "7"), "unknown cluster 7"
    path = write(tmp_path, text, "bad.ca")
    with pytest.raises(FileFormatError, match=match) as info:
        read_ca(path, 1.0)
    assert info.value.line == k and str(info.value).startswith(f"{path}:{k}:")


# ----------------------------------------------------------------------------- DXA of synthetic W crystals
W_A0 = 3.165  # Å


def dxa_to_ca(crystal, path):
    """Run OVITO's DXA (BCC) on an in-memory crystal and export the .ca file; returns OVITO's lines."""
    from ovito.data import DataCollection, SimulationCell
    from ovito.io import export_file
    from ovito.modifiers import DislocationAnalysisModifier
    from ovito.pipeline import Pipeline, StaticSource

    data = DataCollection()
    matrix = np.zeros((3, 4))
    matrix[:, :3], matrix[:, 3] = crystal.cell, crystal.origin
    data.objects.append(SimulationCell(matrix=matrix, pbc=(True, True, True)))
    particles = data.create_particles(count=crystal.num_atoms)
    particles.create_property("Position", data=crystal.positions)
    pipeline = Pipeline(source=StaticSource(data=data))
    pipeline.modifiers.append(DislocationAnalysisModifier(
        input_crystal_structure=DislocationAnalysisModifier.Lattice.BCC))
    result = pipeline.compute()
    export_file(pipeline, str(path), "ca")
    return result.dislocations.lines


@pytest.fixture(scope="module")
def synthetic():
    pytest.importorskip("ovito")
    from ddml_engine.md import synthetic

    return synthetic


@pytest.mark.ovito
def test_dxa_prismatic_loop(tmp_path, synthetic):
    crystal = synthetic.bcc_crystal(W_A0, 20)  # 16,000 atoms
    loop = synthetic.prismatic_loop_111(crystal, radius_cells=3.0)
    assert abs(loop.normal @ loop.burgers) == pytest.approx(np.linalg.norm(loop.burgers))  # b along normal
    atoms = synthetic.insert_loops(crystal, [loop])
    assert atoms.num_atoms < crystal.num_atoms  # vacancy-type: the slab under the loop is removed
    lines = dxa_to_ca(atoms, tmp_path / "loop.ca")
    b_ang = W_A0 * np.sqrt(3) / 2
    net = read_ca(tmp_path / "loop.ca", burgers_magnitude_angstrom=b_ang, burgers="crystal")
    net.validate()
    assert components(net) == 1 and net.physical_nodes().sum() == 0  # one closed loop, no junction
    assert np.all(net.segment_classes() == GLISSILE_111)
    assert np.allclose(np.linalg.norm(net.burgers, axis=1), 1.0)
    assert np.allclose(np.abs(net.burgers), 1 / np.sqrt(3))
    # vacancy-type (material removed): b.A > 0 for the area A of the line sense in ddml's convention, the one of
    # the PK force f = (sigma.b) x xi (a tension along b then pulls the loop inward: it shrinks)
    vec, r0 = net.segment_vectors(), net.positions[net.segments[:, 0]]
    rel = net.cell.minimum_image(r0 - r0[0])
    area = 0.5 * np.cross(rel, rel + vec).sum(axis=0)
    assert net.burgers[0] @ area > 0.5 * np.linalg.norm(area)
    from ddml_engine.forces.local import applied_forces

    b = net.burgers[0]
    tension_along_b = 1e9 * np.outer(b, b)
    force = applied_forces(net, np.array([tension_along_b[0, 0], tension_along_b[1, 1], tension_along_b[2, 2],
                                          tension_along_b[1, 2], tension_along_b[0, 2], tension_along_b[0, 1]]))
    centre = net.positions[0] + rel.mean(axis=0)
    outward = net.cell.minimum_image(net.positions[net.segments[:, 0]] - centre)
    assert np.sum(force[net.segments[:, 0]] * outward) < 0  # inward: a vacancy loop shrinks under tension along b
    # the reader keeps OVITO's line length exactly, which is close to the polygon perimeter
    assert net.total_length() == pytest.approx(sum(line.length for line in lines) / b_ang, rel=1e-9)
    assert net.total_length() == pytest.approx(loop.perimeter / b_ang, rel=0.15)
    # spatial mode (OVITO's spatial_burgers_vector) differs only by the crystal's elastic strain
    spatial = read_ca(tmp_path / "loop.ca", burgers="spatial")
    spatial.validate()
    assert np.allclose(np.linalg.norm(spatial.burgers, axis=1), 1.0, atol=5e-3)
    assert np.allclose(spatial.burgers, net.burgers, atol=5e-3)


@pytest.mark.ovito
def test_dxa_100_junction(tmp_path, synthetic):
    crystal = synthetic.bcc_crystal(W_A0, 20)
    loop1, loop2 = synthetic.junction_loops_100(crystal, edge_cells=6.0, width_cells=4.0)
    atoms = synthetic.insert_loops(crystal, [loop1, loop2])
    dxa_to_ca(atoms, tmp_path / "junction.ca")
    b_ang = W_A0 * np.sqrt(3) / 2
    net = read_ca(tmp_path / "junction.ca", burgers_magnitude_angstrom=b_ang, burgers="crystal")
    net.validate()
    assert components(net) == 1
    physical = net.physical_nodes()
    assert physical.sum() == 2 and np.all(net.node_degree()[physical] == 3)
    classes = net.segment_classes()
    assert set(np.unique(classes)) == {GLISSILE_111, JUNCTION_100}
    junction = classes == JUNCTION_100
    assert np.allclose(np.abs(net.burgers[junction]), [0, 0, 2 / np.sqrt(3)])  # [001] in units of b
    assert np.allclose(np.linalg.norm(net.burgers[~junction], axis=1), 1.0)
    # the [001] segments run along the shared [100] edge, over most of its length
    t = net.segment_vectors()[junction]
    assert np.all(np.abs(t[:, 0]) > 0.9 * np.linalg.norm(t, axis=1))
    edge = 6.0 * W_A0 / b_ang
    assert 0.6 * edge < net.segment_lengths()[junction].sum() < 1.05 * edge
    # the 1/2<111> arms carry b1 = 1/2[111] and b2 = 1/2[-1-11] up to sign
    arms = net.burgers[~junction]
    assert np.allclose(arms[:, 0], arms[:, 1])
    assert set(np.sign(arms[:, 0] * arms[:, 2]).tolist()) == {1.0, -1.0}


@pytest.mark.ovito
def test_dxa_opposite_traversal_gives_110_not_100(tmp_path, synthetic):
    """Documented sign convention: traversing the shared edge in opposite directions gives b1 - b2."""
    crystal = synthetic.bcc_crystal(W_A0, 20)
    loop1, loop2 = synthetic.junction_loops_100(crystal)
    atoms = synthetic.insert_loops(crystal, [loop1, loop2.reversed()])
    dxa_to_ca(atoms, tmp_path / "opposite.ca")
    net = read_ca(tmp_path / "opposite.ca", burgers="crystal")
    net.validate()
    assert not np.any(net.segment_classes() == JUNCTION_100)
    scaled = np.sort(np.abs(net.burgers) * np.sqrt(3), axis=1)
    assert np.any(np.all(np.isclose(scaled, [0, 2, 2], atol=1e-6), axis=1))  # [110] = 2/sqrt(3) * (1,1,0) b


# ----------------------------------------------------------------------------- synthetic crystals (no ovito)
def test_bcc_crystal_and_solid_angle():
    from scipy.spatial import cKDTree

    from ddml_engine.md.synthetic import PolygonLoop, bcc_crystal, loop_displacement, polygon_solid_angle

    crystal = bcc_crystal(W_A0, 4)
    assert crystal.num_atoms == 2 * 4**3
    dist, _ = cKDTree(crystal.positions, boxsize=crystal.lengths).query(crystal.positions, k=9)
    assert np.allclose(dist[:, 1:], W_A0 * np.sqrt(3) / 2)  # 8 nearest neighbours at a sqrt(3)/2
    # square a x a at height h on its axis: Omega = 4 arctan(a^2 / (2 h sqrt(4 h^2 + 2 a^2))), negative on
    # the side the right-hand normal (+z) points to
    a, h = 2.0, np.array([0.3, 1.0, 5.0])
    square = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0.0]])
    points = np.stack([np.zeros(3), np.zeros(3), h], axis=1)
    expected = 4 * np.arctan(a * a / (2 * h * np.sqrt(4 * h * h + 2 * a * a)))
    assert np.allclose(polygon_solid_angle(points, square), -expected)
    assert np.allclose(polygon_solid_angle(-points, square), expected)
    # u = -b Omega / 4 pi jumps by b across the cut and vanishes far away
    loop = PolygonLoop(square, [0.0, 0.0, 1.0])
    u = loop_displacement(np.array([[0.2, 0.1, 1e-6], [0.2, 0.1, -1e-6], [300.0, 0.0, 0.0]]), loop)
    assert np.allclose(u[0] - u[1], [0, 0, 1.0], atol=1e-5) and np.allclose(u[2], 0.0, atol=1e-6)


def test_prismatic_loop_is_vacancy_type_without_overlaps():
    from scipy.spatial import cKDTree

    from ddml_engine.md.synthetic import bcc_crystal, insert_loops, prismatic_loop_111

    crystal = bcc_crystal(W_A0, 12)
    loop = prismatic_loop_111(crystal, radius_cells=3.0)
    with pytest.raises(ValueError, match="open a gap"):
        insert_loops(crystal, [loop.reversed()])
    atoms = insert_loops(crystal, [loop])
    removed = crystal.num_atoms - atoms.num_atoms
    expected = np.linalg.norm(loop.vector_area) * abs(loop.burgers @ loop.normal) / (W_A0**3 / 2)
    # one slab of thickness |b| under the loop, up to atom columns cut by the hexagon edges
    assert abs(removed - expected) < 0.15 * expected
    dist, _ = cKDTree(atoms.positions, boxsize=atoms.lengths).query(atoms.positions, k=2)
    assert dist[:, 1].min() > 0.6 * W_A0 * np.sqrt(3) / 2  # the cut closed: no overlapping atoms


@pytest.mark.ovito
def test_lammps_data_reads_in_ovito(tmp_path, synthetic):
    from ovito.io import import_file

    crystal = synthetic.bcc_crystal(W_A0, 3)
    synthetic.write_lammps_data(crystal, tmp_path / "w.lmp")
    data = import_file(str(tmp_path / "w.lmp")).compute()
    assert data.particles.count == 54
    assert np.allclose(data.cell[:, :3], crystal.cell) and np.allclose(data.particles.positions, crystal.positions)


@pytest.mark.ovito
@pytest.mark.parametrize("config", ["loop", "junction"])
def test_dxa_across_periodic_boundary(tmp_path, synthetic, config):
    """Shift the crystal by half a box: OVITO's unwrapped line ends differ by cell vectors and must merge."""
    crystal = synthetic.bcc_crystal(W_A0, 20)
    loops = ([synthetic.prismatic_loop_111(crystal, 3.0)] if config == "loop"
             else list(synthetic.junction_loops_100(crystal)))
    atoms = synthetic.insert_loops(crystal, loops)
    atoms.positions = (atoms.positions + 0.5 * atoms.lengths) % atoms.lengths
    lines = dxa_to_ca(atoms, tmp_path / "shifted.ca")
    b_ang = W_A0 * np.sqrt(3) / 2
    net = read_ca(tmp_path / "shifted.ca", burgers_magnitude_angstrom=b_ang)
    net.validate()
    assert components(net) == 1
    assert net.physical_nodes().sum() == (0 if config == "loop" else 2)
    assert net.total_length() == pytest.approx(sum(line.length for line in lines) / b_ang, rel=1e-9)
    assert net.segment_lengths().max() < 0.25 * net.cell.lengths.min()


def test_points_far_outside_the_cell_are_refused(tmp_path):
    """Unwrapped DXA lines stay within a few cell lengths; a point at 1e9 Å is corrupt data, named by its
    dislocation's line, not wrapped or allocated for."""
    text = hand_made().replace("\n5 2 15\n", "\n1000000000.0 2 15\n")
    assert "1000000000.0 2 15" in text
    path = tmp_path / "far.ca"
    path.write_text(text)
    with pytest.raises(FileFormatError, match=r"far\.ca:\d+: dislocation 4 has a point .* cell lengths outside"):
        read_ca(path, burgers_magnitude_angstrom=1.0)
