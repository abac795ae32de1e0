"""Per-element and per-row math of ``numloss.metrics``, written as scikit-learn 1.9.1 computes
it (same operations in the same dtype) so that float32 inputs give its float32 numbers.

Element functions have the ``(x, y, c, p0, p1, p2) -> (loss, d1, d2)`` form of
``elementwise.py`` (the metrics use only ``loss``; d1 and d2 are 0) and are driven by
``_drivers.column_sums`` with ``x = y_true``, ``y = y_pred``, or by ``_drivers.binary_labels``
with ``x`` the prediction and ``y`` the 0/1 target. Row functions ``(row, t, p0, p1, p2) ->
loss`` are driven by ``_drivers.indexed_rows``.
"""
import numpy as np
from numba import njit

from ._math import vexp, vlog, vlog1p_finite, vlog_normal
from ._scalar import like

inline = njit(inline="always", error_model="numpy")


@inline
def pinball(y, f, c, alpha, p1, p2):
    """alpha (y - f) where y >= f, else (alpha - 1) (y - f)."""
    zero = like(y, 0)
    diff = y - f
    if diff >= zero:
        return alpha * diff, zero, zero
    return -(like(y, 1) - alpha) * diff, zero, zero


@inline
def squared_log_error(y, f, c, p0, p1, p2):
    """(log1p(y) - log1p(f))^2 for finite y, f > -1: the only values the metric accepts (it
    counts the others in the same pass and raises)."""
    e = vlog1p_finite(y) - vlog1p_finite(f)
    zero = like(y, 0)
    return e * e, zero, zero


@inline
def xlogy(a, b):
    """a log(b), 0 where a == 0 (scikit-learn's _xlogy)."""
    zero = like(a, 0)
    v = a * vlog(b)  # computed first, so that the choice below is a select and the loop vectorises
    return zero if a == zero else v


@inline
def poisson_deviance(y, f, c, p0, p1, p2):
    """2 (y log(y / f) - y + f)."""
    zero = like(y, 0)
    return like(y, 2) * (xlogy(y, y / f) - y + f), zero, zero


@inline
def gamma_deviance(y, f, c, p0, p1, p2):
    """2 (log(f / y) + y / f - 1)."""
    zero = like(y, 0)
    return like(y, 2) * (vlog(f / y) + y / f - like(y, 1)), zero, zero


@inline
def power(x, a):
    """x ** a for x >= 0 (0 ** a = 0 for a > 0)."""
    return vexp(a * vlog(x))


@inline
def tweedie_deviance(y, f, c, q1, q2, p2):
    """2 (max(y, 0)^q2 / (q1 q2) - y f^q1 / q1 + f^q2 / q2), q1 = 1 - p and q2 = 2 - p, for p < 0
    or p > 1 (p = 0, 1, 2 use mse, poisson_deviance, gamma_deviance); computed in the inputs'
    dtype as scikit-learn does, with x^q2 = x x^q1 so that two powers serve the three terms."""
    zero = like(y, 0)
    yp = max(y, zero)
    f1 = power(f, q1)
    y2 = yp * power(yp, q1)
    y2 = y2 if yp > zero else zero  # 0^q2 = 0 where 0 * 0^q1 is NaN; a select, not a branch
    return like(y, 2) * (y2 / (q1 * q2) - y * f1 / q1 + f * f1 / q2), zero, zero


@inline
def clip(v, lo, hi):
    return min(max(v, lo), hi)


@inline
def binary_log_loss(p, t, c, eps, p1, p2):
    """-log(clip(p, eps, 1 - eps)) where t == 1, -log(clip(1 - p, eps, 1 - eps)) where t == 0."""
    one = like(p, 1)
    q = p if t == one else one - p
    zero = like(p, 0)
    # clip's result is a normal positive number for every p in [0, 1], the only p not rejected
    return -vlog_normal(clip(q, eps, one - eps)), zero, zero


@inline
def binary_brier(p, t, c, p0, p1, p2):
    """((1 - t) - (1 - p))^2 + (t - p)^2: the two columns of scikit-learn's one-hot form."""
    one = like(p, 1)
    a = (one - t) - (one - p)
    b = t - p
    zero = like(p, 0)
    return a * a + b * b, zero, zero


@inline
def binary_hinge(d, t, c, p0, p1, p2):
    """max(0, 1 - s d) with s = +1 where t == 1, -1 where t == 0."""
    one = like(d, 1)
    zero = like(d, 0)
    loss = one - (d if t == one else -d)
    return max(loss, zero), zero, zero


@inline
def row_log_loss(row, t, eps, p1, p2):
    """-log(clip(row[t], eps, 1 - eps)): the only nonzero term of -sum(xlogy(onehot, clip(row)))."""
    one = like(eps, 1)
    return -vlog_normal(clip(row[t], eps, one - eps))  # as in binary_log_loss


@inline
def row_hinge(row, t, p0, p1, p2):
    """max(0, 1 - (row[t] - max over j != t of row[j]))."""
    m = like(p0, -np.inf)
    for j in range(row.size):
        v = row[j]
        if j != t and v > m:
            m = v
    return max(like(p0, 1) - (row[t] - m), like(p0, 0))


@inline
def row_brier(row, t, p0, p1, p2):
    """sum over j of (onehot(t)[j] - row[j])^2."""
    one = like(p0, 1)
    acc = 0.0
    for j in range(row.size):
        e = (one if j == t else like(p0, 0)) - row[j]
        acc += e * e
    return like(p0, acc)
