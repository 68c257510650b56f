"""Benchmark: GNN mobility inference cost inside DDD vs the force cost, on a ~2,000-node network (issue 4).

    python benchmarks/bench_gnn_inference.py [--threads N]

Network: random 1/2<111> prismatic loops in a 300 b W box (FFT 64^3 force model, as `ddml simulate`). Prints the
time of one force evaluation (exact, and within a step after the far field is frozen), of one GNN velocity call
(the paper's K = 3, latent 48 model, exported TorchScript) and of the linear BCC law, and their ratios. The GNN
runs on as many torch threads as the force kernels have numba threads (default: numba's count), so both use the
same cores. Per DDD step: the force evaluations of two default steps (trapezoid, 10 sub-steps, linear law) are
counted; a step costs one far-field pre-computation plus that many in-step force evaluations and mobility calls.
"""
from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
import torch

from ddml_engine.dynamics.configs import random_prismatic_loops
from ddml_engine.forces.model import make_force_model
from ddml_engine.materials import material
from ddml_engine.ml.export import export_model
from ddml_engine.ml.model import GNNMobilityModel
from ddml_engine.mobility.bcc import BCCLinearMobility
from ddml_engine.mobility.gnn import GNNMobility
from ddml_engine.network import Cell


def best_time(fn, repeats: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def calls_per_step(network, material, steps: int = 2) -> float:
    """Force evaluations (= mobility calls) per DDD step of the default `ddml simulate` set-up, linear law."""
    from ddml_engine.dynamics.config import DEFAULTS, build_simulation

    config = copy.deepcopy(DEFAULTS)
    config["forces"]["model"] = "fft"
    sim, _ = build_simulation(config, network=network)
    model, count = sim.force_model, [0]

    class Counting:
        def __call__(self, net, stress):
            count[0] += 1
            return model(net, stress)

        def pre_compute(self, net):
            return model.pre_compute(net)

    sim.force_model = Counting()
    for _ in range(steps):
        sim.step()
    return count[0] / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads for the GNN (default 0 = numba's thread count, used by the forces)")
    args = parser.parse_args()
    args.threads = args.threads or numba.get_num_threads()
    torch.set_num_threads(args.threads)
    network = random_prismatic_loops(Cell.cubic(300.0), 40, (40.0, 60.0), 6.0, seed=1)
    w = material("W")
    forces = make_force_model("fft", w)
    stress = np.array([0, 0, -1e9, 0, 0, 0.0])
    f = forces(network, stress)
    t_exact = best_time(lambda: forces(network, stress))
    forces.pre_compute(network)
    t_step = best_time(lambda: forces(network, stress))
    with tempfile.TemporaryDirectory() as tmp:
        path = export_model(GNNMobilityModel(latent=48, layers=3), Path(tmp) / "model.pt", {"material": "W"})
        gnn = GNNMobility(path)
        t_gnn = best_time(lambda: gnn.velocities(network, f))
    t_bcc = best_time(lambda: BCCLinearMobility().velocities(network, f))
    t_pre = best_time(lambda: forces.pre_compute(network))
    calls = calls_per_step(network, w)
    per_step_force = t_pre + calls * t_step
    per_step_gnn = calls * t_gnn
    print(f"network: {network.num_nodes} nodes, {network.num_segments} segments; torch threads {args.threads}")
    print(f"force evaluation, exact (FFT 64^3 + short range): {t_exact * 1e3:.1f} ms")
    print(f"force evaluation within a step (far field frozen): {t_step * 1e3:.1f} ms")
    print(f"GNN velocities (K=3, L=48, TorchScript):          {t_gnn * 1e3:.1f} ms")
    print(f"linear BCC law velocities:                        {t_bcc * 1e3:.1f} ms")
    print(f"GNN / exact force evaluation: {t_gnn / t_exact:.3f};  GNN / in-step force evaluation: {t_gnn / t_step:.3f}")
    print(f"far-field pre-computation once per step: {t_pre * 1e3:.1f} ms")
    print(f"per DDD step (pre-computation + {calls:.1f} force evaluations, as many mobility calls): "
          f"force {per_step_force * 1e3:.0f} ms, GNN {per_step_gnn * 1e3:.0f} ms, "
          f"GNN / force = {per_step_gnn / per_step_force:.3f}  (target < 0.10)")


if __name__ == "__main__":
    main()
