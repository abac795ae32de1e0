"""Classification losses: cross-entropy, NLL, and the multi-class / multi-label margin losses.

Each is one fused sweep per row of classes (``numloss/_kernels/rows.py``): the loss, the
reduction (float64, in fixed blocks of rows: the same bits for any thread count) and, with
``return_grad=True``, the gradient row written in the same sweep. Without ``return_grad`` no
``(N, C)`` temporary exists; with it the only one is the returned gradient.

Semantics are torch 2.13's (``torch.nn.functional``), including its corner cases; where numloss
deviates on purpose it is said in the function's docstring.
"""
import math

import numpy as np

from .. import _buffers, _parts, _threads
from .. import _validate as V
from .._kernels import rows as R
from .._kernels._compile import Kernel
from ._base import loss_class

_CE_INDEX = Kernel(R.blocks, "ce_index", ROW=R.ce_index)
_CE_PROB = Kernel(R.blocks, "ce_prob", ROW=R.ce_prob)
_NLL = Kernel(R.blocks, "nll", ROW=R.nll)
_MULTI_MARGIN = Kernel(R.blocks, "multi_margin", ROW=R.multi_margin)
_MULTILABEL_MARGIN = Kernel(R.blocks, "multilabel_margin", ROW=R.multilabel_margin)
_MULTILABEL_SOFT_MARGIN = Kernel(R.blocks, "multilabel_soft_margin", ROW=R.multilabel_soft_margin)
_INDEX_STATS = Kernel(R.index_stats, "index_stats")
_NLL_SUM = Kernel(R.nll_sum, "nll_sum", NLL_ROWS=R.nll_rows)
_NLL_SUM2D = Kernel(R.nll_sum, "nll_sum2d", NLL_ROWS=R.nll_rows2d)

_GRAD_DOC = """
    return_grad, grad_output, gradient_out: see ``numloss`` (API.md, Gradients): with
        ``return_grad=True`` the result is ``(loss, d loss / d input)``.
"""

# --------------------------------------------------------------------------------------------
# Running a row kernel (shared with ``embedding.py``)
# --------------------------------------------------------------------------------------------

BLOCK_ELEMENTS = 16384  # elements per reduction block (rows per block = this / row width)


# NLL's gradient is zero-filled with non-temporal (streaming) stores when it is at least this
# large: a gradient that size is rarely still in cache when it is next read, and streaming skips
# reading its old contents into the cache. (The last-level cache size the OS reports is no guide:
# this project's 2-core VM reports 320 MB, yet streaming a 16 MB gradient was faster there.)
# Measured in `numloss bench` on the (4096, 1000) anchor: loss+grad 2.3x and 5.8x torch with
# streaming, 1.3x and 1.1x without (interleaved with torch, which evicts the buffer between calls).
STREAM_BYTES = 4 << 20
# ... and only when its rows are at least this long: each row's one nonzero is stored after the
# fill, and on a line just streamed out that store reads the line back from memory. With short
# rows nearly every line has one. Measured interleaved with torch (float32, 2 threads, medians):
# plain stores won at 10, 50 and 100 classes (1.11 against 1.29 ms at (200000, 10); 0.42
# against 0.70 ms at (40000, 50)), tied at 250, and streaming won at 1000 (0.32 against 0.37 ms).
STREAM_ROW_BYTES = 1024


# Work units (see ``_threads.threads_for``) per row of an NLL forward: a gather of one logit, a
# cache miss when the input is large. Measured side by side, serial against 2 threads
# (float32): 2 threads lost at 4096 rows (6.6 against 8.4 us at C = 100), won from 16384 rows
# (18.3 against 21.1 us at C = 10, 41.6 against 59.6 us at C = 100).
GATHER_WORK = 4
# Rows per block of that forward (``nll_sum``): a row is one gathered logit, so its blocks are
# sized in rows. At (4096, 1000), float32, serial: 9.1 us in blocks of 64 rows (the row kernels'
# BLOCK_ELEMENTS / C), 6.9 us in one block -- about 35 ns a block.
NLL_SUM_ROWS = 2048


