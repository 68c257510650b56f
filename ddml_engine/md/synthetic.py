"""Synthetic atomistic crystals holding dislocation loops, to test the DXA -> network path.

A periodic BCC crystal is displaced by the Volterra field of closed polygonal loops, solid-angle
(Barnett) term only:

    u(x) = -b Omega(x) / (4 pi),

Omega the solid angle subtended at x by the loop (sign from the loop's traversal: right-hand rule, via
the Van Oosterom & Strackee (1983) triangle formula on a fan triangulation). This is not the elastic
solution (the continuous b x R terms are left out), but it has the right displacement jump b across the
loop's cut surface, which is all a Burgers circuit (DXA) measures. Periodic images of every loop are
summed over the 3x3x3 neighbouring cells, so the field mismatch across the boundary stays small for
loops well inside the box.

Loops whose Burgers vector leaves the loop plane (prismatic loops) need matter taken out: the cut is
made vacancy-type — the loop is traversed so that the far side moves towards the near side, and the atoms
of the slab that would overlap (polygon swept along the jump) are removed first.

Lengths are in Å here (MD units); `burgers` of a loop is the Volterra jump of u across the cut, u(+) - u(-)
with + on the side the right-hand-rule normal points to (so for a DXA line direction equal to the
traversal, the DXA Burgers vector may come out as +b or -b depending on its circuit convention).

Junction convention (checked with DXA in tests/test_io_ca.py): two loops with b1 and b2 that share one
straight edge produce b1 + b2 on that edge when both traverse it in the same direction, and b1 - b2 when
they traverse it in opposite directions. With b1 = 1/2[111], b2 = 1/2[-1-11], the same-direction choice
gives the [001] junction (|b1 + b2|^2 = a^2 < |b1|^2 + |b2|^2 = 3a^2/2, Frank-favourable), the opposite one
[110] (2a^2, unfavourable). `junction_loops_100` builds the former.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class AtomicCrystal:
    """Atoms (N, 3) in Å in a periodic cell whose columns are the cell vectors (Å), lower corner `origin`."""

    positions: np.ndarray
    cell: np.ndarray
    origin: np.ndarray
    lattice_constant: float

    @property
    def num_atoms(self) -> int:
        return len(self.positions)

    @property
    def lengths(self) -> np.ndarray:
        return np.linalg.norm(self.cell, axis=0)


@dataclass
class PolygonLoop:
    """Closed planar polygon (K, 3) in Å, traversed in the given order, with Volterra jump `burgers` (Å)."""

    vertices: np.ndarray
    burgers: np.ndarray

    def __post_init__(self) -> None:
        self.vertices = np.asarray(self.vertices, float).reshape(-1, 3)
        self.burgers = np.asarray(self.burgers, float).reshape(3)

    @property
    def normal(self) -> np.ndarray:
        """Unit normal by the right-hand rule of the traversal (vector area / |vector area|)."""
        area = self.vector_area
        return area / np.linalg.norm(area)

    @property
    def vector_area(self) -> np.ndarray:
        v = self.vertices - self.vertices.mean(axis=0)
        return 0.5 * np.cross(v, np.roll(v, -1, axis=0)).sum(axis=0)

    @property
    def perimeter(self) -> float:
        return float(np.linalg.norm(np.roll(self.vertices, -1, axis=0) - self.vertices, axis=1).sum())

    def reversed(self) -> "PolygonLoop":
        return PolygonLoop(self.vertices[::-1].copy(), self.burgers)


def bcc_crystal(lattice_constant: float, cells: int | tuple[int, int, int]) -> AtomicCrystal:
    """Periodic BCC crystal of n1 x n2 x n3 cubic unit cells, cube axes along x, y, z, origin at 0."""
    n = np.broadcast_to(np.asarray(cells, int), (3,))
    grid = np.stack(np.meshgrid(*[np.arange(k) for k in n], indexing="ij"), axis=-1).reshape(-1, 1, 3)
    basis = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]])
    positions = ((grid + basis[None]).reshape(-1, 3)) * lattice_constant
    return AtomicCrystal(positions, np.diag(n * lattice_constant).astype(float), np.zeros(3), float(lattice_constant))


def triangle_solid_angle(r1: np.ndarray, r2: np.ndarray, r3: np.ndarray) -> np.ndarray:
    """Signed solid angle of triangles seen from the origin (Van Oosterom & Strackee, IEEE TBME 1983).

    r1, r2, r3: (..., 3) vertex positions relative to the field point. Positive when r1, r2, r3 run
    anticlockwise seen from the field point (r1 . (r2 x r3) > 0).
    """
    n1, n2, n3 = (np.linalg.norm(r, axis=-1) for r in (r1, r2, r3))
    numerator = np.einsum("...i,...i->...", r1, np.cross(r2, r3))
    denominator = (n1 * n2 * n3 + np.einsum("...i,...i->...", r1, r2) * n3
                   + np.einsum("...i,...i->...", r1, r3) * n2 + np.einsum("...i,...i->...", r2, r3) * n1)
    return 2.0 * np.arctan2(numerator, denominator)


def polygon_solid_angle(points: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Solid angle (N,) of a closed polygon at points (N, 3): fan of triangles from the polygon's centroid.

    Jumps by 4 pi across the (fan) surface; seen from the side its right-hand-rule normal points to, a
    loop covers a negative solid angle.
    """
    points = np.asarray(points, float)
    v = np.asarray(vertices, float)
    centre = v.mean(axis=0)
    total = np.zeros(len(points))
    for a, b in zip(v, np.roll(v, -1, axis=0)):  # loop over the K polygon edges, vectorised over points
        total += triangle_solid_angle(centre - points, a - points, b - points)
    return total


