"""ExaDiS interop: its ParaDiS files (tags `0,    12`) both ways, export_data() conversion, and ddml mobilities
through pyexadis's Python-mobility protocol, driven by a stand-in that makes the calls ExaDiS makes
(python/pyexadis_base.py: MobilityLawPython.Mobility / OneNodeMobility, ExaDisNet.export_data, set_velocities)."""
import numpy as np
import pytest
import torch

from ddml_engine.dynamics.configs import random_periodic_lines, random_prismatic_loops
from ddml_engine.io.exadis import network_from_exadis, network_to_exadis
from ddml_engine.io.paradis import encode_tag, format_paradis, read_paradis
from ddml_engine.ml.model import GNNMobilityModel
from ddml_engine.mobility import BCCLinearMobility
from ddml_engine.mobility.exadis import ExaDiSMobility
from ddml_engine.mobility.gnn import GNNMobility
from ddml_engine.network import PINNED_NODE, Cell, DislocationNetwork

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")


def sample_network(seed: int = 3, domain: int = 0) -> DislocationNetwork:
    """Prismatic loops and periodic lines in a 200 b box, a few pinned nodes, tags in `domain`."""
    cell = Cell.cubic(200.0, centered=True)
    net = DislocationNetwork.concatenate([random_prismatic_loops(cell, 3, 30.0, 12.0, seed=seed),
                                          random_periodic_lines(cell, 2, 25.0, seed=seed)])
    rng = np.random.default_rng(seed)
    constraints = np.where(rng.random(net.num_nodes) < 0.1, PINNED_NODE, 0)
    tags = encode_tag(np.full(net.num_nodes, domain), rng.permutation(5 * net.num_nodes)[:net.num_nodes])
    return DislocationNetwork(net.cell, net.positions, net.segments, net.burgers, net.planes, constraints, tags)