def stream(g3):
    return int(g3 is not None and g3.nbytes >= STREAM_BYTES and g3.shape[1] * g3.itemsize >= STREAM_ROW_BYTES)


def _readonly(shape, dtype):
    a = np.empty(shape, dtype)
    a.flags.writeable = False
    return a


_PLACEHOLDER = {}


def placeholders(dtype):
    """Empty operands of the right types for the arguments a kernel call does not use (one set
    per dtype, so every call hits the same compiled specialisation)."""
    p = _PLACEHOLDER.get(dtype)
    if p is None:
        p = _PLACEHOLDER[dtype] = dict(
            one=np.ones(1, dtype),
            t2=_readonly((0, 0), np.int64),
            y3=_readonly((0, 0, 0), dtype),
            g3=np.empty((0, 0, 0), dtype),
            x2=_readonly((0, 0), dtype),
            g2=np.empty((0, 0), dtype),
            t1=_readonly((0,), dtype),
            out=np.empty(0, dtype),
        )
        p["one"].flags.writeable = False
    return p


_ONES = {}


def ones_weight(C, dtype):
    """A read-only ``(1, C)`` row of ones (cached: the class weight when none is given)."""
    key = (C, np.dtype(dtype))
    w = _ONES.get(key)
    if w is None:
        if len(_ONES) > 16:
            _ONES.clear()
        w = _ONES[key] = np.ones((1, C), dtype)
        w.flags.writeable = False
    return w


def readonly(arr, shape):
    """A read-only C-contiguous view (copy if needed) of ``arr`` with ``shape``."""
    if not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr)
    v = arr.reshape(shape)
    v.flags.writeable = False
    return v


