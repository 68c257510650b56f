"""Nye-field matching losses for training the GNN mobility (Bertin, Bulatov & Zhou 2024, Eq. 5, and ddml's
displacement-weighted relative form).

For a snapshot pair (G^t, G^(t+dt)) the GNN gives nodal velocities V; every segment end moves with its node,
x -> x + u, u = V dt (pinned nodes stay), and the residual field is

    R(x)  = alpha(r^t + u, b^t)(x) - alpha(G^(t+dt))(x),        R0(x) = alpha(G^t)(x) - alpha(G^(t+dt))(x)

(R0: the residual of the zero-velocity model; the band-limited fields are sampled on the nominal n^3 grid for the
weighted sums). Two losses of a pair p:

absolute (the paper's Eq. 5):   L_p = sum_x |R(x)|^2

relative (ddml's default):      L_p = log2(1 + r_p),   r_p = sum_x w_p(x) |R(x)|^2  /  sum_x w_p(x) |R0(x)|^2

    w_p(x) = exp( G(x) / (D(x) + delta) )            (in units of 1 / ubar^2; r_p does not depend on the unit)
    D(x) = sum_s l_s K(x - x_s),   G(x) = sum_s l_s log(ubar^2 / (|u_s|^2 + eps^2)) K(x - x_s)

with K the Nye kernel, the sums over the segments s of G^t (length l_s, |u_s| the mean predicted displacement
of its two ends), ubar^2 = sum_s l_s |u_s|^2 / sum_s l_s, eps = floor x ubar and delta = density_floor x the
cell mean of D: near the lines w is the kernel-weighted geometric mean of 1 / (|u_s|^2 + eps^2). The geometric
mean matters: displacements differ 100-fold between screws and edges, and an arithmetic mean of |u|^2 (or of
1 / |u|^2) over the kernel is dominated by the other kind's tail a few sigma away, while the mean of the logarithm
is not. w_p is computed from the model's own predictions and treated as a constant (no gradient): iteratively
reweighted least squares. Why it is well conditioned for slow and fast lines: for displacements
within the kernel width, R near a line of true displacement d is ~ d (lambda - 1) for a predicted
lambda d, so the absolute loss weighs a line by d^2 -- screws moving 100 times less than edges count 10^4 times
less, and a 100 % screw error costs what a 1 % edge error does. w ~ 1 / |u|^2 near every line makes each line's
term ~ (lambda - 1)^2, its relative error, whatever its speed; at the fixed point u = V dt of the reweighting the
weights are those of the true displacements, so the minimiser is not biased (unlike minimising a ratio of
|u_pred - u|^2 / |u_pred|^2 directly). eps keeps lines that do not move from receiving unbounded weight, and
delta gives empty regions the weight 1 / ubar^2 of the pair's mean motion. Dividing by the pair's own weighted
zero-velocity loss makes every pair score r = 1 at V = 0 (L = 1) and bounds the influence of pairs whose change
the model cannot explain (a collision or remesh between the frames makes sum w R0^2 large, which shrinks that
pair's gradient); the log2(1 + r) (Cauchy-type) cap bounds the opposite case, a pair in which almost nothing
moved (r >> 1 for any predicted motion): its gradient falls like 1 / r instead of growing with it. For small
residuals L ~ r / ln 2. Nothing in it uses the true law, the line character or per-kind time steps: the same rule
applies
unchanged to DDD and MD trajectories.

Limit (measured, tests/test_validation_method.py): the residual of a fast line spreads over the kernel, so a
slow line closer than ~3 kernel widths to a fast one sees the fast line's residual tail with its own large weight
(tail exp(-r^2 / 2 sigma^2) times the speed ratio). A kernel narrow against the spacing of the lines (nye.sigma
or nye.sigma_b) removes it, at the cost of more Fourier modes.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ddml_engine.nye import line_density_fourier_batched, nye_field_fourier_batched, nye_loss

LOSSES = ("relative", "absolute")


@dataclass(frozen=True)
class RelativeLossSettings:
    """Constants of the relative loss (module docstring): eps = floor x ubar, delta = density_floor x mean D."""

    floor: float = 3e-3
    density_floor: float = 1e-2


def node_displacements(batch, velocities: torch.Tensor) -> torch.Tensor:
    """u = V dt (N, 3) in b for the batch's nodes; pinned nodes 0."""
    dtype = batch.x1.dtype
    dt = batch.dt.to(dtype)[batch.graph.batch]
    u = velocities.to(dtype) * dt[:, None]
    return torch.where(batch.graph.pinned[:, None], torch.zeros_like(u), u)


