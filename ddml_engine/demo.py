"""`ddml demo`, the main job: the paper's MD chain on the built-in MD data (ddml_engine.md.chain).

Train the GNN mobility on the MD tension and compression stores, probe it, run DDD+ML and DDD with the linear law
under the MD's conditions in tension and compression, and compare with MD (report.md with the plots). The
section 2.2 validation (learning a known law from DDD) is its own command, `ddml validate`.
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
             progress: bool = True, threads: int = 0, data_dir: str | os.PathLike | None = None,
             epochs: int | None = None) -> dict:
    """The MD chain (md.chain.ChainSettings; md.chain.SMOKE when `quick`, for tests) on `data_dir` (default the
    built-in MD data); returns its summary. threads: numba and torch threads (0 = $DDML_THREADS, else the
    available cores)."""
    from ddml_engine.md.chain import SMOKE, ChainSettings, run_chain

    settings = replace(SMOKE if quick else ChainSettings(), seed=seed, threads=threads)
    if epochs:
        settings = replace(settings, epochs=int(epochs))
    return run_chain(output_dir, data_dir, settings, progress=progress)
