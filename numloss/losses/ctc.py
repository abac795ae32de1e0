"""Connectionist Temporal Classification: ``ctc_loss`` / ``CTCLoss``.

The forward-backward runs in the compiled extension ``numloss._ctc`` (Cython, parallel over the
batch); this module validates the arguments, lays the targets out for the kernel and applies the
reduction.
"""
import numpy as np

from .. import _ctc
from .. import _buffers, _parts, _threads
from .. import _validate as V
from ._base import loss_class

__all__ = ["ctc_loss", "CTCLoss"]


def _lengths(value, name, n, unbatched):
    """``input_lengths`` / ``target_lengths`` as an int64 array of shape (n,)."""
    arr = V.index_array(value, name, "lengths")
    if arr.ndim > 1 or (arr.ndim == 0 and n != 1) or (arr.ndim == 1 and arr.shape[0] != n):
        expected = "a scalar or shape (1,)" if unbatched else f"shape ({n},) (one per sample)"
        raise ValueError(f"{name} must have {expected}, got shape {arr.shape}")
    arr = arr.reshape(n)
    if arr.size and arr.min() < 0:
        i = int(np.argmin(arr))
        raise ValueError(f"{name} must be non-negative, got {arr[i]} for sample {i}")
    return arr


def _targets(targets, tl, n, C, blank, unbatched):
    """(flat int64 labels, int64 offsets): sample i's labels are flat[off[i]:off[i] + tl[i]]."""
    tg = V.as_array(targets, "targets")
    if tg.size == 0 and tg.dtype.kind == "f":  # [] or np.array([]): empty targets
        tg = tg.astype(np.int64)
    tg = V.index_array(tg, "targets")
    total = int(tl.sum())
    if n and int(tl.max()) > np.iinfo(np.int64).max // n:  # the int64 sum may have wrapped
        total = sum(tl.tolist())
    if total > np.iinfo(np.int64).max:
        raise ValueError(f"target_lengths sum to {total}, more than any targets array can hold")
    if tg.ndim == 1:
        if tg.shape[0] != total:
            raise ValueError(
                f"targets given as a 1-D concatenation must have sum(target_lengths) = {total} "
                f"entries, got {tg.shape[0]}"
            )
        offsets = np.zeros(n, np.int64)
        np.cumsum(tl[:-1], out=offsets[1:])
        labels = tg
        flat = np.ascontiguousarray(tg, dtype=np.int64)
    elif tg.ndim == 2:
        if tg.shape[0] != n:
            raise ValueError(
                f"padded targets must have shape (N, S) with N = {n} (the batch size of log_probs), "
                f"got {tg.shape}"
            )
        S = tg.shape[1]
        longest = int(tl.max()) if n else 0
        if longest > S:
            i = int(np.argmax(tl))
            raise ValueError(
                f"target_lengths[{i}] = {longest} is longer than the padded targets (S = {S})"
            )
        offsets = np.arange(n, dtype=np.int64) * S
        labels = tg[np.arange(S) < tl[:, None]] if S else tg.reshape(-1)
        flat = np.ascontiguousarray(tg, dtype=np.int64).reshape(-1)
    else:
        lay = "(S,) or (1, S)" if unbatched else "(N, S) or (sum(target_lengths),)"
        raise ValueError(f"targets must have shape {lay}, got {tg.shape}")
    if labels.size:
        bad = (labels < 0) | (labels >= C) | (labels == blank)
        if bad.any():
            v = labels[np.argmax(bad)]
            raise ValueError(
                f"targets must be class indices in [0, {C}) other than blank = {blank}; got {v}"
            )
    return flat, offsets


