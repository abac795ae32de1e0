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


def _finite_bounds(dtype):
    big = float(np.finfo(dtype).max)
    return (-big, big)


def _operand_checks(stats, operands, domain_message=None):
    """Raise, in scikit-learn's order, when a kernel counted operand values outside their
    bounds: a non-finite value first, else the domain error. ``operands``: (array, name) of the
    kernel's "a" and "b" operands."""
    if stats[:, 0].any() or stats[:, 1].any():
        for arr, name in operands:
            if arr is not None and not np.isfinite(arr).all():
                raise ValueError(f"Input {name} contains NaN or infinity.")
        raise ValueError(domain_message)


def _weight_checks(stats, weighted, check_zero_weights=True):
    if weighted:
        if stats[:, 2].any():
            raise ValueError("Input sample_weight contains NaN or infinity.")
        if check_zero_weights and not stats[:, 3].any():
            raise ValueError("sample_weight must contain at least one non-zero number.")


def _divide(total, weight_sum):
    if weight_sum == 0:
        raise ZeroDivisionError("Weights sum to zero, can't be normalized (sample_weight)")
    return total / weight_sum


# ---------------------------------------------------------------------------------------------
# Regression metrics: per-output weighted means of an element function (column_sums)
# ---------------------------------------------------------------------------------------------


