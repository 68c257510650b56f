"""Benchmark of the non-singular segment-pair forces on the shared Cu ParaDiS network (5930 segments).

Times `interaction_forces` all pairs (M(M-1)/2 ~ 17.6 M pairs) after a warm-up call and reports ns per segment
pair against the ExaDiS figure measured on this kind of machine (250 ns/pair with 2 threads, DESIGN.md), then the
cutoff model (linked-cell pair search + forces). Usage:

    python benchmarks/bench_forces.py [--repeats 5] [--cutoff 2000] [--file PATH]
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numba
import numpy as np

from ddml_engine.forces.elastic import interaction_forces, interaction_pairs, self_forces
from ddml_engine.materials import material
from ddml_engine.network import Cell, DislocationNetwork

EXADIS_NS_PER_PAIR = 250.0
DEFAULT_FILE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "cu_180chains_16.10e.data"


def _read_nodal_data(path: Path) -> DislocationNetwork:
    """Minimal ParaDiS (dataFileVersion 4) reader: bounds and nodalData only (used if the io reader is absent)."""
    lines = path.read_text().splitlines()
    lo = hi = None
    for i, line in enumerate(lines):
        if line.startswith("minCoordinates"):
            lo = [float(lines[i + k].strip()) for k in (1, 2, 3)]
        if line.startswith("maxCoordinates"):
            hi = [float(lines[i + k].strip()) for k in (1, 2, 3)]
    start = next(i for i, line in enumerate(lines) if line.startswith("nodalData")) + 1
    rows = [ln for ln in lines[start:] if ln.strip() and not ln.lstrip().startswith("#")]
    tags, pos, arms = [], [], []
    k = 0
    while k < len(rows):
        head = rows[k].replace(",", " ").split()
        tag = (int(head[0]), int(head[1]))
        narms = int(head[5])
        tags.append(tag)
        pos.append([float(v) for v in head[2:5]])
        for a in range(narms):
            arm = rows[k + 1 + 2 * a].replace(",", " ").split()
            arms.append((tag, (int(arm[0]), int(arm[1])), [float(v) for v in arm[2:5]]))
        k += 1 + 2 * narms
    index = {t: i for i, t in enumerate(tags)}
    segs, burgers = [], []
    for t1, t2, b in arms:
        if index[t1] < index[t2]:
            segs.append((index[t1], index[t2]))
            burgers.append(b)
    return DislocationNetwork(Cell.from_bounds(lo, hi), np.array(pos), np.array(segs), np.array(burgers))


def load_network(path: Path) -> tuple[DislocationNetwork, str]:
    try:
        from ddml_engine.io.paradis import read_paradis  # type: ignore[import-not-found]
    except ImportError:
        return _read_nodal_data(path), "benchmark's private nodalData parser"
    return read_paradis(path), "ddml_engine.io.paradis.read_paradis"


def _timed(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cutoff", type=float, default=2000.0)
    args = parser.parse_args()

    net, reader = load_network(args.file)
    print(f"read {args.file.name} with {reader}")
    cu = material("Cu")
    mu, nu, a = cu.mu, cu.nu, 1.0
    m = net.num_segments
    npairs = m * (m - 1) // 2
    print(f"network: {net.num_nodes} nodes, {m} segments, {npairs} pairs; numba threads {numba.get_num_threads()}")

    t0 = time.perf_counter()
    forces = interaction_forces(net, mu, nu, a)
    print(f"first call (compile or cache load + run): {time.perf_counter() - t0:.2f} s")
    times = _timed(lambda: interaction_forces(net, mu, nu, a), args.repeats)
    best, med = min(times), statistics.median(times)
    print(f"all pairs: best {best:.3f} s, median {med:.3f} s over {args.repeats} runs")
    print(f"  ns/pair: best {best / npairs * 1e9:.1f}, median {med / npairs * 1e9:.1f}; "
          f"ExaDiS reference {EXADIS_NS_PER_PAIR:.0f} ns/pair -> ratio (ours/ExaDiS) best "
          f"{best / npairs * 1e9 / EXADIS_NS_PER_PAIR:.2f}, median {med / npairs * 1e9 / EXADIS_NS_PER_PAIR:.2f}")
    total = forces + self_forces(net, mu, nu, a)
    print(f"  |sum of nodal forces| / sum |f| = {np.linalg.norm(total.sum(0)) / np.linalg.norm(total, axis=1).sum():.2e}")

    pairs = interaction_pairs(net, args.cutoff)
    interaction_forces(net, mu, nu, a, cutoff=args.cutoff)
    times_c = _timed(lambda: interaction_forces(net, mu, nu, a, cutoff=args.cutoff), args.repeats)
    times_p = _timed(lambda: interaction_pairs(net, args.cutoff), args.repeats)
    print(f"cutoff {args.cutoff:g} b: {len(pairs)} pairs ({len(pairs) / npairs:.2e} of all); "
          f"forces best {min(times_c) * 1e3:.2f} ms, median {statistics.median(times_c) * 1e3:.2f} ms "
          f"(pair search alone best {min(times_p) * 1e3:.2f} ms)")


if __name__ == "__main__":
    main()
