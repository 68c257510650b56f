"""Run a configured simulation end to end: outputs, restart from a saved frame, summary."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from ddml_engine.dynamics.config import build_simulation
from ddml_engine.io.store import SnapshotStore
from ddml_engine.parallel import THREADS_ENV, configure_threads


def _restore_loading(loading, extra: dict, stress: np.ndarray | None) -> None:
    """Put the loading state saved with a frame back (strain, plastic strain, axial stress)."""
    for name in ("strain", "plastic_strain", "axial_stress"):
        if name in extra and hasattr(loading, name):
            setattr(loading, name, float(extra[name]))
    if stress is not None and hasattr(loading, "applied"):
        loading.applied = np.asarray(stress, float)



def earlier_history(table: Path, before_time: float) -> list:
    """StepRecords of an earlier table.csv of this output folder, up to (not including) `before_time` (s): what a
    restarted run puts in front of its own steps. Empty when there is no readable table."""
    import csv

    from ddml_engine.dynamics.simulation import StepRecord

    if not table.is_file():
        return []
    records = []
    try:
        with open(table, newline="") as handle:
            for row in csv.DictReader(handle):
                t = float(row["time_s"])
                if t >= before_time * (1 - 1e-12):
                    break
                stress = np.array([float(row[f"stress_{c}_Pa"]) for c in ("xx", "yy", "zz", "yz", "xz", "xy")])
                records.append(StepRecord(int(row["step"]), t, float(row["dt_s"]), float(row["strain"]),
                                          float(row["plastic_strain"]), stress, float(row["density_per_b2"]),
                                          int(row["nodes"]), int(row["segments"])))
    except (KeyError, ValueError, OSError):
        return []  # a foreign or damaged table: the new one starts at the restart
    return records


def threads_setting(config: dict) -> int:
    """run.threads, checked: a whole number >= 0 (0 = $DDML_THREADS, else the available cores)."""
    threads = config["run"].get("threads", 0)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ValueError(f"run.threads must be a whole number >= 0 (0 = ${THREADS_ENV} or all available cores), "
                         f"got {threads!r}")
    return threads


def run_simulation(config: dict, restart: str | None = None, restart_frame: int = -1, overwrite: bool = False) -> dict:
    """Run the simulation described by `config` (see ddml_engine.dynamics.config) and write its outputs.

    With `restart`, the network, time, step and loading state come from that trajectory's frame; the new
    frames are appended to run.output_dir/trajectory.h5 (which must then end at that frame, or be another file).
    Returns a summary dict (also written as summary.json).
    """
    from ddml_engine.dynamics.config import config_material, validate_config

    validate_config(config)
    run = config["run"]
    configure_threads(threads_setting(config) or None)
    mat, source = config_material(config, restart)  # before anything is written
    out = Path(run["output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    store_path = out / "trajectory.h5"
    start_frame = None
    if restart:
        with SnapshotStore(restart, "r") as source:
            if len(source) == 0:
                raise SystemExit(f"ddml simulate: {restart} holds no frames to restart from")
            index = restart_frame if restart_frame >= 0 else len(source) + restart_frame
            start_frame = source.read(index)
            last = len(source) - 1
        same_file = store_path.exists() and os.path.samefile(restart, store_path)
        if same_file and index != last:
            raise SystemExit(f"ddml simulate: restarting from frame {index} of {store_path} would overwrite the "
                             f"frames after it (last is {last}); choose another --output-dir")
    elif store_path.exists():
        if not overwrite:
            raise FileExistsError(f"{store_path} exists (an earlier run): pass --overwrite to replace it, or "
                                  f"--restart {store_path} to continue it")
        store_path.unlink()
    from ddml_engine.forces.model import ForceModelSpec

    print(f"[ddml simulate] material: {mat.describe()}; {source}", flush=True)

    f = config["forces"]
    spec = ForceModelSpec.of(f["model"], f.get("cutoff"), int(f.get("grid", 64)))
    store = SnapshotStore(store_path, "a", material=mat,
                          metadata={"config": json.dumps(config), "force_model": spec.to_dict()})
    try:
        network = start_frame.network if start_frame is not None else None
        sim, mat = build_simulation(config, store=store, network=network, restart=restart)
        if start_frame is not None:
            sim.time = start_frame.time
            sim.step_count = int(start_frame.extra.get("step", 0))
            sim.plastic_strain_tensor = np.asarray(start_frame.extra.get("plastic_strain_tensor", np.zeros((3, 3))))
            _restore_loading(sim.loading, start_frame.extra, start_frame.stress)
            sim.restore_integrator(float(start_frame.extra.get("integrator_dt", 0.0)))
            if sim.cell_deformation is not None:  # the strain the frame's cell was built for
                sim.cell_deformation.cell_strain = np.array(start_frame.extra.get("cell_strain", np.zeros((3, 3))),
                                                            float)
            sim.history[:0] = earlier_history(out / "table.csv", sim.time)  # the table and plot cover the whole run
            sim.record(0.0)
            sim.next_output = sim.time + sim.output_interval if sim.output_interval else None
            if not os.path.exists(restart) or not os.path.samefile(restart, store_path):
                sim.write_snapshot()
        (out / "config.json").write_text(json.dumps(config, indent=2))
        from ddml_engine.forces.jit import announce_compilation

        announce_compilation("[ddml simulate]")
        started = time.perf_counter()
        sim.run(max_steps=int(run["max_steps"]) or None, max_strain=float(run["max_strain"]) or None,
                max_time=float(run["max_time"]) or None, progress=bool(run["progress"]), burgers_m=mat.burgers_m,
                max_nodes=int(run.get("max_nodes", 0)) or None)
        wall = time.perf_counter() - started
    finally:
        store.close()
    sim.write_table(out / "table.csv", burgers_m=mat.burgers_m)
    sim.plot(out / "stress_strain.png", burgers_m=mat.burgers_m)
    last = sim.history[-1]
    summary = {"output_dir": str(out), "steps": sim.step_count, "time_s": sim.time, "strain": last.strain,
               "plastic_strain": last.plastic_strain, "stress_Pa": (last.stress + 0.0).tolist(),
               "density_per_m2": last.density / mat.burgers_m**2, "nodes": last.nodes, "segments": last.segments,
               "wall_s": wall, "seconds_per_step": wall / max(1, len(sim.history) - 1),
               "stop_reason": sim.stop_reason or "reached its limit"}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def generate_training_set(config: dict, runs: int = 5, first_seed: int = 1) -> list[dict]:
    """The paper's section 2.2 data: `runs` seeded simulations of `config` (default: 12 loops, [001] compression
    at 2e8/s to 0.1 strain, 0.25 ps snapshots) in run.output_dir/run_<seed>/. Resumable: finished runs (a
    summary.json newer than their trajectory) are skipped, interrupted ones continue from their last frame."""
    import copy

    base = Path(config["run"]["output_dir"])
    summaries = []
    for seed in range(first_seed, first_seed + runs):
        cfg = copy.deepcopy(config)
        cfg["initial"]["seed"] = seed
        out = base / f"run_{seed}"
        cfg["run"]["output_dir"] = str(out)
        trajectory, summary = out / "trajectory.h5", out / "summary.json"
        if summary.exists() and trajectory.exists() and summary.stat().st_mtime >= trajectory.stat().st_mtime:
            print(f"[ddml] run {seed}: finished earlier, skipped ({summary})")
            summaries.append(json.loads(summary.read_text()))
            continue
        resume = False
        if trajectory.exists():
            with SnapshotStore(trajectory, "r") as store:
                resume = len(store) > 0
        print(f"[ddml] run {seed} of {first_seed}..{first_seed + runs - 1}: "
              + ("resuming from its last frame" if resume else "starting"))
        summaries.append(run_simulation(cfg, restart=str(trajectory) if resume else None, overwrite=not resume))
    return summaries