def _by_kernel_width(batch, compute):
    """compute(remap, graph ids, width) for every group of graphs sharing a kernel width (remap: batch graph ->
    index in the group, -1 outside; None when all graphs share one width), reassembled in
    graph order (trajectories of different cells may have different widths in b)."""
    groups = torch.unique(batch.sigma_b)
    B = batch.num_graphs
    if len(groups) == 1:
        return compute(None, None, float(groups[0]))
    parts, order = [], []
    for s in groups:
        gids = torch.nonzero(batch.sigma_b == s).flatten()
        remap = torch.full((B,), -1, dtype=torch.int64, device=batch.sigma_b.device)
        remap[gids] = torch.arange(len(gids), device=batch.sigma_b.device)
        parts.append(compute(remap, gids, float(s)))
        order.append(gids)
    inverse = torch.argsort(torch.cat(order))
    return torch.cat(parts)[inverse]


def _spectra(batch, x1: torch.Tensor, x2: torch.Tensor, values: torch.Tensor | None = None) -> torch.Tensor:
    """Nye half spectra (values None) or scalar line-density spectra of `values` (M, q) for the batch's graphs."""
    grid, kernel = batch.modes, batch.kernel

    def compute(remap, gids, width):
        if remap is None:
            sel, graph, cells, origins = slice(None), batch.segment_graph, batch.cells, batch.origins
            count = batch.num_graphs
        else:
            sel = remap[batch.segment_graph] >= 0
            graph, cells, origins = remap[batch.segment_graph[sel]], batch.cells[gids], batch.origins[gids]
            count = len(gids)
        if values is None:
            return nye_field_fourier_batched(x1[sel], x2[sel], batch.burgers[sel], graph, cells, origins, grid,
                                             width, kernel, num_graphs=count)
        return line_density_fourier_batched(x1[sel], x2[sel], values[sel], graph, cells, origins, grid, width,
                                            kernel, num_graphs=count)

    return _by_kernel_width(batch, compute)


def predicted_spectra(batch, velocities: torch.Tensor) -> torch.Tensor:
    """Nye half spectra (B, n_s, n_s, n_s//2+1, 3, 3) of the batch's networks with nodes moved by V dt."""
    u = node_displacements(batch, velocities)
    return _spectra(batch, batch.x1 + u[batch.segments[:, 0]], batch.x2 + u[batch.segments[:, 1]])


def absolute_pair_losses(batch, velocities: torch.Tensor) -> torch.Tensor:
    """Eq. 5 loss of every pair (B,): sum over the n^3 grid and ij of |alpha_pred - alpha_target|^2
    (from the band-limited n_s spectra, times (n / n_s)^3; see ml.dataset)."""
    pred = predicted_spectra(batch, velocities)
    return nye_loss(pred, batch.target.to(pred.dtype), batch.modes, reduction="none") * batch.grid_factor


