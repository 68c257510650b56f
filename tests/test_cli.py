"""`ddml info` and `ddml forces` on the shared ParaDiS file and on bad input."""
import json
import re
from pathlib import Path

import numpy as np
import pytest

from ddml_engine.cli import main
from ddml_engine.forces.model import make_force_model
from ddml_engine.io import read_network
from ddml_engine.materials import material

CU = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "cu_180chains_16.10e.data"


def test_info_summarises_the_cu_network(capsys):
    assert main(["info", str(CU), "--material", "Cu"]) == 0
    text = capsys.readouterr().out
    assert "nodes          5055" in text and "segments       5930" in text
    assert "Frank's rule   ok" in text and "material: Cu (FCC" in text
    assert "lattice        FCC (material Cu)" in text and "m^-2" in text
    assert main(["info", str(CU), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    network = read_network(CU)
    assert summary["total_length_b"] == pytest.approx(network.total_length())
    assert summary["density_per_b2"] == pytest.approx(network.total_length() / 58824.0**3)
    assert summary["material"] is None and "density_per_m2" not in summary
    # FCC Cu, recognised from its Burgers vectors without a material: 1/2<110> segments, on {111} glide planes
    # or on {001} (Lomer junctions), and Hirth locks a<100> (|b| = sqrt(2) in units of |1/2<110>|).
    assert summary["lattice"] == "fcc" and summary["lattice_source"] == "inferred from the Burgers vectors"
    assert summary["burgers_families"] == {"1/2<110>": 5876, "<100>": 54}
    perfect = np.isclose(np.linalg.norm(network.burgers, axis=1), 1.0)
    lomer = np.sum(perfect & np.all(np.isclose(np.sort(np.abs(network.planes), axis=1), [0, 0, 1]), axis=1))
    assert summary["segment_classes"] == {"glissile 1/2<110> on {111}": 5876 - lomer,
                                          "Lomer 1/2<110> (sessile)": lomer, "Hirth lock <100>": 54}
    assert lomer == 938


def test_info_takes_the_material_a_trajectory_records(tmp_path, capsys):
    from ddml_engine.dynamics.configs import random_prismatic_loops
    from ddml_engine.io.store import SnapshotStore
    from ddml_engine.network import Cell

    net = random_prismatic_loops(Cell.cubic(100.0), 2, 20.0, 5.0, seed=1)
    with SnapshotStore(tmp_path / "t.h5", "a", material=material("Ta")) as store:
        store.append(net, 0.0)
    assert main(["info", str(tmp_path / "t.h5"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["material"] == "Ta" and summary["lattice"] == "bcc"
    assert summary["density_per_m2"] == pytest.approx(net.total_length() / 100.0**3 / material("Ta").burgers_m**2)
    assert summary["burgers_families"] == {"1/2<111>": net.num_segments}


def test_info_reports_frank_violations_with_exit_status(tmp_path, capsys):
    text = CU.read_text().splitlines()
    # Flip the Burgers vector of the first arm of node 0,0 in place: the file stays parseable only if both
    # copies agree, so this must be reported as a file error naming the line.
    for i, line in enumerate(text):
        if line.startswith("   0,10304 "):
            text[i] = line.replace("7.0710678118e-01 7.0710678118e-01", "-7.0710678118e-01 7.0710678118e-01", 1)
            break
    bad = tmp_path / "bad.data"
    bad.write_text("\n".join(text) + "\n")
    with pytest.raises(SystemExit, match=re.escape(str(bad)) + r":\d+"):
        main(["info", str(bad)])
    with pytest.raises(SystemExit, match="no such file"):
        main(["info", str(tmp_path / "missing.data")])


def test_forces_needs_a_material_and_runs_the_readme_example(tmp_path, capsys):
    """A ParaDiS file records no material: no silent tungsten. The README's `--model fft` example runs."""
    from ddml_engine.dynamics.configs import random_prismatic_loops
    from ddml_engine.io.paradis import write_paradis
    from ddml_engine.network import Cell

    with pytest.raises(SystemExit, match=r"records no material; pass --material \(W.*\.h5"):
        main(["forces", str(CU), "--model", "line-tension"])
    path = tmp_path / "loops.data"
    write_paradis(random_prismatic_loops(Cell.cubic(200.0), 3, 30.0, 10.0, seed=2), path)
    assert main(["forces", str(path), "--material", "W", "--stress", "0,0,0,0,100,0", "--model", "fft",
                 "-o", str(tmp_path / "f.vtp")]) == 0
    text = capsys.readouterr().out
    assert "material: W (BCC, b = 2.743 A, mu = 149.8 GPa" in text and "given by --material" in text
    assert (tmp_path / "f.vtp").stat().st_size > 0


def test_forces_writes_vtp_matching_the_engine(tmp_path, capsys):
    out = tmp_path / "forces.vtp"
    assert main(["forces", str(CU), "--material", "Cu", "--model", "line-tension", "--stress", "0,0,0,0,0,100",
                 "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    network = read_network(CU)
    expected = make_force_model("line-tension", material("Cu"))(network, np.array([0, 0, 0, 0, 0, 100e6]))
    from test_io_vtk import read_vtp

    data = read_vtp(out)
    assert data["lines"].shape[0] == network.num_segments
    # Points beyond the first N are extra end points of boundary-crossing segments, with their node's data.
    force = data["point"]["force"]
    assert np.allclose(force[: network.num_nodes], expected, rtol=1e-9, atol=1e-9 * np.abs(expected).max())
    assert np.allclose(data["point"]["|force| (Pa*b^2)"][: network.num_nodes], np.linalg.norm(expected, axis=1))


def test_md_input_writes_a_runnable_lammps_folder(tmp_path, capsys):
    folder = tmp_path / "md"
    assert main(["md", "input", str(folder), "--cells", "12", "--mode", "compression", "--strain-rate", "2e8"]) == 0
    assert "mpirun -np N lmp -in in.deform.lmp" in capsys.readouterr().out
    script = (folder / "in.deform.lmp").read_text()
    assert "read_data" in script and "fix" in script and "deform" in script
    config = json.loads((folder / "config.json").read_text())["config"]
    assert config["mode"] == "compression" and config["strain_rate"] == pytest.approx(2e8)
    assert (folder / "crystal.data").stat().st_mode & 0o044  # readable by others: not a 0600 temporary file
    with pytest.raises(SystemExit, match="does not fit the box"):
        main(["md", "input", str(tmp_path / "small"), "--cells", "8"])


SMALL_RUN = ["--no-progress", "--set", "run.max_steps=1", "--set", 'forces.model="line-tension"']


def test_simulate_takes_the_material_from_the_start_file_or_refuses(tmp_path, capsys):
    """A ParaDiS start file records no material: an error naming both ways, before anything is written;
    a ddml trajectory records its own; [material] overrides are accepted."""
    from ddml_engine.dynamics.configs import random_prismatic_loops
    from ddml_engine.io.paradis import write_paradis
    from ddml_engine.io.store import SnapshotStore
    from ddml_engine.network import Cell

    net = random_prismatic_loops(Cell.cubic(100.0), 2, 20.0, 5.0, seed=1)
    write_paradis(net, tmp_path / "start.data")
    out = tmp_path / "run"
    out.mkdir()
    (out / "trajectory.h5").write_bytes(b"an earlier run")
    with pytest.raises(SystemExit, match=r"start\.data records no material: set material\.name .*\.h5"):
        main(["simulate", "--output-dir", str(out), "--set", 'initial.type="file"',
              "--set", f'initial.file="{tmp_path / "start.data"}"'] + SMALL_RUN)
    assert (out / "trajectory.h5").read_bytes() == b"an earlier run"  # nothing replaced
    with SnapshotStore(tmp_path / "ta.h5", "a", material=material("Ta")) as store:
        store.append(net, 0.0)
    main(["simulate", "--output-dir", str(tmp_path / "ta"), "--set", 'initial.type="file"',
          "--set", f'initial.file="{tmp_path / "ta.h5"}"', "--set", "material.mu=6e10"] + SMALL_RUN)
    assert "material: Ta (BCC, b = 2.85 A, mu = 60 GPa" in capsys.readouterr().out
    with SnapshotStore(tmp_path / "ta" / "trajectory.h5", "r") as store:
        assert store.material.name == "Ta" and store.material.mu == 6e10
    with pytest.raises(SystemExit, match=r"material\.nu must be below 0\.5"):
        main(["simulate", "--output-dir", str(tmp_path / "nu"), "--set", "material.nu=0.5"] + SMALL_RUN)


def test_version_and_print_config_round_trip(tmp_path, capsys):
    """--version names ddml's version; --print-config is a commented TOML file that `ddml simulate FILE` accepts
    as is and that reads back as the defaults."""
    from ddml_engine import __version__
    from ddml_engine.dynamics.config import DEFAULTS, load_config

    with pytest.raises(SystemExit) as shown:
        main(["--version"])
    assert shown.value.code == 0 and f"ddml {__version__}" in capsys.readouterr().out
    assert main(["simulate", "--print-config"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("#") and "[run]" in text and "# 1/s, strain rate" in text
    path = tmp_path / "run.toml"
    path.write_text(text)
    assert load_config(path) == DEFAULTS
    out = tmp_path / "out"
    assert main(["simulate", str(path), "--output-dir", str(out)] + SMALL_RUN + [
        "--set", "cell.size=100.0", "--set", "initial.count=2", "--set", "initial.radius=20.0"]) == 0
    assert (out / "trajectory.h5").exists()


def test_progress_bar_shows_target_eta_and_signed_stress(tmp_path, capsys):
    main(["simulate", "--output-dir", str(tmp_path / "p"), "--set", "run.max_steps=2", "--set", "cell.size=100.0",
          "--set", "initial.count=2", "--set", "initial.radius=20.0", "--set", 'forces.model="line-tension"'])
    err = capsys.readouterr().err.replace("\r", "\n")
    last = [line for line in err.splitlines() if "to strain 0.1 or 2 steps" in line][-1]
    assert "100%" in last and "<" in last and "sigma -" in last and "MPa" in last and "/m^2" in last


def test_uncompiled_kernels_are_announced(tmp_path):
    """A copy of the package without numba's cache reports its kernels as to be compiled (without compiling), but
    not the inlined helpers, which are never cached on their own (else every run would announce them)."""
    import shutil
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    shutil.copytree(root / "ddml_engine", tmp_path / "ddml_engine", ignore=shutil.ignore_patterns("__pycache__"))
    code = ("from ddml_engine.forces.jit import announce_compilation, uncached_kernels\n"
            "missing = uncached_kernels(); assert 'ddml_engine.forces.fft._apply_operator' in missing, missing\n"
            "assert 'ddml_engine.forces.fft._cubic_bspline' not in missing, missing  # inlined: never cached alone\n"
            "assert announce_compilation('[t]')")
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path), "NUMBA_CACHE_DIR": str(tmp_path / "nc")})
    assert run.returncode == 0, run.stderr
    assert "[t] compiling" in run.stderr and "cached on disk" in run.stderr


def test_outputs_never_replace_inputs_or_earlier_runs(tmp_path, capsys):
    from ddml_engine.dynamics.configs import random_prismatic_loops
    from ddml_engine.io.paradis import write_paradis
    from ddml_engine.network import Cell

    path = tmp_path / "loops.data"
    write_paradis(random_prismatic_loops(Cell.cubic(200.0), 2, 30.0, 10.0, seed=2), path)
    before = path.read_bytes()
    with pytest.raises(SystemExit, match="is the input network"):
        main(["forces", str(path), "--material", "W", "-o", str(path), "--overwrite"])
    assert path.read_bytes() == before
    (tmp_path / "f.vtp").write_text("mine")
    with pytest.raises(SystemExit, match="exists; pass --overwrite"):
        main(["forces", str(path), "--material", "W", "-o", str(tmp_path / "f.vtp")])
    assert (tmp_path / "f.vtp").read_text() == "mine"
    args = ["simulate", "--output-dir", str(tmp_path / "run"), "--set", "cell.size=100.0", "--set", "initial.count=2",
            "--set", "initial.radius=20.0"] + SMALL_RUN
    assert main(args) == 0
    first = (tmp_path / "run" / "trajectory.h5").read_bytes()
    with pytest.raises(SystemExit, match="exists \\(an earlier run\\): pass --overwrite"):
        main(args)
    assert (tmp_path / "run" / "trajectory.h5").read_bytes() == first
    assert main(args + ["--overwrite"]) == 0


def test_every_error_is_one_line_unless_debug(tmp_path, capsys, monkeypatch):
    """A failure deep inside a command (here: the elastic-cutoff model without its cutoff, raised by the force
    model) reaches the user as one line on stderr and exit status 1; --debug or DDML_DEBUG=1 shows the traceback."""
    from ddml_engine.dynamics.configs import random_prismatic_loops
    from ddml_engine.io.paradis import write_paradis
    from ddml_engine.network import Cell

    path = tmp_path / "loops.data"
    write_paradis(random_prismatic_loops(Cell.cubic(200.0), 2, 30.0, 10.0, seed=2), path)
    argv = ["forces", str(path), "--material", "W", "--model", "elastic-cutoff"]
    monkeypatch.delenv("DDML_DEBUG", raising=False)
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "ddml forces: the 'elastic-cutoff' force model needs a positive cutoff" in err and "--debug" in err
    with pytest.raises(ValueError):
        main(["--debug"] + argv)
    monkeypatch.setenv("DDML_DEBUG", "1")
    with pytest.raises(ValueError):
        main(argv)


def test_a_fifo_is_refused_not_read(tmp_path, capsys):
    import os

    fifo = tmp_path / "net.data"
    os.mkfifo(fifo)
    with pytest.raises(SystemExit, match="not a regular file"):
        main(["info", str(fifo)])
