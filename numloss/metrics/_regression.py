"""Regression metrics: per-output weighted means of an element function (``column_sums``)."""
import math
import numbers

from functools import partial

import numpy as np

from .._kernels import _drivers
from .._kernels import elementwise as _elem
from .._kernels import metrics as _mk
from ._common import (
    _array_like,
    _check_dims,
    _consistent_length,
    _divide,
    _finite_bounds,
    _kernel,
    _numeric,
    _operand_checks,
    _ratio,
    _result,
    _weight_checks,
    _weights,
)

__all__ = [
    "mean_squared_error",
    "root_mean_squared_error",
    "mean_absolute_error",
    "mean_squared_log_error",
    "root_mean_squared_log_error",
    "mean_pinball_loss",
    "mean_tweedie_deviance",
    "mean_poisson_deviance",
    "mean_gamma_deviance",
]


def _regression_inputs(y_true, y_pred, sample_weight, multioutput, check_multioutput=True):
    """Validated (y_true, y_pred) as C-contiguous (n, k) arrays of one float dtype, the weights,
    the result dtype (scikit-learn's: the widest float among the arrays given, weights
    included, float64 if none) and
    the multioutput spec (a string, or a float64 array of k output weights). Without
    ``check_multioutput`` (root_mean_squared_error), output weights are only checked by the
    final weighted average, as scikit-learn does."""
    a = _array_like(y_true, "y_true")
    b = _array_like(y_pred, "y_pred")
    _consistent_length(y_true=a, y_pred=b,
                       sample_weight=None if sample_weight is None else _array_like(sample_weight, "sample_weight"))
    a = _numeric(a, "y_true")
    b = _numeric(b, "y_pred")
    _check_dims(a, "y_true")
    _check_dims(b, "y_pred")
    w = _weights(sample_weight, a.shape[0])
    a2 = a.reshape(a.shape[0], -1)
    b2 = b.reshape(b.shape[0], -1)
    if a2.shape[1] != b2.shape[1]:
        raise ValueError(f"y_true and y_pred have different number of output ({a2.shape[1]}!={b2.shape[1]})")
    k = a2.shape[1]
    if isinstance(multioutput, str):
        if multioutput not in ("raw_values", "uniform_average"):
            raise ValueError("multioutput must be 'raw_values', 'uniform_average' or an array-like of "
                             f"output weights, got {multioutput!r}")
    elif not check_multioutput:
        multioutput = _numeric(_array_like(multioutput, "multioutput"), "multioutput")
        if multioutput.shape != (k,):
            raise TypeError(f"multioutput: the shape of the output weights {multioutput.shape} differs from "
                            f"the number of outputs ({k})")
    else:
        mo = _numeric(_array_like(multioutput, "multioutput"), "multioutput")
        if not np.isfinite(mo).all():
            raise ValueError("Input multioutput contains NaN or infinity.")
        if k == 1:
            raise ValueError("multioutput: custom weights are useful only in multi-output cases.")
        if mo.shape[0] != k:
            raise ValueError(f"multioutput: there must be equally many custom weights ({mo.shape[0]}) "
                             f"as outputs ({k}).")
        multioutput = mo.astype(np.float64)
    # scikit-learn's dtype: the widest float among the arguments that have a dtype, the weights
    # included (float64 when none); every operand is converted to it
    floats = [np.dtype(x.dtype) for x in (y_true, y_pred, sample_weight)
              if hasattr(x, "dtype") and np.dtype(x.dtype).kind == "f"]
    dtype = out_dtype = np.result_type(*floats) if floats else np.dtype(np.float64)
    if dtype == np.float16:  # computed in float32, returned as float16 (scikit-learn's dtype)
        dtype = np.dtype(np.float32)
    a2 = np.ascontiguousarray(a2, dtype=dtype)
    b2 = np.ascontiguousarray(b2, dtype=dtype)
    return a2, b2, w, out_dtype, multioutput


def _column_means(elem, a, b, w, params=(0.0, 0.0, 0.0), bounds=None, domain_message=None):
    """Per-output weighted sums of ``elem(a, b)`` and the sum of the weights, after the checks
    (finite inputs and weights; a in [bounds[0], bounds[1]] and b in [bounds[2], bounds[3]],
    else ValueError(domain_message))."""
    n, k = a.shape
    weighted = w.size > 0
    kernel = _kernel(_drivers.column_sums, elem.__name__, ELEM=elem, NIN=2, WEIGHTED=weighted)
    nb = _drivers.n_row_blocks(n, k)
    partial = np.empty((nb, k + 1), np.float64)
    stats = np.empty((nb, _drivers.N_STATS), np.float64)
    if bounds is None:
        bounds = _finite_bounds(a.dtype) * 2
    kernel.sized(a.size, a.reshape(-1), b.reshape(-1), a.reshape(-1), w,
           np.asarray(params, a.dtype), np.asarray(bounds, np.float64), partial, stats)
    _operand_checks(stats, ((a, "y_true"), (b, "y_pred")), domain_message)
    _weight_checks(stats, w.size > 0)
    return partial.sum(axis=0)


