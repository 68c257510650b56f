"""CPU inference of a trained GNNMobilityModel without torch: float32 BLAS products (numpy) and fused numba
element-wise kernels, for the many small calls of DDD+ML.

The same function as `GNNMobilityModel.forward` (see ddml_engine.ml.model), block by block:

    MLP(x)   = norm_out(W3 GELU(W2 GELU(W1 norm_in(x) + b1) + b2) + b3),   GELU(x) = x (1 + erf(x / sqrt 2)) / 2
    edge     e_ij <- e_ij + LN(MLP_e(e_ij, v_i, v_j)),  first product split as W_e e + (W_i v)_i + (W_j v)_j
    node     v_i  <- v_i  + LN(MLP_n(v_i, sum_j e_ij))
    decoder  V_i   = velocity_scale * MLP_d(LN(v_i))

A torch call on a 600-node graph is dominated by ~100 operator dispatches of 15-70 us each (LayerNorm, GELU
and row gathers of (E, 48) arrays are slow at these sizes); here the products go to sgemm and everything between
two products is one numba loop. Results agree with the torch module to float32 rounding (tested).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

_F = np.float32
_INV_SQRT2 = _F(1.0 / math.sqrt(2.0))
# Eigen's vectorised float erf: erf(x) = x P(x^2) / Q(x^2) for |x| <= 4 (erf = +-1 to float32 beyond)
_ERF_P = tuple(_F(c) for c in (-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06,
                               -5.69250639462346e-05, -7.34990630326855e-04, -2.95459980854025e-03,
                               -1.60960333262415e-02))
_ERF_Q = tuple(_F(c) for c in (-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03,
                               -7.37332916720468e-03, -1.42647390514189e-02))


@numba.njit(cache=True, inline="always", fastmath=True, error_model="numpy")
def _erf(x):
    """erf(x) in float32 by Eigen's rational approximation (|error| < 1e-6): unlike libm's erf it vectorises,
    and it is what CPU GELU kernels use."""
    x = min(max(x, _F(-4.0)), _F(4.0))
    x2 = x * x
    p = _ERF_P[0]
    for c in _ERF_P[1:]:
        p = x2 * p + c
    q = _ERF_Q[0]
    for c in _ERF_Q[1:]:
        q = x2 * q + c
    return x * p / q


@numba.njit(cache=True, inline="always", fastmath=True, error_model="numpy")
def _gelu(y):
    return _F(0.5) * y * (_F(1.0) + _erf(y * _INV_SQRT2))


@numba.njit(cache=True, fastmath=True, error_model="numpy")
def _bias_gelu(x, bias):
    """x <- GELU(x + bias) in place (rows of x)."""
    n, h = x.shape
    for r in range(n):
        for c in range(h):
            x[r, c] = _gelu(x[r, c] + bias[c])
    return x


@numba.njit(cache=True, fastmath=True, error_model="numpy")
def _edge_first_gelu(x, bias, node_terms, i, j, hidden):
    """x <- GELU(x + bias + node_terms[i, :H] + node_terms[j, H:]) in place: the edge MLP's first layer."""
    n = x.shape[0]
    for r in range(n):
        a, b = i[r], j[r]
        for c in range(hidden):
            x[r, c] = _gelu(x[r, c] + bias[c] + node_terms[a, c] + node_terms[b, hidden + c])
    return x


@numba.njit(cache=True, fastmath=True, error_model="numpy")
def _layer_norm(x, bias, gamma, beta, eps, out, residual):
    """out[r] = residual[r] + LN(x[r] + bias) (LayerNorm over the row with weight gamma and bias beta, float32);
    pass zeros as residual for a plain LayerNorm. Returns out."""
    n, h = x.shape
    row = np.empty(h, dtype=np.float32)
    inv_h = np.float32(1.0 / h)
    for r in range(n):
        mean = np.float32(0.0)
        for c in range(h):
            row[c] = x[r, c] + bias[c]
            mean += row[c]
        mean *= inv_h
        var = np.float32(0.0)
        for c in range(h):
            row[c] -= mean
            var += row[c] * row[c]
        inv = np.float32(1.0) / np.sqrt(var * inv_h + eps)
        for c in range(h):
            out[r, c] = residual[r, c] + row[c] * inv * gamma[c] + beta[c]
    return out


@numba.njit(cache=True)
def _scatter_rows(index, values, n):
    """out[k] = sum of values[r] over rows r with index[r] = k (N, H)."""
    out = np.zeros((n, values.shape[1]), dtype=values.dtype)
    for r in range(values.shape[0]):
        k = index[r]
        for c in range(values.shape[1]):
            out[k, c] += values[r, c]
    return out


def _t(a: np.ndarray) -> np.ndarray:
    """A Linear weight (out, in) as a C-contiguous float32 (in, out) for x @ W."""
    return np.ascontiguousarray(np.asarray(a, np.float32).T)


