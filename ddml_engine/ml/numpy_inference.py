"""CPU inference of a trained GNNMobilityModel without torch, for the many small calls of DDD+ML: one numba
function for the whole forward pass, float32 BLAS products (sgemm) and fused element-wise loops, on all of numba's
threads.

The same function as `GNNMobilityModel.forward` (see ddml_engine.ml.model), block by block:

    MLP(x)   = norm_out(W3 GELU(W2 GELU(W1 norm_in(x) + b1) + b2) + b3),   GELU(x) = x (1 + erf(x / sqrt 2)) / 2
    edge     e_ij <- e_ij + LN(MLP_e(e_ij, v_i, v_j)),  first product split as W_e e + (W_i v)_i + (W_j v)_j
    node     v_i  <- v_i  + LN(MLP_n(v_i, sum_j e_ij))
    decoder  V_i   = velocity_scale * MLP_d(LN(v_i))

Every row of an MLP is independent, so each block runs as one parallel region over row chunks (a chunk's products
are sgemm calls on its rows, single-threaded BLAS; its GELU and LayerNorm loops follow while the rows are in cache):
per layer one region over the edges (edge update; layer 0 also encodes them) and one over the nodes (sum of the
node's edges in CSR order, node update, and the next layer's node terms W_i v, W_j v; the last one decodes).
A torch call on a 600-node graph is dominated by ~100 operator dispatches of 15-70 us each; here a call is one
dispatch. Results agree with the torch module to float32 rounding (tested).
"""
from __future__ import annotations

import math

import numba
import numpy as np
# numba's np.dot calls scipy's sgemm: load it now, so that parallel.serial_blas (one BLAS thread) covers it
import scipy.linalg.cython_blas  # noqa: F401

_F = np.float32
# Rows per chunk at least: sgemm's rounding is then independent of where the rows are split (checked for the
# products here; a 1-row product takes another kernel), so the result does not depend on the thread count.
MIN_CHUNK_ROWS = 64
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


@numba.njit(cache=True, inline="always", fastmath=True, error_model="numpy")
def _bias_gelu(x, bias):
    """x <- GELU(x + bias) in place (rows of x)."""
    n, h = x.shape
    for r in range(n):
        for c in range(h):
            x[r, c] = _gelu(x[r, c] + bias[c])


@numba.njit(cache=True, inline="always", fastmath=True, error_model="numpy")
def _layer_norm(x, bias, gamma, beta, out, add_to_out):
    """out[r] = LN(x[r] + bias) (LayerNorm over the row, eps 1e-5, weight gamma, bias beta), added to out[r]
    (the residual) when add_to_out. x and out may be the same rows only without add_to_out."""
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
        inv = np.float32(1.0) / np.sqrt(var * inv_h + np.float32(1e-5))
        for c in range(h):
            y = row[c] * inv * gamma[c] + beta[c]
            out[r, c] = out[r, c] + y if add_to_out else y


@numba.njit(cache=True, inline="always", fastmath=True, error_model="numpy")
def _mlp_tail(h1, w2, b2, w3, b3, h2, h3, norm, out, add_to_out):
    """From the GELU output h1 of an MLP's first layer: out (+)= norm(W3 GELU(W2 h1 + b2) + b3), `norm` a
    (gamma, beta) pair or None (then out = h3 + b3, never added)."""
    np.dot(h1, w2, h2)
    _bias_gelu(h2, b2)
    np.dot(h2, w3, h3)
    if norm is None:
        n, m = h3.shape
        for r in range(n):
            for c in range(m):
                out[r, c] = h3[r, c] + b3[c]
    else:
        _layer_norm(h3, b3, norm[0], norm[1], out, add_to_out)


