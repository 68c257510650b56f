"""Nye dislocation-density tensor field on a periodic grid, spectral and differentiable (torch).

alpha_ij(x) = sum_segments int_seg b_i t_j w(x - x(s)) ds           (Bertin, Bulatov & Zhou 2024, Eq. 5)

with a smooth normalised kernel w. On a periodic cell (matrix H, columns = cell vectors, origin o) alpha is
periodic and its Fourier coefficients are analytic for straight segments (Bertin, IJP 2019):

    alpha~(k) = w^(k) sum_seg b (x) d  exp(-i k.c) sinc(k.d / 2),   k = 2 pi H^-T m,

with d = x2 - x1, c = (x1 + x2)/2 and sinc(z) = sin z / z. In fractional coordinates (s_c = H^-1 (c - o),
f = H^-1 d) the phase is exp(-2 pi i m.s_c) = prod_a exp(-2 pi i m_a s_c,a) (separable: per-axis factors) and
k.d/2 = pi m.f, so sinc(k.d/2) = torch.sinc(m.f) (not separable; evaluated exactly on the whole k grid).

Grid convention: alpha at x_idx = o + H (idx / n), idx = 0..n-1 per axis, is irfftn(A) with the half-spectrum
coefficients A_m = (N / V) alpha~(k_m) exp(i k_m.o), N = nx ny nz, V = |det H|, i.e. A = rfftn(alpha_grid).
Nyquist modes (|m_a| = n_a / 2 on even axes) are set to zero, so the grid field is an exactly real, band-limited
trigonometric polynomial: Parseval, translations (phase shifts) and k_j A_ij = 0 for closed loops hold to
round-off. The kernel should make those modes negligible anyway (Gaussian: sigma >~ 2 grid spacings).

Accuracy vs cost (documented choice): the sinc factor is evaluated exactly for every (segment, k) pair, which
costs M x Nk elementwise work plus a real (2 Nk x M) @ (M x 9) matrix product per chunk of segments. A
Gauss-Legendre quadrature along each segment would make every term separable, but it is not exact (error grows
like (k.d)^(2Q)) and multiplies the matrix product by the number Q of points, so it is not cheaper for Q >= 2.
The exact form gives the round-off invariances the tests check (collinear splitting, translations).

Backward pass: a custom autograd Function recomputes the per-chunk phase and sinc factors instead of storing
them (memory O(chunk), not O(M x Nk)); it is first-order differentiable (no double backward).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

KERNELS = ("gaussian", "nonsingular")
_CHUNK_ELEMENTS = 1 << 19  # (segment, k) pairs per chunk: bounds the temporary memory of one chunk
# Modes whose kernel factor w^(k) is below this are dropped (set to zero). They change alpha by < 1e-12 of its
# cell mean per mode, below float32 and near float64 round-off, and keeping them makes the float32 backward pass
# compute with subnormal numbers (~w^2 factors), which is 10-100x slower on x86 CPUs.
KERNEL_CUTOFF = 1e-12


# --------------------------------------------------------------------------------------------- helpers
def grid_shape(n: int | Sequence[int]) -> tuple[int, int, int]:
    """(nx, ny, nz) from an int or a 3-sequence of positive ints."""
    shape = (int(n),) * 3 if np.isscalar(n) else tuple(int(v) for v in n)  # type: ignore[arg-type]
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"nye: grid size must be a positive int or three positive ints, got {n!r}")
    return shape  # type: ignore[return-value]


def half_spectrum_shape(n: int | Sequence[int]) -> tuple[int, int, int]:
    """Shape (nx, ny, nz // 2 + 1) of the rfftn half spectrum of an (nx, ny, nz) grid."""
    nx, ny, nz = grid_shape(n)
    return nx, ny, nz // 2 + 1


def wave_indices(n: int | Sequence[int], dtype: torch.dtype = torch.float64,
                 device: torch.device | str | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Integer frequencies of the half spectrum: (mx (nx,), my (ny,), mz (nz//2+1,), nyquist mask (Nk,)).

    mx, my follow numpy.fft.fftfreq * n, mz rfftfreq * nz; the mask is False on Nyquist modes of even axes.
    """
    nx, ny, nz = grid_shape(n)
    mx = torch.fft.fftfreq(nx, 1.0 / nx, dtype=dtype, device=device).round()
    my = torch.fft.fftfreq(ny, 1.0 / ny, dtype=dtype, device=device).round()
    mz = torch.fft.rfftfreq(nz, 1.0 / nz, dtype=dtype, device=device).round()
    keep = [(m.abs() * 2 != size) if size % 2 == 0 else torch.ones_like(m, dtype=torch.bool)
            for m, size in ((mx, nx), (my, ny), (mz, nz))]
    mask = (keep[0][:, None, None] & keep[1][None, :, None] & keep[2][None, None, :]).reshape(-1)
    return mx, my, mz, mask


def kernel_fourier(k: Tensor, width: float, kernel: str = "gaussian") -> Tensor:
    """Fourier transform w^(|k|) of the normalised spreading kernel (w^(0) = 1).

    gaussian:    w(r) = (2 pi s^2)^(-3/2) exp(-r^2 / 2 s^2),   w^ = exp(-s^2 k^2 / 2)          (s = width)
    nonsingular: w(r) = 15 a^4 / (8 pi (r^2 + a^2)^(7/2)),      w^ = (a k)^2 K_2(a k) / 2       (a = width;
                 Cai et al., JMPS 2006 spreading function; Bertin, IJP 2019), K_2(x) = K_0(x) + 2 K_1(x) / x.
    """
    if kernel == "gaussian":
        return torch.exp(-0.5 * (width * k) ** 2)
    if kernel == "nonsingular":
        x = width * k
        safe = torch.where(x > 0, x, torch.ones_like(x))
        val = 0.5 * safe**2 * torch.special.modified_bessel_k0(safe) + safe * torch.special.modified_bessel_k1(safe)
        return torch.where(x > 0, val, torch.ones_like(x))
    raise ValueError(f"nye: unknown kernel {kernel!r}; choose one of {KERNELS}")


def spectral_scale(cells: Tensor, n: int | Sequence[int], sigma: float, kernel: str = "gaussian") -> Tensor:
    """(B, Nk) real factors N / V * w^(|k|) for cells (B, 3, 3), in float64; zero on Nyquist modes and where
    w^ < KERNEL_CUTOFF."""
    cells = cells.to(torch.float64)
    nx, ny, nz = grid_shape(n)
    mx, my, mz, mask = wave_indices(n, torch.float64, cells.device)
    m = torch.stack(torch.meshgrid(mx, my, mz, indexing="ij"), dim=-1).reshape(-1, 3)  # (Nk, 3)
    k = 2.0 * math.pi * torch.einsum("bij,kj->bki", torch.linalg.inv(cells).transpose(1, 2), m)  # H^-T m
    volume = torch.linalg.det(cells).abs()
    w = kernel_fourier(torch.linalg.norm(k, dim=-1), sigma, kernel)
    w = torch.where(w < KERNEL_CUTOFF, torch.zeros_like(w), w)
    return (nx * ny * nz) / volume[:, None] * w * mask[None, :]


def _chunks(counts: list[int], chunk_size: int) -> list[tuple[int, int, int]]:
    """(start, stop, graph) ranges of graph-sorted segments, each within one graph and <= chunk_size long."""
    out, start = [], 0
    for g, c in enumerate(counts):
        for s in range(start, start + c, chunk_size):
            out.append((s, min(s + chunk_size, start + c), g))
        start += c
    return out


# --------------------------------------------------------------------------------------------- core kernel
def _chunk_factors(sc: Tensor, f: Tensor, mx: Tensor, my: Tensor, mz: Tensor, mflat: Tensor):
    """Phase exp(-2 pi i m.s_c) (Mc, Nk) complex, u = m.f (Mc, Nk) and sinc(u) for one chunk.

    The phase is the outer product of per-axis factors (separable); u and sinc(u) are not separable.
    """
    two_pi = 2.0 * math.pi
    mc = len(sc)
    ex, ey, ez = (torch.polar(torch.ones_like(sc[:, :1] * m), -two_pi * sc[:, a:a + 1] * m)
                  for a, m in enumerate((mx, my, mz)))
    exy = (ex[:, :, None] * ey[:, None, :]).reshape(mc, -1, 1)
    phase = torch.bmm(exy, ez[:, None, :]).reshape(mc, -1)
    u = f @ mflat
    return phase, u, _sinc(u)


def _sinc(u: Tensor) -> Tensor:
    """torch.sinc(u) = sin(pi u) / (pi u) (1 at u = 0), in fewer elementwise passes than torch.sinc on CPU."""
    x = math.pi * u
    zero = x == 0
    return torch.sin(x).div_(torch.where(zero, 1.0, x)).masked_fill_(zero, 1.0)


def _times_real(z: Tensor, r: Tensor) -> Tensor:
    """z * r for complex z and real r of the same shape, in place on z (avoids complex promotion of r)."""
    torch.view_as_real(z).mul_(r[..., None])
    return z


def _dsinc(u: Tensor, sinc: Tensor) -> Tensor:
    """d sinc(u) / du for sinc(u) = sin(pi u) / (pi u), branch-free.

    (cos(pi u) - sinc) / u where |pi u| >= t (absolute error ~ eps / |pi u|), and the Taylor series
    u (-pi^2/3 + pi^4 u^2 / 30) below (truncation ~ pi^6 |u|^5 / 840), with t = 1e-3 (float64) or 0.1 (float32):
    accurate to a few eps in absolute terms, which is what the gradient sum over k needs.
    """
    t = 0.1 if u.dtype in (torch.float32, torch.float16, torch.bfloat16) else 1e-3
    small = u.abs() < t / math.pi
    direct = torch.cos(math.pi * u).sub_(sinc).div_(torch.where(small, 1.0, u))
    series = (u * u).mul_(math.pi**4 / 30.0).add_(-math.pi**2 / 3.0).mul_(u)
    return torch.where(small, series, direct)


class _LineSum(torch.autograd.Function):
    """S[g, k, (re, im), q] = sum_{seg in g} W[seg, q] exp(-2 pi i m.sc) sinc(m.f) with recomputing backward
    (q = 9 components b_i d_j for the Nye tensor, or any number of per-segment line weights)."""

    @staticmethod
    def forward(ctx, sc: Tensor, f: Tensor, W: Tensor, chunks, num_graphs: int,  # type: ignore[override]
                mx: Tensor, my: Tensor, mz: Tensor, mflat: Tensor) -> Tensor:
        nk, q = mflat.shape[1], W.shape[1]
        out = sc.new_zeros(num_graphs, nk * 2, q)
        for start, stop, g in chunks:
            phase, _, sinc = _chunk_factors(sc[start:stop], f[start:stop], mx, my, mz, mflat)
            G = torch.view_as_real(_times_real(phase, sinc)).reshape(stop - start, 2 * nk)
            out[g].addmm_(G.T, W[start:stop])
        ctx.save_for_backward(sc, f, W, mx, my, mz, mflat)
        ctx.chunks = chunks
        return out.reshape(num_graphs, nk, 2, q)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        sc, f, W, mx, my, mz, mflat = ctx.saved_tensors
        nk = mflat.shape[1]
        grad = grad.reshape(grad.shape[0], 2 * nk, W.shape[1])
        need_sc, need_f, need_w = ctx.needs_input_grad[:3]
        g_sc = torch.zeros_like(sc) if need_sc else None
        g_f = torch.zeros_like(f) if need_f else None
        g_w = torch.zeros_like(W) if need_w else None
        mt = mflat.T  # (Nk, 3)
        for start, stop, g in ctx.chunks:
            phase, u, sinc = _chunk_factors(sc[start:stop], f[start:stop], mx, my, mz, mflat)
            if need_sc or need_f:
                # P = dL/dG_re + i dL/dG_im for every (segment, k) = W @ grad^T; Q = conj(P) phase.
                P = torch.view_as_complex((W[start:stop] @ grad[g].T).reshape(stop - start, nk, 2))
                Q = P.conj() * phase
                if need_sc:  # G = exp(-i theta) sinc(u), theta = 2 pi m.sc: dL/dtheta = Re(conj(P)(-i)G) = Im(Q) sinc
                    g_sc[start:stop] = (2.0 * math.pi) * ((Q.imag * sinc) @ mt)
                if need_f:  # dL/du = Re(Q) sinc'(u), sinc'(u) = (cos(pi u) - sinc(u)) / u
                    g_f[start:stop] = (Q.real * _dsinc(u, sinc)) @ mt
            if need_w:
                G = _times_real(phase, sinc)
                g_w[start:stop] = torch.view_as_real(G).reshape(stop - start, 2 * nk) @ grad[g]
        return g_sc, g_f, g_w, None, None, None, None, None, None


def _line_sum_autograd(sc: Tensor, f: Tensor, W: Tensor, chunks, num_graphs: int,
                       mx: Tensor, my: Tensor, mz: Tensor, mflat: Tensor) -> Tensor:
    """Plain-autograd twin of _LineSum (stores every intermediate); used by the tests as a cross-check."""
    nk = mflat.shape[1]
    parts: list[Tensor] = [sc.new_zeros(nk * 2, 9) for _ in range(num_graphs)]
    for start, stop, g in chunks:
        phase, _, sinc = _chunk_factors(sc[start:stop], f[start:stop], mx, my, mz, mflat)
        G = torch.view_as_real(phase * sinc).reshape(stop - start, 2 * nk)
        parts[g] = parts[g] + G.T @ W[start:stop]
    return torch.stack(parts).reshape(num_graphs, nk, 2, 9)


# --------------------------------------------------------------------------------------------- public API
def _check_inputs(x1: Tensor, x2: Tensor, b: Tensor) -> None:
    for name, t in (("x1", x1), ("x2", x2), ("b", b)):
        if not isinstance(t, Tensor):
            raise TypeError(f"nye: {name} must be a torch.Tensor, got {type(t).__name__}")
        if t.ndim != 2 or t.shape[1] != 3:
            raise ValueError(f"nye: {name} must have shape (M, 3), got {tuple(t.shape)}")
        if not t.is_floating_point():
            raise TypeError(f"nye: {name} must be a floating-point tensor, got {t.dtype}")
    if not (len(x1) == len(x2) == len(b)):
        raise ValueError(f"nye: x1, x2, b have {len(x1)}, {len(x2)}, {len(b)} rows; they must match")
    if not (x1.dtype == x2.dtype == b.dtype) or not (x1.device == x2.device == b.device):
        raise TypeError("nye: x1, x2, b must share dtype and device")
    for name, t in (("x1", x1), ("x2", x2), ("b", b)):
        bad = torch.nonzero(~torch.isfinite(t).all(dim=1)).flatten()
        if len(bad):
            raise ValueError(f"nye: non-finite {name} at segments {bad[:8].tolist()}")


def nye_field_fourier_batched(x1: Tensor, x2: Tensor, b: Tensor, graph: Tensor | None, cells: Tensor,
                              origins: Tensor, n: int | Sequence[int], sigma: float, kernel: str = "gaussian",
                              num_graphs: int | None = None, chunk_size: int | None = None,
                              _line_sum=None) -> Tensor:
    """Half-spectrum Nye coefficients A_g = rfftn(alpha_g grid) of B graphs: (B, nx, ny, nz//2+1, 3, 3) complex.

    x1, x2, b   (M, 3) segment end points (x2 may be unwrapped: x1 + minimum-image d) and Burgers vectors (b)
    graph       (M,) int graph index of every segment (None: all in graph 0)
    cells       (B, 3, 3) or (3, 3) cell matrices (columns = cell vectors); origins (B, 3) or (3,)
    n, sigma    grid size and kernel width (b); kernel 'gaussian' or 'nonsingular' (sigma = core radius a)
    Differentiable w.r.t. x1, x2, b; dtype and device follow x1.
    """
    _check_inputs(x1, x2, b)
    weights = lambda bs, d: (bs[:, :, None] * d[:, None, :]).reshape(len(d), 9)  # noqa: E731  (b (x) d)
    A = _line_spectra(x1, x2, b, weights, graph, cells, origins, n, sigma, kernel, num_graphs, chunk_size,
                      _line_sum)
    return A.reshape(*A.shape[:-1], 3, 3)


def line_density_fourier_batched(x1: Tensor, x2: Tensor, values: Tensor, graph: Tensor | None, cells: Tensor,
                                 origins: Tensor, n: int | Sequence[int], sigma: float, kernel: str = "gaussian",
                                 num_graphs: int | None = None) -> Tensor:
    """Half spectra of scalar line densities rho_q(x) = sum_seg values[seg, q] int_seg w(x - x(s)) ds:
    (B, nx, ny, nz//2+1, q) complex, same grid convention as the Nye field (units: values / b^2).

    values (M, q) per-segment weights (e.g. 1 for the line length density); not differentiated (no_grad use).
    """
    _check_inputs(x1, x2, x1)
    values = values.reshape(len(x1), -1).to(x1.dtype)
    weights = lambda vs, d: vs * torch.linalg.norm(d, dim=1, keepdim=True)  # noqa: E731  (value x length)
    return _line_spectra(x1, x2, values, weights, graph, cells, origins, n, sigma, kernel, num_graphs)


def _line_spectra(x1: Tensor, x2: Tensor, per_segment: Tensor, weights, graph: Tensor | None, cells: Tensor,
                  origins: Tensor, n: int | Sequence[int], sigma: float, kernel: str, num_graphs: int | None,
                  chunk_size: int | None = None, _line_sum=None) -> Tensor:
    """sum over segments of W[seg, q] (N/V) w^(k) exp(-i k.c) sinc(k.d/2): (B, nx, ny, nz//2+1, q), with
    W = weights(per_segment, d) evaluated on the graph-sorted segments (d = x2 - x1)."""
    if kernel not in KERNELS:
        raise ValueError(f"nye: unknown kernel {kernel!r}; choose one of {KERNELS}")
    if not (sigma > 0 and math.isfinite(sigma)):
        raise ValueError(f"nye: kernel width sigma must be positive and finite, got {sigma!r}")
    dtype, device = x1.dtype, x1.device
    cells = torch.as_tensor(cells, dtype=torch.float64, device=device)
    origins = torch.as_tensor(origins, dtype=torch.float64, device=device)
    if cells.shape == (3, 3):
        cells = cells[None]
    if origins.shape == (3,):
        origins = origins[None]
    if cells.ndim != 3 or cells.shape[1:] != (3, 3) or origins.ndim != 2 or origins.shape[1] != 3:
        raise ValueError(f"nye: cells must be (B,3,3) and origins (B,3), got {tuple(cells.shape)}, {tuple(origins.shape)}")
    dets = torch.linalg.det(cells)
    bad = torch.nonzero(~torch.isfinite(dets) | (dets.abs() < 1e-12)).flatten()
    if len(bad):
        raise ValueError(f"nye: singular or non-finite cell matrix for graphs {bad[:8].tolist()}")
    m = len(x1)
    if graph is None:
        graph = torch.zeros(m, dtype=torch.long, device=device)
    graph = torch.as_tensor(graph, device=device).long().reshape(-1)
    if len(graph) != m:
        raise ValueError(f"nye: graph index has {len(graph)} entries for {m} segments")
    B = int(num_graphs) if num_graphs is not None else max(len(cells), int(graph.max()) + 1 if m else 1)
    if len(cells) not in (1, B) or len(origins) not in (1, B):
        raise ValueError(f"nye: {len(cells)} cells and {len(origins)} origins for {B} graphs")
    if m and (int(graph.min()) < 0 or int(graph.max()) >= B):
        bad = torch.nonzero((graph < 0) | (graph >= B)).flatten()
        raise ValueError(f"nye: segments {bad[:8].tolist()} have graph index outside 0..{B - 1}")
    cells, origins = cells.expand(B, 3, 3), origins.expand(B, 3)

    # Sort segments by graph so that every chunk lies in one graph (one matrix product per chunk).
    order = torch.argsort(graph, stable=True)
    counts = torch.bincount(graph, minlength=B).tolist()
    x1s, x2s, ps, gs = x1[order], x2[order], per_segment[order], graph[order]
    # Fractional geometry in float64 (cheap, M x 3), then the heavy part in the input dtype: float32 inputs far
    # from the origin keep float32 accuracy, since exp(-2 pi i m.s) is 1-periodic in s and s is wrapped first.
    inv = torch.linalg.inv(cells)  # (B, 3, 3) float64
    x1d, x2d = x1s.to(torch.float64), x2s.to(torch.float64)
    d = x2d - x1d
    sc = torch.einsum("mij,mj->mi", inv[gs], 0.5 * (x1d + x2d) - origins[gs])
    sc = (sc - torch.floor(sc.detach())).to(dtype)
    f = torch.einsum("mij,mj->mi", inv[gs], d).to(dtype)
    W = weights(ps, d.to(dtype))
    mx, my, mz, _ = wave_indices(n, dtype, device)
    mflat = torch.stack(torch.meshgrid(mx, my, mz, indexing="ij"), dim=0).reshape(3, -1)
    nk = mflat.shape[1]
    if chunk_size is None:
        chunk_size = max(1, _CHUNK_ELEMENTS // nk)
    chunks = _chunks(counts, int(chunk_size))
    line_sum = _LineSum.apply if _line_sum is None else _line_sum
    S = line_sum(sc, f, W, chunks, B, mx, my, mz, mflat)  # (B, Nk, 2, q)
    scale = spectral_scale(cells, n, sigma, kernel).to(dtype)  # (B, Nk)
    A = torch.complex(S[:, :, 0, :], S[:, :, 1, :]) * scale[:, :, None]
    return A.reshape(B, *half_spectrum_shape(n), W.shape[1])


def nye_field_fourier(x1: Tensor, x2: Tensor, b: Tensor, cell_matrix: Tensor, origin: Tensor,
                      n: int | Sequence[int], sigma: float, kernel: str = "gaussian",
                      chunk_size: int | None = None) -> Tensor:
    """Half-spectrum coefficients A = rfftn(alpha grid) of one cell: (nx, ny, nz//2+1, 3, 3) complex."""
    return nye_field_fourier_batched(x1, x2, b, None, cell_matrix, origin, n, sigma, kernel,
                                     num_graphs=1, chunk_size=chunk_size)[0]


def fourier_to_grid(coefficients: Tensor, n: int | Sequence[int]) -> Tensor:
    """Inverse real FFT of (..., nx, ny, nz//2+1, 3, 3) coefficients to the (..., nx, ny, nz, 3, 3) grid."""
    return torch.fft.irfftn(coefficients, s=grid_shape(n), dim=(-5, -4, -3))


def nye_field(x1: Tensor, x2: Tensor, b: Tensor, cell_matrix: Tensor, origin: Tensor, n: int | Sequence[int],
              sigma: float, kernel: str = "gaussian", chunk_size: int | None = None) -> Tensor:
    """alpha_ij at the grid points origin + H (idx / n): (nx, ny, nz, 3, 3), units 1/b (b-vector x length / volume)."""
    return fourier_to_grid(nye_field_fourier(x1, x2, b, cell_matrix, origin, n, sigma, kernel, chunk_size), n)


def nye_field_batched(x1: Tensor, x2: Tensor, b: Tensor, graph: Tensor | None, cells: Tensor, origins: Tensor,
                      n: int | Sequence[int], sigma: float, kernel: str = "gaussian",
                      num_graphs: int | None = None, chunk_size: int | None = None) -> Tensor:
    """Grid fields of B graphs: (B, nx, ny, nz, 3, 3)."""
    return fourier_to_grid(nye_field_fourier_batched(x1, x2, b, graph, cells, origins, n, sigma, kernel,
                                                     num_graphs, chunk_size), n)


def parseval_weights(n: int | Sequence[int], dtype: torch.dtype = torch.float64,
                     device: torch.device | str | None = None) -> Tensor:
    """Half-spectrum multiplicities (nz//2+1,): 1 for mz = 0 (and mz = nz/2 when nz is even), else 2."""
    nz = grid_shape(n)[2]
    w = torch.full((nz // 2 + 1,), 2.0, dtype=dtype, device=device)
    w[0] = 1.0
    if nz % 2 == 0:
        w[-1] = 1.0
    return w


def nye_loss(pred_fourier: Tensor, target_fourier: Tensor, n: int | Sequence[int],
             reduction: str = "sum") -> Tensor:
    """Sum over grid points and components of |alpha_pred - alpha_target|^2, from half spectra (Parseval).

    sum_grid |d alpha|^2 = (1/N) sum_{full k} |dA_k|^2 = (1/N) sum_{half k} mult(mz) |dA_k|^2.
    Inputs (..., nx, ny, nz//2+1, 3, 3); reduction 'sum' (a scalar), 'mean' (per grid point and graph)
    or 'none' (one value per leading index, e.g. per graph).
    """
    if pred_fourier.shape != target_fourier.shape:
        raise ValueError(f"nye_loss: shapes differ: {tuple(pred_fourier.shape)} vs {tuple(target_fourier.shape)}")
    if pred_fourier.shape[-5:-2] != half_spectrum_shape(n):
        raise ValueError(f"nye_loss: spectrum shape {tuple(pred_fourier.shape[-5:-2])} does not match grid {n!r}")
    nx, ny, nz = grid_shape(n)
    diff = pred_fourier - target_fourier
    sq = diff.real**2 + diff.imag**2
    w = parseval_weights(n, sq.dtype, sq.device)
    per = (sq * w[:, None, None]).sum(dim=(-5, -4, -3, -2, -1)) / (nx * ny * nz)
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    if reduction == "mean":
        return per.mean() / (nx * ny * nz)
    raise ValueError(f"nye_loss: unknown reduction {reduction!r}")


def network_nye_field(network, n: int | Sequence[int], sigma: float, kernel: str = "gaussian",
                      dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> np.ndarray:
    """alpha on an n^3 grid of a DislocationNetwork's (periodic) cell as a numpy (nx, ny, nz, 3, 3) array."""
    cell = network.cell
    if not all(cell.periodic):
        raise ValueError(f"nye: the spectral Nye field needs a fully periodic cell, got periodic={cell.periodic}")
    r1, r2 = network.segment_endpoints()
    t = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype, device=device)  # noqa: E731
    with torch.no_grad():
        field = nye_field(t(r1), t(r2), t(network.burgers), t(cell.matrix), t(cell.origin), n, sigma, kernel)
    return field.cpu().numpy()


# --------------------------------------------------------------------------------------------- reference
def nye_field_direct(points: np.ndarray, x1: np.ndarray, x2: np.ndarray, b: np.ndarray, cell_matrix: np.ndarray,
                     sigma: float, origin: np.ndarray | None = None, points_per_sigma: int = 4,
                     gauss_points: int = 8, chunk: int = 64) -> np.ndarray:
    """Real-space reference (tests only): Gaussian-kernel alpha (P, 3, 3) at points, by Gauss-Legendre
    quadrature along every segment summed over the minimum image and its 26 neighbours.

    Accurate when 8 sigma is below 1.5 times the smallest cell height (the images left out are beyond it).
    """
    H = np.asarray(cell_matrix, float)
    Hinv = np.linalg.inv(H)
    heights = 1.0 / np.linalg.norm(Hinv, axis=1)
    if 8.0 * sigma > 1.5 * heights.min():
        raise ValueError(f"nye_field_direct: sigma={sigma} too wide for the 27-image sum (cell heights {heights})")
    x1, x2, b = (np.asarray(a, float).reshape(-1, 3) for a in (x1, x2, b))
    d = x2 - x1
    length = np.linalg.norm(d, axis=1)
    pieces = max(1, int(np.ceil(length.max() * points_per_sigma / sigma))) if len(d) else 1
    gx, gw = np.polynomial.legendre.leggauss(gauss_points)
    s = ((np.arange(pieces)[:, None] + 0.5 * (gx[None, :] + 1.0)) / pieces).ravel()  # (Q,) in [0, 1]
    ws = np.tile(0.5 * gw / pieces, pieces)
    xq = (x1[:, None, :] + s[None, :, None] * d[:, None, :]).reshape(-1, 3)  # (M*Q, 3)
    wq = np.repeat(ws[None, :], len(d), axis=0).ravel()  # integrates ds over [0,1]; b (x) d carries the length
    bd = np.repeat((b[:, :, None] * d[:, None, :])[:, None], len(s), axis=1).reshape(-1, 9)
    shifts = np.stack(np.meshgrid(*[np.arange(-1, 2)] * 3, indexing="ij"), -1).reshape(-1, 3) @ H.T  # (27, 3)
    norm = (2.0 * np.pi * sigma**2) ** -1.5
    pts = np.asarray(points, float).reshape(-1, 3)
    out = np.empty((len(pts), 9))
    for start in range(0, len(pts), chunk):
        r = pts[start:start + chunk, None, :] - xq[None, :, :]  # (p, Q, 3)
        fr = r @ Hinv.T
        r = (fr - np.round(fr)) @ H.T
        r2 = ((r[:, :, None, :] + shifts[None, None]) ** 2).sum(-1)  # (p, Q, 27)
        kern = norm * np.exp(-0.5 * r2 / sigma**2).sum(-1)
        out[start:start + chunk] = (kern * wq[None]) @ bd
    return out.reshape(-1, 3, 3)


def grid_points(cell_matrix: np.ndarray, origin: np.ndarray, n: int | Sequence[int]) -> np.ndarray:
    """Cartesian grid points origin + H (idx / n) as a (nx, ny, nz, 3) array (numpy)."""
    nx, ny, nz = grid_shape(n)
    frac = np.stack(np.meshgrid(np.arange(nx) / nx, np.arange(ny) / ny, np.arange(nz) / nz, indexing="ij"), -1)
    return frac @ np.asarray(cell_matrix, float).T + np.asarray(origin, float)
