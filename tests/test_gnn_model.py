"""GNN mobility model (paper Eq. 4): parameter count, graph symmetries, batching, TorchScript export, overfit."""
import contextlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from ddml_engine.dynamics.configs import random_prismatic_loops
from ddml_engine.ml.export import export_model, load_model
from ddml_engine.ml.graph import (EDGE_FEATURES, NODE_FEATURES, build_graph, collate, features_from_tensors,
                                  raw_inputs)
from ddml_engine.ml.model import GNNMobilityModel
from ddml_engine.ml.numpy_inference import MIN_CHUNK_ROWS
from ddml_engine.mobility.gnn import GNNMobility
from ddml_engine.network import JUNCTION_100, PINNED_NODE, Cell, DislocationNetwork
from ddml_engine.parallel import threads_for

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")  # torch 2.13 deprecates TorchScript
L_CELL = 100.0
B1 = np.array([1.0, 1.0, 1.0]) / np.sqrt(3.0)
B2 = np.array([1.0, -1.0, -1.0]) / np.sqrt(3.0)


def polygon(rng, center, radius, n, normal):
    """Closed planar polygon (n nodes) around `center`, perpendicular to `normal`, with jittered radii."""
    normal = normal / np.linalg.norm(normal)
    u = np.cross(normal, rng.normal(size=3))
    u /= np.linalg.norm(u)
    w = np.cross(normal, u)
    phi = np.sort(rng.uniform(0, 2 * np.pi, n)) if n > 3 else np.arange(n) * 2 * np.pi / n
    r = radius * rng.uniform(0.7, 1.3, n)
    return center + r[:, None] * (np.cos(phi)[:, None] * u + np.sin(phi)[:, None] * w)


def random_network(seed: int, loops: int = 3, junction: bool = True, pinned: int = 1) -> DislocationNetwork:
    """A few closed 1/2<111> loops plus (optionally) a 'theta' junction: arms b1, b2 and a <100> arm b1+b2."""
    rng = np.random.default_rng(seed)
    cell = Cell.cubic(L_CELL)
    parts = []
    for _ in range(loops):
        n = int(rng.integers(5, 10))
        pos = polygon(rng, rng.uniform(0, L_CELL, 3), rng.uniform(10, 25), n, rng.normal(size=3))
        b = rng.choice([-1, 1], 3) / np.sqrt(3.0)
        seg = np.stack([np.arange(n), (np.arange(n) + 1) % n], axis=1)
        parts.append(DislocationNetwork(cell, pos, seg, np.tile(b, (n, 1))))
    if junction:
        c = rng.uniform(0, L_CELL, 3)
        a, z = c - [15.0, 0, 0], c + [15.0, 0, 0]
        pos, seg, bur = [a, z], [], []
        for k, (bv, off) in enumerate([(B1, [0, 10.0, 0]), (B2, [0, -10.0, 3.0]), (-(B1 + B2), [0, 0, 12.0])]):
            mids = [a + (z - a) * t + np.asarray(off) * np.sin(np.pi * t) for t in (0.25, 0.5, 0.75)]
            ids = [0] + list(range(len(pos), len(pos) + 3)) + [1]
            pos += mids
            seg += [[ids[q], ids[q + 1]] for q in range(4)]
            bur += [bv] * 4
        parts.append(DislocationNetwork(cell, np.array(pos), np.array(seg), np.array(bur)))
    net = DislocationNetwork.concatenate(parts).wrapped()
    cons = np.zeros(net.num_nodes, np.int64)
    cons[rng.choice(net.num_nodes, pinned, replace=False)] = PINNED_NODE
    net = DislocationNetwork(net.cell, net.positions, net.segments, net.burgers, constraints=cons)
    net.validate()
    return net


def random_forces(net: DislocationNetwork, seed: int) -> np.ndarray:
    return np.random.default_rng(seed + 1000).normal(scale=1e9, size=(net.num_nodes, 3))  # Pa*b^2


def model64(seed: int = 0) -> GNNMobilityModel:
    torch.manual_seed(seed)
    return GNNMobilityModel(latent=48, layers=3, velocity_scale=1.0).double().eval()


