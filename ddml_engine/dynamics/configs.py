"""Initial configurations: random 1/2<111> prismatic loops (BCC), periodic straight lines, Frank-Read sources.

Crystal axes are the lab axes. Line-sense convention (ParaDiS, PK force f = (sigma.b) x xi): a loop grown by
expansion carries plastic strain eps_p = -sym(b (x) A)/V, A the right-handed area vector of its line sense, so a
vacancy-type prismatic loop (material removed, tr eps_p < 0) has b.A > 0.
"""
from __future__ import annotations

import itertools

import numpy as np

from ddml_engine.network import PINNED_NODE, Cell, DislocationNetwork

BCC_111 = np.array([[1, 1, 1], [-1, 1, 1], [1, -1, 1], [1, 1, -1]], dtype=float) / np.sqrt(3.0)
BCC_110 = np.array([v for v in itertools.product((-1, 0, 1), repeat=3)
                    if sorted(map(abs, v)) == [0, 1, 1] and next(x for x in v if x) > 0], dtype=float) / np.sqrt(2.0)


def _polygon_network(cell: Cell, vertices: np.ndarray, burgers: np.ndarray, planes: np.ndarray,
                     maxseg: float) -> DislocationNetwork:
    """Closed polygon through `vertices` (in line-sense order), each edge split into pieces <= maxseg.

    Edge k runs from vertex k to vertex k+1 and glides on planes[k]; all segments carry `burgers`.
    """
    nxt = np.roll(vertices, -1, axis=0)
    pieces = np.maximum(1, np.ceil(np.linalg.norm(nxt - vertices, axis=1) / maxseg).astype(int))
    edge = np.repeat(np.arange(len(vertices)), pieces)
    fraction = np.concatenate([np.arange(p) / p for p in pieces])
    points = vertices[edge] + fraction[:, None] * (nxt - vertices)[edge]
    n = len(points)
    segments = np.stack([np.arange(n), (np.arange(n) + 1) % n], axis=1)
    return DislocationNetwork(cell, cell.wrap(points), segments, np.tile(burgers, (n, 1)), planes[edge])


def prismatic_loop(cell: Cell, center: np.ndarray, radius: float, burgers: np.ndarray, maxseg: float,
                   vacancy: bool = True) -> DislocationNetwork:
    """Hexagonal 1/2<111> prismatic loop normal to b with edges along the <112> traces of the three {110} planes
    that contain b (each edge glides on its {110} plane). `burgers` in units of b (|b| = 1)."""
    b = np.asarray(burgers, float)
    bhat = b / np.linalg.norm(b)
    planes = BCC_110[np.abs(BCC_110 @ bhat) < 1e-9]
    u = np.cross(planes[0], bhat)
    u /= np.linalg.norm(u)
    v = np.cross(bhat, u)
    angles = np.arange(6) * np.pi / 3.0
    vertices = np.asarray(center, float) + radius * (np.cos(angles)[:, None] * u + np.sin(angles)[:, None] * v)
    if not vacancy:  # interstitial: reverse the line sense (b.A < 0)
        vertices = vertices[::-1]
    edges = np.roll(vertices, -1, axis=0) - vertices
    normals = np.cross(edges, bhat)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return _polygon_network(cell, vertices, b, normals, maxseg)


def random_prismatic_loops(cell: Cell, count: int, radius: float | tuple[float, float], maxseg: float,
                           seed: int = 0, vacancy: bool = True) -> DislocationNetwork:
    """`count` hexagonal 1/2<111> prismatic loops at uniform random positions, random b among the four
    1/2<111> (random sign when `vacancy` is None), radius fixed or uniform in a (min, max) range."""
    rng = np.random.default_rng(seed)
    lo, hi = (radius, radius) if np.isscalar(radius) else radius
    loops = []
    for _ in range(count):
        center = cell.to_cartesian(rng.random(3))
        b = BCC_111[rng.integers(4)] * (1 if rng.random() < 0.5 else -1)
        loops.append(prismatic_loop(cell, center, rng.uniform(lo, hi), b, maxseg, vacancy=vacancy))
    return DislocationNetwork.concatenate(loops)


