"""Training of the GNN mobility by Nye-field matching (Eq. 5): dataset, loss, trainer, resume, data parallel.

Tiny trajectories are made here: three 1/2<111> prismatic loops in a 100 b periodic box, line-tension forces
under a shear stress, nodes moved by a known isotropic linear law V = M F (explicit Euler sub-steps, no
topology changes, so consecutive frames are isomorphic and the true displacement of every node is known).
"""
from __future__ import annotations

import copy
import os

import numpy as np
import pytest
import torch

from ddml_engine.dynamics.configs import random_prismatic_loops
from ddml_engine.forces.model import make_force_model
from ddml_engine.io.store import SnapshotStore
from ddml_engine.materials import material
from ddml_engine.ml import dataset as ds
from ddml_engine.ml.train_config import load_train_config
from ddml_engine.ml.trainer import pair_losses, prepare_data, train
from ddml_engine.network import Cell

W = material("W")
DT = 1e-12  # s between snapshots
MOBILITY = 100.0  # 1/(Pa s): displacements of ~1 b per snapshot interval for these line-tension forces


def make_trajectory(path, seed: int, frames: int = 6, times=None) -> None:
    """Frames of three shrinking/gliding prismatic loops moved by V = M F (4 Euler sub-steps per interval)."""
    rng = np.random.default_rng(seed)
    net = random_prismatic_loops(Cell.cubic(100.0), 3, (12.0, 20.0), 6.0, seed=seed)
    stress = np.zeros(6)
    stress[3:] = rng.uniform(-3e8, 3e8, 3)
    force = make_force_model("line-tension", W)
    times = np.arange(frames) * DT if times is None else np.asarray(times)
    with SnapshotStore(path, "w", material=W) as store:
        for f, t in enumerate(times):
            store.append(net, t, stress)
            if f + 1 < len(times):
                h = (times[f + 1] - t) / 4
                for _ in range(4):
                    net = net.with_positions(net.cell.wrap(net.positions + MOBILITY * force(net, stress) * h))


@pytest.fixture(scope="module")
def trajectories(tmp_path_factory):
    folder = tmp_path_factory.mktemp("traj")
    paths = [str(folder / f"t{s}.h5") for s in (1, 2, 3)]
    for s, p in zip((1, 2, 3), paths):
        make_trajectory(p, s)
    return paths


def true_velocities(data, indices) -> torch.Tensor:
    """The known node velocities (N, 3) of the dataset pairs `indices`, concatenated: displacement / dt."""
    v = []
    for index in indices:
        t, i, j = data.pairs[index]
        with SnapshotStore(data.trajectories[t]) as store:
            a, b = store[i].network, store[j].network
        v.append(a.cell.minimum_image(b.positions - a.positions) / data.dt(index))
    return torch.as_tensor(np.concatenate(v))


def base_config(trajectories, out, cache, **train_kw) -> dict:
    train_section = {"epochs": 2, "batch_size": 2, "lr": 3e-3, "threads": 1, "scheduler": "cosine"}
    train_section.update(train_kw)
    return {"data": {"trajectories": trajectories[:2], "validation": trajectories[2:], "cache_dir": str(cache), "k": 1},
            "forces": {"model": "line-tension"}, "nye": {"grid": 16, "sigma": 2.0},
            "model": {"latent": 16, "layers": 2, "velocity_scale": 1e12},
            "train": train_section, "output": {"dir": str(out), "progress": False}}


