"""OVITO Crystal Analysis (`.ca`) files, as written by `ovito.io.export_file(..., 'ca')` after the DXA.

Format (CA_FILE_VERSION 4-6, OVITO manual "Crystal Analysis file format"): keyword sections
STRUCTURE_TYPES (Burgers-vector families per lattice, in lattice units), SIMULATION_CELL_ORIGIN,
SIMULATION_CELL_MATRIX (columns = cell vectors), PBC_FLAGS, CLUSTERS (per crystallite a 3x3
CLUSTER_ORIENTATION F mapping lattice vectors to space; it holds rotation, lattice constant and mean elastic
strain), DISLOCATIONS (per line: index, true Burgers vector in the cluster's lattice frame, cluster id,
point count, unwrapped polyline points, optionally a core size per point) and DISLOCATION_JUNCTIONS (two
records per line, first for its end (last point), then its start: "is_end other_line", forming circular
lists of the line ends that meet at one node; a lone end pointing to itself is a dangling 1-node).

Conversion to a network (units of b):
  * Sign: DXA's (line sense, Burgers vector) pairs follow the opposite convention to ParaDiS/ExaDiS and ddml
    (f = (sigma.b) x xi; a vacancy-type prismatic loop has b.A > 0): every line's Burgers vector is negated.
  * Burgers vector of a line, `burgers=`:
    "crystal" (default): R @ b_true with R the rotation of the polar decomposition F = R U, snapped to the
      nearest crystal_axes @ S (S one of the 24 cubic rotations; crystal_axes: columns = crystal [100],
      [010], [001] in the lab, identity by default) and scaled so the lattice's shortest Burgers vector
      has length 1 — exact lattice vectors in the lab frame (1/2<111> and <100> classify exactly).
      Raises ValueError when a crystallite is rotated more than 10 degrees away from crystal_axes.
    "ideal": the same without snapping (follows lattice rotations, elastic ones included).
    "spatial": F @ b_true / b, OVITO's `spatial_burgers_vector`; it carries the crystallite's mean
      elastic strain, so |b| and the components differ from the lattice values by ~the strain (0.2 %
      for a loop in a 16,000-atom box, ~1 % under GPa stresses): too much for segment_classes().
  * b (Å) for the length unit: `burgers_magnitude_angstrom`, else `material.burgers_m`, else the
    shortest Burgers-vector family of the lattice of the largest cluster times that cluster's lattice
    constant |det F|^(1/3) (|1/2<111>| for BCC).
  * Every polyline point becomes a node; line ends in one junction ring become a single node (their
    unwrapped positions may differ by cell vectors: the node sits at the first end, wrapped into the cell,
    and the others are averaged in by minimum image). Closed loops (an end ring of one line's two ends)
    become closed polygons. Duplicate consecutive points are dropped, segments longer than 0.4 of the
    shortest periodic cell length are split (so minimum image recovers them), and a segment repeated
    between the same two nodes is split at its middle. Dangling 1-node ends are PINNED_NODE.
  * Segments follow each line's direction and carry its Burgers vector (OVITO's convention: Burgers
    vectors of the lines entering a node sum to zero, which is Frank's rule for i->j segments).
    Glide planes are left at zero (unknown).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from itertools import product

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ddml_engine.io.errors import FileFormatError
from ddml_engine.network import PINNED_NODE, Cell, DislocationNetwork

ANGSTROM = 1e-10


@dataclass
class CALine:
    """One dislocation line of a .ca file (positions in Å, unwrapped)."""

    index: int
    true_burgers: np.ndarray
    cluster: int
    points: np.ndarray
    line: int  # 1-based file line of its record


@dataclass
class CAFile:
    """Parsed content of a .ca file that the network conversion needs."""

    version: int
    cell_matrix: np.ndarray
    cell_origin: np.ndarray
    pbc: tuple[bool, bool, bool]
    families: dict[int, list[np.ndarray]] = field(default_factory=dict)  # structure id -> prototypes
    cluster_structure: dict[int, int] = field(default_factory=dict)
    cluster_orientation: dict[int, np.ndarray] = field(default_factory=dict)
    cluster_size: dict[int, int] = field(default_factory=dict)
    lines: list[CALine] = field(default_factory=list)
    junctions: np.ndarray = field(default_factory=lambda: np.zeros((0, 2, 2), np.int64))  # [line, end/start, (is_end, other)]


class _Reader:
    """Line cursor with file:line errors."""

    def __init__(self, path: str, lines: list[str]) -> None:
        self.path, self.lines, self.k = path, lines, 0

    def error(self, message: str, line: int | None = None) -> FileFormatError:
        return FileFormatError(self.path, self.k if line is None else line, message)

    def next(self, what: str) -> str:
        while self.k < len(self.lines):
            text = self.lines[self.k].strip()
            self.k += 1
            if text:
                return text
        raise FileFormatError(self.path, len(self.lines), f"file ends while reading {what}: truncated")

    def numbers(self, what: str, count: int | None = None, kind=float) -> list:
        text = self.next(what)
        fields = text.split()
        if count is not None and len(fields) < count:
            raise self.error(f"expected {count} numbers for {what}, got '{text}'")
        try:
            values = [kind(v) for v in (fields if count is None else fields[:count])]
        except ValueError:
            raise self.error(f"bad number in {what}: '{text}'") from None
        if kind is float and not all(math.isfinite(v) for v in values):
            raise self.error(f"non-finite number in {what}: '{text}'")
        return values

    def keyword_value(self, keyword: str, text: str, kind=int):
        fields = text.split()
        if len(fields) < 2:
            raise self.error(f"'{keyword}' needs a value")
        try:
            return kind(fields[1])
        except ValueError:
            raise self.error(f"bad value for {keyword}: '{fields[1]}'") from None


def parse_ca(path: str | os.PathLike) -> CAFile:
    """Parse the sections of a .ca file needed for dislocation networks (the defect mesh is skipped)."""
    path = os.fspath(path)
    with open(path, "r", encoding="utf-8", errors="replace") as handle:
        lines = handle.read().splitlines()
    r = _Reader(path, lines)
    first = r.next("the file header")
    if not first.startswith("CA_FILE_VERSION"):
        raise r.error("not a Crystal Analysis file: first line must be 'CA_FILE_VERSION n'")
    version = r.keyword_value("CA_FILE_VERSION", first)
    if version < 4:
        raise r.error(f"CA_FILE_VERSION {version} is not supported (need 4 or later)")
    ca = CAFile(version, np.eye(3), np.zeros(3), (True, True, True))
    have_cell = have_dislocations = False
    structure: int | None = None
    cluster: int | None = None
    while r.k < len(lines):
        text = lines[r.k].strip()
        r.k += 1
        if not text:
            continue
        key = text.split()[0]
        if key == "STRUCTURE_TYPE":
            structure = r.keyword_value(key, text)
            ca.families[structure] = []
        elif key == "BURGERS_VECTOR_FAMILY":
            r.next("family name")
            vec = np.array(r.numbers("Burgers vector family", 3))
            r.next("family colour")
            if structure is not None:
                ca.families[structure].append(vec)
        elif key == "SIMULATION_CELL_ORIGIN":
            fields = text.split()[1:]
            try:
                ca.cell_origin = np.array([float(v) for v in fields[:3]])
                if not np.all(np.isfinite(ca.cell_origin)):
                    raise ValueError
            except ValueError:
                raise r.error(f"bad number in cell origin: '{text}'") from None
            if len(ca.cell_origin) != 3:
                raise r.error("SIMULATION_CELL_ORIGIN needs 3 numbers")
        elif key == "SIMULATION_CELL_MATRIX":
            ca.cell_matrix = np.array([r.numbers("cell matrix", 3) for _ in range(3)])
            if not np.all(np.isfinite(ca.cell_matrix)) or abs(np.linalg.det(ca.cell_matrix)) < 1e-9 * max(
                    1.0, float(np.abs(ca.cell_matrix).max()) ** 3):
                raise r.error(f"the cell matrix is singular or not finite: {ca.cell_matrix.tolist()}")
            have_cell = True
        elif key == "PBC_FLAGS":
            fields = text.split()[1:]
            if len(fields) != 3 or any(f not in ("0", "1") for f in fields):
                raise r.error(f"PBC_FLAGS needs three 0/1 flags, got '{text}'")
            ca.pbc = tuple(f == "1" for f in fields)  # type: ignore[assignment]
        elif key == "CLUSTER":
            cluster = r.keyword_value(key, text)
        elif key == "CLUSTER_STRUCTURE" and cluster is not None:
            ca.cluster_structure[cluster] = r.keyword_value(key, text)
        elif key == "CLUSTER_ORIENTATION" and cluster is not None:
            ca.cluster_orientation[cluster] = np.array([r.numbers("cluster orientation", 3) for _ in range(3)])
        elif key == "CLUSTER_SIZE" and cluster is not None:
            ca.cluster_size[cluster] = r.keyword_value(key, text)
        elif key == "DISLOCATIONS":
            _parse_dislocations(r, ca, r.keyword_value(key, text))
            have_dislocations = True
        elif key == "DISLOCATION_JUNCTIONS":
            if not have_dislocations:
                raise r.error("DISLOCATION_JUNCTIONS before DISLOCATIONS")
            _parse_junctions(r, ca)
        elif key.startswith("DEFECT_MESH"):
            break  # the defect mesh comes last and is not needed
    if not have_cell:
        raise FileFormatError(path, None, "no SIMULATION_CELL_MATRIX section")
    if not have_dislocations:
        raise FileFormatError(path, None, "no DISLOCATIONS section (was the DXA output exported?)")
    if len(ca.junctions) != len(ca.lines):
        raise FileFormatError(path, len(lines), f"{len(ca.lines)} dislocations but junction records for "
                                                f"{len(ca.junctions)}: DISLOCATION_JUNCTIONS missing or truncated")
    return ca


def _parse_dislocations(r: _Reader, ca: CAFile, count: int) -> None:
    for n in range(count):
        index = r.numbers("dislocation index", 1, int)[0]
        start = r.k
        if index != n:
            raise r.error(f"dislocation index {index}, expected {n}")
        burgers = np.array(r.numbers("true Burgers vector", 3))
        cluster = r.numbers("cluster id", 1, int)[0]
        if cluster not in ca.cluster_orientation:
            raise r.error(f"dislocation {index} refers to unknown cluster {cluster}")
        num_points = r.numbers("point count", 1, int)[0]
        if num_points < 2:
            raise r.error(f"dislocation {index} has {num_points} points (need at least 2)")
        if r.k + num_points > len(r.lines):
            raise FileFormatError(r.path, len(r.lines), f"file ends inside the points of dislocation {index}: "
                                                        "truncated")
        block = r.lines[r.k:r.k + num_points]
        try:
            rows = [row.split() for row in block]
            points = np.array([row[:3] for row in rows], dtype=np.float64)
            bad = next((k for k, row in enumerate(rows) if len(row) < 3), None)
        except ValueError:
            bad = next(k for k, row in enumerate(block) if not _is_numeric(row.split()[:3]))
            raise FileFormatError(r.path, r.k + bad + 1, f"bad point of dislocation {index}: "
                                                         f"'{block[bad].strip()}'") from None
        if bad is not None or points.shape != (num_points, 3):
            bad = bad if bad is not None else 0
            raise FileFormatError(r.path, r.k + bad + 1, f"point of dislocation {index} needs x y z: "
                                                         f"'{block[bad].strip()}'")
        if not np.all(np.isfinite(points)):
            bad = int(np.flatnonzero(~np.isfinite(points).all(1))[0])
            raise FileFormatError(r.path, r.k + bad + 1, "non-finite point")
        r.k += num_points
        if ca.version <= 4:  # one core-size line per point
            r.k += num_points
        ca.lines.append(CALine(index, burgers, cluster, points, start))


#: unwrapped DXA lines stay within a few cell lengths of the cell; farther points are corrupt data (and wrapping or
#: splitting them would allocate without bound)
MAX_CELLS_AWAY = 10.0


def _check_points_near_cell(path: str, ca: "CAFile") -> None:
    inverse = np.linalg.inv(ca.cell_matrix)
    for ln in ca.lines:
        if not len(ln.points):
            continue
        frac = (ln.points - ca.cell_origin) @ inverse.T
        away = float(np.abs(frac - 0.5).max()) - 0.5
        if away > MAX_CELLS_AWAY:
            raise FileFormatError(path, ln.line, f"dislocation {ln.index} has a point {away:.3g} cell lengths "
                                                 f"outside the cell (more than {MAX_CELLS_AWAY:g}): corrupt file?")


def _is_numeric(fields: list[str]) -> bool:
    try:
        [float(f) for f in fields]
        return len(fields) == 3
    except ValueError:
        return False


def _parse_junctions(r: _Reader, ca: CAFile) -> None:
    n = len(ca.lines)
    records = np.zeros((n, 2, 2), np.int64)
    for d in range(n):
        for end in range(2):
            is_end, other = r.numbers("junction record 'is_end line'", 2, int)
            if is_end not in (0, 1) or not 0 <= other < n:
                raise r.error(f"junction record '{is_end} {other}' of dislocation {d} must be '0|1 line' "
                              f"with line in 0..{n - 1}")
            records[d, end] = (is_end, other)
    ca.junctions = records


# ----------------------------------------------------------------------------- Burgers vectors
def _cubic_symmetry() -> np.ndarray:
    """The 24 proper rotations of the cube: signed permutation matrices with det +1."""
    ops = []
    for perm in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)):
        for signs in product((1, -1), repeat=3):
            m = np.zeros((3, 3))
            m[np.arange(3), perm] = signs
            if np.linalg.det(m) > 0:
                ops.append(m)
    return np.array(ops)


def _rotation(f: np.ndarray) -> np.ndarray:
    """Rotation R of the polar decomposition F = R U."""
    u, _, vt = np.linalg.svd(f)
    r = u @ vt
    if np.linalg.det(r) < 0:
        u[:, -1] *= -1
        r = u @ vt
    return r


def _shortest_family(ca: CAFile, cluster: int) -> float:
    protos = ca.families.get(ca.cluster_structure.get(cluster, -1), [])
    lengths = [np.linalg.norm(p) for p in protos if np.linalg.norm(p) > 1e-9]
    return min(lengths) if lengths else 0.5 * np.sqrt(3.0)  # BCC 1/2<111> when the file lists none


def line_burgers(ca: CAFile, mode: str = "spatial", crystal_axes: np.ndarray | None = None,
                 max_misorientation_deg: float = 10.0) -> np.ndarray:
    """Burgers vector of every line (L, 3): in Å for 'spatial', in units of b for 'ideal'/'crystal'.

    'crystal' raises ValueError when a cluster's rotation is more than `max_misorientation_deg` away
    from every cubic variant of `crystal_axes` (the crystal is not oriented as assumed).
    """
    if mode not in ("spatial", "ideal", "crystal"):
        raise ValueError(f"burgers must be 'spatial', 'ideal' or 'crystal', got '{mode}'")
    out = np.zeros((len(ca.lines), 3))
    ops = _cubic_symmetry()
    axes = np.eye(3) if crystal_axes is None else np.asarray(crystal_axes, float)
    for k, line in enumerate(ca.lines):
        f = ca.cluster_orientation[line.cluster]
        if mode == "spatial":
            out[k] = f @ line.true_burgers
            continue
        rot = _rotation(f)
        if mode == "crystal":
            candidates = axes[None] @ ops  # lab <- crystal <- cluster lattice frame
            traces = np.einsum("kij,ij->k", candidates, rot)  # tr(C^T R)
            best = int(np.argmax(traces))
            angle = np.degrees(np.arccos(np.clip((traces[best] - 1.0) / 2.0, -1.0, 1.0)))
            if angle > max_misorientation_deg:
                raise ValueError(f"cluster {line.cluster} is rotated {angle:.1f} degrees away from the given "
                                 "crystal axes: pass crystal_axes=, or burgers='ideal' or 'spatial'")
            rot = candidates[best]
        out[k] = rot @ line.true_burgers / _shortest_family(ca, line.cluster)
    return out


def infer_burgers_angstrom(ca: CAFile) -> float:
    """|shortest Burgers family| x lattice constant |det F|^(1/3) of the largest cluster (Å)."""
    if not ca.cluster_orientation:
        raise ValueError("no crystallite cluster in the file to infer b from")
    cluster = max(ca.cluster_orientation, key=lambda c: ca.cluster_size.get(c, 0))
    a0 = abs(np.linalg.det(ca.cluster_orientation[cluster])) ** (1.0 / 3.0)
    return float(a0 * _shortest_family(ca, cluster))


# ----------------------------------------------------------------------------- network
def read_ca(path: str | os.PathLike, burgers_magnitude_angstrom: float | None = None, material=None,
            burgers: str = "crystal", crystal_axes: np.ndarray | None = None,
            max_misorientation_deg: float = 10.0, duplicate_tolerance: float = 1e-6) -> DislocationNetwork:
    """DXA network of a .ca file in units of b; see the module docstring for the conventions."""
    path = os.fspath(path)
    ca = parse_ca(path)
    if burgers_magnitude_angstrom is None:
        burgers_magnitude_angstrom = (material.burgers_m / ANGSTROM if material is not None
                                      else infer_burgers_angstrom(ca) if ca.cluster_orientation else 1.0)
    b_ang = float(burgers_magnitude_angstrom)
    if not b_ang > 0:
        raise ValueError(f"Burgers magnitude must be positive, got {b_ang}")
    cell = Cell(ca.cell_matrix / b_ang, ca.cell_origin / b_ang, ca.pbc)
    _check_points_near_cell(path, ca)
    try:
        b_lines = line_burgers(ca, burgers, crystal_axes, max_misorientation_deg)
    except FileFormatError:
        raise
    except ValueError as error:  # e.g. a rotated crystal: the file, not a traceback
        raise FileFormatError(path, None, str(error)) from None
    if burgers == "spatial":
        b_lines = b_lines / b_ang
    return _build_network(path, ca, cell, b_lines, [ln.points / b_ang for ln in ca.lines],
                          duplicate_tolerance / b_ang)


def _build_network(path: str, ca: CAFile, cell: Cell, b_lines: np.ndarray, polylines: list[np.ndarray],
                   eps: float) -> DislocationNetwork:
    n_lines = len(polylines)
    if n_lines == 0:
        return DislocationNetwork(cell, np.zeros((0, 3)), np.zeros((0, 2)), np.zeros((0, 3)))
    periodic = np.array(cell.periodic)
    max_len = 0.4 * (cell.lengths[periodic].min() if periodic.any() else np.inf)

    # Concatenate, drop repeated points (keep each line's first and last), split long segments.
    polylines = [_drop_repeats(p, eps) for p in polylines]
    lengths = np.array([len(p) for p in polylines])
    line_of = np.repeat(np.arange(n_lines), lengths)
    pts = np.concatenate(polylines)
    same_line_next = line_of[:-1] == line_of[1:]
    if len(pts) > 1 and max_len < np.inf:
        seg_len = np.linalg.norm(np.diff(pts, axis=0), axis=1)
        pieces = np.where(same_line_next, np.maximum(1, np.ceil(seg_len / max_len)), 1).astype(np.int64)
        if np.any(pieces > 1):
            counts = np.r_[pieces, 1]
            base = np.repeat(np.arange(len(pts)), counts)
            frac = np.arange(len(base)) - np.repeat(np.cumsum(counts) - counts, counts)
            nxt = np.minimum(base + 1, len(pts) - 1)
            t = (frac / np.repeat(counts, counts))[:, None]
            pts = pts[base] + t * (pts[nxt] - pts[base])
            line_of = line_of[base]
            same_line_next = line_of[:-1] == line_of[1:]
    starts = np.flatnonzero(np.r_[True, ~same_line_next])
    ends = np.r_[starts[1:] - 1, len(pts) - 1]

    # Junction rings -> nodes: line end e = 2*line + (0 start, 1 end); record [d, 0] is d's end, [d, 1] its start.
    j = ca.junctions
    src = np.concatenate([2 * np.arange(n_lines) + 1, 2 * np.arange(n_lines)])
    dst = np.concatenate([2 * j[:, 0, 1] + j[:, 0, 0], 2 * j[:, 1, 1] + j[:, 1, 0]])
    graph = coo_matrix((np.ones(len(src)), (src, dst)), shape=(2 * n_lines, 2 * n_lines))
    n_junction, comp = connected_components(graph, directed=True, connection="weak")
    end_pos = np.empty((2 * n_lines, 3))
    end_pos[0::2], end_pos[1::2] = pts[starts], pts[ends]
    first_of = np.unique(comp, return_index=True)[1]  # first line end of each ring
    ref = end_pos[first_of[comp]]
    offset = cell.minimum_image(end_pos - ref)
    spread = np.linalg.norm(offset, axis=1)
    if np.any(spread > 5.0):  # units of b: ends of one ring should meet
        e = int(np.argmax(spread))
        raise FileFormatError(path, ca.lines[e // 2].line, f"end of dislocation {e // 2} is {spread[e]:.3g} b "
                                                           "away from the other ends of its junction")
    sums = np.zeros((n_junction, 3))
    np.add.at(sums, comp, offset)
    node_pos = end_pos[first_of] + sums / np.bincount(comp, minlength=n_junction)[:, None]
    ring_size = np.bincount(comp, minlength=n_junction)
    self_ring = dst == src
    dangling = np.zeros(n_junction, bool)
    dangling[comp[src[self_ring]]] = ring_size[comp[src[self_ring]]] == 1

    # Node ids: junction nodes 0..J-1, then interior points.
    interior = np.ones(len(pts), bool)
    interior[starts] = interior[ends] = False
    node_of_point = np.empty(len(pts), np.int64)
    node_of_point[starts] = comp[0::2]
    node_of_point[ends] = comp[1::2]
    node_of_point[interior] = n_junction + np.arange(int(interior.sum()))
    positions = np.concatenate([node_pos, pts[interior]])
    seg_mask = line_of[:-1] == line_of[1:]
    segments = np.stack([node_of_point[:-1][seg_mask], node_of_point[1:][seg_mask]], axis=1)
    seg_line = line_of[:-1][seg_mask]
    keep = segments[:, 0] != segments[:, 1]  # a 2-point closed line collapses
    segments, seg_line = segments[keep], seg_line[keep]
    constraints = np.zeros(len(positions), np.int64)
    constraints[:n_junction][dangling] = PINNED_NODE
    segments, positions, constraints, seg_line = _split_duplicates(segments, positions, constraints, seg_line, cell)
    used = np.zeros(len(positions), bool)
    used[segments.ravel()] = True
    remap = np.cumsum(used) - 1
    # DXA's Burgers vector and line sense follow the opposite sign convention to ParaDiS/ExaDiS and ddml (PK force
    # f = (sigma.b) x xi): a vacancy-type prismatic loop comes out of OVITO's DXA with b.A < 0 for the area A
    # of its line sense, where ddml has b.A > 0 (measured on a seeded vacancy loop, tests/test_md.py). b -> -b.
    network = DislocationNetwork(cell, cell.wrap(positions[used]), remap[segments], -b_lines[seg_line],
                                 None, constraints[used])
    return network


def _drop_repeats(points: np.ndarray, eps: float) -> np.ndarray:
    """Drop points equal (within eps) to their predecessor; the last point is always kept."""
    keep = np.r_[True, np.linalg.norm(np.diff(points, axis=0), axis=1) >= eps]
    if not keep[-1]:
        kept = np.flatnonzero(keep)
        if kept[-1] != 0:
            keep[kept[-1]] = False  # the last point replaces the first of its run
        keep[-1] = True
    return points[keep]


def _split_duplicates(segments, positions, constraints, seg_line, cell):
    """Split every repeated segment (same two nodes) at its middle, so the network has none."""
    key = np.sort(segments, axis=1)
    _, inverse, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    seen = np.zeros(len(counts), np.int64)
    dup = np.zeros(len(segments), bool)
    for s in np.flatnonzero(counts[inverse] > 1):  # rare: only repeated pairs are visited
        dup[s] = seen[inverse[s]] > 0
        seen[inverse[s]] += 1
    if not dup.any():
        return segments, positions, constraints, seg_line
    idx = np.flatnonzero(dup)
    r1 = positions[segments[idx, 0]]
    mid = r1 + 0.5 * cell.minimum_image(positions[segments[idx, 1]] - r1)
    new = len(positions) + np.arange(len(idx))
    tail = np.stack([new, segments[idx, 1]], axis=1)
    segments = segments.copy()
    segments[idx, 1] = new
    return (np.concatenate([segments, tail]), np.concatenate([positions, mid]),
            np.concatenate([constraints, np.zeros(len(idx), np.int64)]), np.concatenate([seg_line, seg_line[idx]]))
