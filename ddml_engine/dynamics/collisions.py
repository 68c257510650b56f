"""Proximity collisions: merge dislocation lines that come closer than the annihilation distance `rann`.

ParaDiS/ExaDiS use "retroactive" collisions (did two segments cross during the step?) and, in ParaDiS's
proximity mode, the closest approach of segment pairs; OpenDiS pydis (`HandleCol_Proximity`) tests segment
pairs from a cell list, inserts a node at the closest point of each segment (or reuses an end node when the
closest point is within rann of it) and merges the two nodes at their midpoint; ParaDiS also handles "hinges"
(two arms of one node folding onto each other) and node-node proximity.

What we do (one call = passes until nothing collides, at most `max_passes`):
1. candidates from a linked-cell search (`forces.neighbors.segment_pairs_within`, no O(M^2)): node pairs within
   rann that are not joined by a segment; segment pairs whose midpoints are within rann + max length;
2. events: node-node (distance), segment-segment without shared node (closest approach of two 3D segments
   under minimum image; parallel overlapping segments meet at the middle of their overlap), hinge (two segments
   sharing a node: the far end of one within rann of the other, not near the shared node);
3. events are taken greedily, closest first, skipping any event touching a node or segment already used this
   pass; for each, the meeting point on a segment is an end node when within rann of it, else a new node;
4. the two meeting nodes are merged at their midpoint (a pinned node keeps its place; two pinned nodes are never
   merged); arms that now join the same two nodes are combined by adding Burgers vectors and removed if the
   sum is zero (annihilation); a combined (junction) arm gets the glide plane b x t, zero if b is parallel to t.
Whether a junction node should split again is decided later by `split.split_multinodes`. Merged nodes keep
their arms' old glide planes even if the midpoint leaves them (no glide-plane projection as in ParaDiS).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ddml_engine.dynamics.topology import cleanup, insert_points, merge_node_pairs, pair_keys
from ddml_engine.forces.neighbors import segment_pairs_within
from ddml_engine.network import PINNED_NODE, DislocationNetwork

_PARALLEL_TOL = 1e-10  # (1 - cos^2) below which two segments are treated as parallel


# --------------------------------------------------------------------------------------------- geometry
def segment_closest_points(p1: np.ndarray, d1: np.ndarray, p2: np.ndarray,
                           d2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closest approach of segments p1 + s d1 and p2 + t d2 (s, t in [0, 1]), vectorised over rows.

    Returns (s, t, distance). Standard clamped minimisation of |p1 + s d1 - p2 - t d2|^2 (e.g. Ericson,
    Real-Time Collision Detection, 5.1.9); for (nearly) parallel segments s is the middle of the overlap of the
    two segments' projections on the first one (or its nearest end when they do not overlap).
    """
    r = p1 - p2
    a = np.einsum("ij,ij->i", d1, d1)
    e = np.einsum("ij,ij->i", d2, d2)
    b = np.einsum("ij,ij->i", d1, d2)
    c = np.einsum("ij,ij->i", d1, r)
    f = np.einsum("ij,ij->i", d2, r)
    a, e = np.maximum(a, 1e-300), np.maximum(e, 1e-300)
    denom = a * e - b * b
    parallel = denom <= _PARALLEL_TOL * a * e
    # general case: unconstrained s, clamped, then t, clamped, then s again
    s = np.clip((b * f - c * e) / np.where(parallel, 1.0, denom), 0.0, 1.0)
    # parallel: middle of the overlap of seg 2 projected on seg 1 ([u_lo, u_hi] in seg-1 parameter)
    u3, u4 = -c / a, (b - c) / a
    lo = np.maximum(0.0, np.minimum(u3, u4))
    hi = np.minimum(1.0, np.maximum(u3, u4))
    s_par = np.where(lo <= hi, 0.5 * (lo + hi), np.where(np.minimum(u3, u4) > 1.0, 1.0, 0.0))
    s = np.where(parallel, s_par, s)
    t = (b * s + f) / e
    t_clamped = np.clip(t, 0.0, 1.0)
    s = np.where(parallel | (t == t_clamped), s, np.clip((b * t_clamped - c) / a, 0.0, 1.0))
    t = t_clamped
    gap = p1 + s[:, None] * d1 - p2 - t[:, None] * d2
    return s, t, np.linalg.norm(gap, axis=1)


