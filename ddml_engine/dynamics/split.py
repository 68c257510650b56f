"""Splitting of multi-arm nodes by maximum dissipation (junction zipping and unzipping).

ParaDiS `SplitMultiNode` / ExaDiS `TopologySerial::split_multi_nodes`: for every node with >= 4 arms and every
way of sharing its arms between two nodes (each keeping >= 2 arms), split the node in place, compute the forces
and velocities of the two nodes, move the faster one a distance 2 rann along its velocity (both half-way when
they move in opposite directions), recompute forces and velocities, and keep the split whose dissipated power
F0.V0 + F1.V1 is largest, provided it exceeds the unsplit node's F.V and the two nodes move apart. The
segment joining the two nodes carries the Burgers vector Frank's rule requires (none if that is zero: the two
groups separate); its glide plane is the plane spanned by b and the separation direction (ExaDiS
`find_precise_glide_plane`), or zero when b is parallel to it.

What we do is the same, with two simplifications:
- forces come from the caller's `force_fn(network) -> (N, 3)` and velocities from
  `mobility.velocities(network, forces) -> (N, 3)`. With `local=True` (default) they are evaluated on a patch:
  the node, its neighbours and their arms (the far ends pinned). That captures the applied stress, line tension,
  self force and the interaction among nearby segments, but omits the elastic field of the rest of the network
  in the split decision (ParaDiS recomputes only the affected segment forces, but with all interactions).
  `local=False` uses the whole network for every trial (exact, expensive);
- no velocity-noise allowance (ExaDiS subtracts alpha*rtol/dt*|F|); `power_margin` plays that role.
During the trial at coincident positions the zero-length joining segment is left out (it carries no force).
"""
from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from ddml_engine.dynamics.topology import BURGERS_TOL, compact, fresh_tags, junction_planes
from ddml_engine.network import PINNED_NODE, DislocationNetwork

ForceFn = Callable[[DislocationNetwork], np.ndarray]


class VelocityModel(Protocol):
    def velocities(self, network: DislocationNetwork, forces: np.ndarray) -> np.ndarray: ...


_EPS_V = 1e-12  # speeds below this (b/s) count as zero


def arm_partitions(degree: int) -> list[np.ndarray]:
    """Ways to move a group of arms to a new node: index arrays of the moved arms, each with >= 2 arms moved
    and >= 2 left; arm 0 always stays, so each unordered partition appears once."""
    others = range(1, degree)
    return [np.array(c) for size in range(2, degree - 1) for c in itertools.combinations(others, size)]


def split_node(network: DislocationNetwork, node: int, moved_segments: np.ndarray, pos_node: np.ndarray,
               pos_new: np.ndarray, connect: bool = True) -> DislocationNetwork:
    """Move the arms `moved_segments` of `node` to a new node (appended, fresh tag, unconstrained).

    `node` goes to pos_node, the new node to pos_new. With `connect`, a segment node -> new carries
    b = -(sum of outgoing b of the arms left at node), so Frank's rule holds at both; it is omitted when zero.
    """
    moved = np.asarray(moved_segments, np.int64)
    n = network.num_nodes
    segments = network.segments.copy()
    for col in (0, 1):
        hit = moved[segments[moved, col] == node]
        segments[hit, col] = n
    positions = np.concatenate([network.positions, np.asarray(pos_new, float).reshape(1, 3)])
    positions[node] = pos_node
    burgers, planes = network.burgers, network.planes
    if connect:
        out = np.where(segments[:, 0] == node, 1.0, 0.0) - np.where(segments[:, 1] == node, 1.0, 0.0)
        b_conn = -(out[:, None] * burgers).sum(axis=0)
        if np.linalg.norm(b_conn) > BURGERS_TOL:
            direction = network.cell.minimum_image(np.asarray(pos_new, float) - np.asarray(pos_node, float))
            segments = np.concatenate([segments, [[node, n]]])
            burgers = np.concatenate([burgers, b_conn[None]])
            planes = np.concatenate([planes, junction_planes(b_conn[None], direction[None])])
    return DislocationNetwork(network.cell, positions, segments, burgers, planes,
                              np.concatenate([network.constraints, [0]]),
                              np.concatenate([network.tags, fresh_tags(network, 1)]))


@dataclass
class _Patch:
    network: DislocationNetwork
    node: int  # index of the multi-node in the patch
    arms: np.ndarray  # patch segment ids of its arms, in the order of the full network's arm list


