"""Shared plumbing of the ddml OVITO modifiers: DXA -> engine network, stress from the frame, per-frame caches,
and drawing networks as `Lines` and nodal vectors as `Vectors`.

No physics here beyond unit conversion: networks come from `ddml_engine.io.dxa.network_from_dxa`, remeshing
from `ddml_engine.dynamics.topology.remesh`, forces from `ddml_engine.forces.model.make_force_model`.
Positions shown in OVITO are in Å (the DXA's length unit); the engine works in units of b.
"""
from __future__ import annotations

import math

import collections
import functools
import hashlib
import os
from typing import Mapping

import numpy as np
from ovito.data import DataCollection, Lines, Vectors

from ddml_engine.dynamics.topology import remesh
from ddml_engine.forces.model import make_force_model
from ddml_engine.io.dxa import network_from_dxa
from ddml_engine.materials import ANGSTROM, BAR, GPA, Material, material
from ddml_engine.network import Cell, DislocationNetwork

BCC_PRESETS = ("W", "Ta")  # BCC material presets offered by the modifiers
#: remeshing keeps segments between REMESH_MIN_FRACTION * length and length (b)
REMESH_MIN_FRACTION = 0.4
STRESS_COMPONENTS = ("xx", "yy", "zz", "yz", "xz", "xy")
#: global attributes read as the frame's stress: "Stress.xx" ... in GPa (ddml convention), or LAMMPS pressure
#: tensor "pxx" ... in bar (metal units; stress = -pressure)
STRESS_ATTRIBUTES_GPA = tuple(f"Stress.{c}" for c in STRESS_COMPONENTS)
STRESS_ATTRIBUTES_LAMMPS_BAR = tuple(f"p{c}" for c in STRESS_COMPONENTS)
CRYSTALLINE = ("FCC", "HCP", "BCC", "CubicDiamond", "HexagonalDiamond")


class DDMLModifierError(RuntimeError):
    """Error shown in OVITO's pipeline status (missing DXA, bad model file, crystal not BCC)."""


def check_parameters(modifier) -> None:
    """Every numeric parameter named in the class's LIMITS {name: (low, high, low excluded)} (merged along the
    class hierarchy) is finite and in range; otherwise a DDMLModifierError naming the parameter (OVITO's traits
    accept NaN and infinities, and plain Floats any sign)."""
    limits: dict = {}
    for cls in reversed(type(modifier).__mro__):
        limits.update(getattr(cls, "LIMITS", {}) if "LIMITS" in vars(cls) else {})
    for name, (low, high, strict) in limits.items():
        value = getattr(modifier, name)
        trait = modifier.trait(name)
        label = getattr(trait, "label", None) or name
        ok = math.isfinite(value) and (value > low if strict else value >= low) and value <= high
        if not ok:
            bound = f"{'>' if strict else '>='} {low:g} and <= {high:g}"
            raise DDMLModifierError(f"{modifier.who}: parameter '{label}' ({name}) must be a finite number {bound}, "
                                    f"got {value!r}")


# --------------------------------------------------------------------------------------------- DXA -> network
def bcc_material(name: str, who: str) -> Material:
    mat = material(name)
    if mat.crystal != "bcc":
        raise DDMLModifierError(f"{who}: material '{name}' is {mat.crystal.upper()}, ddml's modifiers need a BCC "
                                f"crystal ({', '.join(BCC_PRESETS)})")
    return mat


def require_dislocations(data: DataCollection, who: str):
    """The DXA network of the frame, or a clear error when no DXA ran upstream / the crystal is not BCC."""
    dis = data.dislocations
    if dis is None:
        raise DDMLModifierError(f"{who}: the input has no dislocation lines. Insert a 'Dislocation analysis (DXA)' "
                                "modifier (input crystal type BCC) below this modifier in the pipeline.")
    counts = {s: int(data.attributes.get(f"DislocationAnalysis.counts.{s}", 0)) for s in CRYSTALLINE}
    if sum(counts.values()) > 0:
        dominant = max(counts, key=counts.get)
        if dominant != "BCC":
            raise DDMLModifierError(f"{who}: the crystal is not BCC: the DXA found {counts[dominant]} {dominant} atoms "
                                    f"and {counts['BCC']} BCC atoms. ddml's mobility laws are for BCC metals; set the "
                                    "DXA's input crystal type to BCC for a BCC crystal.")
    names = {s.id: s.name for s in dis.crystal_structures}
    clusters = {c.id: names.get(c.structure, str(c.structure)) for c in dis.clusters}
    for line in dis.lines:
        kind = clusters.get(line.cluster_id, "?")
        if kind != "BCC":
            raise DDMLModifierError(f"{who}: dislocation line {line.id} lies in a {kind} crystallite; ddml's modifiers "
                                    "need a BCC crystal")
    return dis


