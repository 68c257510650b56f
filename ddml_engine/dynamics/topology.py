"""Topology changes of a dislocation network: editing primitives, clean-up, tiny-loop removal, and the composed
operations remesh / collide / split_multinodes (implemented in `remesh.py`, `collisions.py`, `split.py`).

Every operation takes a `DislocationNetwork` and returns a new one (inputs are never mutated). Node tags of
surviving nodes are kept; new nodes get fresh tags max(tags)+1, ...; glide planes and constraints are carried.
Segment vectors are always minimum-image vectors, so positions may be wrapped into the cell or not.

Burgers-vector conservation (Frank's rule) is preserved by construction:
- inserting a node on a segment gives two segments with the same b;
- merging two nodes adds their (balanced) arm sums; the segment joining them, if any, drops out of both sums;
- arms that end up between the same two nodes are combined by adding their Burgers vectors (oriented alike);
  a zero sum means annihilation and the arms are removed;
- removing a closed loop (or a loop closed at one physical node) removes +b and -b from every node it touches.
"""
from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ddml_engine.network import PINNED_NODE, DislocationNetwork, NetworkError

#: Burgers vectors shorter than this (units of b) count as zero.
BURGERS_TOL = 1e-8
#: Segments shorter than this (units of b) are never created; existing ones are collapsed by `cleanup`.
TINY_LENGTH = 1e-6


# --------------------------------------------------------------------------------------------- primitives
def fresh_tags(network: DislocationNetwork, count: int) -> np.ndarray:
    """Tags for `count` new nodes: max(tags)+1, max(tags)+2, ..."""
    start = int(network.tags.max()) + 1 if network.num_nodes else 0
    return start + np.arange(count, dtype=np.int64)


