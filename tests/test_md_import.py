"""`ddml md import`: your own MD into a training store. LAMMPS writes, inside the test, a multi-frame dump, one
dump file per frame and a log (thermo pressures) of a small W crystal holding a prismatic loop, under a box that
deforms; OVITO writes .ca files of the same frames. Each route must give the loop's network per frame, the log's
stress (tension positive, Pa) at the frame's step, time = step x dt and the frame's own (deforming) cell."""
from __future__ import annotations

import csv
import subprocess

import numpy as np
import pytest

from ddml_engine.cli import main
from ddml_engine.io.store import SnapshotStore
from ddml_engine.md import importer
from ddml_engine.md import lammps as mdl
from ddml_engine.md import synthetic
from ddml_engine.materials import BAR, material

W_A0 = 3.165
DT_PS = 0.002
EVERY = 20
STEPS = 60
CELLS = 14
FINE = ["--maxseg", "3", "--minseg", "1"]  # the loop is only 16 b across: keep it more than a triangle


@pytest.fixture(scope="module")
def md_run(tmp_path_factory):
    reason = mdl.lammps_unavailable_reason()
    if reason:
        pytest.skip(f"LAMMPS cannot run here: {reason}")
    pytest.importorskip("ovito")
    d = tmp_path_factory.mktemp("byo_md")
    crystal = synthetic.bcc_crystal(W_A0, CELLS)
    loop = synthetic.prismatic_loop_111(crystal, 3.5)
    loop = synthetic.PolygonLoop(loop.vertices + 0.5 * crystal.lengths, loop.burgers)
    synthetic.write_lammps_data(synthetic.insert_loops(crystal, [synthetic.make_vacancy_type(loop)]), d / "w.data")
    potential = mdl.install_potential(mdl.ZHOU_FILE, d)
    script = f"""units metal
atom_style atomic
boundary p p p
read_data w.data
pair_style {mdl.pair_style_of(potential.name)}
pair_coeff * * {potential.name} W
timestep {DT_PS}
velocity all create 20 4 mom yes rot yes
fix md all nve
fix pull all deform 1 z erate 0.005 units box remap x
thermo_style custom step temp pxx pyy pzz pyz pxz pxy
thermo {EVERY // 2}
dump all_frames all custom {EVERY} traj.dump id type x y z
dump per_frame all custom {EVERY} dump.*.lammpstrj id type x y z
run {STEPS}
"""
    (d / "in.lmp").write_text(script)
    proc = subprocess.run([str(mdl.lammps_executable()), "-in", "in.lmp", "-log", "log.lammps", "-screen", "none"],
                          cwd=d, env=mdl.lammps_environment(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (d / "log.lammps").read_text()[-2000:]
    return d


def log_pressures(path):
    """(step -> pxx..pxy in bar) read independently of the importer: the rows after the thermo header."""
    rows, on = {}, False
    for line in open(path):
        tokens = line.split()
        if tokens[:2] == ["Step", "Temp"]:
            on = True
            continue
        if on and tokens and tokens[0].isdigit() and len(tokens) == 8:
            rows[int(tokens[0])] = np.array(tokens[2:], float)
        elif on:
            on = False
    return rows


def check_store(path, md_run, expected_frames):
    pressures = log_pressures(md_run / "log.lammps")
    with SnapshotStore(path) as store:
        assert len(store) == expected_frames and store.material.name == "W"
        for frame in store:
            step = int(frame.extra["step"])
            assert step % EVERY == 0
            assert frame.time == pytest.approx(step * DT_PS * 1e-12)
            np.testing.assert_allclose(frame.stress, -pressures[step] * BAR)  # tension positive
            net = frame.network
            net.validate(check_frank=True)
            assert net.num_nodes >= 6 and np.allclose(np.abs(net.burgers) * np.sqrt(3), 1.0)  # the 1/2<111> loop
            lz = CELLS * W_A0 * (1 + 0.005 * step * DT_PS) / (material("W").burgers_m * 1e10)  # deforming box (b)
            assert net.cell.matrix[2, 2] == pytest.approx(lz, rel=1e-4)


def test_one_multi_frame_dump_with_a_lammps_log(md_run, tmp_path, capsys):
    out = tmp_path / "mine.h5"
    assert main(["md", "import", str(md_run / "traj.dump"), "--stress-log", str(md_run / "log.lammps"),
                 "--timestep-ps", str(DT_PS), *FINE, "-o", str(out), "--material", "W", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "4 frames stored" in text and "ddml train --set data.trajectories" in text
    check_store(out, md_run, STEPS // EVERY + 1)
    with pytest.raises(SystemExit, match="exists; choose another output"):  # never replaces a file
        main(["md", "import", str(md_run / "traj.dump"), "--stress-log", str(md_run / "log.lammps"),
              "-o", str(out), "--material", "W"])


def test_one_dump_per_frame_and_a_ca_series_with_a_csv(md_run, tmp_path):
    files = sorted(md_run.glob("dump.*.lammpstrj"), key=lambda p: int(p.name.split(".")[1]))
    per_frame = tmp_path / "per_frame.h5"
    assert main(["md", "import", *map(str, files), "--stress-log", str(md_run / "log.lammps"),
                 "--timestep-ps", str(DT_PS), *FINE, "-o", str(per_frame), "--material", "W", "--no-progress"]) == 0
    check_store(per_frame, md_run, len(files))
    # OVITO writes the .ca files (DXA), the stress goes to a CSV in GPa, tension positive
    from ovito.io import export_file, import_file
    from ovito.modifiers import DislocationAnalysisModifier

    pipeline = import_file(str(md_run / "traj.dump"))
    pipeline.modifiers.append(DislocationAnalysisModifier(
        input_crystal_structure=DislocationAnalysisModifier.Lattice.BCC))
    cas = []
    for k in range(pipeline.num_frames):
        step = int(pipeline.compute(k).attributes["Timestep"])
        cas.append(tmp_path / f"frame.{step}.ca")
        export_file(pipeline, str(cas[-1]), "ca", frame=k)
    pressures = log_pressures(md_run / "log.lammps")
    with open(tmp_path / "stress.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["step", "xx", "yy", "zz", "yz", "xz", "xy"])
        for step, p in sorted(pressures.items()):
            writer.writerow([step, *(-p * BAR / 1e9)])
    from_ca = tmp_path / "from_ca.h5"
    assert main(["md", "import", *map(str, cas[::-1]), "--stress-csv", str(tmp_path / "stress.csv"),
                 "--timestep-ps", str(DT_PS), *FINE, "-o", str(from_ca), "--material", "W", "--no-progress"]) == 0
    check_store(from_ca, md_run, len(cas))
    with SnapshotStore(from_ca) as a, SnapshotStore(per_frame) as b:
        assert [int(f.extra["step"]) for f in a] == [int(f.extra["step"]) for f in b]  # sorted by step


def test_log_errors_name_the_file_and_the_columns(md_run, tmp_path):
    with pytest.raises(ValueError, match=r"log\.lammps: no thermo block with the columns Step, Sxx"):
        importer.read_thermo_log(md_run / "log.lammps", ["Sxx", "Syy", "Szz", "Syz", "Sxz", "Sxy"])
    table = importer.read_thermo_log(md_run / "log.lammps")
    with pytest.raises(KeyError, match="step 5 is not in"):
        table.at(5)
    bad = tmp_path / "bad.csv"
    bad.write_text("step,xx,yy\n0,1,2\n")
    with pytest.raises(ValueError, match="missing columns zz, yz, xz, xy"):
        importer.read_stress_csv(bad)
    with pytest.raises(SystemExit, match="exactly one of --stress-log"):
        main(["md", "import", str(md_run / "traj.dump"), "-o", str(tmp_path / "x.h5"), "--material", "W"])