def dxa_arrays(dis) -> dict:
    """Plain arrays of an OVITO DislocationNetwork: polylines (Å), Burgers vectors, junction rings, cell."""
    lines = list(dis.lines)
    next_end = np.empty(2 * len(lines), np.int64)
    for k, line in enumerate(lines):
        for connector in line.connectors:
            nxt = connector.next_arm
            next_end[2 * k + int(connector.is_head)] = 2 * nxt.line.id + int(nxt.is_head)  # id = list index
    domain = np.asarray(dis.domain)
    return {"polylines": [np.asarray(line.points, float) for line in lines],
            "spatial_burgers": np.array([line.spatial_burgers_vector for line in lines], float).reshape(-1, 3),
            "true_burgers": np.array([line.true_burgers_vector for line in lines], float).reshape(-1, 3),
            "next_end": next_end, "cell_matrix": domain[:, :3].copy(), "cell_origin": domain[:, 3].copy(),
            "pbc": tuple(bool(p) for p in dis.domain.pbc)}


def dxa_network(data: DataCollection, mat: Material, who: str, remesh_length: float = 0.0,
                burgers: str = "crystal") -> DislocationNetwork:
    """Engine network (units of b) of the frame's DXA lines, remeshed to `remesh_length` b when > 0."""
    return convert_dxa(dxa_arrays(require_dislocations(data, who)), mat, who, remesh_length, burgers)


def convert_dxa(arrays: dict, mat: Material, who: str, remesh_length: float = 0.0,
                burgers: str = "crystal") -> DislocationNetwork:
    """Engine network of extracted DXA arrays (see `dxa_arrays`), remeshed to `remesh_length` b when > 0."""
    try:
        net = network_from_dxa(arrays["polylines"], arrays["spatial_burgers"], arrays["next_end"],
                               arrays["cell_matrix"], arrays["cell_origin"], arrays["pbc"],
                               true_burgers=arrays["true_burgers"], material=mat, burgers=burgers, source=who)
    except ValueError as exc:
        raise DDMLModifierError(f"{who}: cannot convert the DXA network: {exc}") from exc
    if remesh_length > 0 and net.num_segments:
        net = remesh(net, remesh_length, REMESH_MIN_FRACTION * remesh_length)
    return net


def frame_stress(data: DataCollection, parameter_gpa: np.ndarray, use_attributes: bool) -> tuple[np.ndarray, str]:
    """Applied stress (Voigt, Pa) and where it came from: frame attributes when present and allowed, else the
    parameter (GPa)."""
    attrs = data.attributes
    if use_attributes:
        if all(name in attrs for name in STRESS_ATTRIBUTES_GPA):
            return np.array([float(attrs[n]) for n in STRESS_ATTRIBUTES_GPA]) * GPA, "attributes Stress.* (GPa)"
        if all(name in attrs for name in STRESS_ATTRIBUTES_LAMMPS_BAR):
            return -np.array([float(attrs[n]) for n in STRESS_ATTRIBUTES_LAMMPS_BAR]) * BAR, "attributes p* (bar)"
    return np.asarray(parameter_gpa, float) * GPA, "parameter (GPa)"


def ddd_forces(net: DislocationNetwork, mat: Material, model: str, stress_pa: np.ndarray,
               cutoff: float = 0.0, grid: int = 64) -> np.ndarray:
    """F^DDD (N, 3) in Pa*b^2 (paper Eq. 2) from the engine's force model."""
    if net.num_nodes == 0:
        return np.zeros((0, 3))
    return make_force_model(model, mat, cutoff=cutoff or None, grid=grid)(net, stress_pa)


@functools.lru_cache(maxsize=4)
def _load_gnn(path: str, mtime_ns: int, size: int):
    from ddml_engine.mobility.gnn import GNNMobility

    return GNNMobility(path)


