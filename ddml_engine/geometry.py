"""Builders of simple dislocation configurations for tests, probes and demos.

    line_direction(burgers, plane, character_deg)   unit line sense of given character angle in a glide plane
    line_frame(direction, plane)                     rotation whose rows are (t, n, t x n)
    straight_line(length, direction, burgers, plane, n_nodes, ...)   infinite periodic straight line
    circular_loop(center, radius, normal, burgers, n_nodes, cell)     closed polygonal loop

All vectors are in units of b. The default frame is the crystal frame: a straight line lives in an orthogonal
cell whose first cell vector runs along the line (the cell matrix is then rotated, not diagonal); with
`aligned=True` everything is expressed in the line frame instead (x along t, y along the plane normal n,
z along t x n) and the cell is diagonal — the crystal-to-lab rotation is `line_frame(direction, plane)`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ddml_engine.network import Cell, DislocationNetwork

ArrayLike3 = Sequence[float] | np.ndarray


def _unit(name: str, v: ArrayLike3) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64).reshape(3)
    norm = np.linalg.norm(v)
    if not np.isfinite(norm) or norm < 1e-12:
        raise ValueError(f"{name} must be a finite non-zero 3-vector, got {v.tolist()}")
    return v / norm


def line_direction(burgers: ArrayLike3, plane: ArrayLike3, character_deg: float) -> np.ndarray:
    """Unit line sense t = cos(theta) b^ + sin(theta) (n^ x b^): theta = 0 screw, 90 edge (b in the plane)."""
    b, n = _unit("burgers", burgers), _unit("plane", plane)
    if abs(b @ n) > 1e-8:
        raise ValueError(f"Burgers vector {np.asarray(burgers).tolist()} does not lie in plane {np.asarray(plane).tolist()}")
    theta = np.deg2rad(character_deg)
    return np.cos(theta) * b + np.sin(theta) * np.cross(n, b)


def line_frame(direction: ArrayLike3, plane: ArrayLike3) -> np.ndarray:
    """Rotation R (rows t, n, t x n) mapping crystal vectors to the line frame: x_line = R x_crystal."""
    t, n = _unit("direction", direction), _unit("plane", plane)
    if abs(t @ n) > 1e-8:
        raise ValueError(f"line direction {t.tolist()} does not lie in the plane with normal {n.tolist()}")
    return np.array([t, n, np.cross(t, n)])


def straight_line(length: float, direction: ArrayLike3, burgers: ArrayLike3, plane: ArrayLike3, n_nodes: int,
                  width: float | None = None, center: ArrayLike3 | None = None,
                  aligned: bool = False) -> DislocationNetwork:
    """Infinite straight dislocation, periodic along its own line, discretised into `n_nodes` equal segments.

    The cell is orthogonal with vectors (length t, width n, width t x n) (t line sense, n glide-plane normal),
    centred on `center` (default origin), periodic along all three. Nodes sit at center + (k - (n-1)/2)(length/n) t;
    segments k -> k+1 carry `burgers` (line sense t) and the last one wraps back to node 0 across the boundary.
    Each node represents a line length length/n_nodes. `aligned=True` rotates everything into the line frame.
    """
    if int(n_nodes) != n_nodes or n_nodes < 3:
        raise ValueError(f"a periodic straight line needs n_nodes >= 3 (minimum-image segments), got {n_nodes}")
    if not length > 0:
        raise ValueError(f"line length must be positive, got {length}")
    n_nodes = int(n_nodes)
    width = float(length if width is None else width)
    if not width > 0:
        raise ValueError(f"cell width must be positive, got {width}")
    rot = line_frame(direction, plane)
    t, n, m = rot
    b = np.asarray(burgers, dtype=np.float64).reshape(3)
    if np.linalg.norm(b) < 1e-12:
        raise ValueError("Burgers vector must be non-zero")
    if abs(b @ n) > 1e-8 * np.linalg.norm(b):
        raise ValueError(f"Burgers vector {b.tolist()} does not lie in the glide plane with normal {n.tolist()}")
    c = np.zeros(3) if center is None else np.asarray(center, dtype=np.float64).reshape(3)
    matrix = np.column_stack([length * t, width * n, width * m])
    origin = c - 0.5 * matrix.sum(axis=1)
    k = np.arange(n_nodes)
    positions = c + ((k - 0.5 * (n_nodes - 1)) * (length / n_nodes))[:, None] * t
    segments = np.column_stack([k, (k + 1) % n_nodes])
    burgers_arr = np.tile(b, (n_nodes, 1))
    planes = np.tile(n, (n_nodes, 1))
    if aligned:
        matrix, origin = rot @ matrix, rot @ origin
        positions, burgers_arr, planes = positions @ rot.T, burgers_arr @ rot.T, planes @ rot.T
    return DislocationNetwork(Cell(matrix, origin), positions, segments, burgers_arr, planes)


def circular_loop(center: ArrayLike3, radius: float, normal: ArrayLike3, burgers: ArrayLike3, n_nodes: int,
                  cell: Cell | None = None) -> DislocationNetwork:
    """Closed regular polygon of `n_nodes` nodes on a circle of `radius` about `center` in the plane of `normal`.

    Line sense counter-clockwise about `normal` (t = normal x radial direction); every segment carries `burgers`.
    Glide loop (b in the loop plane): all segment planes = normal. Otherwise (prismatic or mixed loop) each segment
    gets its own glide plane b x t (normal where the segment is screw). Node 0 lies along the in-plane part of b
    (any in-plane direction for a pure prismatic loop). Default cell: periodic cube of side 10 radius about center.
    """
    if int(n_nodes) != n_nodes or n_nodes < 3:
        raise ValueError(f"a loop needs n_nodes >= 3, got {n_nodes}")
    if not radius > 0:
        raise ValueError(f"loop radius must be positive, got {radius}")
    n_nodes = int(n_nodes)
    nrm = _unit("normal", normal)
    b = np.asarray(burgers, dtype=np.float64).reshape(3)
    bmag = np.linalg.norm(b)
    if bmag < 1e-12:
        raise ValueError("Burgers vector must be non-zero")
    c = np.asarray(center, dtype=np.float64).reshape(3)
    in_plane = b - (b @ nrm) * nrm
    if np.linalg.norm(in_plane) > 1e-8 * bmag:
        u = in_plane / np.linalg.norm(in_plane)
    else:
        trial = np.eye(3)[np.argmin(np.abs(nrm))]
        u = _unit("u", trial - (trial @ nrm) * nrm)
    v = np.cross(nrm, u)
    phi = 2.0 * np.pi * np.arange(n_nodes) / n_nodes
    positions = c + radius * (np.cos(phi)[:, None] * u + np.sin(phi)[:, None] * v)
    k = np.arange(n_nodes)
    segments = np.column_stack([k, (k + 1) % n_nodes])
    if cell is None:
        cell = Cell(np.eye(3) * 10.0 * radius, c - 5.0 * radius)
    if abs(b @ nrm) < 1e-8 * bmag:
        planes = np.tile(nrm, (n_nodes, 1))
    else:
        tvec = cell.minimum_image(positions[segments[:, 1]] - positions[segments[:, 0]])
        bxt = np.cross(b, tvec)
        norm = np.linalg.norm(bxt, axis=1)
        screw = norm < 1e-8 * bmag * np.linalg.norm(tvec, axis=1)
        planes = np.where(screw[:, None], nrm, bxt / np.where(screw, 1.0, norm)[:, None])
    return DislocationNetwork(cell, positions, segments, np.tile(b, (n_nodes, 1)), planes)