def _regression_inputs(y_true, y_pred, sample_weight, multioutput, check_multioutput=True):
    """Validated (y_true, y_pred) as C-contiguous (n, k) arrays of one float dtype, the weights,
    the result dtype (scikit-learn's: the widest float among the inputs, float64 if none) and
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
    floats = [x.dtype for x in (np.asarray(y_true), np.asarray(y_pred)) if x.dtype.kind == "f"]
    dtype = np.result_type(*floats) if floats else np.dtype(np.float64)
    ws = np.asarray(sample_weight).dtype if sample_weight is not None else None
    out_dtype = np.result_type(dtype, ws) if ws is not None and ws.kind == "f" else dtype
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
    kernel = _kernel(_drivers.column_sums, elem.__name__, ELEM=elem, NIN=2)
    nb = _drivers.n_row_blocks(n, k)
    partial = np.empty((nb, k + 1), np.float64)
    stats = np.empty((nb, _drivers.N_STATS), np.float64)
    if bounds is None:
        bounds = _finite_bounds(a.dtype) * 2
    kernel(_threads.threads_for(a.size), a.reshape(-1), b.reshape(-1), a.reshape(-1), w,
           np.asarray(params, a.dtype), np.asarray(bounds, np.float64), partial, stats)
    _operand_checks(stats, ((a, "y_true"), (b, "y_pred")), domain_message)
    _weight_checks(stats, w.size > 0)
    return partial.sum(axis=0)


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
    return _regression(_elem.msle, y_true, y_pred, sample_weight, multioutput,
                       above_minus_one="Mean Squared Logarithmic Error")


def root_mean_squared_log_error(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    r"""Root mean squared logarithmic error regression loss (scikit-learn's
    ``root_mean_squared_log_error``).

    .. math:: \mathrm{RMSLE}_j = \sqrt{\frac{\sum_i w_i (\log(1 + y_{ij}) -
              \log(1 + \hat y_{ij}))^2}{\sum_i w_i}}

    Every value must be greater than -1 (else ValueError). Parameters and return as
    :func:`mean_squared_error`.
    """
    return _regression(_elem.msle, y_true, y_pred, sample_weight, multioutput, transform=np.sqrt,
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
    sums = _column_means(elem, a, b, w, (power, 0.0, 0.0), bounds, message)
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


# ---------------------------------------------------------------------------------------------
# Classification metrics: labels, the binary kernel (binary_labels) and the row kernel
# (indexed_rows)
# ---------------------------------------------------------------------------------------------


def _labels_1d(y_true, name="y_true"):
    y = _array_like(y_true, name)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of labels, got shape {y.shape}")
    return y


def _comparable(y):
    """``y`` as labels the binary kernel compares directly (bools and integers as integers,
    floats through their bits), or None when they must be encoded first (strings, objects,
    uint64)."""
    kind = y.dtype.kind
    if kind == "b":
        return np.ascontiguousarray(y).view(np.uint8)
    if kind in "iu" and y.dtype != np.uint64 or y.dtype in (np.float32, np.float64):
        return np.ascontiguousarray(y)
    if y.dtype == np.float16:
        return y.astype(np.float32)
    return None


_SIGN_MASK = np.int64(0x7FFFFFFFFFFFFFFF)


class _BinaryPass:
    """One ``binary_labels`` pass of ``elem`` over predictions ``x`` and labels ``y`` (from
    :func:`_comparable`, or int64 codes), with the positive label ``pos`` when known: the
    sums, the label values found and the counts of x outside ``bounds``."""

    def __init__(self, elem, x, y, w, params, bounds, pos=None):
        self.y = y
        self.float_keys = y.dtype.kind == "f"
        keys = y.view(np.int32 if y.dtype.itemsize == 4 else np.int64) if self.float_keys else y
        pos_key = None if pos is None else self.key(pos)
        if pos is not None and pos_key is None:
            raise _NotALabel
        nb = _drivers.n_blocks(x.size)
        self.partial = np.empty((nb, 3), np.float64)
        self.labels = np.empty((nb, 3), np.int64)
        self.stats = np.empty((nb, _drivers.N_STATS), np.float64)
        kernel = _kernel(_drivers.binary_labels, elem.__name__ + ("_fkeys" if self.float_keys else ""),
                         ELEM=elem, FLOAT_KEYS=self.float_keys)
        kernel(_threads.threads_for(x.size), x, keys, w, np.asarray(params, np.float64), pos is not None,
               np.int64(0 if pos_key is None else pos_key), np.asarray(bounds, np.float64), self.partial,
               self.labels, self.stats)
        self.known = pos is not None

    def key(self, value):
        """The kernel's key of a label value, or None when no label of y's dtype equals it."""
        if isinstance(value, (str, bytes)) or not isinstance(value, (numbers.Real, np.bool_)):
            return None
        if self.float_keys:
            v = np.asarray(value, self.y.dtype)
            if float(v) != value:
                return None
            bits = np.int64(v.view(np.int32 if self.y.dtype.itemsize == 4 else np.int64))
            return int(bits ^ ((bits >> np.int64(63)) & _SIGN_MASK))
        if float(value) != int(value):
            return None
        return int(value)

    def value(self, key):
        if not self.float_keys:
            return key
        bits = np.int64(key) ^ ((np.int64(key) >> np.int64(63)) & _SIGN_MASK)
        return (np.int32(bits) if self.y.dtype.itemsize == 4 else bits).view(self.y.dtype)[()]

    def values(self):
        """(smallest, largest) label when the labels take at most two values (read as floats,
        distinct and not -0.0), else None: the caller then encodes them."""
        lab = self.labels
        lo, hi = lab[:, 0].min(), lab[:, 1].max()
        ends = lab[:, :2]
        if lab[:, 2].any() or not ((ends == lo) | (ends == hi)).all():
            return None
        vlo, vhi = self.value(lo), self.value(hi)
        if self.float_keys:
            if not (np.isfinite(vlo) and np.isfinite(vhi)):
                raise ValueError("Input y_true contains NaN or infinity.")
            if (lo != hi and vlo == vhi) or (vlo == 0 and np.signbit(vlo)) or (vhi == 0 and np.signbit(vhi)):
                return None
        return vlo, vhi

    def total(self, pos=None):
        """(weighted sum, sum of weights): for a known positive label, or for the positive
        label ``pos`` (a value of :meth:`values`)."""
        if self.known:
            return self.partial[:, 0].sum(), self.partial[:, 1].sum()
        pos_key = self.key(pos) if pos is not None else None
        one_key = self.labels[:, 0] == self.labels[:, 1]
        values = np.where(one_key & (self.labels[:, 0] != pos_key), self.partial[:, 2], self.partial[:, 0])
        return values.sum(), self.partial[:, 1].sum()


class _NotALabel(Exception):
    """The positive label is no value of y's dtype (it is then encoded)."""


