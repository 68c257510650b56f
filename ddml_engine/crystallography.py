"""Burgers-vector families and segment classes of cubic crystals, named as a crystallographer writes them.

Network Burgers vectors are in units of b, the magnitude of the perfect dislocation (ParaDiS convention), with
the cube axes along the crystal's <100>. In units of the lattice parameter a they are b * |b|/a: BCC
b = a sqrt(3)/2 (1/2<111>), FCC b = a / sqrt(2) (1/2<110>). A vector v (in a) belongs to the family 1/d<hkl> when
d |v| sorted has the integer components (h, k, l) with gcd 1, for the smallest d in 1, 2, 3, 6.

Segment classes: BCC glissile 1/2<111>, binary junction <100>; FCC glissile 1/2<110> on {111}, Lomer 1/2<110>
off {111} (sessile), Hirth <100>, stair-rod 1/6<110>, Shockley partial 1/6<112>, Frank partial 1/3<111>.
"""
from __future__ import annotations

import math

import numpy as np

#: |b| / a of the perfect dislocation, by lattice
BURGERS_OVER_A = {"bcc": math.sqrt(3.0) / 2.0, "fcc": 1.0 / math.sqrt(2.0)}
PERFECT_FAMILY = {"bcc": "1/2<111>", "fcc": "1/2<110>"}
_DENOMINATORS = (1, 2, 3, 6)
_ORDER = {(1, 0, 0): "100", (1, 1, 0): "110", (1, 1, 1): "111", (2, 1, 1): "112", (2, 1, 0): "210",
          (2, 2, 1): "221", (3, 1, 1): "113"}  # the customary digit order of common directions
_CLASSES = {
    "bcc": {"1/2<111>": "glissile 1/2<111>", "<100>": "junction <100>", "<110>": "junction <110>"},
    "fcc": {"<100>": "Hirth lock <100>", "1/6<110>": "stair-rod 1/6<110>", "1/6<112>": "Shockley partial 1/6<112>",
            "1/3<111>": "Frank partial 1/3<111>"},
}


def family_names(burgers_b: np.ndarray, lattice: str, tol: float = 1e-3) -> np.ndarray:
    """Family name of every Burgers vector (M, 3) in units of b ('1/2<111>', '<100>', ...; '' if none fits)."""
    v = np.sort(np.abs(np.asarray(burgers_b, float).reshape(-1, 3)) * BURGERS_OVER_A[lattice], axis=1)[:, ::-1]
    names = np.full(len(v), "", dtype=object)
    left = np.ones(len(v), bool)
    for d in _DENOMINATORS:
        scaled = v * d
        ints = np.rint(scaled)
        fits = left & np.all(np.abs(scaled - ints) < tol * d, axis=1) & (ints[:, 0] > 0)
        for row in np.unique(ints[fits], axis=0):
            h, k, l = (int(x) for x in row)
            g = math.gcd(math.gcd(h, k), l)
            if g != 1:  # e.g. 2/2<110> is <110>: found at a smaller d already
                continue
            digits = _ORDER.get((h, k, l), f"{h}{k}{l}")
            names[fits & np.all(ints == row, axis=1)] = (f"1/{d}" if d > 1 else "") + f"<{digits}>"
        left &= names == ""
    return names


def infer_lattice(burgers_b: np.ndarray) -> str | None:
    """'bcc' or 'fcc': the lattice in which more segments are perfect dislocations; None for no segments."""
    if len(burgers_b) == 0:
        return None
    counts = {lat: int(np.sum(family_names(burgers_b, lat) == PERFECT_FAMILY[lat])) for lat in BURGERS_OVER_A}
    best = max(counts, key=counts.get)
    return best if counts[best] > 0 else None


def segment_class_names(burgers_b: np.ndarray, planes: np.ndarray, lattice: str) -> np.ndarray:
    """Class of every segment (module docstring); 'other <family>' for the rest, 'unrecognised' when no family."""
    families = family_names(burgers_b, lattice)
    table = _CLASSES[lattice]
    out = np.array([table.get(f, f"other {f}" if f else "unrecognised") for f in families], dtype=object)
    if lattice == "fcc":
        n = np.asarray(planes, float).reshape(-1, 3)
        norm = np.linalg.norm(n, axis=1)
        unit = np.abs(n) / np.where(norm > 0, norm, 1.0)[:, None]
        on_111 = (norm > 0) & np.all(np.abs(unit - 1.0 / math.sqrt(3.0)) < 1e-3, axis=1)
        perfect = families == "1/2<110>"
        out[perfect & on_111] = "glissile 1/2<110> on {111}"
        out[perfect & ~on_111 & (norm > 0)] = "Lomer 1/2<110> (sessile)"
        out[perfect & (norm == 0)] = "1/2<110> (plane unknown)"
    return out


def count(names: np.ndarray) -> dict[str, int]:
    """{name: count}, most frequent first."""
    values, counts = np.unique(np.asarray(names, dtype=str), return_counts=True)
    order = np.argsort(-counts, kind="stable")
    return {str(values[i]): int(counts[i]) for i in order}
