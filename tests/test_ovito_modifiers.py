"""ddml's OVITO modifiers (DDD forces, GNN velocities, Nye grid, next-frame Nye check) on synthetic BCC W crystals
with a prismatic loop and a [001] junction: entry points, agreement with the engine called directly, caching of
display vs physics parameters, clear errors, session round trip and a rendered image with visible arrows.
The in-memory DXA converter (ddml_engine.io.dxa) is checked against the .ca file reader."""
import ctypes.util
import math

import numpy as np
import pytest

from ddml_engine.io.dxa import junction_records, network_from_dxa

W_A0 = 3.165  # Å
B_A = 2.743  # Å, material('W').burgers_m
NAMES = {"DDD forces (ddml)": "DDDForcesModifier", "GNN velocities (ddml)": "GNNVelocitiesModifier",
         "Nye tensor grid (ddml)": "NyeGridModifier", "Next-frame Nye check (ddml)": "NextFrameCheckModifier"}


# ----------------------------------------------------------------------------- engine side (no OVITO)
def test_junction_records_and_errors():
    # line 0 closed on itself (2-node), line 1 dangling at both ends
    rec = junction_records(np.array([1, 0, 2, 3]))
    assert rec.tolist() == [[[0, 0], [1, 0]], [[1, 1], [0, 1]]]
    with pytest.raises(ValueError, match="successor of 2 ends"):
        junction_records(np.array([1, 1, 2, 3]))
    with pytest.raises(ValueError, match="end 3 of line 1 points to end 7"):
        junction_records(np.array([1, 0, 2, 7]))


def test_network_from_dxa_square_loop_across_boundary():
    """A square 1/2[111]-type loop written unwrapped across x = L: one closed polygon inside the cell."""
    L = 20.0
    pts = np.array([[18, 5, 5], [24, 5, 5], [24, 11, 5], [18, 11, 5], [18, 5, 5.0]])
    b_true = np.array([[0.5, 0.5, 0.5]])
    net = network_from_dxa([pts], b_true * W_A0, np.array([1, 0]), np.eye(3) * L, true_burgers=b_true,
                           burgers_magnitude_angstrom=1.0)
    net.validate()
    assert net.total_length() == pytest.approx(24.0)
    assert np.all((net.positions >= 0) & (net.positions < L))
    assert np.allclose(net.burgers, -1 / np.sqrt(3))  # snapped, units of b, ParaDiS sign (DXA b negated)
    # b inferred from the lattice: |spatial| / |true| * sqrt(3)/2 = a0 sqrt(3)/2
    inferred = network_from_dxa([pts], b_true * W_A0, np.array([1, 0]), np.eye(3) * L, true_burgers=b_true)
    assert inferred.total_length() == pytest.approx(24.0 / (W_A0 * np.sqrt(3) / 2))
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    rotated = (np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ b_true[0]) * W_A0
    with pytest.raises(ValueError, match="degrees away"):
        network_from_dxa([pts], rotated[None], np.array([1, 0]), np.eye(3) * L, true_burgers=b_true)


# ----------------------------------------------------------------------------- OVITO fixtures
def write_dump(crystal, path, step):
    lo, hi = crystal.origin, crystal.origin + np.diag(crystal.cell)
    out = ["ITEM: TIMESTEP", str(step), "ITEM: NUMBER OF ATOMS", str(crystal.num_atoms), "ITEM: BOX BOUNDS pp pp pp"]
    out += [f"{float(lo[k])!r} {float(hi[k])!r}" for k in range(3)]
    out += ["ITEM: ATOMS id type x y z"]
    out += [f"{i + 1} 1 {x!r} {y!r} {z!r}" for i, (x, y, z) in enumerate(crystal.positions.tolist())]
    path.write_text("\n".join(out) + "\n")