def _unique(values, name):
    try:
        return np.unique(values)
    except TypeError as exc:  # labels of mixed types
        raise ValueError(f"{name} mixes label types that cannot be sorted: {exc}") from None


def _encode(y, classes, name="y_true"):
    """int64 indices of ``y`` in the sorted ``classes``, and the values of y not among them."""
    try:
        idx = np.searchsorted(classes, y)
    except TypeError as exc:
        raise ValueError(f"{name} and labels have labels of incomparable types: {exc}") from None
    np.minimum(idx, len(classes) - 1, out=idx)
    missing = classes[idx] != y
    return idx.astype(np.int64), (set(np.asarray(y)[missing].tolist()) if missing.any() else set())


def _check_discrete(values, name="y_true"):
    """scikit-learn's LabelBinarizer refuses float labels that are not integers ("continuous")."""
    values = np.asarray(values)
    if values.dtype.kind == "f" and not np.all(np.mod(values, 1) == 0):
        raise ValueError(f"Unknown label type: {name} holds non-integer floats (continuous target)")


def _given_classes(labels, y):
    """scikit-learn's LabelBinarizer classes of ``labels`` (sorted), with its warning when the
    given order differs."""
    given = _array_like(labels, "labels")
    classes = _unique(given, "labels")
    if classes.shape != given.shape or not np.all(classes == given):
        warnings.warn(
            f"Labels passed were {given}. But this function assumes labels are ordered "
            f"lexicographically. Pass the ordered labels={classes.tolist()} and ensure that the "
            "columns of y_prob correspond to this ordering.", UserWarning, stacklevel=3)
    return classes


def _too_few_classes(classes, labels_given):
    if len(classes) < 2:
        if labels_given:
            raise ValueError(f"The labels array needs to contain at least two labels, got {classes}.")
        raise ValueError(f"y_true contains only one label ({classes[0]}). Please provide the list of all "
                         "expected class labels explicitly through the labels argument.")


def _rows_pass(row, x, codes, w, params, bounds, tol=np.inf):
    """Run ``indexed_rows`` over the (n, k) array ``x`` with class indices ``codes``."""
    n, k = x.shape
    nb = _drivers.n_row_blocks(n, k)
    partial = np.empty((nb, 3), np.float64)
    stats = np.empty((nb, _drivers.N_STATS), np.float64)
    _kernel(_drivers.indexed_rows, row.__name__, ROW=row)(
        _threads.threads_for(x.size), np.ascontiguousarray(x).reshape(-1), codes, w,
        np.array([*params, tol], np.float64), np.asarray(bounds, np.float64), k, partial, stats)
    return partial, stats


def _probability_checks(stats, p, weighted):
    """scikit-learn's checks of probabilities (finite, in [0, 1]) and of their weights."""
    if stats[:, 0].any():
        if not np.isfinite(p).all():
            raise ValueError("Input y_proba contains NaN or infinity.")
        if p.max() > 1:
            raise ValueError(f"y_prob (y_proba) contains values greater than 1: {p.max()}")
        raise ValueError(f"y_prob (y_proba) contains values lower than 0: {p.min()}")
    _weight_checks(stats, weighted)


def _proba_input(y_proba, y_true, sample_weight):
    p = _numeric(_array_like(y_proba, "y_proba"), "y_proba")
    _check_dims(p, "y_proba")
    y = _labels_1d(y_true)
    _consistent_length(y_proba=p, y_true=y,
                       sample_weight=None if sample_weight is None else _array_like(sample_weight, "sample_weight"))
    return p, y, _weights(sample_weight, len(y))


