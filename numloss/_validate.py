"""Argument handling shared by every loss: coercion, the dtype rule, shape checks, reductions,
``grad_output`` and ``gradient_out``. Everything here runs before any kernel, so kernels only
ever see C-contiguous float32/float64 (or int64) arrays of consistent shapes.
"""
import math
import operator
import warnings
from typing import NamedTuple

import numpy as np

from . import _threads
from ._kernels import _drivers
from ._kernels._compile import Kernel, cached_njit

REDUCTIONS = ("none", "mean", "sum")


def describe(value):
    """``value`` for an error message: its repr when short (a scalar, a name), else its type and
    shape -- never an array's values."""
    shape = getattr(value, "shape", None)
    if shape is not None and shape != ():
        dtype = getattr(value, "dtype", None)
        return f"{type(value).__name__} of shape {tuple(shape)}" + (f" and dtype {dtype}" if dtype is not None else "")
    text = repr(value)
    return text if len(text) <= 80 else f"{type(value).__name__} object"


_MASKED = (
    "is a masked array (numpy.ma); numloss does not apply masks (np.asarray would silently drop "
    "the mask). Pass the data and the mask as weights, e.g. loss(x.data, ..., "
    "sample_weight=~np.ma.getmaskarray(x)), or only the unmasked entries (x.compressed())"
)


def as_array(x, name):
    """``np.asarray(x)`` in native byte order, or a TypeError naming ``name``: masked arrays are
    refused (see ``_MASKED``), other ndarray subclasses (np.matrix, ...) become plain arrays, and
    anything NumPy cannot convert (a ragged list, a tensor that requires grad, an ``__array__``
    that raises) is reported with what went wrong."""
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(f"{name} {_MASKED}")
    try:
        arr = np.asarray(x)
    except Exception as exc:  # noqa: BLE001 - whatever the object raises, name the argument
        raise TypeError(f"{name} must be array-like, but converting it to an array failed: "
                        f"{type(exc).__name__}: {exc}") from None
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def float_array(x, name):
    """``x`` as a float32/float64 array: integers and bools become float64, float16 float32."""
    arr = x if type(x) is np.ndarray and x.dtype.isnative else as_array(x, name)
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


_INT64_MAX = np.iinfo(np.int64).max


def index_array(x, name, what="class indices"):
    """An integer array (class indices, lengths): any integer dtype, returned as int64. Values
    that do not fit in int64 (uint64, or Python integers beyond it) are a ValueError showing the
    value, never wrapped."""
    arr = x if type(x) is np.ndarray and x.dtype.isnative else as_array(x, name)
    if arr.dtype == object and arr.size and all(type(v) is int for v in arr.flat):
        big = next((v for v in arr.flat if not -(2**63) <= v <= _INT64_MAX), None)
        if big is not None:
            raise ValueError(f"{name} contains {big}, which does not fit in int64")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array of {what}, got dtype {arr.dtype}")
    if arr.dtype.kind == "u" and arr.dtype.itemsize == 8 and arr.size:
        top = int(arr.max())
        if top > _INT64_MAX:
            raise ValueError(f"{name} contains {top}, which does not fit in int64")
    return arr.astype(np.int64, copy=False)


def reduction(value, allowed=REDUCTIONS):
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"reduction must be one of {', '.join(map(repr, allowed))}, got {describe(value)}")
    return value


def real_scalar(value, name):
    """A real Python/NumPy scalar option (margin, eps, delta, ...) as a float."""
    if type(value) is float:  # the common cases, without NumPy's overhead
        return value
    if type(value) is int and -(2**63) <= value < 2**63:
        return float(value)
    if isinstance(value, (bool, np.bool_)) or np.iscomplexobj(value):
        raise TypeError(f"{name} must be a real number, got {describe(value)}")
    try:
        arr = np.asarray(value)
    except Exception:
        raise TypeError(f"{name} must be a real number, got {describe(value)}") from None
    if arr.ndim != 0 or arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a real number, got {describe(value)}")
    return float(arr)


