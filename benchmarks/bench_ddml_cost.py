"""Benchmark: DDD+ML against DDD with the linear law, wall seconds per simulated picosecond (issue 14, item 3).

    python benchmarks/bench_ddml_cost.py MODEL.pt [--ps 5] [--seed 101] [--threads N]

Both runs start from the same state (`ddml simulate` defaults: 12 random prismatic loops, 6 straight lines, 300 b
W box, [001] compression at 2e8/s, FFT 64^3, trapezoid with 10 sub-steps), one after the other in this process,
after one warm-up step each. MODEL.pt is a trained ddml model file (e.g. `ddml demo`'s training/model.pt): an
untrained one moves lines arbitrarily and its time steps mean nothing. Prints, for each mobility, steps, mean
dt, wall time, wall seconds per simulated ps and per node-step, and the ratio GNN / linear (target <= 1.3).
"""
from __future__ import annotations

import argparse
import json
import os
import time

from ddml_engine import parallel


def run(config: dict, ps: float) -> dict:
    from ddml_engine.dynamics.config import build_simulation

    sim, _ = build_simulation(config)
    sim.step()
    t0, steps0 = sim.time, sim.step_count
    start = time.perf_counter()
    node_steps = 0
    while sim.time - t0 < ps * 1e-12:
        rec = sim.step()
        node_steps += rec.nodes
    wall = time.perf_counter() - start
    steps = sim.step_count - steps0
    simulated_ps = (sim.time - t0) * 1e12
    return {"steps": steps, "simulated_ps": simulated_ps, "mean_dt_ps": simulated_ps / steps, "wall_s": wall,
            "wall_s_per_ps": wall / simulated_ps, "us_per_node_step": 1e6 * wall / max(1, node_steps),
            "nodes_end": sim.history[-1].nodes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="trained ddml model file (TorchScript)")
    parser.add_argument("--ps", type=float, default=5.0, help="simulated time per run, ps (5)")
    parser.add_argument("--seed", type=int, default=101, help="start configuration seed (101)")
    parser.add_argument("--lines", type=int, default=6, help="straight lines beside the 12 loops (6)")
    parser.add_argument("--threads", type=int, default=0, help="threads (default: ddml's setting)")
    args = parser.parse_args()
    from ddml_engine.dynamics.config import DEFAULTS

    cores = parallel.configure_threads(args.threads or None)
    base = json.loads(json.dumps(DEFAULTS))
    base["material"]["name"] = "W"
    base["initial"].update(seed=args.seed, lines=args.lines)
    linear = run(base, args.ps)
    gnn_config = json.loads(json.dumps(base))
    gnn_config["mobility"].update(law="gnn", model=os.path.abspath(args.model))
    gnn = run(gnn_config, args.ps)
    print(f"threads {cores}; load before {os.getloadavg()[0]:.2f}")
    for name, r in (("linear BCC law", linear), ("GNN", gnn)):
        print(f"  {name:15s} {r['steps']:4d} steps, mean dt {r['mean_dt_ps']:.3g} ps, {r['wall_s']:.1f} s wall, "
              f"{r['wall_s_per_ps']:.2f} s/ps, {r['us_per_node_step']:.1f} us per node-step, {r['nodes_end']} nodes")
    ratio = gnn["wall_s_per_ps"] / linear["wall_s_per_ps"]
    print(f"  GNN / linear: {ratio:.2f} x wall per simulated ps (target <= 1.3); per node-step "
          f"{gnn['us_per_node_step'] / linear['us_per_node_step']:.2f} x")
    print(json.dumps({"linear": linear, "gnn": gnn, "ratio_per_ps": ratio}))


if __name__ == "__main__":
    main()
