"""ExaDiS network data <-> ddml networks, without importing pyexadis.

pyexadis's `ExaDisNet.export_data()` (and `DisNetManager.export_data()`) returns, and `import_data()` accepts:

    {"cell":  {"h": (3, 3) cell vectors as columns, "origin": (3,), "is_periodic": [1, 1, 1]},
     "nodes": {"tags": (N, 2) int (domain, index), "positions": (N, 3), "constraints": (N, 1) int},
     "segs":  {"nodeids": (M, 2) int node rows, "burgers": (M, 3) b of nodeids[0] -> nodeids[1],
               "planes": (M, 3)}}

ExaDiS and ddml share their units (lengths in b, forces in Pa*b^2, velocities in b/s) and the pinned-node flag
(7), so the conversion only renames arrays; node tags become ddml's `domain * 2**32 + index`
(`ddml_engine.io.paradis.encode_tag`), so the same node carries the same tag in both codes.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ddml_engine.io.paradis import decode_tag, encode_tag
from ddml_engine.network import Cell, DislocationNetwork


def _array(data: Mapping[str, Any], key: str, columns: int, dtype, where: str) -> np.ndarray:
    if key not in data:
        raise ValueError(f"ExaDiS data: '{where}.{key}' is missing")
    value = np.asarray(data[key], dtype=dtype)
    if value.size == 0:
        return np.zeros((0, columns), dtype=dtype)
    if value.ndim != 2 or value.shape[1] != columns:
        raise ValueError(f"ExaDiS data: '{where}.{key}' must have shape (n, {columns}), got {value.shape}")
    if dtype is np.float64 and not np.all(np.isfinite(value)):
        raise ValueError(f"ExaDiS data: '{where}.{key}' holds non-finite values")
    return value


def tags_from_exadis(tags: np.ndarray) -> np.ndarray:
    """(N, 2) ExaDiS (domain, index) tags -> ddml int64 tags."""
    tags = np.asarray(tags, dtype=np.int64).reshape(-1, 2)
    return encode_tag(tags[:, 0], tags[:, 1])


def tags_to_exadis(tags: np.ndarray) -> np.ndarray:
    """ddml int64 tags -> (N, 2) ExaDiS (domain, index) tags."""
    domain, index = decode_tag(np.asarray(tags, dtype=np.int64))
    return np.stack([domain, index], axis=1).reshape(-1, 2)


def network_from_exadis(data: Mapping[str, Any]) -> DislocationNetwork:
    """The ddml network of an ExaDiS `export_data()` dictionary (module docstring)."""
    for part in ("cell", "nodes", "segs"):
        if part not in data:
            raise ValueError(f"ExaDiS data: '{part}' is missing (expected the dictionary of export_data())")
    cell_data, nodes, segs = data["cell"], data["nodes"], data["segs"]
    h = np.asarray(cell_data["h"], dtype=np.float64).reshape(3, 3)
    origin = np.asarray(cell_data.get("origin", np.zeros(3)), dtype=np.float64).reshape(3)
    periodic = tuple(bool(p) for p in np.asarray(cell_data.get("is_periodic", [1, 1, 1])).reshape(3))
    tags = _array(nodes, "tags", 2, np.int64, "nodes")
    positions = _array(nodes, "positions", 3, np.float64, "nodes")
    constraints = np.asarray(nodes.get("constraints", np.zeros(len(positions))), dtype=np.int64).reshape(-1)
    nodeids = _array(segs, "nodeids", 2, np.int64, "segs")
    if len(tags) != len(positions) or len(constraints) != len(positions):
        raise ValueError(f"ExaDiS data: {len(positions)} node positions but {len(tags)} tags and "
                         f"{len(constraints)} constraints")
    if len(nodeids) and (nodeids.min() < 0 or nodeids.max() >= len(positions)):
        raise ValueError(f"ExaDiS data: segment node ids must lie in 0..{len(positions) - 1}")
    return DislocationNetwork(Cell(h, origin, periodic), positions, nodeids,
                              _array(segs, "burgers", 3, np.float64, "segs"),
                              _array(segs, "planes", 3, np.float64, "segs"), constraints, tags_from_exadis(tags))


def network_to_exadis(network: DislocationNetwork) -> dict[str, dict[str, np.ndarray]]:
    """The `import_data()` dictionary of a ddml network (module docstring)."""
    return {"cell": {"h": network.cell.matrix.copy(), "origin": network.cell.origin.copy(),
                     "is_periodic": [int(p) for p in network.cell.periodic]},
            "nodes": {"tags": tags_to_exadis(network.tags), "positions": network.positions.copy(),
                      "constraints": network.constraints.reshape(-1, 1).copy()},
            "segs": {"nodeids": network.segments.copy(), "burgers": network.burgers.copy(),
                     "planes": network.planes.copy()}}
