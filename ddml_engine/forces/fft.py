"""Long-range elastic forces by FFT (DDD-FFT; Bertin, Upadhyay & Capolungo, IJSS 2015; Bertin, IJP 2019).

The non-singular stress of a network with core radius A is the classical stress of its Nye tensor field
spread by Cai's kernel, w^(k) = (A k)^2 K_2(A k) / 2 (Cai et al., JMPS 2006). On a periodic cell it is
computed spectrally:
  1. alpha_ij = sum_seg b_i d_j: Gauss-Legendre points along each segment are spread onto an N^3 grid with
     cubic B-splines (particle-mesh Ewald style); FFT; divide by the B-spline's Euler factor.
  2. Plastic distortion with curl beta^p = -alpha (row-wise; alpha_ij = b_i t_j), div beta^p = 0:
     beta^_i = -i (k x alpha^_i) / k^2 (sign checked against the real-space segment stress).
  3. Equilibrium for the total displacement in isotropic elasticity:
       sigma^ = C : sym(k (x) g) - C : beta^,   g = K^-1 (C:beta^) k,   K^-1 = [I - (l+m)/(l+2m) k^k^]/(m k^2).
  4. Stress back on the grid (divided once more by the Euler factor), interpolated with the same B-splines at
     the quadrature points; PK force (sigma b) x d distributed with the linear shape functions to the nodes.
Short range: for segment pairs closer than `cutoff` (and for each segment's self interaction) the grid force
is replaced by the exact non-singular one, F += f(a) - f(A), whose remainder decays as A^2 / r^3.
The mean (k = 0) stress of the dislocations is zero (periodic, traction-free on average).
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from scipy import fft as sfft
from scipy.special import kv

from ddml_engine.forces.elastic import interaction_pairs, listed_pair_forces, self_forces
from ddml_engine.network import DislocationNetwork
from ddml_engine.parallel import threads_for


@numba.njit(parallel=True, cache=True)
def _apply_operator(real_op: np.ndarray, ahat: np.ndarray) -> np.ndarray:
    """sigma^[v, k] = i sum_c T[k, v, c] alpha^[c, k] for every wave vector k."""
    out = np.empty((6, ahat.shape[1]), dtype=np.complex128)
    for k in numba.prange(ahat.shape[1]):
        for v in range(6):
            acc = 0.0 + 0.0j
            for c in range(9):
                acc += real_op[k, v, c] * ahat[c, k]
            out[v, k] = 1j * acc
    return out


_MALLOC_TUNED = False


def retain_freed_memory() -> None:
    """Ask glibc to serve large blocks from its heap and keep what is freed (mallopt M_MMAP_THRESHOLD = 1 GiB,
    M_TRIM_THRESHOLD = 2 GiB), process-wide, once. Each far-field update allocates ~60 MB of FFT temporaries
    (scipy.fft has no output buffers); served by fresh mmap they come back as zero pages, and the page faults
    cost ~10 ms of a 45 ms update on this machine (Ta box 0-100 ps: 8.1 -> 7.4 s). No-op without glibc."""
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return
    _MALLOC_TUNED = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 1 << 31)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


@numba.njit(cache=True, inline="always")
def _cubic_bspline(t: float, w: np.ndarray) -> None:
    """The four cubic B-spline weights of fractional offset t in [0, 1) into w (as `_bspline_weights`)."""
    t2 = t * t
    t3 = t2 * t
    w[0] = (1 - t) ** 3 / 6.0
    w[1] = (3 * t3 - 6 * t2 + 4) / 6.0
    w[2] = (-3 * t3 + 3 * t2 + 3 * t + 1) / 6.0
    w[3] = t3 / 6.0


@numba.njit(cache=True)
def _spread_nye(u: np.ndarray, weights9: np.ndarray, out: np.ndarray) -> None:
    """Add the cubic B-spline spread of weighted Nye samples (P, 9) at grid coordinates u (P, 3) to out (9, N, N, N)
    (the 4x4x4 stencil of `_stencil`, periodic)."""
    n0, n1, n2 = out.shape[1], out.shape[2], out.shape[3]
    wx, wy, wz = np.empty(4), np.empty(4), np.empty(4)
    for p in range(u.shape[0]):
        bx = int(np.floor(u[p, 0]))
        by = int(np.floor(u[p, 1]))
        bz = int(np.floor(u[p, 2]))
        for w, t in ((wx, u[p, 0] - bx), (wy, u[p, 1] - by), (wz, u[p, 2] - bz)):
            _cubic_bspline(t, w)
        for i in range(4):
            ix = (bx - 1 + i) % n0
            for j in range(4):
                iy = (by - 1 + j) % n1
                wij = wx[i] * wy[j]
                for k in range(4):
                    iz = (bz - 1 + k) % n2
                    wk = wij * wz[k]
                    for c in range(9):
                        out[c, ix, iy, iz] += wk * weights9[p, c]


def _bspline_weights(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cubic B-spline stencil of fractional grid coordinates u (P, 3): first node (P, 3) int, weights (P, 3, 4)."""
    base = np.floor(u).astype(np.int64)
    t = u - base
    t2, t3 = t * t, t * t * t
    w = np.stack([(1 - t) ** 3 / 6.0, (3 * t3 - 6 * t2 + 4) / 6.0, (-3 * t3 + 3 * t2 + 3 * t + 1) / 6.0, t3 / 6.0],
                 axis=-1)
    return base - 1, w


