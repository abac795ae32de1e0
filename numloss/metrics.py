"""scikit-learn's metrics that are sums over samples, with its names, signatures, defaults,
return types and numbers (scikit-learn 1.9.1), computed by fused, parallel Numba kernels.

Every function takes ``y_true, y_pred`` (``y_proba`` / ``pred_decision`` for the classification
metrics, as scikit-learn names them) and keyword-only options. Sums are accumulated in float64
per block of samples, so a result has the same bits for any thread count; float32 inputs are
read as float32, and the per-sample terms are computed in the dtype scikit-learn computes them
in. Where scikit-learn raises, the same built-in exception class is raised (its
``InvalidParameterError`` is a ValueError and a TypeError: numloss raises ValueError for a bad
value, TypeError for a bad type), with a message naming the argument. The validity checks
(finite values, probabilities in [0, 1], the domain of a deviance) are made in the same pass as
the sum.

This module never imports scikit-learn.
"""
import math
import numbers
import warnings

import numpy as np

from . import _threads
from ._kernels import _drivers
from ._kernels import elementwise as _elem
from ._kernels import metrics as _mk
from ._kernels._compile import Kernel

__all__ = [
    "mean_squared_error",
    "root_mean_squared_error",
    "mean_absolute_error",
    "mean_squared_log_error",
    "root_mean_squared_log_error",
    "mean_poisson_deviance",
    "mean_gamma_deviance",
    "mean_tweedie_deviance",
    "mean_pinball_loss",
    "log_loss",
    "hinge_loss",
    "brier_score_loss",
]

_KERNELS = {}
_EMPTY_W = np.empty(0, np.float64)
# Integer labels beyond this are compared exactly only after encoding (the kernels compare
# labels as float64).
_EXACT_INT = 2**53


def _kernel(template, name, **consts):
    key = (template.__name__, name)
    kernel = _KERNELS.get(key)
    if kernel is None:
        kernel = _KERNELS[key] = Kernel(template, name + "_metric", **consts)
    return kernel


# ---------------------------------------------------------------------------------------------
# Argument checks shared by the metrics
# ---------------------------------------------------------------------------------------------


def _array_like(x, name):
    """``x`` as an ndarray of at least one dimension (scikit-learn's "array-like")."""
    if x is None or isinstance(x, (str, bytes, numbers.Number)):
        raise ValueError(f"{name} must be an array-like, got {x!r}")
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged nested lists
        raise ValueError(f"{name} must be an array-like: {exc}") from None
    if arr.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension, got a scalar array")
    return arr


def _numeric(arr, name):
    """A float32/float64 array for a numeric input: integers and bools become float64."""
    kind = arr.dtype.kind
    if kind == "c":
        raise ValueError(f"{name}: complex data not supported")
    if kind == "f":
        return arr.astype(np.float32) if arr.dtype == np.float16 else arr
    if kind in "iub":
        return arr.astype(np.float64)
    try:
        return arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from None


def _check_dims(arr, name, max_dim=2):
    if arr.ndim > max_dim:
        raise ValueError(f"{name}: found array with dim {arr.ndim}, while dim <= {max_dim} is required")
    if arr.shape[0] == 0:
        raise ValueError(f"{name}: found array with 0 sample(s) (shape={arr.shape}) while a minimum of 1 is required")
    if arr.ndim == 2 and arr.shape[1] == 0:
        raise ValueError(f"{name}: found array with 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required")


def _consistent_length(**arrays):
    lengths = {k: len(v) for k, v in arrays.items() if v is not None}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"Found input variables with inconsistent numbers of samples: {lengths}")


def _weights(sample_weight, n):
    """The validated 1-D float32/float64 weights, or the empty placeholder for None."""
    if sample_weight is None:
        return _EMPTY_W
    w = _numeric(_array_like(sample_weight, "sample_weight"), "sample_weight")
    if w.ndim != 1:
        raise ValueError(f"sample_weight must be a 1D array or scalar, got {w.ndim}D array; "
                         f"expected a 1D array of length {n}")
    if w.shape != (n,):
        raise ValueError(f"sample_weight.shape == {w.shape}, expected {(n,)}")
    return np.ascontiguousarray(w)


def _check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {value!r}")


def _stats_checks(stats, names, weighted, check_zero_weights=True):
    """Raise, in scikit-learn's order, for non-finite operands and invalid weights, from the
    kernels' per-block statistics. ``names``: the names of the "a" and "b" operands (None:
    not checked)."""
    for col, name in zip((4, 5), names):
        if name is not None and stats[:, col].any():
            raise ValueError(f"Input {name} contains NaN or infinity.")
    if weighted:
        if stats[:, 6].any():
            raise ValueError("Input sample_weight contains NaN or infinity.")
        if check_zero_weights and not stats[:, 7].any():
            raise ValueError("sample_weight must contain at least one non-zero number.")


def _divide(total, weight_sum):
    if weight_sum == 0:
        raise ZeroDivisionError("Weights sum to zero, can't be normalized (sample_weight)")
    return total / weight_sum


# ---------------------------------------------------------------------------------------------
# Regression metrics: per-output weighted means of an element function (column_sums)
# ---------------------------------------------------------------------------------------------


