"""ParaDiS nodal data files (`.data`, dataFileVersion 4), as read by ParaDiS and ExaDiS.

Layout: a header of `key = value` / `key = [ v1 v2 ... ]` parameters (minCoordinates, maxCoordinates,
nodeCount, ...), a `domainDecomposition =` block, then `nodalData =` followed by one record per node:

    dom,index  x y z  num_arms  constraint
      dom,index(neighbour)  bx by bz        (one pair of lines per arm)
      nx ny nz

A tag may carry spaces after its comma (`0,    12`, as ExaDiS writes it). Every segment appears twice, once
from each end with opposite Burgers vectors. The reader builds each segment once, directed from the node that
comes first in the file to the other one, and checks the two copies (b_ji = -b_ij, parallel planes). Node tags (dom, index) are kept in `network.tags` as
dom * 2**32 + index, so a file with domain 0 gives tags equal to the indices. Lengths are in units of b
(ParaDiS convention); the cell is the periodic box [minCoordinates, maxCoordinates].

Round trips: read -> write -> read gives identical arrays (numbers are written as shortest exact
decimal, `repr`); write -> read -> write gives identical text. A network not read from a file comes back
in canonical order: segment i->j with i < j, sorted by first node, then by the original segment order.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ddml_engine.io._atomic import write_text_atomic
from ddml_engine.io.errors import FileFormatError
from ddml_engine.network import Cell, DislocationNetwork

DOMAIN_SHIFT = 32  # tag = domain << 32 | index
_INDEX_MASK = (1 << DOMAIN_SHIFT) - 1


def encode_tag(domain: np.ndarray | int, index: np.ndarray | int) -> np.ndarray:
    return (np.asarray(domain, np.int64) << DOMAIN_SHIFT) | np.asarray(index, np.int64)


def decode_tag(tag: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
    tag = np.asarray(tag, np.int64)
    return tag >> DOMAIN_SHIFT, tag & _INDEX_MASK


@dataclass
class _Header:
    values: dict[str, list[str]]
    lines: dict[str, int]
    nodal_line: int  # 0-based index of the line after "nodalData ="


def _strip_comment(line: str) -> str:
    cut = line.find("#")
    return line if cut < 0 else line[:cut]


def _nodal_tokens(line: str) -> list[str]:
    """Fields of a nodal-data line, the leading tag 'dom,index' as one field however it is spaced.

    ParaDiS writes `0,12`; ExaDiS writes `0,    12` (C format "%d, %4d"), which splits into `0,` and `12`.
    """
    tokens = _strip_comment(line).split()
    if len(tokens) >= 2 and (tokens[0].endswith(",") or tokens[1].startswith(",")) and tokens[0].count(",") + \
            tokens[1].count(",") == 1:
        tokens[:2] = [tokens[0] + tokens[1]]
    return tokens


def _parse_header(lines: list[str], path: str) -> _Header:
    values: dict[str, list[str]] = {}
    where: dict[str, int] = {}
    current: str | None = None
    bracket = False
    for k, raw in enumerate(lines):
        line = _strip_comment(raw).strip()
        if not line:
            continue
        if "=" in line and not bracket:
            key, _, rest = line.partition("=")
            key = key.strip()
            if key == "nodalData":
                return _Header(values, where, k + 1)
            values[key], where[key] = [], k + 1
            current = key
            rest = rest.strip()
            if rest.startswith("["):
                bracket, rest = True, rest[1:]
            line = rest
        if current is None:
            raise FileFormatError(path, k + 1, f"expected 'key = value', got '{raw.strip()}'")
        if bracket and "]" in line:
            line, bracket = line.replace("]", " "), False
        values[current].extend(line.split())
    raise FileFormatError(path, len(lines), "no 'nodalData =' section: not a ParaDiS data file or truncated")


def _header_number(header: _Header, key: str, path: str, count: int, kind=float) -> np.ndarray:
    if key not in header.values:
        raise FileFormatError(path, None, f"header parameter '{key}' is missing")
    tokens = header.values[key]
    if len(tokens) != count:
        raise FileFormatError(path, header.lines[key], f"'{key}' needs {count} value(s), got {len(tokens)}")
    try:
        values = np.array([float(t) for t in tokens])
    except ValueError:
        raise FileFormatError(path, header.lines[key], f"'{key}' has a non-numeric value: {tokens}") from None
    if not np.all(np.isfinite(values)):
        raise FileFormatError(path, header.lines[key], f"'{key}' is not finite: {tokens}")
    if kind is int:
        if np.any(values != np.round(values)) or np.any(np.abs(values) > 2**62):
            raise FileFormatError(path, header.lines[key], f"'{key}' must be a whole number, got {tokens}")
        return values.astype(np.int64)
    return values


def _to_float(tokens: list[list[str]], line_numbers: list[int], path: str, what: str) -> np.ndarray:
    """Convert rows of numeric tokens at once; on failure name the first bad line."""
    try:
        return np.array(tokens, dtype=np.float64)
    except ValueError:
        for row, number in zip(tokens, line_numbers):
            try:
                np.array(row, dtype=np.float64)
            except ValueError:
                raise FileFormatError(path, number, f"bad number in {what}: {' '.join(row)}") from None
        raise


def _parse_tags(tokens: list[str], line_numbers: list[int], path: str) -> np.ndarray:
    if not tokens:
        return np.zeros(0, np.int64)
    joined = ",".join(tokens)  # "d,i,d,i,..."
    parts = joined.split(",")
    if len(parts) != 2 * len(tokens):
        for t, number in zip(tokens, line_numbers):
            if t.count(",") != 1:
                raise FileFormatError(path, number, f"node tag must read 'domain,index', got '{t}'")
    try:
        pairs = np.array(parts, dtype=np.int64).reshape(-1, 2)
    except ValueError:
        for t, number in zip(tokens, line_numbers):
            try:
                np.array(t.split(","), dtype=np.int64)
            except ValueError:
                raise FileFormatError(path, number, f"node tag must be two integers 'domain,index', got '{t}'") from None
        raise
    if np.any(pairs < 0) or np.any(pairs[:, 1] > _INDEX_MASK):
        bad = int(np.flatnonzero((pairs < 0).any(1) | (pairs[:, 1] > _INDEX_MASK))[0])
        raise FileFormatError(path, line_numbers[bad], f"node tag out of range: '{tokens[bad]}'")
    return encode_tag(pairs[:, 0], pairs[:, 1])


def read_paradis(path: str | os.PathLike) -> DislocationNetwork:
    """Read a ParaDiS nodal data file (lengths in b) into a network; see the module docstring."""
    path = os.fspath(path)
    with open(path, "r", encoding="utf-8", errors="replace") as handle:
        lines = handle.read().splitlines()
    header = _parse_header(lines, path)
    version = _header_number(header, "dataFileVersion", path, 1, int)[0]
    if version < 4:
        raise FileFormatError(path, header.lines["dataFileVersion"],
                              f"dataFileVersion {version} is not supported (need 4 or later)")
    lo = _header_number(header, "minCoordinates", path, 3)
    hi = _header_number(header, "maxCoordinates", path, 3)
    if np.any(hi <= lo):
        raise FileFormatError(path, header.lines["maxCoordinates"], f"maxCoordinates {hi} not above minCoordinates {lo}")
    node_count = int(_header_number(header, "nodeCount", path, 1, int)[0])

    # Data lines of the nodal section, with 1-based line numbers.
    numbers, rows = [], []
    for k in range(header.nodal_line, len(lines)):
        tokens = _nodal_tokens(lines[k])
        if tokens:
            numbers.append(k + 1)
            rows.append(tokens)
    last_line = len(lines)

    # Walk the records: primary line (6 tokens), then 2 lines per arm (4 and 3 tokens).
    primary: list[int] = []
    arm_rows: list[int] = []
    arm_owner: list[int] = []
    r, total = 0, len(rows)
    while r < total:
        row = rows[r]
        if len(row) != 6:
            raise FileFormatError(path, numbers[r], f"expected node line 'dom,index x y z num_arms constraint', "
                                                    f"got {len(row)} fields: {' '.join(row)}")
        try:
            n_arms = int(row[4])
        except ValueError:
            raise FileFormatError(path, numbers[r], f"bad arm count '{row[4]}'") from None
        if n_arms < 0:
            raise FileFormatError(path, numbers[r], f"negative arm count {n_arms}")
        node = len(primary)
        primary.append(r)
        for a in range(n_arms):
            ra = r + 1 + 2 * a
            if ra + 1 >= total:
                raise FileFormatError(path, last_line, f"file ends inside the arms of node '{row[0]}' "
                                                       f"(line {numbers[r]}): truncated")
            if len(rows[ra]) != 4:
                raise FileFormatError(path, numbers[ra], f"expected arm line 'dom,index bx by bz', got "
                                                         f"{len(rows[ra])} fields: {' '.join(rows[ra])}")
            if len(rows[ra + 1]) != 3:
                raise FileFormatError(path, numbers[ra + 1], f"expected plane line 'nx ny nz', got "
                                                             f"{len(rows[ra + 1])} fields: {' '.join(rows[ra + 1])}")
            arm_rows.append(ra)
            arm_owner.append(node)
        r += 1 + 2 * n_arms
    if len(primary) != node_count:
        line = header.lines["nodeCount"] if len(primary) > node_count else last_line
        raise FileFormatError(path, line, f"nodeCount is {node_count} but the file holds {len(primary)} nodes"
                                          + (" (truncated?)" if len(primary) < node_count else ""))

    node_lines = [numbers[r] for r in primary]
    tags = _parse_tags([rows[r][0] for r in primary], node_lines, path)
    node_values = _to_float([rows[r][1:4] for r in primary], node_lines, path, "node position")
    constraint_tokens = [rows[r][5] for r in primary]
    try:
        constraints = np.array(constraint_tokens, dtype=np.int64)
    except ValueError:
        bad = next(i for i, t in enumerate(constraint_tokens) if not t.lstrip("-").isdigit())
        raise FileFormatError(path, node_lines[bad], f"bad constraint '{constraint_tokens[bad]}'") from None
    if not np.all(np.isfinite(node_values)):
        bad = int(np.flatnonzero(~np.isfinite(node_values).all(1))[0])
        raise FileFormatError(path, node_lines[bad], "non-finite node position")

    arm_lines = [numbers[r] for r in arm_rows]
    plane_lines = [numbers[r + 1] for r in arm_rows]
    arm_tags = _parse_tags([rows[r][0] for r in arm_rows], arm_lines, path) if arm_rows else np.zeros(0, np.int64)
    arm_b = _to_float([rows[r][1:4] for r in arm_rows], arm_lines, path, "Burgers vector").reshape(-1, 3)
    arm_n = _to_float([rows[r + 1] for r in arm_rows], plane_lines, path, "glide plane").reshape(-1, 3)
    for values, lines_of, what in ((arm_b, arm_lines, "Burgers vector"), (arm_n, plane_lines, "glide plane")):
        if not np.all(np.isfinite(values)):
            bad = int(np.flatnonzero(~np.isfinite(values).all(1))[0])
            raise FileFormatError(path, lines_of[bad], f"non-finite {what}")
    owner = np.array(arm_owner, dtype=np.int64)

    segments, burgers, planes = _pair_arms(path, tags, owner, arm_tags, arm_b, arm_n, node_lines, arm_lines)
    cell = Cell.from_bounds(lo, hi)
    return DislocationNetwork(cell, node_values, segments, burgers, planes, constraints, tags)


def _pair_arms(path, tags, owner, arm_tags, arm_b, arm_n, node_lines, arm_lines):
    """Match the two copies of every segment; return (segments, burgers, planes) built once each."""
    order = np.argsort(tags, kind="stable")
    sorted_tags = tags[order]
    dup = np.flatnonzero(sorted_tags[1:] == sorted_tags[:-1])
    if len(dup):
        k = int(order[dup[0] + 1])
        d, i = decode_tag(tags[k])
        raise FileFormatError(path, node_lines[k], f"node tag {d},{i} appears twice")
    m = len(arm_tags)
    if m == 0:
        return np.zeros((0, 2), np.int64), np.zeros((0, 3)), np.zeros((0, 3))
    where = np.searchsorted(sorted_tags, arm_tags)
    where = np.minimum(where, len(sorted_tags) - 1)
    unknown = np.flatnonzero(sorted_tags[where] != arm_tags)
    if len(unknown):
        a = int(unknown[0])
        d, i = decode_tag(arm_tags[a])
        raise FileFormatError(path, arm_lines[a], f"arm points to unknown node tag {d},{i}")
    neighbour = order[where]
    self_arm = np.flatnonzero(neighbour == owner)
    if len(self_arm):
        raise FileFormatError(path, arm_lines[int(self_arm[0])], "arm connects a node to itself")
    # Key each arm by its (owner, neighbour) pair; the reverse copy has the swapped key.
    n = len(tags)
    key = owner * n + neighbour
    rev = neighbour * n + owner
    key_order = np.argsort(key, kind="stable")
    sorted_key = key[key_order]
    twice = np.flatnonzero(sorted_key[1:] == sorted_key[:-1])
    if len(twice):
        a = int(key_order[twice[0] + 1])
        raise FileFormatError(path, arm_lines[a], "the same arm is listed twice for this node")
    pos = np.minimum(np.searchsorted(sorted_key, rev), m - 1)
    missing = np.flatnonzero(sorted_key[pos] != rev)
    if len(missing):
        a = int(missing[0])
        d, i = decode_tag(tags[owner[a]])
        raise FileFormatError(path, arm_lines[a], f"arm has no matching arm back to node {d},{i} "
                                                  f"at its other end")
    partner = key_order[pos]
    scale = np.maximum(1.0, np.abs(arm_b).max(axis=1))
    bad_b = np.flatnonzero(np.abs(arm_b + arm_b[partner]).max(axis=1) > 1e-6 * scale)
    if len(bad_b):
        a = int(bad_b[0])
        raise FileFormatError(path, arm_lines[a], f"Burgers vector {arm_b[a].tolist()} is not the opposite of "
                                                  f"{arm_b[partner[a]].tolist()} given for the same segment at "
                                                  f"line {arm_lines[int(partner[a])]}")
    cross = np.linalg.norm(np.cross(arm_n, arm_n[partner]), axis=1)
    norms = np.linalg.norm(arm_n, axis=1) * np.linalg.norm(arm_n[partner], axis=1)
    bad_n = np.flatnonzero(cross > 1e-6 * np.maximum(norms, 1.0))
    if len(bad_n):
        a = int(bad_n[0])
        raise FileFormatError(path, arm_lines[a] + 1, f"glide plane {arm_n[a].tolist()} differs from "
                                                      f"{arm_n[partner[a]].tolist()} given for the same segment "
                                                      f"at line {arm_lines[int(partner[a])] + 1}")
    forward = np.flatnonzero(owner < neighbour)  # file order of the first-listed end
    segments = np.stack([owner[forward], neighbour[forward]], axis=1)
    return segments, arm_b[forward], arm_n[forward]


# ----------------------------------------------------------------------------- writing
def _fmt(values: np.ndarray) -> list[str]:
    return [repr(float(v)) for v in np.asarray(values, np.float64).ravel()]


def format_paradis(network: DislocationNetwork) -> str:
    """Text of a ParaDiS dataFileVersion-4 file for `network` (orthogonal cell only)."""
    cell = network.cell
    if np.any(np.abs(cell.matrix - np.diag(np.diag(cell.matrix))) > 0):
        raise ValueError("ParaDiS data files hold only orthogonal (box) cells; this cell is skewed")
    lo = cell.origin
    hi = cell.origin + np.diag(cell.matrix)
    n = network.num_nodes
    dom, idx = decode_tag(network.tags)
    if len(np.unique(network.tags)) != n:
        raise ValueError("node tags must be unique to write a ParaDiS file")
    tag_text = [f"{d},{i}" for d, i in zip(dom.tolist(), idx.tolist())]

    offsets, arm_seg, arm_sign = network.arms()  # arms of each node ordered by segment index
    seg = network.segments
    other = np.where(arm_sign > 0, seg[arm_seg, 1], seg[arm_seg, 0])
    b_text = _fmt(network.burgers * 1.0)
    minus_b_text = _fmt(-network.burgers)
    n_text = _fmt(network.planes)
    pos_text = _fmt(network.positions)
    out = [
        "dataFileVersion = 4",
        "numFileSegments = 1",
        "minCoordinates = [",
        *[f"  {v}" for v in _fmt(lo)],
        "  ]",
        "maxCoordinates = [",
        *[f"  {v}" for v in _fmt(hi)],
        "  ]",
        f"nodeCount = {n}",
        "dataDecompType = 2",
        "dataDecompGeometry = [",
        "  1", "  1", "  1",
        "  ]",
        "",
        "#",
        "#  END OF DATA FILE PARAMETERS",
        "#",
        "",
        "domainDecomposition = ",
        "# Dom_ID  Minimum XYZ bounds   Maximum XYZ bounds",
        "  0  " + " ".join(_fmt(lo)) + "  " + " ".join(_fmt(hi)),
        "nodalData = ",
        "#  Primary lines: node_tag, x, y, z, num_arms, constraint",
        "#  Secondary lines: arm_tag, burgx, burgy, burgz, nx, ny, nz",
    ]
    constraints = network.constraints.tolist()
    for k in range(n):
        start, stop = int(offsets[k]), int(offsets[k + 1])
        out.append(f" {tag_text[k]} {pos_text[3 * k]} {pos_text[3 * k + 1]} {pos_text[3 * k + 2]} "
                   f"{stop - start} {constraints[k]}")
        for a in range(start, stop):
            s = int(arm_seg[a])
            b = b_text if arm_sign[a] > 0 else minus_b_text
            out.append(f"   {tag_text[int(other[a])]} {b[3 * s]} {b[3 * s + 1]} {b[3 * s + 2]}")
            out.append(f"       {n_text[3 * s]} {n_text[3 * s + 1]} {n_text[3 * s + 2]}")
    out.append("")
    return "\n".join(out)


def write_paradis(network: DislocationNetwork, path: str | os.PathLike) -> None:
    """Write `network` as a ParaDiS data file (atomically)."""
    write_text_atomic(path, format_paradis(network))