def _outputs(out_dtype, multioutput, transform, totals, weight_sum):
    """scikit-learn's multioutput handling of the per-output means ``totals / weight_sum``."""
    raw = _divide(np.asarray(totals), weight_sum)
    if transform is not None:
        raw = transform(raw)
    if isinstance(multioutput, str):
        if multioutput == "raw_values":
            return raw.astype(out_dtype)
        return float(np.mean(raw))
    return float(np.average(raw, weights=multioutput))


def _regression(elem, y_true, y_pred, sample_weight, multioutput, params=(0.0, 0.0, 0.0),
                above_minus_one=None, transform=None, check_multioutput=True):
    """A regression metric; ``above_minus_one``: the metric's name when every value must be
    greater than -1 (the logarithmic errors)."""
    a, b, w, out_dtype, multioutput = _regression_inputs(y_true, y_pred, sample_weight, multioutput,
                                                         check_multioutput)
    bounds = message = None
    if above_minus_one is not None:
        lo = float(np.nextafter(a.dtype.type(-1), a.dtype.type(0)))
        bounds = (lo, _finite_bounds(a.dtype)[1]) * 2
        message = (f"{above_minus_one} cannot be used when targets (y_true, y_pred) contain values less than "
                   "or equal to -1.")
    sums = _column_means(elem, a, b, w, params, bounds, message)
    return _result(sums[:-1], sums[-1], len(a), partial(_outputs, out_dtype, multioutput, transform))


