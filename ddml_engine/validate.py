"""`ddml validate`: the paper's section 2.2 experiment as one resumable command, plus a rollout check.

1. Ground truth: `runs` DDD runs of `ddml simulate` (12 random 1/2<111> prismatic loops and 6 infinite straight
   lines of random character -- screw, 35, 55, 71 deg, edge -- in a periodic W box, FFT forces, all topology
   operations) moved by a linear BCC law (Me, Ms, Mclimb), uniaxial [001] loading at
   a constant strain rate, compression and tension in alternation, snapshots at one uniform interval. The last
   `val_runs` runs are validation only.
2. Training: the GNN by Nye-field matching (`ml.trainer`, the relative loss of `ml.losses`, lags data.k), with the
   force model recorded in the trajectories. Nothing in the data preparation uses the law, the line character
   or per-kind time steps.
3. Probe: edge, 60 deg, 30 deg and screw lines, screws on the twinning / anti-twinning MRSSPs, glide velocity vs
   tau against the true law pointwise, the climb fraction of the predicted motion, fitted Me and Ms.
4. Rollout: DDD with the trained model and DDD with the true law from the same unseen start (another seed):
   stress-strain, plastic strain and density overlaid, with the relative differences at the end.
5. report.md, summary.json and the plots in `output_dir`.

Every stage is resumable: finished DDD runs are skipped (interrupted ones continue from their last frame),
training continues exactly from its last checkpoint, and the probe and rollouts are redone only when missing.
"""
from __future__ import annotations

import copy
import csv
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ddml_engine.io._atomic import write_text_atomic


@dataclass(frozen=True)
class ValidateSettings:
    """Scale and knobs of a validation run (defaults: ~90 min on 2 cores; `PAPER` the paper's scale)."""

    Me: float = 2600.0  # 1/(Pa s), the true law
    Ms: float = 20.0
    Mclimb: float = 1e-4
    runs: int = 4  # DDD ground-truth runs (the last val_runs for validation)
    val_runs: int = 1
    first_seed: int = 1
    box: float = 300.0  # b
    loops: int = 12
    radius: float = 63.0  # b
    lines: int = 6  # infinite straight lines of random character (dynamics.configs.random_periodic_lines)
    strain_rate: float = 2e8  # 1/s, magnitude; runs alternate compression / tension
    duration_ps: float = 40.0  # per run (0 = until max_strain)
    max_strain: float = 0.0  # 0 = until duration_ps
    output_interval_ps: float = 0.25
    lags: tuple[int, ...] = (1, 4, 16)
    epochs: int = 30
    batch_size: int = 8
    lr: float = 1e-3
    latent: int = 48
    layers: int = 3
    nye_grid: int = 32
    nye_sigma: float = 2.0  # Gaussian Nye kernel width, grid spacings (spacing = box / nye_grid)
    rollout_seed: int = 101
    rollout_ps: float = 30.0
    threads: int = 0  # numba and torch threads; 0 = $DDML_THREADS, else the available cores
    seed: int = 0  # training seed
    taus_mpa: tuple[float, float, int] = (50.0, 500.0, 10)

    def truth(self) -> dict[str, float]:
        return {"Me": self.Me, "Ms": self.Ms}


QUICK = ValidateSettings(runs=3, duration_ps=25.0, epochs=15, rollout_ps=15.0)
PAPER = ValidateSettings(runs=5, duration_ps=0.0, max_strain=0.1, epochs=100, rollout_ps=100.0)
SMOKE = ValidateSettings(runs=2, box=100.0, loops=3, radius=25.0, lines=1, duration_ps=1.5, strain_rate=2e9,
                         epochs=3, lr=3e-3, nye_grid=16, latent=8, layers=1, rollout_ps=0.5, lags=(1, 2), batch_size=4,
                         taus_mpa=(100.0, 500.0, 3))


def simulation_config(settings: ValidateSettings, seed: int, output_dir: Path, mobility: dict | None = None,
                      sign: float = -1.0, duration_ps: float | None = None, progress: bool = False) -> dict:
    """`ddml simulate` configuration of one run (the defaults of ddml_engine.dynamics.config otherwise)."""
    from ddml_engine.dynamics.config import DEFAULTS

    config = copy.deepcopy(DEFAULTS)
    config["cell"]["size"] = float(settings.box)
    config["initial"].update(count=int(settings.loops), radius=float(settings.radius), lines=int(settings.lines),
                             seed=int(seed))
    config["mobility"].update(mobility or {"law": "bcc", "Me": settings.Me, "Ms": settings.Ms,
                                           "Mclimb": settings.Mclimb})
    config["loading"].update(type="strain_rate", rate=float(sign * settings.strain_rate))
    duration = settings.duration_ps if duration_ps is None else duration_ps
    config["run"].update(threads=int(settings.threads), max_strain=float(settings.max_strain),
                         max_time=float(duration) * 1e-12,
                         output_interval=settings.output_interval_ps * 1e-12, output_dir=str(output_dir),
                         progress=progress)
    if not config["run"]["max_strain"] and not config["run"]["max_time"]:
        raise ValueError("validate: give duration_ps or max_strain")
    return config