def ctc_loss(
    log_probs,
    targets,
    input_lengths,
    target_lengths,
    blank=0,
    reduction="mean",
    zero_infinity=False,
    *,
    sample_weight=None,
    return_grad=False,
    grad_output=None,
    gradient_out=None,
):
    r"""Connectionist Temporal Classification loss (torch.nn.functional.ctc_loss).

    For sample ``n`` with log-probabilities ``lp = log_probs[:T_n, n, :]`` (``T_n =
    input_lengths[n]``) and labels ``y = targets[n][:L_n]`` (``L_n = target_lengths[n]``), the
    loss is the negative log-likelihood

        nll_n = -log sum_{pi in B^-1(y)} prod_{t < T_n} exp(lp[t, pi_t])

    over the alignments ``pi`` of length ``T_n`` that reduce to ``y`` once repeated symbols are
    merged and blanks removed (Graves et al., ICML 2006). A repeated label needs a blank between
    its copies; a sample no alignment fits has ``nll = inf``.

    log_probs: (T, N, C) or unbatched (T, C); float32 or float64 (integers become float64,
        float16 float32; the result has this dtype). Normally the output of a log-softmax over C.
    targets: padded (N, S) with ``S >= max(target_lengths)`` (entries past a sample's length are
        ignored), or the 1-D concatenation of the N label sequences (``sum(target_lengths)``
        entries); unbatched: (S,) concatenated or (1, S). Integer dtype; labels in ``[0, C)`` and
        not ``blank``.
    input_lengths, target_lengths: N non-negative integers each (arrays, lists or tuples; a
        scalar when unbatched); ``input_lengths <= T``.
    blank: the blank class, in ``[0, C)``.
    reduction: "none" (the N losses, a 0-d array when unbatched), "sum", or "mean": each
        loss divided by its target length (clamped to at least 1), then averaged over the batch.
    zero_infinity: infinite losses (and their gradients) become 0.
    sample_weight: (keyword-only) one finite, non-negative weight per sample, shape (N,) (a
        scalar when unbatched): "none" gives ``w_n nll_n``, "sum" ``sum_n w_n nll_n`` and "mean"
        ``sum_n w_n nll_n / max(L_n, 1) / sum_n w_n``; the gradient is that of the weighted
        formula. A zero weight does not hide an infinite loss (0 * inf is NaN); use
        ``zero_infinity``.

    As in torch: ``input_length == 0`` gives 0 for an empty target and inf otherwise; an empty
    target gives ``-sum_t lp[t, blank]``; without ``zero_infinity`` an infeasible sample gives
    ``inf`` and a NaN gradient on its frames below ``input_length``.

    Gradient (``return_grad=True``), in torch's convention: for frames ``t < T_n``

        grad[t, n, c] = (exp(lp[t, c]) - gamma_n[t, c]) * g_n

    where ``gamma_n[t, c]`` is the posterior probability that the alignment emits class ``c`` at
    frame ``t`` and ``g_n`` is the upstream gradient of sample n's loss (``grad_output``, scaled
    by the reduction: ``1/(N * max(L_n, 1))`` for "mean"). Frames ``t >= T_n`` get 0. This is
    the gradient with respect to the *logits* when ``log_probs = log_softmax(logits)`` -- not
    the partial derivative with respect to ``log_probs`` as free inputs, which is ``-gamma * g``
    (pytorch/pytorch#52241, #82545). Like torch, a ``log_probs`` entry equal to ``-inf`` on a
    frame below ``input_length`` gets a NaN gradient.

    NaN and inf in ``log_probs`` propagate as in torch: a NaN (or +inf) log-probability of a
    target label or of the blank on a frame below ``input_length`` makes the loss NaN where it
    does in torch, and the gradient is NaN at the same entries.

    Stricter than torch: a label equal to ``blank`` or outside ``[0, C)`` (torch computes garbage
    or reads out of bounds) is a ValueError; float targets or lengths are a TypeError. An empty
    ``log_probs`` is a ValueError, as in torch.

    Computed in float64 whatever the input dtype, by a forward-backward over the band of states
    that can still be on an alignment, in linear space with exact power-of-two rescaling, or in
    log space where linear space would underflow (very long or very peaked inputs); the loss
    and gradient come from one fused pass. See ``numloss/_ctc.pyx``.
    """
    return _ctc_core(
        log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity,
        return_grad, grad_output, gradient_out, sample_weight=sample_weight,
    )


