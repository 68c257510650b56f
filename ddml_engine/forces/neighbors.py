"""Linked-cell neighbour search for segment pairs under periodic boundaries (minimum image).

`segment_pairs_within(midpoints, cell, cutoff)` lists every unordered pair (i < j) whose midpoints are closer
than `cutoff` under the minimum-image convention of `Cell.minimum_image`. Bins are laid out in fractional
coordinates with at least `cutoff` of perpendicular width each, so only the 27 surrounding bins are searched;
along a periodic axis with fewer than three bins every bin is searched once. Cost O(M + P), memory O(M + P).
"""
from __future__ import annotations

import numba as nb
import numpy as np

from ddml_engine.network import Cell
from ddml_engine.parallel import threads_for

from ._elastic_kernels import _image_shift

_OPTS = dict(cache=True, fastmath=False, nogil=True)


def _bin_layout(frac: np.ndarray, cell: Cell, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer bin coordinates (M, 3), bins per axis (3,), and whether neighbours wrap (3,)."""
    h = cell.matrix
    volume = cell.volume
    widths = np.array([volume / np.linalg.norm(np.cross(h[:, (k + 1) % 3], h[:, (k + 2) % 3]))
                       for k in range(3)])  # perpendicular width of the cell along each axis
    nbins = np.ones(3, dtype=np.int64)
    lo = np.zeros(3)
    span = np.ones(3)
    for k in range(3):
        if cell.periodic[k]:
            lo[k], span[k] = 0.0, 1.0
        else:
            lo[k] = frac[:, k].min() if len(frac) else 0.0
            span[k] = max((frac[:, k].max() - lo[k]) if len(frac) else 0.0, 1e-12)
        nbins[k] = max(1, int(np.floor(span[k] * widths[k] / cutoff)))
        nbins[k] = min(nbins[k], 1024)
    while np.prod(nbins) > 8 * len(frac) + 27:  # keep the bin table O(M)
        nbins[np.argmax(nbins)] = max(1, nbins[np.argmax(nbins)] // 2)
    coords = np.floor((frac - lo) / span * nbins).astype(np.int64)
    coords = np.clip(coords, 0, nbins - 1)
    return coords, nbins, np.array(cell.periodic, dtype=np.bool_)


@nb.njit(**_OPTS)
def _axis_range(k, b, nbins, wrap):
    """(first, last + 1) of the unwrapped neighbour bins along axis k: every bin once for a periodic axis with
    fewer than 3 bins, b-1..b+1 otherwise (clipped on open axes, wrapped later on periodic ones)."""
    n = nbins[k]
    if wrap[k]:
        if n < 3:
            return 0, n
        return b[k] - 1, b[k] + 2
    return max(b[k] - 1, 0), min(b[k] + 2, n)


@nb.njit(parallel=True, **_OPTS)
def _pairs_kernel(mid, order, start, bin_coord, nbins, wrap, h, hinv, periodic, cutoff2, fill, counts, pairs):
    """Count (fill=False) or write (fill=True) pairs i<j per segment i; counts holds per-segment offsets."""
    m = mid.shape[0]
    for i in nb.prange(m):
        b = bin_coord[i]
        x0, x1 = _axis_range(0, b, nbins, wrap)
        y0, y1 = _axis_range(1, b, nbins, wrap)
        z0, z1 = _axis_range(2, b, nbins, wrap)
        pos = counts[i] if fill else 0
        n = 0
        for bx in range(x0, x1):
            cx = bx % nbins[0]
            for by in range(y0, y1):
                cy = by % nbins[1]
                for bz in range(z0, z1):
                    cb = (cx * nbins[1] + cy) * nbins[2] + bz % nbins[2]
                    for s in range(start[cb], start[cb + 1]):
                        j = order[s]
                        if j <= i:
                            continue
                        dm = (mid[j, 0] - mid[i, 0], mid[j, 1] - mid[i, 1], mid[j, 2] - mid[i, 2])
                        sh = _image_shift(dm, h, hinv, periodic)
                        dx = dm[0] + sh[0]
                        dy = dm[1] + sh[1]
                        dz = dm[2] + sh[2]
                        if dx * dx + dy * dy + dz * dz < cutoff2:
                            if fill:
                                pairs[pos + n, 0] = i
                                pairs[pos + n, 1] = j
                            n += 1
        if not fill:
            counts[i] = n


def segment_pairs_within(midpoints: np.ndarray, cell: Cell, cutoff: float) -> np.ndarray:
    """Pairs (P, 2), i < j, of points closer than `cutoff` (minimum image), by a linked-cell search."""
    mid = np.ascontiguousarray(midpoints, dtype=np.float64).reshape(-1, 3)
    if not cutoff > 0.0:
        raise ValueError(f"cutoff must be positive, got {cutoff}")
    m = len(mid)
    if m < 2:
        return np.zeros((0, 2), dtype=np.int64)
    frac = cell.to_fractional(mid)
    frac = np.where(np.array(cell.periodic), frac - np.floor(frac), frac)
    coords, nbins, wrap = _bin_layout(frac, cell, cutoff)
    flat = (coords[:, 0] * nbins[1] + coords[:, 1]) * nbins[2] + coords[:, 2]
    order = np.argsort(flat, kind="stable").astype(np.int64)
    start = np.zeros(int(np.prod(nbins)) + 1, dtype=np.int64)
    np.cumsum(np.bincount(flat, minlength=int(np.prod(nbins))), out=start[1:])
    h = np.ascontiguousarray(cell.matrix)
    hinv = np.ascontiguousarray(cell.inverse)
    periodic = np.array(cell.periodic, dtype=np.bool_)
    counts = np.zeros(m, dtype=np.int64)
    dummy = np.zeros((0, 2), dtype=np.int64)
    args = (mid, order, start, coords, nbins, wrap, h, hinv, periodic, float(cutoff) ** 2)
    with threads_for(m):
        _pairs_kernel(*args, False, counts, dummy)
        offsets = np.zeros(m, dtype=np.int64)
        np.cumsum(counts[:-1], out=offsets[1:])
        pairs = np.empty((int(counts.sum()), 2), dtype=np.int64)
        _pairs_kernel(*args, True, offsets, pairs)
    return pairs
