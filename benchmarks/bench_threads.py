"""Benchmark: thread settings of the GNN path, on a quiet machine and next to a busy core (issue 14).

    python benchmarks/bench_threads.py [--nodes 2000] [--steps 6]

1. One GNN velocity call (the paper's K = 3, latent 48 model, exported) on a ~2,000-node network: ddml's default
   CPU engine (`ml.numpy_inference`, one numba call) on 1 numba thread, on 2 (forced), and as GNNMobility runs it
   (default: parallel.MeasuredThreads picks 1 or 2 from the timed calls, median of 41 calls), and the TorchScript
   module on 1 torch thread (`engine="torch"`), quiet and while another process keeps one core busy (a Python
   busy loop).
2. `ddml simulate`-style DDD with that GNN as the mobility (12 prismatic loops, 300 b W box, FFT 64^3, the default
   integrator), `steps` steps from the same start with ddml's default thread setting (parallel.configure_threads:
   numba on all cores, BLAS on one thread), quiet and with the busy core.
Prints each time and the busy / quiet ratios (the target: the main job under a busy second core <= 2x quiet).
Run it on an otherwise idle machine (check `uptime`): the busy core is the only load it should see.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
import torch

from ddml_engine import parallel
from ddml_engine.dynamics.configs import random_prismatic_loops
from ddml_engine.forces.model import make_force_model
from ddml_engine.materials import material
from ddml_engine.ml.export import export_model
from ddml_engine.ml.model import GNNMobilityModel
from ddml_engine.mobility.gnn import GNNMobility
from ddml_engine.network import Cell


@contextlib.contextmanager
def busy_core(enabled: bool):
    """A child process spinning on one core while the block runs."""
    if not enabled:
        yield
        return
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.5)
    try:
        yield
    finally:
        child.kill()
        child.wait()


def median_time(fn, repeats: int = 7) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def forced_parallel(gnn: GNNMobility, network, forces):
    """The engine call of `gnn.velocities` on all of numba's threads, without parallel.MeasuredThreads' choice."""
    from ddml_engine.mobility.gnn import _Topology

    engine, force_scale, length_scale = gnn.numpy_engine
    topology = _Topology(network, length_scale)
    nodes = topology.node_features(forces, force_scale)
    edges = topology.edge_features(network.segment_vectors(), length_scale)
    return lambda: engine(nodes, topology.edge_index, edges, edges_by_source=topology.edges_by_source)


def ddd_wall(model_path: str, steps: int) -> float:
    """Wall seconds of `steps` DDD steps with the GNN mobility (same start every time)."""
    from ddml_engine.dynamics.config import DEFAULTS, build_simulation

    config = json.loads(json.dumps(DEFAULTS))
    config["mobility"].update(law="gnn", model=model_path)
    config["material"]["name"] = "W"
    sim, _ = build_simulation(config)
    sim.step()  # warm-up (FFT operator, kernels)
    start = time.perf_counter()
    for _ in range(steps):
        sim.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=2000, help="approximate network size of the GNN call")
    parser.add_argument("--steps", type=int, default=6, help="DDD steps per timing")
    args = parser.parse_args()
    cores = parallel.configure_threads(None)
    loops = max(1, args.nodes // 50)
    network = random_prismatic_loops(Cell.cubic(300.0), loops, (40.0, 60.0), 6.0, seed=1)
    forces = make_force_model("fft", material("W"))(network, np.array([0, 0, -1e9, 0, 0, 0.0]))
    folder = Path(tempfile.mkdtemp(prefix="ddml-bench-threads-"))
    torch.manual_seed(0)
    model_path = str(export_model(GNNMobilityModel(latent=48, layers=3), folder / "gnn.pt", {"material": "W"}))
    engine, torchscript = GNNMobility(model_path), GNNMobility(model_path, engine="torch")
    torch.set_num_threads(1)
    print(f"machine: {cores} cores available; load {os.getloadavg()[0]:.2f}; network {network.num_nodes} nodes")
    rows = {}
    for busy in (False, True):
        state = "busy" if busy else "quiet"
        with busy_core(busy):
            numba.set_num_threads(1)
            rows[f"engine_call_1t_{state}_ms"] = 1e3 * median_time(lambda: engine.velocities(network, forces))
            numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
            rows[f"engine_call_2t_{state}_ms"] = 1e3 * median_time(forced_parallel(engine, network, forces))
            rows[f"engine_call_default_{state}_ms"] = 1e3 * median_time(
                lambda: engine.velocities(network, forces), repeats=41)
            rows[f"torchscript_call_1t_{state}_ms"] = 1e3 * median_time(
                lambda: torchscript.velocities(network, forces))
            parallel.configure_threads(None)
            rows[f"ddd_{state}_s"] = ddd_wall(model_path, args.steps)
    for key, value in rows.items():
        print(f"  {key:36s} {value:10.3f}")
    for label in ("engine_call_1t", "engine_call_2t", "engine_call_default", "torchscript_call_1t"):
        print(f"  {label} busy / quiet: {rows[f'{label}_busy_ms'] / rows[f'{label}_quiet_ms']:.2f}")
    print(f"  ddd busy / quiet: {rows['ddd_busy_s'] / rows['ddd_quiet_s']:.2f}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
