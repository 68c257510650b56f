"""Spectral Nye tensor field (ddml_engine.nye): conservation, invariances, physics and gradients."""
import math

import numpy as np
import pytest
import torch

from ddml_engine import nye
from ddml_engine.network import Cell, DislocationNetwork

F64 = torch.float64


def t64(a):
    return torch.as_tensor(np.asarray(a, float), dtype=F64)


def polygon_loop(center, radius=5.0, sides=7, tilt=0.4, seed=0):
    """Closed, non-planar polygon (x1, x2) with nodes around center."""
    rng = np.random.default_rng(seed)
    th = np.sort(rng.uniform(0, 2 * np.pi, sides))
    p = np.stack([radius * np.cos(th), radius * np.sin(th), tilt * radius * np.sin(2 * th)], 1) + np.asarray(center)
    return p, np.roll(p, -1, axis=0)


def skewed_cell():
    H = np.array([[24.0, 3.0, 0.0], [0.0, 22.0, 2.5], [1.0, 0.0, 26.0]])
    return H, np.array([-3.0, 1.5, 0.5])


B = np.array([1.0, -1.0, 1.0]) / np.sqrt(3.0)


def loop_tensors(center=(8.0, 9.0, 11.0), **kw):
    x1, x2 = polygon_loop(center, **kw)
    return t64(x1), t64(x2), t64(np.tile(B, (len(x1), 1)))


# ----------------------------------------------------------------------------- conservation and invariances
def test_cell_integral_equals_sum_of_b_outer_segment_vectors():
    H, o = skewed_cell()
    rng = np.random.default_rng(1)
    x1 = rng.uniform(-10, 30, (9, 3))
    x2 = x1 + rng.normal(0, 6, (9, 3))  # open, unwrapped segments: the k = 0 term still integrates them exactly
    b = rng.normal(size=(9, 3))
    field = nye.nye_field(t64(x1), t64(x2), t64(b), t64(H), t64(o), (10, 12, 9), sigma=2.0)
    integral = field.mean(dim=(0, 1, 2)).numpy() * abs(np.linalg.det(H))
    expected = np.einsum("mi,mj->ij", b, x2 - x1)
    np.testing.assert_allclose(integral, expected, rtol=0, atol=1e-12 * np.abs(expected).max())


def test_splitting_segments_into_collinear_pieces_leaves_field_unchanged():
    H, o = skewed_cell()
    x1, x2, b = loop_tensors()
    cuts = torch.tensor([0.0, 0.13, 0.5, 0.77, 1.0], dtype=F64)
    p1 = (x1[:, None] + cuts[None, :-1, None] * (x2 - x1)[:, None]).reshape(-1, 3)
    p2 = (x1[:, None] + cuts[None, 1:, None] * (x2 - x1)[:, None]).reshape(-1, 3)
    pb = b.repeat_interleave(len(cuts) - 1, dim=0)
    whole = nye.nye_field(x1, x2, b, t64(H), t64(o), 12, sigma=2.0)
    split = nye.nye_field(p1, p2, pb, t64(H), t64(o), 12, sigma=2.0)
    assert whole.abs().max() > 1e-3
    torch.testing.assert_close(split, whole, rtol=0, atol=1e-13 * whole.abs().max().item())


def test_translation_by_grid_vector_rolls_the_field_exactly():
    H, o = skewed_cell()
    n = (12, 10, 8)
    x1, x2, b = loop_tensors()
    shift_idx = np.array([3, -2, 5])
    shift = t64(H @ (shift_idx / np.array(n)))
    a = nye.nye_field(x1, x2, b, t64(H), t64(o), n, sigma=2.0)
    moved = nye.nye_field(x1 + shift, x2 + shift, b, t64(H), t64(o), n, sigma=2.0)
    rolled = torch.roll(a, shifts=tuple(int(s) for s in shift_idx), dims=(0, 1, 2))
    torch.testing.assert_close(moved, rolled, rtol=0, atol=1e-13 * a.abs().max().item())
    assert (moved - a).abs().max() > 1e-3 * a.abs().max()  # the shift is visible


