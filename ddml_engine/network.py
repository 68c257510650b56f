"""Periodic cell and dislocation network stored as arrays.

A network is a graph: nodes at positions r_i (units of b) and directed segments i->j carrying a Burgers
vector b_ij (units of b; b_ji = -b_ij) and a glide-plane normal. Frank's rule: at every node that is not
pinned, the sum of outgoing Burgers vectors vanishes.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np

# Node constraint flags (ParaDiS/ExaDiS convention).
UNCONSTRAINED = 0
PINNED_NODE = 7

# Segment classes for BCC crystals (see DislocationNetwork.segment_classes).
GLISSILE_111 = 0
JUNCTION_100 = 1
OTHER_BURGERS = 2


class NetworkError(ValueError):
    """A network that violates a structural rule; the message names the nodes or segments."""


def node_sum(nodes: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Sum per-item values (K, ...) into (n, ...) rows `nodes` (one bincount per flattened component)."""
    values = np.asarray(values, dtype=np.float64)
    flat = values.reshape(len(values), int(np.prod(values.shape[1:], dtype=np.int64)))  # also for K = 0
    out = np.empty((n, flat.shape[1]))
    for k in range(flat.shape[1]):
        out[:, k] = np.bincount(nodes, weights=flat[:, k], minlength=n)
    return out.reshape((n,) + values.shape[1:])


def _ids(indices: np.ndarray, limit: int = 8) -> str:
    shown = ", ".join(str(int(i)) for i in indices[:limit])
    return shown + (f", ... ({len(indices)} in all)" if len(indices) > limit else "")


@dataclass
class Cell:
    """Simulation cell: columns of `matrix` are the cell vectors (units of b), `origin` its lower corner."""

    matrix: np.ndarray
    origin: np.ndarray = field(default_factory=lambda: np.zeros(3))
    periodic: tuple[bool, bool, bool] = (True, True, True)

    def __post_init__(self) -> None:
        self.matrix = np.array(self.matrix, dtype=np.float64).reshape(3, 3)
        self.origin = np.array(self.origin, dtype=np.float64).reshape(3)
        self.periodic = tuple(bool(p) for p in self.periodic)  # type: ignore[assignment]
        if not np.all(np.isfinite(self.matrix)) or abs(np.linalg.det(self.matrix)) < 1e-12:
            raise NetworkError(f"cell matrix is singular or not finite: {self.matrix.tolist()}")
        self._inverse = np.linalg.inv(self.matrix)
        self._periodic_mask = np.array(self.periodic, dtype=bool)

    @classmethod
    def cubic(cls, length: float, centered: bool = False, periodic: Sequence[bool] = (True, True, True)) -> "Cell":
        """Cube of side `length`; `centered` puts the origin at -length/2 (ParaDiS style)."""
        origin = np.full(3, -0.5 * length if centered else 0.0)
        return cls(np.eye(3) * length, origin, tuple(periodic))  # type: ignore[arg-type]

    @classmethod
    def from_bounds(cls, lo: Sequence[float], hi: Sequence[float],
                    periodic: Sequence[bool] = (True, True, True)) -> "Cell":
        lo_a, hi_a = np.asarray(lo, float), np.asarray(hi, float)
        return cls(np.diag(hi_a - lo_a), lo_a, tuple(periodic))  # type: ignore[arg-type]

    @property
    def inverse(self) -> np.ndarray:
        return self._inverse

    @property
    def volume(self) -> float:
        return float(abs(np.linalg.det(self.matrix)))

    @property
    def lengths(self) -> np.ndarray:
        """Lengths of the three cell vectors."""
        return np.linalg.norm(self.matrix, axis=0)

    @property
    def center(self) -> np.ndarray:
        return self.origin + 0.5 * self.matrix.sum(axis=1)

    def to_fractional(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, float) - self.origin) @ self._inverse.T

    def to_cartesian(self, s: np.ndarray) -> np.ndarray:
        return np.asarray(s, float) @ self.matrix.T + self.origin

    def minimum_image(self, dx: np.ndarray) -> np.ndarray:
        """Shortest periodic image of separation vectors dx (..., 3) along periodic axes."""
        dx = np.asarray(dx, float)
        s = dx @ self._inverse.T
        s = s - np.where(self._periodic_mask, np.round(s), 0.0)
        return s @ self.matrix.T

    def image_shift(self, dx: np.ndarray) -> np.ndarray:
        """Integer cell-vector counts n such that dx - H n is the minimum image."""
        s = np.asarray(dx, float) @ self._inverse.T
        return np.where(self._periodic_mask, np.round(s), 0.0).astype(np.int64)

    def wrap(self, x: np.ndarray) -> np.ndarray:
        """Map points into the primary cell along periodic axes."""
        s = self.to_fractional(x)
        s = s - np.where(self._periodic_mask, np.floor(s), 0.0)
        return self.to_cartesian(s)

    def scaled(self, factor: float) -> "Cell":
        return Cell(self.matrix * factor, self.origin * factor, self.periodic)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Cell) and np.array_equal(self.matrix, other.matrix)
                and np.array_equal(self.origin, other.origin) and self.periodic == other.periodic)