@pytest.fixture(scope="module")
def traj(tmp_path_factory):
    """Two frames of a 14^3-cell W crystal: a [001] junction in the middle and a prismatic 1/2[111] loop across the
    periodic corner that glides 2b along [111] between the frames; plus a tiny untrained GNN model file."""
    pytest.importorskip("ovito")
    import torch

    from ddml_engine.md import synthetic
    from ddml_engine.ml.export import export_model
    from ddml_engine.ml.model import GNNMobilityModel

    folder = tmp_path_factory.mktemp("ovito_traj")
    crystal = synthetic.bcc_crystal(W_A0, 14)
    junction = list(synthetic.junction_loops_100(crystal, 5.0, 3.0))
    loop = synthetic.prismatic_loop_111(crystal, 2.5)
    b = W_A0 * np.sqrt(3) / 2
    for k in range(2):
        moved = synthetic.PolygonLoop(loop.vertices + 0.5 * crystal.lengths + 2 * k * b * np.ones(3) / np.sqrt(3),
                                      loop.burgers)
        atoms = synthetic.insert_loops(crystal, [synthetic.make_vacancy_type(moved), *junction])
        write_dump(atoms, folder / f"frame.{k}.dump", 1000 * k)
    torch.manual_seed(0)
    export_model(GNNMobilityModel(latent=8, layers=1), folder / "tiny.pt", {"material": "W"})
    (folder / "bad.pt").write_bytes(b"not a model")
    return folder


@pytest.fixture
def scene():
    ovito = pytest.importorskip("ovito")
    from ovito_modifiers._common import memo_clear

    ovito.scene.pipelines.clear()
    memo_clear()  # start each test without engine results memoised by an earlier one
    yield ovito.scene
    ovito.scene.pipelines.clear()


def dxa_pipeline(traj, *modifiers, pattern="frame.*.dump"):
    from ovito.io import import_file
    from ovito.modifiers import DislocationAnalysisModifier

    pipeline = import_file(str(traj / pattern))
    pipeline.modifiers.append(DislocationAnalysisModifier(
        input_crystal_structure=DislocationAnalysisModifier.Lattice.BCC))
    for m in modifiers:
        pipeline.modifiers.append(m)
    return pipeline


def engine_network(traj, frame, tmp_path, remesh_length=0.0):
    """Reference path: the frame's DXA exported to .ca and read by ddml_engine.io.ca (file reader)."""
    from ovito.io import export_file

    from ddml_engine.dynamics.topology import remesh
    from ddml_engine.io.ca import read_ca
    from ddml_engine.materials import material

    path = tmp_path / f"frame{frame}.ca"
    export_file(dxa_pipeline(traj), str(path), "ca", frame=frame)
    net = read_ca(path, material=material("W"))
    return remesh(net, remesh_length, 0.4 * remesh_length) if remesh_length else net


def match_rows(a, b, tol=1e-6):
    """Permutation p with a[p] == b (rows of node positions), asserting it exists."""
    d = np.linalg.norm(a[None, :, :] - b[:, None, :], axis=2)
    p = np.argmin(d, axis=1)
    assert d[np.arange(len(b)), p].max() < tol and len(set(p.tolist())) == len(b)
    return p


# ----------------------------------------------------------------------------- tests with OVITO
@pytest.mark.ovito
def test_entry_points_discoverable():
    pytest.importorskip("ovito")
    from importlib.metadata import entry_points

    from ovito.pipeline import ModifierInterface

    found = {e.name: e for e in entry_points(group="OVITO.Modifier") if e.value.startswith("ovito_modifiers")}
    assert set(found) == set(NAMES)
    for name, cls in NAMES.items():
        loaded = found[name].load()
        assert loaded.__name__ == cls and issubclass(loaded, ModifierInterface)


@pytest.mark.ovito
def test_in_memory_dxa_equals_ca_reader(traj, scene, tmp_path):
    from ddml_engine.materials import material
    from ovito_modifiers._common import dxa_network

    data = dxa_pipeline(traj).compute(0)
    net = dxa_network(data, material("W"), "test")
    ref = engine_network(traj, 0, tmp_path)
    net.validate()
    assert net.num_nodes == ref.num_nodes and np.array_equal(net.segments, ref.segments)
    assert np.allclose(net.positions, ref.positions, atol=1e-9) and np.allclose(net.burgers, ref.burgers)
    physical = net.physical_nodes()
    assert physical.sum() == 2 and np.all(net.node_degree()[physical] == 3)  # the [001] junction's two nodes