def _patch(network: DislocationNetwork, node: int, arms: np.ndarray, offsets: np.ndarray, arm_seg: np.ndarray,
           local: bool) -> _Patch:
    """The node with its neighbours and all their arms; nodes beyond the neighbours are pinned."""
    if not local:
        return _Patch(network, node, arms)
    neighbours = np.unique(network.segments[arms].ravel())
    keep_seg = np.zeros(network.num_segments, bool)
    for k in neighbours:
        keep_seg[arm_seg[offsets[k]:offsets[k + 1]]] = True
    keep_node = np.zeros(network.num_nodes, bool)
    keep_node[network.segments[keep_seg].ravel()] = True
    outer = keep_node.copy()
    outer[neighbours] = False
    constraints = np.where(outer, PINNED_NODE, network.constraints)
    pinned = DislocationNetwork(network.cell, network.positions, network.segments, network.burgers,
                                network.planes, constraints, network.tags)
    patch = compact(pinned, keep_node, keep_seg)
    seg_index = np.cumsum(keep_seg) - 1
    node_index = np.cumsum(keep_node) - 1
    return _Patch(patch, int(node_index[node]), seg_index[arms])


def _node_power(net: DislocationNetwork, nodes: list[int], force_fn: ForceFn,
                mobility: VelocityModel) -> tuple[np.ndarray, np.ndarray]:
    forces = np.asarray(force_fn(net), float)
    vel = np.asarray(mobility.velocities(net, forces), float)
    return forces[nodes], vel[nodes]


def _separate(pos0: np.ndarray, v0: np.ndarray, v1: np.ndarray, distance: float) -> tuple | None:
    """Positions of the staying and new node after moving apart along their velocities (ExaDiS rule)."""
    s0, s1 = np.linalg.norm(v0), np.linalg.norm(v1)
    if s0 <= _EPS_V and s1 <= _EPS_V:
        return None
    u0 = v0 / s0 if s0 > _EPS_V else np.zeros(3)
    u1 = v1 / s1 if s1 > _EPS_V else np.zeros(3)
    if s0 > _EPS_V and s1 > _EPS_V and np.dot(u0, u1) < -0.99:  # opposite: both move half-way
        return pos0 + 0.5 * distance * u0, pos0 + 0.5 * distance * u1
    if s0 > s1:
        return pos0 + distance * u0, pos0.copy()
    return pos0.copy(), pos0 + distance * u1


def _best_split(patch: _Patch, force_fn: ForceFn, mobility: VelocityModel, distance: float,
                power_margin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(moved arm positions in the arm list, position of the node, position of the new node) or None."""
    net, k = patch.network, patch.node
    f, v = _node_power(net, [k], force_fn, mobility)
    best_power = float(f[0] @ v[0]) + power_margin
    best = None
    pos0 = net.positions[k].copy()
    new = net.num_nodes
    for moved in arm_partitions(len(patch.arms)):
        trial = split_node(net, k, patch.arms[moved], pos0, pos0, connect=False)
        f, v = _node_power(trial, [k, new], force_fn, mobility)
        placed = _separate(pos0, v[0], v[1], distance)
        if placed is None:
            continue
        trial = split_node(net, k, patch.arms[moved], placed[0], placed[1], connect=True)
        f, v = _node_power(trial, [k, new], force_fn, mobility)
        direction = trial.cell.minimum_image(placed[1] - placed[0])
        if np.dot(v[1] - v[0], direction) <= 0.0:  # the two nodes would merge again
            continue
        power = float(np.sum(f * v))
        if power > best_power:
            best_power, best = power, (moved, placed[0], placed[1])
    return best


def split_multinodes(network: DislocationNetwork, force_fn: ForceFn, mobility: VelocityModel,
                     split_distance: float = 1.0, local: bool = True, min_arm: float = 0.0,
                     power_margin: float = 0.0, max_degree: int = 10) -> DislocationNetwork:
    """Split every unpinned node of degree >= 4 where that dissipates more power (see module doc).

    split_distance: separation of the two new nodes (units of b; ParaDiS/ExaDiS use 2 rann).
    local: evaluate forces on a patch around the node (default) or on the whole network.
    min_arm: skip nodes with an arm shorter than this (ExaDiS: min(5, minseg/10)).
    power_margin: extra dissipation (Pa b^2 * b/s) a split must gain over the unsplit node.
    max_degree: nodes with more arms are left alone with a warning (2^(degree-1) trial splits).
    """
    net = network
    degree = net.node_degree()
    candidates = np.flatnonzero((degree >= 4) & (net.constraints != PINNED_NODE))
    for k in candidates:
        offsets, arm_seg, _ = net.arms()
        arms = arm_seg[offsets[k]:offsets[k + 1]]
        if len(arms) > max_degree:
            warnings.warn(f"split_multinodes: node {k} (tag {net.tags[k]}) has {len(arms)} arms > "
                          f"max_degree={max_degree}; not split", stacklevel=2)
            continue
        if len(arms) < 4 or np.min(net.segment_lengths()[arms]) < min_arm:
            continue
        patch = _patch(net, int(k), arms, offsets, arm_seg, local)
        best = _best_split(patch, force_fn, mobility, split_distance, power_margin)
        if best is not None:
            moved, pos_node, pos_new = best
            net = split_node(net, int(k), arms[moved], pos_node, pos_new, connect=True)
    return net
