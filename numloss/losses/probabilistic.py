"""Likelihood and divergence losses: binary cross-entropy (on probabilities and on logits),
Poisson and Gaussian negative log-likelihoods, Kullback-Leibler divergence."""
import math
import warnings

import numpy as np

from .. import _validate as V
from .._kernels import elementwise as E
from ._base import loss_class
from ._elementwise import SAMPLE_WEIGHT_DOC, Elementwise, grad_options

_BCE = Elementwise(E.binary_cross_entropy, unit_interval=True)
_BCE_LOGITS = Elementwise(E.bce_with_logits_no_pos_weight)
_BCE_LOGITS_POS = Elementwise(E.bce_with_logits, nin=3)
_POISSON_LOG = {False: Elementwise(E.poisson_nll_log), True: Elementwise(E.poisson_nll_log_full)}
_POISSON = {False: Elementwise(E.poisson_nll), True: Elementwise(E.poisson_nll_full)}
_GAUSSIAN = Elementwise(E.gaussian_nll, nin=3)
_GAUSSIAN_CONST = Elementwise(E.gaussian_nll_const_var)
_KL = Elementwise(E.kl_div)
_KL_LOG = Elementwise(E.kl_div_log_target)


def _weight_for(weight, x, name="weight"):
    """An optional per-element factor that must broadcast to ``input``'s shape."""
    if weight is None:
        return None
    w = V.float_like(weight, x.dtype, name)
    if V.broadcast_shape({"input": x, name: w}) != x.shape:
        raise ValueError(f"{name} shape {w.shape} must broadcast to input shape {x.shape}")
    return w


def binary_cross_entropy(input, target, weight=None, reduction="mean", *, sample_weight=None, return_grad=False, grad_output=None, gradient_out=None):
    """Binary cross-entropy on probabilities: ``-w (t log x + (1 - t) log(1 - x))``.

    As in torch, each log is clamped at -100 and the gradient ``w (x - t) / max(x (1 - x),
    1e-12)``. ``input`` and ``target`` must lie in [0, 1] (a ValueError otherwise, NaN
    included, as torch's RuntimeError) and ``target`` must have the input's shape; ``weight``
    broadcasts to it.
    """
    grads = grad_options(return_grad, grad_output, gradient_out)
    fast = _BCE.fast(input, target, reduction, weight=weight, sample_weight=sample_weight, **grads)
    if fast is not None:
        return fast
    x = V.float_array(input, "input")
    t = V.float_like(target, x.dtype, "target")
    V.same_shape(x, t, "input", "target")
    reduction = V.reduction(reduction)
    return _BCE(
        {"input": x, "target": t}, x.dtype, reduction=reduction, weight=_weight_for(weight, x),
        sample_weight=sample_weight, user_inputs=(input, target, weight), **grads,
    )


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None, *, sample_weight=None, return_grad=False, grad_output=None, gradient_out=None):
    """Binary cross-entropy on logits, in the stable form
    ``w ((1 - t) x + (1 + (pw - 1) t) softplus(-x))``; gradient
    ``w (sigmoid(x) (1 + (pw - 1) t) - pw t)``.

    ``target`` must have ``input``'s shape; ``weight`` and ``pos_weight`` broadcast to it
    (``pos_weight`` typically over the last, class, dimension).
    """
    grads = grad_options(return_grad, grad_output, gradient_out)
    if pos_weight is None:
        fast = _BCE_LOGITS.fast(input, target, reduction, weight=weight, sample_weight=sample_weight, **grads)
        if fast is not None:
            return fast
    x = V.float_array(input, "input")
    t = V.float_like(target, x.dtype, "target")
    V.same_shape(x, t, "input", "target")
    operands = {"input": x, "target": t}
    kernel = _BCE_LOGITS
    if pos_weight is not None:
        operands["pos_weight"] = _weight_for(pos_weight, x, "pos_weight")
        kernel = _BCE_LOGITS_POS
    return kernel(
        operands, x.dtype, reduction=V.reduction(reduction), weight=_weight_for(weight, x),
        sample_weight=sample_weight, user_inputs=(input, target, weight, pos_weight), **grads,
    )


