"""`ddml simulate` end to end: the paper's 12-loop W box smoke run, outputs, restart, configuration errors."""
import csv
import json

import numpy as np
import pytest

from ddml_engine.cli import main
from ddml_engine.dynamics.config import load_config
from ddml_engine.dynamics.runner import run_simulation
from ddml_engine.io.store import SnapshotStore
from ddml_engine.materials import material


@pytest.fixture(scope="module")
def box_run(tmp_path_factory):
    """12 random 1/2<111> prismatic loops in a 300 b W box, [001] compression at 2e8/s, to 1 % strain."""
    out = tmp_path_factory.mktemp("box")
    config = load_config(None, ["run.max_strain=0.01", "run.output_interval=5e-12", "run.progress=false"])
    config["run"]["output_dir"] = str(out)
    return out, run_simulation(config)


def test_box_smoke_run_reaches_one_percent_strain_with_consistent_outputs(box_run):
    out, summary = box_run
    assert summary["strain"] <= -0.01
    for name in ("trajectory.h5", "table.csv", "stress_strain.png", "config.json", "summary.json"):
        assert (out / name).stat().st_size > 0
    rows = list(csv.DictReader(open(out / "table.csv")))
    strain = np.array([float(r["strain"]) for r in rows])
    plastic = np.array([float(r["plastic_strain"]) for r in rows])
    stress = np.array([float(r["stress_zz_Pa"]) for r in rows])
    youngs = material("W").youngs_modulus
    # Strain-rate control: sigma = E (eps - eps_p) at every step (exact bookkeeping of the loading law).
    assert np.allclose(stress, youngs * (strain - plastic), rtol=1e-9, atol=1e-3 * youngs * 1e-6)
    assert np.all(np.diff(strain) < 0)  # compression
    with SnapshotStore(out / "trajectory.h5") as store:
        assert len(store) >= 5
        times = store.times
        assert np.allclose(np.diff(times), 5e-12, rtol=1e-9)  # snapshots land exactly on the interval
        last = store.read(len(store) - 1)
        last.network.validate()
        assert last.stress[2] < 0 and np.allclose(last.stress[[0, 1, 3, 4, 5]], 0.0)


def test_restart_continues_from_a_saved_frame(box_run, tmp_path):
    out, _ = box_run
    config = load_config(None, ["run.max_steps=0", "run.max_strain=0.0105", "run.output_interval=5e-12",
                                "run.progress=false"])
    config["run"]["output_dir"] = str(tmp_path)
    with SnapshotStore(out / "trajectory.h5") as store:
        start = store.read(len(store) - 1)
    summary = run_simulation(config, restart=str(out / "trajectory.h5"))
    assert summary["strain"] <= -0.0105
    with SnapshotStore(tmp_path / "trajectory.h5") as store:
        first = store.read(0)
        assert first.time == pytest.approx(start.time)
        assert np.allclose(first.stress, start.stress)
        assert first.extra["strain"] == pytest.approx(start.extra["strain"])
        assert np.all(np.diff(store.times) > 0)


def test_restart_refuses_to_overwrite_later_frames(box_run):
    out, _ = box_run
    config = load_config(None, ["run.max_steps=1", "run.progress=false"])
    config["run"]["output_dir"] = str(out)
    with pytest.raises(SystemExit, match="would overwrite the frames after it"):
        run_simulation(config, restart=str(out / "trajectory.h5"), restart_frame=0)


def test_configuration_errors_name_the_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[loading]\nrat = 1e8\n")
    with pytest.raises(ValueError, match=r"bad.toml: unknown configuration key 'loading.rat'"):
        load_config(bad)
    with pytest.raises(SystemExit, match="unknown configuration key 'forces.model_name'"):
        main(["simulate", "--set", "forces.model_name=fft"])
    summary_path = tmp_path / "s"
    assert main(["simulate", "--set", "run.max_steps=2", "--set", "forces.model=\"line-tension\"",
                 "--output-dir", str(summary_path), "--no-progress"]) == 0
    assert json.loads((summary_path / "summary.json").read_text())["steps"] == 2


def test_training_set_generation_skips_finished_and_resumes_interrupted_runs(tmp_path):
    from ddml_engine.dynamics.runner import generate_training_set

    config = load_config(None, ['forces.model="line-tension"', "run.max_steps=4", "run.output_interval=2e-13",
                                "run.progress=false"])
    config["run"]["output_dir"] = str(tmp_path)
    generate_training_set(config, runs=2, first_seed=3)
    assert {p.name for p in tmp_path.iterdir()} == {"run_3", "run_4"}
    with SnapshotStore(tmp_path / "run_4" / "trajectory.h5") as store:
        frames_before, last_time = len(store), store.times[-1]
    (tmp_path / "run_4" / "summary.json").unlink()  # as if run 4 had been interrupted
    mtime_3 = (tmp_path / "run_3" / "summary.json").stat().st_mtime
    config["run"]["max_steps"] = 8
    generate_training_set(config, runs=2, first_seed=3)
    assert (tmp_path / "run_3" / "summary.json").stat().st_mtime == mtime_3  # finished run untouched
    with SnapshotStore(tmp_path / "run_4" / "trajectory.h5") as store:
        assert len(store) > frames_before and store.times[frames_before - 1] == last_time
        assert np.all(np.diff(store.times) > 0)


