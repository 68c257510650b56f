"""One thread setting for numba and torch: precedence (option > $DDML_THREADS > cores), the commands' --threads,
serial execution of small jobs, and errors that name the setting."""
import json
import subprocess
import sys

import numba
import pytest
import torch

from ddml_engine.parallel import (THREADS_ENV, available_cores, configure_threads, resolve_threads, threads_for,
                                  torch_threads_for)


@pytest.fixture
def restore_threads():
    before = numba.get_num_threads(), torch.get_num_threads()
    yield
    numba.set_num_threads(before[0])
    torch.set_num_threads(before[1])


def run_python(code: str) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter (nothing imported yet); fails the test with its stderr if it fails."""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return run


def test_precedence_option_then_environment_then_cores(monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert resolve_threads(None) == available_cores() == resolve_threads(0)
    monkeypatch.setenv(THREADS_ENV, "1")
    assert resolve_threads(None) == 1 and resolve_threads(3) == 3
    for bad in ("abc", "0", "-2"):
        monkeypatch.setenv(THREADS_ENV, bad)
        with pytest.raises(ValueError, match=THREADS_ENV):
            resolve_threads(None)


def test_configure_sets_numba_and_torch_alike(restore_threads, monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert configure_threads(1) == 1
    assert numba.get_num_threads() == 1 and torch.get_num_threads() == 1
    n = configure_threads(None)
    assert torch.get_num_threads() == n and numba.get_num_threads() == min(n, numba.config.NUMBA_NUM_THREADS)


def test_small_jobs_run_on_one_thread_and_the_count_comes_back(restore_threads):
    configure_threads(2)
    with threads_for(10):
        assert numba.get_num_threads() == 1
    with torch_threads_for(10):
        assert torch.get_num_threads() == 1
    with torch_threads_for(10 ** 6):
        assert torch.get_num_threads() == 2
    assert numba.get_num_threads() == min(2, numba.config.NUMBA_NUM_THREADS) and torch.get_num_threads() == 2


def test_torch_imported_later_gets_the_setting_with_the_gnn_mobility():
    """configure_threads before torch is imported (ddml simulate sets threads first) still reaches torch when
    the GNN mobility is built."""
    code = ("import os, sys; os.environ.pop('OMP_NUM_THREADS', None)\n"
            "from ddml_engine.parallel import configure_threads\n"
            "assert 'torch' not in sys.modules\n"
            "configure_threads(1)\n"
            "from ddml_engine.ml.model import GNNMobilityModel\n"
            "from ddml_engine.mobility.gnn import GNNMobility\n"
            "GNNMobility(GNNMobilityModel(latent=8, layers=1))\n"
            "import torch, numba; print(torch.get_num_threads(), numba.get_num_threads())")
    assert run_python(code).stdout.split() == ["1", "1"]


def test_simulate_records_and_applies_its_threads(tmp_path, restore_threads):
    from ddml_engine.cli import main

    out = tmp_path / "run"
    main(["simulate", "--threads", "1", "--output-dir", str(out), "--no-progress", "--set", "run.max_steps=1",
          "--set", "initial.count=2", "--set", "cell.size=100.0", "--set", "initial.radius=20.0",
          "--set", 'forces.model="line-tension"'])
    assert json.loads((out / "config.json").read_text())["run"]["threads"] == 1
    assert numba.get_num_threads() == 1 and torch.get_num_threads() == 1


@pytest.mark.parametrize("argv, message", [
    (["simulate", "--threads", "0"], "ddml simulate: --threads must be >= 1"),
    (["train", "--threads", "-1"], "ddml train: --threads must be >= 1"),
    (["simulate", "--set", "run.threads=1.5", "--set", "run.max_steps=1"], "run.threads must be a whole number"),
])
def test_bad_thread_settings_are_one_line_errors(argv, message, tmp_path):
    from ddml_engine.cli import main

    with pytest.raises(SystemExit) as raised:
        main(argv + (["--output-dir", str(tmp_path / "x")] if argv[0] == "simulate" else []))
    assert message in str(raised.value)


def test_configure_threads_puts_blas_on_one_thread():
    """ddml's BLAS calls are small; a multithreaded BLAS spinning after them slows the numba kernels that follow."""
    import numpy as np
    from threadpoolctl import threadpool_info

    from ddml_engine import parallel

    np.ones((4, 4)) @ np.ones((4, 4))  # BLAS loaded
    parallel.configure_threads(2)
    blas = [p for p in threadpool_info() if p["user_api"] == "blas"]
    assert blas and all(p["num_threads"] == 1 for p in blas)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs numba's pool of at least 2 threads")
