"""Mobility probe (paper Fig. 3) and the `ddml demo` main job (quick mode)."""
import json

import numpy as np
import pytest

from ddml_engine.cli import main
from ddml_engine.forces.local import voigt_to_tensor
from ddml_engine.ml.probe import PROBE_BURGERS, PROBE_PLANE, probe, shear_on_rotated_plane, write_probe
from ddml_engine.mobility.bcc import BCCLinearMobility


def test_probe_recovers_a_linear_law_exactly():
    result = probe(BCCLinearMobility(Me=1234.0, Ms=56.0), truth={"Me": 1234.0, "Ms": 56.0})
    assert result.Me == pytest.approx(1234.0, rel=1e-6)
    assert result.Ms == pytest.approx(56.0, rel=1e-6)
    assert all(abs(e) < 1e-4 for e in result.errors_percent().values())


@pytest.mark.parametrize("chi", [-30.0, 0.0, 30.0, 45.0])
def test_mrssp_stress_resolves_tau_cos_chi_on_the_glide_plane(chi):
    sigma = voigt_to_tensor(shear_on_rotated_plane(1e8, PROBE_BURGERS, PROBE_PLANE, chi))
    resolved = PROBE_PLANE @ sigma @ PROBE_BURGERS / np.linalg.norm(PROBE_BURGERS)
    assert resolved == pytest.approx(1e8 * np.cos(np.radians(chi)), rel=1e-12)


def test_twinning_and_antitwinning_screws_are_symmetric_for_the_linear_law(tmp_path):
    result = probe(BCCLinearMobility(), truth={"Me": 2600.0, "Ms": 20.0})
    twin, anti = np.array(result.screw_twinning_velocity), np.array(result.screw_antitwinning_velocity)
    assert np.allclose(twin, anti, rtol=1e-9)
    assert np.allclose(twin, np.cos(np.radians(30.0)) * np.array(result.screw_velocity), rtol=1e-9)
    files = write_probe(result, tmp_path, burgers_m=2.743e-10)
    assert files["png"].stat().st_size > 10_000
    assert json.loads(files["json"].read_text())["Me"] == pytest.approx(2600.0)


def test_quick_demo_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--output-dir", str(out), "--no-progress"]) == 0
    for name in ("report.md", "probe.png", "probe.json", "training.png", "summary.json", "training/model.pt"):
        assert (out / name).stat().st_size > 0
    summary = json.loads((out / "summary.json").read_text())
    assert np.isfinite(summary["Me"]) and np.isfinite(summary["Ms"])
    metrics = (out / "training" / "metrics.csv").read_text().splitlines()
    header = metrics[0].split(",")
    column = header.index("train_loss")
    losses = [float(line.split(",")[column]) for line in metrics[1:] if line.split(",")[column] not in ("", "nan")]
    assert losses[-1] < losses[0]
    # The probe command reads the exported model file.
    assert main(["probe", str(out / "training" / "model.pt"), "--output-dir", str(tmp_path / "p"),
                 "--true-me", "2600", "--true-ms", "20"]) == 0
    assert "Me =" in capsys.readouterr().out


@pytest.mark.parametrize("kind, fractions, displacement", [("screw", (0, 1, 0, 0), 0.05), ("edge", (0, 0, 1, 0), 1.5)])
def test_demo_ground_truth_moves_by_the_law_with_the_set_displacement(tmp_path, kind, fractions, displacement):
    """Ground-truth frames follow explicit Euler steps of the linear law: frame-to-frame displacements equal
    V dt, the fastest node moving by the kind's displacement (1.5 b edges, 0.05 b screws)."""
    from ddml_engine.demo import TRUTH, DemoSettings, ground_truth_trajectory
    from ddml_engine.forces.model import LineTensionModel
    from ddml_engine.io.store import SnapshotStore
    from ddml_engine.materials import material

    law = BCCLinearMobility(Me=TRUTH["Me"], Ms=TRUTH["Ms"])
    path = tmp_path / "t.h5"
    got = ground_truth_trajectory(path, np.random.default_rng(3), material("W"), law, DemoSettings(fractions=fractions))
    assert got == kind
    with SnapshotStore(path) as store:
        frames = [store[i] for i in range(len(store))]
    assert len(frames) == 3
    dt = frames[1].time - frames[0].time
    for a, b in zip(frames[:-1], frames[1:]):
        v = law.velocities(a.network, LineTensionModel(material("W"))(a.network, a.stress))
        np.testing.assert_allclose(b.network.positions - a.network.positions, v * dt, atol=1e-9)
    moved = np.linalg.norm(frames[1].network.positions - frames[0].network.positions, axis=1)
    assert moved.max() == pytest.approx(displacement, rel=1e-9)
