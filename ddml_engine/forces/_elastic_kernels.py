"""Numba kernels of non-singular isotropic elasticity for straight dislocation segments.

Cai, Arsenlis, Weinberger & Bulatov, "A non-singular continuum theory of dislocations", JMPS 54 (2006) 561:
the Burgers-vector density is spread with a core radius `a`, so every 1/R of the classical theory becomes
1/R_a with R_a = sqrt(R^2 + a^2). For two straight segments the nodal forces

    f_node = integral over segment 3-4 of N_node(x) [sigma_12(x) . b_34] x t_34 dL

reduce to closed-form double integrals of y^m z^n / R_a^k over the two segments (Appendix A of the paper; the
same structure as ParaDiS/ExaDiS). Here y runs along segment 3-4 (unit vector t), z along segment 1-2 (tp),
both measured from the points of closest approach of the two lines, and R = y t + z tp + d (t x tp).

Implementation notes (our own formulation of the published integrals):
* the antiderivatives are evaluated once at the four corners (y3|y4) x (z1|z2) and shared by the forces on
  all four nodes; the force on the two nodes of a segment comes from two weighted sums S0 = sum I_k F_k and
  S1 = sum I_k F_k' (F_k' the next moment), f_far = (S1 - y_near S0)/L, f_near = (y_far S0 - S1)/L;
* the logarithmic antiderivatives use log(R_a + u) instead of the symmetric 0.5 log((R_a+u)/(R_a-u)): they differ
  by a function of one corner coordinate only, which cancels in the corner sum; R_a + u is evaluated without
  cancellation as (R_a^2 - u^2)/(R_a - u) when u < 0 (R_a^2 - u^2 is known in closed form);
* the pair of arctangents of the solid-angle integral is fused into one (atan2(Y, X) = pi/2 - atan(X/Y), Y > 0);
* nearly parallel segments (1 - c^2 <= 1e-4) use the special parallel integrals: segment 1-2 is replaced by its
  parallel projection plus two short corrective segments at a fixed small angle (ParaDiS SpecialSegSegForce).

All functions take and return 3-tuples of float64 so that LLVM keeps everything in registers.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

_OPTS = dict(cache=True, fastmath=False, nogil=True)
PARALLEL_EPS = 1.0e-4  # 1 - cos^2 below which the parallel formulas are used
_ECRIT = 1.0e-4
_COT_CRIT = math.sqrt((1.0 - _ECRIT * 1.01) / (_ECRIT * 1.01))  # cot of the corrective-segment angle


# ----------------------------------------------------------------------------- small vector helpers
@nb.njit(**_OPTS)
def _dot(u, v):
    return u[0] * v[0] + u[1] * v[1] + u[2] * v[2]


@nb.njit(**_OPTS)
def _cross(u, v):
    return (u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0])


@nb.njit(**_OPTS)
def _sub(u, v):
    return (u[0] - v[0], u[1] - v[1], u[2] - v[2])


@nb.njit(**_OPTS)
def _add(u, v):
    return (u[0] + v[0], u[1] + v[1], u[2] + v[2])


@nb.njit(**_OPTS)
def _scale(s, u):
    return (s * u[0], s * u[1], s * u[2])


@nb.njit(**_OPTS)
def _lin2(s, u, r, v):
    """s*u + r*v"""
    return (s * u[0] + r * v[0], s * u[1] + r * v[1], s * u[2] + r * v[2])


@nb.njit(**_OPTS)
def _log_r_plus(r, u, r2mu2):
    """log(r + u) for r >= |u|, with r^2 - u^2 = r2mu2 given in closed form (no cancellation for u < 0)."""
    if u >= 0.0:
        return math.log(r + u)
    return math.log(r2mu2 / (r - u))


# ----------------------------------------------------------------------------- general (non-parallel) pair
@nb.njit(**_OPTS)
def _corner(y, z, c, c2, onemc2, oneinv, A, sq, inv_sq, hy, inv_hy, hz, inv_hz):
    """Antiderivatives at one corner (y, z) of the non-parallel double integrals (before global scalings).

    hz = A + z^2 (1 - c^2) = ra^2 - (R.t)^2 and hy = A + y^2 (1 - c^2) = ra^2 - (R.tp)^2 depend on one
    coordinate only and are passed in with their inverses.
    """
    y2 = y * y
    z2 = z * z
    ra = math.sqrt(A + y2 + z2 + 2.0 * y * z * c)
    rinv = 1.0 / ra
    ut = y + z * c     # R . t
    utp = z + y * c    # R . tp
    lt = _log_r_plus(ra, ut, hz)
    ltp = _log_r_plus(ra, utp, hy)
    qt = -ut * rinv * inv_hz    # 0.5 [1/(ra (ra+ut)) - 1/(ra (ra-ut))]
    qtp = -utp * rinv * inv_hy
    # -(1/sq) atan2(ra sq, y z (1-c^2) - c A); the first argument is positive, so atan2 = pi/2 - atan(x/y)
    f003 = -inv_sq * (0.5 * math.pi - math.atan((y * z * onemc2 - c * A) * rinv * inv_sq))
    adf003 = f003 * A
    cf223 = (c * ra - adf003) * oneinv
    f103 = (c * lt - ltp) * oneinv
    f013 = (c * ltp - lt) * oneinv
    f113 = (c * adf003 - ra) * oneinv
    yqtp = y * qtp
    zqt = z * qt
    cf225 = f003 - c * rinv
    cf025 = c * yqtp - rinv
    cf205 = c * zqt - rinv
    cf305 = lt - (y - c * z) * rinv - c2 * z * zqt
    cf035 = ltp - (z - c * y) * rinv - c2 * y * yqtp
    f203 = z * lt + cf223
    f023 = y * ltp + cf223
    f005 = f003 - yqtp - zqt
    f105 = qtp - c * qt
    f015 = qt - c * qtp
    f115 = rinv - c * (yqtp + zqt + f003)
    f205 = yqtp + c2 * zqt + cf225
    f025 = zqt + c2 * yqtp + cf225
    f305 = y * yqtp + c * cf305 + 2.0 * f103
    f035 = z * zqt + c * cf035 + 2.0 * f013
    ycf025 = y * cf025
    zcf205 = z * cf205
    zcf305 = z * cf305
    tf113 = 2.0 * f113
    f215 = f013 - ycf025 + c * (zcf205 - f103)
    f125 = f103 - zcf205 + c * (ycf025 - f013)
    f225 = f203 - zcf305 + c * (y2 * cf025 - tf113)
    f315 = tf113 - y2 * cf025 + c * (zcf305 - f203)
    f135 = tf113 - z2 * cf205 + c * (y * cf035 - f023)
    return (f003, f103, f013, f113, f203, f023, f005, f105, f015, f115,
            f205, f025, f215, f125, f225, f305, f035, f315, f135)


@nb.njit(**_OPTS)
def _general_pair(x1, x2, x3, x4, bp, b, a, mu, nu, want12):
    """Forces (f1, f2, f3, f4) of the non-parallel pair; f1, f2 are zero unless want12."""
    v34 = _sub(x4, x3)
    v12 = _sub(x2, x1)
    inv_l = 1.0 / math.sqrt(_dot(v34, v34))
    inv_lp = 1.0 / math.sqrt(_dot(v12, v12))
    t = _scale(inv_l, v34)
    tp = _scale(inv_lp, v12)
    c = _dot(t, tp)
    c2 = c * c
    onemc2 = 1.0 - c2
    oneinv = 1.0 / onemc2
    tctp = _cross(t, tp)
    r0 = _sub(x3, x1)
    r1 = _sub(x4, x2)
    mid = _sub(_add(x3, x4), _add(x1, x2))
    d = 0.5 * _dot(mid, tctp) * oneinv
    r0t = _dot(r0, t)
    r0tp = _dot(r0, tp)
    r1t = _dot(r1, t)
    r1tp = _dot(r1, tp)
    y0 = (r0t - c * r0tp) * oneinv
    y1 = (r1t - c * r1tp) * oneinv
    z0 = (r0tp - c * r0t) * oneinv
    z1 = (r1tp - c * r1t) * oneinv

    A = a * a + d * d * onemc2
    sq = math.sqrt(onemc2 * A)
    inv_sq = 1.0 / sq
    hy0 = A + y0 * y0 * onemc2
    hy1 = A + y1 * y1 * onemc2
    hz0 = A + z0 * z0 * onemc2
    hz1 = A + z1 * z1 * onemc2
    ihy0 = 1.0 / hy0
    ihy1 = 1.0 / hy1
    ihz0 = 1.0 / hz0
    ihz1 = 1.0 / hz1
    g00 = _corner(y0, z0, c, c2, onemc2, oneinv, A, sq, inv_sq, hy0, ihy0, hz0, ihz0)
    g01 = _corner(y0, z1, c, c2, onemc2, oneinv, A, sq, inv_sq, hy0, ihy0, hz1, ihz1)
    g10 = _corner(y1, z0, c, c2, onemc2, oneinv, A, sq, inv_sq, hy1, ihy1, hz0, ihz0)
    g11 = _corner(y1, z1, c, c2, onemc2, oneinv, A, sq, inv_sq, hy1, ihy1, hz1, ihz1)
    # definite integrals: corner sum with signs (+ - - +)
    F003 = (g00[0] + g11[0]) - (g01[0] + g10[0])
    F103 = (g00[1] + g11[1]) - (g01[1] + g10[1])
    F013 = (g00[2] + g11[2]) - (g01[2] + g10[2])
    F113 = (g00[3] + g11[3]) - (g01[3] + g10[3])
    F203 = (g00[4] + g11[4]) - (g01[4] + g10[4])
    F023 = (g00[5] + g11[5]) - (g01[5] + g10[5])
    F005 = ((g00[6] + g11[6]) - (g01[6] + g10[6])) / A
    F105 = ((g00[7] + g11[7]) - (g01[7] + g10[7])) * oneinv
    F015 = ((g00[8] + g11[8]) - (g01[8] + g10[8])) * oneinv
    F115 = ((g00[9] + g11[9]) - (g01[9] + g10[9])) * oneinv
    F205 = ((g00[10] + g11[10]) - (g01[10] + g10[10])) * oneinv
    F025 = ((g00[11] + g11[11]) - (g01[11] + g10[11])) * oneinv
    F215 = ((g00[12] + g11[12]) - (g01[12] + g10[12])) * oneinv
    F125 = ((g00[13] + g11[13]) - (g01[13] + g10[13])) * oneinv
    F225 = ((g00[14] + g11[14]) - (g01[14] + g10[14])) * oneinv
    F305 = ((g00[15] + g11[15]) - (g01[15] + g10[15])) * oneinv
    F035 = ((g00[16] + g11[16]) - (g01[16] + g10[16])) * oneinv
    F315 = ((g00[17] + g11[17]) - (g01[17] + g10[17])) * oneinv
    F135 = ((g00[18] + g11[18]) - (g01[18] + g10[18])) * oneinv

    m4p = 0.25 * mu / math.pi
    m4pn = m4p / (1.0 - nu)
    a2 = a * a
    m4pd = m4p * d
    m4pnd = m4pn * d
    m4pnd2 = m4pnd * d
    m4pnd3 = m4pnd2 * d
    a2m8p = 0.5 * a2 * m4p
    a2m8pd = a2m8p * d
    a2m4pn = a2 * m4pn
    a2m4pnd = a2m4pn * d

    tpct = (-tctp[0], -tctp[1], -tctp[2])
    bct = _cross(b, t)
    bpctp = _cross(bp, tp)
    tdb = _dot(t, b)
    tdbp = _dot(t, bp)
    tpdb = _dot(tp, b)
    tpdbp = _dot(tp, bp)
    tctpdb = _dot(tctp, b)
    tpctdbp = _dot(tpct, bp)
    bpctpdb = _dot(bpctp, b)
    bctdbp = _dot(bct, bp)
    tctpct = _lin2(1.0, tp, -c, t)          # (t x tp) x t
    bpctpct = _lin2(tdbp, tp, -c, bp)       # (bp x tp) x t
    tctpcbpdtp = tdbp - tpdbp * c           # ((t x tp) x bp) . tp
    tctpcbpdb = tdbp * tpdb - tpdbp * tdb   # ((t x tp) x bp) . b

    # ---- forces on nodes 3 and 4 (segment with direction t, Burgers b) from the stress of segment 1-2
    tcbpct = _lin2(1.0, bp, -tdbp, t)
    k1 = tdbp * tpdb + tctpcbpdb
    I00a = _scale(k1, tpct)
    I00b = _scale(tctpcbpdtp, bct)
    I003 = _add(_lin2(m4pd, I00a, -m4pnd, I00b), _lin2(m4pnd * tctpdb, bpctpct, m4pnd * bpctpdb, tctpct))
    I005 = _add(_lin2(a2m8pd, I00a, -a2m4pnd, I00b), _scale(-m4pnd3 * tctpcbpdtp * tctpdb, tctpct))
    I10a = _lin2(tpdb, tcbpct, -bctdbp, tctp)
    I10b = _scale(tpctdbp, bct)
    I103 = _add(_scale(m4pn * tdb, bpctpct), _lin2(m4p, I10a, -m4pn, I10b))
    I105 = _add(_lin2(a2m8p, I10a, -a2m4pn, I10b),
                _scale(-m4pnd2 * (tpctdbp * tctpdb + tctpcbpdtp * tdb), tctpct))
    I01a = _lin2(bpctpdb, tctp, -tpdb, bpctpct)
    I013 = _add(_scale(m4p, I01a), _lin2(m4pn * tpdb, bpctpct, -m4pn * bpctpdb, tctp))
    I015 = _add(_scale(a2m8p, I01a), _lin2(-m4pnd2 * tctpcbpdtp * tpdb, tctpct,
                                           m4pnd2 * tctpcbpdtp * tctpdb, tctp))
    s205 = -m4pnd * tpctdbp * tdb            # I205 = s205 * tctpct
    s025 = m4pnd * tctpcbpdtp * tpdb         # I025 = s025 * tctp
    I115 = _lin2(m4pnd * (tctpcbpdtp * tdb + tpctdbp * tctpdb), tctp, -m4pnd * tpctdbp * tpdb, tctpct)
    s215 = m4pn * tpctdbp * tdb              # I215 = s215 * tctp
    s125 = m4pn * tpctdbp * tpdb             # I125 = s125 * tctp
    # S0 = sum I_k F_k, S1 = sum I_k F_(k with one more power of y)
    sc_tctp0 = s025 * F025 + s215 * F215 + s125 * F125
    sc_tctp1 = s025 * F125 + s215 * F315 + s125 * F225
    S0 = _add(_add(_lin2(F003, I003, F103, I103), _lin2(F013, I013, F005, I005)),
              _add(_lin2(F105, I105, F015, I015), _lin2(F115, I115, s205 * F205, tctpct)))
    S0 = _add(S0, _scale(sc_tctp0, tctp))
    S1 = _add(_add(_lin2(F103, I003, F203, I103), _lin2(F113, I013, F105, I005)),
              _add(_lin2(F205, I105, F115, I015), _lin2(F215, I115, s205 * F305, tctpct)))
    S1 = _add(S1, _scale(sc_tctp1, tctp))
    f4 = _scale(inv_l, _lin2(1.0, S1, -y0, S0))
    f3 = _scale(inv_l, _lin2(y1, S0, -1.0, S1))

    if not want12:
        zero = (0.0, 0.0, 0.0)
        return zero, zero, f3, f4

    # ---- forces on nodes 1 and 2 (direction tp, Burgers bp) from the stress of segment 3-4
    tpctctp = _lin2(1.0, t, -c, tp)          # (tp x t) x tp
    tpcbctp = _lin2(1.0, b, -tpdb, tp)
    bctctp = _lin2(tpdb, t, -c, b)           # (b x t) x tp
    tpctcbdt = tpdb - tdb * c
    k1 = tpdb * tdbp + tctpcbpdb
    J00a = _scale(k1, tctp)
    J00b = _scale(tpctcbdt, bpctp)
    J003 = _add(_lin2(m4pd, J00a, -m4pnd, J00b), _lin2(m4pnd * tpctdbp, bctctp, m4pnd * bctdbp, tpctctp))
    J005 = _add(_lin2(a2m8pd, J00a, -a2m4pnd, J00b), _scale(-m4pnd3 * tpctcbdt * tpctdbp, tpctctp))
    J01a = _lin2(bpctpdb, tpct, -tdbp, tpcbctp)
    J01b = _scale(-tctpdb, bpctp)
    J013 = _add(_scale(-m4pn * tpdbp, bctctp), _lin2(m4p, J01a, -m4pn, J01b))
    J015 = _add(_lin2(a2m8p, J01a, -a2m4pn, J01b),
                _scale(m4pnd2 * (tctpdb * tpctdbp + tpctcbdt * tpdbp), tpctctp))
    J10a = _lin2(tdbp, bctctp, -bctdbp, tpct)
    J103 = _add(_scale(m4p, J10a), _lin2(-m4pn * tdbp, bctctp, m4pn * bctdbp, tpct))
    J105 = _add(_scale(a2m8p, J10a), _lin2(m4pnd2 * tpctcbdt * tdbp, tpctctp,
                                           -m4pnd2 * tpctcbdt * tpctdbp, tpct))
    u025 = -m4pnd * tctpdb * tpdbp           # J025 = u025 * tpctctp
    u205 = m4pnd * tpctcbdt * tdbp           # J205 = u205 * tpct
    J115 = _lin2(m4pnd * (tpctcbdt * tpdbp + tctpdb * tpctdbp), tpct, -m4pnd * tctpdb * tdbp, tpctctp)
    u125 = -m4pn * tctpdb * tpdbp            # J125 = u125 * tpct
    u215 = -m4pn * tctpdb * tdbp             # J215 = u215 * tpct
    sc_tpct0 = u205 * F205 + u125 * F125 + u215 * F215
    sc_tpct1 = u205 * F215 + u125 * F135 + u215 * F225
    T0 = _add(_add(_lin2(F003, J003, F103, J103), _lin2(F013, J013, F005, J005)),
              _add(_lin2(F105, J105, F015, J015), _lin2(F115, J115, u025 * F025, tpctctp)))
    T0 = _add(T0, _scale(sc_tpct0, tpct))
    T1 = _add(_add(_lin2(F013, J003, F113, J103), _lin2(F023, J013, F015, J005)),
              _add(_lin2(F115, J105, F025, J015), _lin2(F125, J115, u025 * F035, tpctctp)))
    T1 = _add(T1, _scale(sc_tpct1, tpct))
    f1 = _scale(inv_lp, _lin2(1.0, T1, -z1, T0))
    f2 = _scale(inv_lp, _lin2(z0, T0, -1.0, T1))
    return f1, f2, f3, f4


# ----------------------------------------------------------------------------- parallel pair (half)
@nb.njit(**_OPTS)
def _parallel_corner(y, z, A, Ainv):
    ypz = y + z
    ra = math.sqrt(A + ypz * ypz)
    rinv = 1.0 / ra
    lg = _log_r_plus(ra, ypz, A)       # differs from asinh(ypz/sqrt(A)) by a constant: cancels in the sum
    common1 = (y - z) * ra * Ainv
    f115 = -Ainv * ypz * rinv
    return (ra, lg - common1, -lg, z * lg - ra, 2.0 * Ainv * ra - rinv, common1 - y * rinv, f115,
            rinv - z * f115)


@nb.njit(**_OPTS)
def _parallel_half(x1, x2, x3, x4, bp, b, a, mu, nu):
    """Forces (f3, f4) on segment 3-4 from a nearly parallel segment 1-2 (ParaDiS special case)."""
    v34 = _sub(x4, x3)
    inv_l = 1.0 / math.sqrt(_dot(v34, v34))
    t = _scale(inv_l, v34)
    v12 = _sub(x2, x1)
    if _dot(t, v12) < 0.0:
        x1, x2 = x2, x1
        bp = (-bp[0], -bp[1], -bp[2])
        v12 = (-v12[0], -v12[1], -v12[2])
    proj = _dot(v12, t)
    x2p = _lin2(1.0, x1, proj, t)            # x2 projected on the line through x1 along t
    off = _sub(x2, x2p)
    magdiff = math.sqrt(_dot(off, off))
    shift = _scale(0.5 * magdiff * _COT_CRIT, t)
    x1mod = _add(_lin2(1.0, x1, 0.5, off), shift)
    x2mod = _sub(_lin2(1.0, x2p, 0.5, off), shift)
    R = _scale(0.5, _sub(_add(x3, x4), _add(x1mod, x2mod)))
    nd = _lin2(1.0, R, -_dot(R, t), t)
    d2 = _dot(nd, nd)
    y0 = _dot(x3, t)
    y1 = _dot(x4, t)
    z0 = -_dot(x1mod, t)
    z1 = -_dot(x2mod, t)
    A = a * a + d2
    Ainv = 1.0 / A
    g00 = _parallel_corner(y0, z0, A, Ainv)
    g01 = _parallel_corner(y0, z1, A, Ainv)
    g10 = _parallel_corner(y1, z0, A, Ainv)
    g11 = _parallel_corner(y1, z1, A, Ainv)
    F003 = ((g00[0] + g11[0]) - (g01[0] + g10[0])) * Ainv
    F103 = -0.5 * ((g00[1] + g11[1]) - (g01[1] + g10[1]))
    F113 = (g00[2] + g11[2]) - (g01[2] + g10[2])
    F213 = (g00[3] + g11[3]) - (g01[3] + g10[3])
    F005 = ((g00[4] + g11[4]) - (g01[4] + g10[4])) * Ainv
    F105 = ((g00[5] + g11[5]) - (g01[5] + g10[5])) * Ainv
    F115 = (g00[6] + g11[6]) - (g01[6] + g10[6])
    F215 = (g00[7] + g11[7]) - (g01[7] + g10[7])

    m4p = 0.25 * mu / math.pi
    m4pn = m4p / (1.0 - nu)
    a2m8p = 0.5 * a * a * m4p
    a2m4pn = a * a * m4pn
    bct = _cross(b, t)
    bpct = _cross(bp, t)
    ndct = _cross(nd, t)
    tdb = _dot(t, b)
    tdbp = _dot(t, bp)
    nddb = _dot(nd, b)
    bpctdb = _dot(bpct, b)
    bpctdnd = _dot(bpct, nd)
    bpctct = _lin2(tdbp, t, -1.0, bp)
    common2 = _scale(tdb * tdbp, nd)
    common3 = _scale(bpctdnd, bct)
    I003 = _lin2(m4pn, _sub(_lin2(nddb, bpctct, bpctdb, ndct), common3), -m4p, common2)
    I113 = _scale((m4pn - m4p) * tdb, bpctct)
    I005 = _add(_lin2(-a2m8p, common2, -a2m4pn, common3), _scale(-m4pn * bpctdnd * nddb, ndct))
    I115 = _lin2(-a2m8p * tdb, bpctct, -m4pn * bpctdnd * tdb, ndct)
    S0 = _add(_lin2(F003, I003, F113, I113), _lin2(F005, I005, F115, I115))
    S1 = _add(_lin2(F103, I003, F213, I113), _lin2(F105, I005, F215, I115))
    f4 = _scale(inv_l, _lin2(1.0, S1, -y0, S0))
    f3 = _scale(inv_l, _lin2(y1, S0, -1.0, S1))

    # two short corrective segments x1 -> x1mod and x2mod -> x2 (non-parallel by construction)
    if magdiff * magdiff > 1.0e-24 * proj * proj:
        _, _, c3, c4 = _general_pair(x1, x1mod, x3, x4, bp, b, a, mu, nu, False)
        f3 = _add(f3, c3)
        f4 = _add(f4, c4)
        _, _, c3, c4 = _general_pair(x2mod, x2, x3, x4, bp, b, a, mu, nu, False)
        f3 = _add(f3, c3)
        f4 = _add(f4, c4)
    return f3, f4


@nb.njit(**_OPTS)
def pair_force(x1, x2, x3, x4, b12, b34, a, mu, nu):
    """Non-singular forces (f1, f2, f3, f4) on the end nodes of segments 1-2 (b12) and 3-4 (b34)."""
    v34 = _sub(x4, x3)
    v12 = _sub(x2, x1)
    l34 = _dot(v34, v34)
    l12 = _dot(v12, v12)
    zero = (0.0, 0.0, 0.0)
    if l34 < 1.0e-20 or l12 < 1.0e-20:
        return zero, zero, zero, zero
    c = _dot(v34, v12)
    if 1.0 - c * c / (l34 * l12) > PARALLEL_EPS:
        return _general_pair(x1, x2, x3, x4, b12, b34, a, mu, nu, True)
    f3, f4 = _parallel_half(x1, x2, x3, x4, b12, b34, a, mu, nu)
    f1, f2 = _parallel_half(x3, x4, x1, x2, b34, b12, a, mu, nu)
    return f1, f2, f3, f4


# ----------------------------------------------------------------------------- stress of a segment
@nb.njit(**_OPTS)
def segment_stress_tensor(x1, x2, b, p, a, mu, nu, out):
    """Add to the 3x3 `out` the non-singular stress at p of segment x1->x2 with Burgers vector b (Cai 2006)."""
    v = _sub(x2, x1)
    l2 = _dot(v, v)
    if l2 < 1.0e-20:
        return
    t = _scale(1.0 / math.sqrt(l2), v)
    R = _sub(p, x1)
    rdt = _dot(R, t)
    nd = _lin2(1.0, R, -rdt, t)
    d2 = _dot(nd, nd)
    s1 = -rdt
    s2 = -_dot(_sub(p, x2), t)
    a2 = a * a
    A = a2 + d2
    Ainv = 1.0 / A
    # antiderivatives in s at both ends
    ra = math.sqrt(A + s1 * s1)
    ri = 1.0 / ra
    ri3 = ri * ri * ri
    s03a = s1 * ri * Ainv
    s13a = -ri
    s05a = (2.0 * s03a + s1 * ri3) * Ainv
    s15a = -ri3
    s25a = s03a - s1 * ri3
    ra = math.sqrt(A + s2 * s2)
    ri = 1.0 / ra
    ri3 = ri * ri * ri
    s03b = s2 * ri * Ainv
    s05b = (2.0 * s03b + s2 * ri3) * Ainv
    s03 = s03b - s03a
    s13 = -ri - s13a
    s05 = s05b - s05a
    s15 = -ri3 - s15a
    s25 = (s03b - s2 * ri3) - s25a

    m4p = 0.25 * mu / math.pi
    m4pn = m4p / (1.0 - nu)
    a2m8p = 0.5 * a2 * m4p
    txb = _cross(t, b)
    dxb = _cross(nd, b)
    common = m4pn * _dot(dxb, t)
    # sigma = common*(s03 + (a2 + ...) s05) I + sym terms; sym(u,v) = u v^T + v u^T
    diag = common * (s03 + a2 * s05)
    c_dtxb = m4pn * s03                      # sym(d, t x b)
    c_tdxb = -m4p * s03 - a2m8p * s05        # sym(t, d x b)
    c_ttxb = -nu * m4pn * s13 + a2m8p * s15  # sym(t, t x b)
    c_dd = common * s05                      # d d
    c_td = -common * s15                     # sym(t, d)
    c_tt = common * s25                      # t t
    for i in range(3):
        for j in range(i, 3):
            val = (c_dtxb * (nd[i] * txb[j] + txb[i] * nd[j]) + c_tdxb * (t[i] * dxb[j] + dxb[i] * t[j])
                   + c_ttxb * (t[i] * txb[j] + txb[i] * t[j]) + c_dd * nd[i] * nd[j]
                   + c_td * (t[i] * nd[j] + nd[i] * t[j]) + c_tt * t[i] * t[j])
            if i == j:
                val += diag
            out[i, j] += val
            if i != j:
                out[j, i] += val


# ----------------------------------------------------------------------------- batch kernels
@nb.njit(parallel=True, **_OPTS)
def batch_pair_forces(p1, p2, p3, p4, b12, b34, a, mu, nu, f1, f2, f3, f4):
    for k in nb.prange(p1.shape[0]):
        g1, g2, g3, g4 = pair_force((p1[k, 0], p1[k, 1], p1[k, 2]), (p2[k, 0], p2[k, 1], p2[k, 2]),
                                    (p3[k, 0], p3[k, 1], p3[k, 2]), (p4[k, 0], p4[k, 1], p4[k, 2]),
                                    (b12[k, 0], b12[k, 1], b12[k, 2]), (b34[k, 0], b34[k, 1], b34[k, 2]),
                                    a, mu, nu)
        for i in range(3):
            f1[k, i] = g1[i]
            f2[k, i] = g2[i]
            f3[k, i] = g3[i]
            f4[k, i] = g4[i]


@nb.njit(parallel=True, **_OPTS)
def batch_segment_stress(p1, p2, b, x, a, mu, nu, out):
    for k in nb.prange(p1.shape[0]):
        segment_stress_tensor((p1[k, 0], p1[k, 1], p1[k, 2]), (p2[k, 0], p2[k, 1], p2[k, 2]),
                              (b[k, 0], b[k, 1], b[k, 2]), (x[k, 0], x[k, 1], x[k, 2]), a, mu, nu, out[k])


@nb.njit(**_OPTS)
def _image_shift(dx, h, hinv, periodic):
    """Cartesian shift s so that dx + s is the minimum image of dx (Cell.minimum_image convention)."""
    out0 = 0.0
    out1 = 0.0
    out2 = 0.0
    for k in range(3):
        if periodic[k]:
            sk = np.round(hinv[k, 0] * dx[0] + hinv[k, 1] * dx[1] + hinv[k, 2] * dx[2])
            if sk != 0.0:
                out0 -= h[0, k] * sk
                out1 -= h[1, k] * sk
                out2 -= h[2, k] * sk
    return (out0, out1, out2)


@nb.njit(**_OPTS)
def _accumulate_pair(i, j, p1, p2, mid, burgers, seg, h, hinv, periodic, a, mu, nu, buf):
    dm = (mid[j, 0] - mid[i, 0], mid[j, 1] - mid[i, 1], mid[j, 2] - mid[i, 2])
    sh = _image_shift(dm, h, hinv, periodic)
    x3 = (p1[j, 0] + sh[0], p1[j, 1] + sh[1], p1[j, 2] + sh[2])
    x4 = (p2[j, 0] + sh[0], p2[j, 1] + sh[1], p2[j, 2] + sh[2])
    g1, g2, g3, g4 = pair_force((p1[i, 0], p1[i, 1], p1[i, 2]), (p2[i, 0], p2[i, 1], p2[i, 2]), x3, x4,
                                (burgers[i, 0], burgers[i, 1], burgers[i, 2]),
                                (burgers[j, 0], burgers[j, 1], burgers[j, 2]), a, mu, nu)
    n1 = seg[i, 0]
    n2 = seg[i, 1]
    n3 = seg[j, 0]
    n4 = seg[j, 1]
    for k in range(3):
        buf[n1, k] += g1[k]
        buf[n2, k] += g2[k]
        buf[n3, k] += g3[k]
        buf[n4, k] += g4[k]


@nb.njit(parallel=True, **_OPTS)
def all_pair_node_forces(p1, p2, mid, burgers, seg, num_nodes, h, hinv, periodic, a, mu, nu, cutoff2, nchunks):
    """Nodal forces (N, 3) from all distinct segment pairs (midpoint distance^2 < cutoff2 when cutoff2 > 0).

    Task k handles rows k and M-1-k of the triangular pair loop (M-1 pairs per task, balanced); tasks are dealt
    round-robin to `nchunks` chunks, each accumulating into its own buffer (no thread-id, so it can be cached).
    """
    m = p1.shape[0]
    bufs = np.zeros((nchunks, num_nodes, 3))
    half = (m + 1) // 2
    for chunk in nb.prange(nchunks):
        buf = bufs[chunk]
        for first in range(chunk, half, nchunks):
            for r in range(2):
                i = first if r == 0 else m - 1 - first
                if r == 1 and i == first:
                    break
                for j in range(i + 1, m):
                    if cutoff2 > 0.0:
                        dm = (mid[j, 0] - mid[i, 0], mid[j, 1] - mid[i, 1], mid[j, 2] - mid[i, 2])
                        sh = _image_shift(dm, h, hinv, periodic)
                        dx = dm[0] + sh[0]
                        dy = dm[1] + sh[1]
                        dz = dm[2] + sh[2]
                        if dx * dx + dy * dy + dz * dz >= cutoff2:
                            continue
                    _accumulate_pair(i, j, p1, p2, mid, burgers, seg, h, hinv, periodic, a, mu, nu, buf)
    out = np.zeros((num_nodes, 3))
    for c in range(nchunks):
        out += bufs[c]
    return out


@nb.njit(parallel=True, **_OPTS)
def listed_pair_node_forces(pairs, p1, p2, mid, burgers, seg, num_nodes, h, hinv, periodic, a, mu, nu, nchunks):
    """Nodal forces (N, 3) from the segment pairs listed in `pairs` (P, 2), dealt round-robin to chunks."""
    bufs = np.zeros((nchunks, num_nodes, 3))
    npairs = pairs.shape[0]
    for chunk in nb.prange(nchunks):
        buf = bufs[chunk]
        for k in range(chunk, npairs, nchunks):
            _accumulate_pair(pairs[k, 0], pairs[k, 1], p1, p2, mid, burgers, seg, h, hinv, periodic, a, mu, nu,
                             buf)
    out = np.zeros((num_nodes, 3))
    for c in range(nchunks):
        out += bufs[c]
    return out


@nb.njit(parallel=True, **_OPTS)
def stress_at_points(points, p1, p2, mid, burgers, h, hinv, periodic, a, mu, nu):
    """Total stress (P, 3, 3) of all segments at the points, each segment taken at its nearest image."""
    npts = points.shape[0]
    out = np.zeros((npts, 3, 3))
    for q in nb.prange(npts):
        x = (points[q, 0], points[q, 1], points[q, 2])
        for j in range(p1.shape[0]):
            dm = (mid[j, 0] - x[0], mid[j, 1] - x[1], mid[j, 2] - x[2])
            sh = _image_shift(dm, h, hinv, periodic)
            segment_stress_tensor((p1[j, 0] + sh[0], p1[j, 1] + sh[1], p1[j, 2] + sh[2]),
                                  (p2[j, 0] + sh[0], p2[j, 1] + sh[1], p2[j, 2] + sh[2]),
                                  (burgers[j, 0], burgers[j, 1], burgers[j, 2]), x, a, mu, nu, out[q])
    return out
