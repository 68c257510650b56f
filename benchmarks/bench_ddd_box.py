"""Benchmark: the paper's section 2.2 DDD box (12 random 1/2<111> prismatic loops, W, 300 b, [001] compression
at 2e8/s, linear BCC law Me = 2600, Ms = 20 /(Pa s), FFT 64^3), seconds per step over the first N steps.

Reference (DESIGN.md): LLNL ExaDiS runs the equivalent Ta case on this kind of machine at 0.37 s/step averaged over
its first steps (360 -> 2379 nodes). ExaDiS's example integrates with `multi=10` trapezoid sub-steps per step, so
the simulated time per step is the fairer figure; both are printed.

    python benchmarks/bench_ddd_box.py [--steps 200] [--out runs/bench_box]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ddml_engine.dynamics.config import build_simulation, load_config

EXADIS_SECONDS_PER_STEP = 0.37


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--out", default="runs/bench_box")
    parser.add_argument("--set", action="append", default=[], help="config override SECTION.KEY=VALUE")
    args = parser.parse_args()
    config = load_config(None, args.set)
    sim, mat = build_simulation(config)
    sim.step()  # warm-up: compiles numba kernels, builds the FFT operator
    started = time.perf_counter()
    stamps = []
    for _ in range(args.steps):
        sim.step()
        stamps.append(time.perf_counter() - started)
    wall = stamps[-1]
    hist = sim.history[2:]
    nodes = [r.nodes for r in hist]
    dts = np.array([r.dt for r in hist])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sim.write_table(out / "table.csv")
    sim.plot(out / "stress_strain.png", burgers_m=mat.burgers_m)
    result = {
        "steps": args.steps, "wall_s": wall, "seconds_per_step": wall / args.steps,
        "ratio_to_exadis_s_per_step": wall / args.steps / EXADIS_SECONDS_PER_STEP,
        "nodes_first_last": [nodes[0], nodes[-1]], "mean_dt_s": float(dts.mean()),
        "simulated_time_s": float(sim.time), "simulated_ps_per_wall_s": float(dts.sum() / wall * 1e12),
        "strain": float(sim.history[-1].strain), "axial_stress_MPa": float(sim.history[-1].stress[2] / 1e6),
        "force_model": config["forces"]["model"],
    }
    print(json.dumps(result, indent=2))
    (out / "bench.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