def block_rows(width, min_rows=1):
    """Rows per reduction block: a function of the row width only, never of the thread count."""
    return max(min_rows, BLOCK_ELEMENTS // max(width, 1), 1)


def grad_scale(reduction, denom, loss_shape, dtype, return_grad, grad_output):
    """``(go array, go stride, float scale)``: the factor of row r's gradient is
    ``go[r * stride] * scale``."""
    ph = placeholders(dtype)
    if not return_grad:
        if grad_output is not None:
            raise ValueError("grad_output is only used with return_grad=True")
        return ph["one"], 0, 0.0
    if reduction == "none":
        return V.grad_output(grad_output, loss_shape, dtype, reduced=False), 1, 1.0
    go = V.grad_output(grad_output, (), dtype, reduced=True)
    if reduction != "mean":
        return ph["one"], 0, float(go)
    return ph["one"], 0, ieee_div(float(go), denom)


def ieee_div(a, b):
    """a / b for Python floats with IEEE results for b == 0 (inf, or NaN for 0/0 and NaN)."""
    if b != 0 or b != b:
        return a / b
    if a != a or a == 0:
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def reduce(out, total, reduction, denom, loss_shape, dtype):
    """The loss to return: the rows (``"none"``) or the kernel's float64 total (over ``denom``)."""
    if reduction == "none":
        return out.reshape(loss_shape)
    if _parts.wanted():
        return _parts.Parts(total, denom, loss_shape[0] if loss_shape else 1, _parts.reduced(reduction, dtype))
    if reduction == "mean":
        total = ieee_div(total, denom)
    return V.scalar_result(total, dtype)


def run_rows(kernel, x3, *, t2=None, y3=None, w2=None, ip=(), fp=(), reduction, denom, loss_shape,
             return_grad, grad_output, grad_buffer, min_block_rows=1, work=None):
    """Run a ``rows`` kernel on ``x3`` (N, C, D); returns ``(loss, g3 or None)``."""
    dtype = x3.dtype
    N, C, D = x3.shape
    nrows = N * D
    ph = placeholders(dtype)
    go, gs, gscale = grad_scale(reduction, denom, loss_shape, dtype, return_grad, grad_output)
    g3 = None
    if return_grad:
        g3 = grad_buffer.reshape(x3.shape) if grad_buffer is not None else _buffers.empty(x3.shape, dtype)
    bs = block_rows(C, min_block_rows)
    partial = np.empty(-(-nrows // bs), np.float64)
    out = np.empty(nrows, dtype)
    ipa = np.array((int(return_grad), gs) + tuple(ip) + (stream(g3),), np.int64)
    fpa = np.array((gscale,) + tuple(fp), np.float64)
    total = kernel(
        _threads.threads_for(x3.size if work is None else work),
        partial,
        bs,
        nrows,
        x3,
        ph["t2"] if t2 is None else t2,
        ph["y3"] if y3 is None else y3,
        ones_weight(C, dtype) if w2 is None else w2,
        ipa,
        fpa,
        go,
        out,
        ph["g3"] if g3 is None else g3,
    )
    return reduce(out, total, reduction, denom, loss_shape, dtype), g3


def finish(loss, g3, buf, shape, return_grad):
    """``loss`` or ``(loss, gradient)``: the caller's ``gradient_out`` buffer itself when given."""
    if not return_grad:
        return loss
    return loss, (buf if buf is not None else g3.reshape(shape))


# --------------------------------------------------------------------------------------------
# Argument handling
# --------------------------------------------------------------------------------------------


def _ignore_index(value):
    ii = V.integer(value, "ignore_index")
    if not -(2**63) <= ii < 2**63:
        raise ValueError(f"ignore_index must fit in int64, got {ii}")
    return ii


def _class_weight(weight, C, dtype):
    """``weight`` as a read-only ``(1, C)`` row of the result dtype, or None."""
    if weight is None:
        return None
    w = V.float_like(weight, dtype, "weight")
    if w.shape != (C,):
        raise ValueError(
            f"weight must be a 1-D array with one weight per class (shape ({C},)), got shape {w.shape}"
        )
    return readonly(w, (1, C))


def _check_indices(t, C, ignore_index, w2, dtype):
    """Every class index in [0, C) or equal to ``ignore_index`` (else a ValueError naming
    ``target``); returns torch's "mean" denominator: the sum of ``w[t]`` over the entries not
    ignored (their count without ``weight``) -- one compiled pass over the targets."""
    w = (ones_weight(C, dtype) if w2 is None else w2)[0]
    bad, _, total = _INDEX_STATS(1, readonly(t, (t.size,)), C, ignore_index, w)
    if bad >= 0:
        _bad_index(t, bad, C, ignore_index)
    return total


def _bad_index(t, pos, C, ignore_index):
    v = int(t.reshape(-1)[pos])
    raise ValueError(
        f"target contains class index {v}, outside [0, {C}) and not ignore_index ({ignore_index})"
    )


def _index_layout(x, t, name="target"):
    """(N, C, D, loss_shape) for class-index targets of ``x``: (C,) with a 0-d or (1,) target,
    (N, C) with (N,), (N, C, d1, ..., dK) with (N, d1, ..., dK)."""
    if x.ndim == 0:
        raise ValueError("input must have shape (C,), (N, C) or (N, C, d1, ..., dK), got a 0-d array")
    if x.ndim == 1:
        if t.shape not in ((), (1,)):
            raise ValueError(
                f"{name} for an unbatched input of shape {x.shape} must be a single class index "
                f"(shape () or (1,)), got shape {t.shape}"
            )
        return 1, x.shape[0], 1, ()
    N, C = x.shape[:2]
    expected = (N,) + x.shape[2:]
    if t.shape != expected:
        raise ValueError(
            f"{name} shape {t.shape} does not match input shape {x.shape}: expected {expected} "
            "(one class index per sample and position)"
        )
    return N, C, math.prod(x.shape[2:]), expected


def _grad_buffer(gradient_out, return_grad, shape, dtype, user_inputs):
    return V.gradient_buffers(gradient_out, return_grad, [shape], dtype, user_inputs)[0]


# --------------------------------------------------------------------------------------------
# cross_entropy / nll_loss
# --------------------------------------------------------------------------------------------


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0, *,
                  return_grad=False, grad_output=None, gradient_out=None):
    """Cross-entropy between logits ``input`` and class indices or class probabilities ``target``.

    ``input``: (C,), (N, C) or (N, C, d1, ..., dK) logits. ``target``: class indices (any integer
    dtype) of shape (), (N,) or (N, d1, ..., dK), or class probabilities of the input's shape
    (floating; an integer target of the input's shape is a ValueError, as in torch).

    With ``lse = log(sum_c exp(x_c))`` (computed as ``max + log(sum exp(x - max))``) and
    ``e = label_smoothing``, per sample and position:

    * class index t: ``(1 - e) w_t (lse - x_t) + (e / C) sum_c w_c (lse - x_c)``; 0 where
      ``t == ignore_index``. "mean" divides the sum by ``sum w_t`` over the non-ignored entries
      (their count without ``weight``) -- NaN when every entry is ignored, as in torch.
    * probabilities y: ``sum_c w_c y'_c (lse - x_c)`` with ``y' = (1 - e) y + e / C``; "mean"
      divides by the number of samples and positions (NaN for an empty input). torch refuses
      ``ignore_index >= 0`` here; so does numloss (ValueError).

    ``weight``: one weight per class. ``label_smoothing`` in [0, 1] (a value above 1 is a
    ValueError; a negative one means no smoothing, as in torch). Reference: Szegedy et al.,
    "Rethinking the Inception Architecture", 2016 (label smoothing).

    Gradient: ``softmax(x) * (...) - (...)`` written in the loss's sweep; for an ignored entry it
    is 0 (NaN when that row's softmax is NaN, as torch's log_softmax backward gives).
    """
    x = V.float_array(input, "input")
    dtype = x.dtype
    reduction = V.reduction(reduction)
    ignore_index = _ignore_index(ignore_index)
    ls = V.real_scalar(label_smoothing, "label_smoothing")
    if ls > 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0, got {ls}")
    eps = ls if ls > 0.0 else 0.0
    if x.ndim == 0:
        raise ValueError("input must have shape (C,), (N, C) or (N, C, d1, ..., dK), got a 0-d array")
    C = x.shape[0] if x.ndim == 1 else x.shape[1]
    tarr = np.asarray(target)
    w2 = _class_weight(weight, C, dtype)
    user = (input, target, weight)

    if tarr.shape == x.shape and tarr.dtype.kind != "c":
        # class probabilities
        if tarr.dtype.kind != "f":
            raise ValueError(
                f"a target of the input's shape {x.shape} holds class probabilities and must be "
                f"floating, got dtype {tarr.dtype}"
            )
        if ignore_index >= 0:
            raise ValueError(
                f"ignore_index ({ignore_index}) is not supported with class-probability targets"
            )
        y = V.float_like(tarr, dtype, "target")
        if x.ndim == 1:
            N, D, loss_shape = 1, 1, ()
        else:
            N, D = x.shape[0], math.prod(x.shape[2:])
            loss_shape = (N,) + x.shape[2:]
        nrows = N * D
        buf = _grad_buffer(gradient_out, return_grad, x.shape, dtype, user)
        denom = nrows if x.size else math.nan
        if C == 0:
            return _empty_classes(x, nrows, -0.0, reduction, denom, loss_shape, dtype, return_grad,
                                  grad_output, buf)
        x3 = readonly(x, (N, C, D))
        y3 = readonly(y, (N, C, D))
        loss, g3 = run_rows(
            _CE_PROB, x3, y3=y3, w2=w2, fp=(eps,), reduction=reduction, denom=denom,
            loss_shape=loss_shape, return_grad=return_grad, grad_output=grad_output,
            grad_buffer=buf, min_block_rows=1 if D == 1 else R.TD,
        )
        return finish(loss, g3, buf, x.shape, return_grad)

    t = V.index_array(tarr, "target")
    N, C, D, loss_shape = _index_layout(x, t)
    nrows = N * D
    denom = _check_indices(t, C, ignore_index, w2, dtype)
    buf = _grad_buffer(gradient_out, return_grad, x.shape, dtype, user)
    if C == 0:
        return _empty_classes(x, nrows, math.nan if eps > 0 else 0.0, reduction, denom, loss_shape, dtype,
                              return_grad, grad_output, buf)
    x3 = readonly(x, (N, C, D))
    t2 = readonly(t, (N, D))
    wsum = float(np.sum(w2, dtype=np.float64)) if w2 is not None else float(C)
    loss, g3 = run_rows(
        _CE_INDEX, x3, t2=t2, w2=w2, ip=(ignore_index,), fp=(eps, wsum), reduction=reduction,
        denom=denom, loss_shape=loss_shape, return_grad=return_grad, grad_output=grad_output,
        grad_buffer=buf, min_block_rows=1 if D == 1 else R.TD,
    )
    if isinstance(loss, _parts.Parts):
        loss = loss._replace(finish=_parts.reduced(reduction, dtype, nan_if_no_denominator=True))
    elif reduction == "mean" and denom == 0:
        # torch divides the NLL part and the smoothing part by the zero total separately: 0/0
        loss = V.scalar_result(math.nan, dtype)
    return finish(loss, g3, buf, x.shape, return_grad)


def _empty_classes(x, nrows, row_value, reduction, denom, loss_shape, dtype, return_grad, grad_output, buf):
    """C == 0: no kernel. Every index target is then ignored (anything else failed the range
    check): the loss rows are 0 (NaN with label smoothing: torch multiplies by e / C)."""
    out = np.full(nrows, row_value, dtype)
    go, gs, gscale = grad_scale(reduction, denom, loss_shape, dtype, return_grad, grad_output)
    if reduction == "none":
        loss = out.reshape(loss_shape)
    else:
        loss = reduce(out, np.sum(out, dtype=np.float64), reduction, denom, loss_shape, dtype)
    if not return_grad:
        return loss
    g = buf if buf is not None else _buffers.empty(x.shape, dtype)
    return loss, g


_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_I64 = np.dtype(np.int64)
_REDUCTIONS = ("mean", "sum", "none")


def _nll_fast(x, t, ignore_index, reduction):
    """The NLL forward for the commonest call -- C-contiguous float (N, C) input, int64
    (N,) target, no weight -- with no more Python than needed: an O(N) loss is dominated by call
    overhead. The blocks and numbers of the general path (``nll_sum`` with ``nll_rows2d``),
    with the user's arrays passed as they are (the kernel only reads them)."""
    C = x.shape[1]
    out = np.empty(t.size, x.dtype) if reduction == "none" else placeholders(x.dtype)["out"]
    bad, denom, total = _NLL_SUM2D(
        _threads.threads_for(GATHER_WORK * t.size), x, t, ones_weight(C, x.dtype)[0], ignore_index, NLL_SUM_ROWS, out)
    if bad >= 0:
        _bad_index(t, bad, C, ignore_index)
    return reduce(out, total, reduction, denom, (t.size,), x.dtype)


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean", *,
             return_grad=False, grad_output=None, gradient_out=None):
    """Negative log-likelihood of log-probabilities ``input`` at class indices ``target``.

    ``input``: (C,), (N, C) or (N, C, d1, ..., dK); ``target`` (integer): (), (N,) or
    (N, d1, ..., dK). Per sample and position ``-w_t x_t`` (0 where ``t == ignore_index``);
    "mean" divides by ``sum w_t`` over the non-ignored entries (NaN when all are ignored, as
    torch). Gradient: ``-w_t / denominator`` at the target, 0 elsewhere.
    """
    if (type(input) is np.ndarray and type(target) is np.ndarray and weight is None and not return_grad
            and grad_output is None and gradient_out is None and type(ignore_index) is int
            and -(2**63) <= ignore_index < 2**63 and type(reduction) is str and reduction in _REDUCTIONS
            and input.ndim == 2 and target.ndim == 1 and input.shape[0] == target.shape[0]
            and input.shape[1] > 0 and (input.dtype == _F32 or input.dtype == _F64)
            and target.dtype == _I64 and input.flags.c_contiguous and target.flags.c_contiguous):
        return _nll_fast(input, target, ignore_index, reduction)
    x = V.float_array(input, "input")
    dtype = x.dtype
    reduction = V.reduction(reduction)
    ignore_index = _ignore_index(ignore_index)
    t = V.index_array(target, "target")
    N, C, D, loss_shape = _index_layout(x, t)
    w2 = _class_weight(weight, C, dtype)
    nrows = N * D
    x3 = readonly(x, (N, C, D))
    t2 = readonly(t, (N, D))
    if not return_grad:
        if grad_output is not None:
            raise ValueError("grad_output is only used with return_grad=True")
        if gradient_out is not None:
            raise ValueError("gradient_out is only used with return_grad=True")
    if C == 0:
        denom = _check_indices(t, C, ignore_index, w2, dtype)
        buf = _grad_buffer(gradient_out, return_grad, x.shape, dtype, (input, target, weight))
        return _empty_classes(x, nrows, 0.0, reduction, denom, loss_shape, dtype, return_grad, grad_output, buf)
    # validation, denominator and the loss (the rows for "none", else their blocked sum) in one
    # O(N) pass, parallel over its blocks; the kernel below only writes the gradient
    w = (ones_weight(C, dtype) if w2 is None else w2)[0]
    out = np.empty(nrows, dtype) if reduction == "none" else placeholders(dtype)["out"]
    bad, denom, total = _NLL_SUM(
        _threads.threads_for(GATHER_WORK * nrows), x3, t2, w, ignore_index, NLL_SUM_ROWS, out)
    if bad >= 0:
        _bad_index(t, bad, C, ignore_index)
    loss = reduce(out, total, reduction, denom, loss_shape, dtype)
    if not return_grad:
        return loss
    buf = _grad_buffer(gradient_out, return_grad, x.shape, dtype, (input, target, weight))
    _, g3 = run_rows(
        _NLL, x3, t2=t2, w2=w2, ip=(ignore_index,), reduction=reduction, denom=denom, loss_shape=loss_shape,
        return_grad=True, grad_output=grad_output, grad_buffer=buf, min_block_rows=64 if D == 1 else R.TD,
    )
    return finish(loss, g3, buf, x.shape, return_grad)


# --------------------------------------------------------------------------------------------
# Margin losses
# --------------------------------------------------------------------------------------------


def _matrix(x, name="input"):
    """(N, C) view of a (C,) or (N, C) input (0-d counts as one class), C > 0."""
    if x.ndim > 2 or (x.ndim >= 1 and x.shape[-1] == 0):
        raise ValueError(
            f"{name} must be a non-empty vector (C,) or a matrix (N, C) with C > 0, got shape {x.shape}"
        )
    return x.reshape(1, -1) if x.ndim < 2 else x


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, reduction="mean", *,
                      return_grad=False, grad_output=None, gradient_out=None):
    """Multi-class hinge loss: per sample ``w_t sum_{c != t} max(0, margin - x_t + x_c)^p / C``.

    ``input``: (C,) or (N, C); ``target``: class indices, (N,) (or () / (1,) for one sample);
    ``p`` is 1 or 2; ``weight``: one weight per class, applied as ``w[target]``. "mean" divides by
    N. Over an empty batch numloss's "sum" is 0 and its "mean" NaN; torch returns an
    uninitialised value for both.
    A term with ``z = margin - x_t + x_c`` not above 0 (or NaN) contributes nothing, and nothing
    to the gradient, as in torch.
    """
    x = V.float_array(input, "input")
    dtype = x.dtype
    reduction = V.reduction(reduction)
    if isinstance(p, (bool, np.bool_)):
        raise TypeError(f"p must be 1 or 2, got {p!r}")
    pv = V.real_scalar(p, "p")
    if pv not in (1.0, 2.0):
        raise ValueError(f"p must be 1 or 2 (only p == 1 and p == 2 are supported), got {p!r}")
    margin = V.real_scalar(margin, "margin")
    x2 = _matrix(x)
    N, C = x2.shape
    t = V.index_array(target, "target")
    nframe = N
    if t.ndim > 1 or t.size != nframe:
        raise ValueError(
            f"target must hold one class index per sample: shape ({nframe},)"
            + (" or ()" if nframe == 1 else "") + f" for input shape {x.shape}, got shape {t.shape}"
        )
    if t.size and (int(t.min()) < 0 or int(t.max()) >= C):
        bad = t[(t < 0) | (t >= C)].flat[0]
        raise ValueError(f"target contains class index {int(bad)}, outside [0, {C})")
    w2 = _class_weight(weight, C, dtype)
    loss_shape = (nframe,) if t.ndim == 1 else ()
    buf = _grad_buffer(gradient_out, return_grad, x.shape, dtype, (input, target, weight))
    loss, g3 = run_rows(
        _MULTI_MARGIN, readonly(x2, (N, C, 1)), t2=readonly(t, (N, 1)), w2=w2,
        ip=(int(pv),), fp=(margin,), reduction=reduction, denom=nframe if nframe else math.nan,
        loss_shape=loss_shape, return_grad=return_grad, grad_output=grad_output, grad_buffer=buf,
    )
    return finish(loss, g3, buf, x.shape, return_grad)