@dataclass
class DislocationNetwork:
    """Nodes and directed segments as arrays.

    positions   (N, 3) float64  node positions (units of b)
    segments    (M, 2) int64    node indices (i, j) of segment i->j
    burgers     (M, 3) float64  Burgers vector of i->j (units of b)
    planes      (M, 3) float64  glide-plane normal of each segment (zeros when unknown)
    constraints (N,)   int64    UNCONSTRAINED (0) or PINNED_NODE (7)
    tags        (N,)   int64    stable node identifiers (file tags), defaults to 0..N-1
    """

    cell: Cell
    positions: np.ndarray
    segments: np.ndarray
    burgers: np.ndarray
    planes: np.ndarray | None = None
    constraints: np.ndarray | None = None
    tags: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.positions = np.array(self.positions, dtype=np.float64).reshape(-1, 3)
        self.segments = np.array(self.segments, dtype=np.int64).reshape(-1, 2)
        self.burgers = np.array(self.burgers, dtype=np.float64).reshape(-1, 3)
        n, m = len(self.positions), len(self.segments)
        self.planes = (np.zeros((m, 3)) if self.planes is None
                       else np.array(self.planes, dtype=np.float64).reshape(-1, 3))
        self.constraints = (np.zeros(n, dtype=np.int64) if self.constraints is None
                            else np.array(self.constraints, dtype=np.int64).reshape(-1))
        self.tags = (np.arange(n, dtype=np.int64) if self.tags is None
                     else np.array(self.tags, dtype=np.int64).reshape(-1))
        if len(self.burgers) != m or len(self.planes) != m:
            raise NetworkError(f"{m} segments but {len(self.burgers)} Burgers vectors and {len(self.planes)} planes")
        if len(self.constraints) != n or len(self.tags) != n:
            raise NetworkError(f"{n} nodes but {len(self.constraints)} constraints and {len(self.tags)} tags")

    # ----------------------------------------------------------------- sizes and geometry
    @property
    def num_nodes(self) -> int:
        return len(self.positions)

    @property
    def num_segments(self) -> int:
        return len(self.segments)

    def segment_vectors(self) -> np.ndarray:
        """r_j - r_i of every segment, minimum image under periodic boundaries (M, 3)."""
        dx = self.positions[self.segments[:, 1]] - self.positions[self.segments[:, 0]]
        return self.cell.minimum_image(dx)

    def segment_endpoints(self) -> tuple[np.ndarray, np.ndarray]:
        """(r_i, r_i + minimum-image(r_j - r_i)): unwrapped end points of every segment."""
        r1 = self.positions[self.segments[:, 0]]
        return r1, r1 + self.segment_vectors()

    def segment_lengths(self) -> np.ndarray:
        return np.linalg.norm(self.segment_vectors(), axis=1)

    def total_length(self) -> float:
        return float(self.segment_lengths().sum())

    def density(self, burgers_magnitude_m: float | None = None) -> float:
        """Line length per volume: in 1/b^2, or in 1/m^2 when the Burgers magnitude (m) is given."""
        rho = self.total_length() / self.cell.volume
        return rho / burgers_magnitude_m**2 if burgers_magnitude_m else rho

    def end_values_to_nodes(self, at_first: np.ndarray, at_second: np.ndarray) -> np.ndarray:
        """Sum per-segment values at the first (i) and second (j) ends, (M, ...) each, onto the nodes (N, ...)."""
        return node_sum(self.segments.T.ravel(), np.concatenate([at_first, at_second]), self.num_nodes)

    # ----------------------------------------------------------------- connectivity
    def node_degree(self) -> np.ndarray:
        return np.bincount(self.segments.ravel(), minlength=self.num_nodes)

    def arms(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Node-to-arm incidence in CSR form: (offsets (N+1,), arm segment (2M,), arm sign (2M,)).

        Arms of node k are arm_segment[offsets[k]:offsets[k+1]]; sign +1 when the segment leaves k
        (k is its first node), -1 when it arrives at k. The outgoing Burgers vector is sign*b.
        """
        m = self.num_segments
        ends = self.segments.T.ravel()  # first all i, then all j
        seg = np.concatenate([np.arange(m), np.arange(m)])
        sign = np.concatenate([np.ones(m, np.int64), -np.ones(m, np.int64)])
        order = np.argsort(ends, kind="stable")
        offsets = np.zeros(self.num_nodes + 1, dtype=np.int64)
        np.cumsum(np.bincount(ends, minlength=self.num_nodes), out=offsets[1:])
        return offsets, seg[order], sign[order]

    def burgers_balance(self) -> np.ndarray:
        """Sum of outgoing Burgers vectors at each node (N, 3); zero where Frank's rule holds."""
        total = np.zeros((self.num_nodes, 3))
        np.add.at(total, self.segments[:, 0], self.burgers)
        np.add.at(total, self.segments[:, 1], -self.burgers)
        return total

    def frank_violations(self, tol: float = 1e-6) -> np.ndarray:
        """Indices of unpinned nodes where the outgoing Burgers vectors do not sum to zero."""
        bad = np.linalg.norm(self.burgers_balance(), axis=1) > tol
        return np.flatnonzero(bad & (self.constraints != PINNED_NODE))

    # ----------------------------------------------------------------- crystallography (BCC)
    def segment_classes(self, rotation: np.ndarray | None = None, tol: float = 1e-3) -> np.ndarray:
        """BCC class of every segment: GLISSILE_111 (1/2<111>), JUNCTION_100 (<100>) or OTHER_BURGERS.

        Burgers vectors are in units of b = |1/2<111>|, so sqrt(3)*b has integer components:
        (+-1, +-1, +-1) for 1/2<111> and (+-2, 0, 0) for <100>. `rotation` maps lab to crystal axes.
        """
        b = self.burgers if rotation is None else self.burgers @ np.asarray(rotation, float).T
        scaled = np.abs(b) * np.sqrt(3.0)
        is_111 = np.all(np.abs(scaled - 1.0) < tol, axis=1)
        s = np.sort(scaled, axis=1)
        is_100 = (np.abs(s[:, 2] - 2.0) < tol) & (s[:, 1] < tol)
        return np.where(is_111, GLISSILE_111, np.where(is_100, JUNCTION_100, OTHER_BURGERS))

    def physical_nodes(self, tol: float = 1e-6) -> np.ndarray:
        """True for physical nodes (junction or end nodes, pinned nodes), False for discretization nodes.

        A discretization node has exactly two arms carrying the same Burgers vector through it.
        """
        offsets, arm_seg, arm_sign = self.arms()
        degree = np.diff(offsets)
        physical = (degree != 2) | (self.constraints == PINNED_NODE)
        two = np.flatnonzero(degree == 2)
        first, second = offsets[two], offsets[two] + 1
        b_out_1 = self.burgers[arm_seg[first]] * arm_sign[first, None]
        b_out_2 = self.burgers[arm_seg[second]] * arm_sign[second, None]
        physical[two] |= np.linalg.norm(b_out_1 + b_out_2, axis=1) > tol
        return physical

    # ----------------------------------------------------------------- validation
    def validate(self, check_frank: bool = True, min_length: float = 1e-8) -> None:
        """Raise NetworkError naming offending nodes/segments for any structural defect."""
        n = self.num_nodes
        if not np.all(np.isfinite(self.positions)):
            raise NetworkError(f"non-finite position at nodes {_ids(np.flatnonzero(~np.isfinite(self.positions).all(1)))}")
        for name in ("burgers", "planes"):
            arr = getattr(self, name)
            bad = np.flatnonzero(~np.isfinite(arr).all(1))
            if len(bad):
                raise NetworkError(f"non-finite {name} at segments {_ids(bad)}")
        out_of_range = np.flatnonzero(((self.segments < 0) | (self.segments >= n)).any(1))
        if len(out_of_range):
            raise NetworkError(f"segments {_ids(out_of_range)} refer to nodes outside 0..{n - 1}")
        loops = np.flatnonzero(self.segments[:, 0] == self.segments[:, 1])
        if len(loops):
            raise NetworkError(f"segments {_ids(loops)} connect a node to itself")
        zero_b = np.flatnonzero(np.linalg.norm(self.burgers, axis=1) < 1e-12)
        if len(zero_b):
            raise NetworkError(f"segments {_ids(zero_b)} have a zero Burgers vector")
        short = np.flatnonzero(self.segment_lengths() < min_length)
        if len(short):
            pairs = ", ".join(f"{int(s)} ({self.segments[s, 0]}-{self.segments[s, 1]})" for s in short[:8])
            raise NetworkError(f"zero-length segments: {pairs}")
        key = np.sort(self.segments, axis=1)
        _, first, counts = np.unique(key, axis=0, return_index=True, return_counts=True)
        dup = first[counts > 1]
        if len(dup):
            pairs = ", ".join(f"{key[s, 0]}-{key[s, 1]}" for s in dup[:8])
            raise NetworkError(f"duplicate segments between nodes {pairs}")
        if check_frank:
            bad = self.frank_violations()
            if len(bad):
                residual = np.linalg.norm(self.burgers_balance()[bad], axis=1)
                detail = ", ".join(f"node {int(k)} (tag {int(self.tags[k])}, |sum b|={r:.3g})"
                                   for k, r in zip(bad[:8], residual[:8]))
                raise NetworkError(f"Frank's rule violated at {len(bad)} unpinned nodes: {detail}")

    # ----------------------------------------------------------------- editing helpers
    def copy(self) -> "DislocationNetwork":
        return DislocationNetwork(self.cell, self.positions.copy(), self.segments.copy(), self.burgers.copy(),
                                  self.planes.copy(), self.constraints.copy(), self.tags.copy())

    def with_positions(self, positions: np.ndarray) -> "DislocationNetwork":
        """Same topology at new node positions (arrays other than positions are shared)."""
        return replace(self, positions=np.asarray(positions, float))

    def wrapped(self) -> "DislocationNetwork":
        """Node positions mapped into the primary cell (segments follow by minimum image)."""
        return self.with_positions(self.cell.wrap(self.positions))

    def relabelled(self, permutation: np.ndarray) -> "DislocationNetwork":
        """Network with node k renamed permutation[k] (and arrays reordered accordingly)."""
        perm = np.asarray(permutation, np.int64)
        inverse = np.empty_like(perm)
        inverse[perm] = np.arange(len(perm))
        return DislocationNetwork(self.cell, self.positions[inverse], perm[self.segments], self.burgers,
                                  self.planes, self.constraints[inverse], self.tags[inverse])

    @classmethod
    def concatenate(cls, parts: Sequence["DislocationNetwork"]) -> "DislocationNetwork":
        """Union of networks sharing the first one's cell (node indices are offset, tags renumbered)."""
        offsets = np.cumsum([0] + [p.num_nodes for p in parts])
        return cls(parts[0].cell,
                   np.concatenate([p.positions for p in parts]),
                   np.concatenate([p.segments + o for p, o in zip(parts, offsets)]),
                   np.concatenate([p.burgers for p in parts]),
                   np.concatenate([p.planes for p in parts]),
                   np.concatenate([p.constraints for p in parts]))

    def summary(self, lattice: str | None = None) -> dict:
        """Numbers for `ddml info`: sizes, length, density, Burgers families and segment classes of `lattice`
        ('bcc' / 'fcc'; inferred from the Burgers vectors when None), Frank's-rule check."""
        from ddml_engine.crystallography import count, family_names, infer_lattice, segment_class_names

        source = "given" if lattice else "inferred from the Burgers vectors"
        lattice = lattice or infer_lattice(self.burgers)
        families = count(family_names(self.burgers, lattice)) if lattice else {}
        classes = count(segment_class_names(self.burgers, self.planes, lattice)) if lattice else {}
        return {
            "lattice": lattice,
            "lattice_source": source if lattice else "no segments",
            "nodes": self.num_nodes,
            "segments": self.num_segments,
            "pinned_nodes": int(np.sum(self.constraints == PINNED_NODE)),
            "physical_nodes": int(self.physical_nodes().sum()),
            "total_length_b": self.total_length(),
            "cell_volume_b3": self.cell.volume,
            "density_per_b2": self.density(),
            "burgers_families": families,
            "segment_classes": classes,
            "frank_violations": int(len(self.frank_violations())),
        }