def predict(model: GNNMobilityModel, net: DislocationNetwork, forces: np.ndarray) -> np.ndarray:
    g = build_graph(net, forces, dtype=torch.float64)
    with torch.no_grad():
        return model(g.node_features, g.edge_index, g.edge_features).numpy()


# --------------------------------------------------------------------------------------------- architecture
def test_parameter_count_matches_paper():
    model = GNNMobilityModel(latent=48, layers=3)
    count = model.num_parameters()
    print(f"GNNMobilityModel(latent=48, layers=3): {count} parameters")
    assert count == 78_768  # Bertin et al. 2024, best model (K = 3, latent 48)
    # LayerNorm after both encoders adds two LayerNorm(48) (weight + bias each).
    assert GNNMobilityModel(latent=48, layers=3, encoder_norm=True).num_parameters() == count + 2 * 2 * 48
    assert torch.jit.script(model) is not None


def test_features_follow_the_paper_definition():
    net = random_network(1)
    forces = random_forces(net, 1)
    g = build_graph(net, forces, dtype=torch.float64)
    m = net.num_segments
    assert g.node_features.shape == (net.num_nodes, NODE_FEATURES)
    assert g.edge_features.shape == (2 * m, EDGE_FEATURES) and g.edge_index.shape == (2, 2 * m)
    nf, ef = g.node_features.numpy(), g.edge_features.numpy()
    assert np.allclose(nf[:, 1:4], forces / 1e9) and np.allclose(nf[:, 4], np.linalg.norm(forces, axis=1) / 1e9)
    physical = net.physical_nodes()
    assert np.array_equal(nf[:, 0], physical.astype(float)) and physical.sum() >= 3  # 2 junction nodes + pinned
    vec = net.segment_vectors()
    # Edge s is i->j, edge M + s is j->i with b_ji = -b_ij and r_i - r_j.
    assert np.array_equal(g.edge_index[:, :m].numpy().T, net.segments)
    assert np.array_equal(g.edge_index[:, m:].numpy().T, net.segments[:, ::-1])
    assert np.allclose(ef[:m, 1:4], net.burgers) and np.allclose(ef[m:, 1:4], -net.burgers)
    assert np.allclose(ef[:m, 5:8], vec) and np.allclose(ef[m:, 5:8], -vec)
    assert np.allclose(ef[:, 8], np.tile(np.linalg.norm(vec, axis=1), 2))
    assert np.allclose(ef[:, 4], np.tile(np.linalg.norm(net.burgers, axis=1), 2))
    junction = np.tile(net.segment_classes() == JUNCTION_100, 2)
    assert junction.sum() == 8 and np.array_equal(ef[:, 0], junction.astype(float))


def test_torch_feature_builder_matches_and_is_differentiable():
    net = random_network(2)
    forces = random_forces(net, 2)
    raw = raw_inputs(net, forces)
    pos = torch.tensor(net.positions, requires_grad=True)
    nodes, edge_index, edges = features_from_tensors(
        pos, torch.as_tensor(net.segments), torch.as_tensor(net.burgers), torch.as_tensor(raw["node_flags"]),
        torch.as_tensor(raw["segment_flags"]), torch.as_tensor(forces), torch.as_tensor(net.cell.matrix))
    g = build_graph(net, forces, dtype=torch.float64)
    assert torch.equal(edge_index, g.edge_index)
    assert torch.allclose(nodes, g.node_features) and torch.allclose(edges, g.edge_features)
    edges[:, 8].sum().backward()  # d(sum of segment lengths)/d r_k = sum over arms of unit vectors
    t = net.segment_vectors() / net.segment_lengths()[:, None]
    expected = np.zeros_like(net.positions)
    np.add.at(expected, net.segments[:, 1], 2 * t)
    np.add.at(expected, net.segments[:, 0], -2 * t)
    assert np.allclose(pos.grad.numpy(), expected)


def test_bad_forces_are_reported():
    net = random_network(3)
    with pytest.raises(ValueError, match="shape"):
        build_graph(net, np.zeros((net.num_nodes - 1, 3)))
    forces = random_forces(net, 3)
    forces[4, 1] = np.nan
    with pytest.raises(ValueError, match="nodes 4"):
        build_graph(net, forces)