def test_general_translation_is_a_phase_shift_in_fourier_space():
    H, o = skewed_cell()
    n = 10
    x1, x2, b = loop_tensors()
    shift = t64([1.234, -4.56, 7.89])
    A = nye.nye_field_fourier(x1, x2, b, t64(H), t64(o), n, sigma=2.0)
    moved = nye.nye_field_fourier(x1 + shift, x2 + shift, b, t64(H), t64(o), n, sigma=2.0)
    mx, my, mz, _ = nye.wave_indices(n)
    m = torch.stack(torch.meshgrid(mx, my, mz, indexing="ij"), -1)
    k = 2 * math.pi * m @ torch.linalg.inv(t64(H))  # k = 2 pi H^-T m, as rows: m^T H^-1
    phase = torch.exp(-1j * (k @ shift))
    torch.testing.assert_close(moved, A * phase[..., None, None], rtol=0, atol=1e-12 * A.abs().max().item())


def test_origin_and_periodic_image_of_a_node_do_not_matter():
    """Moving the origin by a cell vector, or a whole loop by a cell vector, leaves alpha unchanged."""
    H, o = skewed_cell()
    x1, x2, b = loop_tensors()
    ref = nye.nye_field(x1, x2, b, t64(H), t64(o), 8, sigma=2.0)
    lattice = t64(H @ np.array([1, -2, 1]))
    same1 = nye.nye_field(x1 + lattice, x2 + lattice, b, t64(H), t64(o), 8, sigma=2.0)
    same2 = nye.nye_field(x1, x2, b, t64(H), t64(o) - t64(H[:, 2]), 8, sigma=2.0)
    for other in (same1, same2):
        torch.testing.assert_close(other, ref, rtol=0, atol=1e-12 * ref.abs().max().item())


# ----------------------------------------------------------------------------- physics
def test_matches_real_space_quadrature_with_periodic_images():
    L, n, sigma = 20.0, 16, 2.5  # sigma = 2 grid spacings: spectral truncation ~ exp(-2 pi^2) of the peak
    H, o = np.eye(3) * L, np.array([-1.0, 2.0, 0.5])
    # a loop that crosses the cell boundary (unwrapped coordinates), plus an open segment
    p1, p2 = polygon_loop([17.0, 4.0, 12.0], radius=6.0, sides=6, seed=3)
    x1 = np.vstack([p1, [[2.0, 3.0, 4.0]]])
    x2 = np.vstack([p2, [[9.0, 6.0, -3.0]]])
    b = np.vstack([np.tile(B, (6, 1)), [[0.0, 0.0, 1.0]]])
    spectral = nye.nye_field(t64(x1), t64(x2), t64(b), t64(H), t64(o), n, sigma).numpy()
    pts = nye.grid_points(H, o, n).reshape(-1, 3)
    direct = nye.nye_field_direct(pts, x1, x2, b, H, sigma).reshape(spectral.shape)
    scale = np.abs(direct).max()
    assert scale > 1e-3
    assert np.abs(spectral - direct).max() < 1e-6 * scale


def test_closed_loop_is_divergence_free_and_open_segment_is_not():
    """d_j alpha_ij = 0 for closed loops: k_j A_ij(k) = 0 for every wave vector (Nye tensor has no sources)."""
    H, o = skewed_cell()
    n = 10
    mx, my, mz, _ = nye.wave_indices(n)
    m = torch.stack(torch.meshgrid(mx, my, mz, indexing="ij"), -1)
    k = (2 * math.pi * m @ torch.linalg.inv(t64(H))).to(torch.complex128)
    x1, x2, b = loop_tensors(center=(20.0, 1.0, 25.0))  # crosses boundaries
    A = nye.nye_field_fourier(x1, x2, b, t64(H), t64(o), n, sigma=1.5)
    div = torch.einsum("xyzij,xyzj->xyzi", A, k)
    size = (A.abs().amax(dim=(-2, -1)) * k.abs().sum(-1))
    assert div.abs().max() < 1e-12 * size.max()
    # control: an open segment has end sources, its divergence does not vanish
    A_open = nye.nye_field_fourier(x1[:1], x2[:1], b[:1], t64(H), t64(o), n, sigma=1.5)
    div_open = torch.einsum("xyzij,xyzj->xyzi", A_open, k)
    assert div_open.abs().max() > 1e-3 * (A_open.abs().amax(dim=(-2, -1)) * k.abs().sum(-1)).max()