def multilabel_margin_loss(input, target, reduction="mean", *, return_grad=False, grad_output=None,
                           gradient_out=None):
    """Multi-label hinge loss. ``target`` (integer, the input's shape) lists each sample's target
    classes, ended by the first -1; with T that set, per sample
    ``sum_{j in targets} sum_{c not in T} max(0, 1 - x_j + x_c) / C`` (a class listed twice counts
    twice, as in torch). Every entry of ``target`` must be in [-1, C) (torch checks them all,
    including those after the -1). "mean" divides by N. Over an empty batch numloss's "sum" is 0 and its
    "mean" NaN; torch returns an uninitialised value for both.
    """
    x = V.float_array(input, "input")
    dtype = x.dtype
    reduction = V.reduction(reduction)
    t = V.index_array(target, "target")
    x2 = _matrix(x)
    if t.shape != x.shape:
        raise ValueError(f"target shape {t.shape} must be the same as input shape {x.shape}")
    N, C = x2.shape
    if t.size and (int(t.min()) < -1 or int(t.max()) >= C):
        bad = t[(t < -1) | (t >= C)].flat[0]
        raise ValueError(f"target contains {int(bad)}, outside [-1, {C}) (class indices, -1 ends a row)")
    loss_shape = (N,) if x.ndim == 2 else ()
    buf = _grad_buffer(gradient_out, return_grad, x.shape, dtype, (input, target))
    loss, g3 = run_rows(
        _MULTILABEL_MARGIN, readonly(x2, (N, C, 1)), t2=readonly(t, (N, C)),
        reduction=reduction, denom=N if N else math.nan, loss_shape=loss_shape, return_grad=return_grad,
        grad_output=grad_output, grad_buffer=buf,
    )
    return finish(loss, g3, buf, x.shape, return_grad)


