""".vtp writer: read back with a small XML parser (ascii and base64), periodic segments drawn short."""
import base64
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from ddml_engine.io.vtk import write_vtp
from ddml_engine.network import GLISSILE_111, JUNCTION_100, PINNED_NODE, Cell, DislocationNetwork

TYPES = {"Float64": "<f8", "Float32": "<f4", "Int64": "<i8", "Int32": "<i4", "UInt8": "u1", "UInt64": "<u8"}


def read_vtp(path):
    """Minimal VTK XML PolyData reader: {'points', 'point': {...}, 'cell': {...}, 'field': {...}, 'lines'}."""
    root = ET.parse(path).getroot()
    assert root.get("type") == "PolyData" and root.get("header_type") == "UInt64"

    def decode(el):
        dtype = np.dtype(TYPES[el.get("type")])
        comps = int(el.get("NumberOfComponents", "1"))
        if el.get("format") == "ascii":
            values = np.array(el.text.split(), dtype=dtype)
        else:
            raw = base64.b64decode(el.text.strip())
            nbytes = int(np.frombuffer(raw[:8], "<u8")[0])
            assert nbytes == len(raw) - 8
            values = np.frombuffer(raw[8:], dtype=dtype)
        return values.reshape(-1, comps) if comps > 1 else values

    piece = root.find("PolyData/Piece")
    out = {
        "points": decode(piece.find("Points/DataArray")),
        "point": {a.get("Name"): decode(a) for a in piece.find("PointData")},
        "cell": {a.get("Name"): decode(a) for a in piece.find("CellData")},
        "field": {a.get("Name"): decode(a) for a in root.find("PolyData/FieldData")},
    }
    lines = {a.get("Name"): decode(a) for a in piece.find("Lines")}
    assert np.array_equal(lines["offsets"], 2 * np.arange(1, len(lines["offsets"]) + 1))
    out["lines"] = lines["connectivity"].reshape(-1, 2)
    assert int(piece.get("NumberOfPoints")) == len(out["points"])
    assert int(piece.get("NumberOfLines")) == len(out["lines"])
    return out


def periodic_network():
    """A [001] junction P-Q and 1/2<111> arms; one arm and the junction cross the x boundary."""
    cell = Cell.cubic(20.0, centered=True)
    s3 = np.sqrt(3.0)
    b1, b2 = np.array([1, 1, 1]) / s3, np.array([-1, -1, 1]) / s3
    pos = [[8.0, 0, 0], [-8.0, 0, 0], [9.0, 5, 0], [-9.0, 5, 0], [0.0, -5, 0], [4.0, -7, 0]]
    # 0=P, 1=Q (P->Q crosses x = +-10), arms P->2, 2->3 (crosses), 3->Q carry b1; P->4, 4->Q carry b2;
    # 5 is a pinned dangling end
    seg = [[1, 0], [0, 2], [2, 3], [3, 1], [0, 4], [4, 1], [4, 5]]
    b = [b1 + b2, b1, b1, b1, b2, b2, b2]
    net = DislocationNetwork(cell, pos, seg, b, constraints=[0, 0, 0, 0, 0, PINNED_NODE])
    return net


@pytest.mark.parametrize("encoding", ["ascii", "binary"])
def test_vtp_round_trip(tmp_path, encoding):
    net = periodic_network()
    rng = np.random.default_rng(0)
    force = rng.normal(size=(net.num_nodes, 3))
    mobile = np.arange(net.num_nodes) % 2 == 0
    speed = rng.random(net.num_segments)
    path = tmp_path / "net.vtp"
    write_vtp(net, path, node_data={"force": force, "mobile": mobile}, segment_data={"speed": speed},
              encoding=encoding)
    vtp = read_vtp(path)
    n, m = net.num_nodes, net.num_segments
    pts, lines, node = vtp["points"], vtp["lines"], vtp["point"]["node_index"]
    # the first N points are the wrapped nodes, exactly; extra points map back to their node by a cell vector
    assert np.array_equal(pts[:n], net.cell.wrap(net.positions)) and np.array_equal(node[:n], np.arange(n))
    shift = net.cell.to_fractional(pts[n:]) - net.cell.to_fractional(pts[node[n:]])
    assert np.allclose(shift, np.round(shift)) and np.all(np.abs(shift).sum(1) >= 1 - 1e-12)
    # every line is its segment: right end nodes, right (minimum-image) vector, never across the box
    assert np.array_equal(node[lines], net.segments)
    assert np.allclose(pts[lines[:, 1]] - pts[lines[:, 0]], net.segment_vectors())
    assert np.max(np.linalg.norm(pts[lines[:, 1]] - pts[lines[:, 0]], axis=1)) < 10.0
    crossing = vtp["cell"]["crosses_boundary"].astype(bool)
    assert crossing.tolist() == [True, False, True, False, False, False, False]
    assert len(pts) == n + crossing.sum()
    # point data follow their node, also on the extra points
    assert np.array_equal(vtp["point"]["force"], force[node])
    assert np.array_equal(vtp["point"]["mobile"], mobile[node].astype(np.uint8))
    assert np.array_equal(vtp["point"]["constraint"], net.constraints[node])
    assert np.array_equal(vtp["point"]["physical_node"], net.physical_nodes()[node].astype(np.uint8))
    assert vtp["point"]["physical_node"][:n].tolist() == [1, 1, 0, 0, 1, 1]  # P, Q, the 3-node 4, the end 5
    # cell data in segment order
    assert np.array_equal(vtp["cell"]["burgers"], net.burgers)
    assert np.array_equal(vtp["cell"]["speed"], speed)
    assert vtp["cell"]["segment_class"].tolist() == [JUNCTION_100] + [GLISSILE_111] * 6
    assert np.allclose(vtp["cell"]["length"], net.segment_lengths())
    assert np.array_equal(vtp["field"]["cell_matrix"].reshape(3, 3), net.cell.matrix)
    assert np.array_equal(vtp["field"]["cell_origin"].ravel(), net.cell.origin)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.vtp"]  # no temporary file left


def test_vtp_rejects_wrong_shapes(tmp_path):
    net = periodic_network()
    with pytest.raises(ValueError, match="node_data array 'f'"):
        write_vtp(net, tmp_path / "x.vtp", node_data={"f": np.zeros(net.num_nodes + 1)})
    with pytest.raises(ValueError, match="segment_data array 's'"):
        write_vtp(net, tmp_path / "x.vtp", segment_data={"s": np.zeros((2, 3))})
    with pytest.raises(ValueError, match="encoding"):
        write_vtp(net, tmp_path / "x.vtp", encoding="zlib")
    assert not list(tmp_path.iterdir())


def test_vtp_empty_network(tmp_path):
    net = DislocationNetwork(Cell.cubic(10.0), np.zeros((0, 3)), np.zeros((0, 2)), np.zeros((0, 3)))
    write_vtp(net, tmp_path / "e.vtp", encoding="ascii")
    vtp = read_vtp(tmp_path / "e.vtp")
    assert len(vtp["points"]) == 0 and len(vtp["lines"]) == 0
