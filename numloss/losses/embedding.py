"""Embedding losses: cosine embedding and triplet margin (with p-norm or a named / user distance).

Each runs one fused sweep per row of embeddings (``numloss/_kernels/rows.py``, the ``pairs``
driver): distances, the loss, its reduction (float64, fixed blocks: the same bits for any thread
count) and, with ``return_grad=True``, the gradient rows of every input. Inputs broadcast against
each other as in torch; a gradient is summed back to its input's shape.
"""
import math

import numpy as np

from .. import _buffers, _threads
from .. import _validate as V
from .._kernels import rows as R
from .._kernels._compile import Kernel
from ._base import Loss, loss_class
from .classification import block_rows, grad_scale, placeholders, reduce

_COSINE = Kernel(R.blocks, "cosine_embedding", ROW=R.cosine_embedding)
_TRIPLET = Kernel(R.blocks, "triplet", ROW=R.triplet)

_GRAD_DOC = """
    return_grad, grad_output, gradient_out: see ``numloss`` (API.md, Gradients): with
        ``return_grad=True`` the result is ``(loss, (d loss / d {0}))``, a tuple in that order.
"""


def _run_pairs(kernel, arrays, t, ip, fp, *, reduction, loss_shape, return_grad, grad_output, buffers):
    """Run a ``pairs`` kernel on 2 or 3 equally shaped (R, D) read-only arrays."""
    a = arrays[0]
    dtype = a.dtype
    nrows, D = a.shape
    ph = placeholders(dtype)
    denom = nrows if nrows else math.nan
    go, gs, gscale = grad_scale(reduction, denom, loss_shape, dtype, return_grad, grad_output)
    grads = []
    if return_grad:
        for buf in buffers:
            grads.append(buf.reshape(a.shape) if buf is not None else _buffers.empty(a.shape, dtype))
    g = grads + [ph["g2"]] * (3 - len(grads))
    ops = list(arrays) + [ph["x2"]] * (3 - len(arrays))
    bs = block_rows(D)
    partial = np.empty(-(-nrows // bs), np.float64)
    out = np.empty(nrows, dtype)
    total = kernel(
        _threads.threads_for(a.size * len(arrays)),
        partial, bs, nrows,
        ops[0], ops[1], ops[2],
        ph["t1"] if t is None else t,
        np.array((int(return_grad), gs) + tuple(ip), np.int64),
        np.array((gscale,) + tuple(fp), np.float64),
        go, out, g[0], g[1], g[2],
    )
    return reduce(out, total, reduction, denom, loss_shape, dtype), grads


def _finish(loss, grads, full, inputs, buffers, return_grad):
    """Sum each gradient back to its input's shape (into its ``gradient_out`` buffer)."""
    if not return_grad:
        return loss
    result = []
    for g, x, buf in zip(grads, inputs, buffers):
        g = V.sum_to_shape(g.reshape(full), x.shape)
        if buf is not None and g is not buf:
            buf[...] = g
            g = buf
        result.append(g)
    return loss, tuple(result)


def _gradient_out(gradient_out, return_grad, inputs, dtype, user):
    bufs = V.gradient_buffers(gradient_out, return_grad, [x.shape for x in inputs], dtype, user)
    return bufs


def _direct(bufs, inputs, full):
    """Buffers the kernel can write into directly (the input was not broadcast)."""
    return [b if (b is not None and x.shape == tuple(full)) else None for b, x in zip(bufs, inputs)]


# --------------------------------------------------------------------------------------------
# cosine_embedding_loss
# --------------------------------------------------------------------------------------------


def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction="mean", *, return_grad=False,
                          grad_output=None, gradient_out=None):
    """Cosine embedding loss: with ``cos = x1.x2 / sqrt((|x1|^2 + e)(|x2|^2 + e))`` and torch's
    EPSILON ``e = float32(1e-12)`` (also for float64 inputs), the loss is ``1 - cos`` where
    ``target == 1``, ``max(0, cos - margin)`` where ``target == -1``, and 0 for any other target
    value (as torch).

    ``input1``, ``input2``: (N, D) with a (N,) target, or (D,) with a 0-d target; they broadcast
    against each other and the target as in torch (each squared norm is taken over the input's
    own last axis, as torch does, also when that axis is broadcast). Dot products accumulate in
    float64.
    """
    x1 = V.float_array(input1, "input1")
    dtype = x1.dtype
    x2 = V.float_like(input2, dtype, "input2")
    t = V.float_like(target, dtype, "target")
    reduction = V.reduction(reduction)
    margin = V.real_scalar(margin, "margin")
    if t.ndim > 1:
        raise ValueError(f"target must be 0-d or 1-D (one label per pair), got shape {t.shape}")
    want = t.ndim + 1
    if x1.ndim != want or x2.ndim != want:
        raise ValueError(
            f"a {t.ndim}-d target needs {want}-d inputs, got input1 shape {x1.shape} and input2 shape {x2.shape}"
        )
    named = {"input1": x1, "input2": x2}
    if t.ndim == 1:
        named["target"] = t.reshape(-1, 1)
    full = V.broadcast_shape(named)
    if t.ndim == 0:
        rows, D, loss_shape = 1, full[0], ()
    else:
        rows, D = full
        loss_shape = (rows,)
    inputs = (x1, x2)
    user = (input1, input2, target)
    # torch sums each input's squares over its own last axis (not the broadcast one)
    f1, f2 = ((1.0 / D if D else 0.0) if x.shape[-1] != D else 1.0 for x in inputs)
    bufs = _gradient_out(gradient_out, return_grad, inputs, dtype, user)
    arrays = [V.flat_readonly(x, full).reshape(rows, D) for x in inputs]
    tt = V.flat_readonly(t, loss_shape)
    loss, grads = _run_pairs(
        _COSINE, arrays, tt, (), (margin, f1, f2), reduction=reduction, loss_shape=loss_shape,
        return_grad=return_grad, grad_output=grad_output, buffers=_direct(bufs, inputs, full),
    )
    return _finish(loss, grads, full, inputs, bufs, return_grad)


# --------------------------------------------------------------------------------------------
# triplet losses
# --------------------------------------------------------------------------------------------

# Named distances: (kind, p, eps) for the triplet kernel -- each equal to what torch computes
# for the corresponding callable.
DISTANCES = {
    "euclidean": (0, 2.0, 1e-6),  # F.pairwise_distance(x, y)
    "manhattan": (0, 1.0, 1e-6),  # F.pairwise_distance(x, y, p=1)
    "chebyshev": (0, math.inf, 1e-6),  # F.pairwise_distance(x, y, p=inf)
    "cosine": (1, 0.0, 1e-8),  # 1 - F.cosine_similarity(x, y)
}


def _p_kind(p):
    if p == 2.0:
        return 0
    if p == 1.0:
        return 1
    if p == math.inf:
        return 2
    if p == -math.inf:
        return 3
    if p == 0.0:
        return 4
    return 5


def _triplet_inputs(anchor, positive, negative):
    a = V.float_array(anchor, "anchor")
    dtype = a.dtype
    p = V.float_like(positive, dtype, "positive")
    n = V.float_like(negative, dtype, "negative")
    if not a.ndim == p.ndim == n.ndim:
        raise ValueError(
            "anchor, positive and negative must have the same number of dimensions, got "
            f"anchor {a.ndim}-d, positive {p.ndim}-d and negative {n.ndim}-d"
        )
    return a, p, n


def _margin(margin):
    margin = V.real_scalar(margin, "margin")
    if not margin > 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    return margin


def _triplet(inputs, user, kind, p, eps, margin, swap, reduction, return_grad, grad_output, gradient_out):
    dtype = inputs[0].dtype
    full = V.broadcast_shape(dict(zip(("anchor", "positive", "negative"), inputs)))
    if len(full) == 0:
        rows, D, loss_shape = 1, 1, ()
    else:
        D = full[-1]
        loss_shape = full[:-1]
        rows = math.prod(loss_shape)
    if D == 0 and kind == 0 and (p < 0 or math.isinf(p)):
        raise ValueError(f"p={p} has no norm over an empty last dimension (the inputs have shape {full})")
    bufs = _gradient_out(gradient_out, return_grad, inputs, dtype, user)
    arrays = [V.flat_readonly(x, full).reshape(rows, D) for x in inputs]
    loss, grads = _run_pairs(
        _TRIPLET, arrays, None, (kind, int(swap), _p_kind(p)), (margin, p, eps), reduction=reduction,
        loss_shape=loss_shape, return_grad=return_grad, grad_output=grad_output,
        buffers=_direct(bufs, inputs, full),
    )
    return _finish(loss, grads, full, inputs, bufs, return_grad)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, reduction="mean", *,
                        return_grad=False, grad_output=None, gradient_out=None):
    """Triplet margin loss ``max(0, margin + d(a, p) - d(a, n))`` with torch's pairwise distance
    ``d(x, y) = ||x - y + eps||_p`` over the last dimension; ``swap=True`` uses
    ``min(d(a, n), d(p, n))`` (Balntas et al., "Learning local feature descriptors with triplets
    and shallow convolutional neural networks", BMVC 2016).

    Inputs: (..., D), all with the same number of dimensions (broadcast as torch; 0-d inputs are
    one 1-element embedding). ``margin`` must be positive (as torch). Any real ``p`` works,
    including 0 and +-inf, with torch's norm gradients (0 where the norm is 0).
    """
    inputs = _triplet_inputs(anchor, positive, negative)
    margin = _margin(margin)
    p = V.real_scalar(p, "p")
    if p != p:
        raise ValueError("p must not be NaN")
    eps = V.real_scalar(eps, "eps")
    swap = V.flag(swap, "swap")
    reduction = V.reduction(reduction)
    return _triplet(inputs, (anchor, positive, negative), 0, p, eps, margin, swap, reduction, return_grad,
                    grad_output, gradient_out)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None, margin=1.0,
                                      swap=False, reduction="mean", return_grad=False, grad_output=None,
                                      gradient_out=None):
    """Triplet margin loss ``max(0, margin + d(a, p) - d(a, n))`` with a chosen distance.

    ``distance_function``:

    * ``None`` or ``"euclidean"``: torch's ``pairwise_distance`` (p = 2, eps = 1e-6);
    * ``"manhattan"`` / ``"chebyshev"``: ``pairwise_distance`` with p = 1 / p = inf;
    * ``"cosine"``: ``1 - cosine_similarity(x, y)`` (torch's, eps = 1e-8);
    * any callable ``f(x1, x2)``: it receives two NumPy arrays (``(N, D)``, or ``(D,)``
      unbatched; read-only) and returns the N distances. The loss is computed from its values;
      its gradient is not known to numloss, so ``return_grad=True`` raises NotImplementedError.

    The named distances run fused in one kernel with their gradients. ``margin`` must be
    positive; ``swap`` uses ``min(d(a, n), d(p, n))``.
    """
    reduction = V.reduction(reduction)
    margin = _margin(margin)
    swap = V.flag(swap, "swap")
    inputs = _triplet_inputs(anchor, positive, negative)
    user = (anchor, positive, negative)
    if distance_function is None:
        distance_function = "euclidean"
    if isinstance(distance_function, str):
        spec = DISTANCES.get(distance_function)
        if spec is None:
            raise ValueError(
                f"distance_function must be a callable or one of {', '.join(map(repr, DISTANCES))}, "
                f"got {distance_function!r}"
            )
        kind, p, eps = spec
        return _triplet(inputs, user, kind, p, eps, margin, swap, reduction, return_grad, grad_output,
                        gradient_out)
    if not callable(distance_function):
        raise TypeError(f"distance_function must be None, a name or a callable, got {distance_function!r}")
    if return_grad:
        raise NotImplementedError(
            "numloss cannot differentiate an arbitrary distance_function: pass one of the named "
            f"distances ({', '.join(map(repr, DISTANCES))}) or None to get gradients, or "
            "differentiate your distance yourself (e.g. with return_grad=False here and an autodiff "
            "library for d(x1, x2))"
        )
    if grad_output is not None or gradient_out is not None:
        raise ValueError("grad_output and gradient_out are only used with return_grad=True")
    return _callable_triplet(inputs, distance_function, margin, swap, reduction)


