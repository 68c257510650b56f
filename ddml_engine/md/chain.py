"""The paper's MD chain (Bertin, Bulatov & Zhou, sections 2.3-2.4, Figs. 3-5), the main job `ddml demo`.

  1. train the GNN mobility by Nye-field matching on the MD tension and compression stores together;
  2. probe it: edge, 60, 30 deg and screw V(tau), the screw on the twinning / anti-twinning MRSSPs, the climb
     fraction, with flags for unphysical results (ddml_engine.ml.probe);
  3. DDD+ML in tension and in compression under the MD's conditions (ddml_engine.md.conditions: the MD's first
     network, its strain rate, a cell deforming like the MD box, the potential's cubic elastic constants), and the
     same runs with the linear BCC law (Me, Ms of the paper's W) as the reference DDD;
  4. compare with MD (ddml_engine.compare): stress-strain, density, flow stress, T/C ratio; report.md.

Nothing is prepared with knowledge of a mobility: the MD stores are used as `ddml md extract` wrote them, one
snapshot interval (the dump interval) and the same lags for every line. Every stage is resumable: a finished
training or DDD run is reused, an interrupted one continues.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ddml_engine.io._atomic import write_text_atomic

#: The built-in MD data: `ddml md` stores and tables of the W runs described in benchmarks/RESULTS.md.
BUILTIN_DATA = Path(__file__).resolve().parent.parent / "data" / "md_w_fs"
LOADINGS = {"T": "tension", "C": "compression"}


@dataclass(frozen=True)
class ChainSettings:
    """Settings of the chain (units: lags in frames, stresses in GPa, mobilities in 1/(Pa s))."""

    epochs: int = 60
    lags: tuple[int, ...] = (1, 2, 4)
    nye_grid: int = 32
    nye_sigma: float = 2.0
    latent: int = 48
    layers: int = 3
    batch_size: int = 8
    lr: float = 1e-3
    seed: int = 0
    threads: int = 0
    fft_grid: int = 32
    probe_taus_gpa: tuple[float, float, int] = (0.25, 3.0, 12)
    linear_Me: float = 2600.0
    linear_Ms: float = 20.0
    max_strain: float = 0.0  # 0 = the MD's final strain
    rollouts: bool = True


SMOKE = ChainSettings(epochs=2, lags=(1,), nye_grid=16, latent=16, layers=2, batch_size=4, fft_grid=16,
                      probe_taus_gpa=(0.5, 2.0, 4), max_strain=0.004)


def data_files(data_dir: str | os.PathLike) -> dict[str, dict[str, Path]]:
    """{T|C: {store, prefix}} of an MD data folder (tension.h5, compression.h5 and the `ddml md report` tables
    tension_stress_strain.csv, tension_density.csv, ...); FileNotFoundError naming what is missing."""
    root = Path(data_dir)
    files = {}
    for key, label in LOADINGS.items():
        store, table = root / f"{label}.h5", root / f"{label}_stress_strain.csv"
        for path in (store, table):
            if not path.is_file():
                raise FileNotFoundError(f"{path}: missing from the MD data folder {root} (regenerate the built-in "
                                        f"data with scripts/regenerate_md_data.sh)")
        files[key] = {"store": store, "prefix": root / label}
    return files


def training_config(settings: ChainSettings, stores: list[str], out: Path, progress: bool) -> dict:
    """Both MD stores in training (no held-out trajectory: there are two), F^DDD from the FFT model that DDD+ML
    runs with, caches in the output folder (the built-in data may be read-only)."""
    return {"data": {"trajectories": stores, "val_fraction": 0.0, "k": list(settings.lags),
                     "cache_dir": str(out / "cache")},
            "forces": {"model": "fft", "grid": settings.fft_grid},
            "nye": {"grid": settings.nye_grid, "sigma": settings.nye_sigma},
            "model": {"latent": settings.latent, "layers": settings.layers},
            "train": {"epochs": settings.epochs, "batch_size": settings.batch_size, "lr": settings.lr,
                      "seed": settings.seed, "threads": settings.threads},
            "output": {"dir": str(out / "training"), "resume": True, "progress": progress}}


def ddd_config(settings: ChainSettings, store: Path, out: Path, model: str | None, progress: bool) -> dict:
    """DDD under the MD's conditions from its first frame: with the GNN (`model`) or the linear law (None)."""
    from ddml_engine.md.conditions import ddd_config_like_md

    config = ddd_config_like_md(store, start="frame", frame=0, output_dir=str(out), grid=settings.fft_grid)
    if model:
        config["mobility"].update(law="gnn", model=str(model))
    else:
        config["mobility"].update(law="bcc", Me=settings.linear_Me, Ms=settings.linear_Ms)
    if settings.max_strain:
        config["run"]["max_strain"] = settings.max_strain
    config["run"].update(progress=progress, threads=settings.threads)
    return config


