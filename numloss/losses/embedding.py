"""Embedding losses: cosine embedding and triplet margin (with p-norm or a named / user distance).

Each runs one fused sweep per row of embeddings (row functions in
``numloss/_kernels/embedding.py``, run by ``_rows.Rows``): distances, the loss, its reduction
(float64, fixed blocks: the same bits for any thread count) and, with ``return_grad=True``, the
gradient rows of every input. Inputs broadcast against each other as in torch; a gradient is
summed back to its input's shape.
"""
import functools
import math

import numpy as np

from .. import _validate as V
from .._kernels import embedding as EK
from ._base import Loss, loss_class
from ._rows import Rows, mean_count, placeholder, reduce, row_weights, weigh

_COSINE = Rows(EK.cosine_embedding, "cosine_embedding", EK.COSINE_OPTIONS, n_grads=3)


@functools.cache
def _triplet_rows(path, write_grad):
    """The kernels of one triplet variant (``EK.triplet_variant``)."""
    return Rows(EK.triplet_variant(path, write_grad), "triplet", EK.TRIPLET_OPTIONS, n_grads=3)

_SAMPLE_WEIGHT_DOC = """
    sample_weight: (keyword-only) one finite, non-negative weight ``s_n`` per sample (per row of
        the ``"none"`` output along axis 0; a scalar for one unbatched sample): "none" gives
        ``s * loss``, "sum" ``sum(s * loss)``, "mean" ``sum(s * loss) / sum(s)`` (each row of a
        sample counted once); the gradients are those of the weighted formula. Weights summing to
        0 give a NaN mean.
"""

_GRAD_DOC = """
    return_grad, grad_output, gradient_out: see ``numloss`` (docs/api.md, Gradients): with
        ``return_grad=True`` the result is ``(loss, (d loss / d {0}))``, a tuple in that order.
"""


def _embedding_rows(rows, inputs, full, rows_shape, sample_weight, loss_shape, target=None, **kw):
    """Run an embedding row kernel on ``inputs`` broadcast to ``full`` and viewed as
    ``rows_shape`` (R, D); gradients are returned in the inputs' shapes."""
    dtype = inputs[0].dtype
    weights = row_weights(sample_weight, dtype, loss_shape)
    arrays = [V.flat_readonly(x, full, view=rows_shape) for x in inputs]
    operands = arrays + [placeholder(dtype, 2)] * (3 - len(arrays))
    operands.append(placeholder(dtype, 1) if target is None else target)
    return rows(operands, denom=mean_count(weights, rows_shape[0]), full_shape=full, loss_shape=loss_shape,
                input_shapes=[x.shape for x in inputs], work=arrays[0].size * len(arrays), weights=weights, **kw)


# --------------------------------------------------------------------------------------------
# cosine_embedding_loss
# --------------------------------------------------------------------------------------------


def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction="mean", *, sample_weight=None,
                          return_grad=False, grad_output=None, gradient_out=None):
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
    # torch sums each input's squares over its own last axis (not the broadcast one)
    f1, f2 = ((1.0 / D if D else 0.0) if x.shape[-1] != D else 1.0 for x in inputs)
    return _embedding_rows(
        _COSINE, inputs, full, (rows, D), sample_weight, loss_shape, target=V.flat_readonly(t, loss_shape),
        options=(margin, f1, f2), reduction=reduction, return_grad=return_grad, grad_output=grad_output,
        gradient_out=gradient_out, user_inputs=(input1, input2, target),
    )


# --------------------------------------------------------------------------------------------
# triplet losses
# --------------------------------------------------------------------------------------------

# Named distances: (distance, p, eps) for the triplet kernel -- each equal to what torch
# computes for the corresponding callable.
DISTANCES = {
    "euclidean": (EK.PNORM, 2.0, 1e-6),  # F.pairwise_distance(x, y)
    "manhattan": (EK.PNORM, 1.0, 1e-6),  # F.pairwise_distance(x, y, p=1)
    "chebyshev": (EK.PNORM, math.inf, 1e-6),  # F.pairwise_distance(x, y, p=inf)
    "cosine": (EK.COSINE, 0.0, 1e-8),  # 1 - F.cosine_similarity(x, y)
}

