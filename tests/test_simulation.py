"""DDD simulation driver: motion at the mobility law's speed, loop stability, Frank-Read sources, reactions."""
import numpy as np
import pytest

from ddml_engine.dynamics.integrators import EulerIntegrator, TrapezoidIntegrator
from ddml_engine.dynamics.loading import StressControl
from ddml_engine.dynamics.simulation import Simulation, TopologySettings
from ddml_engine.forces.local import core_energy, shear_stress
from ddml_engine.forces.model import LineTensionModel
from ddml_engine.geometry import circular_loop, line_direction, straight_line
from ddml_engine.materials import material
from ddml_engine.mobility.bcc import BCCLinearMobility
from ddml_engine.mobility.glide import GlideMobility
from ddml_engine.network import Cell

W = material("W")
B = np.array([1.0, 1.0, 1.0]) / np.sqrt(3.0)
PLANE = np.array([1.0, -1.0, 0.0]) / np.sqrt(2.0)
NO_TOPOLOGY = TopologySettings(split_multinodes=False)


def loop_area_vector(network) -> np.ndarray:
    """Right-handed area vector of a single closed loop (nodes in segment order)."""
    x1, x2 = network.segment_endpoints()
    ref = x1[0]
    return 0.5 * np.cross(x1 - ref, x2 - ref).sum(axis=0)


@pytest.mark.parametrize("character, mobility, maxdt", [(90.0, 2600.0, 1e-12), (0.0, 20.0, 1e-10)])
def test_straight_line_moves_at_the_mobility_law_speed(character, mobility, maxdt):
    tau = 50e6
    t = line_direction(B, PLANE, character)
    line = straight_line(200.0, t, B, PLANE, 8)
    # maxdt resolves the fastest line-tension (zig-zag) mode, M T k^2 dt < 1, so round-off does not grow.
    sim = Simulation(line, LineTensionModel(W), BCCLinearMobility(), TrapezoidIntegrator(maxdt=maxdt, rtol=0.1),
                     StressControl(shear_stress(tau, B, PLANE)), NO_TOPOLOGY)
    sim.run(max_steps=200, progress=False)
    displacement = sim.network.cell.minimum_image(sim.network.positions - line.positions)
    glide_direction = np.cross(PLANE, t)  # PK force direction n x xi for tau > 0 (see shear_stress)
    expected = mobility * tau * 1.0 * sim.time  # V = M tau b, |b| = 1
    assert expected > 10.0
    # Exact up to round-off amplified by the drag matrix's condition number (B_climb / B_line ~ 1e9).
    assert np.allclose(displacement, expected * glide_direction, rtol=0, atol=1e-6 * expected)


def test_glide_loop_shrinks_below_and_expands_above_its_line_tension_stress():
    """Equilibrium of a circular loop: tau_c b = E_bar / R with E_bar the mean core energy per length."""
    radius = 60.0
    loop = circular_loop(np.zeros(3), radius, PLANE, B, 48, Cell.cubic(1000.0, centered=True))
    e_bar = core_energy(loop, W.Ec, W.nu) / loop.total_length()
    tau_c = e_bar / radius
    areas = {}
    # The PK force tau b (n x xi) points inward on a loop whose line sense is counter-clockwise about n
    # (circular_loop's convention) for tau > 0: expansion needs tau < 0.
    for factor in (-0.5, -2.0):
        sim = Simulation(loop, LineTensionModel(W), GlideMobility(M=1000.0), EulerIntegrator(maxdt=1e-12),
                         StressControl(shear_stress(factor * tau_c, B, PLANE)), NO_TOPOLOGY)
        sim.run(max_steps=20, progress=False)
        areas[factor] = np.linalg.norm(loop_area_vector(sim.network))
    a0 = np.linalg.norm(loop_area_vector(loop))
    assert areas[-0.5] < a0 < areas[-2.0]


# ----------------------------------------------------------------------------- topology in the loop
from scipy.sparse import coo_matrix  # noqa: E402
from scipy.sparse.csgraph import connected_components  # noqa: E402

from ddml_engine.dynamics.configs import frank_read_source  # noqa: E402
from ddml_engine.forces.model import ElasticModel  # noqa: E402
from ddml_engine.network import JUNCTION_100, PINNED_NODE, DislocationNetwork  # noqa: E402


