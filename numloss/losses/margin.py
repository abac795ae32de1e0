"""Margin losses on ±1 targets: soft margin, hinge embedding, margin ranking, and the extra SVM
hinge loss."""
from .. import _validate as V
from .._kernels import elementwise as E
from ._base import loss_class
from ._elementwise import SAMPLE_WEIGHT_DOC, Elementwise, grad_options

_SOFT_MARGIN = Elementwise(E.soft_margin)
_HINGE_EMBEDDING = Elementwise(E.hinge_embedding)
_MARGIN_RANKING = Elementwise(E.margin_ranking, nin=3)
_HINGE = Elementwise(E.hinge)


def soft_margin_loss(input, target, reduction="mean", *, sample_weight=None, return_grad=False, grad_output=None, gradient_out=None):
    """Two-class logistic loss ``log(1 + exp(-target * input))``, computed as a softplus.

    ``target`` (usually ±1) must broadcast to ``input``'s shape; the result has input's shape.
    """
    fast = _SOFT_MARGIN.fast(input, target, reduction, sample_weight=sample_weight,
                             **grad_options(return_grad, grad_output, gradient_out))
    if fast is not None:
        return fast
    x = V.float_array(input, "input")
    y = V.float_like(target, x.dtype, "target")
    if V.broadcast_shape({"input": x, "target": y}) != x.shape:
        raise ValueError(f"target shape {y.shape} must broadcast to input shape {x.shape}")
    return _SOFT_MARGIN(
        {"input": x, "target": y}, x.dtype, reduction=V.reduction(reduction),
        sample_weight=sample_weight, user_inputs=(input, target),
        **grad_options(return_grad, grad_output, gradient_out),
    )


def hinge_embedding_loss(input, target, margin=1.0, reduction="mean", *, sample_weight=None, return_grad=False, grad_output=None, gradient_out=None):
    """Hinge embedding loss: ``input`` where ``target == 1``, ``max(0, margin - input)`` where
    ``target == -1``; other target values get the sum of both terms, as in torch."""
    margin = V.real_scalar(margin, "margin")
    fast = _HINGE_EMBEDDING.fast(input, target, reduction, (margin,), sample_weight=sample_weight,
                                 **grad_options(return_grad, grad_output, gradient_out))
    if fast is not None:
        return fast
    x = V.float_array(input, "input")
    y = V.float_like(target, x.dtype, "target")
    return _HINGE_EMBEDDING(
        {"input": x, "target": y}, x.dtype, reduction=V.reduction(reduction), params=(margin,),
        sample_weight=sample_weight, user_inputs=(input, target),
        **grad_options(return_grad, grad_output, gradient_out),
    )


def margin_ranking_loss(input1, input2, target, margin=0.0, reduction="mean", *, sample_weight=None, return_grad=False, grad_output=None, gradient_out=None):
    """Ranking loss ``max(0, -target * (input1 - input2) + margin)``; gradients for
    ``(input1, input2)``. All three must have the same number of dimensions (as torch)."""
    margin = V.real_scalar(margin, "margin")
    fast = _MARGIN_RANKING.fast(input1, input2, reduction, (margin,), third=target, sample_weight=sample_weight,
                                **grad_options(return_grad, grad_output, gradient_out))
    if fast is not None:
        return fast
    x1 = V.float_array(input1, "input1")
    x2 = V.float_like(input2, x1.dtype, "input2")
    y = V.float_like(target, x1.dtype, "target")
    if not x1.ndim == x2.ndim == y.ndim:
        raise ValueError(
            "input1, input2 and target must have the same number of dimensions, got shapes "
            f"{x1.shape}, {x2.shape}, {y.shape}"
        )
    return _MARGIN_RANKING(
        {"input1": x1, "input2": x2, "target": y}, x1.dtype, reduction=V.reduction(reduction),
        params=(margin,), grad_of=(0, 1), sample_weight=sample_weight,
        user_inputs=(input1, input2, target),
        **grad_options(return_grad, grad_output, gradient_out),
    )


def hinge_loss(input, target, margin=1.0, reduction="mean", *, sample_weight=None, return_grad=False, grad_output=None, gradient_out=None):
    """SVM hinge loss ``max(0, margin - target * input)`` with ``target`` in {-1, +1}.

    The gradient is ``-target`` where ``margin - target * input >= 0`` (the boundary included,
    as torch's ``clamp_min``), else 0. Other target values are a ValueError.
    Reference: Cortes & Vapnik, "Support-vector networks", 1995.
    """
    margin = V.real_scalar(margin, "margin")
    x = V.float_array(input, "input")
    y = V.float_like(target, x.dtype, "target")
    V.plus_minus_one(y, "target")
    return _HINGE(
        {"input": x, "target": y}, x.dtype, reduction=V.reduction(reduction), params=(margin,),
        sample_weight=sample_weight, user_inputs=(input, target),
        **grad_options(return_grad, grad_output, gradient_out),
    )


for _f in (soft_margin_loss, hinge_embedding_loss, margin_ranking_loss, hinge_loss):
    _f.__doc__ += SAMPLE_WEIGHT_DOC

SoftMarginLoss = loss_class("SoftMarginLoss", soft_margin_loss, [("reduction", "mean")])
HingeEmbeddingLoss = loss_class("HingeEmbeddingLoss", hinge_embedding_loss, [("margin", 1.0), ("reduction", "mean")])
MarginRankingLoss = loss_class("MarginRankingLoss", margin_ranking_loss, [("margin", 0.0), ("reduction", "mean")])
HingeLoss = loss_class("HingeLoss", hinge_loss, [("margin", 1.0), ("reduction", "mean")])

__all__ = [
    "soft_margin_loss", "hinge_embedding_loss", "margin_ranking_loss", "hinge_loss",
    "SoftMarginLoss", "HingeEmbeddingLoss", "MarginRankingLoss", "HingeLoss",
]