def _stencil(u: np.ndarray, n: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Flat grid indices (P, 64) and weights (P, 64) of the 4x4x4 B-spline stencil of every point."""
    first, w = _bspline_weights(u)
    offs = np.arange(4)
    ix = (first[:, 0, None] + offs) % n[0]
    iy = (first[:, 1, None] + offs) % n[1]
    iz = (first[:, 2, None] + offs) % n[2]
    flat = (ix[:, :, None, None] * n[1] + iy[:, None, :, None]) * n[2] + iz[:, None, None, :]
    weight = w[:, 0, :, None, None] * w[:, 1, None, :, None] * w[:, 2, None, None, :]
    return flat.reshape(len(u), 64), weight.reshape(len(u), 64)


@dataclass
class FFTStressSolver:
    """Spectral non-singular stress of a Nye field on an N^3 grid of a periodic cell (isotropic elasticity)."""

    mu: float
    nu: float
    core_radius: float  # A, spreading radius of the grid field (units of b)
    grid: int = 64

    def _spectral_operators(self, cell_matrix: np.ndarray):
        n = (self.grid,) * 3
        mx = np.fft.fftfreq(n[0], 1.0 / n[0])
        my = np.fft.fftfreq(n[1], 1.0 / n[1])
        mz = np.fft.rfftfreq(n[2], 1.0 / n[2])
        m = np.stack(np.meshgrid(mx, my, mz, indexing="ij"), axis=-1)
        k = 2.0 * np.pi * m @ np.linalg.inv(cell_matrix)  # rows: k = 2 pi H^-T m
        k2 = np.einsum("...i,...i->...", k, k)
        kk = np.sqrt(k2)
        x = self.core_radius * kk
        with np.errstate(invalid="ignore", divide="ignore"):
            spread = np.where(x > 0, 0.5 * x * x * kv(2, np.where(x > 0, x, 1.0)), 1.0)
        euler = 1.0
        for axis, mm in enumerate((mx, my, mz)):
            shape = [1, 1, 1]
            shape[axis] = len(mm)
            euler = euler * (2.0 / 3.0 + np.cos(2.0 * np.pi * mm / n[axis]) / 3.0).reshape(shape)
        return n, k, k2, spread, euler

    def _stress_of_nye(self, ahat: np.ndarray, k: np.ndarray, k2: np.ndarray) -> np.ndarray:
        """sigma^ (..., 6) Voigt from Nye coefficients alpha^ (..., 3, 3) (steps 2 and 3 of the module doc)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            inv_k2 = np.where(k2 > 0, 1.0 / k2, 0.0)
        beta = -1j * np.cross(k[..., None, :], ahat) * inv_k2[..., None, None]  # row i: -i k x alpha_i / k^2
        lam = 2.0 * self.mu * self.nu / (1.0 - 2.0 * self.nu)
        tau = lam * np.einsum("...ii->...", beta)[..., None, None] * np.eye(3) + self.mu * (
            beta + np.swapaxes(beta, -1, -2))
        tk = np.einsum("...ij,...j->...i", tau, k)
        khat_tk = np.einsum("...i,...i->...", k, tk) * inv_k2
        g = (tk - (lam + self.mu) / (lam + 2 * self.mu) * khat_tk[..., None] * k) * (inv_k2 / self.mu)[..., None]
        kg = np.einsum("...i,...i->...", k, g)
        sym = np.einsum("...i,...j->...ij", k, g)
        sigma = (lam * kg[..., None, None] * np.eye(3) + self.mu * (sym + np.swapaxes(sym, -1, -2))) - tau
        return np.stack([sigma[..., 0, 0], sigma[..., 1, 1], sigma[..., 2, 2],
                         sigma[..., 1, 2], sigma[..., 0, 2], sigma[..., 0, 1]], axis=-1)

    def operator(self, cell_matrix: np.ndarray) -> np.ndarray:
        """Real T (K, 6, 9), K = nx ny (nz//2+1), with i T the linear map from rfftn of the spread Nye samples to
        rfftn of the interpolation-ready stress grid: kernel, B-spline Euler factors, 1/V, elastic Green operator."""
        key = (np.asarray(cell_matrix, float).tobytes(), self.core_radius, self.grid)
        if getattr(self, "_cache_key", None) == key:
            return self._cache
        n, k, k2, spread, euler = self._spectral_operators(cell_matrix)
        factor = spread / (euler * euler * abs(np.linalg.det(cell_matrix)))
        op = np.empty(k2.shape + (6, 9), dtype=np.complex128)
        for c in range(9):
            unit = np.zeros(9)
            unit[c] = 1.0
            op[..., c] = self._stress_of_nye(np.broadcast_to(unit.reshape(3, 3), k2.shape + (3, 3)), k, k2)
        op *= factor[..., None, None] * float(np.prod(n))  # N^3 undoes irfftn's 1/N^3 (a sum, not a mean)
        # The operator is purely imaginary (one factor i k / k^2): keep its real part T, sigma^ = i T alpha^.
        real_op = np.ascontiguousarray(op.imag.reshape(-1, 6, 9))
        self._cache_key, self._cache = key, real_op
        return real_op

    def stress_grid(self, points_frac: np.ndarray, weights9: np.ndarray, cell_matrix: np.ndarray
                    ) -> tuple[np.ndarray, tuple[int, int, int]]:
        """Interpolation-ready stress grid (6, N, N, N) from weighted Nye samples at fractional positions."""
        n = (self.grid,) * 3
        retain_freed_memory()
        op = self.operator(cell_matrix)
        alpha = getattr(self, "_alpha", None)  # the Nye grid is reused: a fresh 9 N^3 array costs page faults
        if alpha is None or alpha.shape[1:] != n:
            alpha = self._alpha = np.zeros((9,) + n)
        else:
            alpha.fill(0.0)
        _spread_nye(np.ascontiguousarray(points_frac * np.array(n, float)), np.ascontiguousarray(weights9), alpha)
        ahat = sfft.rfftn(alpha, axes=(1, 2, 3), workers=-1)
        half = ahat.shape[1:]
        sigma_hat = _apply_operator(op, ahat.reshape(9, -1)).reshape((6,) + half)
        return sfft.irfftn(sigma_hat, s=n, axes=(1, 2, 3), workers=-1, overwrite_x=True), n

    @staticmethod
    def interpolate(grid: np.ndarray, n: tuple[int, int, int], points_frac: np.ndarray) -> np.ndarray:
        """Stress tensors (P, 3, 3) at fractional positions from an interpolation-ready grid."""
        flat, w = _stencil(points_frac * np.array(n), n)
        values = np.einsum("pk,cpk->pc", w, grid.reshape(6, -1)[:, flat])
        xx, yy, zz, yz, xz, xy = values.T
        return np.stack([np.stack([xx, xy, xz], -1), np.stack([xy, yy, yz], -1), np.stack([xz, yz, zz], -1)], 1)


def _quadrature(order: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre points on [0, 1] and weights summing to 1."""
    x, w = np.polynomial.legendre.leggauss(order)
    return 0.5 * (x + 1.0), 0.5 * w


@numba.njit(parallel=True, cache=True)
def _pk_forces_from_grid(grid: np.ndarray, x1: np.ndarray, d: np.ndarray, burgers: np.ndarray, frac1: np.ndarray,
                         dfrac: np.ndarray, s: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PK forces (f1, f2) on segment ends from the interpolation-ready stress grid (6, n0, n1, n2).

    Gauss points x = x1 + s d (fractional frac1 + s dfrac); cubic B-spline interpolation of sigma; the force density
    (sigma b) x d g_q goes to the ends with the shape functions (1 - s, s).
    """
    n0, n1, n2 = grid.shape[1], grid.shape[2], grid.shape[3]
    m = x1.shape[0]
    f1 = np.zeros((m, 3))
    f2 = np.zeros((m, 3))
    for seg in numba.prange(m):
        for q in range(s.shape[0]):
            u = np.empty(3)
            for a in range(3):
                fa = frac1[seg, a] + s[q] * dfrac[seg, a]
                u[a] = (fa - np.floor(fa)) * (n0, n1, n2)[a]
            sig = np.zeros(6)
            wx, wy, wz = np.empty(4), np.empty(4), np.empty(4)
            bx = int(np.floor(u[0]))
            by = int(np.floor(u[1]))
            bz = int(np.floor(u[2]))
            for w, t in ((wx, u[0] - bx), (wy, u[1] - by), (wz, u[2] - bz)):
                _cubic_bspline(t, w)
            for i in range(4):
                ix = (bx - 1 + i) % n0
                for j in range(4):
                    iy = (by - 1 + j) % n1
                    wij = wx[i] * wy[j]
                    for k in range(4):
                        iz = (bz - 1 + k) % n2
                        w = wij * wz[k]
                        for c in range(6):
                            sig[c] += w * grid[c, ix, iy, iz]
            b = burgers[seg]
            sb0 = sig[0] * b[0] + sig[5] * b[1] + sig[4] * b[2]
            sb1 = sig[5] * b[0] + sig[1] * b[1] + sig[3] * b[2]
            sb2 = sig[4] * b[0] + sig[3] * b[1] + sig[2] * b[2]
            dd = d[seg]
            fx = (sb1 * dd[2] - sb2 * dd[1]) * g[q]
            fy = (sb2 * dd[0] - sb0 * dd[2]) * g[q]
            fz = (sb0 * dd[1] - sb1 * dd[0]) * g[q]
            f1[seg, 0] += (1 - s[q]) * fx
            f1[seg, 1] += (1 - s[q]) * fy
            f1[seg, 2] += (1 - s[q]) * fz
            f2[seg, 0] += s[q] * fx
            f2[seg, 1] += s[q] * fy
            f2[seg, 2] += s[q] * fz
    return f1, f2


@dataclass
class FFTLongRange:
    """Elastic interaction + self force with FFT long range and exact non-singular short-range pairs.

    grid: N per axis; spreading: A in grid spacings (default 2, A = 2 h, as ExaDiS); cutoff_in_A: short-range
    correction radius in units of A (default 4, as ExaDiS). `precompute(network)` freezes the far field once per
    DDD step, before the integrator's sub-steps (ExaDiS freezes its grid stress likewise); later calls on the
    same topology then only redo the exact short range. Without it every call is exact.
    """

    mu: float
    nu: float
    a: float
    grid: int = 64
    spreading: float = 2.0
    cutoff_in_A: float = 4.0

    def __post_init__(self) -> None:
        self._solver: FFTStressSolver | None = None
        self._frozen: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def spreading_radius(self, network: DislocationNetwork) -> float:
        h = float(np.max(network.cell.lengths)) / self.grid
        return max(self.spreading * h, self.a)

    def _quadrature_for(self, network: DislocationNetwork, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = np.min(network.cell.lengths) / self.grid
        order = int(np.clip(np.ceil(np.max(np.linalg.norm(d, axis=1), initial=0.0) / h) + 1, 2, 16))
        return _quadrature(order)

    def stress_grid(self, network: DislocationNetwork) -> np.ndarray:
        """Interpolation-ready grid stress (6, N, N, N) of the network, spread with radius A."""
        A = self.spreading_radius(network)
        if self._solver is None or self._solver.core_radius != A:
            self._solver = FFTStressSolver(self.mu, self.nu, A, self.grid)  # caches its spectral operator
        x1, x2 = network.segment_endpoints()
        d = x2 - x1
        s, g = self._quadrature_for(network, d)
        points = x1[:, None, :] + s[None, :, None] * d[:, None, :]
        frac = network.cell.to_fractional(points.reshape(-1, 3)) % 1.0
        bd = (network.burgers[:, :, None] * d[:, None, :]).reshape(-1, 9)
        weights9 = (bd[:, None, :] * g[None, :, None]).reshape(-1, 9)
        grid, _ = self._solver.stress_grid(frac, weights9, network.cell.matrix)
        return grid

    def precompute(self, network: DislocationNetwork) -> None:
        """Freeze the far-field part of the nodal forces (grid PK force minus the grid's own short-range part,
        which varies on the scale of the dislocation spacing) and the short-range pair list, for the following
        calls on networks with the same segments (the sub-steps of one DDD step). Those calls then only
        add the exact non-singular short-range and self forces at the current positions; calls on other
        topologies interpolate the frozen grid stress (ExaDiS's scheme)."""
        self.release()
        if network.num_segments:
            A = self.spreading_radius(network)
            pairs = interaction_pairs(network, self.cutoff_in_A * A)
            grid = self.stress_grid(network)
            far = self._grid_forces(network, grid) - self._short_range(network, pairs, A)
            self._frozen = (network.segments.copy(), pairs, far, grid)

    def release(self) -> None:
        """Back to exact calls (grid and pairs recomputed every call)."""
        self._frozen = None

    def _grid_forces(self, network: DislocationNetwork, grid: np.ndarray) -> np.ndarray:
        """Nodal PK forces of the interpolated grid stress."""
        x1, x2 = network.segment_endpoints()
        d = x2 - x1
        s, g = self._quadrature_for(network, d)
        frac1 = network.cell.to_fractional(x1)
        dfrac = d @ network.cell.inverse.T
        with threads_for(len(d) * len(s)):
            f1, f2 = _pk_forces_from_grid(grid, x1, d, network.burgers, frac1, dfrac, s, g)
        return network.end_values_to_nodes(f1, f2)

    def _short_range(self, network: DislocationNetwork, pairs: np.ndarray, radius: float) -> np.ndarray:
        """Non-singular pair and self forces with core radius `radius` over the listed pairs."""
        return (listed_pair_forces(network, pairs, self.mu, self.nu, radius)
                + self_forces(network, self.mu, self.nu, radius))

    def __call__(self, network: DislocationNetwork) -> np.ndarray:
        """Nodal elastic forces (N, 3): grid far field (frozen after precompute) + exact short range."""
        if network.num_segments == 0:
            return np.zeros((network.num_nodes, 3))
        if self._frozen is not None and np.array_equal(self._frozen[0], network.segments):
            _, pairs, far, _ = self._frozen
            return far + self._short_range(network, pairs, self.a)
        # Other topologies (e.g. trial splits of a multi-node) use the frozen grid stress, or a fresh one.
        A = self.spreading_radius(network)
        grid = self._frozen[3] if self._frozen is not None else self.stress_grid(network)
        pairs = interaction_pairs(network, self.cutoff_in_A * A)
        return (self._grid_forces(network, grid) - self._short_range(network, pairs, A)
                + self._short_range(network, pairs, self.a))