def resolve_model_path(path: str, data: DataCollection | None = None) -> str:
    """Absolute model path. A relative one is looked up in the current directory, then next to the frame's input
    file (OVITO's 'SourceFile' attribute) and in that folder's parent — so a session file that travels with its
    data folder finds the model too."""
    path = os.path.expanduser(os.fspath(path))
    if os.path.isabs(path):
        return path
    candidates = [os.path.abspath(path)]
    source = data.attributes.get("SourceFile") if data is not None else None
    if source:
        folder = os.path.dirname(os.path.abspath(str(source)))
        candidates += [os.path.join(folder, path), os.path.join(os.path.dirname(folder), path)]
    return next((c for c in candidates if os.path.isfile(c)), candidates[0])


def load_gnn(path: str, who: str, data: DataCollection | None = None):
    """GNNMobility of a ddml model file (cached per path and modification time), clear errors otherwise."""
    if not path:
        raise DDMLModifierError(f"{who}: no model file given; set 'model_path' to a ddml model file "
                                "(written by `ddml train` / ddml_engine.ml.export.export_model)")
    path = resolve_model_path(path, data)
    if not os.path.isfile(path):
        raise DDMLModifierError(f"{who}: model file not found: {path}")
    st = os.stat(path)
    try:
        return _load_gnn(path, st.st_mtime_ns, st.st_size)
    except (ValueError, RuntimeError, OSError) as exc:
        raise DDMLModifierError(f"{who}: {path} is not a valid ddml GNN model file: {exc}") from exc


# --------------------------------------------------------------------------------------------- per-frame cache
# Two levels. OVITO's `data_cache` (first) survives changes of the modifier's own display-only traits, but OVITO
# clears it whenever anything upstream re-runs — including a display-only change of another ddml modifier placed
# before this one. The second level, a small process-wide LRU keyed by the physics parameters and a fingerprint of
# the DXA input, keeps those changes from recomputing the engine result.
_MEMO: "collections.OrderedDict[tuple, dict]" = collections.OrderedDict()
MEMO_SIZE = 24


def fingerprint(arrays: dict) -> str:
    """SHA-1 of the DXA arrays (polylines, Burgers vectors, junction rings, cell)."""
    h = hashlib.sha1()
    for p in arrays["polylines"]:
        h.update(np.ascontiguousarray(p, np.float64).tobytes())
        h.update(b"|")
    for name in ("spatial_burgers", "true_burgers", "next_end", "cell_matrix", "cell_origin"):
        h.update(np.ascontiguousarray(arrays[name]).tobytes())
    h.update(repr(arrays["pbc"]).encode())
    return h.hexdigest()


def memo_get(key: tuple) -> dict | None:
    hit = _MEMO.get(key)
    if hit is not None:
        _MEMO.move_to_end(key)
    return hit


def memo_put(key: tuple, value: dict) -> None:
    _MEMO[key] = value
    _MEMO.move_to_end(key)
    while len(_MEMO) > MEMO_SIZE:
        _MEMO.popitem(last=False)


def memo_clear() -> None:
    _MEMO.clear()


def cache_put(cache: DataCollection, key: str, arrays: Mapping[str, np.ndarray]) -> None:
    """Store arrays under `key` in the modifier's data cache (one DataTable per array)."""
    for name, value in arrays.items():
        value = np.asarray(value)
        flat = value.reshape(len(value), -1) if value.ndim > 1 else value.reshape(-1, 1)
        table = cache.tables.create(identifier=f"{key}.{name}", count=len(flat))
        table.create_property("v", data=flat if flat.shape[1] > 1 else flat[:, 0], components=flat.shape[1]
                              if flat.shape[1] > 1 else 1, dtype=flat.dtype if flat.dtype != bool else np.int32)
        cache.attributes[f"{key}.{name}.shape"] = ",".join(str(s) for s in value.shape)
    cache.attributes[f"{key}.complete"] = 1


