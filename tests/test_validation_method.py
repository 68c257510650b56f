"""The relative Nye loss (ml.losses), the recorded force model, the character probe and a smoke `ddml validate`.

Trajectories as in test_training: prismatic loops moved by a known isotropic law V = M F (isomorphic frames), so
the true displacement of every node is known.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ddml_engine.io.store import SnapshotStore
from ddml_engine.ml import dataset as ds
from ddml_engine.ml.losses import RelativeLossSettings, absolute_pair_losses, displacement_weights, relative_pair_losses
from ddml_engine.ml.train_config import load_train_config
from ddml_engine.ml.trainer import prepare_data, resolve_force_model
from test_training import base_config, trajectories, true_velocities  # noqa: F401  (module fixture)


def _dataset(trajectories, tmp_path, k=1, extra=()):
    cfg = load_train_config(base_config(trajectories, tmp_path / "out", tmp_path / "cache"),
                            ["train.dtype='float64'", f"data.k={k}", *extra])
    return ds.NyeDataset(prepare_data(cfg).train_caches, k=k)


def test_relative_loss_is_one_at_rest_and_zero_for_the_true_motion(trajectories, tmp_path):
    data = _dataset(trajectories, tmp_path)
    idx = [0, 3, 7]
    batch = data.batch(idx).to(None, torch.float64)
    v = true_velocities(data, idx)
    torch.testing.assert_close(relative_pair_losses(batch, torch.zeros_like(v)), torch.ones(3, dtype=torch.float64),
                               rtol=1e-12, atol=0)
    assert torch.all(relative_pair_losses(batch, v) < 1e-18)
    # A uniform relative error lambda = 1.5 of every node scores ~ log2(1 + 0.25) whatever each node's speed.
    half = relative_pair_losses(batch, 1.5 * v)
    assert torch.all((half > np.log2(1.2)) & (half < np.log2(1.3))), half.tolist()


def test_relative_loss_weighs_lines_by_relative_error(trajectories, tmp_path):
    """A pair whose target is made by moving a third of the nodes 100 times less than the rest: a 50 % error on
    the slow nodes costs ~1e-4 of a 50 % error on the fast ones in the absolute loss, but the same order in the
    relative loss (weighted by each part's share of the line). The kernel (5 b) is narrow against the distance
    between slow and fast lines here; with a kernel as wide as that distance the fast lines' residual leaks into
    the slow lines' weighted region (ml.losses docstring)."""
    from ddml_engine.ml.losses import predicted_spectra

    data = _dataset(trajectories, tmp_path, extra=("nye.grid=32", "nye.sigma_b=5.0"))
    batch = data.batch([2]).to(None, torch.float64)
    v = true_velocities(data, [2])
    slow = torch.zeros(len(v), dtype=torch.bool)
    slow[: len(v) // 3] = True
    truth = torch.where(slow[:, None], 0.01 * v, v)
    batch.target = predicted_spectra(batch, truth)  # the exact field of this motion
    assert float(relative_pair_losses(batch, truth)) < 1e-18
    slow_wrong = torch.where(slow[:, None], 1.5 * truth, truth)
    fast_wrong = torch.where(slow[:, None], truth, 1.5 * truth)
    a_slow, a_fast = absolute_pair_losses(batch, slow_wrong), absolute_pair_losses(batch, fast_wrong)
    r_slow, r_fast = relative_pair_losses(batch, slow_wrong), relative_pair_losses(batch, fast_wrong)
    assert float(a_slow / a_fast) < 1e-3
    assert 0.1 < float(r_slow / r_fast) < 2.0, (float(r_slow), float(r_fast))


def test_weights_follow_the_predicted_displacement_and_are_rotation_invariant(trajectories, tmp_path):
    from ddml_engine.ml.symmetry import CUBE_ROTATIONS

    data = _dataset(trajectories, tmp_path)
    batch = data.batch([1]).to(None, torch.float64)
    v = true_velocities(data, [1])
    u = v * batch.dt[0]
    w1 = displacement_weights(batch, u)
    w10 = displacement_weights(batch, 10.0 * u)
    torch.testing.assert_close(w10, w1, rtol=1e-9, atol=0)  # in units of 1 / ubar^2: scale free
    slow = u.clone()
    slow[: len(u) // 2] *= 0.01  # slower nodes get larger weights (up to 1e4 times) where they lie
    assert float(displacement_weights(batch, slow).max() / w1.max()) > 30.0
    # Rotating the pair by a cube rotation rotates the loss field: the relative loss is invariant.
    plain = relative_pair_losses(batch, 1.3 * v)
    data.set_rotations(seed=1, epoch=0)
    index = 1
    rot = CUBE_ROTATIONS[data.rotations[index]]
    assert data.rotations[index]
    rb = data.batch([index]).to(None, torch.float64)
    rotated = relative_pair_losses(rb, 1.3 * v @ torch.as_tensor(rot).T)
    torch.testing.assert_close(rotated, plain, rtol=1e-6, atol=0)


def test_relative_loss_is_invariant_under_node_relabelling(trajectories, tmp_path):
    data = _dataset(trajectories, tmp_path)
    sample = data[4]
    v = true_velocities(data, [4]) * 0.7
    base = relative_pair_losses(ds.collate_samples([sample]).to(None, torch.float64), v)
    n = sample.graph.num_nodes
    perm = torch.as_tensor(np.random.default_rng(0).permutation(n))
    inverse = torch.argsort(perm)  # new node k is old node perm[k]
    g = sample.graph
    graph = type(g)(g.node_features[perm], inverse[g.edge_index], g.edge_features, g.batch, g.num_graphs,
                    g.pinned[perm])
    relabelled = type(sample)(**{**sample.__dict__, "graph": graph, "segments": inverse[sample.segments]})
    moved = relative_pair_losses(ds.collate_samples([relabelled]).to(None, torch.float64), v[perm])
    torch.testing.assert_close(moved, base, rtol=1e-10, atol=0)


def test_several_lags_give_pairs_of_each_lag(trajectories, tmp_path):
    data = _dataset(trajectories, tmp_path, k=[1, 3])
    lags = sorted({j - i for _, i, j in data.pairs})
    assert lags == [1, 3]
    one = _dataset(trajectories, tmp_path, k=1)
    three = _dataset(trajectories, tmp_path, k=3)
    assert len(data) == len(one) + len(three)


def test_store_records_its_force_model_and_training_uses_it(tmp_path):
    from ddml_engine.dynamics.config import load_config
    from ddml_engine.dynamics.runner import run_simulation
    from ddml_engine.forces.model import ForceModelSpec

    config = load_config(None, ["cell.size=100.0", "initial.count=2", "initial.radius=20.0",
                                "forces.model='elastic-cutoff'", "forces.cutoff=40.0", "run.max_steps=2",
                                "run.max_strain=0.0", "run.progress=false", f"run.output_dir='{tmp_path / 's'}'"])
    run_simulation(config)
    path = str(tmp_path / "s" / "trajectory.h5")
    with SnapshotStore(path) as store:
        assert store.force_model == ForceModelSpec("elastic-cutoff", 40.0, None)
    spec, origin = resolve_force_model(load_train_config({"data": {"trajectories": [path]}}), [path])
    assert spec == ForceModelSpec("elastic-cutoff", 40.0, None) and "recorded" in origin
    spec, origin = resolve_force_model(load_train_config({"data": {"trajectories": [path]},
                                                         "forces": {"model": "line-tension"}}), [path])
    assert spec.name == "line-tension" and "configuration" in origin
    assert ForceModelSpec.from_dict(ForceModelSpec.of("fft", 150.0, 32).to_dict()) == ForceModelSpec("fft", None, 32)


def test_character_probe_of_the_true_law_has_no_error_and_tiny_climb():
    from ddml_engine.ml.probe import probe_characters
    from ddml_engine.mobility.bcc import BCCLinearMobility

    law = BCCLinearMobility(Me=900.0, Ms=45.0, Mclimb=1e-4)
    result = probe_characters(law, reference=law)
    assert max(result.max_abs_error().values()) < 1e-12
    assert max(result.climb_ratio().values()) < 1e-6
    fitted = result.fitted()
    assert fitted["edge"] == pytest.approx(900.0, rel=1e-6) and fitted["screw"] == pytest.approx(45.0, rel=1e-6)
    # A symmetric law moves twinning and anti-twinning screws alike for the resolved shear tau cos(chi).
    assert fitted["screw_twinning"] == pytest.approx(fitted["screw_antitwinning"], rel=1e-9)
    other = probe_characters(BCCLinearMobility(Me=900.0, Ms=90.0), reference=law)
    assert other.max_abs_error()["screw"] == pytest.approx(1.0, rel=1e-6)
    assert all(not flags for flags in result.unphysical().values())  # a linear law is physical everywhere


class _Unphysical:
    """The true law with screws moving against the force (`backwards`) or every line at one speed whatever the
    stress (`saturated`): what the probe must flag."""

    def __init__(self, mode: str):
        from ddml_engine.mobility.bcc import BCCLinearMobility

        self.law, self.mode = BCCLinearMobility(Me=900.0, Ms=45.0, Mclimb=1e-4), mode

    def velocities(self, network, forces):
        v = self.law.velocities(network, forces)
        if self.mode == "saturated":
            return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-300) * 1e10
        t = network.segment_vectors()[0] / np.linalg.norm(network.segment_vectors()[0])
        b = network.burgers[0] / np.linalg.norm(network.burgers[0])
        return -v if abs(t @ b) > 0.99 else v  # screws backwards


def test_probe_flags_motion_against_the_force_and_saturating_speed():
    from ddml_engine.ml.probe import probe_characters

    taus = np.linspace(5e7, 5e8, 6)
    flags = probe_characters(_Unphysical("backwards"), taus=taus).unphysical()
    assert any("moves against the force at 6 of 6" in f for f in flags["screw"]) and not flags["edge"]
    flags = probe_characters(_Unphysical("saturated"), taus=taus).unphysical()
    assert all("speed does not increase with stress" in f for f in flags.values())


def test_smoke_validate_lowers_the_loss_and_resumes(tmp_path, capsys):
    from ddml_engine.cli import main

    out = tmp_path / "v"
    assert main(["validate", "--scale", "smoke", "--output-dir", str(out), "--no-progress", "--me", "1500",
                 "--ms", "150"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["truth"]["Me"] == 1500.0
    assert summary["training"]["best_loss"] < summary["training"]["initial_val_loss"]
    for name in ("report.md", "probe_characters.png", "training.png", "rollout/rollout.png"):
        assert (out / name).stat().st_size > 1000
    assert set(summary["max_pointwise_error"]) == {"edge", "60deg", "30deg", "screw", "screw_twinning",
                                                   "screw_antitwinning"}
    capsys.readouterr()
    assert main(["validate", "--scale", "smoke", "--output-dir", str(out), "--no-progress", "--me", "1500",
                 "--ms", "150"]) == 0
    assert capsys.readouterr().out.count("finished earlier") == 4  # 2 runs + 2 rollouts reused
    with pytest.raises(SystemExit, match="Ms 150.0 -> 20.0"):  # another law must not reuse these runs
        main(["validate", "--scale", "smoke", "--output-dir", str(out), "--no-progress", "--me", "1500"])


def test_validate_option_errors():
    from ddml_engine.cli import main

    with pytest.raises(SystemExit, match="--me must be a positive"):
        main(["validate", "--me", "-5"])
    with pytest.raises(SystemExit, match="--runs must be >= 2"):
        main(["validate", "--runs", "1"])


def test_periodic_lines_close_on_themselves_with_every_character():
    from ddml_engine.dynamics.configs import random_periodic_lines
    from ddml_engine.network import Cell

    net = random_periodic_lines(Cell.cubic(300.0), 40, 15.0, seed=3)
    assert len(net.frank_violations()) == 0
    d = net.cell.minimum_image(net.positions[net.segments[:, 1]] - net.positions[net.segments[:, 0]])
    assert np.linalg.norm(d, axis=1).max() <= 15.0 + 1e-9
    t = d / np.linalg.norm(d, axis=1, keepdims=True)
    b = net.burgers / np.linalg.norm(net.burgers, axis=1, keepdims=True)
    characters = set(np.round(np.degrees(np.arccos(np.clip(np.abs((t * b).sum(1)), 0, 1))), 1).tolist())
    assert characters == {0.0, 35.3, 54.7, 70.5, 90.0}
    assert np.abs((net.planes * net.burgers).sum(1)).max() < 1e-12 and np.abs((net.planes * t).sum(1)).max() < 1e-12
    assert np.all(np.isin(np.round(np.sort(np.abs(net.planes), axis=1) * np.sqrt(2), 9), [0.0, 1.0]))  # {110}
