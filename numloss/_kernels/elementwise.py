"""Per-element math of the elementwise losses, each written once.

Every function has the signature ``(x, y, c, p0, p1, p2) -> (loss, d1, d2)``: ``x`` the first
differentiable input, ``y`` the target (or second input), ``c`` a third per-element operand where
the loss has one, ``p0..p2`` scalar options in the array's dtype. ``d1`` is d(loss)/dx; ``d2`` is
the derivative for the loss's second differentiable operand (0 where there is none). They are
driven by ``_drivers.elementwise``; constants go through ``like`` so float32 stays float32.

Gradient choices at kinks follow torch 2.13's autograd (checked in the tests): ``sign(0) = 0``,
``clamp_min`` passes the gradient at the boundary, NaN in a sign gives 0.
"""
import math

import numpy as np
from numba import njit

from ._math import vexp, vlog, vlog1p, vlog1p_finite, vlog_finite, vlog_normal, vsigmoid, vsoftplus
from ._compile import compute_bound
from ._scalar import like

inline = njit(inline="always", error_model="numpy")


@inline
def sign(e):
    """torch.sign: -1, 0 or 1; 0 for 0 and NaN."""
    one = like(e, 1)
    zero = like(e, 0)
    return (one if e > zero else zero) - (one if e < zero else zero)


@inline
def l1(x, y, c, p0, p1, p2):
    e = x - y
    return abs(e), sign(e), like(x, 0)


@inline
def mse(x, y, c, p0, p1, p2):
    e = x - y
    return e * e, like(x, 2) * e, like(x, 0)


@inline
def clamp(e, bound):
    """e limited to [-bound, bound]; NaN stays NaN."""
    e = bound if e > bound else e
    return -bound if e < -bound else e


@inline
def huber(x, y, c, delta, p1, p2):
    """Branch-free: with q = min(|e|, delta), loss = q^2 / 2 + delta (|e| - q); the linear term is
    0 (not inf * 0) inside the quadratic zone, so delta = inf is 0.5 e^2 as in torch."""
    e = x - y
    a = abs(e)
    q = a if a < delta else delta
    lin = a - q
    return like(x, 0.5) * q * q + (delta * lin if lin != like(x, 0) else lin), clamp(e, delta), like(x, 0)


@inline
def smooth_l1(x, y, c, beta, p1, p2):
    """Huber divided by beta (beta > 0; beta == 0 is run as the L1 loss, as torch does)."""
    e = x - y
    a = abs(e)
    q = a if a < beta else beta
    return like(x, 0.5) * q * q / beta + (a - q), clamp(e, beta) / beta, like(x, 0)


@compute_bound
@inline
def soft_margin(x, y, c, p0, p1, p2):
    """log(1 + exp(-y x)); d/dx = -y sigmoid(-y x).

    Where -y x is +inf, torch's gradient is NaN (its exp(z) / (1 + exp(z)) is inf / inf) and so
    is this one. For finite -y x where that exp overflows torch also gives NaN; here the
    gradient is the correct -y.
    """
    z = -y * x
    grad = -y * vsigmoid(z)
    if z == np.inf:
        grad = z - z  # NaN, as torch
    return vsoftplus(z), grad, like(x, 0)


@compute_bound
@inline
def binary_cross_entropy(x, t, c, p0, p1, p2):
    """-(t log x + (1 - t) log(1 - x)) with each log clamped at -100 and the gradient's
    denominator clamped at torch's EPSILON (float32(1e-12)), as in torch.

    For ``x`` in [0, 1], 1 - x is 0 or a normal number whose log is above -100, so the logs
    need no special-value handling beyond the two zeros. (The loss refuses any other ``x``:
    what this returns for one is discarded.)"""
    one = like(x, 1)
    zero = like(x, 0)
    lo = like(x, -100)
    log_x = max(vlog_finite(x), lo) if x > zero else lo
    log_1mx = vlog_normal(one - x) if x < one else lo
    loss = -(t * log_x + (one - t) * log_1mx)
    grad = (x - t) / max((one - x) * x, like(x, 9.999999960041972e-13))
    return loss, grad, like(x, 0)


@compute_bound
@inline
def bce_with_logits(x, t, pos_weight, p0, p1, p2):
    """(1 - t) x + (1 + (pw - 1) t) softplus(-x); d/dx = sigmoid(x) (1 + (pw - 1) t) - pw t."""
    one = like(x, 1)
    lw = one + (pos_weight - one) * t
    loss = (one - t) * x + lw * vsoftplus(-x)
    return loss, vsigmoid(x) * lw - pos_weight * t, like(x, 0)


