"""Mobility probe (paper Fig. 3); the `ddml demo` main job is tested in test_md_chain.py."""
import json

import numpy as np
import pytest

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
