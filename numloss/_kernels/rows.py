"""Row kernels: losses whose terms are whole rows of classes (cross-entropy, NLL, the margin
losses) or pairs / triples of embedding rows (cosine embedding, triplet).

One driver template, ``blocks(partial, bs, nrows, *args)``, specialised per loss by
:class:`._compile.Kernel` (``ROW`` bound to a chunk function, ``PRANGE`` to ``prange`` or
``range``). It cuts the rows into fixed blocks of ``bs`` rows (chosen from the shape only), runs
the blocks in (p)range, stores each block's float64 loss sum in ``partial[k]`` and returns the
sum of the partials added in block order: the reduction is the same whatever the thread count.
The chunk functions take ``*args`` and the block's ``lo, hi``, in one of two forms:

* class scores, ``(x, t, y, w, ip, fp, go, out, g)`` -- ``x`` is the input viewed as
  ``(N, C, D)`` (``D`` = product of the K extra dimensions, 1 for ``(N, C)``); a "row" is one
  (sample, position) pair, ``N * D`` of them. With ``D > 1`` the class axis is strided: the chunk
  functions walk it in place, vectorised along the positions (tiles of ``TD``), no transpose.
  The cross-entropy also vectorises across rows for an (N, C) input with few classes
  (``SMALL_C``), through a transposed copy of each tile of ``TD`` rows (see ``ce_tiles``).
* embeddings, ``(a, b, c, t, ip, fp, go, out, ga, gb, gc)`` -- two or three ``(R, D)`` inputs;
  a row is one embedding.

The chunk function of a loss processes rows ``[lo, hi)``: it writes each row's loss to
``out[r]`` (in the input's dtype), returns their float64 sum, and -- when ``ip[0]`` is set --
writes the gradient rows in the same sweep, scaled by ``go[r * ip[1]] * fp[0]``
(``grad_output`` per row for ``"none"``, or one scalar with ``1 / denominator`` folded in).
Unused operands are empty placeholders of fixed types, so each kernel has one specialisation
per dtype.

Chunk functions are plain ``njit`` functions called (not inlined at Numba level) from the
drivers: they are compiled once per dtype and the serial and parallel drivers run the same,
already vectorised, row code (the tests check 1 and 2 threads give identical bits). So are a
few bigger helpers (tile sums, norms), which keeps compile time down; small per-row helpers are
inlined. In them, hot loops run over contiguous views from index 0; sums use ``radd`` (a float
add LLVM may reassociate, so the loop vectorises) on float32 partials of ``SB`` elements added
into float64. The softmax shifts by the max of a row's first 16 logits and redoes the row with
the true max only when the exp-sum shows that shift was unsafe (``first_shift``), so the usual
row is read twice (shift, then exp-sum [+ gradient store]) and scaled once more for the
gradient; its exp is ``sexp`` (float32 exp with fewer operations than ``vexp``, for arguments
<= 88); other math uses the vectorisable ``vexp``/``vlog``/``vlog1p``. Per-row scalars (``log``
of the row sum, the row loss, gradient coefficients) are float64.
"""
import math
import platform

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

from ._math import _as_float, _as_int, _fma, vexp, vlog, vlog1p

# --------------------------------------------------------------------------------------------
# Small building blocks
# --------------------------------------------------------------------------------------------

OPTS = dict(error_model="numpy", fastmath={"contract"}, nogil=True)
inline = njit(inline="always", **OPTS)
chunk = njit(**OPTS)

SB = 256  # elements per float32 partial sum inside a row

NAN = math.nan
INF = math.inf


@intrinsic
def radd(typingctx, a, b):
    """a + b with LLVM's ``reassoc`` flag: a loop accumulating with it may be vectorised (the
    order of the additions is then fixed by the compiled code, the same for every call)."""
    if not (isinstance(a, types.Float) and a == b):
        return None

    def codegen(context, builder, sig, args):
        return builder.fadd(args[0], args[1], flags=("reassoc", "contract"))

    return a(a, b), codegen


def _minmax(name, flags=()):
    def impl(typingctx, a, b):
        if not (isinstance(a, types.Float) and a == b):
            return None

        def codegen(context, builder, sig, args):
            fty = context.get_value_type(sig.return_type)
            fn = builder.module.declare_intrinsic(name, [fty], fnty=ir.FunctionType(fty, [fty, fty]))
            return builder.call(fn, list(args), fastmath=flags)

        return a(a, b), codegen

    return intrinsic(impl)


fmax = _minmax("llvm.maxnum")  # max ignoring NaN (vectorisable reduction)
fmin = _minmax("llvm.minnum")
# The softmax shift: maxnum without its NaN fix-up (one vmaxps per vector, 1.7x faster than
# fmax). With a NaN in the row the result is some element or NaN -- no longer the max -- but
# then the row's sum of exp(x - m) is NaN whatever m is, which is torch's result. Only ever used
# in arithmetic (never in a branch), as LLVM treats a NaN here as poison.
fmax_shift = _minmax("llvm.maxnum", ("nnan",))


# --------------------------------------------------------------------------------------------
# Streaming zero fill, for NLL's gradient (zeros but one entry per row). An array larger than
# the last-level cache is written with non-temporal stores, which skip the read-for-ownership
# of every cache line that plain stores do: half the memory traffic (65 MB fill measured 2.5x
# faster; below the cache size plain stores win, as the array stays cached). Numba cannot
# express them, so the intrinsic builds the loop in LLVM IR: scalar stores up to 64-byte
# alignment, <64-byte vector> stores with !nontemporal, a scalar tail, then sfence
# (non-temporal stores are weakly ordered).
# --------------------------------------------------------------------------------------------


_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


def _stream_loop(context, builder, n, data, scalar_body, vector_body, vl, itemsize):
    i64 = ir.IntType(64)
    fn = builder.function
    addr = builder.ptrtoint(data, i64)
    mis = builder.and_(addr, ir.Constant(i64, 63))
    head = builder.udiv(builder.and_(builder.sub(ir.Constant(i64, 64), mis), ir.Constant(i64, 63)),
                        ir.Constant(i64, itemsize))
    head = builder.select(builder.icmp_unsigned("<", head, n), head, n)

    def loop(start, stop, step, body):
        pre = builder.block
        hdr = fn.append_basic_block()
        bod = fn.append_basic_block()
        end = fn.append_basic_block()
        builder.branch(hdr)
        builder.position_at_end(hdr)
        i = builder.phi(i64)
        i.add_incoming(start, pre)
        builder.cbranch(builder.icmp_signed("<", builder.add(i, ir.Constant(i64, step - 1)), stop), bod, end)
        builder.position_at_end(bod)
        body(i)
        i.add_incoming(builder.add(i, ir.Constant(i64, step)), builder.block)
        builder.branch(hdr)
        builder.position_at_end(end)
        return i

    loop(ir.Constant(i64, 0), head, 1, scalar_body)
    i_vec_end = loop(head, n, vl, vector_body)
    loop(i_vec_end, n, 1, scalar_body)
    if _X86:
        sfence = builder.module.declare_intrinsic("llvm.x86.sse.sfence", fnty=ir.FunctionType(ir.VoidType(), []))
        builder.call(sfence, [])
    else:
        builder.fence("seq_cst")