def loop_displacement(points: np.ndarray, loop: PolygonLoop, cell: np.ndarray | None = None,
                      images: int = 1) -> np.ndarray:
    """Volterra displacement u = -b Omega / (4 pi) (Å) at points (N, 3), summed over periodic images.

    `cell` (columns = cell vectors) with `images` = 1 adds the 26 neighbouring images of the loop.
    """
    points = np.asarray(points, float)
    shifts = [np.zeros(3)]
    if cell is not None and images > 0:
        rng = range(-images, images + 1)
        shifts = [np.asarray(cell, float) @ np.array([i, j, k], float) for i in rng for j in rng for k in rng]
    omega = np.zeros(len(points))
    for shift in shifts:
        omega += polygon_solid_angle(points, loop.vertices + shift)
    return -np.outer(omega, loop.burgers) / (4.0 * np.pi)


def _jump(loop: PolygonLoop, eps: float = 1e-3) -> np.ndarray:
    """u(+) - u(-) across the cut at the polygon centroid (equals +-burgers)."""
    c, n = loop.vertices.mean(axis=0), loop.normal
    u = loop_displacement(np.array([c + eps * n, c - eps * n]), loop)
    return u[0] - u[1]


def _in_swept_prism(points: np.ndarray, loop: PolygonLoop, direction: np.ndarray) -> np.ndarray:
    """Points p + t*direction, p inside the (convex) polygon and 0 <= t < 1."""
    n = loop.normal
    c = loop.vertices.mean(axis=0)
    height = float(direction @ n)
    t = ((points - c) @ n) / height
    inside = (t >= 0.0) & (t < 1.0)
    projected = points - t[:, None] * direction[None, :]
    v = loop.vertices
    for a, b in zip(v, np.roll(v, -1, axis=0)):
        inside &= (np.cross(b - a, projected - a) @ n) >= 0.0
    return inside


def make_vacancy_type(loop: PolygonLoop) -> PolygonLoop:
    """Orient the traversal so that the cut closes (the + side moves towards the - side)."""
    jump = _jump(loop)
    return loop.reversed() if jump @ loop.normal > 0 else loop


def insert_loops(crystal: AtomicCrystal, loops: list[PolygonLoop], images: int = 1) -> AtomicCrystal:
    """Displace the crystal by the Volterra fields of `loops` (Å); remove the slab of prismatic loops.

    A loop whose Burgers vector has a component along its normal must be vacancy-type (see
    `make_vacancy_type`); the atoms in the polygon swept along -jump are removed before displacing.
    Positions are wrapped back into the cell.
    """
    positions = crystal.positions.copy()
    keep = np.ones(len(positions), bool)
    for loop in loops:
        if abs(loop.burgers @ loop.normal) > 1e-6 * np.linalg.norm(loop.burgers):
            jump = _jump(loop)
            if jump @ loop.normal > 0:
                raise ValueError("prismatic loop would open a gap: reverse it (make_vacancy_type) first")
            for shift in _image_shifts(crystal.cell, 1):
                keep &= ~_in_swept_prism(positions - shift, loop, -jump)
    positions = positions[keep]
    displacement = np.zeros_like(positions)
    for loop in loops:
        displacement += loop_displacement(positions, loop, crystal.cell, images)
    positions = positions + displacement
    frac = (positions - crystal.origin) @ np.linalg.inv(crystal.cell).T
    positions = (frac - np.floor(frac)) @ crystal.cell.T + crystal.origin
    return AtomicCrystal(positions, crystal.cell.copy(), crystal.origin.copy(), crystal.lattice_constant)


def _image_shifts(cell: np.ndarray, images: int) -> list[np.ndarray]:
    rng = range(-images, images + 1)
    return [np.asarray(cell, float) @ np.array([i, j, k], float) for i in rng for j in rng for k in rng]