def _multiclass_codes(y, labels, k):
    """scikit-learn's multiclass target checks (_validate_multiclass_probabilistic_prediction)
    and y's class indices."""
    if labels is not None:
        classes = _given_classes(labels, y)
        codes, missing = _encode(y, classes)
        if missing:
            raise ValueError(f"y_true contains values {missing} not belonging to the passed labels {labels}.")
    else:
        try:
            classes, codes = np.unique(y, return_inverse=True)
        except TypeError as exc:
            raise ValueError(f"y_true mixes label types that cannot be sorted: {exc}") from None
        codes = codes.astype(np.int64)
    _check_discrete(classes, "labels" if labels is not None else "y_true")
    _too_few_classes(classes, labels is not None)
    if len(classes) != k:
        if labels is None:
            raise ValueError(f"y_true and y_prob contain different number of classes: {len(classes)} vs {k}. "
                             "Please provide the true labels explicitly through the labels argument. "
                             f"Classes found in y_true: {classes}")
        raise ValueError(f"The number of classes in labels is different from that in y_prob (y_proba). "
                         f"Classes found in labels: {classes}")
    return codes


def _multiclass_proba(row, p, y, w, labels, params):
    """(weighted sum, weight sum) of a probability metric over an (n, k >= 2) ``y_proba``, with
    scikit-learn's checks and its warning for rows not summing to one."""
    codes = _multiclass_codes(y, labels, p.shape[1])
    eps = np.finfo(p.dtype).eps
    partial, stats = _rows_pass(row, p, codes, w, params, (0.0, 1.0), tol=1e-8 + math.sqrt(eps))
    _probability_checks(stats, p, w.size > 0)
    if partial[:, 2].any():
        warnings.warn("The y_prob values do not sum to one. Make sure to pass probabilities.",
                      UserWarning, stacklevel=3)
    return partial[:, 0].sum(), partial[:, 1].sum()


def _encoded_pass(elem, x, y, w, params, bounds, classes, pos_index):
    """A binary pass over y's indices in ``classes``; ``pos_index`` -1: no positive sample."""
    codes, _ = _encode(y, classes)
    return _BinaryPass(elem, x, codes, w, params, bounds, pos=pos_index)


def _binary_log_loss(p, y, w, labels, eps):
    """(weighted sum, weight sum, pass) of log_loss with a 1-D ``y_proba`` (the larger class's
    probability)."""
    yk = _comparable(y)
    params, bounds = (eps, 0.0, 0.0), (0.0, 1.0)
    if labels is not None:
        classes = _given_classes(labels, y)
        _check_discrete(classes, "labels")
        _too_few_classes(classes, True)
        if len(classes) != 2:
            raise ValueError("The number of classes in labels is different from that in y_prob (y_proba). "
                             f"Classes found in labels: {classes}")
        if yk is not None and classes.dtype.kind in "biuf":
            try:
                bp = _BinaryPass(_mk.binary_log_loss, p, yk, w, params, bounds, pos=classes[1].item())
            except _NotALabel:
                bp = None
            found = bp.values() if bp is not None else None
            if found is not None and set(found) <= set(classes.tolist()):
                return (*bp.total(), bp)
        codes, missing = _encode(y, classes)
        if missing:
            raise ValueError(f"y_true contains values {missing} not belonging to the passed labels {labels}.")
        bp = _BinaryPass(_mk.binary_log_loss, p, codes, w, params, bounds, pos=1)
        return (*bp.total(), bp)
    if yk is not None:
        bp = _BinaryPass(_mk.binary_log_loss, p, yk, w, params, bounds)
        found = bp.values()
        if found is not None:
            _check_discrete(found)
            _too_few_classes(np.unique(found), False)
            return (*bp.total(found[1]), bp)
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError("Input y_true contains NaN or infinity.")
    classes = _unique(y, "y_true")
    _check_discrete(classes)
    _too_few_classes(classes, False)
    if len(classes) != 2:
        raise ValueError(f"y_true and y_prob contain different number of classes: {len(classes)} vs 2. "
                         "Please provide the true labels explicitly through the labels argument. "
                         f"Classes found in y_true: {classes}")
    bp = _encoded_pass(_mk.binary_log_loss, p, y, w, params, bounds, classes, 1)
    return (*bp.total(), bp)


