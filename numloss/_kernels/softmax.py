"""The softmax pieces of the cross-entropy kernels: a float32 exp for ``x - shift``, the row
shift, and the exp-sums of a row (along its classes) or of a tile of rows (across them).

The softmax shifts by the max of a row's first 16 logits and redoes the row with the true max
only when the exp-sum shows that shift was unsafe (``first_shift``), so the usual row is read
twice (shift, then exp-sum [+ gradient store]). Sums use ``radd`` (an add LLVM may reassociate,
so the loop vectorises) on float32 partials of ``PARTIAL_LEN`` elements added into float64.
"""
import math

import numpy as np
from numba import types
from numba.extending import overload

from ._compile import inline, row_function
from ._intrinsics import as_float, as_int, fma, fmax, fmax_shift, radd
from ._math import vexp
from ._rowbase import PARTIAL_LEN, fill
from ._scalar import like

# What an exp-sum accumulates besides sum exp(x - m) (the cross-entropy's target kinds):
EXP_ONLY = 0  # class-index target
WEIGHTED_DOT = 1  # class index with label smoothing: also sum_c w_c (x_c - m)
TARGET_DOT = 2  # class probabilities y: also sum_c a_c (x_c - m) and sum_c a_c, a = w (keep y + spread)

SUM_OK = math.exp(40.0)  # every term is below e^40 if the sum is; nothing near float32 overflow
TILE_CLASSES = 64  # classes per float32 partial of a tile's sums


def softmax_exp(z):
    """exp(z) for z = x - shift (interpreted fallback)."""
    return np.exp(z)


def _softmax_exp32(z):
    """exp(z), accurate for z <= 88.3 (inf above: the caller then redoes the row with the true
    max) and NaN: n = round(z log2 e) by the magic-number rounding, Cody-Waite r = z - n ln2, a
    degree-6 minimax polynomial for e^r, times 2^n from the bits. Results below 2^-126 are
    flushed to 0 (far below the rounding of a softmax denominator >= 1). Fewer operations than
    ``vexp`` (no clamps, one scale)."""
    # constants written as literals so that they compile to immediates
    t = fma(z, np.float32(1.4426950408889634), np.float32(12582912.0))  # z log2 e + 1.5 2**23
    nf = t - np.float32(12582912.0)  # round(z log2 e)
    n = np.int32(as_int(t) - np.int32(1262485504))  # the same as an integer
    n = min(n, np.int32(128))  # z > 88.4: 2**128 = inf (a caller's overflow signal), not garbage
    r = fma(nf, np.float32(-0.693145751953125), z)  # - n ln2_hi (exact)
    r = fma(nf, np.float32(-1.428606765330187e-06), r)  # - n ln2_lo
    p = fma(np.float32(0.001383678987622261), r, np.float32(0.00837485771626234))
    p = fma(p, r, np.float32(0.041668228805065155))
    p = fma(p, r, np.float32(0.16666419804096222))
    p = fma(p, r, np.float32(0.49999991059303284))
    p = fma(p, r, np.float32(1.0))
    p = fma(p, r, np.float32(1.0))
    y = p * as_float(np.int32(np.int32(n + np.int32(127)) << np.int32(23)))  # * 2**n
    return np.float32(0.0) if z < np.float32(-87.33654) else y


@overload(softmax_exp, inline="always")
def _softmax_exp_overload(z):
    if isinstance(z, types.Float) and z.bitwidth == 32:
        return _softmax_exp32
    return lambda z: vexp(z)


@inline
def row_max(xr):
    """The row's max, ignoring NaN."""
    m = like(xr, -math.inf)
    for c in range(xr.size):
        m = fmax(m, xr[c])
    return m


@inline
def row_shift(xr):
    """The softmax shift: the row's max, or (with a NaN in the row) any value -- see fmax_shift."""
    m = like(xr, -math.inf)
    for c in range(xr.size):
        m = fmax_shift(m, xr[c])
    return m


@inline
def has_nan(xr):
    k = 0
    for c in range(xr.size):
        k += np.int32(xr[c] != xr[c])
    return k > 0


@inline
def first_shift(xr):
    """A provisional softmax shift without a pass over the row: the max of its first 16 entries.
    The exp-sum runs with it; only when the sum exceeds ``SUM_OK`` (some x - shift may be above
    40, or overflowed to inf, or the row has a NaN) is the row redone with the true max
    (``row_shift``). Both give the same function of x up to rounding. (NaN-ignoring ``fmax``:
    the sum computed with it decides a branch.)"""
    return row_max(xr[:16])