def _finished(run_dir: Path) -> bool:
    summary, trajectory = run_dir / "summary.json", run_dir / "trajectory.h5"
    return summary.exists() and trajectory.exists() and summary.stat().st_mtime >= trajectory.stat().st_mtime


def run_ddd_resumable(config: dict, label: str, who: str = "ddml validate") -> dict:
    """One DDD run (resumed from its last frame when interrupted, reused when finished); its summary. `who`
    prefixes the progress lines."""
    from ddml_engine.dynamics.runner import run_simulation
    from ddml_engine.io.store import SnapshotStore

    out = Path(config["run"]["output_dir"])
    if _finished(out):
        print(f"[{who}] {label}: finished earlier ({out})", flush=True)
        return json.loads((out / "summary.json").read_text())
    trajectory = out / "trajectory.h5"
    resume = False
    if trajectory.exists():
        with SnapshotStore(trajectory, "r") as store:
            resume = len(store) > 1
    print(f"[{who}] {label}: {'resuming' if resume else 'running'} -> {out}", flush=True)
    return run_simulation(config, restart=str(trajectory) if resume else None, overwrite=not resume)


def generate_ground_truth(settings: ValidateSettings, out: Path, progress: bool = True) -> list[str]:
    """The training / validation DDD runs; returns their trajectory paths (seed order)."""
    paths = []
    for i in range(settings.runs):
        seed = settings.first_seed + i
        sign = -1.0 if i % 2 == 0 else 1.0
        run_dir = out / "data" / f"run_{seed}"
        config = simulation_config(settings, seed, run_dir, sign=sign, progress=progress)
        kind = "compression" if sign < 0 else "tension"
        run_ddd_resumable(config, f"ground truth {i + 1}/{settings.runs} (seed {seed}, [001] {kind})")
        paths.append(str(run_dir / "trajectory.h5"))
    return paths


def training_config(settings: ValidateSettings, trajectories: list[str], out: Path, progress: bool) -> dict:
    n_val = min(settings.val_runs, len(trajectories) - 1)
    train, val = (trajectories[:-n_val], trajectories[-n_val:]) if n_val > 0 else (trajectories, [])
    return {"data": {"trajectories": train, "validation": val, "k": list(settings.lags)},
            "nye": {"grid": settings.nye_grid, "sigma": settings.nye_sigma},
            "model": {"latent": settings.latent, "layers": settings.layers},
            "train": {"epochs": settings.epochs, "batch_size": settings.batch_size, "lr": settings.lr,
                      "seed": settings.seed, "threads": settings.threads},
            "output": {"dir": str(out / "training"), "resume": True, "progress": progress}}


@dataclass
class RolloutComparison:
    """DDD+ML vs DDD with the true law from one start: final values and relative differences."""

    time_ps: float
    truth: dict[str, float]
    model: dict[str, float]
    relative_difference: dict[str, float]
    model_status: str = "completed"


def _table(path: Path) -> dict[str, np.ndarray]:
    with open(path) as handle:
        rows = list(csv.DictReader(handle))
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]} if rows else {}


def _final_values(table: dict[str, np.ndarray], burgers_m: float) -> dict[str, float]:
    return {"strain": float(table["strain"][-1]), "plastic_strain": float(table["plastic_strain"][-1]),
            "stress_zz_Pa": float(table["stress_zz_Pa"][-1]),
            "density_per_m2": float(table["density_per_b2"][-1] / burgers_m**2),
            "time_s": float(table["time_s"][-1])}