@pytest.mark.ovito
def test_forces_modifier_matches_engine(traj, scene, tmp_path):
    from ddml_engine.forces.model import make_force_model
    from ddml_engine.materials import material
    from ovito_modifiers import DDDForcesModifier

    mod = DDDForcesModifier(stress_xz=1.5, stress_yy=-0.5)
    data = dxa_pipeline(traj, mod).compute(0)
    net = engine_network(traj, 0, tmp_path, remesh_length=10.0)
    stress = np.array([0, -0.5, 0, 0, 1.5, 0]) * 1e9
    forces = make_force_model("elastic", material("W"))(net, stress)  # Pa*b^2, as in the CLI
    vec = data.vectors["ddml-forces"]
    p = match_rows(np.asarray(vec.positions), net.cell.wrap(net.positions) * B_A)
    assert np.allclose(np.asarray(vec["Direction"])[p], forces, rtol=1e-9, atol=1e-9 * np.abs(forces).max())
    assert data.attributes["DDD.max_force_Pa_b2"] == pytest.approx(np.linalg.norm(forces, axis=1).max(), rel=1e-9)
    assert data.attributes["DDD.line_length_A"] == pytest.approx(net.total_length() * B_A, rel=1e-9)
    assert data.attributes["DDD.density_per_m2"] == pytest.approx(net.total_length() / net.cell.volume / 2.743e-10**2)
    assert data.attributes["DDD.stress_source"] == "parameter (GPa)"
    lines = data.lines["ddml-network"]
    assert lines.count == 2 * net.num_segments
    # one 2-vertex section per segment (same node numbering as the reference, see the test above): vertex forces
    # are the forces of the segment's end nodes, vertices its end points
    ends = net.segments.reshape(-1)
    assert np.allclose(np.asarray(lines["Force"]), forces[ends], atol=1e-9 * np.abs(forces).max())
    assert np.allclose(np.asarray(lines["Burgers Vector"]), np.repeat(net.burgers, 2, axis=0))
    assert np.allclose(net.cell.wrap(np.asarray(lines.positions) / B_A), net.cell.wrap(net.positions[ends]))
    angle = np.asarray(lines["Character Angle"])
    assert angle.min() >= 0 and angle.max() <= 90
    assert lines.vis.color_mapping_property == "|Force|"


@pytest.mark.ovito
def test_stress_from_frame_attributes(traj, scene, tmp_path):
    from ddml_engine.forces.model import make_force_model
    from ddml_engine.materials import material
    from ovito_modifiers import DDDForcesModifier

    def put_stress(frame, data):
        data.attributes["Stress.xz"] = 2.0
        for c in ("xx", "yy", "zz", "yz", "xy"):
            data.attributes[f"Stress.{c}"] = 0.0

    mod = DDDForcesModifier(stress_xz=-7.0, force_model="line-tension")
    pipeline = dxa_pipeline(traj)
    pipeline.modifiers.append(put_stress)
    pipeline.modifiers.append(mod)
    data = pipeline.compute(0)
    net = engine_network(traj, 0, tmp_path, remesh_length=10.0)
    model = make_force_model("line-tension", material("W"))
    expected = np.linalg.norm(model(net, np.array([0, 0, 0, 0, 2e9, 0])), axis=1).max()
    assert data.attributes["DDD.stress_source"].startswith("attributes")
    assert data.attributes["DDD.stress_xz_GPa"] == 2.0
    assert data.attributes["DDD.max_force_Pa_b2"] == pytest.approx(expected, rel=1e-9)
    mod.stress_from_attributes = False
    data = pipeline.compute(0)
    assert data.attributes["DDD.stress_xz_GPa"] == -7.0 and data.attributes["DDD.stress_source"] == "parameter (GPa)"


