"""MD ground truth: tabulated W potential, prismatic-loop crystals, LAMMPS runs (tension/compression, stress
sign, elastic constants), DXA extraction into snapshot stores (Burgers vectors, units, junctions, bad frames)
and reports. Tests that run LAMMPS or OVITO skip with the reason when those cannot be loaded."""
from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ddml_engine.md import crystal as mdcrystal
from ddml_engine.md import lammps as mdl
from ddml_engine.md import potentials
from ddml_engine.network import GLISSILE_111, JUNCTION_100, PINNED_NODE, DislocationNetwork

EV_A3_GPA = 160.21766208  # eV/Å^3 in GPa


def needs_lammps():
    reason = mdl.lammps_unavailable_reason()
    if reason:
        pytest.skip(f"LAMMPS cannot run here: {reason}")


def needs_ovito():
    pytest.importorskip("ovito", reason="the ovito module (DXA) is not installed")


# ----------------------------------------------------------------------------- potential (no LAMMPS)
def test_fs_w_reproduces_published_fit():
    """Finnis-Sinclair W at 0 K: a0 = 3.1652 Å, E_coh = 8.90 eV, C11/C12/C44 = 522.4/204.4/160.6 GPa
    (Finnis & Sinclair 1984, fitted to experiment); the Ackland-Thetford term leaves them unchanged."""
    from scipy.optimize import minimize_scalar

    res = minimize_scalar(potentials.lattice_energy, bounds=(3.0, 3.4), method="bounded",
                          options={"xatol": 1e-9})
    a0 = res.x
    assert a0 == pytest.approx(3.1652, abs=2e-4)
    assert -res.fun == pytest.approx(8.90, abs=0.01)
    vol, h = a0**3 / 2.0, 1e-4

    def d2(strain_of):
        e = [potentials.lattice_energy(a0, strain_of(x)) for x in (-h, 0.0, h)]
        return (e[0] - 2 * e[1] + e[2]) / h**2 / vol * EV_A3_GPA

    c11 = d2(lambda x: np.diag([x, 0, 0]))
    c11_plus_c12 = 0.5 * d2(lambda x: np.diag([x, x, 0]))
    c44 = d2(lambda x: np.array([[0, x / 2, 0], [x / 2, 0, 0], [0, 0, 0]]))
    assert c11 == pytest.approx(522.4, rel=0.01)
    assert c11_plus_c12 - c11 == pytest.approx(204.4, rel=0.01)
    assert c44 == pytest.approx(160.6, rel=0.01)


def test_fs_table_matches_analytic(tmp_path):
    path = potentials.write_fs_w(tmp_path / potentials.FS_W_FILE, nr=2000, nrho=1000)
    lines = Path(path).read_text().splitlines()
    nrho, drho, nr, dr, cut = lines[4].split()
    nrho, nr, drho, dr = int(nrho), int(nr), float(drho), float(dr)
    assert float(cut) == pytest.approx(4.400224)
    assert lines[3].split() == ["1", "W"] and lines[5].split()[0] == "74"
    values = np.array(" ".join(lines[6:]).split(), float)
    assert len(values) == nrho + 2 * nr
    f, phi, rv = values[:nrho], values[nrho:nrho + nr], values[nrho + nr:]
    rho, r = np.arange(nrho) * drho, np.arange(nr) * dr
    assert np.allclose(f, -potentials.FS_W["A"] * np.sqrt(rho))
    assert np.allclose(phi, potentials.fs_density(r))
    assert np.allclose(rv, r * potentials.fs_pair(r))
    # the Ackland-Thetford core term acts only inside b0 and is continuous there
    assert potentials.fs_pair(2.5) > potentials.fs_pair(2.5, dict(potentials.FS_W, B=0.0))
    assert potentials.fs_pair(2.7411 - 1e-9) == pytest.approx(potentials.fs_pair(2.7411 + 1e-9), abs=1e-6)