def _splat(builder, val, vty, vl):
    v = ir.Constant(vty, [ir.Undefined] * vl)
    for k in range(vl):
        v = builder.insert_element(v, val, ir.Constant(ir.IntType(32), k))
    return v


def _is_vec1d(a):
    return isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C" and isinstance(a.dtype, types.Float)


@intrinsic
def stream_fill(typingctx, dst, val):
    """dst[:] = val with non-temporal stores (x86 only: see ``STREAMING``)."""
    if not (_is_vec1d(dst) and val == dst.dtype):
        return None

    def codegen(context, builder, sig, args):
        aty = sig.args[0]
        ary = context.make_array(aty)(context, builder, args[0])
        fty = context.get_value_type(aty.dtype)
        size = aty.dtype.bitwidth // 8
        vl = 64 // size
        vty = ir.VectorType(fty, vl)
        splat = _splat(builder, args[1], vty, vl)
        md = builder.module.add_metadata([ir.Constant(ir.IntType(32), 1)])

        def scalar(i):
            builder.store(args[1], builder.gep(ary.data, [i]))

        def vector(i):
            st = builder.store(splat, builder.bitcast(builder.gep(ary.data, [i]), vty.as_pointer()), align=64)
            st.set_metadata("nontemporal", md)

        _stream_loop(context, builder, ary.nitems, ary.data, scalar, vector, vl, size)
        return context.get_dummy_value()

    return types.none(dst, val), codegen


def cst(arr, c):
    """``c`` in the element type of array ``arr`` (interpreted fallback)."""
    return arr.dtype.type(c)


@overload(cst)
def _cst(arr, c):
    if isinstance(arr, types.Array) and arr.dtype == types.float32:
        return lambda arr, c: np.float32(c)
    return lambda arr, c: np.float64(c)


# --------------------------------------------------------------------------------------------
# sexp: exp(z) for the softmax, z = x - shift, accurate for z <= 88.3 (inf above: the caller
# then redoes the row with the true max, see first_shift) and NaN. float32: one fma + the magic-number
# rounding for n = round(z log2 e), Cody-Waite r = z - n ln2 (two fmas), a degree-6 minimax
# polynomial for e^r on |r| <= ln2/2 (coefficients fitted here for relative error: 1.9e-9 in
# exact arithmetic; measured <= 1.05 ulp over [-87.3, 0] in float32), times 2^n from the bits.
# Results below 2^-126 (z < -87.34) are flushed to 0: as summands of a softmax denominator >= 1
# they are far below its rounding. NaN propagates (through r). ~16 vector operations instead of
# vexp's ~27 (no clamps, one scale, one select). float64 uses vexp.
# --------------------------------------------------------------------------------------------



def sexp(z):
    """exp(z) for z <= 0 (interpreted fallback)."""
    return np.exp(z)


def _sexp32(z):
    # constants written as literals so that they compile to immediates (a global tuple is
    # reloaded from memory in the loop)
    t = _fma(z, np.float32(1.4426950408889634), np.float32(12582912.0))  # z log2 e + 1.5 2**23
    nf = t - np.float32(12582912.0)  # round(z log2 e)
    n = np.int32(_as_int(t) - np.int32(1262485504))  # the same as an integer
    n = min(n, np.int32(128))  # z > 88.4: 2**128 = inf (a caller's overflow signal), not garbage
    r = _fma(nf, np.float32(-0.693145751953125), z)  # - n ln2_hi (exact)
    r = _fma(nf, np.float32(-1.428606765330187e-06), r)  # - n ln2_lo
    p = _fma(np.float32(0.001383678987622261), r, np.float32(0.00837485771626234))
    p = _fma(p, r, np.float32(0.041668228805065155))
    p = _fma(p, r, np.float32(0.16666419804096222))
    p = _fma(p, r, np.float32(0.49999991059303284))
    p = _fma(p, r, np.float32(1.0))
    p = _fma(p, r, np.float32(1.0))
    y = p * _as_float(np.int32(np.int32(n + np.int32(127)) << np.int32(23)))  # * 2**n
    return np.float32(0.0) if z < np.float32(-87.33654) else y


@overload(sexp, inline="always")
def _sexp_overload(z):
    if isinstance(z, types.Float) and z.bitwidth == 32:
        return _sexp32
    return lambda z: vexp(z)


@inline
def rowmax(xr):
    m = cst(xr, -INF)
    for c in range(xr.size):
        m = fmax(m, xr[c])
    return m


@inline
def rowshift(xr):
    """The softmax shift: the row's max, or (with a NaN in the row) any value -- see fmax_shift."""
    m = cst(xr, -INF)
    for c in range(xr.size):
        m = fmax_shift(m, xr[c])
    return m


@inline
def hasnan(xr):
    k = 0
    for c in range(xr.size):
        k += np.int32(xr[c] != xr[c])
    return k > 0


@inline
def fill(gr, v):
    for c in range(gr.size):
        gr[c] = v


@inline
def expsum(xr, m, gr, store):
    """sum_c exp(x_c - m) in float64; with ``store``, exp(x_c - m) is written to ``gr``."""
    s = 0.0
    for b0 in range(0, xr.size, SB):
        xb = xr[b0:b0 + SB]
        p = cst(xr, 0)
        if store:
            gb = gr[b0:b0 + SB]
            for c in range(xb.size):
                z = xb[c] - m
                e = sexp(z)
                gb[c] = e
                p = radd(p, e)
        else:
            for c in range(xb.size):
                z = xb[c] - m
                p = radd(p, sexp(z))
        s += p
    return s


@inline
def expsum_dot(xr, m, wr, gr, store):
    """(sum_c exp(x_c - m), sum_c w_c (x_c - m)), float64."""
    s = 0.0
    q = 0.0
    for b0 in range(0, xr.size, SB):
        xb = xr[b0:b0 + SB]
        wb = wr[b0:b0 + SB]
        p = cst(xr, 0)
        u = cst(xr, 0)
        if store:
            gb = gr[b0:b0 + SB]
            for c in range(xb.size):
                z = xb[c] - m
                e = sexp(z)
                gb[c] = e
                p = radd(p, e)
                u = radd(u, wb[c] * z)
        else:
            for c in range(xb.size):
                z = xb[c] - m
                p = radd(p, sexp(z))
                u = radd(u, wb[c] * z)
        s += p
        q += u
    return s, q


@inline
def expsum_prob(xr, m, wr, yr, kk, ke, gr, store):
    """(sum exp(x - m), sum w y' (x - m), sum w y'), float64, with y' = kk y + ke computed per
    element (as torch smooths the target before using it)."""
    s = 0.0
    q = 0.0
    wy = 0.0
    for b0 in range(0, xr.size, SB):
        xb = xr[b0:b0 + SB]
        wb = wr[b0:b0 + SB]
        yb = yr[b0:b0 + SB]
        p = cst(xr, 0)
        u = cst(xr, 0)
        v = cst(xr, 0)
        if store:
            gb = gr[b0:b0 + SB]
            for c in range(xb.size):
                z = xb[c] - m
                e = sexp(z)
                gb[c] = e
                p = radd(p, e)
                a = wb[c] * (kk * yb[c] + ke)
                u = radd(u, a * z)
                v = radd(v, a)
        else:
            for c in range(xb.size):
                z = xb[c] - m
                p = radd(p, sexp(z))
                a = wb[c] * (kk * yb[c] + ke)
                u = radd(u, a * z)
                v = radd(v, a)
        s += p
        q += u
        wy += v
    return s, q, wy