@pytest.mark.ovito
def test_display_parameters_do_not_recompute(traj, scene, monkeypatch):
    import ovito_modifiers._base as base
    import ovito_modifiers.nye_grid as nye_mod
    from ovito_modifiers import DDDForcesModifier, NyeGridModifier

    calls = {"forces": 0, "nye": 0}

    def counted(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(base, "ddd_forces", counted("forces", base.ddd_forces))
    monkeypatch.setattr(nye_mod, "nye_grid", counted("nye", nye_mod.nye_grid))
    forces, nye = DDDForcesModifier(force_model="line-tension"), NyeGridModifier(resolution=8)
    pipeline = dxa_pipeline(traj, forces, nye)
    first = pipeline.compute(0)
    assert calls == {"forces": 1, "nye": 1}
    direction = np.asarray(first.vectors["ddml-forces"]["Direction"]).copy()
    forces.arrow_scale, forces.color_by, forces.line_width = 7.0, "Character Angle", 3.0
    nye.transparency, nye.color_by = 0.8, "Nye Tensor.XY"
    data = pipeline.compute(0)
    # display-only: redrawn from the cache; the Nye grid downstream of the forces modifier sees new input data (its
    # OVITO data cache is cleared) but the same DXA network, so it is not recomputed either
    assert calls == {"forces": 1, "nye": 1}
    assert data.vectors["ddml-forces"].vis.scaling == pytest.approx(7.0e-9)  # 7 Å per GPa*b^2, arrows in Pa*b^2
    assert data.lines["ddml-network"].vis.color_mapping_property == "Character Angle"
    assert data.grids["ddml-nye"].vis.transparency == pytest.approx(0.8)
    assert np.array_equal(np.asarray(data.vectors["ddml-forces"]["Direction"]), direction)
    forces.stress_xy = 3.0  # physics: recompute
    nye.resolution = 10
    data = pipeline.compute(0)
    assert calls == {"forces": 2, "nye": 2}
    assert not np.allclose(np.asarray(data.vectors["ddml-forces"]["Direction"]), direction)
    assert data.grids["ddml-nye"].shape == (10, 10, 10)
    pipeline.compute(1)  # another frame is computed (and cached) on its own
    assert calls == {"forces": 3, "nye": 3}
    pipeline.compute(0)
    assert calls == {"forces": 3, "nye": 3}


@pytest.mark.ovito
def test_gnn_velocities_match_engine(traj, scene, tmp_path):
    from ddml_engine.forces.model import make_force_model
    from ddml_engine.materials import material
    from ddml_engine.mobility.gnn import GNNMobility
    from ovito_modifiers import GNNVelocitiesModifier

    mod = GNNVelocitiesModifier(model_path=str(traj / "tiny.pt"), force_model="line-tension", stress_xz=1.0,
                                show_predicted=True, dt_ps=5.0)
    data = dxa_pipeline(traj, mod).compute(0)
    net = engine_network(traj, 0, tmp_path, remesh_length=10.0)
    forces = make_force_model("line-tension", material("W"))(net, np.array([0, 0, 0, 0, 1e9, 0]))
    v = GNNMobility(traj / "tiny.pt").velocities(net, forces)  # b/s
    vec = data.vectors["ddml-velocities"]
    p = match_rows(np.asarray(vec.positions), net.cell.wrap(net.positions) * B_A)
    v_ms = v * 2.743e-10
    assert np.allclose(np.asarray(vec["Direction"])[p], v_ms, rtol=1e-6, atol=1e-6 * np.abs(v_ms).max())
    assert np.allclose(np.asarray(vec["Speed"])[p], np.linalg.norm(v_ms, axis=1), rtol=1e-6)
    assert data.attributes["GNN.max_speed_m_s"] == pytest.approx(np.linalg.norm(v_ms, axis=1).max(), rel=1e-6)
    # the predicted network is the DXA network moved by V dt (same segments, end points shifted)
    predicted = np.asarray(data.lines["ddml-predicted"].positions).reshape(-1, 2, 3)
    start = net.positions[net.segments[:, 0]]
    assert len(predicted) == net.num_segments
    assert np.allclose(predicted[:, 0], (start + v[net.segments[:, 0]] * 5e-12) * B_A, atol=1e-9)
    assert not np.allclose(predicted[:, 0], start * B_A, atol=1e-3)
    mod.dt_ps = 0.0  # display-only: the predicted network falls back onto the DXA one
    again = np.asarray(dxa_pipeline(traj, mod).compute(0).lines["ddml-predicted"].positions).reshape(-1, 2, 3)
    assert np.allclose(again[:, 0], start * B_A, atol=1e-9)


@pytest.mark.ovito
@pytest.mark.parametrize("case", ["missing dxa", "bad model", "no model", "not bcc material"])
def test_clear_errors(traj, scene, case):
    from ovito.io import import_file

    from ovito_modifiers import DDDForcesModifier, GNNVelocitiesModifier

    if case == "missing dxa":
        pipeline = import_file(str(traj / "frame.0.dump"))
        pipeline.modifiers.append(DDDForcesModifier())
        match = "Dislocation analysis \\(DXA\\)"
    elif case == "bad model":
        pipeline = dxa_pipeline(traj, GNNVelocitiesModifier(model_path=str(traj / "bad.pt")))
        match = "not a valid ddml GNN model file"
    elif case == "no model":
        pipeline = dxa_pipeline(traj, GNNVelocitiesModifier())
        match = "no model file given"
    else:
        from ovito_modifiers._common import bcc_material
        with pytest.raises(RuntimeError, match="FCC"):
            bcc_material("Cu", "x")
        return
    with pytest.raises(Exception, match=match):
        pipeline.compute(0)


@pytest.mark.ovito
def test_fcc_crystal_is_refused(tmp_path, scene):
    from ovito.io import import_file
    from ovito.modifiers import DislocationAnalysisModifier

    from ddml_engine.md.synthetic import AtomicCrystal
    from ovito_modifiers import DDDForcesModifier

    a, n = 3.6, 6
    grid = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 1, 3)
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    fcc = AtomicCrystal(((grid + basis) * a).reshape(-1, 3), np.eye(3) * n * a, np.zeros(3), a)
    write_dump(fcc, tmp_path / "fcc.dump", 0)
    pipeline = import_file(str(tmp_path / "fcc.dump"))
    pipeline.modifiers.append(DislocationAnalysisModifier(
        input_crystal_structure=DislocationAnalysisModifier.Lattice.FCC))
    pipeline.modifiers.append(DDDForcesModifier())
    with pytest.raises(Exception, match="not BCC"):
        pipeline.compute(0)


