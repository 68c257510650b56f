"""DXA dislocation lines held in memory (plain arrays, e.g. from OVITO's `data.dislocations`) -> network in b.

The same conversion as the .ca reader (`ddml_engine.io.ca`), whose junction-merging, point-dropping and
long-segment splitting it reuses, for callers that have the DXA result in memory instead of a file. No OVITO
import here: the caller extracts

    polylines        L arrays (P_k, 3), unwrapped line points in Å (OVITO `Line.points`)
    spatial_burgers  (L, 3) Burgers vectors in Å in the lab frame (OVITO `Line.spatial_burgers_vector`)
    next_end         (2L,) junction rings as a permutation of line ends: end e = 2*line + (0 tail/start,
                     1 head/end); next_end[e] is the next end of the same node's circular list (OVITO
                     `Connector.next_arm`); an end pointing to itself is a dangling 1-node (pinned)
    true_burgers     (L, 3) optional lattice-frame Burgers vectors in lattice units (`Line.true_burgers_vector`)

Burgers vectors (`burgers=`):
  "crystal" (default, needs true_burgers): the lattice vector crystal_axes @ S @ b_true (S one of the 24 cubic
      rotations) closest in direction to the spatial vector, divided by |1/2<111>| = sqrt(3)/2 (BCC) — exact
      lattice vectors in units of b, so 1/2<111> and <100> classify exactly. Raises ValueError when the spatial
      vector is more than `max_misorientation_deg` away from every candidate (crystal not oriented as assumed).
      (The per-crystallite orientation matrix is not readable from OVITO 3.17's Python API, so the snapping is
      done per line; for a vector only its image matters.)
  "spatial": spatial_burgers / b (carries the crystallite's mean elastic strain, ~0.2-1 %).
b (Å) for the length unit: `burgers_magnitude_angstrom`, else `material.burgers_m`, else the lattice constant
median(|b_spatial| / |b_true|) times sqrt(3)/2 (BCC).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ddml_engine.io.ca import ANGSTROM, CAFile, CALine, _build_network, _cubic_symmetry
from ddml_engine.network import Cell, DislocationNetwork

BCC_SHORTEST = 0.5 * np.sqrt(3.0)  # |1/2<111>| in lattice units


def junction_records(next_end: np.ndarray) -> np.ndarray:
    """.ca DISLOCATION_JUNCTIONS records (L, 2, 2) from a ring permutation of line ends.

    Record [d, 0] belongs to line d's end (head), [d, 1] to its start (tail); each is (is_end, other_line) of the
    next end in the ring.
    """
    next_end = np.asarray(next_end, np.int64).reshape(-1)
    n_ends = len(next_end)
    if n_ends % 2:
        raise ValueError(f"DXA junctions: need two ends per line, got {n_ends} entries")
    bad = np.flatnonzero((next_end < 0) | (next_end >= n_ends))
    if len(bad):
        e = int(bad[0])
        raise ValueError(f"DXA junctions: end {e} of line {e // 2} points to end {int(next_end[e])}, "
                         f"outside 0..{n_ends - 1}")
    if len(np.unique(next_end)) != n_ends:
        counts = np.bincount(next_end, minlength=n_ends)
        e = int(np.flatnonzero(counts > 1)[0])
        raise ValueError(f"DXA junctions: end {e} (line {e // 2}) is the successor of {int(counts[e])} ends; "
                         "junction rings must be a permutation of line ends")
    records = np.empty((n_ends // 2, 2, 2), np.int64)
    head, tail = next_end[1::2], next_end[0::2]
    records[:, 0, 0], records[:, 0, 1] = head % 2, head // 2
    records[:, 1, 0], records[:, 1, 1] = tail % 2, tail // 2
    return records


def snap_burgers(spatial: np.ndarray, true: np.ndarray, crystal_axes: np.ndarray | None = None,
                 max_misorientation_deg: float = 10.0, shortest: float = BCC_SHORTEST) -> np.ndarray:
    """Exact lattice Burgers vectors (L, 3) in units of b: crystal_axes @ S @ true closest to `spatial`."""
    spatial = np.asarray(spatial, float).reshape(-1, 3)
    true = np.asarray(true, float).reshape(-1, 3)
    if len(true) != len(spatial):
        raise ValueError(f"DXA: {len(spatial)} spatial but {len(true)} true Burgers vectors")
    axes = np.eye(3) if crystal_axes is None else np.asarray(crystal_axes, float)
    ops = axes[None] @ _cubic_symmetry()  # (24, 3, 3): lab <- crystal <- lattice frame variants
    candidates = np.einsum("kij,lj->lki", ops, true)  # (L, 24, 3)
    norm_c = np.linalg.norm(candidates, axis=2)
    norm_s = np.linalg.norm(spatial, axis=1)
    zero = np.flatnonzero((norm_s < 1e-12) | (norm_c[:, 0] < 1e-12))
    if len(zero):
        raise ValueError(f"DXA: line {int(zero[0])} has a zero Burgers vector")
    cosine = np.einsum("lki,li->lk", candidates, spatial) / (norm_c * norm_s[:, None])
    best = np.argmax(cosine, axis=1)
    angle = np.degrees(np.arccos(np.clip(cosine[np.arange(len(best)), best], -1.0, 1.0)))
    worst = int(np.argmax(angle)) if len(angle) else 0
    if len(angle) and angle[worst] > max_misorientation_deg:
        raise ValueError(f"DXA: the Burgers vector of line {worst} is {angle[worst]:.1f} degrees away from every "
                         "lattice vector of the given crystal axes: pass crystal_axes=, or burgers='spatial'")
    return candidates[np.arange(len(best)), best] / shortest


def infer_burgers_angstrom(spatial: np.ndarray, true: np.ndarray, shortest: float = BCC_SHORTEST) -> float:
    """b (Å) = median lattice constant |b_spatial| / |b_true| times the shortest family length (BCC)."""
    ratio = np.linalg.norm(spatial, axis=1) / np.maximum(np.linalg.norm(true, axis=1), 1e-300)
    if len(ratio) == 0:
        raise ValueError("DXA: no dislocation line to infer b from; give burgers_magnitude_angstrom or material")
    return float(np.median(ratio) * shortest)


def network_from_dxa(polylines: Sequence[np.ndarray], spatial_burgers: np.ndarray, next_end: np.ndarray,
                     cell_matrix: np.ndarray, cell_origin: Sequence[float] = (0.0, 0.0, 0.0),
                     pbc: Sequence[bool] = (True, True, True), *, true_burgers: np.ndarray | None = None,
                     burgers_magnitude_angstrom: float | None = None, material=None, burgers: str = "crystal",
                     crystal_axes: np.ndarray | None = None, max_misorientation_deg: float = 10.0,
                     duplicate_tolerance: float = 1e-6, source: str = "DXA") -> DislocationNetwork:
    """DXA network from in-memory arrays (Å, lab frame) in units of b; see the module docstring.

    Junction rings become single nodes (ends in different periodic images merged by minimum image), closed lines
    closed polygons, dangling ends PINNED_NODE, segments longer than 0.4 of the shortest periodic cell length
    split — exactly as `ddml_engine.io.ca.read_ca`.
    """
    if burgers not in ("crystal", "spatial"):
        raise ValueError(f"burgers must be 'crystal' or 'spatial', got '{burgers}'")
    n_lines = len(polylines)
    spatial = np.asarray(spatial_burgers, float).reshape(-1, 3)
    if len(spatial) != n_lines:
        raise ValueError(f"{source}: {n_lines} polylines but {len(spatial)} Burgers vectors")
    points = []
    for k, p in enumerate(polylines):
        p = np.asarray(p, float)
        if p.ndim != 2 or p.shape[1] != 3 or len(p) < 2:
            raise ValueError(f"{source}: line {k} needs at least 2 points of 3 coordinates, got shape {p.shape}")
        if not np.all(np.isfinite(p)):
            raise ValueError(f"{source}: line {k} has a non-finite point")
        points.append(p)
    records = junction_records(next_end)
    if len(records) != n_lines:
        raise ValueError(f"{source}: {n_lines} lines but junction rings for {len(records)}")
    true = None if true_burgers is None else np.asarray(true_burgers, float).reshape(-1, 3)
    if burgers == "crystal" and true is None:
        raise ValueError("burgers='crystal' needs true_burgers (lattice-frame Burgers vectors)")
    if burgers_magnitude_angstrom is None:
        if material is not None:
            burgers_magnitude_angstrom = material.burgers_m / ANGSTROM
        elif true is not None and n_lines:
            burgers_magnitude_angstrom = infer_burgers_angstrom(spatial, true)
        else:
            raise ValueError(f"{source}: give burgers_magnitude_angstrom, material or true_burgers to fix b")
    b_ang = float(burgers_magnitude_angstrom)
    if not b_ang > 0:
        raise ValueError(f"Burgers magnitude must be positive, got {b_ang}")
    cell = Cell(np.asarray(cell_matrix, float) / b_ang, np.asarray(cell_origin, float) / b_ang, tuple(pbc))
    if burgers == "crystal":
        b_lines = snap_burgers(spatial, true, crystal_axes, max_misorientation_deg)
    else:
        b_lines = spatial / b_ang
    lines = [CALine(k, np.zeros(3) if true is None else true[k], 0, p, None) for k, p in enumerate(points)]  # type: ignore[arg-type]
    ca = CAFile(6, cell.matrix, cell.origin, cell.periodic, lines=lines, junctions=records)
    return _build_network(source, ca, cell, b_lines, [p / b_ang for p in points], duplicate_tolerance / b_ang)