_P_KINDS = {2.0: EK.P2, 1.0: EK.P1, math.inf: EK.P_INF, -math.inf: EK.P_NEG_INF, 0.0: EK.P0}


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


def _triplet_layout(inputs):
    """(broadcast shape, rows, D, loss shape) of the triplet inputs."""
    full = V.broadcast_shape(dict(zip(("anchor", "positive", "negative"), inputs)))
    if len(full) == 0:
        return full, 1, 1, ()
    return full, math.prod(full[:-1]), full[-1], full[:-1]


def _triplet(inputs, user, distance, p, eps, margin, swap, reduction, return_grad, grad_output, gradient_out,
             sample_weight):
    full, rows, D, loss_shape = _triplet_layout(inputs)
    if D == 0 and distance == EK.PNORM and (p < 0 or math.isinf(p)):
        raise ValueError(f"p={p} has no norm over an empty last dimension (the inputs have shape {full})")
    p_kind = _P_KINDS.get(p, EK.P_OTHER)
    rows_kernel = _triplet_rows(EK.triplet_path(distance, p_kind), V.want_grad(return_grad, grad_output, gradient_out))
    return _embedding_rows(
        rows_kernel, inputs, full, (rows, D), sample_weight, loss_shape,
        options=(distance, swap, p_kind, margin, p, eps),
        reduction=reduction, return_grad=return_grad, grad_output=grad_output,
        gradient_out=gradient_out, user_inputs=user,
    )


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, reduction="mean", *,
                        sample_weight=None, return_grad=False, grad_output=None, gradient_out=None):
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
    return _triplet(inputs, (anchor, positive, negative), EK.PNORM, p, eps, margin, swap, reduction, return_grad,
                    grad_output, gradient_out, sample_weight)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None, margin=1.0,
                                      swap=False, reduction="mean", sample_weight=None, return_grad=False,
                                      grad_output=None, gradient_out=None):
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
        distance, p, eps = spec
        return _triplet(inputs, user, distance, p, eps, margin, swap, reduction, return_grad, grad_output,
                        gradient_out, sample_weight)
    if not callable(distance_function):
        raise TypeError(f"distance_function must be None, a name or a callable, got {distance_function!r}")
    if V.want_grad(return_grad, grad_output, gradient_out):
        raise NotImplementedError(
            "numloss cannot differentiate an arbitrary distance_function: pass one of the named "
            f"distances ({', '.join(map(repr, DISTANCES))}) or None to get gradients, or "
            "differentiate your distance yourself (e.g. with return_grad=False here and an autodiff "
            "library for d(x1, x2))"
        )
    loss_shape = _triplet_layout(inputs)[3]
    weights = row_weights(sample_weight, inputs[0].dtype, loss_shape)
    return _callable_triplet(inputs, distance_function, margin, swap, reduction, loss_shape, weights)


def _callable_triplet(inputs, f, margin, swap, reduction, loss_shape, weights):
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
    if weights is None:
        return reduce(loss.reshape(-1), np.sum(loss, dtype=np.float64), reduction, mean_count(None, loss.size),
                      loss.shape, dtype)
    if loss.shape != loss_shape:
        raise ValueError(f"distance_function must return one distance per row, shape {loss_shape}, to weigh the "
                         f"rows with sample_weight; the losses have shape {loss.shape}")
    rows, total = weigh(loss, weights)
    return reduce(rows.reshape(-1), total, reduction, mean_count(weights, loss.size), loss_shape, dtype)


cosine_embedding_loss.__doc__ += _SAMPLE_WEIGHT_DOC + _GRAD_DOC.format("input1, d loss / d input2")
triplet_margin_loss.__doc__ += _SAMPLE_WEIGHT_DOC + _GRAD_DOC.format("anchor, d loss / d positive, d loss / d negative")
triplet_margin_with_distance_loss.__doc__ += _SAMPLE_WEIGHT_DOC + _GRAD_DOC.format(
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
