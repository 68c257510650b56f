"""numba kernel of the linear BCC drag law (see `ddml_engine.mobility.bcc` for the equations).

One pass over the nodes in CSR arm order (`DislocationNetwork.arms`): each node's binary-junction test, its frame
(rows t, n, m of its first non-zero arm) and its drag matrix in that frame, B' = sum_a (L_a / 2) D_a.
3-vectors are tuples (no heap allocation in the loops).
"""
from __future__ import annotations

import math

import numba
import numpy as np

_SCREW_EPS = 1e-12                 # ExaDiS: arm is treated as pure screw when 1 - cos^2 <= 1e-12
_EDGE_NORM2 = 1e-2                 # ExaDiS BCC_binary_junction_node: |b x t|^2 > 1e-2 marks a non-screw arm
_SIN_TOL = math.sin(math.radians(5.0))
_COS_TOL = 1.0 - math.cos(math.radians(5.0))  # ExaDiS: 5 degree planarity tolerance
_EPS_LENGTH = 1e-12                # arms of this length or less are ignored (as `Arms.nonzero`)


@numba.njit(cache=True, inline="always")
def _dot(a, b):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


@numba.njit(cache=True, inline="always")
def _cross(a, b):
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


@numba.njit(cache=True, inline="always")
def _scale(c, a):
    return (c * a[0], c * a[1], c * a[2])


@numba.njit(cache=True, inline="always")
def _arm(seg_vec, burgers, arm_seg, arm_sign, a):
    """(direction t, length L, outgoing b, |b|) of arm a."""
    s, sg = arm_seg[a], arm_sign[a]
    d = (sg * seg_vec[s, 0], sg * seg_vec[s, 1], sg * seg_vec[s, 2])
    b = (sg * burgers[s, 0], sg * burgers[s, 1], sg * burgers[s, 2])
    length = math.sqrt(_dot(d, d))
    t = _scale(1.0 / length, d) if length > _EPS_LENGTH else (0.0, 0.0, 0.0)
    return t, length, b, math.sqrt(_dot(b, b))


@numba.njit(cache=True, inline="always")
def _climb_direction(t, b, bmag):
    """(n, nonscrew, cos^2): n = b x t / |b x t| for a non-screw arm, else the unit normal to t built from the
    axis along t's smallest component."""
    bt = _dot(t, b)
    cos2 = bt * bt / (bmag * bmag) if bmag > 0 else bt * bt
    if 1.0 - cos2 > _SCREW_EPS:
        return _scale(1.0 / math.sqrt((1.0 - cos2) * bmag * bmag), _cross(b, t)), True, cos2
    ax, ay, az = abs(t[0]), abs(t[1]), abs(t[2])
    axis = (1.0, 0.0, 0.0) if ax <= ay and ax <= az else ((0.0, 1.0, 0.0) if ay <= az else (0.0, 0.0, 1.0))
    at = _dot(axis, t)
    p = (axis[0] - at * t[0], axis[1] - at * t[1], axis[2] - at * t[2])
    return _scale(1.0 / math.sqrt(_dot(p, p)), p), False, cos2


@numba.njit(cache=True, inline="always")
def _add_outer(drag, c, x):
    """drag += c x x^T."""
    for i in range(3):
        for j in range(3):
            drag[i, j] += c * x[i] * x[j]