@pytest.mark.parametrize("parallel_is_faster", [True, False])
def test_measured_threads_runs_the_faster_mode_and_follows_a_change(restore_threads, parallel_is_faster):
    """MeasuredThreads times its calls: a job that is slower in one mode runs mostly in the other, and when the
    costs swap (the second core gets busy, or free again) it switches within a few probe intervals; the thread
    count is restored after serial calls."""
    import time

    from ddml_engine.parallel import MeasuredThreads

    configure_threads(2)
    faster = {"parallel": parallel_is_faster}

    def job():
        parallel = numba.get_num_threads() > 1
        time.sleep(0.0002 if parallel == faster["parallel"] else 0.002)
        return parallel

    chooser = MeasuredThreads(probe_every=8, max_probe_every=64)
    modes = [chooser.run(job, work=100) for _ in range(120)]
    assert numba.get_num_threads() == 2
    assert modes[:8] == [True] * 4 + [False] * 4  # first calls: each mode once untimed, then `window` timed
    assert sum(m == parallel_is_faster for m in modes[8:]) >= 0.85 * len(modes[8:])
    faster["parallel"] = not parallel_is_faster
    modes = [chooser.run(job, work=100) for _ in range(200)]
    assert sum(m == (not parallel_is_faster) for m in modes[-60:]) >= 0.8 * 60


@pytest.mark.skipif(len(__import__("os").sched_getaffinity(0)) < 2, reason="needs 2 CPUs")
def test_torch_threads_follow_the_cores_other_processes_leave_free(restore_threads):
    """OtherLoad sees a busy-looping process as ~1 core of other load (and not this process's own work);
    LoadAwareThreads then runs torch on the free cores only, and on all configured threads once it has gone."""
    import subprocess
    import sys
    import time

    from ddml_engine.parallel import LoadAwareThreads, OtherLoad

    torch.set_num_threads(2)
    chooser = LoadAwareThreads(every=0.25, confirm=2)
    load = OtherLoad(0.25)
    start = time.perf_counter()
    while time.perf_counter() - start < 0.4:  # this process busy, nobody else
        pass
    assert load.cores() < 0.5
    with chooser.applied() as threads:
        assert threads == 2 == torch.get_num_threads()
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)
        load.cores(), chooser.update()  # readings from here on
        time.sleep(0.3)
        assert load.cores() > 0.7
        assert chooser.update() == 2  # one reading: not yet
        time.sleep(0.3)
        with chooser.applied() as threads:
            assert threads == 1 == torch.get_num_threads()
        assert torch.get_num_threads() == 2
    finally:
        child.kill()
        child.wait()
    for _ in range(2):
        time.sleep(0.3)
        chooser.update()
    with chooser.applied() as threads:
        assert threads == 2 == torch.get_num_threads()


def test_blas_loaded_after_the_setting_starts_on_one_thread():
    """scipy's OpenBLAS, loaded after configure_threads (scipy.linalg imported later), is on one thread too."""
    code = ("import os, sys; os.environ.pop('OPENBLAS_NUM_THREADS', None)\n"
            "from ddml_engine.parallel import configure_threads\n"
            "assert 'scipy.linalg' not in sys.modules\n"
            "configure_threads(2)\n"
            "import scipy.linalg\n"
            "from threadpoolctl import threadpool_info\n"
            "blas = [p for p in threadpool_info() if p['user_api'] == 'blas']\n"
            "assert len(blas) >= 2 and all(p['num_threads'] == 1 for p in blas), blas\n")
    run_python(code)
