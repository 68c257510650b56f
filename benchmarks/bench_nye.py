"""Benchmark: spectral Nye field (ddml_engine.nye), forward + backward for M segments on an n^3 grid.

Run:  python benchmarks/bench_nye.py [--segments 1000] [--grid 32] [--repeat 5] [--device cpu]
Prints milliseconds per forward (half spectrum), forward + backward (through the Parseval loss), and the
throughput in (segment, wave vector) pairs per second, for float32 and float64.
"""
from __future__ import annotations

import argparse
import math
import time

import torch

from ddml_engine import nye


def random_loops(num_segments: int, box: float, dtype: torch.dtype, device: str, seed: int = 0):
    """Closed polygonal loops of 20 segments (radius ~ box/8) at random places and orientations."""
    g = torch.Generator().manual_seed(seed)
    per = 20
    loops = max(1, num_segments // per)
    theta = torch.arange(per, dtype=torch.float64) * (2 * math.pi / per)
    circle = torch.stack([torch.cos(theta), torch.sin(theta), torch.zeros_like(theta)], 1) * (box / 8)
    rot = torch.linalg.qr(torch.randn(loops, 3, 3, generator=g, dtype=torch.float64))[0]
    centres = torch.rand(loops, 1, 3, generator=g, dtype=torch.float64) * box
    pts = torch.einsum("lij,pj->lpi", rot, circle) + centres
    x1 = pts.reshape(-1, 3)[:num_segments]
    x2 = torch.roll(pts, -1, dims=1).reshape(-1, 3)[:num_segments]
    b = torch.randn(loops, 1, 3, generator=g, dtype=torch.float64).expand(loops, per, 3).reshape(-1, 3)
    b = b[:num_segments] / b[:num_segments].norm(dim=1, keepdim=True)
    return [t.to(dtype=dtype, device=device).contiguous() for t in (x1, x2, b)]


def timed(fn, repeat: int, device: str) -> tuple[float, float]:
    """Best wall-clock and best process CPU time (ms) over `repeat` calls after a warm-up.

    On a shared machine the CPU time (summed over threads) is the steadier figure; run with
    OMP_NUM_THREADS=1 to make it comparable with single-core wall time.
    """
    fn()  # warm-up
    best, best_cpu = math.inf, math.inf
    for _ in range(repeat):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best * 1e3, best_cpu * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--segments", type=int, default=1000)
    ap.add_argument("--grid", type=int, default=32)
    ap.add_argument("--box", type=float, default=300.0)
    ap.add_argument("--sigma", type=float, default=20.0)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--chunk", type=int, default=None, help="segments per chunk (default: automatic)")
    args = ap.parse_args()
    n, box = args.grid, args.box
    nk = n * n * (n // 2 + 1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}; "
          f"{args.segments} segments, grid {n}^3 ({nk} half-spectrum wave vectors), best of {args.repeat}")
    for dtype in (torch.float32, torch.float64):
        x1, x2, b = random_loops(args.segments, box, dtype, args.device)
        H = torch.eye(3, dtype=dtype, device=args.device) * box
        o = torch.zeros(3, dtype=dtype, device=args.device)
        target = nye.nye_field_fourier(x1 + 0.5, x2 + 0.5, b, H, o, n, args.sigma, chunk_size=args.chunk)

        def forward():
            with torch.no_grad():
                nye.nye_field_fourier(x1, x2, b, H, o, n, args.sigma, chunk_size=args.chunk)

        def forward_backward():
            a = x1.clone().requires_grad_()
            c = x2.clone().requires_grad_()
            loss = nye.nye_loss(nye.nye_field_fourier(a, c, b, H, o, n, args.sigma, chunk_size=args.chunk),
                                target, n)
            loss.backward()

        def grid_only():
            with torch.no_grad():
                nye.nye_field(x1, x2, b, H, o, n, args.sigma, chunk_size=args.chunk)

        (t_f, c_f), (t_fb, c_fb), (t_g, c_g) = (timed(fn, args.repeat, args.device)
                                                 for fn in (forward, forward_backward, grid_only))
        pairs = args.segments * nk
        print(f"{str(dtype):14s} forward {t_f:7.1f} ms (cpu {c_f:7.1f}; {pairs / t_f * 1e-3:4.0f} M pairs/s) | "
              f"forward+irfftn {t_g:7.1f} ms (cpu {c_g:7.1f}) | forward+backward {t_fb:7.1f} ms (cpu {c_fb:7.1f}; "
              f"{args.segments / t_fb * 1e3:,.0f} segments/s)")

if __name__ == "__main__":
    main()