@pytest.mark.ovito
def test_nye_grid_matches_engine_and_real_space(traj, scene, tmp_path):
    from ddml_engine.nye import grid_points, network_nye_field, nye_field_direct
    from ovito_modifiers import NyeGridModifier

    n = 12
    data = dxa_pipeline(traj, NyeGridModifier(resolution=n)).compute(0)
    net = engine_network(traj, 0, tmp_path)
    sigma = 2.0 * net.cell.volume ** (1 / 3) / n
    assert data.attributes["Nye.sigma_A"] == pytest.approx(sigma * B_A)
    grid = data.grids["ddml-nye"]
    assert grid.shape == (n, n, n) and grid.grid_type.name == "PointData"
    alpha = grid.view("Nye Tensor").reshape(n, n, n, 3, 3)
    assert np.allclose(alpha, network_nye_field(net, n, sigma) / B_A, atol=1e-12)
    norm = grid.view("Nye Norm")
    assert np.allclose(norm, np.sqrt((alpha**2).sum(axis=(3, 4))))
    # OVITO's voxel (i, j, k) sits at origin + H (i, j, k) / n: compare with the real-space Gaussian sum there
    idx = np.argwhere(norm > 0.5 * norm.max())[:6]
    points = grid_points(net.cell.matrix, net.cell.origin, n)[tuple(idx.T)]
    r1, r2 = net.segment_endpoints()
    direct = nye_field_direct(points, r1, r2, net.burgers, net.cell.matrix, sigma, net.cell.origin) / B_A
    assert np.allclose(alpha[tuple(idx.T)], direct, atol=1e-3 * np.abs(direct).max())