@numba.njit(cache=True)
def bcc_drag(offsets, arm_seg, arm_sign, seg_vec, burgers, forces, Be, Bs, Bec, Bline, junction_tol,
             binary_junctions):
    """(B' (N, 3, 3), R (N, 3, 3)): drag matrices in per-node frames, B_lab = R^T B' R (identity frame and zero
    drag for nodes without a non-zero arm). `forces` enter only through the junction unzipping test F . t_j > 0."""
    n = offsets.shape[0] - 1
    local = np.zeros((n, 3, 3))
    frames = np.zeros((n, 3, 3))
    inv_be2, inv_bs2 = Be ** -2, Bs ** -2
    for k in range(n):
        a0, a1 = offsets[k], offsets[k + 1]
        degree = a1 - a0
        first = -1
        for a in range(a0, a1):
            if _arm(seg_vec, burgers, arm_seg, arm_sign, a)[1] > _EPS_LENGTH:
                first = a
                break
        if first < 0:
            frames[k, 0, 0] = frames[k, 1, 1] = frames[k, 2, 2] = 1.0
            continue
        # ---- binary junction test (degree 3: one non-zero junction arm, two non-zero glissile arms)
        linejunc = False
        tj = (0.0, 0.0, 0.0)
        if binary_junctions and degree == 3:
            n_junc, n_glide, n_edge = 0, 0, 0
            e1 = (0.0, 0.0, 0.0)
            e2 = (0.0, 0.0, 0.0)
            for a in range(a0, a1):
                t, length, b, bmag = _arm(seg_vec, burgers, arm_seg, arm_sign, a)
                if length <= _EPS_LENGTH:
                    continue
                if bmag > 1.0 + junction_tol:
                    n_junc += 1
                    tj = (tj[0] + t[0], tj[1] + t[1], tj[2] + t[2])
                else:
                    n_glide += 1
                    nv = _cross(b, t)
                    if _dot(nv, nv) > _EDGE_NORM2:
                        if n_edge == 0:
                            e1 = nv
                        elif n_edge == 1:
                            e2 = nv
                        n_edge += 1
            if n_junc == 1 and n_glide == 2:
                if n_edge == 2:
                    tdir = _cross(e1, e2)
                    norm = math.sqrt(_dot(tdir, tdir))
                    planar = norm > 1e-12 and abs(abs(_dot(tdir, tj)) / norm - 1.0) < _COS_TOL
                elif n_edge == 1:
                    planar = abs(_dot(e1, tj)) < _SIN_TOL
                else:
                    planar = True
                unzipping = forces[k, 0] * tj[0] + forces[k, 1] * tj[1] + forces[k, 2] * tj[2] > 0.0
                linejunc = planar or unzipping
        # ---- the node's frame: rows t, n, m of its first non-zero arm
        t, _, b, bmag = _arm(seg_vec, burgers, arm_seg, arm_sign, first)
        nr = _climb_direction(t, b, bmag)[0]
        mr = _cross(nr, t)
        for j in range(3):
            frames[k, 0, j] = t[j]
            frames[k, 1, j] = nr[j]
            frames[k, 2, j] = mr[j]
        rot = frames[k]
        # ---- drag of every non-zero arm, in the node's frame
        drag = local[k]
        for a in range(a0, a1):
            t, length, b, bmag = _arm(seg_vec, burgers, arm_seg, arm_sign, a)
            if length <= _EPS_LENGTH:
                continue
            half = 0.5 * length
            tl = (_dot(rot[0], t), _dot(rot[1], t), _dot(rot[2], t))
            if bmag > 1.0 + junction_tol:  # junction arm
                iso = Bline if linejunc else Bec
                for i in range(3):
                    drag[i, i] += half * iso
                if not linejunc and degree != 2:
                    _add_outer(drag, half * (Bline - Bec), tl)
                continue
            nr, nonscrew, cos2 = _climb_direction(t, b, bmag)
            mr = _cross(nr, t)
            for i in range(3):
                drag[i, i] += half * Bs
            _add_outer(drag, half * (Bline - Bs), tl)
            if not nonscrew:
                continue
            if linejunc:  # climb direction made orthogonal to the junction line (m unchanged)
                nt = _dot(nr, tj)
                proj = (nr[0] - nt * tj[0], nr[1] - nt * tj[1], nr[2] - nt * tj[2])
                pnorm = math.sqrt(_dot(proj, proj))
                if pnorm > 0:
                    nr = _scale(1.0 / pnorm, proj)
            b_glide = 1.0 / math.sqrt(inv_be2 + (inv_bs2 - inv_be2) * cos2)
            b_climb = math.sqrt(Bec ** 2 + (Bs ** 2 - Bec ** 2) * cos2)
            _add_outer(drag, half * (b_climb - Bs), (_dot(rot[0], nr), _dot(rot[1], nr), _dot(rot[2], nr)))
            _add_outer(drag, half * (b_glide - Bs), (_dot(rot[0], mr), _dot(rot[1], mr), _dot(rot[2], mr)))
    return local, frames


@numba.njit(cache=True)
def solve_in_frames(local, frames, forces, active):
    """V_k = R_k^T B'_k^-1 R_k F_k for the active nodes (zero elsewhere): Gaussian elimination with partial
    pivoting on each 3x3 system."""
    n = local.shape[0]
    v = np.zeros((n, 3))
    a = np.empty((3, 4))
    for k in range(n):
        if not active[k]:
            continue
        rot = frames[k]
        for i in range(3):
            for j in range(3):
                a[i, j] = local[k, i, j]
            a[i, 3] = rot[i, 0] * forces[k, 0] + rot[i, 1] * forces[k, 1] + rot[i, 2] * forces[k, 2]
        for c in range(3):
            p = c
            for r in range(c + 1, 3):
                if abs(a[r, c]) > abs(a[p, c]):
                    p = r
            if p != c:
                for j in range(4):
                    a[c, j], a[p, j] = a[p, j], a[c, j]
            for r in range(c + 1, 3):
                factor = a[r, c] / a[c, c]
                for j in range(c, 4):
                    a[r, j] -= factor * a[c, j]
        x2 = a[2, 3] / a[2, 2]
        x1 = (a[1, 3] - a[1, 2] * x2) / a[1, 1]
        x0 = (a[0, 3] - a[0, 1] * x1 - a[0, 2] * x2) / a[0, 0]
        for j in range(3):
            v[k, j] = rot[0, j] * x0 + rot[1, j] * x1 + rot[2, j] * x2
    return v