def log_loss(y_true, y_proba=None, *, normalize=True, sample_weight=None, labels=None, y_pred="deprecated"):
    r"""Log loss, aka logistic loss or cross-entropy loss (scikit-learn's ``log_loss``).

    .. math:: L = -\frac{\sum_i w_i \log \mathrm{clip}(p_{i, y_i}, \epsilon, 1 - \epsilon)}
              {\sum_i w_i}

    where :math:`p_{i, c}` is the predicted probability of sample i's class c (classes in
    sorted order) and :math:`\epsilon` the machine epsilon of ``y_proba``'s dtype. Rows of a 2-D
    ``y_proba`` that do not sum to 1 (relative tolerance :math:`\sqrt\epsilon`) give a
    UserWarning; they are not renormalised (scikit-learn >= 1.7).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels of any kind (integers, floats, bools, strings).
    y_proba : array-like of shape (n_samples, n_classes) or (n_samples,)
        Predicted probabilities; a 1-D array is the probability of the larger of two classes.
    normalize : bool, default=True
        Return the (weighted) mean; False returns the (weighted) sum.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights :math:`w_i`.
    labels : array-like, default=None
        All classes, when y_true does not hold every one of them.
    y_pred : array-like
        Deprecated name of ``y_proba`` (FutureWarning), as in scikit-learn 1.9.

    Returns
    -------
    loss : float
    """
    if not (isinstance(y_pred, str) and y_pred == "deprecated"):
        if y_proba is not None:
            raise ValueError("Cannot use both `y_pred` and `y_proba`. `y_pred` is deprecated, use `y_proba` instead.")
        warnings.warn("`y_pred` was renamed to `y_proba` in version 1.9 and will be removed in 1.11. "
                      "Use `y_proba` instead.", FutureWarning, stacklevel=2)
        y_proba = y_pred
    _check_bool(normalize, "normalize")
    p, y, w = _proba_input(y_proba, y_true, sample_weight)
    eps = np.finfo(p.dtype).eps
    if p.ndim == 1 or p.shape[1] == 1:
        p = np.ascontiguousarray(p.reshape(-1))
        total, wsum, bp = _binary_log_loss(p, y, w, labels, eps)
        _probability_checks(bp.stats, p, w.size > 0)
    else:
        total, wsum = _multiclass_proba(_mk.row_log_loss, p, y, w, labels, (eps, 0.0, 0.0))
    return float(_divide(total, wsum) if normalize else total)


def _pos_label_consistency(found, is_str, classes_repr):
    """scikit-learn's _check_pos_label_consistency for an unspecified ``pos_label``, then its
    fallback in brier_score_loss: 1 for {0, 1}, {-1, 1} and their subsets of one, else the
    larger label; string labels need pos_label."""
    if is_str:
        raise ValueError(f"y_true takes value in {{{classes_repr}}} and pos_label is not specified: either make "
                         "y_true take value in {0, 1} or {-1, 1} or pass pos_label explicitly.")
    if set(found) in ({0, 1}, {-1, 1}, {0}, {-1}, {1}):
        return 1
    return found[1]


def _binary_brier(p, y, w, pos_label):
    """(weighted sum, weight sum, pass) of the two-column Brier terms with a 1-D ``y_proba``."""
    yk = _comparable(y)
    params, bounds = (0.0, 0.0, 0.0), (0.0, 1.0)
    if yk is not None:
        try:
            bp = _BinaryPass(_mk.binary_brier, p, yk, w, params, bounds, pos=pos_label)
        except _NotALabel:
            bp = None
        found = bp.values() if bp is not None else None
        if found is not None:
            if yk.dtype.kind == "f" and not all(float(v).is_integer() for v in found):
                _not_binary("continuous")
            pos = None if pos_label is not None else _pos_label_consistency(found, False, "")
            return (*bp.total(pos), bp)
    if y.dtype.kind == "f":
        if not np.isfinite(y).all():
            raise ValueError("Input y_true contains NaN or infinity.")
        if not np.all(np.mod(y, 1) == 0):
            _not_binary("continuous")
    classes = _unique(y, "y_true")
    if len(classes) > 2:
        _not_binary("multiclass")
    if pos_label is None:
        is_str = classes.dtype.kind in "OUS"
        found = () if is_str else (classes[0].item(), classes[-1].item())
        pos_label = _pos_label_consistency(found, is_str, ", ".join(repr(c) for c in classes.tolist()))
    hit = [i for i, c in enumerate(classes.tolist()) if c == pos_label]
    bp = _encoded_pass(_mk.binary_brier, p, y, w, params, bounds, classes, hit[0] if hit else -1)
    return (*bp.total(), bp)


