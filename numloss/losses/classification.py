"""Classification losses: cross-entropy, NLL, and the multi-class / multi-label margin losses.

Each is one fused sweep per row of classes (row functions in ``numloss/_kernels``, run by
``_rows.Rows``): the loss, the reduction (float64, in fixed blocks of rows: the same bits for
any thread count) and, with ``return_grad=True``, the gradient row written in the same sweep.
Without ``return_grad`` no ``(N, C)`` temporary exists; with it the only one is the returned
gradient.

Semantics are torch 2.13's (``torch.nn.functional``), including its corner cases; where numloss
deviates on purpose it is said in the function's docstring.
"""
import functools
import math

import numpy as np

from .. import _buffers, _parts, _threads
from .. import _validate as V
from .._kernels import cross_entropy as CE
from .._kernels import margin as M
from .._kernels import nll as NLL
from .._kernels._compile import Kernel
from ._base import loss_class
from ._rows import Rows, finish, grad_factor, mean_count, placeholder, reduce, row_weights, weigh, weighted_factor


def _cross_entropy(C, D, kind, write_grad):
    """The kernels of cross_entropy's variant (``CE.variant``) for an (N, C, D) input."""
    return _cross_entropy_variant(CE.takes_rows(C, D), kind, write_grad)


@functools.cache
def _cross_entropy_variant(rows, kind, write_grad):
    return Rows(CE.variant(rows, kind, write_grad), "cross_entropy", CE.OPTIONS)


_NLL_GRAD = Rows(NLL.nll_grad, "nll_grad", NLL.OPTIONS, writes_loss=False)
_MULTI_MARGIN = Rows(M.multi_margin, "multi_margin", M.MULTI_MARGIN_OPTIONS)
_MULTILABEL_MARGIN = Rows(M.multilabel_margin, "multilabel_margin", M.MULTILABEL_MARGIN_OPTIONS)
_MULTILABEL_SOFT_MARGIN = Rows(M.multilabel_soft_margin, "multilabel_soft_margin",
                               M.MULTILABEL_SOFT_MARGIN_OPTIONS)
_INDEX_STATS = Kernel(NLL.index_stats, "index_stats")
_NLL_SUM = Kernel(NLL.nll_sum, "nll_sum", NLL_ROWS=NLL.nll_rows)
_NLL_SUM2D = Kernel(NLL.nll_sum, "nll_sum2d", NLL_ROWS=NLL.nll_rows2d)

_GRAD_DOC = """
    return_grad, grad_output, gradient_out: see ``numloss`` (docs/api.md, Gradients): with
        ``return_grad=True`` the result is ``(loss, d loss / d input)``.
"""

_SAMPLE_WEIGHT_DOC = """
    sample_weight: (keyword-only) one finite, non-negative weight ``s_n`` per sample, shape (N,)
        (a scalar for an unbatched input); it weighs every row of sample n (each position of a
        (N, C, d1, ..., dK) input). "none" gives ``s * loss``, "sum" ``sum(s * loss)``, "mean"
        ``sum(s * loss) / sum(s * c)`` with ``c`` what the unweighted mean counts per row (see
        above); the gradient is that of the weighted formula. Weights summing to 0 give a NaN mean.
"""

# Tuning constants (their measurements: docs/performance.md, "Row kernels: measured constants").
# NLL's gradient is zero-filled with streaming stores when it is this large (it will not be in
# cache when next read) and its rows this long (a short row's target store would read back the
# line just streamed out).
STREAM_BYTES = 4 << 20
STREAM_ROW_BYTES = 1024
# Work units (see ``_threads.threads_for``) per row of an NLL forward: one gathered logit.
GATHER_WORK = 4
# Rows per block of the NLL forward (``nll_sum``): a row is one gathered logit, so its blocks are
# sized in rows, larger than the row kernels' (a block costs a fixed overhead).
NLL_SUM_ROWS = 2048