def test_nonsingular_kernel_transform_matches_radial_integral():
    from scipy.integrate import quad
    a = 1.7
    w = lambda r: 15 * a**4 / (8 * np.pi * (r * r + a * a) ** 3.5)  # noqa: E731
    total = quad(lambda r: 4 * np.pi * r * r * w(r), 0, np.inf)[0]
    assert abs(total - 1.0) < 1e-9
    for k in (0.3, 1.0, 2.5):
        ref = quad(lambda r: 4 * np.pi * r * r * w(r) * np.sin(k * r) / (k * r), 0, np.inf, limit=400)[0]
        got = nye.kernel_fourier(torch.tensor(k, dtype=F64), a, "nonsingular").item()
        assert abs(got - ref) < 1e-8
    assert nye.kernel_fourier(torch.tensor(0.0, dtype=F64), a, "nonsingular").item() == 1.0


def test_nonsingular_kernel_conserves_integral_and_spreads_more_than_gaussian():
    H, o = skewed_cell()
    x1, x2, b = loop_tensors()
    g = nye.nye_field(x1, x2, b, t64(H), t64(o), 12, 1.5, kernel="gaussian")
    ns = nye.nye_field(x1, x2, b, t64(H), t64(o), 12, 1.5, kernel="nonsingular")
    torch.testing.assert_close(ns.mean((0, 1, 2)), g.mean((0, 1, 2)), rtol=0, atol=1e-14)
    assert not torch.allclose(ns, g)


# ----------------------------------------------------------------------------- loss, gradients, precision, batching
def test_parseval_loss_equals_grid_sum_of_squares():
    H, o = skewed_cell()
    x1, x2, b = loop_tensors()
    for n in (10, (9, 8, 7)):
        A = nye.nye_field_fourier(x1, x2, b, t64(H), t64(o), n, sigma=1.5)
        A2 = nye.nye_field_fourier(x1 + 0.7, x2 - t64([0.2, 0.5, 0.0]), b, t64(H), t64(o), n, sigma=1.5)
        grid = ((nye.fourier_to_grid(A, n) - nye.fourier_to_grid(A2, n)) ** 2).sum()
        loss = nye.nye_loss(A, A2, n)
        assert grid > 0
        torch.testing.assert_close(loss, grid, rtol=1e-12, atol=0)


def test_gradcheck_wrt_endpoints_and_burgers():
    H, o = skewed_cell()
    rng = np.random.default_rng(5)
    x1 = t64(rng.uniform(0, 20, (3, 3))).requires_grad_()
    x2 = (x1.detach() + t64(rng.normal(0, 4, (3, 3)))).requires_grad_()
    b = t64(rng.normal(size=(3, 3))).requires_grad_()

    def f(a, c, bb):
        return nye.nye_field(a, c, bb, t64(H), t64(o), 8, sigma=3.0, chunk_size=2)

    assert torch.autograd.gradcheck(f, (x1, x2, b), eps=1e-6, atol=1e-8, rtol=1e-6, fast_mode=True)
    # full Jacobian on a few segments of a tiny grid (one backward per output element)
    g = lambda a, c: nye.nye_field(a, c, b.detach()[:2], t64(H), t64(o), (4, 3, 2), sigma=4.0)  # noqa: E731
    assert torch.autograd.gradcheck(g, (x1[:2], x2[:2]), eps=1e-6, atol=1e-8, rtol=1e-6)


def test_recomputing_backward_matches_plain_autograd_and_tiny_segments_are_safe():
    H, o = skewed_cell()
    x1, x2, b = loop_tensors()
    x2 = torch.cat([x2, x1[:1] + 1e-9])  # a vanishing segment: sinc(m.f) at u -> 0
    x1 = torch.cat([x1, x1[:1]])
    b = torch.cat([b, b[:1]])
    weight = torch.randn(12, 12, 7, 3, 3, 2, dtype=F64, generator=torch.Generator().manual_seed(0))
    grads = []
    for line_sum in (None, nye._line_sum_autograd):
        a, c, bb = (t.clone().requires_grad_() for t in (x1, x2, b))
        A = nye.nye_field_fourier_batched(a, c, bb, None, t64(H), t64(o), 12, 1.5, chunk_size=3, _line_sum=line_sum)
        (torch.view_as_real(A[0]) * weight).sum().backward()
        grads.append([a.grad, c.grad, bb.grad])
    for g_custom, g_auto in zip(*grads):
        assert torch.isfinite(g_custom).all()
        torch.testing.assert_close(g_custom, g_auto, rtol=1e-10, atol=1e-12 * g_auto.abs().max().item())


