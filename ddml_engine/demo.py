"""`ddml demo`, the main job until the MD pipeline takes its place: a quick `ddml validate`.

The paper's section 2.2 experiment at the `validate.DEMO` scale: DDD trajectories of prismatic loops in W moved by
the linear BCC law (Me = 2600, Ms = 20 /(Pa s)) with one uniform snapshot interval, GNN training by Nye-field
matching with the relative loss (ml.losses), the probe against the law and a DDD+ML rollout from an unseen start
(ddml_engine.validate). The same method and settings as `ddml validate`; nothing is prepared per line kind.
"""
from __future__ import annotations

import csv
import os
from dataclasses import replace
from pathlib import Path

def plot_training(metrics_csv: Path, png: Path) -> None:
    """Training and validation loss per epoch (PNG, log scale; 1 = zero-velocity model)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(metrics_csv) as handle:
        rows = list(csv.DictReader(handle))
    epoch = [int(r["epoch"]) for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key in ("train_loss", "val_loss"):
        values = [(e, float(r[key])) for e, r in zip(epoch, rows) if r.get(key) not in (None, "", "nan")]
        if values:
            ax.semilogy([v[0] for v in values], [v[1] for v in values], label=key.replace("_", " "))
    ax.set_xlabel("epoch")
    ax.set_ylabel("Nye-field loss (1 = zero-velocity model)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    from ddml_engine.io._atomic import save_figure_atomic

    save_figure_atomic(fig, png, dpi=120)


def run_demo(output_dir: str | os.PathLike = "runs/demo", quick: bool = False, seed: int = 0,
             progress: bool = True, threads: int = 0) -> dict:
    """A quick validation (validate.QUICK; validate.SMOKE when `quick`, for tests); returns its summary.

    threads: numba and torch threads (0 = $DDML_THREADS, else the available cores)."""
    from ddml_engine.validate import QUICK, SMOKE, run_validate

    settings = replace(SMOKE if quick else QUICK, seed=seed, threads=threads)
    return run_validate(output_dir, settings, progress=progress, title="ddml demo")