def run_chain(output_dir: str | os.PathLike = "runs/demo", data_dir: str | os.PathLike | None = None,
              settings: ChainSettings | None = None, progress: bool = True) -> dict:
    """Train -> probe -> DDD+ML and DDD linear in T and C -> compare -> report.md (module docstring)."""
    from ddml_engine.compare import compare, ddd_curve, md_curve
    from ddml_engine.demo import plot_training
    from ddml_engine.ml.probe import plot_character_probe, probe_characters
    from ddml_engine.ml.trainer import train
    from ddml_engine.mobility.bcc import BCCLinearMobility
    from ddml_engine.mobility.gnn import GNNMobility
    from ddml_engine.parallel import configure_threads
    from ddml_engine.validate import mean_segment_length, run_ddd_resumable

    settings = settings or ChainSettings()
    files = data_files(data_dir or BUILTIN_DATA)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "settings.json", json.dumps(asdict(settings), indent=2))
    configure_threads(settings.threads or None)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    stores = [files[k]["store"] for k in LOADINGS]

    print(f"[ddml demo] 1/4 training on the MD tension and compression stores ({', '.join(map(str, stores))}), "
          f"lags {list(settings.lags)} frames, {settings.epochs} epochs -> {out / 'training'}", flush=True)
    result = train(training_config(settings, [str(s) for s in stores], out, progress))
    timings["training_s"] = time.perf_counter() - started
    plot_training(Path(result.metrics_path), out / "training.png")

    t0 = time.perf_counter()
    print("[ddml demo] 2/4 probing the trained mobility", flush=True)
    from ddml_engine.io.store import SnapshotStore

    with SnapshotStore(stores[0], "r") as store:
        mat = store.material
    model = GNNMobility(result.model_path)
    lo, hi, count = settings.probe_taus_gpa
    taus = np.linspace(lo, hi, int(count)) * 1e9
    segment = mean_segment_length([str(p) for p in stores])
    linear = BCCLinearMobility(Me=settings.linear_Me, Ms=settings.linear_Ms)
    characters = probe_characters(model, taus, reference=linear, length=8 * segment, n_nodes=8)
    plot_character_probe(characters, out / "probe_characters.png", burgers_m=mat.burgers_m,
                         title=f"GNN trained on MD (points) vs the linear law Me = {settings.linear_Me:g}, "
                               f"Ms = {settings.linear_Ms:g} /(Pa s) (lines, a reference, not the truth)")
    timings["probe_s"] = time.perf_counter() - t0

    runs: dict[str, dict] = {}
    curves = []
    if settings.rollouts:
        t0 = time.perf_counter()
        step = 0
        for key, label in LOADINGS.items():
            curves.append(md_curve(files[key]["prefix"], key))
            for source, model_path in (("DDD+ML", result.model_path), ("DDD linear", None)):
                step += 1
                folder = out / f"{'ml' if model_path else 'linear'}_{label}"
                config = ddd_config(settings, files[key]["store"], folder, model_path, progress)
                print(f"[ddml demo] 3/4 DDD run {step}/4: {source}, {label} -> {folder}", flush=True)
                runs[f"{source} {key}"] = run_ddd_resumable(config, f"{source} {label}", who="ddml demo")
                curves.append(ddd_curve(folder, key, source))
        timings["ddd_s"] = time.perf_counter() - t0
        print("[ddml demo] 4/4 comparing with MD", flush=True)
        comparison = compare(curves, out / "compare")
    else:
        comparison = None
    timings["total_s"] = time.perf_counter() - started

    summary = {"data": {k: str(v["store"]) for k, v in files.items()},
               "training": {"train_pairs": result.train_pairs, "epochs": result.epochs_completed,
                            "best_epoch": result.best_epoch, "best_loss": result.best_loss,
                            "model": result.model_path},
               "probe": asdict(characters), "probe_fitted": characters.fitted(),
               "probe_climb_ratio": characters.climb_ratio(), "unphysical": characters.unphysical(),
               "probe_segment_length_b": segment, "ddd_runs": runs, "comparison": comparison,
               "timings": timings, "settings": asdict(settings)}
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2, default=float))
    text = chain_report(summary)
    write_text_atomic(out / "report.md", text)
    print(text, flush=True)
    return summary