# --------------------------------------------------------------------------------------------- dataset
def test_pairs_skip_gaps_and_restarts():
    cells = np.repeat(np.eye(3)[None] * 100, 7, axis=0)
    times = np.array([0, 1, 2, 5, 6, 6, 7.0])  # a gap after frame 2, a duplicated frame (restart) at 6
    pairs, skipped = ds.snapshot_pairs(times, cells, 1)
    assert pairs.tolist() == [[0, 1], [1, 2], [3, 4], [5, 6]] and skipped == 2
    pairs, _ = ds.snapshot_pairs(times, cells, 2)
    assert pairs.tolist() == [[0, 2]]
    cells[4] *= 1.01  # 1 % is mapped exactly (test_pure_affine_...); 10 % is beyond the default 5 % tolerance
    assert ds.snapshot_pairs(times, cells, 1)[0].tolist() == [[0, 1], [1, 2], [3, 4], [5, 6]]
    cells[4] *= 1.1
    pairs, reasons = ds.snapshot_pairs_with_reasons(times, cells, 1)
    assert pairs.tolist() == [[0, 1], [1, 2], [5, 6]]
    assert reasons == {ds.SKIP_INTERVAL: 2, ds.SKIP_CELL: 1}  # (2, 3) and (4, 5) span bad intervals


def test_split_is_by_whole_trajectory():
    paths = [f"/data/run{i}.h5" for i in range(7)]
    train_p, val_p = ds.split_trajectories(paths, val_fraction=0.3, seed=4)
    assert len(val_p) == 2 and sorted(train_p + val_p) == sorted(paths) and not set(train_p) & set(val_p)
    assert ds.split_trajectories(paths, val_fraction=0.3, seed=4) == (train_p, val_p)  # reproducible
    with pytest.raises(ValueError, match="both in training and validation"):
        ds.split_trajectories(paths, validation=paths[:1])


def test_cache_reused_and_invalidated(trajectories, tmp_path):
    cfg = load_train_config(base_config(trajectories, tmp_path / "out", tmp_path / "cache"))
    before = ds.FORCE_EVALUATIONS
    info = prepare_data(cfg)
    assert ds.FORCE_EVALUATIONS - before == 18  # 3 trajectories x 6 frames, forces computed once per frame
    info2 = prepare_data(cfg)
    assert ds.FORCE_EVALUATIONS - before == 18 and info2.train_caches == info.train_caches
    # the split is by trajectory: every training pair comes from a training file, none from the validation one
    train_set = ds.NyeDataset(info.train_caches, k=1)
    val_set = ds.NyeDataset(info.val_caches, k=1)
    assert {t for t, _, _ in train_set.pairs} == {0, 1} and len(train_set) == 10 and len(val_set) == 5
    assert len(ds.NyeDataset(info.train_caches, k=2)) == 8  # another k reuses the per-frame cache
    assert ds.FORCE_EVALUATIONS - before == 18
    # another grid is another key; a modified trajectory is rebuilt
    prepare_data(load_train_config(base_config(trajectories, tmp_path / "out", tmp_path / "cache"), ["nye.grid=8"]))
    assert ds.FORCE_EVALUATIONS - before == 36
    st = os.stat(trajectories[0])
    os.utime(trajectories[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    info3 = prepare_data(cfg)
    assert ds.FORCE_EVALUATIONS - before == 42 and info3.train_caches[0] != info.train_caches[0]


def test_sample_contents(trajectories, tmp_path):
    """Cached forces are F^DDD(frame stress); the target is the Nye spectrum of frame t+k, band-limited to the
    low modes of the 16^3 grid (n_s = 8 for sigma = 2 spacings); losses match the full 16^3 sums; collate."""
    cfg = load_train_config(base_config(trajectories, tmp_path / "out", tmp_path / "cache"), ["data.k=2"])
    info = prepare_data(cfg)
    data = ds.NyeDataset(info.train_caches, k=2)
    s = data[3]
    t, i, j = s.key
    assert j - i == 2 and s.dt == pytest.approx(2 * DT)
    with SnapshotStore(trajectories[t]) as store:
        fi, fj = store[i], store[j]
    force = make_force_model("line-tension", W)(fi.network, fi.stress)
    np.testing.assert_allclose(s.graph.node_features[:, 1:4].numpy(), force / 1e9, rtol=1e-12)
    r1, r2 = fj.network.segment_endpoints()
    sigma = 2.0 * 100.0 / 16
    assert s.modes == 8 and s.grid == 16 and s.target.shape == (8, 8, 5, 3, 3)
    full = ds.nye_spectrum(r1, r2, fj.network.burgers, fj.network.cell.matrix, fj.network.cell.origin, 16, sigma)
    low = np.r_[0:4, 12:16]  # modes -3..3 of the 16 grid (the n_s = 8 Nyquist mode is zeroed)
    ref = full[low][:, low][:, :, :5] * (8 / 16) ** 3
    ref[4], ref[:, 4], ref[:, :, 4] = 0, 0, 0
    np.testing.assert_allclose(s.target.numpy(), ref, atol=1e-6 * np.abs(ref).max())
    r1i, r2i = fi.network.segment_endpoints()
    full_i = ds.nye_spectrum(r1i, r2i, fi.network.burgers, fi.network.cell.matrix, fi.network.cell.origin, 16, sigma)
    # dropped modes weigh <= 1e-4 each (mode_tolerance): a few 1e-4 of the sums at most
    assert s.static_loss == pytest.approx(ds.spectrum_sumsq(full_i, full), rel=1e-3)
    assert s.target_sumsq == pytest.approx(ds.spectrum_sumsq(full), rel=1e-3)
    b = ds.collate_samples([data[0], data[3]])
    n0 = data[0].graph.num_nodes
    assert torch.equal(b.segments[len(data[0].x1):], s.segments + n0)
    assert b.graph.num_graphs == 2 and b.target.shape == (2, 8, 8, 5, 3, 3)


# --------------------------------------------------------------------------------------------- loss (Eq. 5)
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-20), (torch.float32, 1e-8)])
def test_loss_vanishes_for_true_velocities(trajectories, tmp_path, dtype, tol):
    """Moving every node by its true displacement reproduces alpha(G^(t+dt)): L / L(V=0) ~ round-off; half of it
    leaves ~ a quarter of the static loss (the field change is nearly linear for ~1 b moves and sigma = 12.5 b)."""
    prec = "float64" if dtype == torch.float64 else "float32"
    cfg = load_train_config(base_config(trajectories, tmp_path / "out", tmp_path / "cache"), [f"train.dtype='{prec}'"])
    data = ds.NyeDataset(prepare_data(cfg).train_caches, k=1)
    idx = [0, 4, 7]
    batch = data.batch(idx).to(None, dtype)
    v = true_velocities(data, idx).to(dtype)
    static = batch.static_loss
    assert torch.all(static > 0)
    exact = pair_losses(batch, v).double()
    assert torch.all(exact / static < tol), (exact / static).tolist()
    zero = pair_losses(batch, torch.zeros_like(v)).double()
    torch.testing.assert_close(zero, static, rtol=1e-4 if dtype == torch.float32 else 1e-10, atol=0)
    half = pair_losses(batch, 0.5 * v).double() / static
    assert torch.all((half > 0.2) & (half < 0.3)), half.tolist()