def point_segment_closest(x: np.ndarray, p: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fraction t in [0, 1] of the point of segment p + t d closest to x, and the distance (rows)."""
    t = np.clip(np.einsum("ij,ij->i", x - p, d) / np.maximum(np.einsum("ij,ij->i", d, d), 1e-300), 0.0, 1.0)
    return t, np.linalg.norm(p + t[:, None] * d - x, axis=1)


# --------------------------------------------------------------------------------------------- events
@dataclass
class _Events:
    """Candidate collisions, one row each. A side is (node, -1, 0) for an existing node or
    (-1, segment, fraction) for a point inside a segment."""

    distance: list = field(default_factory=list)
    kind: list = field(default_factory=list)  # 0 node-node, 1 segment-segment, 2 hinge
    side_a: list = field(default_factory=list)  # arrays (K, 3) of (node, segment, fraction)
    side_b: list = field(default_factory=list)

    def add(self, distance, kind, side_a, side_b) -> None:
        if len(distance):
            self.distance.append(np.asarray(distance, float))
            self.kind.append(np.full(len(distance), kind))
            self.side_a.append(np.asarray(side_a, float))
            self.side_b.append(np.asarray(side_b, float))

    def sorted(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self.distance:
            return np.zeros(0), np.zeros((0, 3)), np.zeros((0, 3))
        dist, kind = np.concatenate(self.distance), np.concatenate(self.kind)
        order = np.lexsort((kind, dist))
        return dist[order], np.concatenate(self.side_a)[order], np.concatenate(self.side_b)[order]


def _side(network: DislocationNetwork, seg: np.ndarray, frac: np.ndarray, lengths: np.ndarray,
          rann: float) -> np.ndarray:
    """Meeting point on segments: the end node when within rann of it, else (-1, seg, frac)."""
    near_start = frac * lengths < rann
    near_end = ~near_start & ((1.0 - frac) * lengths < rann)
    node = np.where(near_start, network.segments[seg, 0], np.where(near_end, network.segments[seg, 1], -1))
    inside = node < 0
    return np.stack([node, np.where(inside, seg, -1), np.where(inside, frac, 0.0)], axis=1)


def _node_node_events(network: DislocationNetwork, rann: float, joined: np.ndarray, events: _Events) -> None:
    pairs = segment_pairs_within(network.positions, network.cell, rann)
    if len(pairs) == 0:
        return
    pairs = pairs[~np.isin(pair_keys(pairs[:, 0], pairs[:, 1], network.num_nodes), joined)]
    dist = np.linalg.norm(network.cell.minimum_image(network.positions[pairs[:, 1]]
                                                     - network.positions[pairs[:, 0]]), axis=1)
    zeros = np.zeros(len(pairs))
    events.add(dist, 0, np.stack([pairs[:, 0], zeros - 1, zeros], 1), np.stack([pairs[:, 1], zeros - 1, zeros], 1))


def _segment_events(network: DislocationNetwork, rann: float, joined: np.ndarray, events: _Events) -> None:
    m = network.num_segments
    if m < 2:
        return
    r0, _ = network.segment_endpoints()
    vec = network.segment_vectors()
    lengths = np.linalg.norm(vec, axis=1)
    mid = r0 + 0.5 * vec
    pairs = segment_pairs_within(mid, network.cell, rann + lengths.max())
    if len(pairs) == 0:
        return
    i, j = pairs[:, 0], pairs[:, 1]
    seg = network.segments
    # image of segment j closest to segment i (by midpoints)
    mid_j = mid[i] + network.cell.minimum_image(mid[j] - mid[i])
    p_i, p_j = r0[i], mid_j - 0.5 * vec[j]
    shared = ((seg[i][:, :, None] == seg[j][:, None, :]).sum(axis=(1, 2)))

    free = shared == 0
    s, t, dist = segment_closest_points(p_i[free], vec[i][free], p_j[free], vec[j][free])
    close = dist < rann
    a = _side(network, i[free][close], s[close], lengths[i][free][close], rann)
    b = _side(network, j[free][close], t[close], lengths[j][free][close], rann)
    events.add(dist[close], 1, a, b)

    # hinges: segments i, j share node c; far node of one close to the other segment
    h = np.flatnonzero(shared == 1)
    if len(h) == 0:
        return
    hi, hj = i[h], j[h]
    common = np.where((seg[hi, 0] == seg[hj, 0]) | (seg[hi, 0] == seg[hj, 1]), seg[hi, 0], seg[hi, 1])
    for first, second, p_first, p_second in ((hi, hj, p_i[h], p_j[h]), (hj, hi, p_j[h], p_i[h])):
        far_is_end = seg[first, 0] == common
        far_node = np.where(far_is_end, seg[first, 1], seg[first, 0])
        far_pos = p_first + np.where(far_is_end, 1.0, 0.0)[:, None] * vec[first]
        tt, dist = point_segment_closest(far_pos, p_second, vec[second])
        close = dist < rann
        sides = _side(network, second[close], tt[close], lengths[second][close], rann)
        far = far_node[close]
        # not at the shared node (a short arm is remeshing's business), not at a node joined to the far node
        ok = sides[:, 0] != common[close]
        node_b = sides[:, 0].astype(np.int64)
        ok &= (node_b < 0) | ~np.isin(pair_keys(far, np.maximum(node_b, 0), network.num_nodes), joined)
        ok &= node_b != far
        zeros = np.zeros(int(ok.sum()))
        events.add(dist[close][ok], 2, np.stack([far[ok], zeros - 1, zeros], 1), sides[ok])


# --------------------------------------------------------------------------------------------- one pass
def _footprint(network: DislocationNetwork, offsets: np.ndarray, arm_seg: np.ndarray,
               side: np.ndarray) -> tuple[list[int], list[int]]:
    """Nodes and segments an event side touches: the moved node and its arms, or the cut segment and its ends."""
    node, seg = int(side[0]), int(side[1])
    if node >= 0:
        return [node], list(arm_seg[offsets[node]:offsets[node + 1]])
    return [int(x) for x in network.segments[seg]], [seg]


def _collision_pass(network: DislocationNetwork, rann: float) -> tuple[DislocationNetwork, int]:
    """Detect, select (greedy, closest first, disjoint footprints) and execute collisions; returns count."""
    joined = pair_keys(network.segments[:, 0], network.segments[:, 1], network.num_nodes)
    events = _Events()
    _node_node_events(network, rann, joined, events)
    _segment_events(network, rann, joined, events)
    _, side_a, side_b = events.sorted()
    if len(side_a) == 0:
        return network, 0
    offsets, arm_seg, _ = network.arms()
    pinned = network.constraints == PINNED_NODE
    used_node = np.zeros(network.num_nodes, bool)
    used_seg = np.zeros(network.num_segments, bool)
    accepted: list[tuple[np.ndarray, np.ndarray]] = []
    joined_set = set(joined.tolist())
    for a, b in zip(side_a, side_b):
        if a[0] >= 0 and b[0] >= 0:
            u, v = int(a[0]), int(b[0])
            if u == v or (pinned[u] and pinned[v]) or int(pair_keys(u, v, network.num_nodes)) in joined_set:
                continue  # same node, two pinned nodes, or a short segment (remeshing's business)
        nodes_a, segs_a = _footprint(network, offsets, arm_seg, a)
        nodes_b, segs_b = _footprint(network, offsets, arm_seg, b)
        nodes, segs = nodes_a + nodes_b, segs_a + segs_b
        if (used_node[nodes].any() or used_seg[segs].any() or len(set(segs)) < len(segs)
                or len(set(nodes)) < len(nodes)):
            continue
        used_node[nodes] = True
        used_seg[segs] = True
        accepted.append((a, b))
    if not accepted:
        return network, 0
    sides = np.array([s for pair in accepted for s in pair])  # (2K, 3): a0, b0, a1, b1, ...
    cut = sides[:, 0] < 0
    net, new_nodes = insert_points(network, sides[cut, 1].astype(np.int64), sides[cut, 2])
    meet = sides[:, 0].astype(np.int64)
    meet[cut] = new_nodes
    net = merge_node_pairs(net, meet.reshape(-1, 2))
    return cleanup(net), len(accepted)


def collide(network: DislocationNetwork, rann: float, max_passes: int = 20) -> DislocationNetwork:
    """Merge lines closer than `rann` (units of b) by proximity collisions; see module doc.

    Passes repeat until no event is left (or `max_passes`), so zipping of two lines (each merge brings the
    neighbouring nodes within rann) completes in one call.
    """
    if not rann > 0.0:
        raise ValueError(f"collide: rann must be positive, got {rann}")
    net = network
    for _ in range(max_passes):
        if net.num_segments == 0:
            break
        net, count = _collision_pass(net, rann)
        if count == 0:
            break
    return net
