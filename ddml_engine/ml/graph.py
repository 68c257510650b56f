"""Graph features of a dislocation network for the GNN mobility (Bertin, Bulatov & Zhou 2024, Eq. 4).

Node features (5):  N_i  = (n_i, F_i / f0, |F_i| / f0)
    n_i = 1 for a physical node (junction, end or pinned node, `DislocationNetwork.physical_nodes`), 0 for a
    discretization node; F_i the DDD nodal force (Pa*b^2) scaled by f0 = `force_scale` (1e9 Pa*b^2).
Edge features (9):  E_ij = (e_ij, b_ij, |b_ij|, (r_j - r_i) / l0, |r_j - r_i| / l0)
    e_ij = 0 for a glissile 1/2<111> segment, 1 otherwise (a <100> junction, or any other Burgers vector:
    "OTHER" is treated as sessile/junction); b_ij the Burgers vector of the directed edge i->j (units of b,
    b_ji = -b_ij); r_j - r_i the minimum-image segment vector (units of b) scaled by l0 = `length_scale`
    (1 by default, i.e. in b). Both directions of every segment are edges.

Edge convention: edge_index[0] = i (the node that receives the message), edge_index[1] = j, and the edge
carries b_ij and r_j - r_i. The paper lists 1 + 3 + 1 + 3 + 1 = 9 edge components.

The torch functions below (`node_features`, `directed_edges`, `minimum_image`, `features_from_tensors`) are
TorchScript-compatible; the exported model file compiles `node_features` and `directed_edges` into itself.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Optional, Sequence

import numpy as np
import torch

from ddml_engine.mobility.base import check_forces
from ddml_engine.network import GLISSILE_111, PINNED_NODE, DislocationNetwork

NODE_FEATURES = 5
EDGE_FEATURES = 9
FORCE_SCALE = 1e9  # Pa*b^2: nodal forces divided by this are of order one
LENGTH_SCALE = 1.0  # b


# ----------------------------------------------------------------------------------- torch feature kernels
def node_features(forces: torch.Tensor, node_flags: torch.Tensor, force_scale: float) -> torch.Tensor:
    """(N, 5) node features (n_i, F_i/f0, |F_i|/f0) from forces (N, 3) in Pa*b^2 and flags (N,)."""
    f = forces / force_scale
    norm = torch.linalg.vector_norm(f, dim=1, keepdim=True)
    return torch.cat([node_flags.to(f.dtype).reshape(-1, 1), f, norm], dim=1)


def directed_edges(segments: torch.Tensor, burgers: torch.Tensor, segment_vectors: torch.Tensor,
                   segment_flags: torch.Tensor, length_scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Both directions of every segment i->j: edge_index (2, 2M) and edge features (2M, 9).

    Edge s is i->j of segment s (b_ij, r_j - r_i); edge M + s is j->i (-b_ij, r_i - r_j).
    """
    seg = segments.to(torch.int64)
    edge_index = torch.cat([seg.t(), seg.flip(1).t()], dim=1)
    b = torch.cat([burgers, -burgers], dim=0)
    d = torch.cat([segment_vectors, -segment_vectors], dim=0) / length_scale
    flag = torch.cat([segment_flags, segment_flags], dim=0).to(b.dtype).reshape(-1, 1)
    features = torch.cat([flag, b, torch.linalg.vector_norm(b, dim=1, keepdim=True),
                          d, torch.linalg.vector_norm(d, dim=1, keepdim=True)], dim=1)
    return edge_index, features


def minimum_image(dx: torch.Tensor, cell_matrix: torch.Tensor, periodic: torch.Tensor) -> torch.Tensor:
    """Shortest periodic image of separations dx (..., 3); cell_matrix columns are the cell vectors.

    The integer image shift is detached, so gradients with respect to dx pass through unchanged.
    """
    frac = dx @ torch.linalg.inv(cell_matrix).t()
    shift = torch.where(periodic.to(torch.bool), torch.round(frac), torch.zeros_like(frac)).detach()
    return dx - shift @ cell_matrix.t()


