"""Argument checks and kernel handles shared by the metrics."""
import numbers

import numpy as np

from .. import _parts
from .._kernels._compile import Kernel

_KERNELS = {}
_EMPTY_W = np.empty(0, np.float64)


def _kernel(template, name, **consts):
    key = (template.__name__, name, *sorted(consts.items()))
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
    bounds (``stats[:, 0]``): a non-finite value first, else the domain error. ``operands``:
    (array, name) of the kernel's operands."""
    if stats[:, 0].any():
        for arr, name in operands:
            if arr is not None and not np.isfinite(arr).all():
                raise ValueError(f"Input {name} contains NaN or infinity.")
        raise ValueError(domain_message)


def _weight_checks(stats, weighted, check_zero_weights=True):
    if weighted:
        if stats[:, 1].any():
            raise ValueError("Input sample_weight contains NaN or infinity.")
        if check_zero_weights and not stats[:, 2].any():
            raise ValueError("sample_weight must contain at least one non-zero number.")


def _divide(total, weight_sum):
    if weight_sum == 0:
        raise ZeroDivisionError("Weights sum to zero, can't be normalized (sample_weight)")
    return total / weight_sum


def _ratio(total, weight_sum):
    """The weighted mean as a Python float (most metrics' finish)."""
    return float(_divide(total, weight_sum))


def _result(total, weight_sum, n, finish=_ratio):
    """``finish(total, weight_sum)``, or the parts themselves for an Accumulator (see
    ``numloss._parts``): the float64 sums of ``n`` samples, before the division."""
    if _parts.wanted():
        return _parts.Parts(total, weight_sum, n, finish)
    return finish(total, weight_sum)