# ----------------------------------------------------------------------------- crystals (no LAMMPS)
def test_hexagonal_prismatic_loop_geometry():
    a0 = 3.1652
    for d in mdcrystal.BURGERS_111:
        loop = mdcrystal.hexagonal_prismatic_loop(a0, np.array([20.0, 21.0, 22.0]), d, 12.0)
        b_hat = d / np.sqrt(3.0)
        assert abs(loop.normal @ b_hat) == pytest.approx(1.0)  # prismatic: loop plane normal to b
        assert np.allclose(np.abs(loop.burgers), 0.5 * a0)
        sides = np.roll(loop.vertices, -1, axis=0) - loop.vertices
        for side in sides:  # sides along <112>, each in a {110} plane containing b
            s = side / np.linalg.norm(side)
            assert np.allclose(np.sort(np.abs(s)), np.array([1, 1, 2]) / np.sqrt(6.0), atol=1e-12)
            n = np.cross(s, b_hat)
            n /= np.linalg.norm(n)
            assert np.allclose(np.sort(np.abs(n)), [0, 1 / np.sqrt(2), 1 / np.sqrt(2)], atol=1e-12)
        # loop plane half-way between two (222) planes of its family: s.c = (k + 1/2) a0/2
        c = loop.vertices.mean(axis=0)
        phase = (d @ c) / (0.5 * a0) % 1.0
        assert phase == pytest.approx(0.5, abs=1e-9)


def test_seeded_loops_remove_one_burgers_slab():
    a0, cells, radius = 3.1652, 12, 9.0
    crystal, specs = mdcrystal.seeded_loop_crystal(a0, cells, 1, radius, seed=3)
    area = 1.5 * np.sqrt(3.0) * radius**2
    expected = area * (0.5 * np.sqrt(3.0) * a0) * 2.0 / a0**3  # hexagon x |b| x atomic density
    removed = 2 * cells**3 - crystal.num_atoms
    assert abs(removed - expected) < 0.25 * expected
    again, specs2 = mdcrystal.seeded_loop_crystal(a0, cells, 1, radius, seed=3)
    assert np.array_equal(again.positions, crystal.positions)  # seeded
    many = mdcrystal.random_loop_specs(np.full(3, 100.0), 6, 10.0, seed=5)
    c = np.array([s.centre for s in many])
    dx = c[:, None] - c[None]
    dx -= 100.0 * np.round(dx / 100.0)
    dist = np.linalg.norm(dx, axis=-1) + np.eye(6) * 1e9
    assert dist.min() >= 24.0
    with pytest.raises(ValueError, match="could not place"):
        mdcrystal.random_loop_specs(np.full(3, 30.0), 20, 10.0, seed=1, max_tries=200)


def test_input_script_and_config(tmp_path):
    cfg = mdl.MDConfig(cells=6, num_loops=0, mode="compression", strain_rate=1e9, max_strain=0.05, timestep=0.002,
                       dump_interval=1.0, stress_interval=0.1, equilibration=3.0)
    assert cfg.deformation_steps == 25000 and cfg.dump_every == 500 and cfg.stress_every == 50
    assert cfg.signed_rate_per_ps == pytest.approx(-1e-3)
    inp = mdl.write_lammps_input(cfg, tmp_path)
    text = inp.script.read_text()
    assert "pair_style      eam/fs" in text and f"pair_coeff      * * {potentials.FS_W_FILE} W" in text
    assert "fix             de_deform all deform 1 z trate -0.001 remap x" in text
    assert "nph x 0.0 0.0 1 y 0.0 0.0 1 xy 0.0 0.0 1 xz 0.0 0.0 1 yz 0.0 0.0 1" in text  # uniaxial stress
    assert (tmp_path / potentials.FS_W_FILE).exists() and inp.data.exists()
    assert json.loads((tmp_path / "config.json").read_text())["num_atoms"] == 432
    with pytest.raises(ValueError, match="tension"):
        mdl.MDConfig(mode="shear")
    with pytest.raises(ValueError, match="multiple"):
        _ = mdl.MDConfig(dump_interval=1.0, stress_interval=0.3).stress_every


