"""Generic parallel loops: ``elementwise`` (one element function over flat arrays) and
``blocks`` (one row function over blocks of rows). Each is specialised per loss by
:class:`._compile.Kernel`, which binds the module-level placeholders below to constants; the
placeholders' values here are only there so that the module imports.

Reductions are accumulated in float64 per block of ``BLOCK`` elements (or rows) and the block
partials are summed in order afterwards, so the result has the same bits whatever the thread
count.
"""
import numpy as np

from ._compile import cached_njit

BLOCK = 4096

# Placeholders bound by Kernel: the per-element function, the loop and the flags.
ELEM = None
PRANGE = range
NIN = 2  # array operands per element: 2 (a, b) or 3 (a, b, c)
NGRAD = 1  # gradients per element written: 1 (d/da) or 2 (d/da and the second one)
WEIGHTED = 0  # elementwise: multiply loss and gradients by w[i] (1), or by w[i // inner] (2: one weight
# per row); blocks: weigh the loss rows (1)
NONE = False  # reduction "none": write the per-element loss (and scale grads by go[i])
GRAD = False  # write gradients
ROW = None  # blocks: the row function (see ``_rowbase``)


def n_blocks(n):
    return (n + BLOCK - 1) // BLOCK


@cached_njit(error_model="numpy")
def expand_rows(w, inner, lo, dst):
    """``dst[j] = w[(lo + j) // inner]``: a block's per-element weights from per-row ones,
    written run by run (no division per element)."""
    r = lo // inner
    start = lo - r * inner
    j = 0
    while j < dst.size:
        run = dst[j:j + inner - start]
        v = w[r]
        for q in range(run.size):  # from 0: no negative-index wraparound check, so it vectorises
            run[q] = v
        j += run.size
        r += 1
        start = 0


@cached_njit(fastmath={"reassoc", "contract"}, error_model="numpy")
def block_sum(v):
    """float64 sum of one block's values. ``reassoc`` lets LLVM vectorise it (the order is then
    fixed by the compiled code, the same for every thread count); it is kept out of the
    element math, whose exp/log range reductions need strict evaluation order."""
    acc = 0.0
    for i in range(v.size):
        acc += v[i]
    return acc


def elementwise(a, b, c, w, inner, p, go, out, g1, g2, partial):
    """One fused pass over flat, equally long, C-contiguous arrays.

    ``l, d1, d2 = ELEM(a[i], b[i], c[i], p[0], p[1], p[2])`` gives the loss of element i and
    its derivatives; ``p[3]`` scales the gradients of a reduced loss (``grad_output / n`` for a
    mean). ``w`` weighs element i by ``w[i]`` (``WEIGHTED == 1``) or by ``w[i // inner]``
    (``WEIGHTED == 2``: a weight per run of ``inner`` elements, e.g. per sample, not broadcast to
    a full copy). ``c``, ``w``, ``go``, ``out``, ``g1``, ``g2`` are only touched when the flags
    say so (pass any array of the same dtype otherwise). ``partial[k]`` receives block k's float64 sum of
    losses; returns the sum of the partials (0 for reduction "none").
    """
    n = a.size
    p0 = p[0]
    p1 = p[1]
    p2 = p[2]
    scale = p[3]
    for k in PRANGE(partial.size):
        lo = k * BLOCK
        hi = min(lo + BLOCK, n)
        # Slicing a placeholder array beyond its end gives an empty view: unused operands are
        # sliced too, and never indexed.
        av = a[lo:hi]
        bv = b[lo:hi]
        cv = c[lo:hi]
        wv = w[lo:hi]
        ov = out[lo:hi]
        gov = go[lo:hi]
        g1v = g1[lo:hi]
        g2v = g2[lo:hi]
        # Per-element losses of a reduced loss go through a block buffer so that the loss loop
        # and the (reassociated) sum both vectorise.
        buf = np.empty(0 if NONE else hi - lo, a.dtype)
        # Per-row weights are expanded once per block into an L1-resident buffer.
        wrow = np.empty(hi - lo if WEIGHTED == 2 else 0, w.dtype)
        if WEIGHTED == 2:
            expand_rows(w, inner, lo, wrow)
        for i in range(hi - lo):
            loss, d1, d2 = ELEM(av[i], bv[i], cv[i] if NIN == 3 else av[i], p0, p1, p2)
            if WEIGHTED:
                wi = wrow[i] if WEIGHTED == 2 else wv[i]
                loss = loss * wi
                d1 = d1 * wi
                d2 = d2 * wi
            if NONE:
                ov[i] = loss
            else:
                buf[i] = loss
            if GRAD:
                s = gov[i] if NONE else scale
                g1v[i] = d1 * s
                if NGRAD == 2:
                    g2v[i] = d2 * s
        partial[k] = block_sum(buf)
    total = 0.0
    for k in range(partial.size):  # in block order: the same sum whatever the thread count
        total += partial[k]
    return total


@cached_njit(error_model="numpy")
def weigh_rows(w, rows):
    """``rows *= w`` (each product rounded once to the rows' dtype); returns the float64 sum of
    the exact products, in row order."""
    acc = 0.0
    for i in range(rows.size):
        v = np.float64(w[i]) * np.float64(rows[i])
        rows[i] = v
        acc += v
    return acc


def blocks(partial, rows_per_block, nrows, row_weight, weighted_rows, *args):
    """Rows ``[0, nrows)`` in blocks of ``rows_per_block``: ``partial[k] = ROW(*args, lo, hi)``
    for block k's rows ``[lo, hi)``; returns the partials' sum, added in block order. With
    ``WEIGHTED``, ``weighted_rows`` (the row function's ``loss_rows``) are multiplied by
    ``row_weight`` in each block after its rows are written, and the partial is their weighted
    sum (``weigh_rows``); otherwise both are unused placeholders."""
    for k in PRANGE(partial.size):
        lo = k * rows_per_block
        hi = min(lo + rows_per_block, nrows)
        s = ROW(*args, lo, hi)
        if WEIGHTED:
            s = weigh_rows(row_weight[lo:hi], weighted_rows[lo:hi])
        partial[k] = s
    total = 0.0
    for k in range(partial.size):
        total += partial[k]
    return total