def multilabel_soft_margin_loss(input, target, weight=None, reduction="mean", *, return_grad=False,
                                grad_output=None, gradient_out=None):
    """Multi-label one-versus-all logistic loss, per sample
    ``sum_c w_c (y_c softplus(-x_c) + (1 - y_c) softplus(x_c)) / C`` (torch's
    ``-(y log sigmoid(x) + (1 - y) log sigmoid(-x))``), C being the input's last dimension.

    ``input`` (..., C); ``target`` and ``weight`` broadcast against it as in torch (``weight`` is
    usually one weight per class). "mean" averages over the samples (all leading dimensions).
    Gradient: ``w (sigmoid(x) - y) / C``.
    """
    x = V.float_array(input, "input")
    dtype = x.dtype
    reduction = V.reduction(reduction)
    y = V.float_like(target, dtype, "target")
    w = None if weight is None else V.float_like(weight, dtype, "weight")
    if x.ndim == 0:
        raise ValueError("input must have at least one dimension (..., C), got a 0-d array")
    named = {"input": x, "target": y}
    if w is not None:
        named["weight"] = w
    shape = V.broadcast_shape(named)
    C_in = x.shape[-1]
    user = (input, target, weight)
    if len(shape) != x.ndim:
        return _mlsm_numpy(x, y, w, shape, reduction, return_grad, grad_output, gradient_out, user)
    C = shape[-1]
    loss_shape = shape[:-1]
    nrows = math.prod(loss_shape)
    buf = _grad_buffer(gradient_out, return_grad, x.shape, dtype, user)
    xb = V.flat_readonly(x, shape).reshape(nrows, C, 1)
    yb = V.flat_readonly(y, shape).reshape(nrows, C, 1)
    if w is None:
        w2 = None
    elif all(s == 1 for s in w.shape[:-1]):  # one weight per class (or one for all)
        w2 = V.flat_readonly(w.reshape(w.shape[-1:] if w.ndim else (1,)), (C,)).reshape(1, C)
    else:
        w2 = V.flat_readonly(w, shape).reshape(nrows, C)
    direct = buf if (buf is not None and x.shape == shape) else None
    inv = ieee_div(1.0, C_in)
    loss, g3 = run_rows(
        _MULTILABEL_SOFT_MARGIN, xb, y3=yb, w2=w2, fp=(float(inv),), reduction=reduction,
        denom=nrows if nrows else math.nan, loss_shape=loss_shape, return_grad=return_grad,
        grad_output=grad_output, grad_buffer=direct,
    )
    if not return_grad:
        return loss
    g = V.sum_to_shape(g3.reshape(shape), x.shape)
    if buf is not None and g is not buf:
        buf[...] = g
        g = buf
    return loss, g


