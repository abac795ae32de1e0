"""Regression losses: L1, MSE, Huber, smooth L1, and the extras RMSE and MSLE.

All take ``(input, target)`` broadcast against each other (with torch's warning when the shapes
differ) and return d(loss)/d(input) with ``return_grad=True``.
"""
import math

import numpy as np

from .. import _parts
from .. import _validate as V
from .._kernels import elementwise as E
from ._base import loss_class
from ._elementwise import FLOATS, SAMPLE_WEIGHT_DOC, Elementwise, grad_options

_L1 = Elementwise(E.l1)
_MSE = Elementwise(E.mse)
_HUBER = Elementwise(E.huber)
_SMOOTH_L1 = Elementwise(E.smooth_l1)
_MSLE = Elementwise(E.msle)

_GRAD_DOC = SAMPLE_WEIGHT_DOC + """    return_grad, grad_output, gradient_out: see ``numloss`` (docs/api.md, Gradients): with
        ``return_grad=True`` the result is ``(loss, d loss / d input)``.
"""


def _regression(kernel, input, target, reduction, weight, params, weighted_mean, sample_weight, grads):
    """Shared argument handling; ``weighted_mean``: a weighted \"mean\" divides by sum(weight).
    ``kernel`` may be a function of the result dtype (the choice depends on it)."""
    if isinstance(kernel, Elementwise) or type(input) is np.ndarray and input.dtype in FLOATS:
        fast = (kernel if isinstance(kernel, Elementwise) else kernel(input.dtype)).fast(
            input, target, reduction, params, weight=weight, sample_weight=sample_weight, **grads)
        if fast is not None:
            return fast
    x = V.float_array(input, "input")
    if not isinstance(kernel, Elementwise):
        kernel = kernel(x.dtype)
    y = V.float_like(target, x.dtype, "target")
    reduction = V.reduction(reduction)
    V.warn_target_size(x.shape, y.shape)
    if weight is not None:
        weight = V.float_like(weight, x.dtype, "weight")
        if weight.shape != x.shape:
            raise ValueError(f"weight shape {weight.shape} must be the same as input shape {x.shape}")
    return kernel(
        {"input": x, "target": y},
        x.dtype,
        reduction=reduction,
        weight=weight,
        sample_weight=sample_weight,
        params=params,
        denominator="weight" if weighted_mean else None,
        user_inputs=(input, target, weight),
        **grads,
    )


def l1_loss(input, target, reduction="mean", weight=None, *, sample_weight=None, return_grad=False, grad_output=None, gradient_out=None):
    """Mean absolute error, ``|input - target|`` per element.

    With ``weight`` (input's shape): ``w |x - y|``, and "mean" is ``sum(w |x - y|) / sum(w)``
    (torch 2.13); with ``sample_weight`` s too, ``sum(s w |x - y|) / sum(s w)``. The gradient
    at ``x == y`` is 0 (torch's ``sign(0)``).
    """
    grads = grad_options(return_grad, grad_output, gradient_out)
    return _regression(_L1, input, target, reduction, weight, (), True, sample_weight, grads)


def mse_loss(input, target, reduction="mean", weight=None, *, sample_weight=None, return_grad=False, grad_output=None, gradient_out=None):
    """Mean squared error, ``(input - target)^2`` per element.

    With ``weight`` (input's shape): ``w (x - y)^2``, and "mean" is ``sum(w (x - y)^2) / sum(w)``
    (torch 2.13); with ``sample_weight`` s too, ``sum(s w (x - y)^2) / sum(s w)``.
    """
    grads = grad_options(return_grad, grad_output, gradient_out)
    return _regression(_MSE, input, target, reduction, weight, (), True, sample_weight, grads)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None, *, sample_weight=None, return_grad=False, grad_output=None, gradient_out=None):
    """Huber loss: ``0.5 e^2`` where ``|e| < delta``, else ``delta (|e| - 0.5 delta)``, ``e = x - y``.

    With ``weight`` (input's shape) each term is multiplied by ``w`` and "mean" divides by the
    element count (torch 2.13); with ``sample_weight`` s too, by ``sum(s)`` (over elements). Reference: Huber, "Robust Estimation of a Location Parameter",
    1964.
    """
    delta = V.real_scalar(delta, "delta")
    if not delta > 0:
        raise ValueError(f"delta must be positive, got {delta}")
    grads = grad_options(return_grad, grad_output, gradient_out)
    return _regression(_HUBER, input, target, reduction, weight, (delta,), False, sample_weight, grads)


