"""GNN mobility model M_theta (Bertin, Bulatov & Zhou 2024, Eq. 4): V_i = M_theta(F_i, {N_j}, {E_jk}).

Encode -> K message-passing layers -> decode, every block an MLP with two hidden layers and GELU:

    v_i  = MLP_n(N_i),                    e_ij = MLP_e(E_ij)                      (encoders, no LayerNorm)
    e_ij <- e_ij + LN(MLP(e_ij, v_i, v_j))                                       (edge update, residual)
    v_i  <- v_i  + LN(MLP(v_i, sum_j e_ij))                                      (node update, residual)
    V_i  = velocity_scale * MLP_d(LN(v_i))    (last Linear without bias)         (decoder)

MLP(in, out) = Linear(in, H) -> GELU -> Linear(H, H) -> GELU -> Linear(H, out), H = latent.

Parameter count: with 5 node and 9 edge features, K = 3, latent 48 this arrangement has exactly 78,768
parameters, the number the paper reports for its best model. The count alone does not fix the arrangement
(several placements of the LayerNorms and feature counts give it); every one of them needs the last decoder
Linear without bias (all other counts are multiples of 48). This one puts the LayerNorm where the latent
states are updated and before decoding. The conventional alternative with LayerNorm after the encoders too
(MeshGraphNets style) is `encoder_norm=True` (+192 parameters).

Aggregation is a scatter-sum with index_add (no torch_geometric); the module is TorchScript-compatible.
The decoder output is O(1); `velocity_scale` (b/s) turns it into a velocity in b/s: with forces scaled by
1e9 Pa*b^2 and segments of ~10 b, V ~ M F / L ~ 1e3 /(Pa s) * 1e9 Pa b^2 / 10 b ~ 1e11 b/s.
"""
from __future__ import annotations

import torch
from torch import nn

from ddml_engine.ml.graph import EDGE_FEATURES, FORCE_SCALE, LENGTH_SCALE, NODE_FEATURES

VELOCITY_SCALE = 1e11  # b/s


class MLP(nn.Module):
    """Linear(in, H) -> GELU -> Linear(H, H) -> GELU -> Linear(H, out), optional LayerNorm at input or output."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int, norm: str = "none", out_bias: bool = True):
        super().__init__()
        if norm not in ("none", "input", "output"):
            raise ValueError(f"norm must be 'none', 'input' or 'output', got {norm!r}")
        self.norm_in = nn.LayerNorm(in_dim) if norm == "input" else nn.Identity()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, out_dim, bias=out_bias))
        self.norm_out = nn.LayerNorm(out_dim) if norm == "output" else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm_out(self.net(self.norm_in(x)))

    def after_first_linear(self, h: torch.Tensor) -> torch.Tensor:
        """The MLP from the output h of its first Linear on (no input LayerNorm: norm='none' or 'output')."""
        return self.norm_out(self.net[4](self.net[3](self.net[2](self.net[1](h)))))


class MessagePassingLayer(nn.Module):
    """Edge update e'_ij = e_ij + MLP(e_ij, v_i, v_j), then node update v'_i = v_i + MLP(v_i, sum_j e'_ij)."""

    def __init__(self, latent: int, hidden: int):
        super().__init__()
        self.edge_mlp = MLP(3 * latent, latent, hidden, norm="output")
        self.node_mlp = MLP(2 * latent, latent, hidden, norm="output")

    def forward(self, v: torch.Tensor, e: torch.Tensor, edge_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        i, j = edge_index[0], edge_index[1]
        # The edge MLP's first Linear on cat(e, v_i, v_j) is W_e e + W_i v_i + W_j v_j + c: the node terms are
        # multiplied once per node and gathered per edge (exact; with ~2 edges per node, fewer multiply-adds and
        # no (E, 3 latent) concatenation).
        first = self.edge_mlp.net[0]
        latent = e.shape[1]
        w_i, w_j = first.weight[:, latent:2 * latent], first.weight[:, 2 * latent:]
        node_terms = torch.mm(v, torch.cat([w_i, w_j], dim=0).t())
        hidden = w_i.shape[0]
        h = torch.addmm(first.bias, e, first.weight[:, :latent].t()) + node_terms[i, :hidden] + node_terms[j, hidden:]
        e = e + self.edge_mlp.after_first_linear(h)
        summed = torch.zeros_like(v).index_add_(0, i, e)
        v = v + self.node_mlp(torch.cat([v, summed], dim=1))
        return v, e


class GNNMobilityModel(nn.Module):
    """V (N,3) in b/s from node features (N,5), edge_index (2,E) and edge features (E,9) (see ml.graph).

    `force_scale` and `length_scale` record how the input features were scaled (used by the export wrapper);
    `velocity_scale` (b/s) multiplies the decoder output.
    """

    def __init__(self, latent: int = 48, layers: int = 3, hidden: int | None = None,
                 node_in: int = NODE_FEATURES, edge_in: int = EDGE_FEATURES, encoder_norm: bool = False,
                 velocity_scale: float = VELOCITY_SCALE, force_scale: float = FORCE_SCALE,
                 length_scale: float = LENGTH_SCALE):
        super().__init__()
        hidden = latent if hidden is None else hidden
        enc = "output" if encoder_norm else "none"
        self.node_encoder = MLP(node_in, latent, hidden, norm=enc)
        self.edge_encoder = MLP(edge_in, latent, hidden, norm=enc)
        self.processor = nn.ModuleList([MessagePassingLayer(latent, hidden) for _ in range(layers)])
        self.decoder = MLP(latent, 3, hidden, norm="input", out_bias=False)
        self.velocity_scale = float(velocity_scale)
        self.force_scale = float(force_scale)
        self.length_scale = float(length_scale)
        self.node_in, self.edge_in = int(node_in), int(edge_in)
        self._config = {"latent": latent, "layers": layers, "hidden": hidden, "node_in": node_in,
                        "edge_in": edge_in, "encoder_norm": encoder_norm, "velocity_scale": self.velocity_scale,
                        "force_scale": self.force_scale, "length_scale": self.length_scale}

    @torch.jit.ignore
    def config(self) -> dict:
        """Constructor arguments: GNNMobilityModel(**model.config()) rebuilds the architecture."""
        return dict(self._config)

    @torch.jit.ignore
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, node_features: torch.Tensor, edge_index: torch.Tensor,
                edge_features: torch.Tensor) -> torch.Tensor:
        if node_features.shape[1] != self.node_in or edge_features.shape[1] != self.edge_in:
            raise ValueError("GNNMobilityModel: expected node features (N, " + str(self.node_in)
                             + ") and edge features (E, " + str(self.edge_in) + ")")
        v = self.node_encoder(node_features)
        e = self.edge_encoder(edge_features)
        for layer in self.processor:
            v, e = layer(v, e, edge_index)
        return self.decoder(v) * self.velocity_scale