@inline
def _exp_sums_part(xb, m, wb, yb, keep, spread, gb, store, sums):
    """``exp_sums`` of one part of a row, in float32 (``store`` and ``sums`` are constants at
    every call, so each call compiles to one branch-free loop)."""
    p = like(xb, 0)
    u = like(xb, 0)
    v = like(xb, 0)
    for c in range(xb.size):
        z = xb[c] - m
        e = softmax_exp(z)
        if store:
            gb[c] = e
        p = radd(p, e)
        if sums == WEIGHTED_DOT:
            u = radd(u, wb[c] * z)
        elif sums == TARGET_DOT:
            a = wb[c] * (keep * yb[c] + spread)
            u = radd(u, a * z)
            v = radd(v, a)
    return p, u, v


@inline
def exp_sums(xr, m, wr, yr, keep, spread, gr, store, sums):
    """(sum_c exp(x_c - m), q, h) in float64, ``sums`` saying what q and h are (see
    ``EXP_ONLY``; y' = keep y + spread is computed per element, as torch smooths the target
    before using it). With ``store`` (a run-time flag), exp(x_c - m) is written to ``gr``;
    ``wr``, ``yr`` are only read when ``sums`` needs them."""
    s = 0.0
    q = 0.0
    h = 0.0
    for b0 in range(0, xr.size, PARTIAL_LEN):
        b1 = b0 + PARTIAL_LEN
        if store:
            p, u, v = _exp_sums_part(xr[b0:b1], m, wr[b0:b1], yr[b0:b1], keep, spread, gr[b0:b1], True, sums)
        else:
            p, u, v = _exp_sums_part(xr[b0:b1], m, wr[b0:b1], yr[b0:b1], keep, spread, gr[b0:b1], False, sums)
        s += p
        q += u
        h += v
    return s, q, h


@inline
def tile_max(xn, d0, nd, c0, c1, m):
    """m[j] = max(m[j], x[c, d0 + j] for c in [c0, c1)), vectorised along the positions."""
    for c in range(c0, c1):
        xv = xn[c, d0:d0 + nd]
        for j in range(nd):
            m[j] = fmax(m[j], xv[j])


@row_function
def tile_sums(xn, yn, gn, wv, d0, nd, m, sums64, sums32, store, sums, keep, spread):
    """``exp_sums`` for the positions j < nd of a tile (columns d0 + j of the (C, .) views),
    vectorised across them: sums64[0, j] = s, sums64[1, j] = q, sums64[2, j] = h (float64, from
    float32 partials ``sums32`` over ``TILE_CLASSES`` classes). The class axis is walked in
    place (stride D)."""
    C = xn.shape[0]
    d1 = d0 + nd
    s = sums64[0]
    q = sums64[1]
    h = sums64[2]
    s32 = sums32[0]
    q32 = sums32[1]
    h32 = sums32[2]
    for j in range(nd):
        s[j] = 0.0
        q[j] = 0.0
        h[j] = 0.0
    for c0 in range(0, C, TILE_CLASSES):
        for j in range(nd):
            s32[j] = 0
            q32[j] = 0
            h32[j] = 0
        for c in range(c0, min(c0 + TILE_CLASSES, C)):
            xv = xn[c, d0:d1]
            if store:
                gv = gn[c, d0:d1]
                for j in range(nd):
                    e = softmax_exp(xv[j] - m[j])
                    gv[j] = e
                    s32[j] += e
            else:
                for j in range(nd):
                    s32[j] += softmax_exp(xv[j] - m[j])
            if sums == WEIGHTED_DOT:
                wc = wv[c]
                for j in range(nd):
                    q32[j] += wc * (xv[j] - m[j])
            elif sums == TARGET_DOT:
                wc = wv[c]
                yv = yn[c, d0:d1]
                for j in range(nd):
                    a = wc * (keep * yv[j] + spread)
                    q32[j] += a * (xv[j] - m[j])
                    h32[j] += a
        for j in range(nd):
            s[j] += s32[j]
            q[j] += q32[j]
            h[j] += h32[j]


@row_function
def tile_softmax_sums(xn, yn, gn, wv, d0, nd, m, sums64, sums32, store, sums, keep, spread):
    """``tile_sums`` with the shift of ``first_shift`` per position (max of the first 16
    classes), redone with the true max when a position's sum exceeds ``SUM_OK``."""
    C = xn.shape[0]
    for j in range(nd):
        m[j] = -math.inf
    tile_max(xn, d0, nd, 0, min(C, 16), m)
    for attempt in range(2):
        tile_sums(xn, yn, gn, wv, d0, nd, m, sums64, sums32, store, sums, keep, spread)
        redo = False
        for j in range(nd):
            if not sums64[0, j] <= SUM_OK:
                redo = True
        if not redo or C <= 16:
            break
        tile_max(xn, d0, nd, 16, C, m)


@row_function
def ignored_row_grad(xr, gr):
    """The gradient torch gives a row whose target is ignored: 0 - softmax * 0, i.e. zeros,
    or NaN everywhere when the row's softmax is NaN (a NaN or +inf logit, or all -inf)."""
    m = row_max(xr)
    bad = not (abs(m) < math.inf) or has_nan(xr)
    fill(gr, like(gr, math.nan) if bad else like(gr, 0))
