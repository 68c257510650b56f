"""ParaView face: readers and the Nye filter run inside ParaView's own Python (pvpython/pvbatch subprocesses).

The plugins are loaded the way the GUI does at start-up (PV_PLUGIN_PATH), so these tests also check the
installed arrangement: ParaView's Python imports the venv's numpy/h5py/torch and ddml_engine, and the
getargspec shim lets ParaView 5.11 load Python plugins. Results come back as JSON and .npz files and are compared
with the engine's own readers and Nye field (ddml_engine.io.polydata, ddml_engine.nye.network_nye_field).
Skipped when ParaView is not installed (bash scripts/setup_paraview.sh installs it).
"""
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from ddml_engine.geometry import circular_loop
from ddml_engine.io import read_network
from ddml_engine.io.polydata import network_polydata
from ddml_engine.io.store import SnapshotStore
from ddml_engine.network import Cell
from ddml_engine.nye import grid_points, network_nye_field

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CU_FILE = "/work/shared/reference/cu_180chains_16.10e.data"
PLUGINS = os.path.join(REPO, "paraview_plugins", "plugins")
EXAMPLES = os.path.join(REPO, "example_sessions", "paraview")

if not (shutil.which("pvpython") and shutil.which("pvbatch")):
    pytest.skip("ParaView is not installed (pvpython/pvbatch missing): run `bash scripts/setup_paraview.sh` as root",
                allow_module_level=True)

TIMES = [0.0, 1.0e-12, 2.0e-12, 3.5e-12]
ORTHO = Cell(np.diag([40.0, 48.0, 56.0]), origin=[-5.0, 2.0, 1.0])
SHEARED = Cell(np.array([[40.0, 8.0, 0.0], [0.0, 48.0, 6.0], [0.0, 0.0, 56.0]]), origin=[1.0, -2.0, 0.5])
N_GRID, SIGMA = 10, 3.0


def loop_in(cell: Cell, shift: float = 0.0):
    """A glide loop near the x boundary (so some segments cross it), moved by `shift` b along x."""
    centre = cell.origin + cell.matrix @ np.array([0.9, 0.5, 0.5]) + [shift, 0.0, 0.0]
    net = circular_loop(centre, 9.0, [1.0, -1.0, 0.0], np.array([1.0, 1.0, 1.0]) / np.sqrt(3.0), 16, cell=cell)
    return net.wrapped()


def node_arrays(net, k):
    rng = np.random.default_rng(k)
    return {"forces": rng.normal(size=(net.num_nodes, 3)) * 1e9, "velocities": rng.normal(size=(net.num_nodes, 3)),
            "segment_energy": rng.random(net.num_segments)}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("pv")
    with SnapshotStore(d / "traj.h5", "w") as store:
        for k, t in enumerate(TIMES):
            net = loop_in(ORTHO, 3.0 * k)
            store.append(net, t, np.array([1e8, 0, 0, 0, 0, 2e8]), **node_arrays(net, k))
    with SnapshotStore(d / "sheared.h5", "w") as store:
        store.append(loop_in(SHEARED), 0.0)
    sys.path.insert(0, os.path.dirname(__file__))
    from test_io_ca import hand_made  # noqa: E402  (the small hand-made OVITO .ca network)

    (d / "net.ca").write_text(hand_made())
    (d / "bad.data").write_text("this is not a ParaDiS file\n")
    (d / "bad.ca").write_text(hand_made()[:300])
    import h5py

    with h5py.File(d / "foreign.h5", "w") as f:
        f["x"] = np.arange(3)
    return d