@inline
def poisson_nll_log(x, t, c, p0, p1, p2):
    """exp(x) - t x; d/dx = exp(x) - t."""
    ex = vexp(x)
    return ex - t * x, ex - t, like(x, 0)


@inline
def poisson_nll(x, t, c, eps, p1, p2):
    """x - t log(x + eps); d/dx = 1 - t / (x + eps)."""
    xe = x + eps
    return x - t * vlog(xe), like(x, 1) - t / xe, like(x, 0)


# ``full=True`` adds the Stirling term. It is a function of its own, not a run-time flag: LLVM
# turns such a branch into a select and would then evaluate the term's two logs for every element.
@inline
def poisson_nll_log_full(x, t, c, p0, p1, p2):
    loss, d1, d2 = poisson_nll_log(x, t, c, p0, p1, p2)
    return loss + stirling(t), d1, d2


@inline
def poisson_nll_full(x, t, c, eps, p1, p2):
    loss, d1, d2 = poisson_nll(x, t, c, eps, p1, p2)
    return loss + stirling(t), d1, d2


@inline
def stirling(t):
    """t log t - t + log(2 pi t) / 2, masked to 0 where t <= 1 (torch's ``full=True`` term)."""
    if t <= like(t, 1):
        return like(t, 0)
    return t * vlog(t) - t + like(t, 0.5) * vlog(like(t, 2 * math.pi) * t)


@inline
def gaussian_nll(x, y, var, eps, const, p2):
    """(log v + (x - y)^2 / v) / 2 + const with v = max(var, eps); the gradient passes the
    clamp unchanged (torch clamps under no_grad): d/dvar = (1/v - (x - y)^2 / v^2) / 2."""
    v = max(var, eps)
    e = x - y
    e2 = e * e  # written as torch does, so that overflow gives torch's inf / NaN
    half = like(x, 0.5)
    return half * (vlog(v) + e2 / v) + const, e / v, half * (like(x, 1) / v - e2 / (v * v))


@inline
def kl_div(x, t, c, p0, p1, p2):
    """xlogy(t, t) - t x (0 log 0 = 0); d/dx = -t."""
    zero = like(x, 0)
    xlogy = zero if t == zero else t * vlog(t)
    return xlogy - t * x, -t, zero


@inline
def kl_div_log_target(x, t, c, p0, p1, p2):
    """exp(t) (t - x); d/dx = -exp(t)."""
    et = vexp(t)
    return et * (t - x), -et, like(x, 0)


@inline
def hinge_embedding(x, t, c, margin, p1, p2):
    """torch's definition: max(0, margin - x) where t != 1, plus x where t != -1."""
    zero = like(x, 0)
    one = like(x, 1)
    m = margin - x
    loss = zero
    grad = zero
    if t != one:
        loss += max(m, zero) if m == m else m
        grad -= one if m >= zero else zero
    if t != -one:
        loss += x
        grad += one
    return loss, grad, zero


@inline
def margin_ranking(x1, x2, t, margin, p1, p2):
    """max(0, -t (x1 - x2) + margin); d/dx1 = -t where the argument >= 0, d/dx2 = -d/dx1."""
    zero = like(x1, 0)
    z = -t * (x1 - x2) + margin
    if z >= zero:
        return z, -t, t
    # torch's gradient is 0 * (-t): NaN where t is NaN or infinite
    return (z if z != z else zero), zero * -t, zero * t


@inline
def hinge(x, t, c, margin, p1, p2):
    """SVM hinge: max(0, margin - t x); d/dx = -t where the argument >= 0 (as torch's clamp)."""
    zero = like(x, 0)
    z = margin - t * x
    if z >= zero:
        return z, -t, zero
    return (z if z != z else zero), zero, zero


@compute_bound
@inline
def msle(x, y, c, p0, p1, p2):
    """(log1p(x) - log1p(y))^2; d/dx = 2 (log1p(x) - log1p(y)) / (1 + x)."""
    e = vlog1p(x) - vlog1p(y)
    return e * e, like(x, 2) * e / (like(x, 1) + x), like(x, 0)


@compute_bound
@inline
def bce_with_logits_no_pos_weight(x, t, c, p0, p1, p2):
    """bce_with_logits with pos_weight 1, written without the (pw - 1) t term, whose 0 * inf
    would make an infinite target NaN (torch: -+inf)."""
    one = like(x, 1)
    return (one - t) * x + vsoftplus(-x), vsigmoid(x) - t, like(x, 0)


@inline
def gaussian_nll_const_var(x, y, c, eps, const, var):
    """gaussian_nll with one variance for every element, passed as an option."""
    return gaussian_nll(x, y, var, eps, const, var)
