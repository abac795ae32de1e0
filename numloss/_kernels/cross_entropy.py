"""The cross-entropy row kernel, for class-index and class-probability targets.

With ``lse = log(sum_c exp(x_c))``, ``e`` the label smoothing and ``sc`` the row's gradient
factor (``_rowbase.row_factor``):

* class index t: ``loss = (1 - e) w_t (lse - x_t) + (e / C) sum_c w_c (lse - x_c)``,
  ``grad_c = sc [p_c ((1 - e) w_t + (e / C) sum w) - (e / C) w_c - (1 - e) w_t [c == t]]``
  (0 for a row whose target is ``ignore_index``);
* probabilities y, ``y' = (1 - e) y + e / C``: ``loss = sum_c w_c y'_c (lse - x_c)``,
  ``grad_c = sc (p_c sum_k w_k y'_k - w_c y'_c)``.

An (N, C) input with more than ``SMALL_C`` classes runs row by row along the classes; the
others (few classes, or an (N, C, D) input with D > 1) run in tiles of ``TILE_ROWS`` rows
vectorised across the rows (``cross_entropy_tiles``).
"""
import math

import numpy as np

from ._compile import inline, row_function, specialise
from ._intrinsics import read_only
from ._math import vlog
from ._rowbase import options_dtype, row_factor
from ._scalar import like
from .softmax import (EXP_ONLY, SUM_OK, TARGET_DOT, WEIGHTED_DOT, exp_sums, first_shift, ignored_row_grad,
                      row_shift, tile_softmax_sums)

# Target kinds: each selects the softmax sums of the same value.
INDEX = EXP_ONLY
SMOOTHED_INDEX = WEIGHTED_DOT
PROBABILITIES = TARGET_DOT

OPTIONS = options_dtype(
    ("target_kind", np.int64),
    ("ignore_index", np.int64),
    ("label_smoothing", np.float64),  # 0 when off
    ("weight_sum", np.float64),  # sum of the class weights (smoothed class-index targets)
)

SMALL_C = 32  # (N, C) inputs with at most this many classes take the tiles, rows transposed
TILE_ROWS = 128  # rows (or positions of one sample) per tile

# The target kind and whether gradients are written, bound as constants in each compiled
# variant (see ``variant``) so that a call compiles only its own kind's code, forward or
# loss+grad. (The options record's target_kind and write_grad carry the same values.)
KIND = INDEX
WRITE_GRAD = False


def takes_rows(C, D):
    """Whether an (N, C, D) input runs row by row (``cross_entropy_rows``: D == 1 and more than
    ``SMALL_C`` classes) rather than in tiles (``cross_entropy_tiles``). Each path is a row
    function of its own, so that a call compiles only the one it takes."""
    return D == 1 and C > SMALL_C


def variant(rows, kind, write_grad):
    """The row function of one path (``takes_rows``), target kind and forward or loss+grad,
    with ``KIND`` and ``WRITE_GRAD`` bound."""
    flags = dict(KIND=kind, WRITE_GRAD=write_grad)
    if rows:
        return specialise(cross_entropy_rows, **flags)
    return specialise(cross_entropy_tiles, cross_entropy_tile=specialise(cross_entropy_tile, **flags), **flags)


@inline
def _settings(opt, C):
    """(ignore_index, sum of the class weights, 1 - e, e / C) of the options record, e the
    label smoothing."""
    e = opt.label_smoothing
    return opt.ignore_index, opt.weight_sum, 1.0 - e, e / C


