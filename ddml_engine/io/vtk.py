"""VTK XML PolyData (`.vtp`) output of a network, for ParaView/OVITO — no vtk package needed.

Points are the node positions wrapped into the cell; each segment is one line cell. A segment that
crosses a periodic boundary (its minimum-image end differs from the wrapped end node) would be drawn
across the whole box, so it is emitted from its first node to an extra point at the *unwrapped* end
r_i + minimum_image(r_j - r_i), which lies just outside the box. Extra points come after the N node
points and carry the point data of the node they stand for (point array `node_index` says which).

Point data: node_index, tag, constraint, physical_node (1 for junction/end/pinned nodes), plus
`node_data`. Cell data (one tuple per segment, in segment order): burgers, burgers_magnitude, plane,
segment_class (0 1/2<111> glissile, 1 <100> junction, 2 other; see DislocationNetwork.segment_classes),
length, crosses_boundary, plus `segment_data`. Field data: cell_matrix (columns = cell vectors, row-major),
cell_origin. Encoding: 'binary' (inline base64, UInt64 byte-count header, the VTK XML 1.0 layout) or 'ascii'.
"""
from __future__ import annotations

import base64
import os
from xml.sax.saxutils import quoteattr

import numpy as np

from ddml_engine.io._atomic import write_text_atomic
from ddml_engine.io.polydata import network_polydata
from ddml_engine.network import DislocationNetwork

_VTK_TYPES = {
    np.dtype(np.float64): "Float64", np.dtype(np.float32): "Float32", np.dtype(np.int64): "Int64",
    np.dtype(np.int32): "Int32", np.dtype(np.uint8): "UInt8", np.dtype(np.int8): "Int8",
    np.dtype(np.uint32): "UInt32", np.dtype(np.uint64): "UInt64", np.dtype(np.int16): "Int16",
    np.dtype(np.uint16): "UInt16",
}


def _as_vtk_array(name: str, values, rows: int, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if arr.dtype not in _VTK_TYPES:
        arr = arr.astype(np.float64)
    if arr.ndim == 0 or arr.shape[0] != rows:
        raise ValueError(f"{what} array '{name}' has shape {arr.shape}, expected ({rows}, ...)")
    return arr.reshape(rows, int(np.prod(arr.shape[1:], dtype=np.int64)))


def _data_array(name: str, arr: np.ndarray, encoding: str) -> str:
    vtk_type = _VTK_TYPES[arr.dtype]
    comps = arr.shape[1] if arr.ndim > 1 else 1
    head = f'<DataArray type="{vtk_type}" Name={quoteattr(name)} NumberOfComponents="{comps}" format="{encoding}">'
    flat = np.ascontiguousarray(arr).ravel()
    if encoding == "ascii":
        body = " ".join(repr(v) for v in flat.tolist()) if flat.dtype.kind == "f" else " ".join(map(str, flat.tolist()))
    else:
        raw = flat.astype(flat.dtype.newbyteorder("<")).tobytes()
        body = base64.b64encode(np.uint64(len(raw)).tobytes() + raw).decode("ascii")
    return f"{head}\n{body}\n</DataArray>"


def format_vtp(network: DislocationNetwork, node_data: dict[str, np.ndarray] | None = None,
               segment_data: dict[str, np.ndarray] | None = None, encoding: str = "binary") -> str:
    """Text of the .vtp file (see the module docstring)."""
    if encoding not in ("binary", "ascii"):
        raise ValueError(f"encoding must be 'binary' or 'ascii', got '{encoding}'")
    arrays = network_polydata(network, node_data, segment_data)
    points, lines, m = arrays.points, arrays.lines, network.num_segments
    point_arrays, cell_arrays = arrays.point_data, arrays.cell_data

    def block(arrays: dict[str, np.ndarray], rows: int) -> str:
        return "\n".join(_data_array(k, _as_vtk_array(k, v, rows, "internal"), encoding) for k, v in arrays.items())

    field = arrays.field_data
    field_xml = "\n".join(_data_array(k, v, encoding).replace("<DataArray ", '<DataArray NumberOfTuples="1" ', 1)
                          for k, v in field.items())
    parts = [
        '<?xml version="1.0"?>',
        '<VTKFile type="PolyData" version="1.0" byte_order="LittleEndian" header_type="UInt64">',
        "<PolyData>",
        f"<FieldData>\n{field_xml}\n</FieldData>",
        f'<Piece NumberOfPoints="{len(points)}" NumberOfVerts="0" NumberOfLines="{m}" NumberOfStrips="0" '
        'NumberOfPolys="0">',
        (f'<PointData Scalars="{arrays.active_point_scalars}">' if arrays.active_point_scalars else "<PointData>")
        + f"\n{block(point_arrays, len(points))}\n</PointData>",
        f"<CellData>\n{block(cell_arrays, m)}\n</CellData>",
        f"<Points>\n{_data_array('Points', points, encoding)}\n</Points>",
        "<Lines>",
        _data_array("connectivity", lines.reshape(-1, 1).astype(np.int64), encoding),
        _data_array("offsets", (2 * np.arange(1, m + 1, dtype=np.int64)).reshape(-1, 1), encoding),
        "</Lines>",
        "</Piece>",
        "</PolyData>",
        "</VTKFile>",
        "",
    ]
    return "\n".join(parts)


def write_vtp(network: DislocationNetwork, path: str | os.PathLike, node_data: dict[str, np.ndarray] | None = None,
              segment_data: dict[str, np.ndarray] | None = None, encoding: str = "binary") -> None:
    """Write the network as VTK XML PolyData (atomically); node_data (N, ...) and segment_data (M, ...)."""
    write_text_atomic(path, format_vtp(network, node_data, segment_data, encoding))