def _regression_inputs(y_true, y_pred, sample_weight, multioutput):
    """Validated (y_true, y_pred) as C-contiguous (n, k) arrays of one float dtype, the weights,
    the result dtype (scikit-learn's: the widest float among the inputs, float64 if none) and
    the multioutput spec (a string, or a float64 array of k output weights)."""
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
    floats = [x.dtype for x in (np.asarray(y_true), np.asarray(y_pred)) if x.dtype.kind == "f"]
    dtype = np.result_type(*floats) if floats else np.dtype(np.float64)
    if dtype == np.float16:
        dtype = np.dtype(np.float32)
    ws = np.asarray(sample_weight).dtype if sample_weight is not None else None
    out_dtype = np.result_type(dtype, ws) if ws is not None and ws.kind == "f" else dtype
    a2 = np.ascontiguousarray(a2, dtype=dtype)
    b2 = np.ascontiguousarray(b2, dtype=dtype)
    return a2, b2, w, out_dtype, multioutput


def _column_means(elem, a, b, w, params=(0.0, 0.0, 0.0)):
    """Per-output weighted means of ``elem(a, b)`` and the block statistics."""
    n, k = a.shape
    kernel = _kernel(_drivers.column_sums, elem.__name__, ELEM=elem, NIN=2)
    nb = _drivers.n_blocks(n)
    partial = np.empty((nb, k + 1), np.float64)
    stats = np.empty((nb, _drivers.N_STATS), np.float64)
    kernel(_threads.threads_for(a.size), a.reshape(-1), b.reshape(-1), a.reshape(-1), w,
           np.asarray(params, a.dtype), partial, stats)
    sums = partial.sum(axis=0)
    _stats_checks(stats, ("y_true", "y_pred"), w.size > 0)
    return sums, stats


def _outputs(sums, out_dtype, multioutput, transform=None):
    """scikit-learn's multioutput handling of the per-output means ``sums[:k] / sums[k]``."""
    raw = _divide(sums[:-1], sums[-1])
    if transform is not None:
        raw = transform(raw)
    if isinstance(multioutput, str):
        if multioutput == "raw_values":
            return raw.astype(out_dtype)
        return float(np.mean(raw))
    return float(np.average(raw, weights=multioutput))


def _regression(elem, y_true, y_pred, sample_weight, multioutput, params=(0.0, 0.0, 0.0),
                domain=None, transform=None):
    a, b, w, out_dtype, multioutput = _regression_inputs(y_true, y_pred, sample_weight, multioutput)
    sums, stats = _column_means(elem, a, b, w, params)
    if domain is not None:
        domain(stats)
    return _outputs(sums, out_dtype, multioutput, transform)


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
    return _regression(_elem.mse, y_true, y_pred, sample_weight, multioutput, transform=np.sqrt)


def mean_absolute_error(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    r"""Mean absolute error regression loss (scikit-learn's ``mean_absolute_error``).

    .. math:: \mathrm{MAE}_j = \frac{\sum_i w_i |y_{ij} - \hat y_{ij}|}{\sum_i w_i}

    Parameters and return as :func:`mean_squared_error`.
    """
    return _regression(_elem.l1, y_true, y_pred, sample_weight, multioutput)


def _greater_than_minus_one(what):
    def check(stats):
        if stats[:, 0].min() <= -1 or stats[:, 2].min() <= -1:
            raise ValueError(f"{what} cannot be used when targets (y_true, y_pred) contain values "
                             "less than or equal to -1.")
    return check


def mean_squared_log_error(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    r"""Mean squared logarithmic error regression loss (scikit-learn's
    ``mean_squared_log_error``).

    .. math:: \mathrm{MSLE}_j = \frac{\sum_i w_i (\log(1 + y_{ij}) - \log(1 + \hat y_{ij}))^2}
              {\sum_i w_i}

    Every value of ``y_true`` and ``y_pred`` must be greater than -1 (else ValueError).
    Parameters and return as :func:`mean_squared_error`.
    """
    return _regression(_elem.msle, y_true, y_pred, sample_weight, multioutput,
                       domain=_greater_than_minus_one("Mean Squared Logarithmic Error"))


def root_mean_squared_log_error(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    r"""Root mean squared logarithmic error regression loss (scikit-learn's
    ``root_mean_squared_log_error``).

    .. math:: \mathrm{RMSLE}_j = \sqrt{\frac{\sum_i w_i (\log(1 + y_{ij}) -
              \log(1 + \hat y_{ij}))^2}{\sum_i w_i}}

    Every value must be greater than -1 (else ValueError). Parameters and return as
    :func:`mean_squared_error`.
    """
    return _regression(_elem.msle, y_true, y_pred, sample_weight, multioutput, transform=np.sqrt,
                       domain=_greater_than_minus_one("Root Mean Squared Logarithmic Error"))


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
    sums, stats = _column_means(elem, a, b, w, (power, 0.0, 0.0))
    message = f"Mean Tweedie deviance error with power={power} can only be used on "
    y_min, f_min = stats[:, 0].min(), stats[:, 2].min()
    if power < 0 and f_min <= 0:
        raise ValueError(message + "strictly positive y_pred.")
    if 1 <= power < 2 and (y_min < 0 or f_min <= 0):
        raise ValueError(message + "non-negative y and strictly positive y_pred.")
    if power >= 2 and (y_min <= 0 or f_min <= 0):
        raise ValueError(message + "strictly positive y and y_pred.")
    return float(_divide(sums[0], sums[1]))


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