@row_function
def cross_entropy_rows(scores, target, target_values, class_weight, options, grad_factor, loss_rows, grad, lo, hi):
    """Rows [lo, hi) of the (N, C, 1) ``scores``, row by row along the classes; ``target`` (N, 1)
    class indices or ``target_values`` (N, C, 1) class probabilities, by ``KIND``;
    ``class_weight`` (1, C). Returns the float64 loss sum."""
    N, C, _ = scores.shape
    x2 = scores.reshape((N, C))
    y2 = target_values.reshape((target_values.shape[0], C))
    g2 = grad.reshape((grad.shape[0], C))
    wv = class_weight[0]
    opt = options[0]
    kind = KIND
    write_grad = WRITE_GRAD
    ignore, wsum, keep, per_class = _settings(opt, C)
    ykeep = like(x2, keep)  # y' = ykeep y + yspread, in the input's dtype (as torch)
    yspread = like(x2, per_class)
    acc = 0.0
    for r in range(lo, hi):
        xr = x2[r]
        tr = 0
        if kind != PROBABILITIES:
            tr = target[r, 0]
            if tr == ignore:
                loss_rows[r] = 0
                if write_grad:
                    ignored_row_grad(xr, g2[r])
                continue
        yr = y2[r] if kind == PROBABILITIES else xr
        # g2[r] is only written when write_grad is set (without it g2 is an empty placeholder)
        m = first_shift(xr)
        s = q = h = 0.0
        for attempt in range(2):  # redo with the true max if the provisional shift was unsafe
            if kind == INDEX:
                s, q, h = exp_sums(xr, m, wv, yr, ykeep, yspread, g2[r], write_grad, EXP_ONLY)
            elif kind == SMOOTHED_INDEX:
                s, q, h = exp_sums(xr, m, wv, yr, ykeep, yspread, g2[r], write_grad, WEIGHTED_DOT)
            else:
                s, q, h = exp_sums(xr, m, wv, yr, ykeep, yspread, g2[r], write_grad, TARGET_DOT)
            if s <= SUM_OK:
                break
            m = row_shift(xr)
        lse = math.log(s)
        wt = 0.0
        if kind == PROBABILITIES:
            loss = lse * h - q
        else:
            wt = np.float64(wv[tr])
            loss = wt * ((np.float64(m) - np.float64(xr[tr])) + lse)
            if kind == SMOOTHED_INDEX:
                loss = keep * loss + per_class * (lse * wsum - q)
        loss_rows[r] = loss
        acc += loss
        if write_grad:
            gr = g2[r]
            sc = row_factor(grad_factor, opt, r)
            if kind == INDEX:
                a = like(gr, sc * wt / s)
                for c in range(C):
                    gr[c] = gr[c] * a
            elif kind == SMOOTHED_INDEX:
                a = like(gr, sc * (keep * wt + per_class * wsum) / s)
                b = like(gr, sc * per_class)
                for c in range(C):
                    gr[c] = gr[c] * a - wv[c] * b
            else:
                a = like(gr, sc * h / s)
                b = like(gr, sc)
                for c in range(C):
                    gr[c] = gr[c] * a - b * (wv[c] * (ykeep * yr[c] + yspread))
            if kind != PROBABILITIES:
                gr[tr] -= like(gr, sc * keep * wt)
    return acc


@row_function
def cross_entropy_tiles(x, target, y, class_weight, options, grad_factor, loss_rows, g, lo, hi):
    """Rows [lo, hi) of the (N, C, D) scores ``x`` (operands as ``cross_entropy_rows``) in tiles
    of up to ``TILE_ROWS`` rows vectorised across the rows of a tile (not along a row's
    classes). With D > 1 a tile is positions of one sample, its classes walked in place (stride
    D). With D == 1 (an (N, C) input with at most ``SMALL_C`` classes, too few for a row's loop
    to vectorise well) a tile is rows copied transposed into a (C, TILE_ROWS) scratch, and its
    gradient copied back. Returns the float64 loss sum."""
    N, C, D = x.shape
    wv = class_weight[0]
    opt = options[0]
    probs = KIND == PROBABILITIES
    write_grad = WRITE_GRAD
    sums64 = np.empty((4, TILE_ROWS))  # per position: s, q, h (see tile_sums), log s
    scratch = np.empty((7, TILE_ROWS), x.dtype)  # shift; the sums' float32 partials; gradient factors
    acc = 0.0
    r = lo
    if D == 1:
        x2 = x.reshape((N, C))
        y2 = y.reshape((y.shape[0], C))
        g2 = g.reshape((g.shape[0], C))
        xs = np.empty((3, C, TILE_ROWS), x.dtype)  # the tile's x, y and gradient, transposed
        t1 = target.reshape(target.shape[0])  # contiguous, as target[n, d0:d1] below
        d0 = np.intp(0)  # a run-time 0, not a literal, as d0 below
        while r < hi:
            nd = min(TILE_ROWS, hi - r)
            transpose_in(x2, xs[0], r, nd)
            if probs:
                transpose_in(y2, xs[1], r, nd)
            # argument types as in the loop below (the scratch typed read-only as x[n] and y[n]):
            # one compiled cross_entropy_tile
            acc += cross_entropy_tile(read_only(xs[0]), read_only(xs[1]), xs[2], t1[r:r + nd], wv, opt,
                                      grad_factor, loss_rows, r, d0, nd, sums64, scratch)
            if write_grad:
                transpose_out(xs[2], g2, r, nd)
            r += nd
        return acc
    while r < hi:
        n = r // D
        d0 = r - n * D
        nd = min(TILE_ROWS, D - d0, hi - r)
        acc += cross_entropy_tile(x[n], y[n] if probs else x[n], g[n], target[n, d0:d0 + nd], wv, opt,
                                  grad_factor, loss_rows, r, d0, nd, sums64, scratch)
        r += nd
    return acc