def test_rotated_pairs_keep_the_loss_identities(trajectories, tmp_path):
    """Cubic augmentation rotates inputs and targets consistently: forces are P F, the zero-velocity loss is the
    stored static loss, and the rotated true displacements still reproduce the target (L / L(0) ~ round-off)."""
    from ddml_engine.ml.symmetry import CUBE_ROTATIONS

    cfg = load_train_config(base_config(trajectories, tmp_path / "out", tmp_path / "cache"), ["train.dtype='float64'"])
    data = ds.NyeDataset(prepare_data(cfg).train_caches, k=1)
    plain = [data[i] for i in range(len(data))]
    data.set_rotations(seed=5, epoch=2)
    assert len(set(data.rotations.tolist())) > 5
    idx = [i for i in range(len(data)) if data.rotations[i]][:3]
    batch = data.batch(idx).to(None, torch.float64)
    v, v_plain, rotated_forces = [], [], []
    for index in idx:
        p = CUBE_ROTATIONS[data.rotations[index]]
        t, i, j = data.pairs[index]
        with SnapshotStore(data.trajectories[t]) as store:
            a, b = store[i].network, store[j].network
        v_plain.append(a.cell.minimum_image(b.positions - a.positions) / data.dt(index))
        v.append(v_plain[-1] @ p.T)
        rotated_forces.append(plain[index].graph.node_features[:, 1:4].numpy() @ p.T)
    np.testing.assert_allclose(batch.graph.node_features[:, 1:4].numpy(), np.concatenate(rotated_forces), rtol=1e-12)
    v = torch.as_tensor(np.concatenate(v))
    zero = pair_losses(batch, torch.zeros_like(v))
    torch.testing.assert_close(zero, batch.static_loss, rtol=1e-10, atol=0)
    assert torch.all(pair_losses(batch, v) / batch.static_loss < 1e-20)
    unrotated = pair_losses(batch, torch.as_tensor(np.concatenate(v_plain)))
    assert torch.all(unrotated / batch.static_loss > 1e-3)  # the un-rotated displacements do not fit
    data.set_rotations(None)
    assert torch.equal(data[idx[0]].target, plain[idx[0]].target)