@numba.njit(cache=True, parallel=True, fastmath=True, error_model="numpy")
def _forward(chunks, node_x, edge_x, i, j, csr_edges, csr_offsets,
             node_enc, node_enc_norm, edge_enc, edge_enc_norm,
             edge_w_e, edge_w_nodes, edge_b1, edge_w2, edge_b2, edge_w3, edge_b3, edge_norm,
             node_w1, node_b1, node_w2, node_b2, node_w3, node_b3, node_norm,
             dec_norm, dec_w1, dec_b1, dec_w2, dec_b2, dec_w3, velocity_scale):
    """Velocities (N, 3), float32, of GNNMobilityModel.forward (weights as (in, out) float32 arrays, the
    processor's stacked over layers; node_enc / edge_enc = (w1, b1, w2, b2, w3, b3))."""
    n, n_edges = node_x.shape[0], edge_x.shape[0]
    layers, latent, hidden = edge_w_e.shape[0], edge_w_e.shape[1], edge_w_e.shape[2]
    rows = max(n, n_edges)
    h1 = np.empty((rows, hidden), np.float32)
    h2 = np.empty((rows, hidden), np.float32)
    h3 = np.empty((rows, latent), np.float32)
    v = np.empty((n, latent), np.float32)
    e = np.empty((n_edges, latent), np.float32)
    node_in = np.empty((n, 2 * latent), np.float32)
    node_terms = np.empty((n, 2 * hidden), np.float32)
    out = np.zeros((n, 3), np.float32)
    for t in numba.prange(chunks):  # node encoder and the first layer's node terms
        s, f = n * t // chunks, n * (t + 1) // chunks
        np.dot(node_x[s:f], node_enc[0], h1[s:f])
        _bias_gelu(h1[s:f], node_enc[1])
        _mlp_tail(h1[s:f], node_enc[2], node_enc[3], node_enc[4], node_enc[5], h2[s:f], h3[s:f],
                  node_enc_norm, v[s:f], False)
        np.dot(v[s:f], edge_w_nodes[0], node_terms[s:f])
    for k in range(layers):
        for t in numba.prange(chunks):  # edge update (layer 0: encode first)
            s, f = n_edges * t // chunks, n_edges * (t + 1) // chunks
            if k == 0:
                np.dot(edge_x[s:f], edge_enc[0], h1[s:f])
                _bias_gelu(h1[s:f], edge_enc[1])
                _mlp_tail(h1[s:f], edge_enc[2], edge_enc[3], edge_enc[4], edge_enc[5], h2[s:f], h3[s:f],
                          edge_enc_norm, e[s:f], False)
            np.dot(e[s:f], edge_w_e[k], h1[s:f])
            for r in range(s, f):
                a, b = i[r], j[r]
                for c in range(hidden):
                    h1[r, c] = _gelu(h1[r, c] + edge_b1[k, c] + node_terms[a, c] + node_terms[b, hidden + c])
            _mlp_tail(h1[s:f], edge_w2[k], edge_b2[k], edge_w3[k], edge_b3[k], h2[s:f], h3[s:f],
                      (edge_norm[k, 0], edge_norm[k, 1]), e[s:f], True)
        for t in numba.prange(chunks):  # node update, then the next layer's node terms or the decoder
            s, f = n * t // chunks, n * (t + 1) // chunks
            for r in range(s, f):
                for c in range(latent):
                    node_in[r, c] = v[r, c]
                    node_in[r, latent + c] = np.float32(0.0)
                for q in range(csr_offsets[r], csr_offsets[r + 1]):
                    edge = csr_edges[q]
                    for c in range(latent):
                        node_in[r, latent + c] += e[edge, c]
            np.dot(node_in[s:f], node_w1[k], h1[s:f])
            _bias_gelu(h1[s:f], node_b1[k])
            _mlp_tail(h1[s:f], node_w2[k], node_b2[k], node_w3[k], node_b3[k], h2[s:f], h3[s:f],
                      (node_norm[k, 0], node_norm[k, 1]), v[s:f], True)
            if k + 1 < layers:
                np.dot(v[s:f], edge_w_nodes[k + 1], node_terms[s:f])
            else:
                _layer_norm(v[s:f], np.zeros(latent, np.float32), dec_norm[0], dec_norm[1], h3[s:f], False)
                np.dot(h3[s:f], dec_w1, h1[s:f])
                _bias_gelu(h1[s:f], dec_b1)
                np.dot(h1[s:f], dec_w2, h2[s:f])
                _bias_gelu(h2[s:f], dec_b2)
                for r in range(s, f):  # (rows, H) x (H, 3): a loop, as sgemm's result for 3 columns depends on the rows
                    for c in range(3):
                        acc = np.float32(0.0)
                        for q in range(hidden):
                            acc += h2[r, q] * dec_w3[q, c]
                        out[r, c] = acc * velocity_scale
    return out


@numba.njit(cache=True)
def _csr(i, n):
    """Edge ids ordered by source node and the CSR offsets (n + 1): the edges of node k are
    edges[offsets[k]:offsets[k + 1]]."""
    offsets = np.zeros(n + 1, np.int64)
    for r in range(i.shape[0]):
        offsets[i[r] + 1] += 1
    for k in range(n):
        offsets[k + 1] += offsets[k]
    fill = offsets[:-1].copy()
    edges = np.empty(i.shape[0], np.int64)
    for r in range(i.shape[0]):
        edges[fill[i[r]]] = r
        fill[i[r]] += 1
    return edges, offsets