@pytest.mark.ovito
def test_next_frame_check(traj, scene, tmp_path):
    from ddml_engine.forces.model import make_force_model
    from ddml_engine.materials import material
    from ddml_engine.mobility.bcc import BCCLinearMobility
    from ddml_engine.nye import network_nye_field
    from ovito_modifiers import NextFrameCheckModifier

    n = 12
    mod = NextFrameCheckModifier(mobility="linear-bcc", force_model="line-tension", resolution=n, dt_ps=0.5)
    pipeline = dxa_pipeline(traj, mod)
    data = pipeline.compute(0)
    net = engine_network(traj, 0, tmp_path, remesh_length=10.0)
    following = engine_network(traj, 1, tmp_path)
    forces = make_force_model("line-tension", material("W"))(net, np.zeros(6))
    v = BCCLinearMobility(burgers_m=2.743e-10).velocities(net, forces)
    sigma = 2.0 * net.cell.volume ** (1 / 3) / n
    pred = network_nye_field(net.with_positions(net.positions + v * 0.5e-12), n, sigma)
    target = network_nye_field(following, n, sigma)
    diff = pred - target
    assert data.attributes["NextFrame.dt_ps"] == 0.5
    assert data.attributes["NextFrame.mismatch_per_A2"] == pytest.approx((diff**2).sum(axis=(3, 4)).mean() / B_A**2,
                                                                  rel=1e-7)
    assert data.attributes["NextFrame.relative"] == pytest.approx((diff**2).sum() / (target**2).sum(), rel=1e-7)
    grid = data.grids["ddml-nye-mismatch"]
    got = grid.view("Nye Mismatch").reshape(n, n, n, 3, 3)
    # the reference network comes from the .ca text file (positions rounded): agreement to ~1e-8 relative
    assert np.allclose(got, diff / B_A, rtol=1e-6, atol=1e-7 * np.abs(diff / B_A).max())
    # the loop glided between the frames, so standing still is not a perfect prediction
    assert data.attributes["NextFrame.baseline_relative"] > 0.05
    mod.dt_ps = 0.0  # no motion: the prediction is the baseline
    data = pipeline.compute(0)
    assert data.attributes["NextFrame.relative"] == pytest.approx(data.attributes["NextFrame.baseline_relative"])
    last = pipeline.compute(1)
    assert math.isnan(last.attributes["NextFrame.mismatch_per_A2"]) and "ddml-nye-mismatch" not in last.grids


@pytest.mark.ovito
def test_session_round_trip(traj, scene, tmp_path):
    import ovito

    from ovito_modifiers import DDDForcesModifier, GNNVelocitiesModifier, NextFrameCheckModifier, NyeGridModifier

    mods = [DDDForcesModifier(stress_xz=1.25, force_model="line-tension", arrow_scale=3.5, remesh_length=12.0),
            GNNVelocitiesModifier(model_path=str(traj / "tiny.pt"), show_predicted=True, dt_ps=2.5),
            NyeGridModifier(resolution=8, sigma=4.0), NextFrameCheckModifier(mobility="linear-bcc", resolution=8)]
    pipeline = dxa_pipeline(traj, *mods)
    pipeline.add_to_scene()
    before = pipeline.compute(0).attributes
    ovito.scene.save(str(tmp_path / "session.ovito"))
    ovito.scene.pipelines.clear()
    ovito.scene.load(str(tmp_path / "session.ovito"))
    (loaded,) = ovito.scene.pipelines
    got = {type(m.delegate).__name__: m.delegate for m in loaded.modifiers if hasattr(m, "delegate")}
    assert got["DDDForcesModifier"].stress_xz == 1.25 and got["DDDForcesModifier"].arrow_scale == 3.5
    assert got["DDDForcesModifier"].force_model == "line-tension" and got["DDDForcesModifier"].remesh_length == 12.0
    assert got["GNNVelocitiesModifier"].dt_ps == 2.5 and got["GNNVelocitiesModifier"].show_predicted
    assert got["NyeGridModifier"].resolution == 8 and got["NyeGridModifier"].sigma == 4.0
    assert got["NextFrameCheckModifier"].mobility == "linear-bcc"
    after = loaded.compute(0).attributes
    for key in ("DDD.max_force_Pa_b2", "GNN.max_speed_m_s", "Nye.max_norm_per_A", "NextFrame.relative"):
        assert after[key] == pytest.approx(before[key], rel=1e-9)