def pair_keys(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Order-independent integer key of node pairs (a, b) for a network of n nodes."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    return np.minimum(a, b) * max(n, 1) + np.maximum(a, b)


def compact(network: DislocationNetwork, keep_nodes: np.ndarray | None = None,
            keep_segments: np.ndarray | None = None) -> DislocationNetwork:
    """Network restricted to kept nodes and segments; node indices renumbered by a keep mask -> index map."""
    keep_nodes = np.ones(network.num_nodes, bool) if keep_nodes is None else np.asarray(keep_nodes, bool)
    keep_segments = (np.ones(network.num_segments, bool) if keep_segments is None
                     else np.asarray(keep_segments, bool))
    segments = network.segments[keep_segments]
    dangling = ~keep_nodes[segments].all(axis=1)
    if np.any(dangling):
        bad = np.flatnonzero(keep_segments)[dangling]
        raise NetworkError(f"compact: kept segments {bad[:8].tolist()} refer to removed nodes")
    new_index = np.cumsum(keep_nodes) - 1
    return DislocationNetwork(network.cell, network.positions[keep_nodes], new_index[segments],
                              network.burgers[keep_segments], network.planes[keep_segments],
                              network.constraints[keep_nodes], network.tags[keep_nodes])


def insert_points(network: DislocationNetwork, segment_ids: np.ndarray,
                  fractions: np.ndarray) -> tuple[DislocationNetwork, np.ndarray]:
    """Insert nodes on segments at fractions t in (0, 1) of their (minimum-image) length.

    Several points may go on one segment. Each segment i->j with c points becomes c+1 segments
    i->n1->...->nc->j with the same Burgers vector and plane; new nodes sit on the straight segment, are
    unconstrained and get fresh tags (in input order). Returns the new network and the indices of the new nodes in input order.
    Segments are renumbered (the pieces of a segment are contiguous, in the original segment order).
    """
    seg = np.asarray(segment_ids, np.int64).reshape(-1)
    t = np.asarray(fractions, float).reshape(-1)
    if len(seg) != len(t):
        raise ValueError(f"insert_points: {len(seg)} segment ids but {len(t)} fractions")
    if len(seg) == 0:
        return network, np.zeros(0, np.int64)
    if np.any((t <= 0.0) | (t >= 1.0)):
        raise ValueError(f"insert_points: fractions must lie in (0, 1), got {t[(t <= 0) | (t >= 1)][:4]}")
    n, m = network.num_nodes, network.num_segments
    order = np.lexsort((t, seg))  # by segment, then along it
    seg_s, t_s = seg[order], t[order]
    r0, _ = network.segment_endpoints()
    new_pos = r0[seg_s] + t_s[:, None] * network.segment_vectors()[seg_s]
    new_ids_sorted = n + np.arange(len(seg))
    new_ids = np.empty_like(new_ids_sorted)
    new_ids[order] = new_ids_sorted

    count = np.bincount(seg_s, minlength=m)  # points per segment
    first_point = np.concatenate([[0], np.cumsum(count)[:-1]])  # index (sorted) of a segment's first point
    pieces = count + 1
    piece_seg = np.repeat(np.arange(m), pieces)
    k = np.arange(len(piece_seg)) - np.repeat(np.cumsum(pieces) - pieces, pieces)  # piece number along segment
    c = count[piece_seg]
    start = np.where(k == 0, network.segments[piece_seg, 0], n + first_point[piece_seg] + k - 1)
    end = np.where(k == c, network.segments[piece_seg, 1], n + first_point[piece_seg] + k)
    out = DislocationNetwork(network.cell, np.concatenate([network.positions, new_pos]),
                             np.stack([start, end], axis=1), network.burgers[piece_seg],
                             network.planes[piece_seg],
                             np.concatenate([network.constraints, np.zeros(len(seg), np.int64)]),
                             np.concatenate([network.tags, fresh_tags(network, len(seg))[order]]))
    return out, new_ids


def merge_node_pairs(network: DislocationNetwork, pairs: np.ndarray) -> DislocationNetwork:
    """Merge each node pair (u, v) into one node; every node may appear in at most one pair.

    The survivor is the pinned node if exactly one is pinned, else the lower index (an original node rather than
    one just inserted); it keeps its tag and
    takes the pinned node's position, or the midpoint (minimum image) when neither is pinned. All arms of the
    removed node are re-attached to the survivor. Merging two pinned nodes is refused. The result may hold
    self-segments and parallel arms: call `cleanup` (which combines and removes them) afterwards.
    """
    pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
    if len(pairs) == 0:
        return network
    if len(np.unique(pairs)) != pairs.size or np.any(pairs[:, 0] == pairs[:, 1]):
        raise NetworkError(f"merge_node_pairs: a node appears in more than one pair: {pairs[:8].tolist()}")
    pinned = network.constraints == PINNED_NODE
    u, v = pairs[:, 0], pairs[:, 1]
    if np.any(pinned[u] & pinned[v]):
        bad = pairs[pinned[u] & pinned[v]]
        raise NetworkError(f"merge_node_pairs: cannot merge two pinned nodes {bad[:4].tolist()}")
    swap = (pinned[v] & ~pinned[u]) | ((pinned[v] == pinned[u]) & (v < u))
    u, v = np.where(swap, v, u), np.where(swap, u, v)
    positions = network.positions.copy()
    midpoint = positions[u] + 0.5 * network.cell.minimum_image(positions[v] - positions[u])
    positions[u] = np.where(pinned[u][:, None], positions[u], midpoint)
    target = np.arange(network.num_nodes)
    target[v] = u
    return DislocationNetwork(network.cell, positions, target[network.segments], network.burgers,
                              network.planes, network.constraints, network.tags)


def junction_planes(burgers: np.ndarray, vectors: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """Glide-plane normals b x t / |b x t| of segments with line vectors `vectors`; zero rows where undefined
    (screw orientation, |b x t| <= tol |b||t|)."""
    n = np.cross(burgers, vectors)
    norm = np.linalg.norm(n, axis=1)
    scale = np.linalg.norm(burgers, axis=1) * np.linalg.norm(vectors, axis=1)
    ok = norm > tol * np.maximum(scale, 1e-300)
    return np.where(ok[:, None], n / np.where(ok, norm, 1.0)[:, None], 0.0)


def merge_duplicate_arms(network: DislocationNetwork, tol: float = BURGERS_TOL) -> DislocationNetwork:
    """Combine segments joining the same two nodes by adding their Burgers vectors; drop zero sums.

    Both arms are oriented from the lower to the higher node index before adding (b_ji = -b_ij). A segment
    that was not combined keeps its orientation, b and plane; a combined (junction) segment gets the plane
    b x t of its new Burgers vector, or zero when that is undefined (screw junction). Self-segments (i->i)
    are dropped: they contribute +b and -b to the same node.
    """
    net = network
    not_self = net.segments[:, 0] != net.segments[:, 1]
    if not np.all(not_self):
        net = compact(net, keep_segments=not_self)
    if net.num_segments == 0:
        return net
    key = pair_keys(net.segments[:, 0], net.segments[:, 1], net.num_nodes)
    uniq, first, inverse, counts = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
    if np.all(counts == 1):
        return net
    sign = np.where(net.segments[:, 0] < net.segments[:, 1], 1.0, -1.0)
    summed = np.zeros((len(uniq), 3))
    np.add.at(summed, inverse, net.burgers * sign[:, None])
    order = np.sort(first)  # keep groups in order of first appearance
    group = inverse[order]
    segments = net.segments[order].copy()
    burgers = net.burgers[order].copy()
    planes = net.planes[order].copy()
    multi = counts[group] > 1
    lo_hi = np.sort(segments[multi], axis=1)
    segments[multi] = lo_hi
    burgers[multi] = summed[group[multi]]
    vectors = net.cell.minimum_image(net.positions[lo_hi[:, 1]] - net.positions[lo_hi[:, 0]])
    planes[multi] = junction_planes(burgers[multi], vectors)
    keep = np.linalg.norm(burgers, axis=1) > tol
    return DislocationNetwork(net.cell, net.positions, segments[keep], burgers[keep], planes[keep],
                              net.constraints, net.tags)


def remove_zero_burgers(network: DislocationNetwork, tol: float = BURGERS_TOL) -> DislocationNetwork:
    """Drop segments whose Burgers vector is (numerically) zero."""
    keep = np.linalg.norm(network.burgers, axis=1) > tol
    return network if np.all(keep) else compact(network, keep_segments=keep)


def remove_orphans(network: DislocationNetwork) -> DislocationNetwork:
    """Drop nodes with no arms (degree 0)."""
    keep = network.node_degree() > 0
    return network if np.all(keep) else compact(network, keep_nodes=keep)


def collapse_tiny_segments(network: DislocationNetwork, eps: float = TINY_LENGTH) -> DislocationNetwork:
    """Merge the two end nodes of segments shorter than `eps` (never two pinned nodes), until none is left.

    Each pass merges a set of such segments that share no node (greedy, shortest first)."""
    net = network
    for _ in range(64):
        lengths = net.segment_lengths()
        short = np.flatnonzero(lengths < eps)
        if len(short) == 0:
            break
        pinned = net.constraints == PINNED_NODE
        used = np.zeros(net.num_nodes, bool)
        chosen = []
        for s in short[np.argsort(lengths[short], kind="stable")]:
            i, j = net.segments[s]
            if used[i] or used[j] or (pinned[i] and pinned[j]):
                continue
            used[i] = used[j] = True
            chosen.append((i, j))
        if not chosen:
            break
        net = merge_duplicate_arms(merge_node_pairs(net, np.array(chosen)))
        net = remove_orphans(net)
    return net


def cleanup(network: DislocationNetwork, tol: float = BURGERS_TOL) -> DislocationNetwork:
    """Self-segments and zero-Burgers segments removed, parallel arms combined, tiny segments collapsed,
    orphan nodes removed, indices compacted."""
    net = merge_duplicate_arms(network, tol)
    net = remove_zero_burgers(net, tol)
    net = collapse_tiny_segments(net)
    return remove_orphans(net)


# --------------------------------------------------------------------------------------------- tiny loops
def physical_links(network: DislocationNetwork) -> np.ndarray:
    """Link label of every segment (M,): segments joined through discretization nodes share a label.

    A link is a chain of segments between two physical nodes, a chain starting and ending at the same physical
    node (a loop closed at it), or a closed loop made of discretization nodes only.
    """
    m = network.num_segments
    if m == 0:
        return np.zeros(0, np.int64)
    offsets, arm_seg, _ = network.arms()
    disc = np.flatnonzero(~network.physical_nodes())
    s1, s2 = arm_seg[offsets[disc]], arm_seg[offsets[disc] + 1]
    graph = coo_matrix((np.ones(len(disc)), (s1, s2)), shape=(m, m))
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


def closed_links(network: DislocationNetwork, labels: np.ndarray) -> np.ndarray:
    """For each link label, True when the link is a closed loop: no physical end, or both ends at one node."""
    nlinks = int(labels.max()) + 1 if len(labels) else 0
    physical = network.physical_nodes()
    ends = network.segments.ravel()
    link_of_end = np.repeat(labels, 2)
    is_phys = physical[ends]
    count = np.bincount(link_of_end[is_phys], minlength=nlinks)
    lo = np.full(nlinks, np.iinfo(np.int64).max)
    hi = np.full(nlinks, -1)
    np.minimum.at(lo, link_of_end[is_phys], ends[is_phys])
    np.maximum.at(hi, link_of_end[is_phys], ends[is_phys])
    return (count == 0) | ((count == 2) & (lo == hi))


def remove_tiny_loops(network: DislocationNetwork, min_length: float) -> DislocationNetwork:
    """Remove closed loops shorter than `min_length` (units of b), then clean up.

    ExaDiS (`remove_small_loops`) parses the network into physical links and zeroes the Burgers vector of
    links of <= 4 segments that close on themselves and are shorter than max(1.5 minseg, 2 rann, 2a). We do the
    same with a length criterion only: a link counts as a loop when it is a connected component of
    discretization nodes (a simple cycle) or starts and ends at the same physical node. Such a loop carries the
    same b all along, so removing it keeps Frank's rule at the node it hangs from. Zero-Burgers arms and the
    nodes left without arms are removed by `cleanup`.
    """
    net = cleanup(network)
    if net.num_segments == 0:
        return net
    labels = physical_links(net)
    length = np.bincount(labels, weights=net.segment_lengths())
    tiny = closed_links(net, labels) & (length < min_length)
    if not np.any(tiny):
        return net
    return remove_orphans(compact(net, keep_segments=~tiny[labels]))


# --------------------------------------------------------------------------------------------- composed operations
def remesh(network: DislocationNetwork, maxseg: float, minseg: float,
           glide_planes: bool = True) -> DislocationNetwork:
    """Refine segments longer than `maxseg`, coarsen discretization nodes with an arm shorter than `minseg`
    (across glide-plane changes too when `glide_planes` is False). See `ddml_engine.dynamics.remesh.remesh`."""
    from ddml_engine.dynamics.remesh import remesh as _remesh

    return _remesh(network, maxseg, minseg, glide_planes)


def collide(network: DislocationNetwork, rann: float, **kwargs) -> DislocationNetwork:
    """Proximity collisions within `rann`. See `ddml_engine.dynamics.collisions.collide`."""
    from ddml_engine.dynamics.collisions import collide as _collide

    return _collide(network, rann, **kwargs)


def split_multinodes(network: DislocationNetwork, force_fn, mobility, **kwargs) -> DislocationNetwork:
    """Split nodes of degree >= 4 by maximum dissipation. See `ddml_engine.dynamics.split.split_multinodes`."""
    from ddml_engine.dynamics.split import split_multinodes as _split

    return _split(network, force_fn, mobility, **kwargs)