def _stream(x3):
    """Whether NLL's gradient (of ``x3``'s shape and dtype) is zero-filled with streaming stores."""
    return bool(x3.nbytes >= STREAM_BYTES and x3.shape[1] * x3.itemsize >= STREAM_ROW_BYTES)


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


def _class_operands(x3, target=None, target_values=None, class_weight=None):
    """The operands of a class-score row kernel: the (N, C, D) scores, the class-index target,
    the target values and the class weight (placeholders / ones where the loss has none)."""
    dtype = x3.dtype
    return (
        x3,
        placeholder(np.int64, 2) if target is None else target,
        placeholder(dtype, 3) if target_values is None else target_values,
        ones_weight(x3.shape[1], dtype) if class_weight is None else class_weight,
    )


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
    return V.flat_readonly(w, view=(1, C))


def _sample_rows(weights, dtype):
    """The sample weight of each row for a kernel: ``weights.rows``, or an empty placeholder."""
    return placeholder(dtype, 1) if weights is None else weights.rows


def _check_indices(t, C, ignore_index, w2, dtype, weights=None):
    """Every class index in [0, C) or equal to ``ignore_index`` (else a ValueError naming
    ``target``); returns the "mean" denominator: the sum of ``w[t]`` (times the row's sample
    weight, ``weights`` a ``RowWeights`` or None) over the entries not ignored (their count
    without either) -- one compiled pass over the targets."""
    w = (ones_weight(C, dtype) if w2 is None else w2)[0]
    bad, _, total = _INDEX_STATS(1, V.flat_readonly(t, view=(t.size,)), C, ignore_index, w,
                                 _sample_rows(weights, dtype))
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