PV_SCRIPT = textwrap.dedent('''
    import json, sys
    import numpy as np
    from paraview import simple as pv
    from paraview import servermanager as sm
    from vtkmodules.util.numpy_support import vtk_to_numpy
    d, out = sys.argv[1], {}

    def arrays(data, prefix, save):
        for kind, fd in (("point", data.GetPointData()), ("cell", data.GetCellData()), ("field", data.GetFieldData())):
            for i in range(fd.GetNumberOfArrays()):
                save[f"{prefix}{kind}:{fd.GetArrayName(i)}"] = vtk_to_numpy(fd.GetArray(i))

    def grab(proxy, prefix, save, time=None):
        proxy.UpdatePipeline(time) if time is not None else proxy.UpdatePipeline()
        data = sm.Fetch(proxy)
        info = {"class": data.GetClassName(), "points": data.GetNumberOfPoints(), "cells": data.GetNumberOfCells()}
        if data.GetNumberOfPoints():
            if data.IsA("vtkImageData"):
                info["dims"], info["origin"], info["spacing"] = data.GetDimensions(), data.GetOrigin(), data.GetSpacing()
            else:
                save[prefix + "points"] = vtk_to_numpy(data.GetPoints().GetData())
            if data.IsA("vtkStructuredGrid"):
                info["dims"] = data.GetDimensions()
            if data.IsA("vtkPolyData"):
                save[prefix + "lines"] = vtk_to_numpy(data.GetLines().GetConnectivityArray()).reshape(-1, 2)
                info["lines"] = data.GetNumberOfLines()
            arrays(data, prefix, save)
        return info

    save = {}
    out["has_plugins"] = all(hasattr(pv, n) for n in ("ddmlNetworkReader", "ddmlTrajectoryReader", "ddmlNyeTensorField"))
    out["numpy"] = np.__file__
    out["cu"] = grab(pv.ddmlNetworkReader(FileName=sys.argv[2]), "cu/", save)
    out["ca"] = grab(pv.ddmlNetworkReader(FileName=d + "/net.ca", BurgersMagnitudeAngstrom=1.0), "ca/", save)
    traj = pv.ddmlTrajectoryReader(FileName=d + "/traj.h5")
    traj.UpdatePipelineInformation()
    out["timesteps"] = list(traj.TimestepValues)
    out["frame2"] = grab(traj, "f2/", save, time=2.0e-12)
    out["frame2b"] = grab(traj, "f2b/", save, time=2.7e-12)
    nye = pv.ddmlNyeTensorField(Input=traj, Resolution=%(n)d, Sigma=%(sigma)r)
    out["nye"] = grab(nye, "nye/", save, time=1.0e-12)
    sheared = pv.ddmlTrajectoryReader(FileName=d + "/sheared.h5")
    snye = pv.ddmlNyeTensorField(Input=sheared, Resolution=%(n)d, Sigma=%(sigma)r, Output=1, CloseCell=0)
    out["snye"] = grab(snye, "snye/", save)
    inye = pv.ddmlNyeTensorField(Input=sheared, Resolution=%(n)d, Sigma=%(sigma)r)
    out["sheared_as_image"] = grab(inye, "x/", {})
    out["bad"] = {}
    for name in ("bad.data", "bad.ca", "missing.data"):
        out["bad"][name] = grab(pv.ddmlNetworkReader(FileName=d + "/" + name), "x/", {})
    for name in ("foreign.h5", "missing.h5"):
        out["bad"][name] = grab(pv.ddmlTrajectoryReader(FileName=d + "/" + name), "x/", {})
    np.savez(d + "/pv_out.npz", **save)
    print("JSON:" + json.dumps(out))
''') % {"n": N_GRID, "sigma": SIGMA}


def run_paraview(args, timeout=120, env_extra=None, xvfb=False):
    """Run a ParaView command; with xvfb, under `xvfb-run -a` from a random display number (concurrent
    xvfb-run calls of other processes can race for the same display), retried once if the X connection failed."""
    import random

    env = dict(os.environ, **(env_extra or {}))
    for attempt in range(2):
        prefix = ["xvfb-run", "-a", "-n", str(random.randint(200, 30000))] if xvfb else []
        proc = subprocess.run(prefix + args, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)
        if not (xvfb and "bad X server connection" in proc.stderr):
            break
    return proc


@pytest.fixture(scope="module")
def pv_run(data):
    script = data / "pv_script.py"
    script.write_text(PV_SCRIPT)
    proc = run_paraview(["pvpython", str(script), str(data), CU_FILE], env_extra={"PV_PLUGIN_PATH": PLUGINS})
    if "cannot import name 'getargspec'" in proc.stderr:
        pytest.skip("ParaView cannot load Python plugins: the getargspec shim is not installed "
                    "(run `bash scripts/setup_paraview.sh` as root, docs/paraview.md)")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("JSON:")]
    assert proc.returncode == 0 and lines, f"pvpython failed (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    saved = dict(np.load(data / "pv_out.npz"))
    return json.loads(lines[-1][5:]), saved, proc.stderr