@torch.no_grad()
def displacement_weights(batch, u: torch.Tensor, settings: RelativeLossSettings = RelativeLossSettings()
                         ) -> torch.Tensor:
    """w_p(x) of the relative loss (module docstring) on the n^3 grid: (B, n, n, n), in units of
    1 / ubar_p^2 (dimensionless, so invariant under a common scaling of u), from node displacements u (N, 3) (b),
    treated as constants."""
    u = u.detach()
    seg = batch.segments
    u_seg = 0.5 * (u[seg[:, 0]] + u[seg[:, 1]])
    u2 = (u_seg * u_seg).sum(dim=1)
    length = torch.linalg.vector_norm(batch.x2 - batch.x1, dim=1)
    B = batch.num_graphs
    total = torch.zeros(B, dtype=u2.dtype, device=u2.device).index_add_(0, batch.segment_graph, length)
    moved = torch.zeros_like(total).index_add_(0, batch.segment_graph, length * u2)
    ubar2 = (moved / total.clamp_min(1e-300)).clamp_min(1e-300)  # a V = 0 model: uniform weights
    eps2 = (settings.floor**2) * ubar2
    log_weight = torch.log(ubar2[batch.segment_graph] / (u2 + eps2[batch.segment_graph]))
    values = torch.stack([torch.ones_like(u2), log_weight], dim=1)
    fields = real_grid(_spectra(batch, batch.x1, batch.x2, values), batch.grid)  # (B, n, n, n, 2)
    D, G = fields[..., 0], fields[..., 1]
    delta = (settings.density_floor * D.mean(dim=(1, 2, 3)).clamp_min(0.0)).view(B, 1, 1, 1)
    # Band-limited densities ring slightly below zero far from lines: clamp D, and G to what D allows.
    Dc = D.clamp_min(0.0)
    bound = Dc * log_weight.abs().max()
    return torch.exp(torch.maximum(torch.minimum(G, bound), -bound) / (Dc + delta))


def padded_half_spectrum(coefficients: torch.Tensor, n: int, first_dim: int = 1) -> torch.Tensor:
    """Half spectrum of an n_s^3 grid (dims first_dim .. first_dim + 2) embedded in that of an n^3 grid (n >= n_s):
    the same band-limited field, sampled n / n_s times finer by the inverse FFT (coefficients times (n / n_s)^3,
    the grid convention of ml.dataset)."""
    ns = coefficients.shape[first_dim]
    if n == ns:
        return coefficients
    shape = list(coefficients.shape)
    shape[first_dim:first_dim + 3] = [n, n, n // 2 + 1]
    out = coefficients.new_zeros(shape)
    h = ns // 2
    index = [slice(None)] * len(shape)
    for xs in (slice(0, h), slice(-h, None)):
        for ys in (slice(0, h), slice(-h, None)):
            index[first_dim:first_dim + 3] = [xs, ys, slice(0, h + 1)]
            out[tuple(index)] = coefficients[tuple(index)]
    return out * (n / ns) ** 3


def real_grid(coefficients: torch.Tensor, n: int, first_dim: int = 1) -> torch.Tensor:
    """Grid values on the n^3 grid of (B, n_s, n_s, n_s//2+1, ...) half spectra: (B, n, n, n, ...)."""
    dims = (first_dim, first_dim + 1, first_dim + 2)
    return torch.fft.irfftn(padded_half_spectrum(coefficients, n, first_dim), s=(n, n, n), dim=dims)


def relative_pair_losses(batch, velocities: torch.Tensor,
                         settings: RelativeLossSettings = RelativeLossSettings()) -> torch.Tensor:
    """Relative loss of every pair (B,): log2(1 + sum_x w |R|^2 / sum_x w |R0|^2) (module docstring); 1 at V = 0."""
    u = node_displacements(batch, velocities)
    pred = _spectra(batch, batch.x1 + u[batch.segments[:, 0]], batch.x2 + u[batch.segments[:, 1]])
    n = batch.grid  # the nominal grid: w varies faster than the band-limited fields, sample it finely
    target = batch.target.to(pred.dtype)
    R = real_grid(pred - target, n)  # (B, n, n, n, 3, 3)
    R0 = real_grid(batch.source.to(pred.dtype) - target, n)
    w = displacement_weights(batch, u, settings).to(R.dtype)
    num = (w * (R * R).sum(dim=(-2, -1))).sum(dim=(1, 2, 3))
    den = (w * (R0 * R0).sum(dim=(-2, -1))).sum(dim=(1, 2, 3))
    return torch.log2(1.0 + num / den.clamp_min(torch.finfo(den.dtype).tiny))


def pair_losses(batch, velocities: torch.Tensor, loss: str = "absolute",
                settings: RelativeLossSettings = RelativeLossSettings()) -> torch.Tensor:
    """Per-pair loss (B,) of the named kind ('relative' or 'absolute')."""
    if loss == "relative":
        return relative_pair_losses(batch, velocities, settings)
    if loss == "absolute":
        return absolute_pair_losses(batch, velocities)
    raise ValueError(f"unknown loss {loss!r}; choose one of {LOSSES}")
