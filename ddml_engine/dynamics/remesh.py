"""Remeshing: refine long segments and coarsen short ones, keeping the line geometry and Burgers vectors.

ParaDiS (`RemeshRule_2`) and ExaDiS (`RemeshSerial::refine_coarsen`) walk over segments: a segment longer than
maxseg is bisected at its midpoint (so very long segments need several steps), a segment shorter than minseg is
collapsed by merging a discretization end node into its neighbour; ExaDiS refuses to coarsen when the two arms
lie on different glide planes (unless the segment is tiny) and never merges into corner/pinned nodes.

What we do, vectorised over the network:
- refine: every segment of length L > maxseg is cut into ceil(L/maxseg) equal pieces in one go (new nodes on
  the straight segment, same b and plane), so line length and shape are unchanged; segments between two pinned
  nodes are left whole (as in ExaDiS: a node inserted there would be free);
- coarsen: a discretization node (two arms, same b through, not pinned) with an arm shorter than minseg is
  removed and its two neighbours joined by one segment, provided the new segment is no longer than maxseg,
  the neighbours are distinct and not already joined (a 3-node loop is never reduced further), and — when glide
  planes are enforced (`glide_planes=True`, ExaDiS's default for FCC) — the arms lie on parallel glide planes
  (or the node's longer arm is below 0.2 minseg, as in ExaDiS). BCC crystals do not enforce glide planes in
  ExaDiS (`Crystal::use_glide_planes = 0`, its remesh then merges any short segment at a 2-node whatever the
  planes), so `glide_planes=False` drops that condition and the new segment gets the plane b x t of its own
  line (zero for a screw). Each pass removes a
  set of non-adjacent nodes (local minima of the shorter-arm length); passes repeat until nothing changes, so a
  second `remesh` leaves the network as it is. Physical (junction) and pinned nodes are never removed.
"""
from __future__ import annotations

import numpy as np

from ddml_engine.dynamics.topology import TINY_LENGTH, compact, insert_points, junction_planes, pair_keys
from ddml_engine.network import PINNED_NODE, DislocationNetwork

_PLANE_PARALLEL_TOL = 1e-3  # |n1 x n2|^2 below this: same plane family (ExaDiS uses the same threshold)
#: Relative slack on maxseg: segments up to maxseg (1 + SLACK) are not refined, so that round-off in recomputed
#: lengths cannot make a second remesh refine again.
SLACK = 1e-9
MAX_PIECES = 1e7  # more pieces per segment than this is a units mistake in maxseg, not a discretisation


def refine(network: DislocationNetwork, maxseg: float) -> DislocationNetwork:
    """Cut every segment longer than `maxseg` into ceil(L/maxseg) equal straight pieces (maxseg with a relative
    slack of 1e-9, see SLACK), except segments whose two nodes are pinned."""
    if not maxseg > 0.0:
        raise ValueError(f"refine: maxseg must be positive, got {maxseg}")
    if not np.isfinite(maxseg) or network.num_segments == 0:
        return network
    lengths = network.segment_lengths()
    ratio = np.ceil(lengths / (maxseg * (1.0 + SLACK)))
    if ratio.max() > MAX_PIECES:
        raise ValueError(f"refine: maxseg = {maxseg} b would cut a {lengths.max():.4g} b segment into more than "
                         f"{MAX_PIECES:.0e} pieces")
    pieces = np.maximum(ratio.astype(np.int64), 1)
    pinned = network.constraints == PINNED_NODE
    pieces[pinned[network.segments[:, 0]] & pinned[network.segments[:, 1]]] = 1  # as ExaDiS: a new node there
    # would be free to move, turning a pinned back segment into a second source
    long = np.flatnonzero(pieces > 1)
    if len(long) == 0:
        return network
    per = pieces[long] - 1
    seg_ids = np.repeat(long, per)
    k = np.arange(len(seg_ids)) - np.repeat(np.cumsum(per) - per, per) + 1  # 1 .. pieces-1
    refined, _ = insert_points(network, seg_ids, k / pieces[seg_ids])
    return refined