def check_network(info, saved, prefix, expected):
    assert info["class"] == "vtkPolyData"
    assert info["points"] == len(expected.points) and info["lines"] == len(expected.lines) == info["cells"]
    np.testing.assert_allclose(saved[prefix + "points"], expected.points, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(saved[prefix + "lines"], expected.lines)
    for name, values in expected.point_data.items():
        np.testing.assert_allclose(saved[f"{prefix}point:{name}"].reshape(values.shape), values, rtol=1e-15)
    for name, values in expected.cell_data.items():
        np.testing.assert_allclose(saved[f"{prefix}cell:{name}"].reshape(values.shape), values, rtol=1e-15)


def test_plugins_load_in_paraviews_python_with_venv_numpy(pv_run):
    out, _, _ = pv_run
    assert out["has_plugins"]
    assert os.path.realpath(out["numpy"]).startswith(os.path.realpath(os.path.join(REPO, ".venv")))


def test_paradis_reader_matches_engine_on_cu_file(pv_run):
    out, saved, _ = pv_run
    net = read_network(CU_FILE)
    assert (net.num_nodes, net.num_segments) == (5055, 5930)
    expected = network_polydata(net)
    check_network(out["cu"], saved, "cu/", expected)
    # every node appears once; extra points are unwrapped ends of boundary-crossing segments
    assert out["cu"]["lines"] == 5930
    assert out["cu"]["points"] == 5055 + int(expected.cell_data["crosses_boundary"].sum())
    assert saved["cu/point:node_index"][:5055].tolist() == list(range(5055))
    points = saved["cu/points"]
    lines = saved["cu/lines"]
    np.testing.assert_allclose(np.linalg.norm(points[lines[:, 1]] - points[lines[:, 0]], axis=1),
                               net.segment_lengths(), rtol=1e-12)  # no segment drawn across the box


def test_ca_reader_matches_engine(pv_run, data):
    out, saved, _ = pv_run
    net = read_network(data / "net.ca", burgers_magnitude_angstrom=1.0)
    check_network(out["ca"], saved, "ca/", network_polydata(net))
    junction = saved["ca/point:physical_node"][:net.num_nodes].astype(bool)
    assert junction.sum() == 4  # two 3-fold junction nodes and two pinned dangling ends
    assert np.all(saved["ca/point:degree"][:net.num_nodes][junction] != 2)


def test_trajectory_exposes_time_steps_and_frame_arrays(pv_run, data):
    out, saved, _ = pv_run
    assert out["timesteps"] == pytest.approx(TIMES, rel=1e-15)
    with SnapshotStore(data / "traj.h5") as store:
        frame = store.read(2)
    nodes = {k: v for k, v in frame.extra.items() if k != "segment_energy"}
    expected = network_polydata(frame.network, nodes, {"segment_energy": frame.extra["segment_energy"]})
    for key, prefix in (("frame2", "f2/"), ("frame2b", "f2b/")):  # t = 2e-12 and 2.7e-12 both give frame 2
        check_network(out[key], saved, prefix, expected)
        assert saved[prefix + "field:time"].item() == 2.0e-12
        np.testing.assert_allclose(saved[prefix + "field:stress"].ravel(), [1e8, 0, 0, 0, 0, 2e8])
    # the frames differ: frame 2 is the loop moved by 6 b from frame 0
    assert "velocities" in {k.split(":")[1] for k in saved if k.startswith("f2/point:")}


def test_nye_filter_matches_engine_field_on_image_grid(pv_run, data):
    out, saved, _ = pv_run
    with SnapshotStore(data / "traj.h5") as store:
        net = store.read(1).network  # the filter follows the time step (t = 1e-12)
    alpha = network_nye_field(net, N_GRID, SIGMA)
    info = out["nye"]
    assert info["class"] == "vtkImageData" and tuple(info["dims"]) == (N_GRID + 1,) * 3  # closed periodic cell
    np.testing.assert_allclose(info["origin"], ORTHO.origin)
    np.testing.assert_allclose(info["spacing"], np.diag(ORTHO.matrix) / N_GRID)
    grid = saved["nye/point:nye_tensor"].reshape(N_GRID + 1, N_GRID + 1, N_GRID + 1, 3, 3).transpose(2, 1, 0, 3, 4)
    scale = np.abs(alpha).max()
    assert scale > 0
    np.testing.assert_allclose(grid[:N_GRID, :N_GRID, :N_GRID], alpha, rtol=0, atol=1e-12 * scale)
    np.testing.assert_array_equal(grid[N_GRID], grid[0])  # closing plane = periodic image of the first
    norm = saved["nye/point:nye_norm"].reshape((N_GRID + 1,) * 3).transpose(2, 1, 0)[:N_GRID, :N_GRID, :N_GRID]
    np.testing.assert_allclose(norm, np.sqrt((alpha**2).sum(axis=(-2, -1))), rtol=0, atol=1e-12 * scale)
    # line density integrates to the total line length: sum over the grid * voxel volume = L (kernel normalised)
    rho = saved["nye/point:scalar_line_density"].reshape((N_GRID + 1,) * 3)[:N_GRID, :N_GRID, :N_GRID]
    assert rho.sum() * ORTHO.volume / N_GRID**3 == pytest.approx(net.total_length(), rel=1e-9)


def test_nye_filter_structured_grid_for_sheared_cell(pv_run, data):
    out, saved, stderr = pv_run
    with SnapshotStore(data / "sheared.h5") as store:
        net = store.read(0).network
    alpha = network_nye_field(net, N_GRID, SIGMA)
    info = out["snye"]
    assert info["class"] == "vtkStructuredGrid" and tuple(info["dims"]) == (N_GRID,) * 3
    points = saved["snye/points"].reshape(N_GRID, N_GRID, N_GRID, 3).transpose(2, 1, 0, 3)
    np.testing.assert_allclose(points, grid_points(SHEARED.matrix, SHEARED.origin, N_GRID), atol=1e-12)
    grid = saved["snye/point:nye_tensor"].reshape(N_GRID, N_GRID, N_GRID, 3, 3).transpose(2, 1, 0, 3, 4)
    np.testing.assert_allclose(grid, alpha, rtol=0, atol=1e-12 * np.abs(alpha).max())
    # asking for image data on a sheared cell is an error message, not a crash
    assert out["sheared_as_image"]["points"] == 0
    assert "not orthogonal" in stderr


def test_bad_files_give_error_messages_naming_the_file(pv_run, data):
    out, _, stderr = pv_run
    for name, info in out["bad"].items():
        assert info["points"] == 0, name
        assert str(data / name) in stderr, f"no error naming {name}:\n{stderr[-3000:]}"
    assert "bad.data:1:" in stderr  # the ParaDiS reader's message carries the line number


def png_pixels(path):
    import matplotlib.image

    img = matplotlib.image.imread(path)
    return img[..., :3]


def test_scripted_render_and_state_write_non_empty_pngs(data, tmp_path):
    traj = str(data / "traj.h5")
    proc = run_paraview(["pvbatch", os.path.join(EXAMPLES, "render_trajectory.py"), traj, str(tmp_path / "a"),
                         "--frames", "2", "--resolution", "12", "--sigma", "3", "--size", "320", "240",
                         "--save-state", str(tmp_path / "s.pvsm")], xvfb=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0 and lines, proc.stdout + proc.stderr
    result = json.loads(lines[-1])
    assert result["times"] == pytest.approx(TIMES[:2])
    assert {"forces", "velocities", "physical_node"} <= set(result["arrays"]["points"])
    assert {"nye_tensor", "nye_norm"} <= set(result["arrays"]["nye"])
    frames = [png_pixels(p) for p in result["frames"]]
    for img in frames:
        assert img.shape == (240, 320, 3)
        background = np.all(img > 0.99, axis=-1)
        assert 0.005 < 1 - background.mean() < 0.9  # something drawn, not a blank or a full-frame fill
        colourful = np.abs(img - img.mean(axis=-1, keepdims=True)).max(axis=-1) > 0.1
        assert colourful.sum() > 50  # coloured tubes / volume, not only the black outline
    assert np.abs(frames[0] - frames[1]).max() > 0  # the loop moved between the frames
    assert (tmp_path / "s.pvsm").stat().st_size > 0
    # the committed state (example_sessions/paraview/ddml_trajectory.pvsm) renders on this trajectory
    proc = run_paraview(["pvbatch", os.path.join(EXAMPLES, "render_state.py"), traj, str(tmp_path / "b"),
                         "--frames", "1", "--size", "320", "240"], xvfb=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0 and lines, proc.stdout + proc.stderr
    img = png_pixels(json.loads(lines[-1])["frames"][0])
    assert 0.005 < 1 - np.all(img > 0.99, axis=-1).mean() < 0.9


def test_venv_python_imports_paraview_simple_and_the_plugins(data):
    """Arrangement (b): the venv's interpreter imports paraview.simple through env.import_paraview_simple."""
    script = textwrap.dedent(f'''
        import json, sys
        sys.path.insert(0, {REPO!r})
        from paraview_plugins import env
        pv = env.import_paraview_simple()
        pv.LoadPlugin({os.path.join(PLUGINS, "ddml_readers.py")!r}, ns=vars(pv))
        r = pv.ddmlNetworkReader(FileName={str(data / "net.ca")!r}, BurgersMagnitudeAngstrom=1.0)
        r.UpdatePipeline()
        import numpy, scipy, h5py
        print("JSON:" + json.dumps({{"points": r.GetDataInformation().GetNumberOfPoints(),
                                    "lines": r.GetDataInformation().GetNumberOfCells(),
                                    "modules": [numpy.__file__, scipy.__file__, h5py.__file__]}}))
    ''')
    proc = run_paraview([sys.executable, "-c", script])
    lines = [line for line in proc.stdout.splitlines() if line.startswith("JSON:")]
    assert proc.returncode == 0 and lines, proc.stdout + proc.stderr
    out = json.loads(lines[-1][5:])
    expected = network_polydata(read_network(data / "net.ca", burgers_magnitude_angstrom=1.0))
    assert (out["points"], out["lines"]) == (len(expected.points), len(expected.lines))
    venv = os.path.realpath(os.path.join(REPO, ".venv"))
    assert all(os.path.realpath(path).startswith(venv) for path in out["modules"]), out["modules"]


DEFAULT_VIEW_SCRIPT = textwrap.dedent('''
    import json, os, sys
    sys.path.insert(0, sys.argv[1])
    from paraview_plugins import env
    env.prepare()
    from paraview import simple as pv
    for name in ("ddml_readers.py", "ddml_nye.py"):
        pv.LoadPlugin(os.path.join(sys.argv[1], "paraview_plugins", "plugins", name), ns=vars(pv))
    view = pv.CreateView("RenderView")
    view.ViewSize = [320, 240]
    view.Background = [1.0, 1.0, 1.0]
    try:
        view.UseColorPaletteForBackground = 0
    except AttributeError:
        pass
    reader = pv.ddmlTrajectoryReader(FileName=sys.argv[2])
    nye = pv.ddmlNyeTensorField(Input=reader, Resolution=12, Sigma=3.0)
    out = {}
    for key, proxy in (("network", reader), ("nye", nye)):
        rep = pv.Show(proxy, view)  # what a user gets from Apply, without touching the display
        colour = rep.GetProperty("ColorArrayName")
        out[key] = {"representation": rep.GetProperty("Representation").GetElement(0),
                    "colour": [{"0": "POINTS", "1": "CELLS"}.get(colour.GetElement(3), colour.GetElement(3)),
                               colour.GetElement(4)]}
    pv.Render(view)
    pv.SaveScreenshot(sys.argv[3], view, ImageResolution=[320, 240])
    print("JSON:" + json.dumps(out))
''')


def test_default_display_is_a_coloured_slice_and_a_coloured_network(data, tmp_path):
    """Apply without touching the display: the Nye field shows as a slice coloured by |alpha| (not a bare outline)
    and the network coloured by |forces| in Pa*b^2; the picture is not blank."""
    script = tmp_path / "default_view.py"
    script.write_text(DEFAULT_VIEW_SCRIPT)
    png = tmp_path / "default.png"
    proc = run_paraview(["pvbatch", str(script), REPO, str(data / "traj.h5"), str(png)], xvfb=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("JSON:")]
    assert proc.returncode == 0 and lines, proc.stdout + proc.stderr
    shown = json.loads(lines[-1][5:])
    assert shown["nye"]["representation"] == "Slice" and shown["nye"]["colour"] == ["POINTS", "nye_norm"]
    assert shown["network"]["colour"] == ["POINTS", "|forces| (Pa*b^2)"]
    img = png_pixels(png)
    assert img.std() > 0.05  # not blank
    colourful = np.abs(img - img.mean(axis=-1, keepdims=True)).max(axis=-1) > 0.1
    assert colourful.mean() > 0.05  # a coloured slice fills part of the view