# --------------------------------------------------------------------------------------------
# cross_entropy / nll_loss
# --------------------------------------------------------------------------------------------


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0, *,
                  sample_weight=None, return_grad=False, grad_output=None, gradient_out=None):
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

    Deviation from torch: with label smoothing and class weights whose sum over the counted
    targets is 0 (negative weights), "mean" is NaN; torch divides its NLL and smoothing parts by
    that 0 separately and may give +-inf. (numloss's fused sweep keeps only their sum; without
    label smoothing the sum over 0 is torch's +-inf.)
    """
    if (_lean_index_call(input, target, weight, sample_weight, return_grad, grad_output, gradient_out, reduction)
            and type(ignore_index) is int and ignore_index == -100 and type(label_smoothing) in (float, int)
            and label_smoothing == 0):
        C = input.shape[1]
        fast = _index_rows_fast(_cross_entropy(C, 1, CE.INDEX, return_grad), input, target, (CE.INDEX, -100, 0.0, float(C)),
                                reduction, return_grad, ignore_index=-100)
        if fast is not None:
            return fast
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
    tarr = V.as_array(target, "target")
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
        weights = row_weights(sample_weight, dtype, loss_shape)
        denom = mean_count(weights, N * D if x.size else 0)
        grad_kw = dict(return_grad=return_grad, grad_output=grad_output, gradient_out=gradient_out, user_inputs=user,
                       weights=weights)
        if C == 0:
            return _empty_classes(x, -0.0, reduction, denom, loss_shape, **grad_kw)
        return _cross_entropy(C, D, CE.PROBABILITIES, V.want_grad(return_grad, grad_output, gradient_out))(
            _class_operands(V.flat_readonly(x, view=(N, C, D)), target_values=V.flat_readonly(y, view=(N, C, D)),
                            class_weight=w2),
            full_shape=x.shape, options=(CE.PROBABILITIES, -1, eps, 0.0), reduction=reduction, denom=denom,
            loss_shape=loss_shape,
            min_block_rows=1 if D == 1 else CE.TILE_ROWS, **grad_kw,
        )

    t = V.index_array(tarr, "target")
    N, C, D, loss_shape = _index_layout(x, t)
    weights = row_weights(sample_weight, dtype, loss_shape)
    denom = _check_indices(t, C, ignore_index, w2, dtype, weights)
    grad_kw = dict(return_grad=return_grad, grad_output=grad_output, gradient_out=gradient_out, user_inputs=user,
                   weights=weights)
    if C == 0:
        return _empty_classes(x, math.nan if eps > 0 else 0.0, reduction, denom, loss_shape, **grad_kw)
    wsum = float(np.sum(w2, dtype=np.float64)) if w2 is not None else float(C)
    kind = CE.SMOOTHED_INDEX if eps > 0.0 else CE.INDEX
    result = _cross_entropy(C, D, kind, V.want_grad(return_grad, grad_output, gradient_out))(
        _class_operands(V.flat_readonly(x, view=(N, C, D)), target=V.flat_readonly(t, view=(N, D)), class_weight=w2),
        full_shape=x.shape, options=(kind, ignore_index, eps, wsum),
        reduction=reduction, denom=denom, loss_shape=loss_shape, min_block_rows=1 if D == 1 else CE.TILE_ROWS, **grad_kw,
    )
    if isinstance(result, _parts.Parts):
        return result._replace(finish=_parts.reduced(reduction, dtype, nan_if_no_denominator=eps > 0))
    if reduction == "mean" and denom == 0 and eps > 0:
        # torch divides the NLL part and the smoothing part by the zero total separately; the
        # kernel returns only their sum (see the docstring)
        nan = V.scalar_result(math.nan, dtype)
        result = (nan, result[1]) if return_grad else nan
    return result


_NO_INDEX = -(2**63)  # ignore_index for a loss without one: only int64's minimum matches it


def _index_rows_fast(rows, x, t, options, reduction, return_grad, ignore_index=_NO_INDEX):
    """A class-score row loss (``rows``, its kernel ``options``) for a small call in the
    commonest form -- C-contiguous, aligned (N, C) float input and int64 (N,) class indices,
    no class or sample weight, "mean" (over the entries not ignored) or "sum" -- with the general
    path's two kernels (index check, row sweep) called through their entry points. None when it
    does not apply (large, a gradient under ``collecting``, an index out of range or, for a loss
    without ``ignore_index``, equal to int64's minimum): the general path then runs, and raises."""
    if not _lean_layout(x, t, return_grad):
        return None
    N, C = x.shape
    bad, ignored, denom = _INDEX_STATS.serial(x.dtype, t, C, ignore_index, ones_weight(C, x.dtype)[0],
                                              placeholder(x.dtype, 1), read_only=(0,))
    if bad >= 0 or ignored and ignore_index == _NO_INDEX:
        return None
    return _rows_fast(rows, x, t.reshape(N, 1), options, reduction, return_grad, denom)


def _lean_layout(x, t, return_grad):
    """Whether a lean class-score call may run: C-contiguous aligned arrays, a serial size, no
    gradient under ``collecting``."""
    fx, ft = x.flags, t.flags
    return (fx.c_contiguous and fx.aligned and ft.c_contiguous and ft.aligned and not (_parts.wanted() and return_grad)
            and _threads.threads_for(x.size) == 1)


def _rows_fast(rows, x, t2, options, reduction, return_grad, denom):
    """The unweighted row kernel ``rows`` on the (N, C) input ``x`` and the 2-D class-index
    target ``t2``, serially through its entry point, reduced over ``denom``."""
    dtype = x.dtype
    N, C = x.shape
    grad = _buffers.empty((N, C, 1), dtype) if return_grad else None
    scale = (V.divide(1.0, denom) if reduction == "mean" else 1.0) if return_grad else 0.0
    total, _ = rows.serial(dtype, (x.reshape(N, C, 1), t2, placeholder(dtype, 3), ones_weight(C, dtype)), options,
                           scale, grad)
    loss = reduce(None, total, reduction, denom, (N,), dtype)
    return (loss, grad.reshape(N, C)) if return_grad else loss


def _lean_index_call(input, target, weight, sample_weight, return_grad, grad_output, gradient_out, reduction,
                     per_class=False):
    """Whether a class-index call can try a lean path (its type-level conditions): an (N, C)
    float input and int64 targets, (N,) or, ``per_class``, (N, C)."""
    return (type(input) is np.ndarray and type(target) is np.ndarray and weight is None and sample_weight is None
            and grad_output is None and gradient_out is None and (return_grad is True or return_grad is False)
            and type(reduction) is str and reduction in ("mean", "sum") and input.ndim == 2
            and target.shape == (input.shape if per_class else input.shape[:1]) and input.size > 0
            and (input.dtype == _F32 or input.dtype == _F64) and target.dtype == _I64)


def _empty_classes(x, row_value, reduction, denom, loss_shape, *, return_grad, grad_output, gradient_out,
                   user_inputs, weights):
    """C == 0: no kernel. Every index target is then ignored (anything else failed the range
    check): the loss rows are ``row_value``, 0 (NaN with label smoothing: torch multiplies by
    e / C), times their sample weights; the gradient is empty."""
    dtype = x.dtype
    bufs = V.gradient_buffers(gradient_out, return_grad, [x.shape], dtype, user_inputs, grad_output)
    grad_factor(reduction, denom, loss_shape, dtype, return_grad, grad_output)  # checks grad_output
    rows, total = weigh(np.full(math.prod(loss_shape), row_value, dtype), weights)
    if row_value != row_value:  # with label smoothing torch's e / C factor is NaN, even over no rows
        total = np.float64(math.nan)
    loss = reduce(rows, total, reduction, denom, loss_shape, dtype)
    return finish(loss, [_buffers.empty(x.shape, dtype)], x.shape, [x.shape], bufs, return_grad)


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
    out = np.empty(t.size, x.dtype) if reduction == "none" else placeholder(x.dtype, 1, writeable=True)
    bad, denom, total = _NLL_SUM2D(
        _threads.threads_for(GATHER_WORK * t.size), x, t, ones_weight(C, x.dtype)[0], placeholder(x.dtype, 1),
        ignore_index, NLL_SUM_ROWS, out)
    if bad >= 0:
        _bad_index(t, bad, C, ignore_index)
    return reduce(out, total, reduction, denom, t.shape, x.dtype)


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean", *,
             sample_weight=None, return_grad=False, grad_output=None, gradient_out=None):
    """Negative log-likelihood of log-probabilities ``input`` at class indices ``target``.

    ``input``: (C,), (N, C) or (N, C, d1, ..., dK); ``target`` (integer): (), (N,) or
    (N, d1, ..., dK). Per sample and position ``-w_t x_t`` (0 where ``t == ignore_index``);
    "mean" divides by ``sum w_t`` over the non-ignored entries (NaN when all are ignored, as
    torch). Gradient: ``-w_t / denominator`` at the target, 0 elsewhere.
    """
    if (type(input) is np.ndarray and type(target) is np.ndarray and weight is None and sample_weight is None
            and return_grad is False
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
    weights = row_weights(sample_weight, dtype, loss_shape)
    nrows = N * D
    x3 = V.flat_readonly(x, view=(N, C, D))
    t2 = V.flat_readonly(t, view=(N, D))
    grad_kw = dict(return_grad=return_grad, grad_output=grad_output, gradient_out=gradient_out,
                   user_inputs=(input, target, weight), weights=weights)
    return_grad = grad_kw["return_grad"] = V.want_grad(return_grad, grad_output, gradient_out)
    if C == 0:
        denom = _check_indices(t, C, ignore_index, w2, dtype, weights)
        return _empty_classes(x, 0.0, reduction, denom, loss_shape, **grad_kw)
    # validation, denominator and the loss (the rows for "none", else their blocked sum) in one
    # O(N) pass, parallel over its blocks; the row kernel below only writes the gradient
    w = (ones_weight(C, dtype) if w2 is None else w2)[0]
    out = np.empty(nrows, dtype) if reduction == "none" else placeholder(dtype, 1, writeable=True)
    bad, denom, total = _NLL_SUM(
        _threads.threads_for(GATHER_WORK * nrows), x3, t2, w, _sample_rows(weights, dtype), ignore_index, NLL_SUM_ROWS,
        out)
    if bad >= 0:
        _bad_index(t, bad, C, ignore_index)
    loss = reduce(out, total, reduction, denom, loss_shape, dtype)
    if not return_grad:
        return loss
    _, grad = _NLL_GRAD(
        _class_operands(x3, target=t2, class_weight=w2), full_shape=x.shape, options=(ignore_index, _stream(x3)),
        reduction=reduction, denom=denom, loss_shape=loss_shape, min_block_rows=64 if D == 1 else CE.TILE_ROWS, **grad_kw,
    )
    return loss, grad


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
                      sample_weight=None, return_grad=False, grad_output=None, gradient_out=None):
    """Multi-class hinge loss: per sample ``w_t sum_{c != t} max(0, margin - x_t + x_c)^p / C``.

    ``input``: (C,) or (N, C); ``target``: class indices, (N,) (or () / (1,) for one sample);
    ``p`` is 1 or 2; ``weight``: one weight per class, applied as ``w[target]``. "mean" divides by
    N. Over an empty batch numloss's "sum" is 0 and its "mean" NaN; torch returns an
    uninitialised value for both.
    A term with ``z = margin - x_t + x_c`` not above 0 (or NaN) contributes nothing, and nothing
    to the gradient, as in torch.
    """
    if (_lean_index_call(input, target, weight, sample_weight, return_grad, grad_output, gradient_out, reduction)
            and type(p) is int and p in (1, 2) and type(margin) is float and math.isfinite(margin)):
        fast = _index_rows_fast(_MULTI_MARGIN, input, target, (p, float(margin)), reduction, return_grad)
        if fast is not None:
            return fast
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
    weights = row_weights(sample_weight, dtype, loss_shape)
    return _MULTI_MARGIN(
        _class_operands(V.flat_readonly(x2, view=(N, C, 1)), target=V.flat_readonly(t, view=(N, 1)), class_weight=w2),
        full_shape=x.shape, options=(int(pv), margin), reduction=reduction, denom=mean_count(weights, nframe),
        loss_shape=loss_shape, return_grad=return_grad, grad_output=grad_output, gradient_out=gradient_out,
        user_inputs=(input, target, weight), weights=weights,
    )


def multilabel_margin_loss(input, target, reduction="mean", *, sample_weight=None, return_grad=False,
                           grad_output=None, gradient_out=None):
    """Multi-label hinge loss. ``target`` (integer, the input's shape) lists each sample's target
    classes, ended by the first -1; with T that set, per sample
    ``sum_{j in targets} sum_{c not in T} max(0, 1 - x_j + x_c) / C`` (a class listed twice counts
    twice, as in torch). Every entry of ``target`` must be in [-1, C) (torch checks them all,
    including those after the -1). "mean" divides by N. Over an empty batch numloss's "sum" is 0 and its
    "mean" NaN; torch returns an uninitialised value for both.
    """
    if (_lean_index_call(input, target, None, sample_weight, return_grad, grad_output, gradient_out, reduction,
                         per_class=True) and _lean_layout(input, target, return_grad)
            and target.min() >= -1 and target.max() < input.shape[1]):
        return _rows_fast(_MULTILABEL_MARGIN, input, target, (), reduction, return_grad, input.shape[0])
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
    weights = row_weights(sample_weight, dtype, loss_shape)
    return _MULTILABEL_MARGIN(
        _class_operands(V.flat_readonly(x2, view=(N, C, 1)), target=V.flat_readonly(t, view=(N, C))),
        full_shape=x.shape, reduction=reduction, denom=mean_count(weights, N), loss_shape=loss_shape,
        return_grad=return_grad, grad_output=grad_output, gradient_out=gradient_out, user_inputs=(input, target),
        weights=weights,
    )


def multilabel_soft_margin_loss(input, target, weight=None, reduction="mean", *, sample_weight=None,
                                return_grad=False, grad_output=None, gradient_out=None):
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
    return_grad = V.want_grad(return_grad, grad_output, gradient_out)
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
        return _mlsm_numpy(x, y, w, shape, reduction, return_grad, grad_output, gradient_out, user, sample_weight)
    C = shape[-1]
    loss_shape = shape[:-1]
    weights = row_weights(sample_weight, dtype, loss_shape)
    nrows = math.prod(loss_shape)
    xb = V.flat_readonly(x, shape, view=(nrows, C, 1))
    yb = V.flat_readonly(y, shape, view=(nrows, C, 1))
    if w is None:
        w2 = None
    elif all(s == 1 for s in w.shape[:-1]):  # one weight per class (or one for all)
        w2 = V.flat_readonly(w.reshape(w.shape[-1:] if w.ndim else (1,)), (C,), view=(1, C))
    else:
        w2 = V.flat_readonly(w, shape, view=(nrows, C))
    return _MULTILABEL_SOFT_MARGIN(
        _class_operands(xb, target_values=yb, class_weight=w2), options=(V.divide(1.0, C_in),),
        reduction=reduction, denom=mean_count(weights, nrows), loss_shape=loss_shape, full_shape=shape,
        input_shapes=(x.shape,), return_grad=return_grad, grad_output=grad_output, gradient_out=gradient_out, user_inputs=user,
        weights=weights,
    )


def _mlsm_numpy(x, y, w, shape, reduction, return_grad, grad_output, gradient_out, user, sample_weight):
    """torch's formula for target/weight with more dimensions than input (torch then sums over
    the input's last axis *counted from the front*): plain NumPy, rare."""
    dtype = x.dtype
    axis = x.ndim - 1
    C = x.shape[-1]
    loss_shape = shape[:axis] + shape[axis + 1:]
    weights = row_weights(sample_weight, dtype, loss_shape)
    xb = np.broadcast_to(x, shape)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        sp = np.logaddexp(0, xb).astype(dtype)
        sn = np.logaddexp(0, -xb).astype(dtype)
        term = y * sn + (1 - y) * sp
        if w is not None:
            term = term * w
        rows = term.sum(axis=axis, dtype=np.float64) / C
    denom = mean_count(weights, rows.size)
    bufs = V.gradient_buffers(gradient_out, return_grad, [x.shape], dtype, user, grad_output)
    factor, stride, scale = grad_factor(reduction, denom, loss_shape, dtype, return_grad, grad_output)
    factor, stride = weighted_factor(factor, stride, weights)
    loss_rows, total = weigh(rows, weights)
    loss = reduce(loss_rows.astype(dtype), total, reduction, denom, loss_shape, dtype)
    if not return_grad:
        return loss
    row_factors = (factor.reshape(loss_shape) if stride else np.asarray(factor[0])) * np.float64(scale)
    with np.errstate(over="ignore", invalid="ignore"):
        sig = (1 / (1 + np.exp(-xb.astype(np.float64))))
        g = (sig - y) / C
        if w is not None:
            g = g * w
        g = g * (np.expand_dims(row_factors, axis) if stride else row_factors)
    return finish(loss, [g.astype(dtype)], shape, [x.shape], bufs, return_grad)


for _f in (cross_entropy, nll_loss, multi_margin_loss, multilabel_margin_loss, multilabel_soft_margin_loss):
    _f.__doc__ += _SAMPLE_WEIGHT_DOC + _GRAD_DOC

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