# ----------------------------------------------------------------------------- ready-made configurations
def _unit(v) -> np.ndarray:
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


def prismatic_loop_111(crystal: AtomicCrystal, radius_cells: float = 3.0,
                       centre: np.ndarray | None = None) -> PolygonLoop:
    """Vacancy-type 1/2[111] prismatic loop: hexagon in the (111) plane with edges along <110>.

    `radius_cells`: centre-to-vertex distance in lattice constants. The default centre is the middle of
    the cell, put half-way between two (222) atomic planes so that no atom sits on the cut.
    """
    a0 = crystal.lattice_constant
    if centre is None:
        centre = crystal.origin + 0.5 * crystal.cell.sum(axis=1)
        centre = centre + (0.25 * a0 - np.sum(centre) % (0.5 * a0)) * _unit([1, 1, 1]) / np.sqrt(3.0)
    e1, e2 = _unit([1, 1, -2]), _unit([-1, 1, 0])  # vertices along <112>: edges along <110>
    angles = np.arange(6) * np.pi / 3.0
    vertices = centre + radius_cells * a0 * (np.cos(angles)[:, None] * e1 + np.sin(angles)[:, None] * e2)
    return make_vacancy_type(PolygonLoop(vertices, 0.5 * a0 * np.array([1.0, 1.0, 1.0])))


def junction_loops_100(crystal: AtomicCrystal, edge_cells: float = 6.0,
                       width_cells: float = 4.0) -> tuple[PolygonLoop, PolygonLoop]:
    """Two glide loops sharing a straight [100] edge that becomes a [001] junction.

    Loop 1: b1 = 1/2[111] on (01-1); loop 2: b2 = 1/2[-1-11] on (011). Both are rectangles with the shared
    edge (length `edge_cells` * a0 along [100]) traversed in the same direction, so it carries
    b1 + b2 = [001]; their other sides (`width_cells` * a0) go along [011] and [01-1] respectively.
    Both planes pass half-way between atomic planes.
    """
    a0 = crystal.lattice_constant
    middle = crystal.origin + 0.5 * crystal.cell.sum(axis=1)
    base = np.floor(middle / (0.5 * a0)) * 0.5 * a0  # y - z and y + z are multiples of a0/2 at lattice sites
    start = base + np.array([-0.5 * edge_cells * a0 + 0.1 * a0, 0.25 * a0, 0.0])
    edge = np.array([edge_cells * a0, 0.0, 0.0])
    side1 = width_cells * a0 * _unit([0, 1, 1])   # in (01-1)
    side2 = width_cells * a0 * _unit([0, 1, -1])  # in (011)
    p0, p1 = start, start + edge
    loop1 = PolygonLoop([p0, p1, p1 + side1, p0 + side1], 0.5 * a0 * np.array([1.0, 1.0, 1.0]))
    loop2 = PolygonLoop([p0, p1, p1 + side2, p0 + side2], 0.5 * a0 * np.array([-1.0, -1.0, 1.0]))
    return loop1, loop2


def write_lammps_data(crystal: AtomicCrystal, path, masses: tuple[float, ...] = (183.84,)) -> None:
    """LAMMPS data file (atom_style atomic, one atom type, Å), written atomically.

    The cell must be LAMMPS-shaped: a along x, b in the xy plane (columns of `crystal.cell`).
    Default mass: W (183.84 g/mol).
    """
    from ddml_engine.io._atomic import write_text_atomic

    h = np.asarray(crystal.cell, float)
    if abs(h[1, 0]) > 1e-12 or abs(h[2, 0]) > 1e-12 or abs(h[2, 1]) > 1e-12:
        raise ValueError("LAMMPS cells need a along x and b in the xy plane (upper-triangular cell matrix)")
    lo = crystal.origin
    hi = lo + np.diag(h)
    out = ["LAMMPS data file written by ddml_engine.md.synthetic", "", f"{crystal.num_atoms} atoms",
           f"{len(masses)} atom types", ""]
    out += [f"{float(lo[k])!r} {float(hi[k])!r} {axis}lo {axis}hi" for k, axis in enumerate("xyz")]
    if abs(h[0, 1]) > 0 or abs(h[0, 2]) > 0 or abs(h[1, 2]) > 0:
        out.append(f"{float(h[0, 1])!r} {float(h[0, 2])!r} {float(h[1, 2])!r} xy xz yz")
    out += ["", "Masses", ""] + [f"{k + 1} {float(m)!r}" for k, m in enumerate(masses)] + ["", "Atoms # atomic", ""]
    out += [f"{k + 1} 1 {x!r} {y!r} {z!r}" for k, (x, y, z) in enumerate(crystal.positions.tolist())]
    write_text_atomic(path, "\n".join(out) + "\n")