def run_rollouts(settings: ValidateSettings, model_path: str, out: Path, progress: bool = True
                 ) -> RolloutComparison:
    """DDD with the true law and DDD with the trained GNN from the unseen seed `rollout_seed`, compression."""
    from ddml_engine.materials import material

    root = out / "rollout"
    truth_cfg = simulation_config(settings, settings.rollout_seed, root / "true_law",
                                  duration_ps=settings.rollout_ps, progress=progress)
    model_cfg = simulation_config(settings, settings.rollout_seed, root / "gnn", mobility={"law": "gnn",
                                  "model": str(Path(model_path).resolve())}, duration_ps=settings.rollout_ps,
                                  progress=progress)
    run_ddd_resumable(truth_cfg, f"rollout with the true law (seed {settings.rollout_seed})")
    status = "completed"
    try:
        summary = run_ddd_resumable(model_cfg, f"rollout with the trained GNN (seed {settings.rollout_seed})")
        if summary.get("stop_reason", "reached its limit") != "reached its limit":
            status = f"stopped: {summary['stop_reason']}"
    except Exception as error:  # the model may drive DDD into a state it cannot continue from: report it
        status = f"stopped: {type(error).__name__}: {error}"
        print(f"[ddml validate] DDD+ML {status}", flush=True)
    b = material("W").burgers_m
    truth_table = _table(root / "true_law" / "table.csv")
    model_file = root / "gnn" / "table.csv"
    model_table = _table(model_file) if model_file.exists() else {}
    truth_end = _final_values(truth_table, b)
    model_end = _final_values(model_table, b) if model_table else {k: float("nan") for k in truth_end}
    rel = {k: (abs(model_end[k]) - abs(truth_end[k])) / abs(truth_end[k]) if truth_end[k] else float("nan")
           for k in ("plastic_strain", "stress_zz_Pa", "density_per_m2")}  # of magnitudes: + = DDD+ML larger
    if model_table and model_end["time_s"] < 0.99 * truth_end["time_s"] and status == "completed":
        status = f"stopped early at {model_end['time_s'] * 1e12:.3g} ps"
    plot_rollout(truth_table, model_table, root / "rollout.png", b)
    return RolloutComparison(settings.rollout_ps, truth_end, model_end, rel, status)