def test_restarted_run_keeps_the_whole_table(tmp_path):
    """Restarting a run in its own folder appends to its table.csv (and plot) instead of starting them afresh."""
    import csv

    config = load_config(None, ["run.max_steps=4", "run.progress=false", "cell.size=100.0", "initial.count=2",
                                "initial.radius=20.0", 'forces.model="line-tension"', "run.output_interval=5e-13"])
    config["run"]["output_dir"] = str(tmp_path)
    run_simulation(config)
    with open(tmp_path / "table.csv") as handle:
        before = list(csv.DictReader(handle))
    config["run"]["max_steps"] = 8
    run_simulation(config, restart=str(tmp_path / "trajectory.h5"))
    with open(tmp_path / "table.csv") as handle:
        after = list(csv.DictReader(handle))
    times = [float(r["time_s"]) for r in after]
    assert float(after[0]["time_s"]) == 0.0 and np.all(np.diff(times) > 0)
    assert len(after) > len(before) and int(after[-1]["step"]) == 8
    kept = [r for r in after if float(r["time_s"]) < float(before[-1]["time_s"])]
    assert [r["time_s"] for r in kept] == [r["time_s"] for r in before[:len(kept)]] and len(kept) >= 3


def test_empty_network_and_runaway_growth_stop_with_their_reason():
    """A network that empties (every line gone) stops the run with that reason instead of loading an empty box
    forever; more nodes than max_nodes stops it too."""
    from ddml_engine.dynamics.config import DEFAULTS, build_simulation
    from ddml_engine.network import Cell, DislocationNetwork

    config = json.loads(json.dumps(DEFAULTS))
    config["forces"]["model"] = "line-tension"
    empty = DislocationNetwork(Cell.cubic(300.0), np.zeros((0, 3)), np.zeros((0, 2)), np.zeros((0, 3)))
    sim, _ = build_simulation(config, network=empty)
    sim.run(max_steps=20, progress=False)
    assert sim.step_count == 1 and "the network is empty" in sim.stop_reason
    config.update(cell={"size": 100.0})
    config["initial"].update(count=2, radius=20.0)
    sim, _ = build_simulation(config)
    sim.run(max_steps=20, progress=False, max_nodes=5)
    assert sim.step_count == 1 and "exceed run.max_nodes = 5" in sim.stop_reason


def test_restart_reproduces_the_uninterrupted_adaptive_run_exactly(tmp_path):
    """Stop after some snapshots, restart from the last one: the frames written after it are identical, bit for
    bit, to those of one uninterrupted run (the adaptive trapezoid's next trial step is saved with each snapshot)."""
    settings = ["run.progress=false", "cell.size=120.0", "initial.count=3", "initial.radius=25.0",
                'forces.model="line-tension"', "run.output_interval=1e-12", "loading.rate=-2e9"]
    whole = load_config(None, settings + ["run.max_steps=24"])
    whole["run"]["output_dir"] = str(tmp_path / "whole")
    run_simulation(whole)
    first = load_config(None, settings + ["run.max_steps=9"])
    first["run"]["output_dir"] = str(tmp_path / "part")
    run_simulation(first)
    second = load_config(None, settings + ["run.max_steps=24"])
    second["run"]["output_dir"] = str(tmp_path / "part")
    run_simulation(second, restart=str(tmp_path / "part" / "trajectory.h5"))
    with SnapshotStore(tmp_path / "whole" / "trajectory.h5") as a, SnapshotStore(tmp_path / "part" / "trajectory.h5") as b:
        assert len(b) >= 3 and np.array_equal(a.times[:len(b)], b.times)
        for k in range(len(b)):
            fa, fb = a.read(k), b.read(k)
            assert np.array_equal(fa.network.positions, fb.network.positions), k
            assert np.array_equal(fa.stress, fb.stress), k


@pytest.mark.parametrize("delay", [1.0, 2.0])
def test_kill_9_then_restart_matches_the_uninterrupted_run(tmp_path, delay):
    """`ddml simulate` killed with SIGKILL mid-run: the store keeps its complete frames; restarting from the last
    one reproduces the uninterrupted run's frames exactly."""
    import signal
    import subprocess
    import sys
    import time

    sets = ["run.progress=false", "cell.size=120.0", "initial.count=3", "initial.radius=25.0",
            'forces.model="line-tension"', "run.output_interval=1e-12", "loading.rate=-2e9", "run.max_steps=150"]
    whole = load_config(None, sets)
    whole["run"]["output_dir"] = str(tmp_path / "whole")
    run_simulation(whole)
    out = tmp_path / "killed"
    argv = [sys.executable, "-m", "ddml_engine.cli", "simulate", "--output-dir", str(out), "--threads", "1"]
    for item in sets:
        argv += ["--set", item]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    config = load_config(None, sets)
    config["run"]["output_dir"] = str(out)
    trajectory = out / "trajectory.h5"
    with SnapshotStore(trajectory) as store:
        frames = len(store)
    if frames > 1:
        run_simulation(config, restart=str(trajectory))
    else:
        run_simulation(config, overwrite=True)  # killed before its first frames: a fresh run
    with SnapshotStore(tmp_path / "whole" / "trajectory.h5") as a, SnapshotStore(trajectory) as b:
        assert len(b) == len(a) and np.array_equal(a.times, b.times)
        for k in range(len(b)):
            assert np.array_equal(a.read(k).network.positions, b.read(k).network.positions), k