@pytest.mark.ovito
def test_render_shows_arrows(traj, scene, tmp_path):
    if not ctypes.util.find_library("vulkan"):
        pytest.skip("no Vulkan loader (run: bash scripts/setup_ovito.sh)")
    from ovito.vis import OpenGLRenderer, Viewport

    from ovito_modifiers import DDDForcesModifier

    mod = DDDForcesModifier(force_model="line-tension", stress_xz=1.0, arrow_scale=0.15, arrow_width=1.0)
    pipeline = dxa_pipeline(traj, mod, pattern="frame.0.dump")
    pipeline.modifiers[0].disloc_vis.enabled = False
    pipeline.modifiers[0].defect_vis.enabled = False
    pipeline.add_to_scene()
    data = pipeline.compute()
    data.particles.vis.enabled = False
    data.cell.vis.enabled = False
    vp = Viewport(type=Viewport.Type.Perspective, camera_dir=(-1.0, -0.6, -0.5))
    vp.zoom_all()

    def render(name):
        path = tmp_path / name
        vp.render_image(size=(320, 240), filename=str(path), background=(1.0, 1.0, 1.0), renderer=OpenGLRenderer())
        from matplotlib.image import imread

        return imread(str(path))[..., :3]

    with_arrows = render("arrows.png")
    mod.show_arrows = False
    without = render("no_arrows.png")
    drawn = np.any(with_arrows < 0.95, axis=2).sum()
    assert drawn > 500  # non-empty: the network and arrows cover many pixels
    changed = np.any(np.abs(with_arrows - without) > 0.1, axis=2).sum()
    assert changed > 100  # the arrows are visible