def forces_of(net: DislocationNetwork, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(scale=2e8, size=(net.num_nodes, 3))  # Pa*b^2


# ----------------------------------------------------------------------------- ExaDiS's ParaDiS files
def exadis_write_data(net: DislocationNetwork) -> str:
    """The text ExaDiS's SerialDisNet::write_data (src/network.cpp) writes: its printf formats, domain 0,
    nodes renumbered 0..N-1 in order, positions folded into the cell."""
    lo, hi = net.cell.origin, net.cell.origin + np.diag(net.cell.matrix)
    pos = net.cell.wrap(net.positions)
    out = ["dataFileVersion = 4", "numFileSegments = 1",
           "minCoordinates = [\n %f\n %f\n %f\n ]" % tuple(lo), "maxCoordinates = [\n %f\n %f\n %f\n ]" % tuple(hi),
           f"nodeCount = {net.num_nodes}", "dataDecompType = 2", "dataDecompGeometry = [\n 1\n 1\n 1\n ]\n",
           "#\n#  END OF DATA FILE PARAMETERS\n#\n", "domainDecomposition = ",
           "# Dom_ID  Minimum XYZ bounds   Maximum XYZ bounds",
           "  %d  %f  %f  %f  %f  %f  %f" % (0, *lo, *hi), "nodalData =",
           "# Primary lines: node_tag, x, y, z, num_arms, constraint",
           "# Secondary lines: arm_tag, burgx, burgy, burgz, nx, ny, nz"]
    offsets, arm_seg, arm_sign = net.arms()
    for i in range(net.num_nodes):
        arms = range(offsets[i], offsets[i + 1])
        out.append("%d, %4d %16.12f %16.12f %16.12f %4d %4d" % (0, i, *pos[i], len(arms), net.constraints[i]))
        for a in arms:
            s, sign = arm_seg[a], arm_sign[a]
            other = net.segments[s, 1] if sign > 0 else net.segments[s, 0]
            out.append("%10d, %4d %16.12f %16.12f %16.12f" % (0, other, *(sign * net.burgers[s])))
            out.append("%33.12f %16.12f %16.12f" % tuple(net.planes[s]))
    return "\n".join(out) + "\n"


def exadis_read_paradis(text: str) -> tuple[np.ndarray, np.ndarray, list[tuple]]:
    """What ExaDiS's read_paradis (src/generate.cpp) extracts: bounds after the `[` lines, then per node
    sscanf("%d, %d %lf %lf %lf %d %d") and per arm fscanf("%d, %d %lf %lf %lf") + fscanf("%lf %lf %lf")."""
    lines = text.splitlines()
    k = 0
    bounds = {}
    while not lines[k].startswith("nodalData ="):
        for key in ("minCoordinates = [", "maxCoordinates = ["):
            if lines[k].startswith(key):
                bounds[key] = np.array([float(lines[k + q].split()[0]) for q in (1, 2, 3)])
        k += 1
    k += 1
    nodes = []
    while k < len(lines):
        if lines[k].startswith("#"):
            k += 1
            continue
        head, rest = lines[k].split(",", 1)
        fields = rest.split()
        tag, narms = (int(head), int(fields[0])), int(fields[4])
        arms = []
        for a in range(narms):
            arm_head, arm_rest = lines[k + 1 + 2 * a].split(",", 1)
            arm = arm_rest.split()
            arms.append(((int(arm_head), int(arm[0])), np.array(arm[1:4], float),
                         np.array(lines[k + 2 + 2 * a].split(), float)))
        nodes.append((tag, np.array(fields[1:4], float), int(fields[5]), arms))
        k += 1 + 2 * narms
    return bounds["minCoordinates = ["], bounds["maxCoordinates = ["], nodes


def test_reads_the_paradis_files_exadis_writes(tmp_path):
    net = sample_network(domain=0)
    path = tmp_path / "exadis.data"
    path.write_text(exadis_write_data(net))
    assert "0,    1 " in path.read_text()  # the spacing that used to be refused
    back = read_paradis(path)
    assert back.num_nodes == net.num_nodes and back.num_segments == net.num_segments
    assert np.array_equal(back.tags, np.arange(net.num_nodes))  # ExaDiS renumbers 0..N-1 in domain 0
    assert np.allclose(back.positions, net.cell.wrap(net.positions), atol=1e-11)
    assert np.array_equal(back.constraints, net.constraints)
    back.validate()
    # same segments, Burgers vectors and planes up to ExaDiS's 12 decimals
    forward = {(int(i), int(j)): (b, n) for (i, j), b, n in zip(net.segments, net.burgers, net.planes)}
    for (i, j), b, n in zip(back.segments, back.burgers, back.planes):
        b0, n0 = forward[(i, j)] if (i, j) in forward else (-forward[(j, i)][0], forward[(j, i)][1])
        assert np.allclose(b, b0, atol=1e-11) and np.allclose(n, n0, atol=1e-11)


def test_exadis_reader_accepts_what_ddml_writes():
    net = sample_network(domain=2)
    lo, hi, nodes = exadis_read_paradis(format_paradis(net))
    assert np.allclose(lo, net.cell.origin) and np.allclose(hi, net.cell.origin + np.diag(net.cell.matrix))
    assert len(nodes) == net.num_nodes
    index = {int(t): k for k, t in enumerate(net.tags)}
    degree = net.node_degree()
    arm_count = 0
    for (domain, idx), pos, constraint, arms in nodes:
        k = index[int(encode_tag(domain, idx))]
        assert domain == 2 and np.array_equal(pos, net.positions[k]) and constraint == net.constraints[k]
        assert len(arms) == degree[k]
        for (d_other, i_other), b, plane in arms:
            other = index[int(encode_tag(d_other, i_other))]
            hit = np.flatnonzero((net.segments[:, 0] == k) & (net.segments[:, 1] == other))
            sign = 1.0
            if not len(hit):
                hit, sign = np.flatnonzero((net.segments[:, 0] == other) & (net.segments[:, 1] == k)), -1.0
            assert np.array_equal(b, sign * net.burgers[hit[0]]) and np.array_equal(plane, net.planes[hit[0]])
            arm_count += 1
    assert arm_count == 2 * net.num_segments


# ----------------------------------------------------------------------------- export_data() conversion
def test_export_data_round_trip_keeps_every_array():
    net = sample_network(domain=1)
    back = network_from_exadis(network_to_exadis(net))
    assert back.cell == net.cell
    for name in ("positions", "segments", "burgers", "planes", "constraints", "tags"):
        assert np.array_equal(getattr(back, name), getattr(net, name)), name


def test_export_data_errors_name_the_field():
    data = network_to_exadis(sample_network())
    data["segs"]["burgers"] = data["segs"]["burgers"][:, :2]
    with pytest.raises(ValueError, match=r"segs\.burgers"):
        network_from_exadis(data)
    data = network_to_exadis(sample_network())
    data["nodes"]["positions"][0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        network_from_exadis(data)
    with pytest.raises(ValueError, match="'nodes' is missing"):
        network_from_exadis({"cell": data["cell"], "segs": data["segs"]})


# ----------------------------------------------------------------------------- the Python-mobility protocol
class StandInExaDisNet:
    """What pyexadis_base.ExaDisNet offers a Python mobility: export_data(), get_tags(), get_forces(), and the
    C++ net's set_velocities(vels, tags). Node rows are shuffled against ddml's order, as ExaDiS keeps its own."""

    def __init__(self, net: DislocationNetwork, forces: np.ndarray, seed: int = 7):
        order = np.random.default_rng(seed).permutation(net.num_nodes)
        inverse = np.argsort(order)
        data = network_to_exadis(net)
        data["nodes"] = {k: v[order] for k, v in data["nodes"].items()}
        data["segs"]["nodeids"] = inverse[net.segments]
        self.data, self.forces = data, np.asarray(forces)[order]
        self.velocities = np.full((net.num_nodes, 3), np.nan)

    def export_data(self):
        return self.data

    def get_tags(self):
        return self.data["nodes"]["tags"]

    def get_forces(self):
        return self.forces

    def set_velocities(self, vels, tags):  # the C++ side matches rows by tag
        rows = {tuple(t): k for k, t in enumerate(self.get_tags().tolist())}
        for v, t in zip(np.asarray(vels), np.asarray(tags).tolist()):
            self.velocities[rows[tuple(t)]] = v


class StandInDisNetManager:
    def __init__(self, disnet):
        self.disnet = disnet

    def get_disnet(self, disnet_type=None):
        return self.disnet

    def export_data(self):
        return self.disnet.export_data()


def exadis_mobility_call(mobility, disnet: StandInExaDisNet, state: dict) -> None:
    """MobilityLawPython.Mobility(net): state forces from the net, Mobility(N, state), net.set_velocities."""
    state["nodeforces"], state["nodeforcetags"] = disnet.get_forces(), disnet.get_tags()
    mobility.Mobility(StandInDisNetManager(disnet), state)
    disnet.set_velocities(state["nodevels"], state["nodeveltags"])


def in_exadis_order(disnet: StandInExaDisNet, net: DislocationNetwork, v: np.ndarray) -> np.ndarray:
    rows = {int(t): k for k, t in enumerate(net.tags)}
    keys = encode_tag(disnet.get_tags()[:, 0], disnet.get_tags()[:, 1])
    return v[[rows[int(t)] for t in keys]]


def gnn_mobility() -> GNNMobility:
    torch.manual_seed(1)
    return GNNMobility(GNNMobilityModel(latent=16, layers=2).double().eval())


@pytest.mark.parametrize("make", [lambda: BCCLinearMobility(Me=2600.0, Ms=20.0, Mclimb=1e-4), gnn_mobility],
                         ids=["bcc", "gnn"])
def test_ddml_mobility_inside_exadis_gives_ddml_velocities(make):
    net, mobility = sample_network(domain=1), make()
    forces = forces_of(net)
    disnet, state = StandInExaDisNet(net, forces), {}
    exadis_mobility_call(ExaDiSMobility(mobility), disnet, state)
    expected = in_exadis_order(disnet, net, mobility.velocities(net, forces))
    assert np.abs(expected).max() > 0 and np.array_equal(disnet.velocities, expected)
    assert np.all(disnet.velocities[disnet.data["nodes"]["constraints"][:, 0] == PINNED_NODE] == 0)


@pytest.mark.parametrize("make", [lambda: BCCLinearMobility(Me=2600.0, Ms=20.0, Mclimb=1e-4), gnn_mobility],
                         ids=["bcc", "gnn"])
def test_one_node_mobility_evaluates_the_trial_force(make):
    net, mobility = sample_network(), make()
    forces = forces_of(net)
    disnet = StandInExaDisNet(net, forces)
    state: dict = {}
    exadis_mobility_call(ExaDiSMobility(mobility), disnet, state)
    adapter = ExaDiSMobility(mobility)
    k = int(np.flatnonzero((net.node_degree() == 2) & (net.constraints == 0))[0])
    tag = disnet.get_tags()[[int(t) for t in encode_tag(disnet.get_tags()[:, 0], disnet.get_tags()[:, 1])].index(
        int(net.tags[k]))]
    trial = forces[k] * -3.0 + 1e8
    v = adapter.OneNodeMobility(StandInDisNetManager(disnet), state, tag, trial)
    changed = forces.copy()
    changed[k] = trial
    assert np.array_equal(v, mobility.velocities(net, changed)[k])
    row = np.flatnonzero((state["nodeveltags"] == tag).all(1))
    assert len(row) == 1 and np.array_equal(state["nodevels"][row[0]], v)  # update_state=True writes it back
    assert len(state["nodevels"]) == net.num_nodes


def test_protocol_errors_are_named():
    net = sample_network()
    disnet = StandInExaDisNet(net, forces_of(net))
    adapter = ExaDiSMobility(BCCLinearMobility(Me=2600.0, Ms=20.0))
    state = {"nodeforces": disnet.get_forces()[1:], "nodeforcetags": disnet.get_tags()[1:]}
    with pytest.raises(ValueError, match="no force for nodes"):
        adapter.Mobility(StandInDisNetManager(disnet), state)
    with pytest.raises(ValueError, match=r"node tag \(9,9\) not in the network"):
        adapter.OneNodeMobility(StandInDisNetManager(disnet), state, (9, 9), np.zeros(3))
    with pytest.raises(TypeError, match="needs a ddml mobility"):
        ExaDiSMobility(object())


def test_exadis_example_explains_itself_without_pyexadis():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "example_sessions" / "exadis" / "gnn_mobility_in_exadis.py"
    shown = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "Python-mobility protocol" in shown.stdout
    run = subprocess.run([sys.executable, str(script), "bcc"], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(script.parents[2])})
    assert run.returncode == 2 and "pyexadis is not importable" in run.stderr and "Traceback" not in run.stderr