@inline
def first_shift(xr):
    """A provisional softmax shift without a pass over the row: the max of its first 16 entries.
    The exp-sum runs with it; only when the sum exceeds ``SUM_OK`` (some x - shift may be above
    40, or overflowed to inf, or the row has a NaN) is the row redone with the true max
    (``rowshift``). Both give the same function of x -- exp(x - m) / sum for any m with which
    nothing overflows, torch's max being one such m -- up to rounding. (NaN-ignoring ``fmax``:
    the sum computed with it decides a branch.)"""
    return rowmax(xr[:16])


SUM_OK = math.exp(40.0)  # every term is below e^40 if the sum is; nothing near float32 overflow


TD = 128  # positions per tile for (N, C, D) inputs with D > 1
SOFT_TILE = 2048  # elements per tile of multilabel_soft_margin's flat exp / log1p pass
CB = 64  # classes per float32 partial of a tile's sums


@inline
def tile_max(xn, d0, nd, c0, c1, m):
    """m[j] = max(m[j], x[c, d0 + j] for c in [c0, c1)), vectorised along the positions."""
    for c in range(c0, c1):
        xv = xn[c, d0:d0 + nd]
        for j in range(nd):
            m[j] = fmax(m[j], xv[j])


@chunk
def tile_sums(xn, yn, gn, wv, d0, nd, C, m, s, q, h, s32, q32, h32, store, mode, kk, ke):
    """Per position j of a tile (float64, float32 partials over CB classes):
    s = sum_c exp(x_c - m); mode 1: q = sum_c w_c (x_c - m); mode 2 (probabilities):
    q = sum_c a_c (x_c - m), h = sum_c a_c with a_c = w_c (kk y_c + ke). With ``store``,
    exp(x_c - m) goes to ``gn``. The class axis is walked in place (stride D)."""
    d1 = d0 + nd
    for j in range(nd):
        s[j] = 0.0
        q[j] = 0.0
        h[j] = 0.0
    for c0 in range(0, C, CB):
        for j in range(nd):
            s32[j] = 0
            q32[j] = 0
            h32[j] = 0
        for c in range(c0, min(c0 + CB, C)):
            xv = xn[c, d0:d1]
            if store:
                gv = gn[c, d0:d1]
                for j in range(nd):
                    e = sexp(xv[j] - m[j])
                    gv[j] = e
                    s32[j] += e
            else:
                for j in range(nd):
                    s32[j] += sexp(xv[j] - m[j])
            if mode == 1:
                wc = wv[c]
                for j in range(nd):
                    q32[j] += wc * (xv[j] - m[j])
            elif mode == 2:
                wc = wv[c]
                yv = yn[c, d0:d1]
                for j in range(nd):
                    a = wc * (kk * yv[j] + ke)
                    q32[j] += a * (xv[j] - m[j])
                    h32[j] += a
        for j in range(nd):
            s[j] += s32[j]
            q[j] += q32[j]
            h[j] += h32[j]


@chunk
def tile_softmax_sums(xn, yn, gn, wv, d0, nd, C, m, s, q, h, s32, q32, h32, store, mode, kk, ke):
    """``tile_sums`` with the shift of ``first_shift`` per position (max of the first 16
    classes), redone with the true max when a position's sum exceeds ``SUM_OK``."""
    for j in range(nd):
        m[j] = -INF
    tile_max(xn, d0, nd, 0, min(C, 16), m)
    for attempt in range(2):
        tile_sums(xn, yn, gn, wv, d0, nd, C, m, s, q, h, s32, q32, h32, store, mode, kk, ke)
        redo = False
        for j in range(nd):
            if not s[j] <= SUM_OK:
                redo = True
        if not redo or C <= 16:
            break
        tile_max(xn, d0, nd, 16, C, m)


@inline
def scale_row(gr, a, wr, b):
    """gr = gr * a - w * b (softmax times a, minus the smoothing term)."""
    for c in range(gr.size):
        gr[c] = gr[c] * a - wr[c] * b


@inline
def scale_only(gr, a):
    for c in range(gr.size):
        gr[c] = gr[c] * a


@chunk
def ignored_row_grad(xr, gr):
    """The gradient torch gives a row whose target is ignored: 0 - softmax * 0, i.e. zeros,
    or NaN everywhere when the row's softmax is NaN (a NaN or +inf logit, or all -inf)."""
    m = rowmax(xr)
    bad = not (abs(m) < INF) or hasnan(xr)
    fill(gr, cst(gr, NAN) if bad else cst(gr, 0))


# --------------------------------------------------------------------------------------------
# Target validation (run before any loss kernel; plain functions, compiled through Kernel)
# --------------------------------------------------------------------------------------------


def index_stats(t, C, ii, w):
    """One pass over flat class indices ``t``: (position of the first entry outside [0, C) that
    is not ``ii``, or -1; the number of entries equal to ``ii``; the float64 sum of ``w[t]`` over
    the others -- torch's "mean" denominator). Stops at the first bad entry."""
    nign = 0
    tot = 0.0
    for i in range(t.size):
        v = t[i]
        if v == ii:
            nign += 1
        elif v < 0 or v >= C:
            return i, nign, tot
        else:
            tot += w[v]
    return -1, nign, tot


@inline
def nll_run(xs, ts, os, w, ii, tot, acc):
    """NLL of a run of rows: row i has class scores ``xs[:, i]`` and class index ``ts[i]``. Adds
    ``w[t]`` (over the entries not ignored) to ``tot`` and the losses ``-w[t] x_t`` to ``acc``,
    in row order, and stores each row's loss (0 where ignored) in ``os[i]`` unless ``os`` is
    empty. Returns (the run's first index outside [0, C) that is not ``ii``, or -1; tot; acc):
    each index is checked before it is used. The views are indexed from 0, so the loop has no
    negative-index fix-up (indexed from a block's first row instead, the serial forward took
    36.5 against 23.5 us at (16384, 100), float32)."""
    C = xs.shape[0]
    rows = os.size > 0
    for i in range(ts.size):
        tr = ts[i]
        loss = 0.0
        if tr != ii:
            if tr < 0 or tr >= C:
                return i, tot, acc
            wt = w[tr]
            tot += wt
            loss = -(np.float64(wt) * np.float64(xs[tr, i]))
            acc += loss
        if rows:
            os[i] = loss
    return -1, tot, acc


@inline
def nll_rows2d(x2, t1, w, ii, lo, hi, out):
    """Rows [lo, hi) of an (N, C) input: (position of the first class index outside [0, C) that
    is not ``ii``, or -1; the float64 sum of w[t] over the entries not ignored; the loss sum in
    row order), the row losses written to ``out`` unless it is empty (see ``nll_run``)."""
    bad, tot, acc = nll_run(x2[lo:hi].T, t1[lo:hi], out[lo:hi], w, ii, 0.0, 0.0)
    return (lo + bad if bad >= 0 else -1), tot, acc