def mean_squared_error(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    r"""Mean squared error regression loss (scikit-learn's ``mean_squared_error``).

    .. math:: \mathrm{MSE}_j = \frac{\sum_i w_i (y_{ij} - \hat y_{ij})^2}{\sum_i w_i}

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Ground truth target values.
    y_pred : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Estimated target values.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights :math:`w_i` (1 when None).
    multioutput : {'raw_values', 'uniform_average'} or array-like of shape (n_outputs,), \
default='uniform_average'
        'raw_values': the per-output errors; 'uniform_average': their mean; an array: their
        average weighted by it.

    Returns
    -------
    loss : float or ndarray of floats
        An ndarray of shape (n_outputs,) for 'raw_values', else a Python float.
    """
    return _regression(_elem.mse, y_true, y_pred, sample_weight, multioutput)


def root_mean_squared_error(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    r"""Root mean squared error regression loss (scikit-learn's ``root_mean_squared_error``).

    .. math:: \mathrm{RMSE}_j = \sqrt{\frac{\sum_i w_i (y_{ij} - \hat y_{ij})^2}{\sum_i w_i}}

    The outputs' roots are averaged (not the root of the average). Parameters and return as
    :func:`mean_squared_error`.
    """
    return _regression(_elem.mse, y_true, y_pred, sample_weight, multioutput, transform=np.sqrt,
                       check_multioutput=False)


def mean_absolute_error(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    r"""Mean absolute error regression loss (scikit-learn's ``mean_absolute_error``).

    .. math:: \mathrm{MAE}_j = \frac{\sum_i w_i |y_{ij} - \hat y_{ij}|}{\sum_i w_i}

    Parameters and return as :func:`mean_squared_error`.
    """
    return _regression(_elem.l1, y_true, y_pred, sample_weight, multioutput)


def mean_squared_log_error(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    r"""Mean squared logarithmic error regression loss (scikit-learn's
    ``mean_squared_log_error``).

    .. math:: \mathrm{MSLE}_j = \frac{\sum_i w_i (\log(1 + y_{ij}) - \log(1 + \hat y_{ij}))^2}
              {\sum_i w_i}

    Every value of ``y_true`` and ``y_pred`` must be greater than -1 (else ValueError).
    Parameters and return as :func:`mean_squared_error`.
    """
    return _regression(_mk.squared_log_error, y_true, y_pred, sample_weight, multioutput,
                       above_minus_one="Mean Squared Logarithmic Error")


def root_mean_squared_log_error(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    r"""Root mean squared logarithmic error regression loss (scikit-learn's
    ``root_mean_squared_log_error``).

    .. math:: \mathrm{RMSLE}_j = \sqrt{\frac{\sum_i w_i (\log(1 + y_{ij}) -
              \log(1 + \hat y_{ij}))^2}{\sum_i w_i}}

    Every value must be greater than -1 (else ValueError). Parameters and return as
    :func:`mean_squared_error`.
    """
    return _regression(_mk.squared_log_error, y_true, y_pred, sample_weight, multioutput, transform=np.sqrt,
                       above_minus_one="Root Mean Squared Logarithmic Error")


def mean_pinball_loss(y_true, y_pred, *, sample_weight=None, alpha=0.5, multioutput="uniform_average"):
    r"""Pinball loss for quantile regression (scikit-learn's ``mean_pinball_loss``).

    .. math:: L_j = \frac{\sum_i w_i \left(\alpha \max(y_{ij} - \hat y_{ij}, 0) +
              (1 - \alpha) \max(\hat y_{ij} - y_{ij}, 0)\right)}{\sum_i w_i}

    Parameters
    ----------
    alpha : float in [0, 1], default=0.5
        The slope: 0.5 gives half the mean absolute error; 0.95 is minimised by the 95th
        percentile.

    Other parameters and the return as :func:`mean_squared_error`.
    """
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"alpha must be a real number in [0, 1], got {alpha!r}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    return _regression(_mk.pinball, y_true, y_pred, sample_weight, multioutput, params=(alpha, 0.0, 0.0))


def mean_tweedie_deviance(y_true, y_pred, *, sample_weight=None, power=0):
    r"""Mean Tweedie deviance regression loss (scikit-learn's ``mean_tweedie_deviance``).

    .. math:: D = \frac{\sum_i w_i d_p(y_i, \hat y_i)}{\sum_i w_i}, \quad
              d_p(y, \hat y) = 2\left(\frac{\max(y, 0)^{2-p}}{(1-p)(2-p)}
              - \frac{y \hat y^{1-p}}{1-p} + \frac{\hat y^{2-p}}{2-p}\right)

    with the limits :math:`d_0 = (y - \hat y)^2`, :math:`d_1 = 2(y \log(y / \hat y) - y + \hat y)`
    (Poisson) and :math:`d_2 = 2(\log(\hat y / y) + y / \hat y - 1)` (Gamma).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        Single-output targets and predictions.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.
    power : float, default=0
        ``power <= 0`` or ``power >= 1``. power < 0 needs y_pred > 0; 1 <= power < 2 needs
        y_true >= 0 and y_pred > 0; power >= 2 needs both > 0 (ValueError otherwise).

    Returns
    -------
    loss : float
    """
    if isinstance(power, bool) or not isinstance(power, numbers.Real):
        raise TypeError(f"power must be a real number, got {power!r}")
    if 0 < power < 1 or math.isnan(power):
        raise ValueError(f"power must be <= 0 or >= 1, got {power!r}")
    a, b, w, _, _ = _regression_inputs(y_true, y_pred, sample_weight, "uniform_average")
    if a.shape[1] != 1:
        raise ValueError("Multioutput not supported in mean_tweedie_deviance (y_true, y_pred)")
    if power == 0:
        elem = _elem.mse
    elif power == 1:
        elem = _mk.poisson_deviance
    elif power == 2:
        elem = _mk.gamma_deviance
    else:
        elem = _mk.tweedie_deviance
    message = f"Mean Tweedie deviance error with power={power} can only be used on "
    dt = a.dtype.type
    big = _finite_bounds(a.dtype)[1]
    positive = float(np.nextafter(dt(0), dt(1)))
    if power < 0:
        bounds, message = (-big, big, positive, big), message + "strictly positive y_pred."
    elif power == 0:
        bounds = None
    elif power < 2:
        bounds, message = (0.0, big, positive, big), message + "non-negative y and strictly positive y_pred."
    else:
        bounds, message = (positive, big, positive, big), message + "strictly positive y and y_pred."
    sums = _column_means(elem, a, b, w, (1.0 - power, 2.0 - power, 0.0), bounds, message)
    return _result(sums[0], sums[1], len(a))


def mean_poisson_deviance(y_true, y_pred, *, sample_weight=None):
    r"""Mean Poisson deviance regression loss: :func:`mean_tweedie_deviance` with power=1,

    .. math:: D = \frac{\sum_i w_i \, 2(y_i \log(y_i / \hat y_i) - y_i + \hat y_i)}{\sum_i w_i}

    (:math:`0 \log 0 = 0`); y_true >= 0 and y_pred > 0.
    """
    return mean_tweedie_deviance(y_true, y_pred, sample_weight=sample_weight, power=1)


def mean_gamma_deviance(y_true, y_pred, *, sample_weight=None):
    r"""Mean Gamma deviance regression loss: :func:`mean_tweedie_deviance` with power=2,

    .. math:: D = \frac{\sum_i w_i \, 2(\log(\hat y_i / y_i) + y_i / \hat y_i - 1)}{\sum_i w_i}

    y_true > 0 and y_pred > 0.
    """
    return mean_tweedie_deviance(y_true, y_pred, sample_weight=sample_weight, power=2)