def _mlsm_numpy(x, y, w, shape, reduction, return_grad, grad_output, gradient_out, user):
    """torch's formula for target/weight with more dimensions than input (torch then sums over
    the input's last axis *counted from the front*): plain NumPy, rare."""
    dtype = x.dtype
    axis = x.ndim - 1
    C = x.shape[-1]
    xb = np.broadcast_to(x, shape)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        sp = np.logaddexp(0, xb).astype(dtype)
        sn = np.logaddexp(0, -xb).astype(dtype)
        term = y * sn + (1 - y) * sp
        if w is not None:
            term = term * w
        rows = term.sum(axis=axis, dtype=np.float64) / C
    loss_shape = rows.shape
    go, gs, gscale = grad_scale(reduction, rows.size if rows.size else math.nan, loss_shape, dtype,
                                return_grad, grad_output)
    loss = reduce(rows.astype(dtype).reshape(-1), rows.sum(), reduction, rows.size if rows.size else math.nan,
                  loss_shape, dtype)
    if not return_grad:
        return loss
    buf = _grad_buffer(gradient_out, return_grad, x.shape, dtype, user)
    factor = (go.reshape(loss_shape) if gs else np.asarray(go[0])) * np.float64(gscale)
    with np.errstate(over="ignore", invalid="ignore"):
        sig = (1 / (1 + np.exp(-xb.astype(np.float64))))
        g = (sig - y) / C
        if w is not None:
            g = g * w
        g = g * np.expand_dims(factor, axis)
    g = V.sum_to_shape(g.astype(dtype), x.shape)
    if buf is not None:
        buf[...] = g
        g = buf
    return loss, g