def smooth_l1_loss(input, target, reduction="mean", beta=1.0, *, sample_weight=None, return_grad=False, grad_output=None, gradient_out=None):
    """Smooth L1: ``0.5 e^2 / beta`` where ``|e| < beta``, else ``|e| - 0.5 beta``; ``beta = 0`` is
    the L1 loss (as in torch), and so is a beta that is 0 in the input's dtype (float32
    ``beta=1e-50``). Reference: Girshick, "Fast R-CNN", 2015."""
    beta = V.real_scalar(beta, "beta")
    if beta < 0:
        raise ValueError(f"beta must be non-negative, got {beta}")
    grads = grad_options(return_grad, grad_output, gradient_out)
    def kernel(dtype):  # beta as the kernel will see it
        return _SMOOTH_L1 if dtype.type(beta) > 0 else _L1

    return _regression(kernel, input, target, reduction, None, (beta,), False, sample_weight, grads)


def rmse_loss(input, target, reduction="mean", *, sample_weight=None, return_grad=False, grad_output=None, gradient_out=None):
    """Root mean squared error: ``sqrt(mse_loss(input, target, reduction))``.

    "mean": root of the mean squared error; "sum": root of the sum; "none": ``|x - y|`` per
    element. With ``sample_weight`` s: ``sqrt(sum(s (x - y)^2) / sum(s))`` (scikit-learn's
    ``root_mean_squared_error``), ``sqrt(sum(s (x - y)^2))``, and ``s |x - y|``. Gradient ``(x - y) / (n * rmse)`` for "mean" (``n`` = 1 for "sum"); at zero error
    the gradient is 0.
    """
    reduction = V.reduction(reduction)
    return_grad = V.want_grad(return_grad, grad_output, gradient_out)
    if reduction == "none":
        grads = grad_options(return_grad, grad_output, gradient_out)
        return _regression(_L1, input, target, reduction, None, (), False, sample_weight, grads)
    mse = _regression(_MSE, input, target, reduction, None, (), False, sample_weight, grad_options(False, None, None))
    if isinstance(mse, _parts.Parts):
        return mse._replace(finish=_parts.root(mse.finish))
    root = type(mse)(math.sqrt(mse))
    if not return_grad:
        return root
    go = V.grad_output(grad_output, (), mse.dtype, reduced=True)
    # d sqrt(m) / dm = 1 / (2 sqrt(m)); 0 at m == 0 by definition.
    chain = 0.0 if root == 0 else go / (2.0 * float(root))
    _, grad = _regression(
        _MSE, input, target, reduction, None, (), False, sample_weight,
        grad_options(True, chain, gradient_out),
    )
    return root, grad


def msle_loss(input, target, reduction="mean", *, sample_weight=None, return_grad=False, grad_output=None, gradient_out=None):
    """Mean squared logarithmic error: ``(log1p(input) - log1p(target))^2`` per element
    (NaN where an argument is below -1)."""
    grads = grad_options(return_grad, grad_output, gradient_out)
    return _regression(_MSLE, input, target, reduction, None, (), False, sample_weight, grads)


for _f in (l1_loss, mse_loss, huber_loss, smooth_l1_loss, rmse_loss, msle_loss):
    _f.__doc__ += _GRAD_DOC

L1Loss = loss_class("L1Loss", l1_loss, [("reduction", "mean")])
MSELoss = loss_class("MSELoss", mse_loss, [("reduction", "mean")])
HuberLoss = loss_class("HuberLoss", huber_loss, [("reduction", "mean"), ("delta", 1.0)])
SmoothL1Loss = loss_class("SmoothL1Loss", smooth_l1_loss, [("reduction", "mean"), ("beta", 1.0)])
RMSELoss = loss_class("RMSELoss", rmse_loss, [("reduction", "mean")])
MSLELoss = loss_class("MSLELoss", msle_loss, [("reduction", "mean")])

__all__ = [
    "l1_loss", "mse_loss", "huber_loss", "smooth_l1_loss", "rmse_loss", "msle_loss",
    "L1Loss", "MSELoss", "HuberLoss", "SmoothL1Loss", "RMSELoss", "MSLELoss",
]
