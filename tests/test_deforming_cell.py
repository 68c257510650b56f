"""MD-like loading: cubic elastic response and a cell that deforms under uniaxial stress (issue 12, deliverable 6)."""
import numpy as np
import pytest

from ddml_engine.dynamics.config import load_config, validate_config
from ddml_engine.dynamics.loading import DeformingCell, UniaxialStrainRate, symmetric_expm
from ddml_engine.dynamics.runner import run_simulation
from ddml_engine.elasticity import cubic_stiffness, youngs_modulus_along
from ddml_engine.forces.local import voigt_to_tensor
from ddml_engine.io.store import SnapshotStore
from ddml_engine.materials import material
from ddml_engine.network import Cell, DislocationNetwork

C11, C12, C44 = 480.7e9, 209.7e9, 163.3e9  # W-FS at 300 K (benchmarks/RESULTS.md)


def test_cubic_young_modulus_matches_the_closed_forms():
    s = material("W-FS").compliance("cubic")
    s11 = (C11 + C12) / ((C11 - C12) * (C11 + 2 * C12))
    s12 = -C12 / ((C11 - C12) * (C11 + 2 * C12))
    s44 = 1.0 / C44
    assert youngs_modulus_along(s, [0, 0, 1]) == pytest.approx(C11 - 2 * C12**2 / (C11 + C12), rel=1e-12)
    for e in ([1, 1, 0], [1, 1, 1], [1, 2, 3]):
        n = np.asarray(e, float) / np.linalg.norm(e)
        form = n[0]**2 * n[1]**2 + n[1]**2 * n[2]**2 + n[2]**2 * n[0]**2
        assert 1.0 / youngs_modulus_along(s, e) == pytest.approx(s11 - 2 * (s11 - s12 - s44 / 2) * form, rel=1e-12)
    iso = material("W-FS").compliance("isotropic")
    assert youngs_modulus_along(iso, [1, 2, 3]) == pytest.approx(material("W-FS").youngs_modulus, rel=1e-12)
    with pytest.raises(ValueError, match="no cubic elastic constants"):
        material("Ta").compliance("cubic")


def test_elastic_strain_of_uniaxial_stress_is_lateral_stress_free():
    """eps = S : sigma under sigma_zz alone: C : eps gives back the uniaxial stress, and the lateral strain is
    -nu[001] eps_zz with nu[001] = C12 / (C11 + C12) of a cubic crystal."""
    deformation = DeformingCell(material("W-FS").compliance("cubic"))
    sigma = np.array([0, 0, 3e9, 0, 0, 0.0])
    eps = deformation.total_strain(sigma, np.zeros((3, 3)))
    assert np.allclose(np.einsum("ijkl,kl->ij", cubic_stiffness(C11, C12, C44), eps), voigt_to_tensor(sigma),
                       atol=1e-3)
    assert eps[0, 0] == pytest.approx(-C12 / (C11 + C12) * eps[2, 2], rel=1e-12)
    assert eps[2, 2] == pytest.approx(3e9 / (C11 - 2 * C12**2 / (C11 + C12)), rel=1e-12)


def test_cell_follows_the_total_strain_and_carries_nodes_affinely():
    cell = Cell.cubic(40.0, centered=True)
    # one square glide loop in a (1-10) plane: segments lie in their plane
    normal = np.array([1.0, -1.0, 0.0]) / np.sqrt(2.0)
    t1, t2 = np.array([1.0, 1.0, 0.0]) / np.sqrt(2.0), np.array([0.0, 0.0, 1.0])
    corners = 8.0 * np.array([t1 + t2, -t1 + t2, -t1 - t2, t1 - t2])
    network = DislocationNetwork(cell, corners, np.array([[0, 1], [1, 2], [2, 3], [3, 0]]),
                                 np.tile(np.ones(3) / np.sqrt(3.0), (4, 1)),
                                 np.tile(normal, (4, 1)))
    deformation = DeformingCell(material("W-FS").compliance("cubic"))
    plastic = np.array([[0.0, 0.0, 0.01], [0.0, 0.0, 0.0], [0.01, 0.0, 0.0]])  # a plastic shear xz
    sigma = np.array([0, 0, 5e9, 0, 0, 0.0])
    moved = deformation.follow(network, sigma, plastic)
    strain = deformation.total_strain(sigma, plastic)
    assert np.allclose(moved.cell.matrix, symmetric_expm(strain) @ cell.matrix, rtol=1e-14)
    assert np.allclose(moved.cell.center, cell.center)
    assert np.allclose(moved.cell.to_fractional(moved.positions), cell.to_fractional(network.positions), atol=1e-14)
    vectors = moved.segment_vectors()
    assert np.allclose(np.einsum("ij,ij->i", vectors, moved.planes), 0.0, atol=1e-12)  # still in their planes
    assert np.allclose(np.linalg.norm(moved.planes, axis=1), 1.0)
    assert deformation.follow(moved, sigma * (1 + 1e-6), plastic) is moved  # below the tolerance: no update


