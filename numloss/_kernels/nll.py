"""NLL: the forward (``nll_sum``, which also validates the class indices and computes the "mean"
denominator, in one pass) and the gradient row kernel (``nll_grad``): ``-sc w_t`` at the
target, 0 elsewhere, ``sc`` the row's gradient factor.
"""
import numpy as np

from ._compile import inline, row_function
from ._intrinsics import stream_fill
from ._rowbase import fill, options_dtype, row_factor
from ._scalar import like

PRANGE = range  # bound by Kernel
NLL_ROWS = None  # nll_sum's row function: nll_rows (an (N, C, D) input) or nll_rows2d ((N, C))

OPTIONS = options_dtype(
    ("ignore_index", np.int64),
    ("stream", np.bool_),  # zero-fill the gradient with non-temporal stores
)


def index_stats(t, C, ignore_index, w, sw):
    """One pass over flat class indices ``t``: (position of the first entry outside [0, C)
    that is not ``ignore_index``, or -1; the number of entries equal to ``ignore_index``; the
    float64 sum of ``w[t]`` (times ``sw[i]``, the sample weights per entry, unless ``sw`` is
    empty) over the others -- the "mean" denominator). Stops at the first bad entry."""
    nign = 0
    tot = 0.0
    weighted = sw.size > 0
    for i in range(t.size):
        v = t[i]
        if v == ignore_index:
            nign += 1
        elif v < 0 or v >= C:
            return i, nign, tot
        elif weighted:
            tot += np.float64(w[v]) * np.float64(sw[i])
        else:
            tot += w[v]
    return -1, nign, tot


@inline
def nll_run(xs, ts, out, w, sws, ignore_index, tot, acc):
    """NLL of a run of rows: row i has class scores ``xs[:, i]``, class index ``ts[i]`` and
    sample weight ``s = sws[i]`` (1 when ``sws`` is empty). Adds ``s w[t]`` (over the entries
    not ignored) to ``tot`` and the losses ``-s w[t] x_t`` to ``acc``, in row order, and stores each row's loss (0 where ignored) in ``out[i]`` unless ``out`` is
    empty. Returns (the run's first index outside [0, C) that is not ``ignore_index``, or -1;
    tot; acc): each index is checked before it is used. The views are indexed from 0, so the
    loop has no negative-index fix-up (see docs/performance.md)."""
    C = xs.shape[0]
    rows = out.size > 0
    weighted = sws.size > 0
    for i in range(ts.size):
        tr = ts[i]
        loss = 0.0
        if tr != ignore_index:
            if tr < 0 or tr >= C:
                return i, tot, acc
            wt = np.float64(w[tr])
            if weighted:
                wt *= np.float64(sws[i])
            tot += wt
            loss = -(wt * np.float64(xs[tr, i]))
            acc += loss
        if rows:
            out[i] = loss
    return -1, tot, acc


@inline
def nll_rows2d(x2, t1, w, sw, ignore_index, lo, hi, out):
    """Rows [lo, hi) of an (N, C) input: (position of the first class index outside [0, C)
    that is not ``ignore_index``, or -1; the float64 sum of w[t] over the entries not ignored;
    the loss sum in row order), the row losses written to ``out`` unless it is empty (see
    ``nll_run``)."""
    bad, tot, acc = nll_run(x2[lo:hi].T, t1[lo:hi], out[lo:hi], w, sw[lo:hi], ignore_index, 0.0, 0.0)
    return (lo + bad if bad >= 0 else -1), tot, acc


@inline
def nll_rows(x, t, w, sw, ignore_index, lo, hi, out):
    """``nll_rows2d`` for rows (sample, position) [lo, hi) of an (N, C, D) input, one sample's
    run of positions at a time (for D == 1, all the rows as one run)."""
    N, C, D = x.shape
    if D == 1:
        return nll_rows2d(x[:, :, 0], t[:, 0], w, sw, ignore_index, lo, hi, out)
    tot = 0.0
    acc = 0.0
    r = lo
    while r < hi:
        n = r // D
        d0 = r - n * D
        d1 = min(D, d0 + (hi - r))
        bad, tot, acc = nll_run(x[n, :, d0:d1], t[n, d0:d1], out[r:r + d1 - d0], w, sw[r:r + d1 - d0], ignore_index,
                                tot, acc)
        if bad >= 0:
            return r + bad, tot, acc
        r += d1 - d0
    return -1, tot, acc


@inline
def first_bad_and_sums(bad, tots, accs):
    """The blocks of ``nll_sum`` combined in block order."""
    tot = 0.0
    total = 0.0
    for k in range(bad.size):
        if bad[k] >= 0:
            return bad[k], tot, 0.0
        tot += tots[k]
        total += accs[k]
    return -1, tot, total



def nll_sum(x, t, w, sw, ignore_index, rows_per_block, out):
    """The NLL forward, which also checks each class index before it is used: blocks of
    ``rows_per_block`` rows (parallel with ``PRANGE``), each summing in row order, then the blocks in order.
    Returns (position of the first entry outside [0, C) that is not ``ignore_index``, or -1; the
    float64 sum of w[t] over the entries not ignored -- torch's "mean" denominator; the loss sum), and
    writes the row losses to ``out`` unless it is empty. ``sw``: the sample weight of each row
    (sample and position), or empty; it multiplies the losses and the denominator's terms. Every NLL, with or without the
    gradient, takes its loss from here. A template (see ``_drivers.blocks``): ``NLL_ROWS`` is
    ``nll_rows`` for the general path's (N, C, D) views, ``nll_rows2d`` for the plain call's
    (N, C) input and (N,) targets, passed as they are -- the same blocks and numbers."""
    nrows = t.size
    nb = -(-nrows // rows_per_block)
    bad = np.empty(nb, np.int64)
    sums = np.empty((2, nb))
    for k in PRANGE(nb):
        lo = k * rows_per_block
        hi = min(lo + rows_per_block, nrows)
        bad[k], sums[0, k], sums[1, k] = NLL_ROWS(x, t, w, sw, ignore_index, lo, hi, out)
    return first_bad_and_sums(bad, sums[0], sums[1])


@row_function
def nll_grad(scores, target, target_values, class_weight, options, grad_factor, loss_rows, grad, lo, hi):
    """The gradient rows [lo, hi) of an (N, C, D) input (its loss comes from ``nll_sum``; returns
    0 and leaves ``loss_rows`` alone)."""
    opt = options[0]
    N, C, D = scores.shape
    ignore = opt.ignore_index
    wv = class_weight[0]
    zero = like(grad, 0)
    if D == 1:
        g1 = grad.reshape(grad.size)
        if opt.stream:
            stream_fill(g1[lo * C:hi * C], zero)
        else:
            fill(g1[lo * C:hi * C], zero)  # the block's rows are contiguous: one memset
        for r in range(lo, hi):
            tr = target[r, 0]
            if tr != ignore:
                g1[r * C + tr] = like(grad, -(np.float64(wv[tr]) * row_factor(grad_factor, opt, r)))
        return 0.0
    r = lo
    while r < hi:
        n = r // D
        d0 = r - n * D
        d1 = min(D, d0 + (hi - r))
        if d0 == 0 and d1 == D:
            fill(grad[n].reshape(C * D), zero)  # a whole sample: contiguous
        else:
            for c in range(C):
                fill(grad[n, c, d0:d1], zero)
        for d in range(d0, d1):
            tr = target[n, d]
            if tr != ignore:
                grad[n, tr, d] = like(grad, -(np.float64(wv[tr]) * row_factor(grad_factor, opt, n * D + d)))
        r += d1 - d0
    return 0.0