def test_stress_log_sign_and_units(tmp_path):
    """LAMMPS pressure is positive in compression; the engine's stress is sigma = -p in Pa."""
    path = tmp_path / "stress.dat"
    path.write_text("# step time_ps true_strain temp_K pxx pyy pzz pyz pxz pxy lx ly lz\n"
                    "0 0 0 300 0 0 0 0 0 0 10 10 10\n"
                    "50 0.1 -0.0001 301 1 2 10000 4 5 6 10 10 9.999\n")
    log = mdl.read_stress_log(path)
    assert np.allclose(log.stress[1], [-1e5, -2e5, -1e9, -4e5, -5e5, -6e5])  # Voigt yz xz xy order kept
    assert log.time[1] == pytest.approx(1e-13) and log.step.tolist() == [0, 50]
    path.write_text("0 0 0 300 0 0\n")
    with pytest.raises(ValueError, match="stress.dat:1"):
        mdl.read_stress_log(path)


# ----------------------------------------------------------------------------- LAMMPS runs
@pytest.mark.slow
def test_elastic_constants_low_temperature_match_lattice_sums(tmp_path):
    """The finite-difference MD measurement at 10 K reproduces the 0 K constants of the analytic potential."""
    needs_lammps()
    ec = mdl.measure_elastic_constants(10.0, cells=5, strain=0.005, equilibration_ps=1.0, sample_ps=2.0,
                                       directory=tmp_path)
    assert ec.lattice_constant == pytest.approx(3.1652, rel=1e-3)
    assert ec.C11 / 1e9 == pytest.approx(522.4, rel=0.03)
    assert ec.C12 / 1e9 == pytest.approx(204.4, rel=0.05)
    assert ec.C44 / 1e9 == pytest.approx(160.6, rel=0.03)
    m = ec.material()
    assert m.mu == pytest.approx(ec.mu) and 0.25 < m.nu < 0.32
    assert m.burgers_m == pytest.approx(ec.lattice_constant * np.sqrt(3) / 2 * 1e-10)


@pytest.mark.slow
def test_compression_gives_negative_axial_stress(tmp_path):
    needs_lammps()
    cfg = mdl.MDConfig(cells=6, num_loops=0, mode="compression", strain_rate=1e10, max_strain=0.01,
                       equilibration=0.5, dump_interval=0.5, stress_interval=0.1, minimize_steps=100)
    run = mdl.run_md(cfg, tmp_path)
    log = mdl.read_stress_log(run.input.stress_log)
    # elastic [001] loading: sigma_zz = E_001 * strain, E_001 = C11 - 2 C12^2/(C11 + C12) ~ 350 GPa (300 K)
    assert log.strain[-1] == pytest.approx(-0.0099, abs=5e-4)
    assert log.stress[-1, 2] < -2.0e9
    assert abs(log.stress[-1, 0]) < 0.5e9 and abs(log.stress[-1, 1]) < 0.5e9
    assert len(run.dumps()) == 3 and run.atom_steps_per_s > 0


@pytest.fixture(scope="module")
def tension_run(tmp_path_factory):
    """A 3,420-atom W crystal with one 1/2<111> prismatic loop: minimise, 2 ps at 300 K, 1 % tension at 2e9/s."""
    needs_lammps()
    needs_ovito()
    from ddml_engine.md.extract import extract_trajectory

    d = tmp_path_factory.mktemp("md_tension")
    cfg = mdl.MDConfig(cells=12, num_loops=1, loop_radius=9.0, seed=3, equilibration=2.0, max_strain=0.01,
                       strain_rate=2e9, minimize_steps=500)
    run = mdl.run_md(cfg, d)
    report = extract_trajectory(d, force_model="line-tension")
    return run, report