def flag(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {describe(value)}")
    return bool(value)


def integer(value, name):
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got {describe(value)}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {describe(value)}") from None


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


def flat_readonly(arr, shape=None, view=-1):
    """A C-contiguous, read-only, flat view -- or one of shape ``view`` -- of ``arr`` broadcast
    to ``shape`` (a copy only when broadcasting or a layout needs it). Read-only views give every
    call the same Numba specialisation and guarantee that a kernel cannot write to a user's
    array."""
    if shape is not None and arr.shape != tuple(shape):
        arr = np.broadcast_to(arr, shape)
    if not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr)
    out = arr.reshape(view)  # always a new view object
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


def want_grad(return_grad, grad_output=None, gradient_out=None):
    """``return_grad`` as a bool (a TypeError naming it unless it is a bool); ``grad_output`` or
    ``gradient_out`` given without it is a ValueError. Every loss calls this (directly or
    through :func:`gradient_buffers`) before its kernel."""
    if return_grad is True:
        return True
    if return_grad is not False:
        if not isinstance(return_grad, np.bool_):
            raise TypeError(f"return_grad must be a bool (True or False), got {describe(return_grad)}")
        return want_grad(bool(return_grad), grad_output, gradient_out)
    if grad_output is not None:
        raise ValueError("grad_output is only used with return_grad=True")
    if gradient_out is not None:
        raise ValueError("gradient_out is only used with return_grad=True")
    return False


def _memory(obj):
    """The array a user's argument is read as (np.asarray of it, sharing its memory where NumPy
    can), or None for what has no array memory (None, Python numbers, unconvertible objects)."""
    if obj is None or type(obj) in (int, float, bool):
        return None
    if isinstance(obj, np.ndarray):
        return obj
    try:
        return np.asarray(obj)
    except Exception:  # noqa: BLE001 - its own coercion reports it
        return None


def _overlap(a, b):
    """Whether two arrays share memory; undecidable within a bounded effort counts as yes."""
    if not np.may_share_memory(a, b):
        return False
    try:
        return bool(np.shares_memory(a, b, max_work=100_000))
    except np.exceptions.TooHardError:
        return True


def gradient_buffers(gradient_out, return_grad, shapes, dtype, inputs, grad_output=None):
    """Check ``gradient_out`` against the gradients' shapes; returns a list (``None`` where the
    kernel should allocate). ``shapes``: one per gradient, ``None`` for a constant operand (its
    slot must be ``None``). ``inputs``: the user's arguments as given (arrays, tensors,
    memoryviews, ...); no buffer may share memory with one of them, with ``grad_output`` or
    with another buffer. Also validates ``return_grad`` (:func:`want_grad`)."""
    if not want_grad(return_grad, grad_output, gradient_out) or gradient_out is None:
        return [None] * len(shapes)
    bufs = gradient_out if isinstance(gradient_out, tuple) and len(shapes) > 1 else (gradient_out,)
    if len(bufs) != len(shapes):
        want = f"a tuple of {len(shapes)} arrays (one per differentiable input)" if len(shapes) > 1 else "one array"
        raise ValueError(f"gradient_out must be {want}, got {len(bufs)}")
    for k, (buf, shape) in enumerate(zip(bufs, shapes)):
        name = f"gradient_out[{k}]" if len(shapes) > 1 else "gradient_out"
        if shape is None:
            if buf is not None:
                raise ValueError(f"{name} must be None: that operand is a constant, with no gradient")
            continue
        if type(buf) is not np.ndarray:
            raise ValueError(f"{name} must be a numpy.ndarray (not a subclass), got {type(buf).__name__}")
        if buf.shape != tuple(shape) or buf.dtype != dtype:
            raise ValueError(
                f"{name} must have shape {tuple(shape)} and dtype {np.dtype(dtype)}, "
                f"got {buf.shape} {buf.dtype}"
            )
        if not buf.flags.c_contiguous or not buf.flags.writeable:
            raise ValueError(f"{name} must be C-contiguous and writeable")
        for other in bufs[:k]:
            if other is not None and _overlap(buf, other):
                raise ValueError(f"{name} shares memory with another gradient_out buffer")
        for arg, what in [(x, "an input") for x in inputs] + [(grad_output, "grad_output")]:
            mem = _memory(arg)
            if mem is not None and _overlap(buf, mem):
                raise ValueError(
                    f"{name} shares memory with {what} ({describe(arg)}): the gradient would overwrite it"
                )
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


