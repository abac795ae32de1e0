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
from ._intrinsics import radd
from ._scalar import like

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
BUFFER_SUM = False  # sum a block's losses from a buffer, after the element loop (see Kernel)
WEIGHT_SUMS = False  # elementwise with per-element weights: also the weights' sums, as weight_sums
UNIT_CHECK = False  # elementwise: also count the values of a and b outside [0, 1] (NaN included)
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


@cached_njit
def rows_per_block(k):
    """Rows of k values in one block of the metric drivers: about ``BLOCK`` values, so that wide
    rows still give many blocks to share among threads."""
    return max(1, BLOCK // k)


def n_row_blocks(n, k):
    r = rows_per_block(k)
    return (n + r - 1) // r


@cached_njit(fastmath={"reassoc", "contract"}, error_model="numpy")
def block_sum(v):
    """float64 sum of one block's values. ``reassoc`` lets LLVM vectorise it (the order is then
    fixed by the compiled code, the same for every thread count); it is kept out of the
    element math, whose exp/log range reductions need strict evaluation order."""
    acc = 0.0
    for i in range(v.size):
        acc += v[i]
    return acc


@cached_njit(inline="always")
def outside(x, lo, hi):
    """1 (an int32) when ``x`` is not in [lo, hi], NaN included: a count of these vectorises inside
    a loop's float math."""
    return np.int32(not ((x >= lo) & (x <= hi)))


@cached_njit(fastmath={"reassoc"}, error_model="numpy")
def weight_sums(v):
    """float64 sums of ``v`` and of its negative entries. NaN and +inf make the first NaN or
    inf; a negative entry (-inf included) makes the second nonzero. ``reassoc`` vectorises it."""
    total = 0.0
    negative = 0.0
    for i in range(v.size):
        x = v[i]
        total += x
        negative += x if x < 0 else 0.0
    return total, negative


@cached_njit(error_model="numpy")
def ordered_sums(partial):
    """The sums of the first two columns of the per-block ``partial``, added in block order."""
    total = 0.0
    negative = 0.0
    for k in range(partial.shape[0]):
        total += partial[k, 0]
        negative += partial[k, 1]
    return total, negative


def sample_weight_sums(w, partial):
    """``(sum of w, sum of its negative entries)`` of the flat weights ``w``, per block of
    ``BLOCK`` in ``partial`` (blocks, 2): the weights are finite and non-negative when the first
    is finite and the second is 0. ``elementwise`` with ``WEIGHT_SUMS`` sums its per-element
    weights in the loss pass instead."""
    n = w.size
    for k in PRANGE(partial.shape[0]):
        lo = k * BLOCK
        partial[k, 0], partial[k, 1] = weight_sums(w[lo:min(lo + BLOCK, n)])
    return ordered_sums(partial)


def elementwise(a, b, c, w, inner, p, go, out, g1, g2, partial, checks):
    """One fused pass over flat, equally long, C-contiguous arrays.

    ``l, d1, d2 = ELEM(a[i], b[i], c[i], p[0], p[1], p[2])`` gives the loss of element i and
    its derivatives; ``p[3]`` scales the gradients of a reduced loss (``grad_output / n`` for a
    mean). ``w`` weighs element i by ``w[i]`` (``WEIGHTED == 1``) or by ``w[i // inner]``
    (``WEIGHTED == 2``: a weight per run of ``inner`` elements, e.g. per sample, not broadcast to
    a full copy). ``c``, ``w``, ``go``, ``out``, ``g1``, ``g2`` are only touched when the flags
    say so (pass any array of the same dtype otherwise). ``partial[k]`` receives block k's float64 sum of
    losses; returns the sum of the partials (0 for reduction "none"). Checks counted in the same
    pass, for the caller to act on before it uses any result: with ``WEIGHT_SUMS``
    (``WEIGHTED == 1``), ``checks[k, :2]`` receives block k's ``weight_sums`` of ``w``, summed in
    the element loop (in the order the compiled loop adds them, so the sum may differ in its
    last bits from ``sample_weight_sums``'); with ``UNIT_CHECK``, ``checks[k, 2]`` and
    ``checks[k, 3]`` the number of a's and b's values outside [0, 1] in block k.
    """
    n = a.size
    p0 = p[0]
    p1 = p[1]
    p2 = p[2]
    scale = p[3]
    zero = like(a, 0)
    one = like(a, 1)
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
        # Per-row weights are expanded once per block into an L1-resident buffer.
        wrow = np.empty(hi - lo if WEIGHTED == 2 else 0, w.dtype)
        if WEIGHTED == 2:
            expand_rows(w, inner, lo, wrow)
        # The block's sum: in the loop (radd lets it vectorise), or from a buffer (BUFFER_SUM).
        buf = np.empty(hi - lo if BUFFER_SUM and not NONE else 0, a.dtype)
        acc = 0.0
        w_total = 0.0
        w_negative = 0.0
        n_a = np.int32(0)
        n_b = np.int32(0)
        for i in range(hi - lo):
            loss, d1, d2 = ELEM(av[i], bv[i], cv[i] if NIN == 3 else av[i], p0, p1, p2)
            if UNIT_CHECK:
                n_a += outside(av[i], zero, one)
                n_b += outside(bv[i], zero, one)
            if WEIGHTED:
                wi = wrow[i] if WEIGHTED == 2 else wv[i]
                if WEIGHT_SUMS:
                    w64 = np.float64(wi)
                    w_total = radd(w_total, w64)
                    w_negative = radd(w_negative, w64 if w64 < 0 else 0.0)
                loss = loss * wi
                d1 = d1 * wi
                d2 = d2 * wi
            if NONE:
                ov[i] = loss
            elif BUFFER_SUM:
                buf[i] = loss
            else:
                acc = radd(acc, np.float64(loss))
            if GRAD:
                s = gov[i] if NONE else scale
                g1v[i] = d1 * s
                if NGRAD == 2:
                    g2v[i] = d2 * s
        partial[k] = block_sum(buf) if BUFFER_SUM else acc
        if WEIGHT_SUMS:
            checks[k, 0] = w_total
            checks[k, 1] = w_negative
        if UNIT_CHECK:
            checks[k, 2] = n_a
            checks[k, 3] = n_b
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


NAN_OUTSIDE = True  # placeholder bound by Kernel: whether count_outside counts NaN


def count_outside(a, lo, hi, partial):
    """How many elements of the flat array ``a`` lie below ``lo`` or above ``hi`` (NaN too
    when ``NAN_OUTSIDE``); one read of ``a``, no temporaries, per-block counts in
    ``partial``."""
    n = a.size
    for k in PRANGE(partial.size):
        start = k * BLOCK
        partial[k] = _n_outside(a[start:min(start + BLOCK, n)], lo, hi, NAN_OUTSIDE)
    total = 0
    for k in range(partial.size):
        total += partial[k]
    return total


# ---------------------------------------------------------------------------------------------
# Metric drivers (numloss.metrics). Each also fills ``stats[blk]`` with block blk's checks of its
# operands (counts of values out of bounds, ``weight_stats``), so that validation costs no
# second pass over the data. ``WEIGHTED``: whether ``w`` holds sample weights.
# ---------------------------------------------------------------------------------------------

ROW = None  # placeholder bound by Kernel: the per-row function of indexed_rows
FLOAT_KEYS = False  # binary_labels: the labels are the bits of floats, compared as label_key
N_STATS = 3


@cached_njit(fastmath={"reassoc", "contract"}, error_model="numpy")
def _n_outside(v, lo, hi, nan_outside=True):
    """How many entries are not in [lo, hi], NaN included unless ``nan_outside`` is False (an
    integer count vectorises where a float min/max reduction stays scalar)."""
    n = 0
    for i in range(v.size):
        x = v[i]
        inside = (x >= lo) & (x <= hi)
        if not nan_outside:
            inside = inside | (x != x)
        n += np.int64(not inside)
    return n


@cached_njit(fastmath={"reassoc", "contract"}, error_model="numpy")
def weight_stats(w, stats):
    """stats[1], stats[2] = #non-finite w, #nonzero w; returns the float64 sum of w (one pass;
    x - x is NaN exactly for non-finite x)."""
    acc = 0.0
    n_nonfinite = np.int32(0)
    n_nonzero = np.int32(0)
    for i in range(w.size):
        x = w[i]
        acc += np.float64(x)
        n_nonfinite += np.int32((x - x) != 0)
        n_nonzero += np.int32(x != 0)
    stats[1] = n_nonfinite
    stats[2] = n_nonzero
    return acc


@cached_njit(inline="always")
def weigh(loss, w, i, weighted):
    """``loss`` as float64, times ``w[i]`` when ``weighted``."""
    v = np.float64(loss)
    return v * w[i] if weighted else v


@cached_njit(error_model="numpy")
def block_col_sums(buf, w, out):
    """float64 column sums of one block of rows (``buf`` row-major with ``out.size - 1``
    columns), each row weighted by ``w[i]`` (``w`` empty: unweighted)."""
    k = out.size - 1
    for j in range(k):
        out[j] = 0.0
    for i in range(buf.size // k):
        wi = np.float64(w[i]) if w.size else 1.0
        for j in range(k):
            out[j] += np.float64(buf[i * k + j]) * wi


def column_sums(a, b, c, w, p, bounds, partial, stats):
    """Per-output sums of ``ELEM`` over an (n, k) pair of arrays, in one pass, in blocks of
    ``rows_per_block(k)`` rows.

    ``a``, ``b`` (and ``c`` when ``NIN == 3``): flat, C-ordered (n, k) arrays of one dtype, k
    being ``partial.shape[1] - 1``; ``w``: per-row weights (n,) when ``WEIGHTED``.
    ``partial[blk, j]`` receives the float64 sum over block blk's rows of
    ``w[i] * ELEM(a[i, j], b[i, j], c[i, j], p[0], p[1], p[2])[0]`` and ``partial[blk, k]`` the
    sum of its weights; ``stats[blk]``: (#a outside [bounds[0], bounds[1]] plus #b outside
    [bounds[2], bounds[3]], ``weight_stats``).

    With one output, a block is one loop that counts the operands' outliers and sums as it
    goes (``radd`` lets LLVM vectorise the sum inside the element math's strict loop; run it
    with ``Kernel.sized``); with several, the losses go through a block buffer summed per
    column.
    """
    k = partial.shape[1] - 1
    n = a.size // k
    p0 = p[0]
    p1 = p[1]
    p2 = p[2]
    lo_a = like(a[0], bounds[0])
    hi_a = like(a[0], bounds[1])
    lo_b = like(a[0], bounds[2])
    hi_b = like(a[0], bounds[3])
    rows = rows_per_block(k)
    for blk in PRANGE(partial.shape[0]):
        lo = blk * rows
        hi = min(lo + rows, n)
        av = a[lo * k:hi * k]
        bv = b[lo * k:hi * k]
        cv = c[lo * k:hi * k]
        wv = w[lo:hi]
        out = partial[blk]
        st = stats[blk]
        if k == 1:
            acc = 0.0
            n_out = 0
            for i in range(hi - lo):
                x = av[i]
                y = bv[i]
                loss = ELEM(x, y, cv[i] if NIN == 3 else x, p0, p1, p2)[0]
                acc = radd(acc, weigh(loss, wv, i, WEIGHTED))
                n_out += outside(x, lo_a, hi_a) + outside(y, lo_b, hi_b)
            out[0] = acc
            st[0] = n_out
        else:
            buf = np.empty(av.size, a.dtype)
            for i in range(av.size):
                buf[i] = ELEM(av[i], bv[i], cv[i] if NIN == 3 else av[i], p0, p1, p2)[0]
            block_col_sums(buf, wv, out)
            st[0] = _n_outside(av, lo_a, hi_a) + _n_outside(bv, lo_b, hi_b)
        w_sum = weight_stats(wv, st)
        out[k] = w_sum if WEIGHTED else hi - lo


@cached_njit(inline="always")
def label_key(x, float_keys):
    """An integer label as int64, or (``float_keys``) the integer bits of a float label mapped
    to an int64 of the same order: keys compare as the floats do, except that -0.0 < 0.0."""
    v = np.int64(x)
    if float_keys:
        return v ^ ((v >> 63) & 0x7FFFFFFFFFFFFFFF)
    return v


@cached_njit(fastmath={"reassoc", "contract"}, error_model="numpy")
def _key_max(y, float_keys):
    """The largest label key of ``y`` (an integer reduction: it vectorises)."""
    hi = label_key(y[0], float_keys)
    for i in range(y.size):
        x = label_key(y[i], float_keys)
        hi = x if x > hi else hi
    return hi


def binary_labels(x, y, w, p, known, pos, bounds, partial, labels, stats):
    """Sums of ``ELEM(x[i], t[i], x[i], p[0], p[1], p[2])`` for a binary target in one pass,
    with ``t[i]`` (1 or 0 in x's dtype) derived from the raw labels ``y``: integers, or the
    integer bits of floats (``FLOAT_KEYS``), compared through ``label_key``.

    With ``known``, the positive label's key is ``pos``: ``t = (key == pos)``. Otherwise it is
    found afterwards from the blocks' keys (``labels[blk, :2]``): a block holding two keys uses
    ``t = (key == its larger key)``; a block holding one sums both ``t = 1``
    (``partial[blk, 0]``) and ``t = 0`` (``partial[blk, 2]``), the caller choosing.
    ``partial[blk]``: (sum with t as above, sum of weights, sum with t = 0 [one-key blocks]);
    ``labels[blk]``: (smallest key, largest key, 0) of a block holding one or two keys; the last
    entry is nonzero for a block holding more (its first two are then two of its keys);
    ``stats[blk]``: (#x outside [bounds[0], bounds[1]], ``weight_stats``); ``w`` weighs
    sample i when ``WEIGHTED``.

    Each block is summed in one pass with ``t = (key == ref)``, ``ref`` being ``pos`` or (not
    ``known``) the largest key of the first block: the larger label wherever the first block
    holds both. A block whose ``t`` then differs from the one above is summed a second time.
    """
    n = x.size
    one = like(x[0], 1)
    zero = like(x[0], 0)
    p0 = like(x[0], p[0])
    p1 = like(x[0], p[1])
    p2 = like(x[0], p[2])
    lo_x = like(x[0], bounds[0])
    hi_x = like(x[0], bounds[1])
    ref = pos if known else _key_max(y[:BLOCK], FLOAT_KEYS)
    for blk in PRANGE(partial.shape[0]):
        lo = blk * BLOCK
        hi = min(lo + BLOCK, n)
        xv = x[lo:hi]
        yv = y[lo:hi]
        wv = w[lo:hi]
        j = 0  # other = the block's first key that is not ref (ref when there is none)
        while j < hi - lo - 1 and label_key(yv[j], FLOAT_KEYS) == ref:
            j += 1
        other = label_key(yv[j], FLOAT_KEYS)
        acc = 0.0
        n_ref = 0
        n_neither = 0
        n_x = np.int32(0)
        for i in range(hi - lo):
            xi = xv[i]
            key = label_key(yv[i], FLOAT_KEYS)
            hit = key == ref
            loss = ELEM(xi, one if hit else zero, xi, p0, p1, p2)[0]
            acc = radd(acc, weigh(loss, wv, i, WEIGHTED))
            n_ref += np.int64(hit)
            n_neither += np.int64((key != ref) & (key != other))
            n_x += outside(xi, lo_x, hi_x)
        lab = labels[blk]
        lab[0] = min(ref, other) if n_ref else other
        lab[1] = max(ref, other) if n_ref else other
        lab[2] = n_neither
        st = stats[blk]
        st[0] = n_x
        w_sum = weight_stats(wv, st)
        out = partial[blk]
        out[0] = acc
        out[1] = w_sum if WEIGHTED else hi - lo
        out[2] = 0.0
        # the second sum (not known, one or two keys): t = 1 for the one key other than ref,
        # t = 0 for the one key ref, or t = (key == other) where other is the larger key
        one_key = lab[0] == lab[1]
        if not known and n_neither == 0 and (one_key or other > ref):
            t_key = ref ^ 1 if other == ref else other
            acc2 = 0.0
            for i in range(hi - lo):
                hit = label_key(yv[i], FLOAT_KEYS) == t_key
                loss = ELEM(xv[i], one if hit else zero, xv[i], p0, p1, p2)[0]
                acc2 = radd(acc2, weigh(loss, wv, i, WEIGHTED))
            if one_key and n_ref:
                out[2] = acc2  # all ref, summed with t = 1 above and t = 0 here
            elif one_key:
                out[0] = acc2  # all other, summed with t = 0 above and t = 1 here
                out[2] = acc
            else:
                out[0] = acc2


def indexed_rows(x, t, w, p, bounds, k, partial, stats):
    """Sums of ``ROW(x[i, :], t[i], p[0], p[1], p[2])`` over the rows (in blocks of
    ``rows_per_block(k)``) of a flat, C-ordered (n, k) array ``x`` with one class index ``t[i]``
    per row, weighted by ``w[i]`` when ``WEIGHTED``, in one pass. ``partial[blk]``: (sum, sum
    of weights, count of rows whose float64 sum differs from 1 by more than ``p[3]``);
    ``stats[blk]``: (#x outside [bounds[0], bounds[1]], ``weight_stats``).
    """
    n = t.size
    p0 = like(x[0], p[0])
    p1 = like(x[0], p[1])
    p2 = like(x[0], p[2])
    tol = p[3]
    lo_x = like(x[0], bounds[0])
    hi_x = like(x[0], bounds[1])
    rows = rows_per_block(k)
    for blk in PRANGE(partial.shape[0]):
        lo = blk * rows
        hi = min(lo + rows, n)
        tv = t[lo:hi]
        wv = w[lo:hi]
        st = stats[blk]
        acc = 0.0
        n_off = 0
        for i in range(hi - lo):
            row = x[(lo + i) * k:(lo + i + 1) * k]
            acc += weigh(ROW(row, tv[i], p0, p1, p2), wv, i, WEIGHTED)
            n_off += np.int64(abs(block_sum(row) - 1.0) > tol)
        st[0] = _n_outside(x[lo * k:hi * k], lo_x, hi_x)
        w_sum = weight_stats(wv, st)
        out = partial[blk]
        out[0] = acc
        out[1] = w_sum if WEIGHTED else hi - lo
        out[2] = n_off