def free_components(network) -> int:
    """Number of connected components without a pinned node (emitted loops)."""
    n = network.num_nodes
    graph = coo_matrix((np.ones(network.num_segments), tuple(network.segments.T)), shape=(n, n))
    count, labels = connected_components(graph, directed=False)
    pinned = np.zeros(count, bool)
    pinned[labels[network.constraints == PINNED_NODE]] = True
    return int(np.sum(~pinned))


@pytest.mark.parametrize("factor, emits", [(0.8, False), (2.0, True)])
def test_frank_read_source_emits_a_loop_only_above_its_critical_stress(factor, emits):
    """Edge source of length L = 60 b in W, line-tension model: the analytic estimate of the critical stress is
    tau_FR = 2 E_bar / (b L) = 1.10 GPa (semicircle of radius L/2, E_bar = Ec (1/2 + 1/(2(1 - nu))) the mean core
    energy per length). Below (0.8 tau_FR) the source bows to a stable shape; above (2 tau_FR) it wraps around its
    pinning points, the arms annihilate behind them and a closed loop detaches (found between 0.8 and 1.2 tau_FR)."""
    length = 60.0
    t = line_direction(B, PLANE, 90.0)
    source = frank_read_source(Cell.cubic(2000.0, centered=True), np.zeros(3), length, t, B, PLANE, 8)
    tau_fr = 2.0 * W.Ec * (0.5 + 0.5 / (1.0 - W.nu)) / length
    assert tau_fr == pytest.approx(1.10e9, rel=0.01)
    sim = Simulation(source, LineTensionModel(W), GlideMobility(M=1000.0), TrapezoidIntegrator(maxdt=1e-12, rtol=0.5),
                     StressControl(shear_stress(-factor * tau_fr, B, PLANE)),
                     TopologySettings(maxseg=6.0, minseg=1.5, rann=1.0, min_loop_length=5.0))
    glide = np.cross(PLANE, t)
    emitted, heights = False, {}
    for step in range(1000 if emits else 700):
        sim.step()
        heights[step] = np.abs(sim.network.cell.minimum_image(sim.network.positions) @ glide).max()
        if step % 50 == 49 and free_components(sim.network):
            emitted = True
            break
    sim.network.validate()
    assert emitted == emits
    if not emits:  # bowed out to a stable, bounded shape that no longer grows
        assert heights[699] < length
        assert abs(heights[699] - heights[399]) < 0.05 * length


def test_pinned_back_segments_of_a_frank_read_circuit_stay_whole():
    """A Frank-Read source A->B closed by pinned back segments B->C->D->A (C, D offset 40 b along the glide-plane
    normal, every segment longer than maxseg). Refinement must leave segments between two pinned nodes whole (as
    ExaDiS does): a node inserted in the back segment C-D, which is as long as the source and on a parallel plane,
    would make it a second source. So after the source has emitted, the network holds 2 components: the circuit
    and one loop (3 when C-D is refined)."""
    length, h = 60.0, 40.0
    t = line_direction(B, PLANE, 90.0)
    source = frank_read_source(Cell.cubic(2000.0, centered=True), np.zeros(3), length, t, B, PLANE, 8)
    a, b = source.positions[0], source.positions[-1]
    n = source.num_nodes
    positions = np.vstack([source.positions, b + h * PLANE, a + h * PLANE])  # C = n, D = n + 1
    side = np.cross(B, PLANE) / np.linalg.norm(np.cross(B, PLANE))
    segments = np.vstack([source.segments, [[n - 1, n], [n, n + 1], [n + 1, 0]]])
    planes = np.vstack([source.planes, side, PLANE, side])
    constraints = np.concatenate([source.constraints, [PINNED_NODE, PINNED_NODE]])
    circuit = DislocationNetwork(source.cell, positions, segments, np.tile(B, (len(segments), 1)), planes,
                                 constraints)
    circuit.validate()
    tau_fr = 2.0 * W.Ec * (0.5 + 0.5 / (1.0 - W.nu)) / length
    sim = Simulation(circuit, LineTensionModel(W), GlideMobility(M=1000.0), TrapezoidIntegrator(maxdt=1e-12, rtol=0.5),
                     StressControl(shear_stress(-2.0 * tau_fr, B, PLANE)),
                     TopologySettings(maxseg=6.0, minseg=1.5, rann=1.0, min_loop_length=5.0))
    for step in range(1000):
        sim.step()
        if step % 50 == 49 and free_components(sim.network):
            break
    net = sim.network
    net.validate()
    pinned = net.constraints == PINNED_NODE
    back = pinned[net.segments[:, 0]] & pinned[net.segments[:, 1]]
    assert int(back.sum()) == 3 and np.allclose(np.sort(net.segment_lengths()[back]), [h, h, length])
    graph = coo_matrix((np.ones(net.num_segments), tuple(net.segments.T)), shape=(net.num_nodes,) * 2)
    assert free_components(net) == 1 and connected_components(graph, directed=False)[0] == 2