@inline
def transpose_in(a2, dst, r, nd):
    """dst[c, j] = a2[r + j, c] for the tile's nd rows."""
    for j in range(nd):
        ar = a2[r + j]
        for c in range(ar.size):
            dst[c, j] = ar[c]


@inline
def transpose_out(src, a2, r, nd):
    """a2[r + j, c] = src[c, j] for the tile's nd rows (``transpose_in`` reversed)."""
    for j in range(nd):
        ar = a2[r + j]
        for c in range(ar.size):
            ar[c] = src[c, j]


@row_function
def cross_entropy_tile(xn, yn, gn, tv, wv, opt, grad_factor, loss_rows, r, d0, nd, sums64, scratch):
    """One tile of ``cross_entropy_tiles``: positions ``d0 .. d0 + nd`` of the (C, .) views
    ``xn``, ``yn``, ``gn`` are rows ``r .. r + nd`` of the loss; ``tv`` their class indices."""
    C = xn.shape[0]
    d1 = d0 + nd
    kind = KIND
    write_grad = WRITE_GRAD
    ignore, wsum, keep, per_class = _settings(opt, C)
    ykeep = like(xn, keep if kind == PROBABILITIES else 1.0)
    yspread = like(xn, per_class if kind == PROBABILITIES else 0.0)
    m = scratch[0, :nd]
    a = scratch[4]  # per position: gradient = softmax * a - (w or w y') * b, minus fix at the target
    b = scratch[5]
    fix = scratch[6]
    s = sums64[0, :nd]
    q = sums64[1, :nd]
    h = sums64[2, :nd]
    lse = sums64[3, :nd]
    acc = 0.0
    tile_softmax_sums(xn, yn, gn, wv, d0, nd, m, sums64, scratch[1:4], write_grad, kind, ykeep, yspread)
    for j in range(nd):  # vectorised log (float64)
        lse[j] = vlog(s[j])
    for j in range(nd):
        sc = row_factor(grad_factor, opt, r + j) if write_grad else 0.0
        if kind == PROBABILITIES:
            loss = lse[j] * h[j] - q[j]
            a[j] = like(a, sc * h[j] / s[j])
            b[j] = like(b, sc)
        else:
            tr = tv[j]
            if tr == ignore:
                loss_rows[r + j] = 0
                a[j] = like(a, 0.0 / s[j])
                b[j] = 0
                fix[j] = 0
                continue
            wt = np.float64(wv[tr])
            loss = wt * ((np.float64(m[j]) - np.float64(xn[tr, d0 + j])) + lse[j])
            if kind == SMOOTHED_INDEX:
                loss = keep * loss + per_class * (lse[j] * wsum - q[j])
            # the smoothing term only where there is smoothing: a NaN or inf class weight of a
            # class that never occurs must not reach the other rows' gradients (as in torch)
            spread = per_class * wsum if kind == SMOOTHED_INDEX else 0.0
            a[j] = like(a, sc * (keep * wt + spread) / s[j])
            b[j] = like(b, sc * per_class)
            fix[j] = like(fix, sc * keep * wt)
        loss_rows[r + j] = loss
        acc += loss
    if write_grad:
        av = a[:nd]
        bv = b[:nd]
        for c in range(C):
            gv = gn[c, d0:d1]
            wc = wv[c]
            if kind == INDEX:
                for j in range(nd):
                    gv[j] = gv[j] * av[j]
            elif kind == SMOOTHED_INDEX:
                for j in range(nd):
                    gv[j] = gv[j] * av[j] - wc * bv[j]
            else:
                yv = yn[c, d0:d1]
                for j in range(nd):
                    gv[j] = gv[j] * av[j] - bv[j] * (wc * (ykeep * yv[j] + yspread))
        if kind != PROBABILITIES:
            for j in range(nd):
                tr = tv[j]
                if tr != ignore:
                    gn[tr, d0 + j] -= fix[j]
    return acc