def cache_get(cache: DataCollection, key: str, names: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    if f"{key}.complete" not in cache.attributes:
        return None
    out = {}
    for name in names:
        shape = tuple(int(s) for s in str(cache.attributes[f"{key}.{name}.shape"]).split(",") if s != "")
        out[name] = np.array(cache.tables[f"{key}.{name}"]["v"]).reshape(shape)
    return out


NETWORK_KEYS = ("positions", "segments", "burgers", "constraints", "cell_matrix", "cell_origin", "cell_pbc")


def network_arrays(net: DislocationNetwork) -> dict[str, np.ndarray]:
    return {"positions": net.positions, "segments": net.segments, "burgers": net.burgers,
            "constraints": net.constraints, "cell_matrix": net.cell.matrix, "cell_origin": net.cell.origin,
            "cell_pbc": np.array(net.cell.periodic, np.int32)}


def network_from_arrays(a: Mapping[str, np.ndarray]) -> DislocationNetwork:
    cell = Cell(a["cell_matrix"], a["cell_origin"], tuple(bool(p) for p in a["cell_pbc"]))
    return DislocationNetwork(cell, a["positions"], a["segments"], a["burgers"], None, a["constraints"])


# --------------------------------------------------------------------------------------------- drawing
def character_angle_deg(net: DislocationNetwork) -> np.ndarray:
    """Angle between Burgers vector and line direction of every segment, 0 (screw) .. 90 (edge) degrees."""
    d = net.segment_vectors()
    cos = np.abs(np.einsum("ij,ij->i", d, net.burgers)) / np.maximum(
        np.linalg.norm(d, axis=1) * np.linalg.norm(net.burgers, axis=1), 1e-300)
    return np.degrees(np.arccos(np.clip(cos, 0.0, 1.0)))


def segment_vertices(net: DislocationNetwork, positions: np.ndarray | None = None) -> np.ndarray:
    """(2M, 3) end points (b) of every segment, unwrapped from its first node (minimum image)."""
    pos = net.positions if positions is None else positions
    r1 = pos[net.segments[:, 0]]
    r2 = r1 + net.cell.minimum_image(pos[net.segments[:, 1]] - r1)
    return np.stack([r1, r2], axis=1).reshape(-1, 3)


LEGEND_ATTRIBUTE = "ddml.legend.{}"  # global attribute holding the colour-legend title (with units) of a visual


def _legend(data: DataCollection, identifier: str, vis: Mapping[str, object]) -> dict:
    """vis parameters without 'legend_title', which goes to the attribute ddml.legend.<identifier>."""
    params = dict(vis)
    title = params.pop("legend_title", None)
    if title:
        data.attributes[LEGEND_ATTRIBUTE.format(identifier)] = str(title)
    return params


def add_segment_lines(data: DataCollection, identifier: str, vertices_angstrom: np.ndarray,
                      vertex_properties: Mapping[str, np.ndarray], vis: Mapping[str, object]) -> Lines:
    """A `Lines` object with one 2-vertex section per segment and per-vertex properties; vectors get X, Y, Z."""
    lines = data.lines.create(identifier=identifier, vis_params=_legend(data, identifier, vis))
    n = len(vertices_angstrom)
    lines.count = n
    lines.create_property("Position", data=vertices_angstrom)
    lines.create_property("Section", data=np.repeat(np.arange(n // 2), 2))
    for name, value in vertex_properties.items():
        value = np.asarray(value, float)
        if value.ndim == 2:
            lines.create_property(name, data=value, components=["X", "Y", "Z"][:value.shape[1]])
        else:
            lines.create_property(name, data=value)
    return lines


def add_vectors(data: DataCollection, identifier: str, base_angstrom: np.ndarray, directions: np.ndarray,
                properties: Mapping[str, np.ndarray], vis: Mapping[str, object]) -> Vectors:
    vectors = data.vectors.create(identifier=identifier, vis_params=_legend(data, identifier, vis))
    vectors.count = len(base_angstrom)
    vectors.create_property("Position", data=base_angstrom)
    vectors.create_property("Direction", data=directions)
    for name, value in properties.items():
        vectors.create_property(name, data=np.asarray(value, float))
    return vectors


def arrow_scaling(scale: float, largest: float, cell_lengths_angstrom: np.ndarray, fraction: float = 0.15) -> float:
    """VectorVis scaling: `scale` when > 0, else automatic (the longest arrow is `fraction` of the shortest cell
    vector)."""
    if scale > 0:
        return float(scale)
    return float(fraction * np.min(cell_lengths_angstrom) / largest) if largest > 0 else 1.0


def to_angstrom(x_b: np.ndarray, mat: Material) -> np.ndarray:
    return np.asarray(x_b, float) * (mat.burgers_m / ANGSTROM)