def test_edge_dipole_in_one_glide_plane_attracts_and_annihilates():
    """Two infinite edge lines of opposite b in the same glide plane attract elastically and annihilate."""
    t = line_direction(B, PLANE, 90.0)
    glide = np.cross(PLANE, t)
    one = straight_line(100.0, t, B, PLANE, 6, width=400.0, center=np.zeros(3))
    two = straight_line(100.0, t, -B, PLANE, 6, width=400.0, center=8.0 * glide)
    pair = DislocationNetwork.concatenate([one, two])
    sim = Simulation(pair, ElasticModel(W), GlideMobility(M=1000.0), TrapezoidIntegrator(maxdt=1e-12, rtol=0.3),
                     StressControl(np.zeros(6)), TopologySettings(maxseg=30.0, minseg=5.0, rann=1.0))
    for _ in range(400):
        sim.step()
        if sim.network.num_segments == 0:
            break
    assert sim.network.num_segments == 0


def test_crossing_bcc_lines_zip_a_100_junction():
    """b1 = 1/2[111] on (01-1) and b2 = 1/2[11-1] on (101), ends pinned, crossing at 30 deg to their planes'
    intersection [1-1-1], with line senses such that b1.b2 < 0 along the crossing (attractive; the same lines
    with parallel senses repel): elastic forces and the BCC law zip a [001] = b1 - b2 junction along [1-1-1].
    Frank's rule holds throughout."""
    s3 = np.sqrt(3.0)
    cell = Cell.cubic(400.0)
    n1, n2 = np.array([0, 1, -1]) / np.sqrt(2), np.array([1, 0, 1]) / np.sqrt(2)
    xi = np.array([1, -1, -1]) / s3
    th = np.radians(30.0)
    t1 = np.cos(th) * xi + np.sin(th) * np.cross(n1, xi)
    t2 = np.cos(th) * xi - np.sin(th) * np.cross(n2, xi)
    center = np.full(3, 200.0)
    gap = 0.3 * np.cross(t1, t2) / np.linalg.norm(np.cross(t1, t2))
    lines = [frank_read_source(cell, center, 120.0, t1, np.array([1, 1, 1]) / s3, n1, 24),
             frank_read_source(cell, center + gap, 120.0, -t2, np.array([1, 1, -1]) / s3, n2, 24)]
    network = DislocationNetwork.concatenate(lines)
    sim = Simulation(network, ElasticModel(W), BCCLinearMobility(), TrapezoidIntegrator(maxdt=1e-12, rtol=0.3),
                     StressControl(np.zeros(6)), TopologySettings(maxseg=10.0, minseg=2.0, rann=1.0))
    lengths = []
    for _ in range(60):
        sim.step()
        sim.network.validate()
        junction = sim.network.segment_classes() == JUNCTION_100
        lengths.append(sim.network.segment_lengths()[junction].sum())
    junction = np.flatnonzero(sim.network.segment_classes() == JUNCTION_100)
    assert len(junction) >= 1
    assert np.allclose(np.sort(np.abs(sim.network.burgers[junction]) * s3, axis=1)[:, 2], 2.0)
    direction = sim.network.segment_vectors()[junction].sum(0)
    assert abs(direction @ xi) / np.linalg.norm(direction) > 0.99
    assert lengths[-1] > lengths[len(lengths) // 4] > 0.0  # the junction zips: its length grows