@inline
def nll_rows(x, t, w, ii, lo, hi, out):
    """``nll_rows2d`` for rows (sample, position) [lo, hi) of an (N, C, D) input, one sample's
    run of positions at a time (for D == 1, all the rows as one run)."""
    N, C, D = x.shape
    if D == 1:
        return nll_rows2d(x[:, :, 0], t[:, 0], w, ii, lo, hi, out)
    tot = 0.0
    acc = 0.0
    r = lo
    while r < hi:
        n = r // D
        d0 = r - n * D
        d1 = min(D, d0 + (hi - r))
        bad, tot, acc = nll_run(x[n, :, d0:d1], t[n, d0:d1], out[r:r + d1 - d0], w, ii, tot, acc)
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


NLL_ROWS = None  # nll_sum's row function: nll_rows (an (N, C, D) input) or nll_rows2d ((N, C))


def nll_sum(x, t, w, ii, bs, out):
    """The NLL forward, which also checks each class index before it is used: blocks of ``bs``
    rows (parallel with ``PRANGE``), each summing in row order, then the blocks in order.
    Returns (position of the first entry outside [0, C) that is not ``ii``, or -1; the float64
    sum of w[t] over the entries not ignored -- torch's "mean" denominator; the loss sum), and
    writes the row losses to ``out`` unless it is empty. Every NLL, with or without the
    gradient, takes its loss from here. A template (see ``blocks``): ``NLL_ROWS`` is
    ``nll_rows`` for the general path's (N, C, D) views, ``nll_rows2d`` for the plain call's
    (N, C) input and (N,) targets, passed as they are -- the same blocks and numbers."""
    nrows = t.size
    nb = -(-nrows // bs)
    bad = np.empty(nb, np.int64)
    sums = np.empty((2, nb))
    for k in PRANGE(nb):
        lo = k * bs
        bad[k], sums[0, k], sums[1, k] = NLL_ROWS(x, t, w, ii, lo, min(lo + bs, nrows), out)
    return first_bad_and_sums(bad, sums[0], sums[1])


# --------------------------------------------------------------------------------------------
# Driver templates
# --------------------------------------------------------------------------------------------

ROW = None
PRANGE = range


def blocks(partial, bs, nrows, *args):
    """Rows ``[0, nrows)`` in blocks of ``bs``: ``partial[k] = ROW(*args, lo, hi)`` for block k's
    rows ``[lo, hi)``; returns the partials' sum, added in block order."""
    for k in PRANGE(partial.size):
        lo = k * bs
        hi = min(lo + bs, nrows)
        partial[k] = ROW(*args, lo, hi)
    total = 0.0
    for k in range(partial.size):
        total += partial[k]
    return total


SMALL_C = 32  # (N, C) inputs with at most this many classes take ce_tiles, rows transposed


@chunk
def ce_tiles(x, t, y, w, go, out, g, lo, hi, gs, gscale, ii, eps, wsum, mode, grad):
    """Cross-entropy rows [lo, hi) of an (N, C, D) input, in tiles of up to ``TD`` rows
    vectorised across the rows of a tile (not along a row's classes). With D > 1 a tile is ``TD``
    positions of one sample, its classes walked in place (stride D). With D == 1 (an (N, C)
    input with at most ``SMALL_C`` classes, too few for a row's loop to vectorise well) a tile
    is ``TD`` rows copied transposed into a (C, TD) scratch, and its gradient copied back.
    ``mode``: 0 class-index targets ``t``, 1 the same with label smoothing ``eps`` (``wsum`` =
    sum of the class weights), 2 class-probability targets ``y`` (smoothed by ``eps``). Returns
    the float64 loss sum."""
    N, C, D = x.shape
    f64 = np.empty((4, TD))  # per position: shift-free sums s, q, h (or w y'), log s
    fx = np.empty((7, TD), x.dtype)  # max; the tile sums' float32 partials; gradient factors
    acc = 0.0
    r = lo
    if D == 1:
        x2 = x.reshape((N, C))
        y2 = y.reshape((y.shape[0], C))
        g2 = g.reshape((g.shape[0], C))
        xs = np.empty((3, C, TD), x.dtype)  # the tile's x, y and gradient, transposed
        while r < hi:
            nd = min(TD, hi - r)
            transpose_in(x2, xs[0], r, nd)
            if mode == 2:
                transpose_in(y2, xs[1], r, nd)
            acc += ce_tile(xs[0], xs[1], xs[2], t[r:r + nd, 0], w[0], go, out, r, 0, nd, gs, gscale,
                           ii, eps, wsum, mode, grad, f64, fx)
            if grad:
                transpose_out(xs[2], g2, r, nd)
            r += nd
        return acc
    while r < hi:
        n = r // D
        d0 = r - n * D
        nd = min(TD, D - d0, hi - r)
        acc += ce_tile(x[n], y[n] if mode == 2 else x[n], g[n], t[n, d0:d0 + nd], w[0], go, out, r,
                       d0, nd, gs, gscale, ii, eps, wsum, mode, grad, f64, fx)
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


@chunk
def ce_tile(xn, yn, gn, tv, wv, go, out, r, d0, nd, gs, gscale, ii, eps, wsum, mode, grad, f64, fx):
    """One tile of ``ce_tiles``: positions ``d0 .. d0 + nd`` of the (C, .) views ``xn``, ``yn``,
    ``gn`` are rows ``r .. r + nd`` of the loss; ``tv`` their class indices."""
    C = xn.shape[0]
    d1 = d0 + nd
    keep = 1.0 - eps
    epc = eps / C
    kk = cst(xn, keep if mode == 2 else 1.0)
    ke = cst(xn, epc if mode == 2 else 0.0)
    m = fx[0, :nd]
    s32 = fx[1]
    q32 = fx[2]
    h32 = fx[3]
    av = fx[4]
    bv = fx[5]
    fix = fx[6]
    s = f64[0, :nd]
    q = f64[1, :nd]
    h = f64[2, :nd]
    ls = f64[3, :nd]
    acc = 0.0
    tile_softmax_sums(xn, yn, gn, wv, d0, nd, C, m, s, q, h, s32, q32, h32, grad, mode, kk, ke)
    for j in range(nd):  # vectorised log (float64)
        ls[j] = vlog(s[j])
    for j in range(nd):
        sc = np.float64(go[(r + j) * gs]) * gscale if grad else 0.0
        if mode == 2:
            loss = ls[j] * h[j] - q[j]
            av[j] = cst(av, sc * h[j] / s[j])
            bv[j] = cst(bv, sc)
        else:
            tr = tv[j]
            if tr == ii:
                out[r + j] = 0
                av[j] = cst(av, 0.0 / s[j])
                bv[j] = 0
                fix[j] = 0
                continue
            wt = np.float64(wv[tr])
            loss = wt * ((np.float64(m[j]) - np.float64(xn[tr, d0 + j])) + ls[j])
            if mode == 1:
                loss = keep * loss + epc * (ls[j] * wsum - q[j])
            av[j] = cst(av, sc * (keep * wt + epc * wsum) / s[j])
            bv[j] = cst(bv, sc * epc)
            fix[j] = cst(fix, sc * keep * wt)
        out[r + j] = loss
        acc += loss
    if grad:
        a = av[:nd]
        b = bv[:nd]
        for c in range(C):
            gv = gn[c, d0:d1]
            wc = wv[c]
            if mode == 0:
                for j in range(nd):
                    gv[j] = gv[j] * a[j]
            elif mode == 1:
                for j in range(nd):
                    gv[j] = gv[j] * a[j] - wc * b[j]
            else:
                yv = yn[c, d0:d1]
                for j in range(nd):
                    gv[j] = gv[j] * a[j] - b[j] * (wc * (kk * yv[j] + ke))
        if mode != 2:
            for j in range(nd):
                tr = tv[j]
                if tr != ii:
                    gn[tr, d0 + j] -= fix[j]
    return acc


# --------------------------------------------------------------------------------------------
# Cross-entropy with class-index targets
#   ip: [grad, gs, ignore_index]    fp: [gscale, label_smoothing (0 if off), sum(w)]
#   loss_r = (1 - e) w_t (lse - x_t) + (e / C) sum_c w_c (lse - x_c)
#   grad_c = sc [p_c ((1 - e) w_t + (e / C) sum w) - (e / C) w_c - (1 - e) w_t [c == t]]
# --------------------------------------------------------------------------------------------


@chunk
def ce_index(x, t, y, w, ip, fp, go, out, g, lo, hi):
    N, C, D = x.shape
    grad = ip[0] != 0
    gs = ip[1]
    ii = ip[2]
    gscale = fp[0]
    eps = fp[1]
    wsum = fp[2]
    smooth = eps > 0.0
    keep = 1.0 - eps
    epc = eps / C
    wv = w[0]
    acc = 0.0
    if D == 1 and C > SMALL_C:
        x2 = x.reshape((N, C))
        g2 = g.reshape((g.shape[0], C))
        for r in range(lo, hi):
            xr = x2[r]
            tr = t[r, 0]
            if tr == ii:
                out[r] = 0
                if grad:
                    ignored_row_grad(xr, g2[r])
                continue
            # g2[r] is only written when grad is set (without it g is an empty placeholder)
            m = first_shift(xr)
            q = 0.0
            s = 0.0
            for attempt in range(2):  # redo with the true max if the provisional shift was unsafe
                if smooth:
                    s, q = expsum_dot(xr, m, wv, g2[r], grad)
                else:
                    s = expsum(xr, m, g2[r], grad)
                if s <= SUM_OK:
                    break
                m = rowshift(xr)
            ls = math.log(s)
            wt = np.float64(wv[tr])
            nll = (np.float64(m) - np.float64(xr[tr])) + ls
            loss = wt * nll
            if smooth:
                loss = keep * loss + epc * (ls * wsum - q)
            out[r] = loss
            acc += loss
            if grad:
                gr = g2[r]
                sc = np.float64(go[r * gs]) * gscale
                if smooth:
                    scale_row(gr, cst(gr, sc * (keep * wt + epc * wsum) / s), wv, cst(gr, sc * epc))
                else:
                    scale_only(gr, cst(gr, sc * wt / s))
                gr[tr] -= cst(gr, sc * keep * wt)
        return acc

    return ce_tiles(x, t, y, w, go, out, g, lo, hi, gs, gscale, ii, eps, wsum, 1 if smooth else 0, grad)


# --------------------------------------------------------------------------------------------
# Cross-entropy with class-probability targets y (input's shape)
#   ip: [grad, gs]    fp: [gscale, label_smoothing (0 if off)]
#   y' = (1 - e) y + e / C;  loss_r = sum_c w_c y'_c (lse - x_c)
#   grad_c = sc (p_c sum_k w_k y'_k - w_c y'_c)
# --------------------------------------------------------------------------------------------


@chunk
def ce_prob(x, t, y, w, ip, fp, go, out, g, lo, hi):
    N, C, D = x.shape
    grad = ip[0] != 0
    gs = ip[1]
    gscale = fp[0]
    eps = fp[1]
    keep = 1.0 - eps
    epc = eps / C
    wv = w[0]
    kk = cst(x, keep)  # y' = kk y + ke, in the input's dtype (as torch)
    ke = cst(x, epc)
    acc = 0.0
    if D == 1 and C > SMALL_C:
        x2 = x.reshape((N, C))
        y2 = y.reshape((N, C))
        g2 = g.reshape((g.shape[0], C))
        for r in range(lo, hi):
            xr = x2[r]
            yr = y2[r]
            m = first_shift(xr)
            s = q = wy = 0.0
            for attempt in range(2):  # redo with the true max if the provisional shift was unsafe
                s, q, wy = expsum_prob(xr, m, wv, yr, kk, ke, g2[r], grad)
                if s <= SUM_OK:
                    break
                m = rowshift(xr)
            ls = math.log(s)
            loss = ls * wy - q
            out[r] = loss
            acc += loss
            if grad:
                gr = g2[r]
                sc = np.float64(go[r * gs]) * gscale
                a = cst(gr, sc * wy / s)
                b = cst(gr, sc)
                for c in range(C):
                    gr[c] = gr[c] * a - b * (wv[c] * (kk * yr[c] + ke))
        return acc

    return ce_tiles(x, t, y, w, go, out, g, lo, hi, gs, gscale, -1, eps, 0.0, 2, grad)


# --------------------------------------------------------------------------------------------
# NLL's gradient: -sc w_t at the target, 0 elsewhere (its loss comes from ``nll_sum``, which
# also validated the targets; this chunk returns 0).
#   ip: [grad, gs, ignore_index, stream]    fp: [gscale]
# --------------------------------------------------------------------------------------------


@chunk
def nll(x, t, y, w, ip, fp, go, out, g, lo, hi):
    N, C, D = x.shape
    gs = ip[1]
    ii = ip[2]
    gscale = fp[0]
    wv = w[0]
    if D == 1:
        g1 = g.reshape(g.size)
        if ip[3] != 0:
            stream_fill(g1[lo * C:hi * C], cst(g, 0))
        else:
            fill(g1[lo * C:hi * C], cst(g, 0))  # the block's rows are contiguous: one memset
        for r in range(lo, hi):
            tr = t[r, 0]
            if tr != ii:
                g1[r * C + tr] = cst(g, -(np.float64(wv[tr]) * (np.float64(go[r * gs]) * gscale)))
        return 0.0
    r = lo
    while r < hi:
        n = r // D
        d0 = r - n * D
        d1 = min(D, d0 + (hi - r))
        if d0 == 0 and d1 == D:
            fill(g[n].reshape(C * D), cst(g, 0))  # a whole sample: contiguous
        else:
            for c in range(C):
                fill(g[n, c, d0:d1], cst(g, 0))
        for d in range(d0, d1):
            tr = t[n, d]
            if tr != ii:
                sc = np.float64(go[(n * D + d) * gs]) * gscale
                g[n, tr, d] = cst(g, -(np.float64(wv[tr]) * sc))
        r += d1 - d0
    return 0.0


# --------------------------------------------------------------------------------------------
# Multi-class margin: loss_r = w_t sum_{c != t} h(margin - x_t + x_c) / C,
#   h(z) = z^p where z > 0, else 0 (NaN terms count as 0, as torch's `if (z > 0)`).
#   ip: [grad, gs, p]    fp: [gscale, margin]
# --------------------------------------------------------------------------------------------


@inline
def margin_sums(xv, base, p2, skip):
    """(sum h(z), sum h'(z)) over the view but its entry ``skip``, z = base + x_c (float64
    totals). One pass with the skipped entry masked, not two slices: a row of a few classes
    would pay two loops' set-up for a handful of elements."""
    s = 0.0
    sd = 0.0
    zero = cst(xv, 0)
    for b0 in range(0, xv.size, SB):
        xb = xv[b0:b0 + SB]
        k = skip - b0
        u = zero
        v = zero
        if p2:
            for c in range(xb.size):
                z = base + xb[c]
                z = z if z > zero and c != k else zero
                u = radd(u, z * z)
                v = radd(v, z)
        else:
            one = cst(xv, 1)
            for c in range(xb.size):
                z = base + xb[c]
                pos = z > zero and c != k
                u = radd(u, z if pos else zero)
                v = radd(v, one if pos else zero)
        s += u
        sd += v
    if p2:
        sd *= 2.0
    return s, sd


@chunk
def multi_margin(x, t, y, w, ip, fp, go, out, g, lo, hi):
    N, C, D = x.shape
    grad = ip[0] != 0
    gs = ip[1]
    p2 = ip[2] == 2
    gscale = fp[0]
    x2 = x.reshape((N, C))
    g2 = g.reshape((g.shape[0], C))
    wv = w[0]
    margin = cst(x, fp[1])
    zero = cst(x, 0)
    acc = 0.0
    for r in range(lo, hi):
        xr = x2[r]
        tr = t[r, 0]
        base = margin - xr[tr]
        sm, dm = margin_sums(xr, base, p2, tr)
        wt = np.float64(wv[tr])
        loss = wt * sm / C
        out[r] = loss
        acc += loss
        if grad:
            gr = g2[r]
            coef = np.float64(go[r * gs]) * gscale * wt / C
            k = cst(gr, coef)
            if p2:
                k2 = cst(gr, 2.0 * coef)
                for c in range(C):
                    z = base + xr[c]
                    gr[c] = k2 * z if z > zero else zero
            else:
                for c in range(C):
                    z = base + xr[c]
                    gr[c] = k if z > zero else zero
            gr[tr] = cst(gr, -(coef * dm))
    return acc


# --------------------------------------------------------------------------------------------
# Multi-label margin: targets t[r, :k] (k = position of the first -1), T their set;
#   loss_r = sum_{j < k} sum_{c not in T} max(0, 1 - x_{t_j} + x_c) / C  (z > 0 strictly)
#   ip: [grad, gs]    fp: [gscale]
# --------------------------------------------------------------------------------------------


@chunk
def multilabel_margin(x, t, y, w, ip, fp, go, out, g, lo, hi):
    N, C, D = x.shape
    grad = ip[0] != 0
    gs = ip[1]
    gscale = fp[0]
    x2 = x.reshape((N, C))
    g2 = g.reshape((g.shape[0], C))
    other = np.empty(C, x.dtype)  # 1 where the class is not a target
    zero = cst(x, 0)
    one = cst(x, 1)
    acc = 0.0
    for r in range(lo, hi):
        xr = x2[r]
        tr = t[r]
        k = 0
        while k < C and tr[k] >= 0:
            k += 1
        fill(other, one)
        for j in range(k):
            other[tr[j]] = zero
        gr = g2[r]  # only touched when grad is set
        coef = np.float64(go[r * gs]) * gscale / C if grad else 0.0
        kc = cst(x, coef)
        if grad:
            fill(gr, zero)
        s = 0.0
        for j in range(k):
            base = one - xr[tr[j]]
            if grad:
                cnt = 0.0
                for b0 in range(0, C, SB):
                    xb = xr[b0:b0 + SB]
                    ob = other[b0:b0 + SB]
                    gb = gr[b0:b0 + SB]
                    u = zero
                    v = zero
                    for c in range(xb.size):
                        z = base + xb[c]
                        on = (z > zero) and (ob[c] != zero)
                        u = radd(u, z if on else zero)
                        v = radd(v, one if on else zero)
                        gb[c] += kc if on else zero
                    s += u
                    cnt += v
                gr[tr[j]] -= cst(x, coef * cnt)
            else:
                for b0 in range(0, C, SB):
                    xb = xr[b0:b0 + SB]
                    ob = other[b0:b0 + SB]
                    u = zero
                    for c in range(xb.size):
                        z = base + xb[c]
                        u = radd(u, z if (z > zero) and (ob[c] != zero) else zero)
                    s += u
        loss = s / C
        out[r] = loss
        acc += loss
    return acc


# --------------------------------------------------------------------------------------------
# Multi-label soft margin: loss_r = sum_c w_c (y_c softplus(-x_c) + (1 - y_c) softplus(x_c)) / C
#   grad_c = sc w_c (sigmoid(x_c) - y_c) / C.   w is (1, C) or (R, C).
#   ip: [grad, gs]    fp: [gscale, 1 / C] (torch divides by the input's class count, which
#   differs from the row width when the input's last axis is broadcast)
# --------------------------------------------------------------------------------------------


@chunk
def multilabel_soft_margin(x, t, y, w, ip, fp, go, out, g, lo, hi):
    N, C, D = x.shape
    grad = ip[0] != 0
    gs = ip[1]
    gscale = fp[0]
    inv = fp[1]
    x2 = x.reshape((N, C))
    y2 = y.reshape((N, C))
    g2 = g.reshape((g.shape[0], C))
    wrows = w.shape[0] > 1
    zero = cst(x, 0)
    one = cst(x, 1)
    x1 = x.reshape(N * C)
    T = max(1, SOFT_TILE // C)  # rows per tile
    ex = np.empty(T * C, x.dtype)  # exp(-|x|) of the tile's elements
    lx = np.empty(T * C, x.dtype)  # log1p(exp(-|x|))
    acc = 0.0
    for r0 in range(lo, hi, T):
        r1 = min(r0 + T, hi)
        # the exp and log1p over the tile's rows as one flat vectorised loop: row by row, a row of
        # a few classes would run them in a short loop's scalar remainder
        xf = x1[r0 * C:r1 * C]
        if grad:  # the gradient needs exp(-|x|) too; the forward alone skips that store (~10%)
            for i in range(xf.size):
                e = vexp(-abs(xf[i]))
                ex[i] = e
                lx[i] = vlog1p(e)
        else:
            for i in range(xf.size):
                lx[i] = vlog1p(vexp(-abs(xf[i])))
        for r in range(r0, r1):
            xr = x2[r]
            yr = y2[r]
            wr = w[r if wrows else 0]
            er = ex[(r - r0) * C:(r - r0 + 1) * C]
            lr = lx[(r - r0) * C:(r - r0 + 1) * C]
            s = 0.0
            for b0 in range(0, C, SB):
                xb = xr[b0:b0 + SB]
                yb = yr[b0:b0 + SB]
                wb = wr[b0:b0 + SB]
                lb = lr[b0:b0 + SB]
                u = zero
                for c in range(xb.size):
                    xc = xb[c]
                    yc = yb[c]
                    sp = (xc if xc > zero else zero) + lb[c]  # softplus(x)
                    sn = (-xc if xc < zero else zero) + lb[c]  # softplus(-x)
                    u = radd(u, wb[c] * (yc * sn + (one - yc) * sp))
                s += u
            loss = s * inv
            out[r] = loss
            acc += loss
            if grad:
                gr = g2[r]
                k = cst(gr, np.float64(go[r * gs]) * gscale * inv)
                for c in range(C):
                    e = er[c]
                    sig = (one if xr[c] >= zero else e) / (one + e)
                    gr[c] = k * wr[c] * (sig - yr[c])
    return acc


# --------------------------------------------------------------------------------------------
# Cosine embedding: cos = a.b / sqrt((|a|^2 + eps)(|b|^2 + eps)), eps = float32(1e-12) as torch;
#   loss = 1 - cos (t == 1), max(0, cos - margin) (t == -1), 0 otherwise.
#   ip: [grad, gs]    fp: [gscale, margin, f1, f2]: |a|^2 = f1 sum_j a_j^2 (f = 1/D for an
#   input broadcast along D: torch sums its squares over its own, unbroadcast, last axis)
# --------------------------------------------------------------------------------------------


COS_EPS = 9.999999960041972e-13  # torch's EPSILON for cosine_embedding_loss: float32(1e-12)


@inline
def dots(ar, br):
    """(a.b, a.a, b.b) accumulated in float64 (a float32 product is exact in float64, so a
    cosine that is exactly +-1 in theory comes out so, and its zero gradient cancels)."""
    u = 0.0
    v = 0.0
    h = 0.0
    for j in range(ar.size):
        x1 = np.float64(ar[j])
        x2 = np.float64(br[j])
        u = radd(u, x1 * x2)
        v = radd(v, x1 * x1)
        h = radd(h, x2 * x2)
    return u, v, h


@chunk
def cosine_embedding(a, b, c, t, ip, fp, go, out, ga, gb, gc, lo, hi):
    grad = ip[0] != 0
    gs = ip[1]
    gscale = fp[0]
    margin = fp[1]
    f1 = fp[2]
    f2 = fp[3]
    acc = 0.0
    for r in range(lo, hi):
        ar = a[r]
        br = b[r]
        dot, m1, m2 = dots(ar, br)
        m1 = f1 * m1 + COS_EPS
        m2 = f2 * m2 + COS_EPS
        denom = math.sqrt(m1 * m2)
        cos = dot / denom
        tt = t[r]
        gcos = 0.0
        loss = 0.0
        if tt == 1:
            loss = 1.0 - cos
            gcos = -1.0
        elif tt == -1:
            v = cos - margin
            loss = v if not v < 0.0 else 0.0
            gcos = 1.0 if v >= 0.0 else 0.0
        out[r] = loss
        acc += loss
        if grad:
            # float64 per element: the two terms cancel exactly where the gradient is 0 in theory
            sc = np.float64(go[r * gs]) * gscale * gcos
            ka = sc / denom
            k1 = sc * cos * f1 / m1
            k2 = sc * cos * f2 / m2
            gar = ga[r]
            gbr = gb[r]
            for j in range(ar.size):
                x1 = np.float64(ar[j])
                x2 = np.float64(br[j])
                gar[j] = ka * x2 - k1 * x1
                gbr[j] = ka * x1 - k2 * x2
    return acc


# --------------------------------------------------------------------------------------------
# Triplet margin: loss = max(0, margin + d(a, p) - d'), d' = d(a, n) or min(d(a, n), d(p, n))
#   with swap. d is the p-norm of (x - y + eps) (torch's pairwise_distance) or, for kind 1,
#   1 - cosine_similarity(x, y) with torch's eps (norms clamped below at eps).
#   ip: [grad, gs, kind, swap, pk]   pk: 0 p=2, 1 p=1, 2 p=inf, 3 p=-inf, 4 p=0, 5 other
#   fp: [gscale, margin, p, eps]
# --------------------------------------------------------------------------------------------


@inline
def pnorm_fused(ar, br, cr, eps, l1, swap):
    """sum of (a - b + eps)^2, (a - c + eps)^2 and, with swap, (b - c + eps)^2 (or of their
    absolute values with ``l1``) in one pass over the three rows. The differences are taken in
    the input's dtype (as torch), their squares accumulated in float64: one large coordinate
    must not swallow the others (torch's float32 norm keeps them too)."""
    e = cst(ar, eps)
    sp = 0.0
    sn = 0.0
    ss = 0.0
    if l1:
        for j in range(ar.size):
            sp = radd(sp, np.float64(abs((ar[j] - br[j]) + e)))
            sn = radd(sn, np.float64(abs((ar[j] - cr[j]) + e)))
        if swap:
            for j in range(ar.size):
                ss = radd(ss, np.float64(abs((br[j] - cr[j]) + e)))
    else:
        for j in range(ar.size):
            dpj = np.float64((ar[j] - br[j]) + e)
            dnj = np.float64((ar[j] - cr[j]) + e)
            sp = radd(sp, dpj * dpj)
            sn = radd(sn, dnj * dnj)
        if swap:
            for j in range(ar.size):
                dsj = np.float64((br[j] - cr[j]) + e)
                ss = radd(ss, dsj * dsj)
    return sp, sn, ss


@chunk
def pnorm(xr, yr, eps, pk, p):
    """(||x - y + eps||_p as float64, number of entries at the max/min for p = +-inf)."""
    zero = cst(xr, 0)
    e = cst(xr, eps)
    n = xr.size
    if pk == 0 or pk == 1:
        s = 0.0
        if pk == 0:
            for j in range(n):
                d = np.float64((xr[j] - yr[j]) + e)
                s = radd(s, d * d)
        else:
            for j in range(n):
                s = radd(s, np.float64(abs((xr[j] - yr[j]) + e)))
        return (math.sqrt(s) if pk == 0 else s), 0.0
    if pk == 2 or pk == 3:
        m = cst(xr, INF) if pk == 3 else zero
        nan = 0
        for j in range(n):
            d = (xr[j] - yr[j]) + e
            nan += np.int32(d != d)
            m = fmin(m, abs(d)) if pk == 3 else fmax(m, abs(d))
        if nan > 0:
            # torch: NaN norm; the entries "at the max" are the NaN ones (their sign is 0)
            return NAN, np.float64(nan)
        if n == 0:
            return (INF if pk == 3 else 0.0), 0.0
        cnt = 0
        for j in range(n):
            d = (xr[j] - yr[j]) + e
            cnt += np.int32(abs(d) == m)
        return np.float64(m), np.float64(cnt)
    if pk == 4:
        cnt = 0
        for j in range(n):
            d = (xr[j] - yr[j]) + e
            cnt += np.int32(d != zero)
        return np.float64(cnt), 0.0
    s = 0.0
    for j in range(n):
        d = np.float64((xr[j] - yr[j]) + e)
        s += vexp(p * vlog(abs(d)))
    return s ** (1.0 / p), 0.0


@inline
def normgrad(d, nrm, pk, p, k, cnt):
    """d ||v||_p / d v_j at v_j = d (float64), for pk >= 2 (the non-vectorised kinds); ``k`` is
    the scale precomputed per row (see ``norm_scale``)."""
    sg = 1.0 if d > 0.0 else (-1.0 if d < 0.0 else 0.0)  # torch.sign (0 for NaN)
    if pk == 2 or pk == 3:
        hit = abs(d) == nrm or (d != d and nrm != nrm)
        return sg / cnt if hit else 0.0 * sg
    if pk == 4:
        return 0.0
    ad = abs(d)
    if p < 1.0:
        v = sg * ad ** (p - 1.0)
        return (0.0 if d == 0.0 else v) * k
    if p < 2.0:
        return sg * ad ** (p - 1.0) * k
    return d * ad ** (p - 2.0) * k


@inline
def norm_scale(nrm, pk, p):
    """The per-row factor of the p-norm gradient (masked to 0 where the norm is 0, as torch)."""
    if pk == 0:
        return 0.0 if nrm == 0.0 else 1.0 / nrm
    if pk >= 5:
        if p < 1.0:
            return nrm ** (1.0 - p)
        return 0.0 if nrm == 0.0 else 1.0 / nrm ** (p - 1.0)
    return 0.0


@chunk
def cosdist(xr, yr, eps):
    """(1 - cos, 1 / (N1 N2), cos / (N1 n1), cos / (N2 n2)) with N = max(n, eps); a term
    with n = 0 is 0 (torch clamps the norm under no_grad, and the norm's gradient at 0 is 0)."""
    dot, s1, s2 = dots(xr, yr)
    n1 = math.sqrt(s1)
    n2 = math.sqrt(s2)
    c1 = max(n1, eps)
    c2 = max(n2, eps)
    cos = dot / (c1 * c2)
    k = 1.0 / (c1 * c2)
    h1 = 0.0 if n1 == 0.0 else cos / (c1 * n1)
    h2 = 0.0 if n2 == 0.0 else cos / (c2 * n2)
    return 1.0 - cos, k, h1, h2


@chunk
def triplet(a, b, c, t, ip, fp, go, out, ga, gb, gc, lo, hi):
    grad = ip[0] != 0
    gs = ip[1]
    kind = ip[2]
    swap = ip[3] != 0
    pk = ip[4]
    gscale = fp[0]
    margin = fp[1]
    p = fp[2]
    eps = fp[3]
    acc = 0.0
    for r in range(lo, hi):
        ar = a[r]
        br = b[r]
        cr = c[r]
        dp = dn = ds = 0.0
        cp_ = cn_ = cs_ = 0.0
        kp = hpa = hpb = kn = hna = hnc = ks = hsb = hsc = 0.0
        if kind == 0 and pk <= 1:
            dp, dn, ds = pnorm_fused(ar, br, cr, eps, pk == 1, swap)
            if pk == 0:
                dp = math.sqrt(dp)
                dn = math.sqrt(dn)
                ds = math.sqrt(ds)
        elif kind == 0:
            dp, cp_ = pnorm(ar, br, eps, pk, p)
            dn, cn_ = pnorm(ar, cr, eps, pk, p)
            ds, cs_ = pnorm(br, cr, eps, pk, p) if swap else (0.0, 0.0)
        else:
            dp, kp, hpa, hpb = cosdist(ar, br, eps)
            dn, kn, hna, hnc = cosdist(ar, cr, eps)
            if swap:
                ds, ks, hsb, hsc = cosdist(br, cr, eps)
            else:
                ds, ks, hsb, hsc = 0.0, 0.0, 0.0, 0.0
        # torch.minimum(dn, ds) and its gradient: ties split the gradient, NaN sends it to both.
        an = 1.0
        as_ = 0.0
        dneg = dn
        if swap:
            if ds < dn:
                an, as_, dneg = 0.0, 1.0, ds
            elif ds == dn:
                an, as_ = 0.5, 0.5
            elif not dn < ds:
                an, as_, dneg = 1.0, 1.0, (dn if dn != dn else ds)
        z = margin + dp - dneg
        loss = z if not z < 0.0 else 0.0
        out[r] = loss
        acc += loss
        if not grad:
            continue
        gl = np.float64(go[r * gs]) * gscale if z >= 0.0 else 0.0
        cp = gl
        cn = -gl * an
        cs = -gl * as_
        gar = ga[r]
        gbr = gb[r]
        gcr = gc[r]
        D = ar.size
        if kind == 1:
            # d(1 - cos(x, y))/dx = -(y k - x h_x); collect the coefficients of a, b, c.
            alpha_a = cp * hpa + cn * hna
            beta_a = -cp * kp
            gamma_a = -cn * kn
            alpha_b = -cp * kp
            beta_b = cp * hpb + cs * hsb
            gamma_b = -cs * ks
            alpha_c = -cn * kn
            beta_c = -cs * ks
            gamma_c = cn * hnc + cs * hsc
            for j in range(D):  # float64: the terms cancel where the gradient is 0 in theory
                x1 = np.float64(ar[j])
                x2 = np.float64(br[j])
                x3 = np.float64(cr[j])
                gar[j] = alpha_a * x1 + beta_a * x2 + gamma_a * x3
                gbr[j] = alpha_b * x1 + beta_b * x2 + gamma_b * x3
                gcr[j] = alpha_c * x1 + beta_c * x2 + gamma_c * x3
            continue
        e = cst(ar, eps)
        if pk == 0 or pk == 1:
            if pk == 0:
                up = cst(ar, cp * norm_scale(dp, pk, p))
                un = cst(ar, cn * norm_scale(dn, pk, p))
                us = cst(ar, cs * norm_scale(ds, pk, p))
            else:
                up = cst(ar, cp)
                un = cst(ar, cn)
                us = cst(ar, cs)
            zero = cst(ar, 0)
            one = cst(ar, 1)
            for j in range(D):
                x1 = ar[j]
                x2 = br[j]
                x3 = cr[j]
                vp = (x1 - x2) + e
                vn = (x1 - x3) + e
                vs = (x2 - x3) + e
                if pk == 1:
                    # torch.sign: -1, 0 or 1, and 0 for NaN
                    vp = (one if vp > zero else zero) - (one if vp < zero else zero)
                    vn = (one if vn > zero else zero) - (one if vn < zero else zero)
                    vs = (one if vs > zero else zero) - (one if vs < zero else zero)
                gp = up * vp
                gn = un * vn
                gsw = us * vs if swap else zero
                gar[j] = gp + gn
                gbr[j] = gsw - gp
                gcr[j] = -gn - gsw
            continue
        kp_ = norm_scale(dp, pk, p)
        kn_ = norm_scale(dn, pk, p)
        ks_ = norm_scale(ds, pk, p)
        for j in range(D):
            x1 = np.float64(ar[j])
            x2 = np.float64(br[j])
            x3 = np.float64(cr[j])
            vp = np.float64((ar[j] - br[j]) + e)
            vn = np.float64((ar[j] - cr[j]) + e)
            gp = cp * normgrad(vp, dp, pk, p, kp_, cp_)
            gn = cn * normgrad(vn, dn, pk, p, kn_, cn_)
            gsw = 0.0
            if swap:
                vs = np.float64((br[j] - cr[j]) + e)
                gsw = cs * normgrad(vs, ds, pk, p, ks_, cs_)
            gar[j] = gp + gn
            gbr[j] = gsw - gp
            gcr[j] = -gn - gsw
    return acc