for _f in (cross_entropy, nll_loss, multi_margin_loss, multilabel_margin_loss, multilabel_soft_margin_loss):
    _f.__doc__ += _GRAD_DOC

CrossEntropyLoss = loss_class(
    "CrossEntropyLoss", cross_entropy,
    [("weight", None), ("ignore_index", -100), ("reduction", "mean"), ("label_smoothing", 0.0)],
)
NLLLoss = loss_class("NLLLoss", nll_loss, [("weight", None), ("ignore_index", -100), ("reduction", "mean")])
MultiMarginLoss = loss_class(
    "MultiMarginLoss", multi_margin_loss,
    [("p", 1), ("margin", 1.0), ("weight", None), ("reduction", "mean")],
)
MultiLabelMarginLoss = loss_class("MultiLabelMarginLoss", multilabel_margin_loss, [("reduction", "mean")])
MultiLabelSoftMarginLoss = loss_class(
    "MultiLabelSoftMarginLoss", multilabel_soft_margin_loss, [("weight", None), ("reduction", "mean")]
)

__all__ = [
    "cross_entropy", "nll_loss", "multi_margin_loss", "multilabel_margin_loss", "multilabel_soft_margin_loss",
    "CrossEntropyLoss", "NLLLoss", "MultiMarginLoss", "MultiLabelMarginLoss", "MultiLabelSoftMarginLoss",
]