@pytest.mark.slow
def test_tension_run_dxa_finds_the_prismatic_loop(tension_run):
    from ddml_engine.io.store import SnapshotStore
    from ddml_engine.materials import material

    run, report = tension_run
    assert len(report.stored) == len(run.dumps()) == 6 and not report.skipped
    spec = json.loads((run.directory / "config.json").read_text())["loops"][0]
    seeded_b = np.array(spec["direction"]) / np.sqrt(3.0)
    b_ang = material("W").burgers_m * 1e10
    with SnapshotStore(run.directory / "networks.h5") as store:
        assert len(store) == 6
        for k in range(len(store)):
            frame = store.read(k)
            net = frame.network
            net.validate(check_frank=True)
            assert np.all(net.segment_classes() == GLISSILE_111)
            assert np.allclose(np.abs(net.burgers @ seeded_b), 1.0)  # b = +-seeded 1/2<111>, |b| = 1
            assert np.all(net.node_degree() == 2) and not np.any(net.constraints == PINNED_NODE)
            # one closed loop in the plane normal to b (prismatic), on the glide cylinder of the seeded loop
            # (prismatic loops glide along b, so only the offset across b is checked)
            r0 = net.positions[net.segments[:, 0]]
            vec = net.segment_vectors()
            rel = net.cell.minimum_image(r0 - r0[0])
            area = 0.5 * np.cross(rel, rel + vec).sum(axis=0)
            assert np.linalg.norm(area) > 5.0
            assert abs(area @ seeded_b) / np.linalg.norm(area) > 0.9
            length = np.linalg.norm(vec, axis=1)
            centre = r0[0] + ((rel + 0.5 * vec) * length[:, None]).sum(axis=0) / length.sum()
            off = net.cell.minimum_image(centre - np.array(spec["centre_A"]) / b_ang)
            assert np.linalg.norm(off - (off @ seeded_b) * seeded_b) < 0.5 * spec["radius_A"] / b_ang
            # F^DDD stored with the frame's MD stress
            assert frame.extra["forces"].shape == (net.num_nodes, 3)
            assert np.all(np.isfinite(frame.extra["forces"]))
        # Å -> b: the stored cell is the dump's box divided by b
        last = store.read(len(store) - 1)
    with gzip.open(run.dumps()[-1], "rt") as fh:
        lines = fh.read().splitlines()
    k = next(i for i, t in enumerate(lines) if t.startswith("ITEM: BOX BOUNDS"))
    assert lines[k].split()[3:6] == ["xy", "xz", "yz"]  # shear-free loading: a (slightly) tilted box
    (xlo_b, xhi_b, xy), (ylo_b, yhi_b, xz), (zlo, zhi, yz) = [[float(v) for v in lines[k + j].split()]
                                                              for j in (1, 2, 3)]
    xlo, xhi = xlo_b - min(0.0, xy, xz, xy + xz), xhi_b - max(0.0, xy, xz, xy + xz)
    ylo, yhi = ylo_b - min(0.0, yz), yhi_b - max(0.0, yz)
    h = np.array([[xhi - xlo, xy, xz], [0.0, yhi - ylo, yz], [0.0, 0.0, zhi - zlo]])
    assert np.allclose(last.network.cell.matrix * b_ang, h, rtol=1e-9, atol=1e-9)
    assert np.allclose(last.network.cell.origin * b_ang, [xlo, ylo, zlo], rtol=1e-9, atol=1e-9)


@pytest.mark.slow
def test_tension_run_stress_sign_time_and_forces(tension_run):
    from ddml_engine.forces.model import make_force_model
    from ddml_engine.io.store import SnapshotStore
    from ddml_engine.materials import material

    run, _ = tension_run
    log = mdl.read_stress_log(run.input.stress_log)
    assert log.strain[-1] == pytest.approx(0.0099, abs=3e-4) and np.all(np.diff(log.strain) > 0)
    assert log.stress[-1, 2] > 2.0e9  # tension positive
    assert abs(log.stress[-1, [0, 1, 3, 4, 5]]).max() < 0.4e9  # lateral and shear stresses held at zero
    assert np.all(np.abs(log.temperature[5:] - 300.0) < 25.0)
    model = make_force_model("line-tension", material("W"))
    with SnapshotStore(run.directory / "networks.h5") as store:
        assert np.allclose(store.times, np.arange(6) * 1e-12)
        frame = store.read(5)
        assert frame.extra["strain"] == pytest.approx(0.01) and frame.extra["step"] == 2500
        assert np.allclose(frame.stress, log.stress[log.at_step(2500)])
        assert np.allclose(frame.extra["forces"], model(frame.network, frame.stress))