def _not_binary(y_type):
    raise ValueError(f"The type of the target inferred from y_true is {y_type} but should be binary according to "
                     "the shape of y_prob (y_proba).")


def brier_score_loss(y_true, y_proba, *, sample_weight=None, pos_label=None, labels=None, scale_by_half="auto"):
    r"""Brier score loss (scikit-learn's ``brier_score_loss``).

    .. math:: B = s \, \frac{\sum_i w_i \sum_c (\mathbb{1}[y_i = c] - p_{i, c})^2}{\sum_i w_i}

    summed over the classes c; a 1-D ``y_proba`` is the positive class's probability
    (:math:`p_{i, 0} = 1 - p_{i, 1}`). :math:`s = 1/2` when ``scale_by_half`` is True, or "auto"
    with at most two classes (the binary score then is the mean of :math:`(y_i - p_i)^2`), else 1.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_proba : array-like of shape (n_samples,) or (n_samples, n_classes)
        Predicted probabilities.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights :math:`w_i`.
    pos_label : int, float, bool or str, default=None
        The positive class of a binary y_true: by default 1 when the labels are in {0, 1} or
        {-1, 1}, else the larger label (strings need it).
    labels : array-like, default=None
        All classes, for a 2-D ``y_proba`` (as in :func:`log_loss`).
    scale_by_half : bool or "auto", default="auto"

    Returns
    -------
    score : float
    """
    if not (isinstance(scale_by_half, (bool, np.bool_)) or (isinstance(scale_by_half, str) and scale_by_half == "auto")):
        raise ValueError(f"scale_by_half must be a bool or 'auto', got {scale_by_half!r}")
    if pos_label is not None and not isinstance(pos_label, (numbers.Real, str, np.bool_)):
        raise TypeError(f"pos_label must be an int, float, bool or str, got {pos_label!r}")
    p, y, w = _proba_input(y_proba, y_true, sample_weight)
    if p.ndim == 1 or p.shape[1] == 1:
        p = np.ascontiguousarray(p.reshape(-1))
        total, wsum, bp = _binary_brier(p, y, w, pos_label)
        _probability_checks(bp.stats, p, w.size > 0)
        k = 1
    else:
        total, wsum = _multiclass_proba(_mk.row_brier, p, y, w, labels, (0.0, 0.0, 0.0))
        k = p.shape[1]
    if scale_by_half == "auto":
        scale_by_half = k < 3
    score = _divide(total, wsum)
    return float(score * 0.5 if scale_by_half else score)