def frank_read_source(cell: Cell, center: np.ndarray, length: float, direction: np.ndarray,
                      burgers: np.ndarray, plane: np.ndarray, n_segments: int) -> DislocationNetwork:
    """Straight segment of `length` along `direction` in glide plane `plane`, both ends pinned."""
    t = np.asarray(direction, float) / np.linalg.norm(direction)
    s = np.linspace(-0.5, 0.5, n_segments + 1)[:, None] * length
    points = np.asarray(center, float) + s * t
    segments = np.stack([np.arange(n_segments), np.arange(1, n_segments + 1)], axis=1)
    constraints = np.zeros(n_segments + 1, dtype=np.int64)
    constraints[[0, -1]] = PINNED_NODE
    plane_n = np.asarray(plane, float) / np.linalg.norm(plane)
    return DislocationNetwork(cell, points, segments, np.tile(burgers, (n_segments, 1)),
                              np.tile(plane_n, (n_segments, 1)), constraints)


# Rational 1/2<111> line directions on {110} glide planes that are periodic in a cube: (t, b) in units of the
# cube axes, characters 0 (screw), 35.3, 54.7, 70.5 and 90 deg (edge).
PERIODIC_LINE_KINDS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "screw": ((1, 1, 1), (1, 1, 1)), "mixed35": ((1, 1, 0), (1, 1, 1)), "mixed55": ((0, 0, 1), (1, 1, 1)),
    "mixed71": ((-1, 1, 1), (1, 1, 1)), "edge": ((-1, -1, 2), (1, 1, 1))}


def periodic_line(cell: Cell, center: np.ndarray, direction: np.ndarray, burgers: np.ndarray, maxseg: float,
                  plane: np.ndarray | None = None) -> DislocationNetwork:
    """Infinite straight line through `center` along the integer cube direction `direction` of a cubic cell: it
    closes on itself after |direction| x L (L the cube side), split into equal segments <= maxseg. Glide plane
    b x t, or `plane` (needed for a screw)."""
    d = np.asarray(direction, float)
    length = float(np.linalg.norm(d @ cell.matrix.T))
    t = d / np.linalg.norm(d)
    n = max(3, int(np.ceil(length / maxseg)))
    points = np.asarray(center, float) + np.outer(np.arange(n) * (length / n), t)
    segments = np.stack([np.arange(n), (np.arange(n) + 1) % n], axis=1)
    b = np.asarray(burgers, float)
    plane = np.cross(b, t) if plane is None else np.asarray(plane, float)
    if np.linalg.norm(plane) < 1e-9:
        raise ValueError("a screw line needs its glide plane")
    plane = plane / np.linalg.norm(plane)
    return DislocationNetwork(cell, cell.wrap(points), segments, np.tile(b, (n, 1)), np.tile(plane, (n, 1)))


def random_periodic_lines(cell: Cell, count: int, maxseg: float, seed: int = 0) -> DislocationNetwork:
    """`count` infinite straight 1/2<111> lines of a cubic cell, each of a kind drawn uniformly from
    PERIODIC_LINE_KINDS (screw to edge), turned by a random proper cube rotation, with a random sign of b and a
    uniform random position: lines of every character, chosen without reference to any mobility law."""
    from ddml_engine.ml.symmetry import CUBE_ROTATIONS

    lengths = np.linalg.norm(cell.matrix, axis=0)
    if not np.allclose(cell.matrix, np.diag(lengths)) or not np.allclose(lengths, lengths[0]):
        raise ValueError("periodic straight lines need a cubic cell aligned with the crystal axes")
    rng = np.random.default_rng(seed)
    kinds = list(PERIODIC_LINE_KINDS.values())
    lines = []
    for _ in range(count):
        t, b = (np.asarray(v, float) for v in kinds[rng.integers(len(kinds))])
        rotation = CUBE_ROTATIONS[rng.integers(len(CUBE_ROTATIONS))]
        t, b = np.rint(rotation @ t), rotation @ b / np.linalg.norm(b)
        b = b if rng.random() < 0.5 else -b
        planes = BCC_110[np.abs(BCC_110 @ b) < 1e-9]
        plane = planes[rng.integers(len(planes))] if abs(abs(t @ b) - np.linalg.norm(t)) < 1e-9 else None
        lines.append(periodic_line(cell, cell.to_cartesian(rng.random(3)), t, b, maxseg, plane))
    return DislocationNetwork.concatenate(lines)