@pytest.mark.slow
def test_bad_frames_are_reported_and_skipped(tension_run, tmp_path):
    from ddml_engine.md.extract import extract_trajectory

    run, _ = tension_run
    copy = tmp_path / "run"
    shutil.copytree(run.directory, copy)
    bad = copy / "dumps" / "dump.1000.lammpstrj.gz"
    with gzip.open(bad, "wt") as fh:
        fh.write("ITEM: TIMESTEP\n1000\nITEM: NUMBER OF ATOMS\n5\nthis is not a dump\n")
    report = extract_trajectory(copy, force_model=None)
    assert [f.step for f in report.skipped] == [1000]
    assert "DXA" in report.skipped[0].reason and "dump.1000" in report.summary()
    assert len(report.stored) == 5
    saved = json.loads((copy / "networks.h5.report.json").read_text())
    assert [f["status"] for f in saved["frames"]].count("skipped") == 1


def test_frank_violation_frame_is_skipped(monkeypatch, tmp_path):
    """A DXA network that breaks Frank's rule is never kept: the frame is skipped with the node named."""
    from ddml_engine.md import extract
    from ddml_engine.materials import material
    from ddml_engine.network import Cell

    s3 = 1 / np.sqrt(3.0)
    broken = DislocationNetwork(Cell.cubic(40.0), [[1, 1, 1], [6, 1, 1], [6, 6, 1]], [[0, 1], [1, 2], [2, 0]],
                                [[s3, s3, s3], [s3, s3, s3], [-s3, -s3, s3]])
    monkeypatch.setattr(extract, "dxa_network", lambda *a, **k: broken)
    net, rep = extract.process_dump(tmp_path / "dump.500.lammpstrj", material("W"))
    assert net is None and rep.status == "skipped" and rep.step == 500
    assert "Frank" in rep.reason and "node" in rep.reason


def write_dump(crystal, path, step=0):
    """LAMMPS text dump (id type x y z) of a synthetic crystal."""
    lo, hi = crystal.origin, crystal.origin + np.diag(crystal.cell)
    head = ["ITEM: TIMESTEP", str(step), "ITEM: NUMBER OF ATOMS", str(crystal.num_atoms), "ITEM: BOX BOUNDS pp pp pp"]
    head += [f"{float(lo[k])!r} {float(hi[k])!r}" for k in range(3)] + ["ITEM: ATOMS id type x y z"]
    body = [f"{k + 1} 1 {x!r} {y!r} {z!r}" for k, (x, y, z) in enumerate(crystal.positions.tolist())]
    Path(path).write_text("\n".join(head + body) + "\n")


@pytest.mark.ovito
def test_junction_frame_keeps_its_100_segment(tmp_path):
    """DXA of a crystal holding a [001] junction (two 1/2<111> loops sharing an edge): after conversion and
    remeshing the <100> segment is kept, with Frank's rule at its two junction nodes."""
    needs_ovito()
    from ddml_engine.materials import material
    from ddml_engine.md import synthetic
    from ddml_engine.md.extract import process_dump

    c = synthetic.bcc_crystal(3.1652, 16)
    c = synthetic.insert_loops(c, list(synthetic.junction_loops_100(c, edge_cells=6.0, width_cells=4.0)))
    path = tmp_path / "dump.0.lammpstrj"
    write_dump(c, path)
    net, rep = process_dump(path, material("W"))
    assert rep.status == "ok", rep.reason
    net.validate(check_frank=True)
    classes = net.segment_classes()
    junction = classes == JUNCTION_100
    assert junction.any()
    jlen = net.segment_lengths()[junction].sum() * material("W").burgers_m * 1e10
    assert 0.4 * 6 * 3.1652 < jlen < 1.1 * 6 * 3.1652  # DXA shortens the junction a little at its ends
    assert np.allclose(np.abs(net.burgers[junction]), [0, 0, 2 / np.sqrt(3)])  # [001] in units of b
    ends = np.unique(net.segments[junction])
    degree = net.node_degree()
    assert np.sum(degree[ends] == 3) == 2  # the junction's two physical end nodes
    assert rep.junction_100_length_b > 0 and rep.mean_segment_b > 2.0