def poisson_nll_loss(input, target, log_input=True, full=False, eps=1e-8, reduction="mean", *, sample_weight=None, return_grad=False, grad_output=None, gradient_out=None):
    """Poisson negative log-likelihood: ``exp(x) - t x`` (``log_input=True``) or
    ``x - t log(x + eps)``. ``full=True`` adds Stirling's approximation
    ``t log t - t + log(2 pi t) / 2`` where ``t > 1``.

    Deviation from torch, where ``exp(x)`` and ``t x`` both overflow (float32 ``x = t = 1e30``):
    numloss computes ``exp(x) - t x`` with a fused multiply-add, so ``t x`` does not round to
    inf first and the loss is inf (the true value) where torch gives NaN (inf - inf)."""
    log_input = V.flag(log_input, "log_input")
    full = V.flag(full, "full")
    eps = V.real_scalar(eps, "eps")
    kernel, params = (_POISSON_LOG[full], ()) if log_input else (_POISSON[full], (eps,))
    fast = kernel.fast(input, target, reduction, params, sample_weight=sample_weight,
                       **grad_options(return_grad, grad_output, gradient_out))
    if fast is not None:
        return fast
    x = V.float_array(input, "input")
    t = V.float_like(target, x.dtype, "target")
    return kernel(
        {"input": x, "target": t}, x.dtype, reduction=V.reduction(reduction), params=params,
        sample_weight=sample_weight, user_inputs=(input, target),
        **grad_options(return_grad, grad_output, gradient_out),
    )


def _gaussian_var(var, x):
    """torch's var shapes: input's, input's minus the last dim, or input's with exactly one
    dimension of size 1. Returns the var to broadcast."""
    if var.shape == x.shape:
        return var
    if x.shape[:-1] == var.shape and x.ndim > 0:
        return var[..., None]
    mismatched = [v for s, v in zip(x.shape, var.shape) if s != v]
    if var.ndim == x.ndim and sum(mismatched) == 1:
        return var
    raise ValueError(f"var is of incorrect size {var.shape} for input shape {x.shape}")


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean", *, sample_weight=None, return_grad=False, grad_output=None, gradient_out=None):
    """Gaussian negative log-likelihood ``(log v + (x - y)^2 / v) / 2`` (+ ``log(2 pi) / 2`` with
    ``full``), ``v = max(var, eps)`` (every ``v`` NaN for ``eps=nan``, as torch's clamp).

    ``var``: input's shape, input's shape without its last dimension, input's shape with one
    dimension of size 1, or a Python number (a constant: its gradient slot is ``None``).
    Negative variances are a ValueError. The gradient for ``var`` passes through the clamp at
    ``eps`` unchanged, as torch's (which clamps under ``no_grad``). Gradients: ``(input, var)``.
    Reference: Nix & Weigend, "Estimating the mean and variance of the target probability
    distribution", 1994.
    """
    full = V.flag(full, "full")
    eps = V.real_scalar(eps, "eps")
    x = V.float_array(input, "input")
    y = V.float_like(target, x.dtype, "target")
    reduction = V.reduction(reduction)
    const = 0.5 * math.log(2 * math.pi) if full else 0.0
    grads = grad_options(return_grad, grad_output, gradient_out)
    if isinstance(var, (int, float, np.integer, np.floating)) and not isinstance(var, (bool, np.bool_)):
        v = V.real_scalar(var, "var")
        if v < 0:
            raise ValueError("var has negative entry/entries")
        if eps != eps:
            v = math.nan
        return _GAUSSIAN_CONST(
            {"input": x, "target": y}, x.dtype, reduction=reduction, params=(eps, const, v),
            grad_of=(0, None), sample_weight=sample_weight, user_inputs=(input, target), **grads,
        )
    var_arr = V.float_like(var, x.dtype, "var")
    if V.count_outside(var_arr, 0, np.inf, nan_outside=False):
        raise ValueError("var has negative entry/entries")
    if eps != eps:
        var_arr = np.full_like(var_arr, math.nan)
    return _GAUSSIAN(
        {"input": x, "target": y, "var": _gaussian_var(var_arr, x)}, x.dtype, reduction=reduction,
        params=(eps, const), grad_of=(0, 2), grad_shapes=(x.shape, var_arr.shape),
        sample_weight=sample_weight, user_inputs=(input, target, var), **grads,
    )