# --------------------------------------------------------------------------------------------- symmetries
def test_permutation_equivariance_of_nodes_and_edges():
    net, model = random_network(4), model64(4)
    forces = random_forces(net, 4)
    v = predict(model, net, forces)
    rng = np.random.default_rng(5)
    perm = rng.permutation(net.num_nodes)
    relabelled = net.relabelled(perm)
    order = rng.permutation(net.num_segments)  # shuffle the segment order as well
    relabelled = DislocationNetwork(relabelled.cell, relabelled.positions, relabelled.segments[order],
                                    relabelled.burgers[order], constraints=relabelled.constraints)
    forces_p = np.empty_like(forces)
    forces_p[perm] = forces
    v_p = predict(model, relabelled, forces_p)
    assert np.abs(v).max() > 1e-3
    assert np.allclose(v_p[perm], v, rtol=0, atol=1e-10)
    # Shuffling the edge columns of the graph itself changes nothing either.
    g = build_graph(net, forces, dtype=torch.float64)
    cols = torch.as_tensor(rng.permutation(g.num_edges))
    with torch.no_grad():
        v_e = model(g.node_features, g.edge_index[:, cols], g.edge_features[cols]).numpy()
    assert np.allclose(v_e, v, rtol=0, atol=1e-10)


def test_translation_and_periodic_image_invariance():
    net, model = random_network(6), model64(6)
    forces = random_forces(net, 6)
    v = predict(model, net, forces)
    shifted = net.with_positions(net.positions + np.array([13.7, -41.2, 77.9]))
    assert np.allclose(predict(model, shifted, forces), v, rtol=0, atol=1e-10)
    rng = np.random.default_rng(7)
    images = rng.integers(-2, 3, size=(net.num_nodes, 3)) @ net.cell.matrix.T
    moved = net.with_positions(net.positions + images)
    assert np.abs(images).max() > 0
    assert np.allclose(predict(model, moved, forces), v, rtol=0, atol=1e-10)
    # But the model does depend on the geometry: stretching one loop changes its velocities.
    stretched = net.with_positions(net.positions * np.where(np.arange(net.num_nodes) < 5, 1.05, 1.0)[:, None])
    assert np.abs(predict(model, stretched, forces) - v).max() > 1e-6


def test_reversing_segment_directions_changes_nothing():
    net, model = random_network(8), model64(8)
    forces = random_forces(net, 8)
    v = predict(model, net, forces)
    flip = np.random.default_rng(9).random(net.num_segments) < 0.5
    segs = np.where(flip[:, None], net.segments[:, ::-1], net.segments)
    burgers = np.where(flip[:, None], -net.burgers, net.burgers)
    reversed_net = DislocationNetwork(net.cell, net.positions, segs, burgers, constraints=net.constraints)
    reversed_net.validate()
    assert flip.sum() > 3
    assert np.allclose(predict(model, reversed_net, forces), v, rtol=0, atol=1e-10)


def test_batch_of_graphs_equals_graphs_alone():
    model = model64(10)
    nets = [random_network(10, loops=2, junction=False), random_network(11, loops=4)]
    forces = [random_forces(n, s) for n, s in zip(nets, (10, 11))]
    assert nets[0].num_nodes != nets[1].num_nodes
    alone = [predict(model, n, f) for n, f in zip(nets, forces)]
    batch = collate([build_graph(n, f, dtype=torch.float64) for n, f in zip(nets, forces)])
    assert batch.num_graphs == 2
    assert np.array_equal(np.bincount(batch.batch.numpy()), [n.num_nodes for n in nets])
    assert int(batch.pinned.sum()) == 2
    with torch.no_grad():
        v = model(batch.node_features, batch.edge_index, batch.edge_features).numpy()
    assert np.allclose(v[: nets[0].num_nodes], alone[0], rtol=0, atol=1e-10)
    assert np.allclose(v[nets[0].num_nodes:], alone[1], rtol=0, atol=1e-10)