def hinge_loss(y_true, pred_decision, *, labels=None, sample_weight=None):
    r"""Average hinge loss (scikit-learn's ``hinge_loss``).

    Binary (1-D ``pred_decision`` :math:`d_i`, labels encoded as :math:`s_i = \pm 1`, +1 for the
    larger label): :math:`\max(0, 1 - s_i d_i)`. Multiclass (Crammer-Singer, ``pred_decision``
    of shape (n_samples, n_classes)): :math:`\max(0, 1 - d_{i, y_i} + \max_{c \ne y_i} d_{i, c})`.
    The result is their mean weighted by ``sample_weight``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    pred_decision : array-like of shape (n_samples,) or (n_samples, n_classes)
        Decision values.
    labels : array-like, default=None
        All classes of a multiclass problem.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights (as in scikit-learn, neither checked for finiteness nor sign).

    Returns
    -------
    loss : float
    """
    d = _array_like(pred_decision, "pred_decision")
    y0 = _array_like(y_true, "y_true")
    sw = None if sample_weight is None else _numeric(_array_like(sample_weight, "sample_weight"), "sample_weight")
    _consistent_length(y_true=y0, pred_decision=d, sample_weight=sw)
    if d.dtype.kind in "OUS" and d.dtype.kind != "O":
        raise ValueError("pred_decision must be numeric, got strings")
    d = _numeric(d, "pred_decision")
    _check_dims(d, "pred_decision")
    y = _labels_1d(y0)
    if sw is not None and sw.ndim != 1:
        raise TypeError(f"sample_weight must be 1-D (shape {sw.shape} differs from the losses' {(len(y),)})")
    w = _EMPTY_W if sw is None else np.ascontiguousarray(sw)
    n_labels = len(_unique(_array_like(labels, "labels"), "labels")) if labels is not None else None
    multiclass_d = d.ndim == 2 and d.shape[1] > 1
    if n_labels is not None and n_labels > 2 or labels is None and multiclass_d:
        classes = _unique(_array_like(labels, "labels"), "labels") if labels is not None else _unique(y, "y_true")
        if len(classes) > 2:
            return _multiclass_hinge(d, y, w, classes, labels is not None)
    if multiclass_d:
        raise ValueError(f"y should be a 1d array, got an array of shape {d.shape} instead (pred_decision).")
    d = np.ascontiguousarray(d.reshape(-1))
    yk = _comparable(y)
    params, bounds = (0.0, 0.0, 0.0), _finite_bounds(d.dtype)
    if yk is not None:
        bp = _BinaryPass(_mk.binary_hinge, d, yk, w, params, bounds)
        _operand_checks(bp.stats, ((d, "pred_decision"),))
        found = bp.values()
        if found is not None:
            _check_discrete(found)
            # LabelBinarizer(neg_label=-1): one class present encodes every sample as -1.
            total, wsum = bp.total(found[1] if found[0] != found[1] else None)
            return float(_divide(total, wsum))
    classes = _unique(y, "y_true")
    _check_discrete(classes)
    if len(classes) > 2 and labels is None:
        raise ValueError("The shape of pred_decision cannot be 1d array with a multiclass target. pred_decision "
                         f"shape must be (n_samples, n_classes), that is ({len(y)}, {len(classes)}). Got: {d.shape}")
    # Two classes: +1 for the larger; more (only with labels of at most two): LabelBinarizer's
    # first column, +1 for the smallest; one: -1 for all.
    pos = 1 if len(classes) == 2 else (0 if len(classes) > 2 else -1)
    bp = _encoded_pass(_mk.binary_hinge, d, y, w, params, bounds, classes, pos)
    _operand_checks(bp.stats, ((d, "pred_decision"),))
    return float(_divide(*bp.total()))


def _multiclass_hinge(d, y, w, classes, labels_given):
    n = len(y)
    if d.ndim == 1:
        raise ValueError("The shape of pred_decision cannot be 1d array with a multiclass target. pred_decision "
                         f"shape must be (n_samples, n_classes), that is ({n}, {len(classes)}). Got: {d.shape}")
    if len(classes) != d.shape[1]:
        if not labels_given:
            raise ValueError("Please include all labels in y_true or pass labels as third argument")
        raise ValueError("The shape of pred_decision is not consistent with the number of classes. With a "
                         "multiclass target, pred_decision shape must be (n_samples, n_classes), that is "
                         f"({n}, {len(classes)}). Got: {d.shape}")
    codes, missing = _encode(y, classes)
    if missing:
        raise ValueError(f"y_true contains previously unseen labels: {sorted(missing, key=str)}")
    partial, stats = _rows_pass(_mk.row_hinge, d, codes, w, (0.0, 0.0, 0.0), _finite_bounds(d.dtype))
    _operand_checks(stats, ((d, "pred_decision"),))
    return float(_divide(partial[:, 0].sum(), partial[:, 1].sum()))