def _callable_triplet(inputs, f, margin, swap, reduction):
    dtype = inputs[0].dtype
    views = []
    for x in inputs:
        v = x.view()
        v.flags.writeable = False
        views.append(v)
    a, p, n = views

    def dist(x1, x2, what):
        d = V.float_like(f(x1, x2), dtype, f"distance_function({what})")
        return d

    dp = dist(a, p, "anchor, positive")
    dn = dist(a, n, "anchor, negative")
    if swap:
        dn = np.minimum(dn, dist(p, n, "positive, negative"))
    with np.errstate(invalid="ignore", over="ignore"):
        z = (dtype.type(margin) + dp) - dn
        loss = np.where(z < 0, dtype.type(0), z).astype(dtype)
    return reduce(loss.reshape(-1), np.sum(loss, dtype=np.float64), reduction, loss.size if loss.size else math.nan,
                  loss.shape, dtype)


cosine_embedding_loss.__doc__ += _GRAD_DOC.format("input1, d loss / d input2")
triplet_margin_loss.__doc__ += _GRAD_DOC.format("anchor, d loss / d positive, d loss / d negative")
triplet_margin_with_distance_loss.__doc__ += _GRAD_DOC.format(
    "anchor, d loss / d positive, d loss / d negative"
)

CosineEmbeddingLoss = loss_class(
    "CosineEmbeddingLoss", cosine_embedding_loss, [("margin", 0.0), ("reduction", "mean")]
)
TripletMarginLoss = loss_class(
    "TripletMarginLoss", triplet_margin_loss,
    [("margin", 1.0), ("p", 2.0), ("eps", 1e-6), ("swap", False), ("reduction", "mean")],
)


class TripletMarginWithDistanceLoss(Loss):
    """Class form of :func:`numloss.triplet_margin_with_distance_loss`
    (torch.nn.TripletMarginWithDistanceLoss); its arguments are keyword-only, as in torch."""

    function = staticmethod(triplet_margin_with_distance_loss)
    options = (("distance_function", None), ("margin", 1.0), ("swap", False), ("reduction", "mean"))

    @classmethod
    def _signature(cls):
        import inspect

        return inspect.Signature(
            [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d) for n, d in cls.options]
        )


TripletMarginWithDistanceLoss.__signature__ = TripletMarginWithDistanceLoss._signature()

__all__ = [
    "cosine_embedding_loss", "triplet_margin_loss", "triplet_margin_with_distance_loss",
    "CosineEmbeddingLoss", "TripletMarginLoss", "TripletMarginWithDistanceLoss",
]
