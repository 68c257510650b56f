"""Mobility laws: linear BCC drag matrix (ExaDiS BCC_0B) and isotropic glide mobility."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from ddml_engine.forces.local import applied_forces, core_forces, shear_stress
from ddml_engine.geometry import circular_loop, line_direction, line_frame, straight_line
from ddml_engine.mobility import BCCLinearMobility, GlideMobility, Mobility
from ddml_engine.network import PINNED_NODE, Cell, DislocationNetwork

B1 = np.array([1.0, 1.0, 1.0]) / np.sqrt(3.0)
B2 = np.array([1.0, -1.0, -1.0]) / np.sqrt(3.0)
N1 = np.array([1.0, -1.0, 0.0]) / np.sqrt(2.0)   # glide plane of B1
N2 = np.array([1.0, 0.0, 1.0]) / np.sqrt(2.0)    # glide plane of B2
TJ = np.array([-1.0, -1.0, 1.0]) / np.sqrt(3.0)  # N1 x N2 direction: a planar B1 + B2 = [100] junction
ME, MS, MC = 2600.0, 20.0, 1e-4


def line_force(net, tau, b, n):
    stress = shear_stress(tau, b, n)
    return applied_forces(net, stress) + core_forces(net, 1.2e9, 0.3)


# ----------------------------------------------------------------------------- straight lines
@pytest.mark.parametrize("aligned,rtol", [(True, 1e-10), (False, 1e-10)])
@pytest.mark.parametrize("character", [90.0, 0.0, 30.0, 70.0])
def test_straight_line_glides_at_M_tau_b(character, aligned, rtol):
    """V = tau b / Bg(theta), 1/Bg = sqrt(Me^2 sin^2 + Ms^2 cos^2): Me for edge, Ms for screw.

    Holds in the crystal frame too: the law assembles each node's drag in the frame of one of its arms.
    """
    tau, length, n_nodes = 3e7, 300.0, 10
    t = line_direction(B1, N1, character)
    rot = line_frame(t, N1) if aligned else np.eye(3)
    net = straight_line(length, t, B1, N1, n_nodes, aligned=aligned)
    v = BCCLinearMobility(ME, MS, MC).velocities(net, line_force(net, tau, rot @ B1, rot @ N1))
    theta = np.deg2rad(character)
    m = np.sqrt(ME**2 * np.sin(theta) ** 2 + MS**2 * np.cos(theta) ** 2)
    expected = m * tau * 1.0 * (rot @ np.cross(N1, t))
    assert np.allclose(v, expected, rtol=0, atol=rtol * np.linalg.norm(expected))


@pytest.mark.parametrize("aligned", [True, False])
def test_climb_force_on_edge_line_gives_Mclimb_F_over_L(aligned):
    length, n_nodes, fc = 200.0, 8, 5e9
    t = line_direction(B1, N1, 90.0)
    rot = line_frame(t, N1) if aligned else np.eye(3)
    net = straight_line(length, t, B1, N1, n_nodes, aligned=aligned)
    f = np.tile(fc * (rot @ N1), (n_nodes, 1))
    v = BCCLinearMobility(ME, MS, MC).velocities(net, f)
    expected = MC * fc / (length / n_nodes)
    # Normal to the line: exactly Mclimb F / L_node. Along the line the law is 100 Me / Mclimb = 2.6e9 times more
    # mobile than in climb, so a round-off tilt of the line (~1e-16) shows up as |v.t| ~ 1e-7 |v|: physical
    # sensitivity of the law, harmless (tangential motion only re-parametrises the line). Likewise the round-off
    # glide component of the input force (~eps |F|) is amplified by Me / Mclimb = 2.6e7 in the glide velocity.
    t_lab = rot @ t
    v_normal = v - np.outer(v @ t_lab, t_lab)
    assert np.allclose(v_normal, expected * (rot @ N1), rtol=0, atol=1e-8 * expected)
    assert np.abs(v @ t_lab).max() < 1e-5 * expected
    # A screw has no climb direction: every direction normal to it has the screw drag.
    screw = straight_line(length, B1, B1, N1, n_nodes)
    v = BCCLinearMobility(ME, MS, MC).velocities(screw, np.tile(fc * N1, (n_nodes, 1)))
    assert np.allclose(v, MS * fc * N1 / 25.0, rtol=0, atol=1e-10 * MS * fc / 25.0)


def test_junction_line_has_climb_drag_in_all_directions():
    """A two-armed node on a <100> junction line: isotropic Bclimb (ExaDiS `conn.num == 2` junction branch)."""
    b100 = np.array([2.0, 0.0, 0.0]) / np.sqrt(3.0)
    n = np.array([0.0, 1.0, 1.0]) / np.sqrt(2.0)
    net = straight_line(120.0, [0.0, 1.0, -1.0], b100, n, 6)
    f = np.random.default_rng(0).normal(size=(6, 3)) * 1e9
    v = BCCLinearMobility(ME, MS, MC).velocities(net, f)
    assert np.allclose(v, MC * f / 20.0, rtol=1e-10)


# ----------------------------------------------------------------------------- junction networks
def junction_network(planar: bool = True) -> DislocationNetwork:
    """Two 1/2<111> lines zipped into a [100] junction A-B; arm ends pinned; one discretisation node per arm."""
    tj = TJ if planar else (TJ + 0.4 * N1) / np.linalg.norm(TJ + 0.4 * N1)
    a = np.array([1.0, 2.0, -1.0])
    b = a + 25.0 * tj
    d1, d2 = np.array([1.0, 1.0, 0.0]) / np.sqrt(2), np.array([1.0, 0.0, -1.0]) / np.sqrt(2)
    pos = [a, b, a + 20 * d1, a + 40 * d1, a + 20 * d2, a + 40 * d2, b - 20 * d1, b - 40 * d1, b - 20 * d2,
           b - 40 * d2 + [0.0, 3.0, 0.0]]
    segs = [(0, 1), (3, 2), (2, 0), (5, 4), (4, 0), (1, 6), (6, 7), (1, 8), (8, 9)]
    burg = [B1 + B2, B1, B1, B2, B2, B1, B1, B2, B2]
    planes = [np.cross(B1, B2), N1, N1, N2, N2, N1, N1, N2, N2]
    cons = np.zeros(len(pos), np.int64)
    cons[[3, 5, 7, 9]] = PINNED_NODE
    return DislocationNetwork(Cell.cubic(400.0, centered=True), np.array(pos), segs, burg, planes, cons)


def loops_network(rng) -> DislocationNetwork:
    cell = Cell.cubic(300.0, centered=True)
    glide = circular_loop([10.0, -20.0, 5.0], 40.0, N1, B1, 12, cell)
    prismatic = circular_loop([-60.0, 50.0, 30.0], 25.0, B2, B2, 9, cell)
    net = DislocationNetwork.concatenate([glide, prismatic, junction_network(False)])
    net.positions[:21] += rng.normal(scale=1.0, size=(21, 3))
    net.constraints[[3 + 21, 5 + 21, 7 + 21, 9 + 21]] = PINNED_NODE
    return net


def reference_velocities(mob: BCCLinearMobility, net: DislocationNetwork, forces: np.ndarray) -> np.ndarray:
    """Node-by-node transcription of ExaDiS MobilityBCC0b::node_velocity and BCC_binary_junction_node."""
    offsets, arm_seg, arm_sign = net.arms()
    vec = net.segment_vectors()
    jtol = 1.0 + mob.junction_tol
    out = np.zeros((net.num_nodes, 3))
    for k in range(net.num_nodes):
        arms = range(offsets[k], offsets[k + 1])
        if len(arms) < 2 or net.constraints[k] == PINNED_NODE:
            continue
        geo = [(arm_sign[a] * vec[arm_seg[a]], arm_sign[a] * net.burgers[arm_seg[a]]) for a in arms]
        # binary junction node?
        linejunc, tj = False, np.zeros(3)
        if len(geo) == 3:
            juncs = [d / np.linalg.norm(d) for d, b in geo if np.linalg.norm(b) > jtol]
            ndirs = [np.cross(b, d / np.linalg.norm(d)) for d, b in geo if np.linalg.norm(b) <= jtol]
            ndirs = [x for x in ndirs if x @ x > 1e-2]
            if len(juncs) == 1:
                tj = juncs[0]
                if len(ndirs) == 2:
                    c = np.cross(ndirs[0], ndirs[1])
                    planar = abs(abs(c @ tj) / np.linalg.norm(c) - 1) < 1 - np.cos(np.deg2rad(5))
                elif len(ndirs) == 1:
                    planar = abs(ndirs[0] @ tj) < np.sin(np.deg2rad(5))
                else:
                    planar = True
                linejunc = planar or forces[k] @ tj > 0
        drag = np.zeros((3, 3))
        for d, b in geo:
            length = np.linalg.norm(d)
            t = d / length
            if np.linalg.norm(b) > jtol:
                if linejunc:
                    drag += 0.5 * length * mob.Bline * np.eye(3)
                elif len(geo) == 2:
                    drag += 0.5 * length * mob.Bec * np.eye(3)
                else:
                    drag += 0.5 * length * (mob.Bec * np.eye(3) + (mob.Bline - mob.Bec) * np.outer(t, t))
                continue
            drag += 0.5 * length * (mob.Bs * np.eye(3) + (mob.Bline - mob.Bs) * np.outer(t, t))
            c2 = (t @ b) ** 2 / (b @ b)
            if 1 - c2 > 1e-12:
                nr = np.cross(b, t) / np.sqrt((1 - c2) * (b @ b))
                mr = np.cross(nr, t)
                if linejunc:
                    nr = nr - (nr @ tj) * tj
                    nr /= np.linalg.norm(nr)
                bg = 1 / np.sqrt(mob.Be**-2 + (mob.Bs**-2 - mob.Be**-2) * c2)
                bc = np.sqrt(mob.Bec**2 + (mob.Bs**2 - mob.Bec**2) * c2)
                drag += 0.5 * length * ((bc - mob.Bs) * np.outer(nr, nr) + (bg - mob.Bs) * np.outer(mr, mr))
        out[k] = np.linalg.solve(drag, forces[k])
    return out


@pytest.mark.parametrize("planar,sign", [(True, 1.0), (False, 1.0), (False, -1.0)])
def test_vectorised_law_matches_node_by_node_transcription(planar, sign):
    rng = np.random.default_rng(4)
    net = junction_network(planar)
    f = rng.normal(size=(net.num_nodes, 3)) * 1e9
    f[:2] = sign * np.abs(f[:2] @ TJ)[:, None] * TJ + 0.3 * f[:2]  # push junction nodes along +-t_j
    mob = BCCLinearMobility(ME, MS, MC)
    v = mob.velocities(net, f)
    ref = reference_velocities(mob, net, f)
    assert np.allclose(v, ref, rtol=1e-7, atol=1e-9 * np.abs(ref).max())
    assert np.all(v[[3, 5, 7, 9]] == 0)
    net2 = loops_network(rng)
    f2 = rng.normal(size=(net2.num_nodes, 3)) * 1e9
    v2, ref2 = mob.velocities(net2, f2), reference_velocities(mob, net2, f2)
    assert np.allclose(v2, ref2, rtol=1e-7, atol=1e-9 * np.abs(ref2).max())


def test_binary_junction_nodes_run_along_the_junction():
    """Planar junction nodes are 'line junction' nodes whatever the force; non-planar ones only when unzipping."""
    mob = BCCLinearMobility(ME, MS, MC)
    f_zip = np.zeros((10, 3))
    f_zip[0] = -1e9 * TJ  # node A pushed away from B: zipping for A
    f_unzip = -f_zip
    planar = junction_network(True)
    assert np.allclose(mob.drag_matrices(planar, f_zip)[0], mob.drag_matrices(planar, f_unzip)[0], rtol=1e-14)
    skew = junction_network(False)
    d_zip, d_unzip = mob.drag_matrices(skew, f_zip)[0], mob.drag_matrices(skew, f_unzip)[0]
    # Zipping a non-planar junction: every direction carries climb drag (~1e4 Pa s * 12 b): the node is locked.
    # Unzipping it: the junction arm loses its climb drag and the node can run along the junction.
    assert np.linalg.eigvalsh(d_zip).min() > 1e3
    assert np.linalg.eigvalsh(d_unzip).min() < 1.0
    assert np.linalg.eigvalsh(mob.drag_matrices(planar, f_zip)[0]).min() < 1.0
    off = BCCLinearMobility(ME, MS, MC, binary_junctions=False)
    assert np.allclose(off.drag_matrices(skew, f_zip)[0], d_zip)


# ----------------------------------------------------------------------------- invariances and special nodes
def test_pinned_and_dangling_nodes_do_not_move():
    t = line_direction(B1, N1, 90.0)
    net = straight_line(200.0, t, B1, N1, 8)
    f = line_force(net, 1e8, B1, N1)
    net.constraints[3] = PINNED_NODE
    v = BCCLinearMobility().velocities(net, f)
    assert np.all(v[3] == 0) and np.all(np.linalg.norm(v[[0, 1, 2, 4, 5, 6, 7]], axis=1) > 0)
    open_chain = DislocationNetwork(net.cell, net.positions, net.segments[:-1], net.burgers[:-1], net.planes[:-1])
    v = BCCLinearMobility().velocities(open_chain, f)
    assert np.all(v[[0, 7]] == 0) and np.all(np.linalg.norm(v[1:7], axis=1) > 0)


def test_velocities_invariant_under_relabelling_and_segment_flips():
    rng = np.random.default_rng(5)
    net = loops_network(rng)
    f = rng.normal(size=(net.num_nodes, 3)) * 1e9
    mob = BCCLinearMobility()
    v = mob.velocities(net, f)
    perm = rng.permutation(net.num_nodes)
    relabelled = net.relabelled(perm)
    f_perm = np.empty_like(f)
    f_perm[perm] = f
    assert np.allclose(mob.velocities(relabelled, f_perm)[perm], v, rtol=1e-8, atol=1e-10 * np.abs(v).max())
    flip = rng.random(net.num_segments) < 0.5
    flipped = net.copy()
    flipped.segments[flip] = flipped.segments[flip][:, ::-1]
    flipped.burgers[flip] *= -1
    assert np.allclose(mob.velocities(flipped, f), v, rtol=1e-8, atol=1e-10 * np.abs(v).max())


CUBIC_OPS = [Rotation.from_rotvec(np.pi / 2 * np.array([0.0, 0.0, 1.0])).as_matrix(),  # 4-fold about [001]
             Rotation.from_rotvec(2 * np.pi / 3 * np.ones(3) / np.sqrt(3)).as_matrix(),  # 3-fold about [111]
             Rotation.from_rotvec(np.pi * np.array([1.0, 1.0, 0.0]) / np.sqrt(2)).as_matrix()]  # 2-fold about [110]


@pytest.mark.parametrize("rot", CUBIC_OPS + [Rotation.random(random_state=7).as_matrix()])
def test_bcc_law_is_rotation_covariant(rot):
    """BCC_0B uses only b, t and |b| (no crystal axes): rotating network and forces rotates the velocities.

    This holds for the cubic symmetry operations and, for this law, for any rotation (the last case).
    """
    rng = np.random.default_rng(6)
    net = loops_network(rng)
    f = rng.normal(size=(net.num_nodes, 3)) * 1e9
    mob = BCCLinearMobility()
    v = mob.velocities(net, f)
    cell = Cell(rot @ net.cell.matrix, rot @ net.cell.origin)
    rotated = DislocationNetwork(cell, net.positions @ rot.T, net.segments, net.burgers @ rot.T,
                                 net.planes @ rot.T, net.constraints)
    assert np.allclose(mob.velocities(rotated, f @ rot.T), v @ rot.T, rtol=1e-7, atol=1e-9 * np.abs(v).max())


def test_friction_and_velocity_cap():
    t = line_direction(B1, N1, 90.0)
    net = straight_line(100.0, t, B1, N1, 10)
    tau = 5e7
    f = line_force(net, tau, B1, N1)
    plain = BCCLinearMobility().velocities(net, f)
    stuck = BCCLinearMobility(Fedge=1.01 * tau).velocities(net, f)
    assert np.all(stuck == 0)
    slowed = BCCLinearMobility(Fedge=0.4 * tau, Fscrew=1e12).velocities(net, f)
    assert np.allclose(slowed, 0.6 * plain, rtol=1e-8)
    bm = 2.74e-10
    speed = np.linalg.norm(BCCLinearMobility(vmax=3400.0, burgers_m=bm).velocities(net, 200 * f), axis=1) * bm
    assert np.all(speed < 3400.0) and np.all(speed > 3399.0)  # uncapped: 200 * 2600 * 5e7 * bm = 7124 m/s
    slow = BCCLinearMobility(vmax=3400.0, burgers_m=bm).velocities(net, 20 * f)  # 712 m/s: factor 1 - 1.6e-8
    assert np.allclose(slow, 20 * plain, rtol=1e-7) and not np.allclose(slow, 20 * plain, rtol=1e-9, atol=0)
    with pytest.raises(ValueError, match="burgers_m"):
        BCCLinearMobility(vmax=3400.0)
    with pytest.raises(ValueError, match="Mclimb"):
        BCCLinearMobility(Mclimb=0.0)
    with pytest.raises(ValueError, match="shape"):
        BCCLinearMobility().velocities(net, f[:3])


# ----------------------------------------------------------------------------- glide mobility
def test_glide_mobility_keeps_nodes_in_their_glide_planes():
    rng = np.random.default_rng(8)
    net = loops_network(rng)
    f = rng.normal(size=(net.num_nodes, 3)) * 1e9
    mob = GlideMobility(M=1000.0, Mscrew=300.0)
    assert isinstance(mob, Mobility) and isinstance(BCCLinearMobility(), Mobility)
    v = mob.velocities(net, f)
    offsets, arm_seg, _ = net.arms()
    for k in range(net.num_nodes):
        normals = net.planes[arm_seg[offsets[k]:offsets[k + 1]]]
        assert np.all(np.abs(normals @ v[k]) < 1e-9 * (np.abs(v).max() + 1))
    # Three-armed junction nodes whose arms span three planes cannot glide.
    assert np.abs(v[[21, 22]]).max() < 1e-9 * np.abs(v).max()
    # A straight line with its own plane moves at M(theta) tau b, mobility linear in |cos theta|.
    for character, m in ((90.0, 1000.0), (0.0, 300.0), (60.0, 1000.0 + (300.0 - 1000.0) * 0.5)):
        t = line_direction(B1, N1, character)
        line = straight_line(100.0, t, B1, N1, 5)
        v = mob.velocities(line, line_force(line, 1e7, B1, N1) + 1e9 * N1)  # climb component is projected out
        assert np.allclose(v, m * 1e7 * np.cross(N1, t), rtol=1e-10, atol=1e-6)


def test_glide_mobility_two_planes_give_their_intersection():
    net = junction_network(True)
    f = np.zeros((10, 3))
    f[2] = [1e9, -2e9, 3e9]  # discretisation node of line 1: stays in N1
    v = GlideMobility(M=100.0).velocities(net, f)
    assert abs(v[2] @ N1) < 1e-9 * np.linalg.norm(v[2]) and np.linalg.norm(v[2]) > 0
    # Junction node A with arms on N1, N2 and a junction plane containing t_j: it may move only along t_j.
    net.planes[0] = np.cross(TJ, [1.0, 0.0, 0.0])
    f[0] = [1e9, 2e9, -5e8]
    v = GlideMobility(M=100.0).velocities(net, f)
    assert np.allclose(np.cross(v[0], TJ), 0.0, atol=1e-9 * np.linalg.norm(v[0]))


def test_per_node_solver_matches_lapack_on_ill_conditioned_drag():
    """The numba 3x3 solves (partial pivoting, in each node's frame) agree with LAPACK on the same systems, at
    junction nodes whose drag spans Bline ... Bec (condition ~1e9) included."""
    from ddml_engine.mobility._bcc_kernels import solve_in_frames

    rng = np.random.default_rng(9)
    mob = BCCLinearMobility(ME, MS, MC)
    for net in (junction_network(True), junction_network(False), loops_network(rng)):
        f = rng.normal(size=(net.num_nodes, 3)) * 1e9
        local, frames = mob._assemble(net, f)
        active = np.einsum("nii->n", local) > 0
        v = solve_in_frames(local, frames, f, active)
        f_local = np.einsum("nij,nj->ni", frames[active], f[active])
        ref = np.einsum("nji,nj->ni", frames[active], np.linalg.solve(local[active], f_local[:, :, None])[:, :, 0])
        scale = np.linalg.norm(ref, axis=1)[:, None]
        assert np.allclose(v[active], ref, rtol=0, atol=1e-9 * scale.max())
        assert np.all(np.abs(v[active] - ref) <= 1e-9 * scale + 1e-12)