def edges_by_source(source: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(edge ids ordered by source node, CSR offsets (n + 1)) of the edges with source nodes `source`."""
    return _csr(np.ascontiguousarray(source, np.int64), int(n))


def _t(a: np.ndarray) -> np.ndarray:
    """A Linear weight (out, in) as a C-contiguous float32 (in, out) for x @ W."""
    return np.ascontiguousarray(np.asarray(a, np.float32).T)


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, np.float32)


class NumpyGNN:
    """Forward pass of a GNNMobilityModel from its state dict (float32): velocities (N, 3) in b/s."""

    def __init__(self, state: dict[str, np.ndarray], layers: int, velocity_scale: float):
        state = {k: np.asarray(v) for k, v in state.items()}

        def mlp(prefix: str) -> tuple:
            w3 = state[f"{prefix}.net.4.weight"]
            b3 = state.get(f"{prefix}.net.4.bias")
            return (_t(state[f"{prefix}.net.0.weight"]), _f32(state[f"{prefix}.net.0.bias"]),
                    _t(state[f"{prefix}.net.2.weight"]), _f32(state[f"{prefix}.net.2.bias"]),
                    _t(w3), np.zeros(w3.shape[0], np.float32) if b3 is None else _f32(b3))

        def norm(prefix: str) -> tuple | None:
            key = f"{prefix}.weight"
            return (_f32(state[key]), _f32(state[f"{prefix}.bias"])) if key in state else None

        def stack(arrays: list) -> np.ndarray:
            return np.ascontiguousarray(np.stack(arrays), np.float32)

        self.encoders = (mlp("node_encoder"), norm("node_encoder.norm_out"),
                         mlp("edge_encoder"), norm("edge_encoder.norm_out"))
        edge = [mlp(f"processor.{k}.edge_mlp") for k in range(layers)]
        node = [mlp(f"processor.{k}.node_mlp") for k in range(layers)]
        latent = edge[0][0].shape[0] // 3
        # W1 of cat(e, v_i, v_j) split: (latent, H) for e, (latent, 2H) for [v_i | v_j]
        edge_w_e = stack([m[0][:latent] for m in edge])
        edge_w_nodes = stack([np.concatenate([m[0][latent:2 * latent], m[0][2 * latent:]], 1) for m in edge])
        edge_norm = stack([norm(f"processor.{k}.edge_mlp.norm_out") for k in range(layers)])
        node_norm = stack([norm(f"processor.{k}.node_mlp.norm_out") for k in range(layers)])
        self.processor = (edge_w_e, edge_w_nodes, *(stack([m[q] for m in edge]) for q in (1, 2, 3, 4, 5)),
                          edge_norm, *(stack([m[q] for m in node]) for q in range(6)), node_norm)
        decoder = mlp("decoder")
        if np.any(decoder[5]):
            raise ValueError("NumpyGNN: the decoder's last Linear has a bias (not the GNNMobilityModel layout)")
        self.decoder = (norm("decoder.norm_in"), *decoder[:5])
        self.velocity_scale = np.float32(velocity_scale)

    def __call__(self, node_features: np.ndarray, edge_index: np.ndarray, edge_features: np.ndarray,
                 threads: int | None = None, edges_by_source: tuple[np.ndarray, np.ndarray] | None = None,
                 ) -> np.ndarray:
        """Velocities (N, 3) float32 in b/s, the same to the bit for any `threads` (row chunks, default numba's
        thread count, of at least MIN_CHUNK_ROWS nodes). `edges_by_source`: `edges_by_source(edge_index[0], N)`,
        when the caller keeps it."""
        i = np.ascontiguousarray(edge_index[0], np.int64)
        j = np.ascontiguousarray(edge_index[1], np.int64)
        n = node_features.shape[0]
        csr_edges, csr_offsets = _csr(i, n) if edges_by_source is None else edges_by_source
        chunks = max(1, min(threads or numba.get_num_threads(), n // MIN_CHUNK_ROWS))
        return _forward(chunks, _f32(node_features), _f32(edge_features), i, j, csr_edges, csr_offsets,
                        *self.encoders, *self.processor, *self.decoder, self.velocity_scale)


def directed_edge_arrays(segments: np.ndarray, burgers: np.ndarray, segment_vectors: np.ndarray,
                         segment_flags: np.ndarray, length_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """numpy twin of `ml.graph.directed_edges`: edge_index (2, 2M) and edge features (2M, 9), float32."""
    edge_index = np.concatenate([segments.T, segments[:, ::-1].T], axis=1)
    b = np.concatenate([burgers, -burgers]).astype(np.float32)
    d = (np.concatenate([segment_vectors, -segment_vectors]) / length_scale).astype(np.float32)
    flag = np.concatenate([segment_flags, segment_flags]).astype(np.float32)[:, None]
    return edge_index, np.concatenate([flag, b, np.linalg.norm(b, axis=1, keepdims=True), d,
                                       np.linalg.norm(d, axis=1, keepdims=True)], axis=1)
