"""Training throughput of the Eq. 5 trainer (snapshot pairs per second) and the share of the Nye field.

Realistic sample: random 1/2<111> prismatic loops in a 300 b periodic W box (the section 2.2 set-up), remeshed
to ~6-8 b segments (~600 and ~1500 nodes per graph), 32^3 Nye grid, sigma = 2 grid spacings, the paper's
model (K = 3, latent 48). Pairs are built by moving nodes by V = M F (line-tension forces); the cache build is
excluded from the timings. Reported per training step on a global batch of `--batch` pairs:
  step     full step: GNN forward, Nye forward, loss, backward through both, AdamW
  nye      Nye forward + backward alone (velocities as a leaf tensor)
  gnn      GNN forward + backward alone (sum of velocities as loss)

    .venv/bin/python benchmarks/bench_training.py [--batch 4] [--steps 5] [--dtype float32] [--threads 0]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ddml_engine.dynamics.configs import random_prismatic_loops
from ddml_engine.forces.model import make_force_model
from ddml_engine.io.store import SnapshotStore
from ddml_engine.materials import material
from ddml_engine.ml.dataset import NyeDataset
from ddml_engine.ml.train_config import load_train_config
from ddml_engine.ml.trainer import Trainer, model_velocities, pair_losses, prepare_data
from ddml_engine.network import Cell


def make_trajectory(path: Path, loops: int, maxseg: float, frames: int, seed: int) -> int:
    W = material("W")
    force = make_force_model("line-tension", W)
    net = random_prismatic_loops(Cell.cubic(300.0), loops, (40.0, 80.0), maxseg, seed=seed)
    stress = np.array([0, 0, 0, 2e8, 1e8, -1e8])
    with SnapshotStore(path, "w", material=W) as store:
        for f in range(frames):
            store.append(net, f * 1e-12, stress)
            net = net.with_positions(net.cell.wrap(net.positions + 50.0 * force(net, stress) * 1e-12))
    return net.num_nodes


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats


def bench(folder: Path, loops: int, maxseg: float, args) -> None:
    frames = args.batch + 1
    paths = [folder / f"b{loops}_{s}.h5" for s in range(2)]
    nodes = [make_trajectory(p, loops, maxseg, frames, s) for s, p in enumerate(paths)]
    cfg = load_train_config({
        "data": {"trajectories": [str(p) for p in paths], "val_fraction": 0.0, "cache_dir": str(folder / "cache")},
        "forces": {"model": "line-tension"}, "nye": {"grid": args.grid},
        "train": {"epochs": 1, "batch_size": args.batch, "dtype": args.dtype, "threads": args.threads},
        "output": {"dir": str(folder / f"out{loops}"), "progress": False}})
    t0 = time.perf_counter()
    info = prepare_data(cfg)
    build = time.perf_counter() - t0
    trainer = Trainer(cfg, data=info)
    data: NyeDataset = trainer.train_set
    idx = np.arange(args.batch)
    batch = data.batch(idx).to(trainer.device, trainer.dtype)
    segs = len(batch.x1)

    t_step = timed(lambda: trainer.train_step(idx), args.steps)

    v0 = model_velocities(trainer.model, batch).detach()

    def nye_only():
        v = v0.clone().requires_grad_(True)
        pair_losses(batch, v).sum().backward()

    def gnn_only():
        trainer.model.zero_grad()
        model_velocities(trainer.model, batch).sum().backward()

    def collate_only():
        data.batch(idx).to(trainer.device, trainer.dtype)

    t_nye = timed(nye_only, args.steps)
    t_gnn = timed(gnn_only, args.steps)
    t_col = timed(collate_only, args.steps)
    print(f"nodes/graph ~{int(np.mean(nodes))}, segments/batch {segs}, grid {args.grid}^3 (modes of {batch.modes}^3), "
          f"batch {args.batch}, "
          f"{args.dtype}, threads {torch.get_num_threads()}; cache build {build:.2f} s for {2 * frames} frames")
    print(f"  step {t_step * 1e3:8.1f} ms  -> {args.batch / t_step:6.2f} pairs/s")
    print(f"  nye fwd+bwd {t_nye * 1e3:8.1f} ms ({100 * t_nye / t_step:4.1f} % of a step)   "
          f"gnn fwd+bwd {t_gnn * 1e3:8.1f} ms ({100 * t_gnn / t_step:4.1f} %)   "
          f"collate {t_col * 1e3:6.1f} ms ({100 * t_col / t_step:4.1f} %)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--grid", type=int, default=32)
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for loops, maxseg in ((12, 8.0), (24, 6.0)):
            bench(Path(tmp), loops, maxseg, args)


if __name__ == "__main__":
    main()
