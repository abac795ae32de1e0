"""Argument handling shared by every loss: coercion, the dtype rule, shape checks, reductions,
``grad_output`` and ``gradient_out``. Everything here runs before any kernel, so kernels only
ever see C-contiguous float32/float64 (or int64) arrays of consistent shapes.
"""
import math
import operator
import warnings

import numpy as np

from . import _threads
from ._kernels import _drivers
from ._kernels._compile import Kernel, cached_njit

REDUCTIONS = ("none", "mean", "sum")


def float_array(x, name):
    """``x`` as a float32/float64 array: integers and bools become float64, float16 float32."""
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and other things numpy refuses
        raise TypeError(f"{name} must be array-like of real numbers: {exc}") from None
    kind = arr.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} must be real, got complex dtype {arr.dtype}")
    if kind == "f":
        if arr.dtype == np.float16:
            return arr.astype(np.float32)
        if arr.dtype.itemsize > 8:
            return arr.astype(np.float64)
        return arr
    if kind in "iub":
        return arr.astype(np.float64)
    raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")


def float_like(x, dtype, name):
    """A float operand that is not the first differentiable input: cast to the result dtype."""
    return float_array(x, name).astype(dtype, copy=False)


@cached_njit(nogil=True)
def _count_not_plus_minus_one(flat):
    n = 0
    for i in range(flat.size):  # no early exit: the loop vectorises
        n += np.int64(abs(flat[i]) != 1)  # NaN counts
    return n


def plus_minus_one(y, name):
    """Refuse a float array with an entry other than -1 and +1 (one pass, no temporaries)."""
    if _count_not_plus_minus_one(np.ascontiguousarray(y).reshape(-1)):
        raise ValueError(f"{name} must contain only -1 and +1")


_COUNT_OUTSIDE = {nan: Kernel(_drivers.count_outside, "count_outside", NAN_OUTSIDE=nan) for nan in (False, True)}


def count_outside(x, lo, hi, nan_outside):
    """How many elements of the float array ``x`` lie outside [lo, hi] (NaN included when
    ``nan_outside``): one parallel pass, no temporaries."""
    flat = flat_readonly(x)
    return _COUNT_OUTSIDE[bool(nan_outside)](
        _threads.threads_for(flat.size), flat, flat.dtype.type(lo), flat.dtype.type(hi),
        np.empty(_drivers.n_blocks(flat.size), np.int64),
    )


def index_array(x, name):
    """A class-index array: any integer dtype, returned as int64."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array of class indices, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def reduction(value, allowed=REDUCTIONS):
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"reduction must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value


def real_scalar(value, name):
    """A real Python/NumPy scalar option (margin, eps, delta, ...) as a float."""
    if type(value) is float:  # the common cases, without NumPy's overhead
        return value
    if type(value) is int and -(2**63) <= value < 2**63:
        return float(value)
    if isinstance(value, (bool, np.bool_)) or np.iscomplexobj(value):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    try:
        arr = np.asarray(value)
    except Exception:
        raise TypeError(f"{name} must be a real number, got {value!r}") from None
    if arr.ndim != 0 or arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a real number, got {value!r}")
    return float(arr)


def flag(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return bool(value)


def integer(value, name):
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None


def broadcast_shape(named):
    """The broadcast shape of ``{name: array}``, or a ValueError naming the operands."""
    try:
        return np.broadcast_shapes(*(a.shape for a in named.values()))
    except ValueError:
        desc = ", ".join(f"{k} {tuple(a.shape)}" for k, a in named.items())
        raise ValueError(f"shapes do not broadcast: {desc}") from None


def warn_target_size(input_shape, target_shape):
    """torch's warning for regression losses whose target is broadcast against the input."""
    if tuple(input_shape) != tuple(target_shape):
        warnings.warn(
            f"Using a target size ({tuple(target_shape)}) that is different to the input size "
            f"({tuple(input_shape)}). This will likely lead to incorrect results due to "
            "broadcasting. Please ensure they have the same size.",
            UserWarning,
            stacklevel=4,
        )


def same_shape(a, b, name_a, name_b):
    if a.shape != b.shape:
        raise ValueError(
            f"{name_b} shape {tuple(b.shape)} must be the same as {name_a} shape {tuple(a.shape)}"
        )


def flat_readonly(arr, shape=None):
    """A C-contiguous, read-only, flat view (a copy only when broadcasting or a layout needs
    it). Read-only views give every call the same Numba specialisation and guarantee that a
    kernel cannot write to a user's array."""
    if shape is not None and arr.shape != tuple(shape):
        arr = np.broadcast_to(arr, shape)
    out = np.ascontiguousarray(arr).reshape(-1)  # always a new view object
    out.flags.writeable = False
    return out


def grad_output(value, loss_shape, dtype, reduced):
    """``grad_output`` as a float (reduced loss) or a flat array of the loss's shape."""
    if reduced:
        if value is None:
            return 1.0
        arr = float_array(value, "grad_output")
        if arr.ndim != 0 and arr.size != 1:
            raise ValueError(f"grad_output must be a scalar for a reduced loss, got shape {arr.shape}")
        return float(arr.reshape(()))
    if value is None:
        return flat_readonly(np.ones(loss_shape, dtype=dtype))
    arr = float_like(value, dtype, "grad_output")
    if arr.shape != tuple(loss_shape):
        raise ValueError(
            f"grad_output must have the loss's shape {tuple(loss_shape)}, got {tuple(arr.shape)}"
        )
    return flat_readonly(arr)


def gradient_buffers(gradient_out, return_grad, shapes, dtype, inputs):
    """Check ``gradient_out`` against the gradients' shapes; returns a list (``None`` where the
    kernel should allocate). ``inputs`` are the user's arrays, to refuse buffers aliasing them."""
    if gradient_out is None:
        return [None] * len(shapes)
    if not return_grad:
        raise ValueError("gradient_out is only used with return_grad=True")
    bufs = gradient_out if isinstance(gradient_out, tuple) else (gradient_out,)
    if len(bufs) != len(shapes):
        raise ValueError(f"gradient_out must be a tuple of {len(shapes)} arrays (one per differentiable input)")
    for buf, shape in zip(bufs, shapes):
        if buf is None and shape is None:
            continue
        if not isinstance(buf, np.ndarray):
            raise ValueError(f"gradient_out must be a numpy array, got {type(buf).__name__}")
        if buf.shape != tuple(shape) or buf.dtype != dtype:
            raise ValueError(
                f"gradient_out must have shape {tuple(shape)} and dtype {np.dtype(dtype)}, "
                f"got {buf.shape} {buf.dtype}"
            )
        if not buf.flags.c_contiguous or not buf.flags.writeable:
            raise ValueError("gradient_out must be C-contiguous and writeable")
        for x in inputs:
            if isinstance(x, np.ndarray) and np.shares_memory(buf, x):
                raise ValueError("gradient_out must not share memory with an input")
    return list(bufs)


def sum_to_shape(grad, shape):
    """Sum a gradient computed on the broadcast shape back to its operand's shape."""
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and grad.shape[lead + i] != 1
    )
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


def divide(a, b):
    """IEEE division of Python floats (0/0 is NaN, x/0 is +-inf) without NumPy's warnings."""
    a = float(a)
    b = float(b)
    if b != 0 or math.isnan(b):
        return a / b
    if a == 0 or math.isnan(a):
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def scalar_result(value, dtype):
    """A reduced loss as a NumPy scalar of the result dtype."""
    return np.dtype(dtype).type(value)