def plot_rollout(truth: dict, model: dict, png: Path, burgers_m: float) -> None:
    """Stress-strain, plastic strain and density vs time of both rollouts (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for table, label, style in ((truth, "DDD, true law", "k-"), (model, "DDD + trained GNN", "C1--")):
        if not table:
            continue
        t = table["time_s"] * 1e12
        axes[0].plot(np.abs(table["strain"]) * 100, np.abs(table["stress_zz_Pa"]) / 1e9, style, label=label)
        axes[1].plot(t, np.abs(table["plastic_strain"]) * 100, style, label=label)
        axes[2].plot(t, table["density_per_b2"] / burgers_m**2, style, label=label)
    axes[0].set_xlabel("|axial strain| (%)")
    axes[0].set_ylabel("|axial stress| (GPa)")
    axes[1].set_xlabel("time (ps)")
    axes[1].set_ylabel("|plastic strain| (%)")
    axes[2].set_xlabel("time (ps)")
    axes[2].set_ylabel("dislocation density (1/m^2)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("rollout from an unseen start: DDD with the trained model vs DDD with the true law")
    fig.tight_layout()
    from ddml_engine.io._atomic import save_figure_atomic

    save_figure_atomic(fig, png, dpi=110)


def mean_segment_length(trajectories: list[str], samples: int = 5) -> float:
    """Mean segment length (b) over a few evenly spaced frames of the trajectories: the probe lines are
    discretised like the networks the model was trained on (a GNN sees nodal forces, which scale with the
    segment lengths; probing far outside the training discretisation tests extrapolation, not the law)."""
    from ddml_engine.io.store import SnapshotStore

    lengths = []
    for path in trajectories:
        with SnapshotStore(path, "r") as store:
            for i in np.unique(np.linspace(0, len(store) - 1, samples).round().astype(int)):
                x1, x2 = store.read(int(i)).network.segment_endpoints()
                lengths.append(np.linalg.norm(x2 - x1, axis=1))
    return float(np.concatenate(lengths).mean())


def check_resumable(out: Path, settings: ValidateSettings) -> None:
    """Refuse to resume a validation folder made with other settings (its runs and model would be reused)."""
    path = out / "settings.json"
    if not path.exists():
        return
    try:
        old = json.loads(path.read_text())
    except ValueError:
        raise ValueError(f"{path}: unreadable settings of an earlier validation; choose another output folder")
    new = json.loads(json.dumps(asdict(settings)))
    defaults = json.loads(json.dumps(asdict(ValidateSettings())))  # keys added later held their default before
    differ = sorted(k for k in new if k != "threads" and old.get(k, defaults[k]) != new[k])
    if differ:
        listing = ", ".join(f"{k} {old.get(k)!r} -> {new[k]!r}" for k in differ)
        raise ValueError(f"{out} holds a validation with other settings ({listing}); resuming would reuse its runs "
                         "and model: choose another --output-dir")


def run_validate(output_dir: str | os.PathLike = "runs/validate", settings: ValidateSettings | None = None,
                 progress: bool = True, rollout: bool = True, title: str = "ddml validate") -> dict:
    """Ground truth -> training -> probe -> rollout -> report (module docstring). Returns the summary."""
    from ddml_engine.demo import plot_training
    from ddml_engine.ml.probe import plot_character_probe, probe, probe_characters, write_probe
    from ddml_engine.ml.trainer import train
    from ddml_engine.materials import material
    from ddml_engine.mobility.bcc import BCCLinearMobility
    from ddml_engine.mobility.gnn import GNNMobility
    from ddml_engine.parallel import configure_threads

    settings = settings or ValidateSettings()
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    check_resumable(out, settings)
    write_text_atomic(out / "settings.json", json.dumps(asdict(settings), indent=2))
    configure_threads(settings.threads or None)  # the DDD runs and the trainer set the same count themselves
    started = time.perf_counter()
    timings: dict[str, float] = {}
    trajectories = generate_ground_truth(settings, out, progress)
    timings["ground_truth_s"] = time.perf_counter() - started

    t0 = time.perf_counter()
    print(f"[ddml validate] training on {len(trajectories) - min(settings.val_runs, len(trajectories) - 1)} runs, "
          f"lags {list(settings.lags)} frames, {settings.epochs} epochs -> {out / 'training'}", flush=True)
    result = train(training_config(settings, trajectories, out, progress))
    timings["training_s"] = time.perf_counter() - t0
    plot_training(Path(result.metrics_path), out / "training.png")

    t0 = time.perf_counter()
    model = GNNMobility(result.model_path)
    truth_law = BCCLinearMobility(Me=settings.Me, Ms=settings.Ms, Mclimb=settings.Mclimb)
    lo, hi, count = settings.taus_mpa
    taus = np.linspace(lo, hi, int(count)) * 1e6
    mat = material("W")
    segment = mean_segment_length(trajectories)
    n_nodes = 8
    geometry = dict(length=segment * n_nodes, n_nodes=n_nodes)
    classic = probe(model, taus, truth=settings.truth(), **geometry)
    write_probe(classic, out, burgers_m=mat.burgers_m)
    characters = probe_characters(model, taus, reference=truth_law, **geometry)
    plot_character_probe(characters, out / "probe_characters.png", burgers_m=mat.burgers_m,
                         title=f"trained GNN vs true law Me = {settings.Me:g}, Ms = {settings.Ms:g} /(Pa s)")
    timings["probe_s"] = time.perf_counter() - t0

    comparison = None
    if rollout:
        t0 = time.perf_counter()
        comparison = run_rollouts(settings, result.model_path, out, progress)
        timings["rollout_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - started

    errors = classic.errors_percent()
    summary = {"truth": {"Me": settings.Me, "Ms": settings.Ms, "Mclimb": settings.Mclimb},
               "fitted": {"Me": classic.Me, "Ms": classic.Ms}, "errors_percent": errors,
               "fitted_per_case": characters.fitted(),
               "max_pointwise_error": characters.max_abs_error(), "climb_ratio": characters.climb_ratio(),
               "unphysical": characters.unphysical(),
               "probe": asdict(characters), "probe_segment_length_b": segment, "training": {
                   "train_pairs": result.train_pairs, "val_pairs": result.val_pairs, "epochs": result.epochs_completed,
                   "best_epoch": result.best_epoch, "best_loss": result.best_loss,
                   "initial_val_loss": result.history[0].get("val_loss") if result.history else None,
                   "model": result.model_path},
               "rollout": asdict(comparison) if comparison else None, "timings": timings,
               "settings": asdict(settings), "trajectories": trajectories}
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2, default=float))
    report = validation_report(summary, title)
    write_text_atomic(out / "report.md", report)
    print(report, flush=True)
    print(f"[ddml validate] outputs in {out}: report.md, probe_characters.png, probe.png, training.png"
          + (", rollout/rollout.png" if rollout else "") + ", summary.json", flush=True)
    return summary


def _pct(value: float) -> str:
    return f"{100.0 * value:+.1f} %" if np.isfinite(value) else "n/a"


def validation_report(summary: dict, title: str = "ddml validate") -> str:
    """report.md text from a validation summary (figures against the issue's targets)."""
    s, t, f, e = summary["settings"], summary["truth"], summary["fitted"], summary["errors_percent"]
    worst = summary["max_pointwise_error"]
    climb = summary["climb_ratio"]
    tr = summary["training"]
    tm = summary["timings"]
    lines = [f"# {title}: learning a linear BCC mobility from DDD trajectories (paper section 2.2)", "",
             "| mobility | truth /(Pa s) | recovered /(Pa s) | error |", "| --- | --- | --- | --- |",
             f"| edge Me | {t['Me']:g} | {f['Me']:.4g} | {e['Me']:+.1f} % |",
             f"| screw Ms | {t['Ms']:g} | {f['Ms']:.4g} | {e['Ms']:+.1f} % |", "",
             f"Pointwise glide-velocity error over {s['taus_mpa'][0]:g}-{s['taus_mpa'][1]:g} MPa (largest |error| "
             "per character; target 10 %):", "", "| line | max abs error | fitted M /(Pa s) |", "| --- | --- | --- |"]
    for name, value in worst.items():
        lines.append(f"| {name} | {100 * value:.1f} % | {summary['fitted_per_case'][name]:.4g} |")
    lines += ["", f"Probe lines: straight periodic lines of {summary['probe_segment_length_b']:.3g} b segments "
              "(the mean segment length of the ground-truth networks), F = F_app only.", "",
              "Climb fraction of the predicted motion, max |V.n| / |V_glide| (target < 1 %): "
              + ", ".join(f"{k} {100 * v:.2g} %" for k, v in climb.items()), ""]
    flags = {k: v for k, v in summary.get("unphysical", {}).items() if v}
    lines += ["Unphysical results of the model (checked for every probe line): "
              + ("; ".join(f"**{k}: {', '.join(v)}**" for k, v in flags.items()) if flags else "none"), ""]
    ro = summary.get("rollout")
    if ro:
        rel = ro["relative_difference"]
        lines += [f"Rollout from an unseen start (seed {s['rollout_seed']}, [001] compression, {ro['time_ps']:g} ps; "
                  f"DDD+ML {ro['model_status']}):", "", "| at the end | true law | DDD + GNN | difference of magnitudes |",
                  "| --- | --- | --- | --- |",
                  f"| plastic strain | {ro['truth']['plastic_strain']:.4g} | {ro['model']['plastic_strain']:.4g} | "
                  f"{_pct(rel['plastic_strain'])} |",
                  f"| axial stress (GPa) | {ro['truth']['stress_zz_Pa'] / 1e9:.4g} | "
                  f"{ro['model']['stress_zz_Pa'] / 1e9:.4g} | "
                  f"{_pct(rel['stress_zz_Pa'])} |",
                  f"| density (1/m^2) | {ro['truth']['density_per_m2']:.4g} | {ro['model']['density_per_m2']:.4g} | "
                  f"{_pct(rel['density_per_m2'])} |", ""]
    lines += [f"- Ground truth: {s['runs']} DDD runs (seeds {s['first_seed']}..{s['first_seed'] + s['runs'] - 1}, "
              f"{s['loops']} prismatic loops and {s['lines']} straight lines of random character in a {s['box']:g} b "
              f"W box, [001] at {s['strain_rate']:g}/s alternating "
              f"compression / tension, "
              + (f"{s['duration_ps']:g} ps" if s['duration_ps'] else f"to strain {s['max_strain']:g}")
              + f", snapshots every {s['output_interval_ps']:g} ps, FFT forces, all topology operations); "
              f"the last {s['val_runs']} for validation.",
              f"- Training: relative Nye loss (ml.losses), lags {s['lags']} frames, GNN K = {s['layers']}, latent "
              f"{s['latent']}, {tr['epochs']} epochs, Nye grid {s['nye_grid']}^3, kernel sigma "
              f"{s.get('nye_sigma', 2.0):g} spacings = {s.get('nye_sigma', 2.0) * s['box'] / s['nye_grid']:.3g} b; "
              f"{tr['train_pairs']} training / "
              f"{tr['val_pairs']} validation pairs; best validation loss {tr['best_loss']:.4g} at epoch "
              f"{tr['best_epoch']} (1 = zero-velocity model).",
              "- Plots: probe_characters.png (velocities, pointwise errors, climb), probe.png (edge / screw fits), "
              "training.png" + (", rollout/rollout.png" if ro else "") + ".",
              f"- Wall time {tm['total_s'] / 60:.1f} min (" + ", ".join(
                  f"{k.replace('_s', '')} {v / 60:.1f} min" for k, v in tm.items() if k != "total_s") + ")."]
    return "\n".join(lines) + "\n"