# --------------------------------------------------------------------------------------------- training
def test_training_reduces_loss_and_exports(trajectories, tmp_path):
    from ddml_engine.ml.export import load_model

    cfg = base_config(trajectories, tmp_path / "out", tmp_path / "cache", epochs=10, lr=1e-2)
    result = train(cfg)
    initial = result.history[0]["val_loss"]
    assert result.final_val_loss < 0.5 * initial, [h["val_loss"] for h in result.history]
    assert result.epochs_completed == 10 and result.steps == 50 and result.train_pairs == 10
    assert result.val_static_loss == pytest.approx(result.history[0]["val_static_loss"])
    rows = (tmp_path / "out" / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,step,train_loss,val_loss") and len(rows) == 12
    assert rows[0].endswith(",torch_threads") and all(int(r.rsplit(",", 1)[1]) >= 1 for r in rows[2:])
    module, meta = load_model(result.model_path)
    assert meta["material"] == "W" and meta["training"]["nye_grid"] == 16
    assert meta["training"]["dt_s"] == pytest.approx(DT) and meta["training"]["train_trajectories"] == trajectories[:2]
    assert meta["training"]["best_loss"] == pytest.approx(result.best_loss)
    assert (tmp_path / "out" / "best.pt").is_file()


def test_resume_is_exact(trajectories, tmp_path):
    straight = base_config(trajectories, tmp_path / "a", tmp_path / "cache", dtype="float64")
    train(straight)
    interrupted = base_config(trajectories, tmp_path / "b", tmp_path / "cache", dtype="float64")
    first = train(interrupted, until_epoch=1)
    assert first.model_path is None and first.epochs_completed == 1
    resumed = copy.deepcopy(interrupted)
    resumed["output"]["resume"] = True
    result = train(resumed)
    assert result.epochs_completed == 2 and result.model_path is not None
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=False)
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    for name, value in a["model"].items():
        assert torch.equal(value, b["model"][name]), name
    assert a["history"][-1]["val_loss"] == b["history"][-1]["val_loss"]
    assert a["optimizer"]["state"][0]["exp_avg"].equal(b["optimizer"]["state"][0]["exp_avg"])