def features_from_tensors(positions: torch.Tensor, segments: torch.Tensor, burgers: torch.Tensor,
                          node_flags: torch.Tensor, segment_flags: torch.Tensor, forces: torch.Tensor,
                          cell_matrix: torch.Tensor, periodic: Optional[torch.Tensor] = None,
                          force_scale: float = FORCE_SCALE, length_scale: float = LENGTH_SCALE,
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Torch-only feature builder: (node_features (N,5), edge_index (2,2M), edge_features (2M,9)).

    positions (N,3) b, segments (M,2), burgers (M,3) b, node_flags (N,), segment_flags (M,), forces (N,3)
    Pa*b^2, cell_matrix (3,3) with cell vectors as columns, periodic (3,) bools (all periodic when None).
    Differentiable with respect to positions and forces.
    """
    if periodic is None:
        periodic = torch.ones(3, dtype=torch.bool, device=positions.device)
    seg = segments.to(torch.int64)
    dx = positions[seg[:, 1]] - positions[seg[:, 0]]
    vectors = minimum_image(dx, cell_matrix.to(positions.dtype), periodic)
    edge_index, edge_feat = directed_edges(seg, burgers.to(positions.dtype), vectors, segment_flags, length_scale)
    return node_features(forces.to(positions.dtype), node_flags, force_scale), edge_index, edge_feat


# ----------------------------------------------------------------------------------- network -> arrays
def segment_flags(network: DislocationNetwork) -> np.ndarray:
    """e_ij per segment: 0 for glissile 1/2<111>, 1 for <100> junctions and any other Burgers vector."""
    return (network.segment_classes() != GLISSILE_111).astype(np.float64)


def raw_inputs(network: DislocationNetwork, forces: np.ndarray) -> dict[str, np.ndarray]:
    """The physical inputs of the exported model, as numpy arrays (float64 / int64).

    forces (N,3) Pa*b^2, node_flags (N,), segments (M,2), burgers (M,3) b, segment_vectors (M,3) b,
    segment_flags (M,).
    """
    return {"forces": check_forces(network, forces),
            "node_flags": network.physical_nodes().astype(np.float64),
            "segments": network.segments,
            "burgers": network.burgers,
            "segment_vectors": network.segment_vectors(),
            "segment_flags": segment_flags(network)}


# ----------------------------------------------------------------------------------- graphs and batches
@dataclass
class GraphBatch:
    """One graph or a mini-batch of disjoint graphs.

    node_features (N,5), edge_index (2,E) int64, edge_features (E,9), batch (N,) int64 graph of each node,
    num_graphs, pinned (N,) bool (nodes whose velocity is zero).
    """

    node_features: torch.Tensor
    edge_index: torch.Tensor
    edge_features: torch.Tensor
    batch: torch.Tensor
    num_graphs: int
    pinned: torch.Tensor

    @property
    def num_nodes(self) -> int:
        return int(self.node_features.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.shape[1])

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "GraphBatch":
        """Copy to a device and/or floating dtype (index tensors keep int64)."""
        def move(t: torch.Tensor) -> torch.Tensor:
            return t.to(device=device, dtype=dtype if t.is_floating_point() else None)
        return GraphBatch(**{f.name: (move(getattr(self, f.name)) if f.name != "num_graphs" else self.num_graphs)
                             for f in fields(self)})


def build_graph(network: DislocationNetwork, forces: np.ndarray, force_scale: float = FORCE_SCALE,
                length_scale: float = LENGTH_SCALE, dtype: torch.dtype = torch.float32,
                device: torch.device | str | None = None) -> GraphBatch:
    """Graph of one network with its nodal forces (N,3, Pa*b^2): features as in the module docstring."""
    raw = raw_inputs(network, forces)
    t = {k: torch.as_tensor(v, device=device) for k, v in raw.items()}
    nodes = node_features(t["forces"], t["node_flags"], force_scale)
    edge_index, edges = directed_edges(t["segments"], t["burgers"], t["segment_vectors"], t["segment_flags"],
                                       length_scale)
    n = network.num_nodes
    return GraphBatch(nodes.to(dtype), edge_index, edges.to(dtype),
                      torch.zeros(n, dtype=torch.int64, device=device), 1,
                      torch.as_tensor(network.constraints == PINNED_NODE, device=device))


def collate(graphs: Sequence[GraphBatch]) -> GraphBatch:
    """Disjoint union of graphs (or batches): node indices of each graph offset by the nodes before it."""
    if not graphs:
        raise ValueError("collate needs at least one graph")
    counts = torch.tensor([g.num_nodes for g in graphs], dtype=torch.int64)
    offsets = torch.cumsum(counts, 0) - counts
    graph_offsets = np.cumsum([0] + [g.num_graphs for g in graphs])
    device = graphs[0].edge_index.device
    return GraphBatch(
        torch.cat([g.node_features for g in graphs], 0),
        torch.cat([g.edge_index + int(o) for g, o in zip(graphs, offsets)], 1),
        torch.cat([g.edge_features for g in graphs], 0),
        torch.cat([g.batch + int(o) for g, o in zip(graphs, graph_offsets[:-1])], 0).to(device),
        int(graph_offsets[-1]),
        torch.cat([g.pinned for g in graphs], 0))
