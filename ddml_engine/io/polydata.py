"""A network as plain PolyData arrays (points, two-point lines, point/cell/field arrays) for VTK front ends.

Same geometry and array names as the `.vtp` writer (ddml_engine.io.vtk): points are the node positions wrapped
into the cell, one line cell per segment, and a segment crossing a periodic boundary ends at an extra point at
its unwrapped end r_i + minimum_image(r_j - r_i) that carries the point data of the node it stands for.
Used by the ParaView readers (paraview_plugins/) which turn these arrays into vtkPolyData; no VTK import here.

Point data: node_index, tag, constraint, physical_node (1 for junction/end/pinned nodes), degree, plus per-node
arrays (forces, velocities, ...) and, for the vector arrays forces / velocities, their magnitudes "|forces| (Pa*b^2)"
/ "|velocities| (b/s)" (the active scalars: a viewer colours by them by default). Cell data: burgers, burgers_magnitude, plane, segment_class (0 1/2<111>,
1 <100> junction, 2 other), length, crosses_boundary, segment_index, plus per-segment arrays.
Field data: cell_matrix (1, 9) row-major with columns = cell vectors, cell_origin (1, 3), cell_periodic (1, 3),
plus scalars and small arrays given as `field_data` (e.g. time, stress).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from ddml_engine.network import DislocationNetwork


@dataclass
class PolyDataArrays:
    """points (P, 3), lines (M, 2) point indices, and arrays keyed by name (rows P, M, or any for field data)."""

    points: np.ndarray
    lines: np.ndarray
    point_data: dict[str, np.ndarray] = field(default_factory=dict)
    cell_data: dict[str, np.ndarray] = field(default_factory=dict)
    field_data: dict[str, np.ndarray] = field(default_factory=dict)
    active_point_scalars: str | None = None  # what a viewer colours by when nothing is chosen


#: per-node vector arrays (engine units) that get a magnitude array "|name| (unit)", in order of colouring preference
MAGNITUDES = {"forces": "Pa*b^2", "force": "Pa*b^2", "velocities": "b/s", "velocity": "b/s"}


def vtp_geometry(network: DislocationNetwork) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(points (P, 3), point_node (P,), lines (M, 2) point indices, crosses (M,) bool) as written to .vtp."""
    wrapped = network.cell.wrap(network.positions)
    seg = network.segments
    r1 = wrapped[seg[:, 0]]
    unwrapped_end = r1 + network.cell.minimum_image(wrapped[seg[:, 1]] - r1)
    crosses = np.linalg.norm(unwrapped_end - wrapped[seg[:, 1]], axis=1) > 1e-9 * max(1.0, network.cell.lengths.max())
    extra = np.flatnonzero(crosses)
    n = network.num_nodes
    points = np.concatenate([wrapped, unwrapped_end[extra]])
    point_node = np.concatenate([np.arange(n), seg[extra, 1]])
    lines = seg.copy()
    lines[extra, 1] = n + np.arange(len(extra))
    return points, point_node, lines, crosses


def _rows(name: str, values: Any, rows: int, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if arr.ndim == 0 or arr.shape[0] != rows:
        raise ValueError(f"{what} array '{name}' has shape {arr.shape}, expected ({rows}, ...)")
    return arr.reshape(rows, -1) if arr.ndim > 2 else arr


def split_extra(extra: Mapping[str, Any], num_nodes: int, num_segments: int
                ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Sort a snapshot's extra values into (per-node arrays, per-segment arrays, field values).

    An array with num_nodes rows is per node, one with num_segments rows per segment (a name containing
    'segment' decides when both counts are equal); scalars and other arrays become field data.
    """
    nodes: dict[str, np.ndarray] = {}
    segments: dict[str, np.ndarray] = {}
    fields: dict[str, np.ndarray] = {}
    for name, value in extra.items():
        if isinstance(value, (str, bytes)):
            continue
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            continue
        rows = arr.shape[0] if arr.ndim else -1
        prefer_segment = "segment" in name.lower()
        if rows == num_nodes and not (prefer_segment and rows == num_segments):
            nodes[name] = arr
        elif rows == num_segments:
            segments[name] = arr
        else:
            fields[name] = arr.reshape(1, -1)
    return nodes, segments, fields


def network_polydata(network: DislocationNetwork, node_data: Mapping[str, Any] | None = None,
                     segment_data: Mapping[str, Any] | None = None,
                     field_data: Mapping[str, Any] | None = None) -> PolyDataArrays:
    """PolyData arrays of a network (module docstring); node_data (N, ...), segment_data (M, ...)."""
    n, m = network.num_nodes, network.num_segments
    points, point_node, lines, crosses = vtp_geometry(network)
    point_data: dict[str, np.ndarray] = {
        "node_index": point_node.astype(np.int64),
        "tag": network.tags[point_node],
        "constraint": network.constraints[point_node].astype(np.int32),
        "physical_node": network.physical_nodes()[point_node].astype(np.uint8),
        "degree": network.node_degree()[point_node].astype(np.int32),
    }
    active = None
    for name, values in (node_data or {}).items():
        point_data[name] = _rows(name, values, n, "node_data")[point_node]
    for name, unit in MAGNITUDES.items():  # colour by force (else velocity) magnitude by default, units named
        values = point_data.get(name)
        if values is not None and values.ndim == 2 and values.shape[1] == 3:
            label = f"|{name}| ({unit})"
            point_data[label] = np.linalg.norm(values, axis=1)
            active = active or label
    cell_data: dict[str, np.ndarray] = {
        "burgers": network.burgers,
        "burgers_magnitude": np.linalg.norm(network.burgers, axis=1),
        "plane": network.planes,
        "segment_class": network.segment_classes().astype(np.int32),
        "length": network.segment_lengths(),
        "crosses_boundary": crosses.astype(np.uint8),
        "segment_index": np.arange(m, dtype=np.int64),
    }
    for name, values in (segment_data or {}).items():
        cell_data[name] = _rows(name, values, m, "segment_data")
    fields: dict[str, np.ndarray] = {
        "cell_matrix": network.cell.matrix.reshape(1, 9),
        "cell_origin": network.cell.origin.reshape(1, 3),
        "cell_periodic": np.array(network.cell.periodic, dtype=np.uint8).reshape(1, 3),
    }
    for name, value in (field_data or {}).items():
        arr = np.asarray(value)
        if arr.dtype == bool:
            arr = arr.astype(np.uint8)
        fields[name] = arr.reshape(1, -1)
    return PolyDataArrays(points, lines.astype(np.int64), point_data, cell_data, fields, active)