def _ctc_core(log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity,
              return_grad, grad_output, gradient_out, *, sample_weight=None, mode=0, paths=None):
    """``ctc_loss``. For tests: ``mode`` 1 forces the exact path, 2 the log-space band path;
    ``paths`` (int8, N entries) receives per sample the algorithm used (see numloss._ctc.ctc)."""
    lp = V.float_array(log_probs, "log_probs")
    if lp.ndim not in (2, 3):
        raise ValueError(f"log_probs must have shape (T, N, C) or (T, C), got {lp.shape}")
    unbatched = lp.ndim == 2
    if lp.size == 0:
        raise ValueError(f"log_probs must not be empty, got shape {lp.shape}")
    dtype = np.dtype(np.float32 if lp.dtype.itemsize == 4 else np.float64)  # native byte order
    lp3 = lp[:, None, :] if unbatched else lp
    T, N, C = lp3.shape
    blank = V.integer(blank, "blank")
    if not 0 <= blank < C:
        raise ValueError(f"blank must be in [0, {C}) (C = number of classes), got {blank}")
    reduction = V.reduction(reduction)
    zero_infinity = V.flag(zero_infinity, "zero_infinity")
    il = _lengths(input_lengths, "input_lengths", N, unbatched)
    tl = _lengths(target_lengths, "target_lengths", N, unbatched)
    if il.max() > T:
        i = int(np.argmax(il))
        raise ValueError(f"input_lengths must be at most T = {T}, got {il[i]} for sample {i}")
    flat, offsets = _targets(targets, tl, N, C, blank, unbatched)
    return_grad = V.want_grad(return_grad, grad_output, gradient_out)
    (buf,) = V.gradient_buffers(gradient_out, return_grad, [lp.shape], dtype,
                                (log_probs, targets, input_lengths, target_lengths), grad_output)
    loss_shape = () if unbatched else (N,)
    # Per-sample weights in float64 (as the losses), and what "mean" divides by: N, or their sum.
    if sample_weight is None:
        w, denom = None, N
    else:
        sw = V.sample_weight(sample_weight, dtype, loss_shape, per_element=False)
        w, denom = sw.array.reshape(N).astype(np.float64), sw.total

    if return_grad:
        if reduction == "none":
            scales = V.grad_output(grad_output, loss_shape, dtype, reduced=False).astype(np.float64)
        else:
            go = V.grad_output(grad_output, (), dtype, reduced=True)
            if reduction == "sum":
                scales = np.full(N, go, np.float64)
            else:
                scales = V.divide(go, denom) / np.maximum(tl, 1).astype(np.float64)
        if w is not None:
            scales *= w
        grad = buf if buf is not None else _buffers.empty(lp.shape, dtype)
        grad3 = grad.reshape(T, N, C)
    else:
        scales = np.zeros(N, np.float64)
        grad3 = np.empty((0, 0, 0), dtype)

    x = np.ascontiguousarray(lp3, dtype=dtype)
    nll = np.empty(N, np.float64)
    work = int(np.dot(il.astype(np.float64), 2.0 * tl + 1.0)) + (T * N * C if return_grad else 0)
    _ctc.ctc(x, flat, offsets, il, tl, blank, scales, zero_infinity, nll, grad3, return_grad,
             _threads.threads_for_openmp(work), mode, paths)

    if zero_infinity:
        nll[nll.astype(dtype) == np.inf] = 0.0
    if w is not None:
        with np.errstate(invalid="ignore"):  # 0 * inf is NaN, silently, as in the kernels
            nll *= w
    if reduction == "none":
        out = nll.astype(dtype).reshape(loss_shape)
    elif not return_grad and _parts.wanted():
        total = np.sum(nll) if reduction == "sum" else np.sum(nll / np.maximum(tl, 1))
        return _parts.Parts(total, denom, 1 if unbatched else N, _parts.reduced(reduction, dtype))
    elif reduction == "sum":
        out = V.scalar_result(np.sum(nll), dtype)
    elif w is None:
        out = V.scalar_result(np.mean(nll / np.maximum(tl, 1)), dtype)
    else:
        out = V.scalar_result(V.divide(np.sum(nll / np.maximum(tl, 1)), denom), dtype)
    if return_grad:
        return out, grad
    return out


CTCLoss = loss_class("CTCLoss", ctc_loss, [("blank", 0), ("reduction", "mean"), ("zero_infinity", False)])