class SampleWeight(NamedTuple):
    """A checked ``sample_weight``: ``array`` has the loss's number of dimensions and broadcasts
    to its shape; ``total`` is the float64 sum of ``array``'s entries, each of which covers
    ``repeat`` elements of the loss (so the weights broadcast to the loss sum to
    ``total * repeat``; ``total`` is None until the weights are summed)."""

    array: np.ndarray
    total: float
    repeat: int


_WEIGHT_SUMS = Kernel(_drivers.sample_weight_sums, "sample_weight")


def sample_weight(value, dtype, shape, per_element=True, sums=True):
    """``sample_weight`` for a loss whose ``reduction="none"`` output has ``shape``, as a
    :class:`SampleWeight` of ``dtype``. A 1-D array of length ``shape[0]`` weighs the samples
    (axis 0; a scalar when ``shape`` is ``()``); with ``per_element`` any other shape that
    broadcasts to ``shape`` weighs elements. Wrong shapes, NaN, inf and negative weights are a
    ValueError. Without ``sums`` the values are not read yet (``total`` is None): the caller
    passes it to :func:`with_total`, or its kernel sums them (``_drivers.elementwise`` with
    ``WEIGHT_SUMS``) and it passes the sums to :func:`checked_weight_total` before it uses any
    result."""
    arr = float_like(value, dtype, "sample_weight")
    shape = tuple(shape)
    if arr.ndim == 1 and shape and arr.shape[0] == shape[0]:
        arr = arr.reshape(arr.shape + (1,) * (len(shape) - 1))
    elif (arr.ndim == 0 and not shape) or (
        per_element and arr.ndim <= len(shape)
        and all(a in (1, s) for a, s in zip(arr.shape[::-1], shape[::-1]))
    ):
        arr = arr.reshape((1,) * (len(shape) - arr.ndim) + arr.shape)
    else:
        if not shape:
            expected = "a scalar (the input is one sample)"
        else:
            expected = f"shape ({shape[0]},) (one weight per sample)"
            if per_element:
                expected += f" or a shape that broadcasts to the loss's shape {shape}"
        raise ValueError(f"sample_weight must have {expected}, got shape {arr.shape}")
    arr = np.ascontiguousarray(arr)
    size = math.prod(shape)
    sw = SampleWeight(arr, None, size // arr.size if arr.size else 0)
    return with_total(sw) if sums else sw


def with_total(sw):
    """The :class:`SampleWeight` ``sw`` with its checked ``total`` (one parallel read)."""
    flat = sw.array.reshape(-1)
    partial = np.empty((_drivers.n_blocks(flat.size), 2), np.float64)
    return sw._replace(total=checked_weight_total(_WEIGHT_SUMS(_threads.threads_for(flat.size), flat, partial), flat))


def checked_weight_total(sums, flat):
    """The sum of the flat sample weights from ``(sum, sum of the negative entries)``
    (``_drivers.sample_weight_sums``), or the ValueError of a NaN, negative or infinite weight."""
    total, negative = sums
    if negative != 0 or not math.isfinite(total):  # the entries say which (or a sum overflowed)
        what = "NaN" if np.isnan(flat).any() else "negative" if (flat < 0).any() else "infinite"
        if what != "infinite" or np.isinf(flat).any():
            raise ValueError(f"sample_weight must be finite and non-negative, got a {what} weight")
    return total