@dataclass
class _MLP:
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    w3: np.ndarray
    b3: np.ndarray
    norm_in: tuple[np.ndarray, np.ndarray] | None
    norm_out: tuple[np.ndarray, np.ndarray] | None

    @classmethod
    def of(cls, state: dict[str, np.ndarray], prefix: str) -> "_MLP":
        def norm(name):
            key = f"{prefix}.{name}.weight"
            return (np.asarray(state[key], np.float32), np.asarray(state[f"{prefix}.{name}.bias"], np.float32)) \
                if key in state else None
        w3 = state[f"{prefix}.net.4.weight"]
        b3 = state.get(f"{prefix}.net.4.bias")
        return cls(_t(state[f"{prefix}.net.0.weight"]), np.asarray(state[f"{prefix}.net.0.bias"], np.float32),
                   _t(state[f"{prefix}.net.2.weight"]), np.asarray(state[f"{prefix}.net.2.bias"], np.float32),
                   _t(w3), np.zeros(w3.shape[0], np.float32) if b3 is None else np.asarray(b3, np.float32),
                   norm("norm_in"), norm("norm_out"))

    def after_first(self, h: np.ndarray, residual: np.ndarray | None = None) -> np.ndarray:
        """The MLP from its first product's GELU output h on; + residual when given (norm_out required)."""
        h = _bias_gelu(h @ self.w2, self.b2) @ self.w3
        if self.norm_out is None:
            return h + self.b3 if residual is None else residual + h + self.b3
        out = np.empty_like(h)
        base = np.zeros_like(h) if residual is None else residual
        return _layer_norm(h, self.b3, self.norm_out[0], self.norm_out[1], np.float32(1e-5), out, base)

    def __call__(self, x: np.ndarray, residual: np.ndarray | None = None) -> np.ndarray:
        if self.norm_in is not None:
            x = _layer_norm(x, np.zeros(x.shape[1], np.float32), self.norm_in[0], self.norm_in[1],
                            np.float32(1e-5), np.empty_like(x), np.zeros_like(x))
        return self.after_first(_bias_gelu(x @ self.w1, self.b1), residual)


class NumpyGNN:
    """Forward pass of a GNNMobilityModel from its state dict (float32): velocities (N, 3) in b/s."""

    def __init__(self, state: dict[str, np.ndarray], layers: int, velocity_scale: float):
        state = {k: np.asarray(v) for k, v in state.items()}
        self.node_encoder = _MLP.of(state, "node_encoder")
        self.edge_encoder = _MLP.of(state, "edge_encoder")
        self.decoder = _MLP.of(state, "decoder")
        self.layers = []
        for k in range(layers):
            edge = _MLP.of(state, f"processor.{k}.edge_mlp")
            latent = edge.w1.shape[0] // 3
            # split W1 of cat(e, v_i, v_j): (latent, H) for e, and (latent, 2H) for [v_i | v_j]
            node_terms = np.ascontiguousarray(np.concatenate([edge.w1[latent:2 * latent], edge.w1[2 * latent:]], 1))
            self.layers.append((edge, np.ascontiguousarray(edge.w1[:latent]), node_terms,
                                _MLP.of(state, f"processor.{k}.node_mlp")))
        self.velocity_scale = np.float32(velocity_scale)

    def __call__(self, node_features: np.ndarray, edge_index: np.ndarray, edge_features: np.ndarray) -> np.ndarray:
        i = np.ascontiguousarray(edge_index[0], np.int64)
        j = np.ascontiguousarray(edge_index[1], np.int64)
        v = self.node_encoder(np.ascontiguousarray(node_features, np.float32))
        e = self.edge_encoder(np.ascontiguousarray(edge_features, np.float32))
        n = v.shape[0]
        for edge, w_e, w_nodes, node in self.layers:
            hidden = w_e.shape[1]
            h = _edge_first_gelu(e @ w_e, edge.b1, v @ w_nodes, i, j, hidden)
            e = edge.after_first(h, residual=e)
            summed = _scatter_rows(i, e, n)
            v = node(np.concatenate([v, summed], axis=1), residual=v)
        return self.decoder(v) * self.velocity_scale


def directed_edge_arrays(segments: np.ndarray, burgers: np.ndarray, segment_vectors: np.ndarray,
                         segment_flags: np.ndarray, length_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """numpy twin of `ml.graph.directed_edges`: edge_index (2, 2M) and edge features (2M, 9), float32."""
    edge_index = np.concatenate([segments.T, segments[:, ::-1].T], axis=1)
    b = np.concatenate([burgers, -burgers]).astype(np.float32)
    d = (np.concatenate([segment_vectors, -segment_vectors]) / length_scale).astype(np.float32)
    flag = np.concatenate([segment_flags, segment_flags]).astype(np.float32)[:, None]
    return edge_index, np.concatenate([flag, b, np.linalg.norm(b, axis=1, keepdims=True), d,
                                       np.linalg.norm(d, axis=1, keepdims=True)], axis=1)


def node_feature_array(forces: np.ndarray, node_flags: np.ndarray, force_scale: float) -> np.ndarray:
    """numpy twin of `ml.graph.node_features`: (N, 5) float32."""
    f = (forces / force_scale).astype(np.float32)
    return np.concatenate([node_flags.astype(np.float32)[:, None], f, np.linalg.norm(f, axis=1, keepdims=True)],
                          axis=1)