@pytest.mark.slow
def test_reports_csv_and_png(tension_run, tmp_path):
    from ddml_engine.md.report import plot_comparison, write_reports

    run, _ = tension_run
    summary = write_reports(run.directory, tmp_path, label="tension")
    assert summary["frames"] == 6 and summary["peak_axial_stress_GPa"] > 2.0
    ss = np.genfromtxt(tmp_path / "tension_stress_strain.csv", delimiter=",", names=True)
    log = mdl.read_stress_log(run.input.stress_log)
    assert np.allclose(ss["sigma_zz_GPa"], log.stress[:, 2] / 1e9, rtol=1e-6)
    ds = np.genfromtxt(tmp_path / "tension_density.csv", delimiter=",", names=True)
    assert len(ds) == 6 and np.all(ds["density_m2"] > 1e15)
    for name in ("tension_stress_strain.png", "tension_density.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    shutil.copy(tmp_path / "tension_stress_strain.csv", tmp_path / "compression_stress_strain.csv")
    assert plot_comparison(tmp_path).exists()


@pytest.mark.slow
def test_ddd_config_follows_the_md_conditions_and_runs(tension_run, tmp_path):
    """`ddml md ddd-config`: DDD under the MD store's conditions (rate, strain, cell, remesh lengths, loops), from
    the MD's first frame or from its loop statistics, accepted by ddml simulate on a deforming cell."""
    from ddml_engine.cli import main
    from ddml_engine.dynamics.config import load_config
    from ddml_engine.dynamics.runner import run_simulation
    from ddml_engine.io.store import SnapshotStore
    from ddml_engine.md.conditions import ddd_config_like_md, read_conditions

    run, _ = tension_run
    store = run.directory / "networks.h5"
    c = read_conditions(store)
    assert c.strain_rate == pytest.approx(2e9, rel=1e-6) and c.final_strain == pytest.approx(0.01)
    assert c.frame_interval == pytest.approx(1e-12) and (c.maxseg, c.minseg) == (15.0, 5.0)
    assert c.loops == 1 and c.loop_radius == pytest.approx(9.0 / 2.743, rel=0.01)
    loops = ddd_config_like_md(store, start="loops", seed=5)
    assert loops["initial"]["count"] == 1 and loops["cell"]["size"] == pytest.approx(np.mean(c.cell_lengths))
    target = tmp_path / "like.toml"
    assert main(["md", "ddd-config", str(store), "-o", str(target), "--output-dir", str(tmp_path / "ddd"),
                 "--grid", "16"]) == 0
    config = load_config(target, ["run.max_steps=4", "run.progress=false", "run.threads=1"])
    # the store records the W preset, which has no cubic constants: an isotropic elastic response
    assert config["loading"]["cell"] == "deforming" and config["loading"]["elastic"] == "isotropic"
    assert config["material"]["name"] == "W"
    summary = run_simulation(config)
    assert summary["steps"] == 4 and summary["strain"] > 0
    with SnapshotStore(tmp_path / "ddd" / "trajectory.h5") as out, SnapshotStore(store) as md:
        assert np.allclose(out.read(0).network.positions, md.read(0).network.positions)
        assert np.allclose(out.read(0).network.cell.matrix, md.read(0).network.cell.matrix)
    with pytest.raises(SystemExit):  # never replaces a file
        main(["md", "ddd-config", str(store), "-o", str(target)])