def _mdlike(tmp_path, name, extra=()):
    settings = ["run.progress=false", "cell.size=48.5", "initial.count=4", "initial.radius=8.0", "initial.seed=3",
                "forces.grid=16", 'material.name="W-FS"', "loading.rate=2e9", 'loading.elastic="cubic"',
                'loading.cell="deforming"', "topology.maxseg=10.0", "run.output_interval=1e-12", "run.threads=1",
                *extra]
    config = load_config(None, settings)
    config["run"]["output_dir"] = str(tmp_path / name)
    return config


def test_deforming_run_stretches_the_cell_by_the_true_strain_and_conserves_burgers(tmp_path):
    config = _mdlike(tmp_path, "run", ["run.max_strain=0.008"])
    summary = run_simulation(config)
    compliance = material("W-FS").compliance("cubic")
    with SnapshotStore(tmp_path / "run" / "trajectory.h5") as store:
        first = store.read(0)
        assert len(store) >= 4
        for k in range(len(store)):
            frame = store.read(k)
            s, ep = frame.stress, frame.extra["plastic_strain_tensor"]
            # frames are written in the cell of their own total strain S : sigma + eps_p, a true strain ...
            total = np.einsum("ijkl,kl->ij", compliance, voigt_to_tensor(s)) + 0.5 * (ep + ep.T)
            assert np.allclose(frame.network.cell.matrix, symmetric_expm(total) @ first.network.cell.matrix,
                               rtol=1e-12, atol=1e-12)
            # ... whose axial part is the loading's strain (up to the second-order effect of plastic shears)
            stretch = np.diag(frame.network.cell.matrix) / np.diag(first.network.cell.matrix)
            assert np.log(stretch[2]) == pytest.approx(frame.extra["strain"], abs=1e-6)
            frame.network.validate()  # Frank's rule at every node
            youngs = C11 - 2 * C12**2 / (C11 + C12)
            assert s[2] == pytest.approx(youngs * (frame.extra["strain"] - ep[2, 2]), rel=1e-9, abs=1.0)
            assert np.allclose(s[[0, 1, 3, 4, 5]], 0.0)  # lateral and shear stresses free
    assert summary["strain"] >= 0.008


def test_deforming_run_restarts_exactly(tmp_path):
    run_simulation(_mdlike(tmp_path, "whole", ["run.max_steps=16"]))
    run_simulation(_mdlike(tmp_path, "part", ["run.max_steps=7"]))
    run_simulation(_mdlike(tmp_path, "part", ["run.max_steps=16"]), restart=str(tmp_path / "part" / "trajectory.h5"))
    whole, part = tmp_path / "whole" / "trajectory.h5", tmp_path / "part" / "trajectory.h5"
    with SnapshotStore(whole) as a, SnapshotStore(part) as b:
        assert len(b) >= 3 and len(a) == len(b)
        for k in range(len(b)):
            fa, fb = a.read(k), b.read(k)
            assert np.array_equal(fa.network.cell.matrix, fb.network.cell.matrix), k
            assert np.array_equal(fa.network.positions, fb.network.positions), k
            assert np.array_equal(fa.stress, fb.stress), k


def test_md_loading_settings_are_checked():
    for override, message in (('loading.cell="tilted"', "loading.cell"),
                              ('loading.elastic="voigt"', "loading.elastic"),
                              ("loading.cell_tolerance=-1", "loading.cell_tolerance")):
        with pytest.raises(ValueError, match=message):
            validate_config(load_config(None, [override]))
    with pytest.raises(ValueError, match="needs loading.type"):
        validate_config(load_config(None, ['loading.cell="deforming"', 'loading.type="stress"']))
    from ddml_engine.dynamics.config import config_material

    with pytest.raises(ValueError, match="cubic_constants_GPa"):
        config_material(load_config(None, ["material.cubic_constants_GPa=[500, 200]"]))
    with pytest.raises(ValueError, match="not a stable cubic crystal"):
        config_material(load_config(None, ["material.cubic_constants_GPa=[100, 200, 50]"]))
    mat, _ = config_material(load_config(None, ["material.cubic_constants_GPa=[500, 200, 150]"]))
    assert mat.cubic_constants == (500e9, 200e9, 150e9)
    assert UniaxialStrainRate.with_compliance(1e9, mat.compliance("cubic"), [0, 0, 1]).youngs_modulus == \
        pytest.approx(500e9 - 2 * 200e9**2 / 700e9)
