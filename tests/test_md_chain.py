"""The main job's MD chain (ddml_engine.md.chain) and its built-in MD data (issue 12, deliverables 1, 2, 8)."""
import json

import numpy as np
import pytest

from ddml_engine.io.store import SnapshotStore
from ddml_engine.md.builtin import MAX_BYTES, repack_store
from ddml_engine.md.chain import BUILTIN_DATA, data_files


def test_builtin_md_data_is_fit_for_learning():
    """Both MD runs ship as stores whose every frame holds a network of >= 50 nodes at the training discretisation,
    satisfying Frank's rule, with the MD stress, time and strain per frame, in a deforming cell; with their MD
    tables; under 25 MB in all."""
    files = data_files(BUILTIN_DATA)
    total = sum(p.stat().st_size for p in BUILTIN_DATA.iterdir() if p.is_file())
    assert total < MAX_BYTES
    for key, sign in (("T", 1.0), ("C", -1.0)):
        with SnapshotStore(files[key]["store"]) as store:
            assert len(store) >= 40
            assert store.material.cubic_constants is not None and store.metadata["maxseg"] > 0
            first, last = store.read(0), store.read(len(store) - 1)
            for k in range(len(store)):
                frame = store.read(k)
                assert frame.network.num_nodes >= 50, (key, k, frame.network.num_nodes)
                frame.network.validate()
                assert frame.stress is not None and np.all(np.isfinite(frame.stress))
            assert np.all(np.diff(store.times) > 0)
            assert sign * last.extra["strain"] > 0.05 and sign * last.stress[2] > 1e9  # loaded, the right sign
            stretch = last.network.cell.lengths[2] / first.network.cell.lengths[2]
            assert np.log(stretch) == pytest.approx(last.extra["strain"], abs=2e-3)  # the MD box deforms
        table = np.loadtxt(f"{files[key]['prefix']}_stress_strain.csv", delimiter=",", skiprows=1)
        assert len(table) > 100 and sign * table[-1, 1] > 0.05  # columns time_ps, true_strain, ...


def test_repacked_store_keeps_every_frame(tmp_path):
    files = data_files(BUILTIN_DATA)
    target = tmp_path / "t.h5"
    assert repack_store(files["T"]["store"], target) > 0
    with SnapshotStore(files["T"]["store"]) as a, SnapshotStore(target) as b:
        assert len(a) == len(b) and a.metadata == b.metadata and a.material == b.material
        for k in (0, len(a) - 1):
            fa, fb = a.read(k), b.read(k)
            assert np.array_equal(fa.network.positions, fb.network.positions)
            assert np.array_equal(fa.stress, fb.stress) and fa.time == fb.time
            assert set(fa.extra) == set(fb.extra)


@pytest.mark.slow
def test_demo_chain_smoke_on_the_builtin_data(tmp_path, capsys):
    """`ddml demo --quick`: train on the built-in MD T + C stores, probe, DDD+ML and linear DDD in T and C under the
    MD's conditions, compare, report: every output there, the runs loaded in the right sense, finite figures."""
    from ddml_engine.cli import main

    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--output-dir", str(out), "--no-progress", "--threads", "1"]) == 0
    for name in ("report.md", "training.png", "probe_characters.png", "compare/compare.png", "compare/compare.csv",
                 "summary.json", "training/model.pt"):
        assert (out / name).stat().st_size > 0, name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["training"]["train_pairs"] > 50
    curves = {(c["source"], c["loading"]): c for c in summary["comparison"]["curves"]}
    assert set(curves) == {(s, l) for s in ("MD", "DDD+ML", "DDD linear") for l in ("T", "C")}
    for (source, loading), c in curves.items():
        assert np.isfinite(c["flow_stress_gpa"]) and (c["flow_stress_gpa"] > 0) == (loading == "T"), (source, c)
    assert set(summary["unphysical"]) >= {"edge", "screw", "screw_twinning", "screw_antitwinning"}
    report = (out / "report.md").read_text()
    assert "DDD+ML and DDD (linear law) against MD" in report and "compare/compare.png" in report
    metrics = np.genfromtxt(out / "training" / "metrics.csv", delimiter=",", names=True)
    assert np.all(np.isfinite(metrics["train_loss"][metrics["epoch"] >= 1]))  # row 0: before training
    # the probe command reads the exported model and the material it records (the MD's W)
    assert main(["probe", str(out / "training" / "model.pt"), "--output-dir", str(tmp_path / "p")]) == 0
    shown = capsys.readouterr().out
    assert "Me =" in shown and "material: W-FS-MD (BCC" in shown and "recorded in" in shown


def test_ddd_config_keeps_the_store_material(tmp_path):
    """The DDD configuration names the preset of the store's material (its b), never silently another one."""
    from dataclasses import replace

    from ddml_engine.dynamics.config import config_material
    from ddml_engine.dynamics.configs import random_prismatic_loops
    from ddml_engine.materials import material
    from ddml_engine.md.conditions import ddd_config_like_md
    from ddml_engine.network import Cell

    network = random_prismatic_loops(Cell.cubic(60.0), 2, 10.0, 5.0, seed=1)
    for mat, expected in ((material("Ta"), "Ta"), (replace(material("W-FS"), name="W-FS-MD", mu=150e9), "W-FS"),
                          (replace(material("Ta"), name="odd", burgers_m=3.3e-10), None)):
        path = tmp_path / f"{mat.name}.h5"
        with SnapshotStore(path, "w", material=mat) as store:
            for k in range(3):
                store.append(network, k * 1e-12, np.zeros(6), strain=-2e-3 * k)
        if expected is None:
            with pytest.raises(ValueError, match="matches no preset"):
                ddd_config_like_md(path)
            continue
        config = ddd_config_like_md(path)
        built, _ = config_material(config)
        assert config["material"]["name"] == expected and built.burgers_m == material(expected).burgers_m
        assert built.mu == pytest.approx(mat.mu) and config["loading"]["rate"] == pytest.approx(-2e9)
        assert config["loading"]["elastic"] == ("cubic" if built.cubic_constants else "isotropic")