def _gpa(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.3g} GPa"


def chain_report(summary: dict) -> str:
    """report.md of the chain: training, probe with flags, the MD comparison, with the plots."""
    t = summary["training"]
    lines = ["# ddml demo: learn the mobility from MD, run DDD+ML, compare with MD", "",
             f"Training: {t['train_pairs']} snapshot pairs of the MD tension and compression stores, "
             f"{t['epochs']} epochs, best loss {t['best_loss']:.4g} at epoch {t['best_epoch']} "
             "(1 = the zero-velocity model).", "", "![training](training.png)", "",
             "## Probe of the learned mobility", "",
             "| line | fitted M (1/(Pa s)) | climb / glide | flags |", "|---|---|---|---|"]
    fitted, climb, flags = summary["probe_fitted"], summary["probe_climb_ratio"], summary["unphysical"]
    for name, m in fitted.items():
        lines.append(f"| {name} | {m:.4g} | {climb.get(name, float('nan')):.3g} | "
                     f"{'; '.join(flags.get(name, [])) or 'none'} |")
    lines += ["", "Lines of the plot: the paper's linear law for W, a reference, not the truth of this MD.", "",
              "![probe](probe_characters.png)", ""]
    comparison = summary.get("comparison")
    if comparison:
        lines += ["## DDD+ML and DDD (linear law) against MD", "",
                  "| source | loading | flow stress | final density (1/m²) |", "|---|---|---|---|"]
        for c in comparison["curves"]:
            density = "n/a" if c["final_density_m2"] is None else f"{c['final_density_m2']:.3g}"
            lines.append(f"| {c['source']} | {LOADINGS[c['loading']]} | {_gpa(c['flow_stress_gpa'])} | {density} |")
        lines += ["", "Tension / compression ratio of |flow stress|: " + ", ".join(
            f"{k} {v:.3g}" for k, v in comparison["tension_compression_ratio"].items()), "",
                  "Relative differences to MD: " + "; ".join(
            f"{k}: " + ", ".join(f"{q} {100 * v:+.1f} %" for q, v in d.items())
            for k, d in comparison["relative_difference_to_md"].items()), "",
                  "Flow stress: mean axial stress over the last quarter of the strain.", "",
                  "![compare](compare/compare.png)", ""]
        stops = {k: v.get("stop_reason") for k, v in summary["ddd_runs"].items()
                 if v.get("stop_reason") not in (None, "reached its limit")}
        if stops:
            lines += ["Runs that stopped early: " + "; ".join(f"{k}: {v}" for k, v in stops.items()), ""]
    timings = summary["timings"]
    lines.append("Wall time: " + ", ".join(f"{k[:-2]} {v / 60:.1f} min" for k, v in timings.items()) + ".")
    return "\n".join(lines) + "\n"