@pytest.mark.ovito
def test_example_sessions_and_batch(scene, tmp_path):
    """The shipped sessions open (also after moving their folder) and the batch script writes its outputs."""
    import csv
    import importlib.util
    import shutil
    from pathlib import Path

    import ovito

    from ddml_engine.io.paradis import read_paradis

    folder = Path(__file__).resolve().parent.parent / "example_sessions" / "ovito"
    moved = tmp_path / "moved"
    shutil.copytree(folder, moved, ignore=shutil.ignore_patterns("__pycache__"))
    for name, key in (("ddml_forces.ovito", "DDD.max_force_Pa_b2"), ("ddml_gnn_check.ovito", "NextFrame.relative")):
        ovito.scene.pipelines.clear()
        ovito.scene.load(str(moved / name))
        (pipeline,) = ovito.scene.pipelines
        assert str(moved) in pipeline.source.source_path
        data = pipeline.compute(0)
        assert np.isfinite(data.attributes[key])
    spec = importlib.util.spec_from_file_location("ddml_ovito_batch", folder / "batch.py")
    batch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(batch)
    out = tmp_path / "out"
    assert batch.main([str(moved / "data" / "frame.*.dump.gz"), "--out", str(out), "--no-render", "--nye", "8",
                       "--model", str(moved / "data" / "tiny_untrained.pt"), "--force-model", "line-tension"]) == 0
    with open(out / "attributes.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["frame"]) for r in rows] == [0, 1, 2]
    assert float(rows[0]["NextFrame.dt_ps"]) == 1.0 and rows[2]["NextFrame.relative"] == "nan"
    net = read_paradis(out / "frame_001.data")
    assert net.num_nodes == int(rows[1]["DDD.num_nodes"]) and (out / "frame_001.vtp").stat().st_size > 0


@pytest.mark.ovito
def test_example_sessions_show_the_lines_with_legends_and_a_label(scene, tmp_path):
    """Seen from the session's own perspective camera: atoms hidden, Nye grid translucent, colour legends whose
    titles carry units and a frame / time label; the rendered picture shows coloured lines and arrows."""
    if not ctypes.util.find_library("vulkan"):
        pytest.skip("no Vulkan loader (run: bash scripts/setup_ovito.sh)")
    from pathlib import Path

    import ovito
    from matplotlib.image import imread
    from ovito.vis import ColorLegendOverlay, OpenGLRenderer, TextLabelOverlay, Viewport

    folder = Path(__file__).resolve().parent.parent / "example_sessions" / "ovito"
    for name, units in (("ddml_forces.ovito", "|F| (Pa·b²)"), ("ddml_gnn_check.ovito", "speed (m/s)")):
        ovito.scene.pipelines.clear()
        ovito.scene.load(str(folder / name))
        (pipeline,) = ovito.scene.pipelines
        data = pipeline.compute(0)
        assert not data.particles.vis.enabled
        (vp,) = [v for v in ovito.scene.viewports.viewports if v.type == Viewport.Type.Perspective]
        legends = [o for o in vp.overlays if isinstance(o, ColorLegendOverlay)]
        labels = [o for o in vp.overlays if isinstance(o, TextLabelOverlay)]
        assert units in [o.title for o in legends] and len(labels) == 1 and "[SourceFrame]" in labels[0].text
        path = tmp_path / f"{name}.png"
        vp.render_image(size=(320, 240), filename=str(path), background=(1.0, 1.0, 1.0), renderer=OpenGLRenderer())
        img = imread(str(path))[..., :3]
        colourful = (img.max(axis=2) - img.min(axis=2)) > 0.4
        assert colourful.mean() > 0.01  # coloured lines, arrows and legend bars, not hidden behind atoms
        middle = colourful[40:200, 60:260]
        assert middle.sum() > 50  # the network itself, inside the cell, is drawn


@pytest.mark.ovito
@pytest.mark.slow
def test_odd_parameters_give_a_named_error_or_finite_output(traj, scene):
    """Hypothesis over the numeric parameters of the three DXA modifiers (NaN, infinities, signs, zero, huge):
    a pipeline either computes with finite outputs or stops with a DDMLModifierError naming the parameter; traits
    may also refuse a value when it is set (TraitError). Never another exception."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from traits.api import TraitError

    from ovito_modifiers import DDDForcesModifier, NyeGridModifier
    from ovito_modifiers._common import DDMLModifierError

    odd = st.sampled_from([float("nan"), float("inf"), -float("inf"), -1.0, 0.0, 1e-300, 3.0, 1e12])
    cases = st.sampled_from([(DDDForcesModifier, "cutoff"), (DDDForcesModifier, "remesh_length"),
                             (DDDForcesModifier, "stress_zz"), (DDDForcesModifier, "arrow_width"),
                             (DDDForcesModifier, "fft_grid"), (NyeGridModifier, "sigma")])

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=cases, value=odd)
    def check(case, value):
        cls, name = case
        modifier = cls(force_model="line-tension") if cls is DDDForcesModifier else cls(resolution=8)
        try:
            setattr(modifier, name, int(value) if name == "fft_grid" and np.isfinite(value) else value)
        except TraitError:
            return
        pipeline = dxa_pipeline(traj, modifier)
        try:
            data = pipeline.compute(0)
        except Exception as error:  # OVITO re-raises the modifier's error as RuntimeError with its message
            assert isinstance(error, (DDMLModifierError, RuntimeError)), error
            assert name in str(error), str(error)
            return
        for key, value_ in data.attributes.items():
            if key.startswith(("DDD.", "Nye.")) and isinstance(value_, float):
                assert np.isfinite(value_), (key, value_)

    check()
