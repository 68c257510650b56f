"""Benchmark: DDD+ML against DDD with the linear law, wall seconds per simulated picosecond (issue 14, item 3).

    python benchmarks/bench_ddml_cost.py MODEL.pt [--ps 20] [--seed 101] [--threads N] [--repeats 3]

All runs start from the same state (`ddml simulate` defaults: 12 random prismatic loops, 6 straight lines, 300 b
W box, [001] compression at 2e8/s, FFT 64^3, trapezoid with 10 sub-steps), one after the other in this process,
after an untimed warm-up (numba compilation, FFT operator, TorchScript load):
1. linear: the linear BCC law.
2. GNN at the law's steps: every velocity evaluation (integrator and multi-node splitting) calls the GNN on the
   state and the forces, as DDD+ML does, but the lines move with the law's velocities. The trajectory and time
   steps are the law's, so this is the wall time of DDD+ML with a model that reproduced the law exactly — the
   equal-footing cost (the law's own evaluations, timed, are subtracted).
3. GNN: DDD+ML as users run it, with MODEL.pt moving the lines. Its time steps follow the model's velocities,
   so its wall time per ps reflects the model's errors as much as its cost: reported, not the figure.
MODEL.pt is any exported ddml model; `benchmarks/fit_law_gnn.py` writes one fitted to the law.
Runs 1 and 2 are repeated, alternately (`--repeats`); the medians are compared. Prints steps, mean dt, wall, wall
per ps, per velocity evaluation, and the ratios to the law (target <= 1.3).
"""
from __future__ import annotations

import argparse
import json
import os
import time

from bench_ddd_box import count_evaluations  # benchmarks/ is the script's directory
from ddml_engine import parallel


class LawWithGNNCost:
    """Mobility that evaluates the GNN (result discarded) and returns the law's velocities; records how long the
    law took, so that its share can be taken out of the wall time."""

    def __init__(self, law, gnn):
        self.law, self.gnn, self.law_seconds = law, gnn, 0.0

    def velocities(self, network, forces):
        self.gnn.velocities(network, forces)
        started = time.perf_counter()
        v = self.law.velocities(network, forces)
        self.law_seconds += time.perf_counter() - started
        return v


def run(config: dict, ps: float, mobility=None) -> dict:
    from ddml_engine.dynamics.config import build_simulation

    sim, _ = build_simulation(config)
    if mobility is not None:
        sim.mobility = mobility
    warm, _ = build_simulation(config)  # untimed: numba kernels, TorchScript first calls
    if mobility is not None:
        warm.mobility = mobility
    warm.step()
    if mobility is not None:
        mobility.law_seconds = 0.0
    sim.force_model.pre_compute(sim.network)  # untimed: the FFT operator of this force model
    evaluations = count_evaluations(sim)
    start = time.perf_counter()
    while sim.time < ps * 1e-12:
        sim.step()
    wall = time.perf_counter() - start
    law_share = mobility.law_seconds if mobility is not None else 0.0
    simulated_ps = sim.time * 1e12
    return {"steps": sim.step_count, "simulated_ps": simulated_ps, "mean_dt_ps": simulated_ps / sim.step_count,
            "wall_s": wall - law_share, "law_share_subtracted_s": law_share,
            "wall_s_per_ps": (wall - law_share) / simulated_ps, "evaluations": evaluations["n"],
            "ms_per_evaluation": 1e3 * (wall - law_share) / max(1, evaluations["n"]),
            "nodes_end": sim.history[-1].nodes, "plastic_strain_end": sim.history[-1].plastic_strain}


def median_run(runs: list[dict]) -> dict:
    """The run with the median wall time."""
    return sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="trained ddml model file (TorchScript)")
    parser.add_argument("--ps", type=float, default=20.0, help="simulated time per run, ps (20)")
    parser.add_argument("--seed", type=int, default=101, help="start configuration seed (101)")
    parser.add_argument("--lines", type=int, default=6, help="straight lines beside the 12 loops (6)")
    parser.add_argument("--threads", type=int, default=0, help="threads (default: ddml's setting)")
    parser.add_argument("--repeats", type=int, default=3, help="linear and GNN-at-law-steps runs, alternated (3)")
    args = parser.parse_args()
    from ddml_engine.dynamics.config import DEFAULTS, build_mobility, config_material
    from ddml_engine.mobility.gnn import GNNMobility

    cores = parallel.configure_threads(args.threads or None)
    base = json.loads(json.dumps(DEFAULTS))
    base["material"]["name"] = "W"
    base["initial"].update(seed=args.seed, lines=args.lines)
    load = os.getloadavg()[0]
    linears, shadows = [], []
    for _ in range(args.repeats):  # alternated, so that a slow spell of the machine hits both
        linears.append(run(base, args.ps))
        shadows.append(run(base, args.ps, LawWithGNNCost(build_mobility(base, config_material(base)[0]),
                                                         GNNMobility(os.path.abspath(args.model)))))
    linear, shadow = median_run(linears), median_run(shadows)
    gnn_config = json.loads(json.dumps(base))
    gnn_config["mobility"].update(law="gnn", model=os.path.abspath(args.model))
    gnn = run(gnn_config, args.ps)
    print(f"threads {cores}; load before {load:.2f}")
    for name, r in (("linear BCC law", linear), ("GNN at law steps", shadow), ("GNN (own steps)", gnn)):
        print(f"  {name:17s} {r['steps']:4d} steps, mean dt {r['mean_dt_ps']:.3g} ps, {r['wall_s']:.2f} s wall, "
              f"{r['wall_s_per_ps']:.3f} s/ps, {r['ms_per_evaluation']:.2f} ms per evaluation, "
              f"{r['nodes_end']} nodes")
    ratio = shadow["wall_s_per_ps"] / linear["wall_s_per_ps"]
    pairs = [s["wall_s_per_ps"] / r["wall_s_per_ps"] for r, s in zip(linears, shadows)]
    print(f"  DDD+ML / linear at equal steps: {ratio:.2f} x wall per simulated ps (medians of {args.repeats} runs; "
          f"run by run {min(pairs):.2f}-{max(pairs):.2f} x; target <= 1.3); "
          f"with the model's own steps {gnn['wall_s_per_ps'] / linear['wall_s_per_ps']:.2f} x")
    print(json.dumps({"linear": linear, "gnn_at_law_steps": shadow, "gnn": gnn, "ratio_equal_steps": ratio,
                      "ratios_run_by_run": pairs}))


if __name__ == "__main__":
    main()