# --------------------------------------------------------------------------------------------- export
def test_torchscript_export_round_trip(tmp_path):
    torch.manual_seed(12)
    model = GNNMobilityModel().eval()
    net = random_network(12)
    forces = random_forces(net, 12)
    g = build_graph(net, forces)
    with torch.no_grad():
        eager = model(g.node_features, g.edge_index, g.edge_features).numpy()
    path = export_model(model, tmp_path / "mobility.pt",
                        {"material": "W", "training": {"epochs": 0, "note": "untrained"}})
    assert not [p for p in tmp_path.iterdir() if p.name != "mobility.pt"]  # no temporary files left
    module, meta = load_model(path)
    assert meta["material"] == "W" and meta["training"]["epochs"] == 0
    assert meta["num_parameters"] == 78_768 and meta["units"]["velocity"] == "b/s"
    assert GNNMobilityModel(**meta["model_config"]).num_parameters() == 78_768
    raw = {k: torch.as_tensor(v) for k, v in raw_inputs(net, forces).items()}
    with torch.no_grad():
        loaded = module(raw["forces"], raw["node_flags"], raw["segments"], raw["burgers"],
                        raw["segment_vectors"], raw["segment_flags"]).numpy()
    assert loaded.dtype == np.float32 and np.abs(eager).max() > 1e8  # b/s, velocity_scale applied
    assert np.allclose(loaded, eager, rtol=1e-6, atol=1e-6 * np.abs(eager).max())

    mobility = GNNMobility(path)
    v = mobility.velocities(net, forces)
    pinned = net.constraints == PINNED_NODE
    assert v.shape == (net.num_nodes, 3) and v.dtype == np.float64
    assert np.all(v[pinned] == 0.0) and np.all(np.abs(v[~pinned]).sum(1) > 0)
    assert np.allclose(v[~pinned], eager[~pinned], rtol=1e-6, atol=1e-6 * np.abs(eager).max())
    assert np.allclose(GNNMobility(model).velocities(net, forces), v, rtol=1e-5, atol=1e-5 * np.abs(v).max())

    # Plain torch.jit.load in a fresh interpreter that cannot import ddml at all.
    np.savez(tmp_path / "inputs.npz", **raw_inputs(net, forces), expected=loaded)
    script = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in ('ddml_engine', 'ddml'):
                    raise ImportError('ddml is blocked in this test')
        sys.meta_path.insert(0, Block())
        import numpy as np, torch
        m = torch.jit.load({str(path)!r})
        d = np.load({str(tmp_path / 'inputs.npz')!r})
        t = {{k: torch.as_tensor(d[k]) for k in d.files}}
        v = m(t['forces'], t['node_flags'], t['segments'], t['burgers'], t['segment_vectors'], t['segment_flags'])
        assert not [k for k in sys.modules if k.startswith('ddml')]
        print('maxdiff', float((v - t['expected']).abs().max()))
        """)
    result = subprocess.run([sys.executable, "-I", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "0.0"


def test_load_model_rejects_other_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_model(tmp_path / "missing.pt")
    plain = tmp_path / "plain.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(plain))
    with pytest.raises(ValueError, match="plain.pt"):
        load_model(plain)


# --------------------------------------------------------------------------------------------- learning
def test_model_can_fit_a_linear_mobility():
    """Overfit V_i = M F_i / L_i (L_i: half the length of the arms of node i) on a few graphs."""
    M = 1000.0  # 1/(Pa s)
    nets = [random_network(20 + k, loops=2, pinned=0) for k in range(3)]
    graphs, targets = [], []
    for k, net in enumerate(nets):
        forces = random_forces(net, 20 + k)
        arm = np.zeros(net.num_nodes)
        np.add.at(arm, net.segments.ravel(), np.repeat(net.segment_lengths(), 2) / 2)
        graphs.append(build_graph(net, forces))
        targets.append(torch.as_tensor(M * forces / arm[:, None], dtype=torch.float32))
    batch, target = collate(graphs), torch.cat(targets)
    torch.manual_seed(0)
    model = GNNMobilityModel(latent=32, layers=2)
    scale = model.velocity_scale
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)

    def loss_fn() -> torch.Tensor:
        v = model(batch.node_features, batch.edge_index, batch.edge_features)
        return torch.mean(((v - target) / scale) ** 2)

    with torch.no_grad():
        initial = float(loss_fn())
    for _ in range(300):
        optimizer.zero_grad()
        loss = loss_fn()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        final = float(loss_fn())
    print(f"overfit: loss {initial:.4g} -> {final:.4g} ({batch.num_nodes} nodes)")
    assert final < initial / 10


@pytest.mark.parametrize("config", [{}, {"latent": 32, "layers": 2, "hidden": 40, "encoder_norm": True}])
def test_numpy_inference_engine_equals_the_torch_module(tmp_path, config):
    """GNNMobility's default CPU engine (one numba call: sgemm products, fused kernels, row chunks on numba's
    threads or on one) computes the exported module's function: the same velocities as engine="torch" to float32
    rounding, pinned nodes at rest, for the paper's layout and another (fewer layers, other widths, encoder
    LayerNorms), on small networks (one chunk) and a large one (several, and serially); and its kept topology
    inputs follow the network: moved nodes (same topology), then other networks."""
    torch.manual_seed(3)
    model = GNNMobilityModel(**config).eval()
    with torch.no_grad():  # give the LayerNorms non-trivial weights
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(0.3 * torch.randn_like(p))
    path = export_model(model, tmp_path / "m.pt")
    fast, slow = GNNMobility(path), GNNMobility(path, engine="torch")
    assert fast.numpy_engine is not None and slow.numpy_engine is None
    first = random_network(5)
    shift = np.random.default_rng(1).normal(scale=2.0, size=(first.num_nodes, 3))
    moved = first.with_positions(first.positions + shift)
    large = random_prismatic_loops(Cell.cubic(300.0), 8, (40.0, 60.0), 6.0, seed=3)  # >= 2 row chunks
    assert large.num_nodes >= 2 * MIN_CHUNK_ROWS
    for net, serial in ((first, False), (moved, False), (random_network(6), True), (large, False), (large, True)):
        forces = random_forces(net, net.num_nodes)
        with threads_for(0) if serial else contextlib.nullcontext():
            v = fast.velocities(net, forces)
        ref = slow.velocities(net, forces)
        assert v.dtype == np.float64 and np.all(v[net.constraints == PINNED_NODE] == 0.0)
        assert np.abs(ref).max() > 0 and np.allclose(v, ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())
    with pytest.raises(ValueError, match="engine"):
        GNNMobility(path, engine="jax")


def test_fast_erf_of_the_numpy_engine_is_accurate():
    import math

    import numba

    from ddml_engine.ml.numpy_inference import _erf

    erf = numba.njit(lambda x: _erf(x))
    xs = np.linspace(-7.0, 7.0, 4001).astype(np.float32)
    assert max(abs(float(erf(x)) - math.erf(float(x))) for x in xs) < 1e-6


def test_numpy_engine_gives_the_same_velocities_on_any_thread_count(tmp_path):
    """Row chunks of >= MIN_CHUNK_ROWS give bit-identical velocities on 1 and 2 threads, so DDD+ML trajectories do
    not depend on which mode parallel.MeasuredThreads picks."""
    torch.manual_seed(4)
    gnn = GNNMobility(export_model(GNNMobilityModel().eval(), tmp_path / "m.pt"))
    net = random_prismatic_loops(Cell.cubic(300.0), 8, (40.0, 60.0), 6.0, seed=2)
    assert net.num_nodes >= 2 * MIN_CHUNK_ROWS
    forces = random_forces(net, 7)
    engine, force_scale, length_scale = gnn.numpy_engine
    from ddml_engine.mobility.gnn import _Topology

    topology = _Topology(net, length_scale)
    nodes = topology.node_features(forces, force_scale)
    edges = topology.edge_features(net.segment_vectors(), length_scale)
    one, two = (engine(nodes, topology.edge_index, edges, threads=t) for t in (1, 2))
    assert np.abs(one).max() > 0 and np.array_equal(one, two)