def test_two_process_data_parallel_matches_single(trajectories, tmp_path):
    one = base_config(trajectories, tmp_path / "one", tmp_path / "cache", dtype="float64", batch_size=3,
                      deterministic=True)
    two = copy.deepcopy(one)
    two["output"]["dir"] = str(tmp_path / "two")
    r1 = train(one)
    r2 = train(two, world_size=2)
    assert r2.steps == r1.steps == 8
    a = torch.load(tmp_path / "one" / "last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "two" / "last.pt", weights_only=False)["model"]
    for name, value in a.items():
        torch.testing.assert_close(b[name], value, rtol=1e-6, atol=1e-9 * value.abs().max().item())
    assert r2.final_val_loss == pytest.approx(r1.final_val_loss, rel=1e-6)
    assert r2.final_train_loss == pytest.approx(r1.final_train_loss, rel=1e-6)


def test_config_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown configuration key 'train.lrr'"):
        load_train_config({"train": {"lrr": 1}})
    with pytest.raises(ValueError, match="train.dtype"):
        load_train_config(None, ["train.dtype='half'"])
    path = tmp_path / "c.toml"
    path.write_text('[data]\ntrajectories = ["x.h5"]\n[train]\nepochs = 3\n')
    cfg = load_train_config(path)
    assert cfg["data"]["trajectories"] == [str(tmp_path / "x.h5")] and cfg["train"]["epochs"] == 3
    with pytest.raises(FileNotFoundError, match="x.h5"):
        train(path)


def test_train_on_one_trajectory_reports_a_training_loss(trajectories, tmp_path, capsys):
    """No validation set: the command says so and labels the score as a training loss (no nan baselines)."""
    import json

    from ddml_engine.cli import main

    cfg = base_config(trajectories, tmp_path / "one", tmp_path / "cache", epochs=1)
    cfg["data"].update(trajectories=trajectories[:1], validation=[])
    toml = "\n".join(f"[{section}]\n" + "\n".join(f"{k} = {json.dumps(v)}" for k, v in values.items())
                     for section, values in cfg.items())
    (tmp_path / "one.toml").write_text(toml)
    assert main(["train", str(tmp_path / "one.toml")]) == 0
    out = capsys.readouterr().out
    assert "best training loss" in out and "no validation set" in out
    assert "validation loss" not in out and "nan" not in out


# --------------------------------------------------------------------------------------------- deforming cells
def make_deforming_trajectory(path, strain_per_frame: float, frames: int = 4, move: bool = True) -> None:
    """Frames on a cell stretched along z (laterally contracted, nu = 0.3) by `strain_per_frame`: each frame's
    network is the previous one carried by the homogeneous deformation, plus (`move`) a glide step V = M F dt."""
    net = random_prismatic_loops(Cell.cubic(100.0), 3, (12.0, 20.0), 6.0, seed=5)
    stress = np.array([0, 0, 3e8, 0, 2e8, 0])
    force = make_force_model("line-tension", W)
    with SnapshotStore(path, "w", material=W) as store:
        for f in range(frames):
            store.append(net, f * DT, stress)
            e = (f + 1) * strain_per_frame
            cell = Cell(np.diag([100.0 * (1 - 0.3 * e), 100.0 * (1 - 0.3 * e), 100.0 * (1 + e)]), np.zeros(3))
            mapped = ds.affine_map(net.positions, net.cell.matrix, net.cell.origin, cell.matrix, cell.origin)
            step = MOBILITY * force(net, stress) * DT if move else 0.0
            net = type(net)(cell, cell.wrap(mapped + step), net.segments, net.burgers, net.planes,
                            net.constraints, net.tags)


def deforming_dataset(tmp_path, name, strain, move, **data):
    path = str(tmp_path / f"{name}.h5")
    make_deforming_trajectory(path, strain, move=move)
    cfg = base_config([path], tmp_path / name, tmp_path / "cache")
    cfg["data"].update(validation=[], **data)
    cfg = load_train_config(cfg, ["train.dtype='float64'"])
    return ds.NyeDataset(prepare_data(cfg).train_caches, k=1, trajectories=[path]), cfg


def test_pure_affine_deformation_costs_nothing_at_rest(tmp_path):
    """0.4 % strain per frame, nothing moves but the cell: every pair is kept (the old 1e-3 tolerance dropped
    them all) and the V = 0 loss vanishes because G^t is carried onto the later cell. Comparing the two frames'
    spectra on their own grids instead (grid points follow the cell) leaves ~ strain^2 of the target (1.6e-5
    here): small, but of the order of a slow screw's whole signal, and 1e15 above round-off."""
    data, _ = deforming_dataset(tmp_path, "affine", 0.004, move=False)
    assert len(data) == 3 and data.skipped == 0
    batch = data.batch(range(len(data)))
    zero = pair_losses(batch, torch.zeros(batch.graph.node_features.shape[0], 3, dtype=torch.float64))
    assert torch.all(zero / batch.target_sumsq < 1e-20) and np.all(data.static_losses / data.target_sumsqs < 1e-20)
    unmapped = [ds.spectrum_sumsq(data._read_alpha(0, i), data._read_alpha(0, j)) * data.grid_factor
                for _, i, j in data.pairs]
    assert np.all(np.array(unmapped) / data.target_sumsqs > 0.5 * 0.004**2)


def test_true_motion_on_a_deforming_cell_gives_zero_loss(tmp_path):
    """Glide plus deformation: the known displacements (later positions minus the mapped earlier ones) fit the
    target to round-off; V = 0 leaves the glide's share."""
    data, _ = deforming_dataset(tmp_path, "glide", 0.004, move=True)
    idx = list(range(len(data)))
    batch = data.batch(idx)
    v = []
    for index in idx:
        _, i, j = data.pairs[index]
        with SnapshotStore(data.trajectories[0]) as store:
            a, b = store[i].network, store[j].network
        mapped = ds.affine_map(a.positions, a.cell.matrix, a.cell.origin, b.cell.matrix, b.cell.origin)
        v.append(b.cell.minimum_image(b.positions - mapped) / data.dt(index))
    v = torch.as_tensor(np.concatenate(v))
    static = batch.static_loss
    assert torch.all(static > 0)
    assert torch.all(pair_losses(batch, v).double() / static < 1e-20)
    torch.testing.assert_close(pair_losses(batch, torch.zeros_like(v)).double(), static, rtol=1e-10, atol=0)


def test_large_cell_changes_are_skipped_with_their_reason(tmp_path):
    data, cfg = deforming_dataset(tmp_path, "big", 0.1, move=False)
    assert len(data) == 0 and data.skip_reasons == {ds.SKIP_CELL: 3}
    with pytest.raises(ValueError, match=r"no usable snapshot pairs .*3 pairs skipped: the cell changes by more "
                                         r"than data\.cell_tolerance"):
        train(cfg)


class _Payload:
    """Pickles as a call of os.system: what a planted checkpoint would run if loaded with full pickle."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_planted_checkpoint_runs_no_code(trajectories, tmp_path):
    marker = tmp_path / "code_ran"
    out = tmp_path / "planted"
    out.mkdir()
    torch.save({"model": _Payload(marker)}, out / "last.pt")
    cfg = base_config(trajectories, out, tmp_path / "cache")
    cfg["output"]["resume"] = True
    with pytest.raises(ValueError, match="not a ddml checkpoint that loads safely"):
        train(cfg)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["trajectory.h5", "../model.pt", "/tmp/model.pt", "last.pt", ""])
def test_model_name_stays_a_model_file_inside_the_output_folder(trajectories, tmp_path, name):
    cfg = base_config(trajectories, tmp_path / "out", tmp_path / "cache")
    cfg["output"]["model_name"] = name
    with pytest.raises(ValueError, match="output.model_name"):
        load_train_config(cfg)


def test_kill_9_during_training_then_resume_is_exact(trajectories, tmp_path):
    """`ddml train` killed with SIGKILL after its first checkpoint: the checkpoint files are whole (atomic writes)
    and resuming gives the uninterrupted run's weights exactly."""
    import json
    import signal
    import subprocess
    import sys
    import time

    straight = base_config(trajectories, tmp_path / "a", tmp_path / "cache", dtype="float64", epochs=8)
    train(straight)
    killed = base_config(trajectories, tmp_path / "b", tmp_path / "cache", dtype="float64", epochs=8)
    toml = "\n".join(f"[{section}]\n" + "\n".join(f"{k} = {json.dumps(v)}" for k, v in values.items())
                     for section, values in killed.items())
    (tmp_path / "b.toml").write_text(toml)
    proc = subprocess.Popen([sys.executable, "-m", "ddml_engine.cli", "train", str(tmp_path / "b.toml")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (tmp_path / "b" / "last.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = torch.load(tmp_path / "b" / "last.pt", weights_only=True)  # whole, and safe to load
    assert 1 <= state["epoch"] < 8  # killed mid-run
    killed["output"]["resume"] = True
    result = train(killed)
    assert result.epochs_completed == 8
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    for name, value in a["model"].items():
        assert torch.equal(value, b["model"][name]), name