def _coarsen_candidates(network: DislocationNetwork, minseg: float, maxseg: float,
                        glide_planes: bool = True) -> dict[str, np.ndarray]:
    """Discretization nodes that may be removed, with their arms, neighbours and shorter-arm length."""
    offsets, arm_seg, arm_sign = network.arms()
    nodes = np.flatnonzero(~network.physical_nodes())
    s1, s2 = arm_seg[offsets[nodes]], arm_seg[offsets[nodes] + 1]
    sg1, sg2 = arm_sign[offsets[nodes]], arm_sign[offsets[nodes] + 1]
    seg = network.segments
    p = np.where(sg1 > 0, seg[s1, 1], seg[s1, 0])  # neighbour along arm 1
    q = np.where(sg2 > 0, seg[s2, 1], seg[s2, 0])  # neighbour along arm 2
    vec = network.segment_vectors()
    to_p, to_q = vec[s1] * sg1[:, None], vec[s2] * sg2[:, None]
    l1, l2 = np.linalg.norm(to_p, axis=1), np.linalg.norm(to_q, axis=1)
    chord = to_q - to_p
    chord_len = np.linalg.norm(chord, axis=1)
    existing = np.isin(pair_keys(p, q, network.num_nodes),
                       pair_keys(seg[:, 0], seg[:, 1], network.num_nodes))
    n1, n2 = network.planes[s1], network.planes[s2]
    known = (np.linalg.norm(n1, axis=1) > 0) & (np.linalg.norm(n2, axis=1) > 0)
    parallel = ~known | (np.sum(np.cross(n1, n2) ** 2, axis=1) < _PLANE_PARALLEL_TOL)
    ok = ((np.minimum(l1, l2) < minseg) & (chord_len <= maxseg) & (chord_len > TINY_LENGTH) & (p != q)
          & ~existing & (parallel | (np.maximum(l1, l2) < 0.2 * minseg) | (not glide_planes)))
    return {"node": nodes[ok], "s1": s1[ok], "s2": s2[ok], "sign1": sg1[ok], "p": p[ok], "q": q[ok],
            "short": np.minimum(l1, l2)[ok], "l1": l1[ok], "l2": l2[ok], "chord": chord[ok],
            "parallel": parallel[ok]}


def _coarsen_pass(network: DislocationNetwork, minseg: float, maxseg: float,
                  glide_planes: bool = True) -> DislocationNetwork | None:
    """Remove one independent set of coarsening candidates; None when there is none."""
    c = _coarsen_candidates(network, minseg, maxseg, glide_planes)
    if len(c["node"]) == 0:
        return None
    # Rank candidates by shorter arm (ties by index); a node goes if it ranks before both neighbours.
    rank = np.full(network.num_nodes, np.iinfo(np.int64).max)
    rank[c["node"][np.lexsort((c["node"], c["short"]))]] = np.arange(len(c["node"]))
    mine = rank[c["node"]]
    chosen = (mine < rank[c["p"]]) & (mine < rank[c["q"]])
    # Two removals must not create the same new segment (4-node loops): keep the better-ranked one.
    keys = pair_keys(c["p"], c["q"], network.num_nodes)
    by_rank = np.flatnonzero(chosen)[np.argsort(mine[chosen], kind="stable")]
    _, first = np.unique(keys[by_rank], return_index=True)
    sel = by_rank[np.sort(first)]
    # New segment p -> q carries the Burgers vector flowing out of p along arm 1 (= minus that out of the node).
    b_new = -c["sign1"][sel, None] * network.burgers[c["s1"][sel]]
    longer = np.where(c["l1"][sel] >= c["l2"][sel], c["s1"][sel], c["s2"][sel])
    plane_new = np.where(c["parallel"][sel, None], network.planes[c["s1"][sel]], network.planes[longer])
    unknown = ~c["parallel"][sel]
    if np.any(unknown):  # arms on different planes: the plane containing b and the new line, if defined
        fitted = junction_planes(b_new[unknown], c["chord"][sel][unknown])
        has = np.linalg.norm(fitted, axis=1) > 0
        plane_new[np.flatnonzero(unknown)[has]] = fitted[has]
    keep_seg = np.ones(network.num_segments, bool)
    keep_seg[c["s1"][sel]] = keep_seg[c["s2"][sel]] = False
    keep_node = np.ones(network.num_nodes, bool)
    keep_node[c["node"][sel]] = False
    joined = DislocationNetwork(network.cell, network.positions,
                                np.concatenate([network.segments, np.stack([c["p"][sel], c["q"][sel]], 1)]),
                                np.concatenate([network.burgers, b_new]),
                                np.concatenate([network.planes, plane_new]),
                                network.constraints, network.tags)
    return compact(joined, keep_node, np.concatenate([keep_seg, np.ones(len(sel), bool)]))


def coarsen(network: DislocationNetwork, minseg: float, maxseg: float = np.inf,
            max_passes: int = 10_000, glide_planes: bool = True) -> DislocationNetwork:
    """Remove discretization nodes with an arm shorter than `minseg` until none can go (see module doc)."""
    if minseg <= 0.0:
        return network
    net = network
    for _ in range(max_passes):
        nxt = _coarsen_pass(net, minseg, maxseg, glide_planes)
        if nxt is None:
            break
        net = nxt
    return net


def remesh(network: DislocationNetwork, maxseg: float, minseg: float,
           glide_planes: bool = True) -> DislocationNetwork:
    """Refine (segments <= maxseg) then coarsen (arms >= minseg where possible); see module doc.

    Coarsening never creates a segment longer than maxseg, so every segment ends up <= maxseg (segments between
    two pinned nodes excepted), and a second call changes nothing.
    """
    if not (maxseg > 0.0 and minseg >= 0.0):
        raise ValueError(f"remesh: need maxseg > 0 and minseg >= 0, got maxseg={maxseg}, minseg={minseg}")
    return coarsen(refine(network, maxseg), minseg, maxseg, glide_planes=glide_planes)
