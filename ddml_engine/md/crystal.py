"""Starting configurations for MD: a periodic BCC crystal seeded with vacancy-type 1/2<111> prismatic loops.

Each loop is a regular hexagon in the plane normal to its Burgers vector b = a/2 [s1 s2 s3], with vertices along
the three <112> directions of that plane; its six sides then run along <112> too and each lies in one of the three
{110} planes that contain b (the prismatic glide cylinder of a 1/2<111>{110} loop). The loop is made by
removing the slab of atoms it encloses (a disk one Burgers vector thick, i.e. three (222) planes) and closing the
cut with the Volterra displacement (`ddml_engine.md.synthetic.insert_loops`); the MD minimisation then relaxes the
core. Loop centres sit half-way between two atomic (222) planes of their family, at random (seeded) positions
kept a clearance apart (minimum image), with Burgers vectors drawn from the four <111> directions.

Lengths in Å (MD units). The cell is orthogonal with the cube axes along x, y, z; loading is along z = [001].
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ddml_engine.md.synthetic import AtomicCrystal, PolygonLoop, bcc_crystal, insert_loops, make_vacancy_type

#: The four 1/2<111> directions (sign conventions: +z component, or +y when on the equator is never needed).
BURGERS_111 = np.array([[1, 1, 1], [-1, 1, 1], [1, -1, 1], [-1, -1, 1]], dtype=float)


@dataclass
class LoopSpec:
    """One prismatic loop: centre (Å), Burgers direction (one of BURGERS_111), radius (Å, centre to vertex)."""

    centre: np.ndarray
    direction: np.ndarray
    radius: float


def hexagonal_prismatic_loop(a0: float, centre: np.ndarray, direction: np.ndarray, radius: float) -> PolygonLoop:
    """Vacancy-type loop, b = a0/2 * direction, hexagon in the plane normal to b with vertices and sides along
    <112> (each side in a {110} plane containing b). The centre is moved along b to the middle between
    two (222) atomic planes of that family, so that no atom sits on the cut."""
    s = np.asarray(direction, float)
    if s.shape != (3,) or not np.allclose(np.abs(s), 1.0):
        raise ValueError(f"loop direction must be a <111> vector with components +-1, got {direction}")
    n = s / np.sqrt(3.0)
    c = np.asarray(centre, float)
    # lattice sites have s.x = k a0/2; put s.c = (k + 1/2) a0/2
    c = c + ((0.25 * a0 - (s @ c) % (0.5 * a0)) / np.sqrt(3.0)) * n
    # a regular hexagon's sides are parallel to its vertex directions rotated by 120 degrees: vertices along
    # the <112> directions perpendicular to s give sides along <112> too (and the <110> directions bisect them)
    e1 = np.array([s[0], s[1], -2.0 * s[2]]) / np.sqrt(6.0)
    e2 = np.cross(n, e1)
    angles = np.arange(6) * np.pi / 3.0
    vertices = c + radius * (np.cos(angles)[:, None] * e1 + np.sin(angles)[:, None] * e2)
    return make_vacancy_type(PolygonLoop(vertices, 0.5 * a0 * s))


def random_loop_specs(cell_lengths: np.ndarray, count: int, radius: float, seed: int,
                      clearance: float = 4.0, max_tries: int = 10000) -> list[LoopSpec]:
    """`count` loops of `radius` (Å) at random positions in an orthogonal periodic box, centres at least
    2 radius + `clearance` (Å) apart by minimum image, Burgers directions drawn uniformly from the four <111>."""
    rng = np.random.default_rng(seed)
    lengths = np.asarray(cell_lengths, float)
    min_dist = 2.0 * radius + clearance
    if count > 0 and 2.0 * radius + clearance > lengths.min():
        raise ValueError(f"loop diameter {2 * radius:.1f} Å + clearance does not fit the box {lengths.tolist()} Å")
    specs: list[LoopSpec] = []
    tries = 0
    while len(specs) < count:
        tries += 1
        if tries > max_tries:
            raise ValueError(f"could not place {count} loops of radius {radius} Å in box {lengths.tolist()} Å "
                             f"after {max_tries} tries: fewer or smaller loops, or a bigger box")
        c = rng.random(3) * lengths
        d = BURGERS_111[rng.integers(4)] * rng.choice([-1.0, 1.0])
        if specs:
            dx = np.array([s.centre for s in specs]) - c
            dx -= lengths * np.round(dx / lengths)
            if np.linalg.norm(dx, axis=1).min() < min_dist:
                continue
        specs.append(LoopSpec(c, d, float(radius)))
    return specs


def loop_crystal(a0: float, cells: int | tuple[int, int, int], loops: list[LoopSpec]) -> AtomicCrystal:
    """BCC crystal of `cells` cubic unit cells (lattice constant a0, Å) with the given prismatic loops."""
    crystal = bcc_crystal(a0, cells)
    polygons = [hexagonal_prismatic_loop(a0, s.centre, s.direction, s.radius) for s in loops]
    return insert_loops(crystal, polygons) if polygons else crystal


def seeded_loop_crystal(a0: float, cells: int | tuple[int, int, int], num_loops: int, radius: float,
                        seed: int) -> tuple[AtomicCrystal, list[LoopSpec]]:
    """Crystal with `num_loops` random (seeded) vacancy-type 1/2<111> prismatic loops of `radius` (Å)."""
    lengths = np.broadcast_to(np.asarray(cells, int), (3,)) * a0
    specs = random_loop_specs(lengths, num_loops, radius, seed)
    return loop_crystal(a0, cells, specs), specs