def test_float32_agrees_with_float64():
    H, o = skewed_cell()
    for center in ((8.0, 9.0, 11.0), (200.0, -50.0, 30.0)):  # inside, and far outside the primary cell
        x1, x2, b = (t.float() for t in loop_tensors(center=center))
        f32 = nye.nye_field(x1, x2, b, t64(H), t64(o), 12, sigma=2.0)
        f64 = nye.nye_field(x1.double(), x2.double(), b.double(), t64(H), t64(o), 12, sigma=2.0)
        assert f32.dtype == torch.float32
        err = ((f32.double() - f64).abs().max() / f64.abs().max()).item()
        assert err < 1e-6, (center, err)


def test_batched_equals_individual_with_per_graph_cells():
    H, o = skewed_cell()
    cells = [H, np.eye(3) * 30.0, np.diag([20.0, 25.0, 18.0])]
    origins = [o, np.zeros(3), np.array([5.0, -5.0, 0.0])]
    loops = [loop_tensors(center=(8.0, 9.0, 11.0), seed=s, sides=4 + 2 * s) for s in range(3)]
    # interleave the graphs' segments to check the sort/scatter
    x1 = torch.cat([lp[0] for lp in loops])
    x2 = torch.cat([lp[1] for lp in loops])
    b = torch.cat([lp[2] for lp in loops])
    graph = torch.cat([torch.full((len(lp[0]),), g) for g, lp in enumerate(loops)])
    perm = torch.randperm(len(graph), generator=torch.Generator().manual_seed(1))
    batched = nye.nye_field_batched(x1[perm], x2[perm], b[perm], graph[perm], t64(np.stack(cells + [H])),
                                    t64(np.stack(origins + [o])), 10, 1.5, num_graphs=4, chunk_size=3)
    assert batched.shape == (4, 10, 10, 10, 3, 3)
    for g, (a, c, bb) in enumerate(loops):
        single = nye.nye_field(a, c, bb, t64(cells[g]), t64(origins[g]), 10, 1.5)
        torch.testing.assert_close(batched[g], single, rtol=0, atol=1e-13 * single.abs().max().item())
    assert batched[3].abs().max() == 0  # a graph without segments


def test_network_convenience_with_wrapped_nodes():
    cell = Cell.cubic(30.0, centered=True)
    p1, _ = polygon_loop([12.0, -13.0, 0.0], radius=6.0, sides=8, seed=2)  # crosses the +x and -y faces
    seg = np.stack([np.arange(8), np.roll(np.arange(8), -1)], 1)
    net = DislocationNetwork(cell, p1, seg, np.tile(B, (8, 1))).wrapped()
    field = nye.network_nye_field(net, 10, sigma=2.0)
    ref = nye.nye_field(t64(p1), t64(np.roll(p1, -1, 0)), t64(np.tile(B, (8, 1))), t64(cell.matrix),
                        t64(cell.origin), 10, 2.0).numpy()
    assert field.shape == (10, 10, 10, 3, 3)
    np.testing.assert_allclose(field, ref, rtol=0, atol=1e-12 * np.abs(ref).max())


def test_bad_inputs_raise_clear_errors():
    H, o = skewed_cell()
    x1, x2, b = loop_tensors()
    with pytest.raises(ValueError, match="must match"):
        nye.nye_field(x1, x2[:-1], b, t64(H), t64(o), 8, 1.0)
    with pytest.raises(ValueError, match="non-finite x2 at segments \\[2\\]"):
        bad = x2.clone()
        bad[2, 1] = float("nan")
        nye.nye_field(x1, bad, b, t64(H), t64(o), 8, 1.0)
    with pytest.raises(ValueError, match="singular"):
        nye.nye_field(x1, x2, b, torch.zeros(3, 3, dtype=F64), t64(o), 8, 1.0)
    with pytest.raises(ValueError, match="unknown kernel"):
        nye.nye_field(x1, x2, b, t64(H), t64(o), 8, 1.0, kernel="lorentz")
    with pytest.raises(ValueError, match="sigma"):
        nye.nye_field(x1, x2, b, t64(H), t64(o), 8, 0.0)
    with pytest.raises(ValueError, match="graph index outside"):
        nye.nye_field_batched(x1, x2, b, torch.full((len(x1),), 5), t64(H), t64(o), 8, 1.0, num_graphs=2)
    with pytest.raises(ValueError, match="periodic"):
        net = DislocationNetwork(Cell.cubic(30.0, periodic=(True, True, False)), x1.numpy(),
                                 np.stack([np.arange(7), np.roll(np.arange(7), -1)], 1), b.numpy())
        nye.network_nye_field(net, 8, 1.0)