def kl_div(input, target, reduction="mean", log_target=False, *, sample_weight=None, return_grad=False, grad_output=None, gradient_out=None):
    """Kullback-Leibler divergence with ``input`` in log space: ``t (log t - x)`` (0 where
    ``t == 0``), or ``exp(t) (t - x)`` with ``log_target``.

    ``"batchmean"`` divides the sum by ``input.shape[0]`` (the mathematical KL per sample;
    with ``sample_weight``, by the sum of the samples' weights, each sample's being the mean of
    its elements' weights); ``"mean"`` divides by the element count and warns, as torch does.
    """
    log_target = V.flag(log_target, "log_target")
    reduction = V.reduction(reduction, ("none", "mean", "sum", "batchmean"))
    kernel = _KL_LOG if log_target else _KL
    grads = grad_options(return_grad, grad_output, gradient_out)
    if reduction == "mean":
        warnings.warn(
            "reduction: 'mean' divides the total loss by both the batch size and the support "
            "size.'batchmean' divides only by the batch size, and aligns with the KL div math "
            "definition.'mean' will be changed to behave the same as 'batchmean' in the next "
            "major release.",
            UserWarning,
            stacklevel=2,
        )
    if reduction != "none":
        fast = kernel.fast(input, target, "mean" if reduction == "batchmean" else reduction,
                           batch_mean=reduction == "batchmean", sample_weight=sample_weight, **grads)
        if fast is not None:
            return fast
    x = V.float_array(input, "input")
    t = V.float_like(target, x.dtype, "target")
    denominator = None
    if reduction == "batchmean":
        reduction, denominator = "mean", x.shape[0] if x.ndim else 1  # a 0-d input: one sample
    return kernel(
        {"input": x, "target": t}, x.dtype, reduction=reduction, denominator=denominator,
        sample_weight=sample_weight, user_inputs=(input, target), **grads,
    )


for _f in (binary_cross_entropy, binary_cross_entropy_with_logits, poisson_nll_loss, gaussian_nll_loss, kl_div):
    _f.__doc__ += SAMPLE_WEIGHT_DOC

BCELoss = loss_class("BCELoss", binary_cross_entropy, [("weight", None), ("reduction", "mean")])
BCEWithLogitsLoss = loss_class(
    "BCEWithLogitsLoss", binary_cross_entropy_with_logits,
    [("weight", None), ("reduction", "mean"), ("pos_weight", None)],
)
PoissonNLLLoss = loss_class(
    "PoissonNLLLoss", poisson_nll_loss,
    [("log_input", True), ("full", False), ("eps", 1e-8), ("reduction", "mean")],
)
GaussianNLLLoss = loss_class("GaussianNLLLoss", gaussian_nll_loss, [("full", False), ("eps", 1e-6), ("reduction", "mean")])
KLDivLoss = loss_class("KLDivLoss", kl_div, [("reduction", "mean"), ("log_target", False)])

__all__ = [
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "poisson_nll_loss",
    "gaussian_nll_loss", "kl_div",
    "BCELoss", "BCEWithLogitsLoss", "PoissonNLLLoss", "GaussianNLLLoss", "KLDivLoss",
]
