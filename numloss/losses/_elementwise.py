"""Running an elementwise loss: broadcasting, the fused kernel call, the reduction and the
shape of what is returned. Used by every loss whose value is a reduction of per-element terms."""
import functools
import math

import numpy as np

from .. import _buffers, _parts, _threads
from .. import _validate as V
from .._kernels import _drivers
from .._kernels._compile import Kernel


FLOATS = (np.dtype(np.float32), np.dtype(np.float64))  # the dtypes the kernels compute in

# Writeable, empty placeholders for the outputs a kernel's flags skip (never written to).
_UNUSED = {t: np.empty(0, t) for t in FLOATS}
_NO_CHECKS = np.empty((0, 4), np.float64)

# The elementwise driver's arguments it only reads (x, y, c, w, grad_output): typed read-only
# on the fast path as on the general path, so both share one compiled specialisation.
_READ_ONLY = (0, 1, 2, 3, 6)

def _options(dtype, params, scale):
    """The kernel's options ``(p0, p1, p2, scale)`` as an array of ``dtype`` (an option beyond
    float32's range is inf, as in torch)."""
    with np.errstate(over="ignore"):
        return np.array((*params, 0.0, 0.0, 0.0)[:3] + (scale,), dtype)


# The fast path's options arrays (never written to), by (dtype, params, scale).
_cached = functools.lru_cache(maxsize=256)(_options)


def _cached_options(dtype, params, scale):
    """:func:`_options`, cached; not for a -0.0 option (0.0 and -0.0 are one cache key)."""
    if 0.0 in params and any(math.copysign(1.0, p) < 0 for p in params if p == 0.0):
        return _options(dtype, params, scale)
    return _cached(dtype, params, scale)


class Elementwise:
    """The kernels of one element function (see ``_kernels/elementwise.py``), one per
    combination of flags, built on first use."""

    def __init__(self, elem, nin=2, unit_interval=False):
        self.elem = elem
        self.nin = nin
        self.unit_interval = unit_interval  # the first two operands must lie in [0, 1] (NaN refused)
        self._kernels = {}

    def kernel(self, weighted, none, grad, ngrad, weight_sums=False, unit_check=False):
        key = (weighted, none, grad, ngrad, weight_sums, unit_check)
        kernel = self._kernels.get(key)
        if kernel is None:
            kernel = self._kernels[key] = Kernel(
                _drivers.elementwise,
                self.elem.__name__,
                ELEM=self.elem,
                NIN=self.nin,
                NGRAD=ngrad,
                WEIGHTED=weighted,
                NONE=none,
                GRAD=grad,
                WEIGHT_SUMS=weight_sums,
                UNIT_CHECK=unit_check,
            )
        return kernel

    def __call__(
        self,
        operands,
        dtype,
        *,
        reduction,
        weight=None,
        sample_weight=None,
        params=(),
        denominator=None,
        grad_of=(0,),
        grad_shapes=None,
        return_grad=False,
        grad_output=None,
        gradient_out=None,
        user_inputs=(),
    ):
        """Evaluate the loss.

        ``operands``: ``{name: array}`` in kernel order (x, y[, c]), already of ``dtype``;
        broadcast together (and with ``weight``, the loss's own per-element factor).
        ``sample_weight``: the user's (see ``V.sample_weight``). ``params``: up to three options.
        ``denominator``: what torch's "mean" divides by: the element count (``None``), the sum
        of ``weight`` (``"weight"``) or a given number (see :func:`mean_denominator`).
        ``grad_of``: which operands the gradients are for (at most two; kernel d1, d2); ``None``
        entries stand for constant operands whose slot in the returned tuple is ``None``.
        ``grad_shapes``: the shapes the gradients are returned in (default: their operands').
        Returns the loss, or ``(loss, grad)`` with ``grad`` a tuple when ``len(grad_of) > 1``.
        """
        arrays = list(operands.values())
        if weight is not None:
            arrays.append(weight)
        shape = arrays[0].shape
        for a in arrays:
            if a.shape != shape:
                shape = V.broadcast_shape({**operands, "weight": weight} if weight is not None else operands)
                break
        flat = [V.flat_readonly(a, shape) for a in arrays]
        n = flat[0].size
        none = reduction == "none"
        # The [0, 1] range of the operands and a forward's per-element sample weights are
        # checked in the loss pass, which reads them anyway, before any result is used: one read,
        # not two. Not when the kernel would write into the caller's gradient_out.
        unit_check = self.unit_interval and gradient_out is None
        if self.unit_interval and not unit_check:
            _unit_interval_errors((V.count_outside(a, 0, 1, nan_outside=True) for a in flat[:2]), operands)
        sw = None if sample_weight is None else V.sample_weight(sample_weight, dtype, shape, sums=False)
        sums_in_kernel = (sw is not None and sw.array.shape == shape and weight is None  # w: sw's own flat array
                          and return_grad is False and grad_output is None and gradient_out is None)
        if sw is not None and not sums_in_kernel:
            sw = V.with_total(sw)
        w, inner, weighted = _kernel_weights(flat[len(operands)] if weight is not None else None, sw, shape)
        denom = None if sums_in_kernel else mean_denominator(denominator, n, w if weight is not None else None, sw)

        unused = _UNUSED[dtype]
        go_arr, scale, grads, bufs = flat[0], 0.0, [], ()
        return_grad = V.want_grad(return_grad, grad_output, gradient_out)
        if return_grad:
            if grad_shapes is None:
                grad_shapes = [arrays[i].shape if i is not None else None for i in grad_of]
            if gradient_out is not None:
                bufs = V.gradient_buffers(gradient_out, True, grad_shapes, dtype, user_inputs, grad_output)
            if none:
                go_arr, scale = V.grad_output(grad_output, shape, dtype, reduced=False), 1.0
            else:
                scale = V.grad_output(grad_output, (), dtype, reduced=True)
                if reduction == "mean":
                    scale = V.divide(scale, denom)
            for slot, i in enumerate(grad_of):
                if i is None:
                    grads.append(None)
                elif bufs and bufs[slot].shape == shape:
                    grads.append(bufs[slot])
                else:
                    grads.append(_buffers.empty(shape, dtype))
        gflat = [g.reshape(-1) for g in grads if g is not None]
        out = _buffers.empty(shape, dtype) if none else None

        kernel = self.kernel(weighted, none, return_grad, max(len(gflat), 1), sums_in_kernel, unit_check)
        checks = np.empty((_drivers.n_blocks(n), 4), np.float64) if sums_in_kernel or unit_check else _NO_CHECKS
        args = (
            flat[0],
            flat[1],
            flat[2] if self.nin == 3 else flat[0],
            flat[0] if w is None else w,
            inner,
            _options(dtype, params, scale),
            go_arr,
            out.reshape(-1) if none else unused,
            gflat[0] if gflat else unused,
            gflat[1] if len(gflat) > 1 else unused,
            np.empty(_drivers.n_blocks(n), np.float64),
            checks,
        )
        total = kernel.sized(n, *args)
        if unit_check:
            _unit_interval_errors([checks[:, 2].sum(), checks[:, 3].sum()], operands)
        if sums_in_kernel:
            sw = sw._replace(total=V.checked_weight_total(_drivers.ordered_sums(checks), w))
            denom = mean_denominator(denominator, n, None, sw)

        if none:
            loss = out
        elif not return_grad and _parts.wanted():
            return _parts.Parts(total, denom, shape[0] if shape else 1, _parts.reduced(reduction, dtype))
        else:
            loss = V.scalar_result(V.divide(total, denom) if reduction == "mean" else total, dtype)
        if not return_grad:
            return loss

        result = []
        for slot, (i, g) in enumerate(zip(grad_of, grads)):
            if g is not None:
                g = V.sum_to_shape(g, arrays[i].shape).reshape(grad_shapes[slot])
                if bufs and g is not bufs[slot]:
                    bufs[slot][...] = g
                    g = bufs[slot]
            result.append(g)
        return loss, (tuple(result) if len(grad_of) > 1 else result[0])

    def fast(self, x, y, reduction, params=(), *, third=None, weight=None, sample_weight=None,
             return_grad=False, grad_output=None, gradient_out=None, batch_mean=False):
        """The commonest call without the general path's argument handling, or ``None`` when
        this call is not one (the caller then takes the general path, which checks everything).

        It is: ndarrays ``x`` and ``y`` (and ``third``, the third operand of a three-operand
        element function, whose gradients are then those of ``x`` and ``y``) (exactly), of one
        shape and one native float32/float64 dtype, C-contiguous and aligned; reduction "mean"
        or "sum"; ``return_grad`` a bool; no
        weight, sample weight or ``gradient_out``; ``grad_output`` None or, with
        ``return_grad=True``, a Python float (rmse's chain rule); no gradient inside
        ``_parts.collecting()``; a serial size; for a ``unit_interval`` loss, both arrays in [0, 1]
        (no NaN; counted by the kernel: the general path raises); with ``batch_mean``, "mean" divides by the batch size
        (``x.shape[0]``, 1 for a 0-d input) instead of the element count. It then runs the general path's compiled
        kernel on 1-D views of the user's arrays (which the kernel does not write to), with the
        same numbers, through its entry point (``Kernel.serial``: no Numba type dispatch)."""
        if (type(x) is not np.ndarray or type(y) is not np.ndarray or type(reduction) is not str
                or weight is not None or sample_weight is not None or gradient_out is not None
                or (return_grad is not True and return_grad is not False)
                or grad_output is not None and (return_grad is False or type(grad_output) is not float)):
            return None
        dtype = x.dtype
        parts = _parts.wanted()
        if dtype not in FLOATS or y.dtype != dtype or x.shape != y.shape or parts and return_grad:
            return None
        fx, fy = x.flags, y.flags
        if not (fx.c_contiguous and fx.aligned and fy.c_contiguous and fy.aligned):
            return None
        if third is not None:
            if type(third) is not np.ndarray or third.dtype != dtype or third.shape != x.shape:
                return None
            fz = third.flags
            if not (fz.c_contiguous and fz.aligned):
                return None
        mean = reduction == "mean"
        if not mean and reduction != "sum":
            return None
        n = x.size
        if _threads.may_parallel(n):
            return None
        a = x if x.ndim == 1 else x.reshape(-1)
        b = y if y.ndim == 1 else y.reshape(-1)
        c = a if third is None else third.reshape(-1)
        batch = x.shape[0] if x.ndim else 1
        denom = batch if batch_mean else n
        ngrad = 2 if third is not None and return_grad else 1  # the general path's kernel flags
        scale, grads = 0.0, ()
        if return_grad:
            go = 1.0 if grad_output is None else grad_output
            scale = V.divide(go, denom) if mean else go
            if scale == 0.0:  # -0.0 and 0.0 are one key of the options cache
                return None
            grads = tuple(_buffers.empty(x.shape, dtype) for _ in range(ngrad))
        unused = _UNUSED[dtype]
        flat = [g.reshape(-1) for g in grads] + [unused] * (2 - len(grads))
        checks = np.empty((_drivers.n_blocks(n), 4), np.float64) if self.unit_interval else _NO_CHECKS
        total = self.kernel(0, False, return_grad, ngrad, False, self.unit_interval).serial(
            dtype, a, b, c, a, 1, _cached_options(dtype, params, scale), a, unused, flat[0], flat[1],
            np.empty(_drivers.n_blocks(n), np.float64), checks, read_only=_READ_ONLY)
        if self.unit_interval and checks[:, 2:].any():  # the general path raises
            return None
        if parts:
            return _parts.Parts(total, denom, batch, _parts.reduced(reduction, dtype))
        loss = dtype.type(V.divide(total, denom) if mean else total)
        if not return_grad:
            return loss
        return loss, (grads if third is not None else grads[0])


def _unit_interval_errors(counts, operands):
    """torch's error for the first operand with a value outside [0, 1] (NaN included);
    ``counts`` may be lazy (a later operand is then not counted once one is refused)."""
    for count, name in zip(counts, operands):
        if count:
            raise ValueError(f"{name}: all elements of {name} should be between 0 and 1")


def _kernel_weights(weight, sw, shape):
    """The driver's weight operand ``(w or None, inner, WEIGHTED)`` from the flat ``weight``
    (or None) and the :class:`V.SampleWeight` (or None). A sample weight constant over the
    trailing axes (one per sample, per row, or a scalar) is passed as is, with ``inner``
    elements per weight; any other broadcast, or a product with ``weight``, is a full copy."""
    if sw is None:
        return weight, 1, int(weight is not None)
    arr = sw.array
    if weight is not None:
        return V.flat_readonly(np.multiply(weight.reshape(shape), arr)), 1, 1
    k = len(shape)
    while k and arr.shape[k - 1] == 1:
        k -= 1
    if arr.shape[:k] != shape[:k]:
        return V.flat_readonly(arr, shape), 1, 1
    inner = math.prod(shape[k:])
    return V.flat_readonly(arr), inner, 1 if inner == 1 else 2


def mean_denominator(denominator, n, weight, sw):
    """What a "mean" divides the kernel's float64 total by, in float64: the sum over the ``n``
    elements of ``s * c``, with ``s`` the sample weight (1 without ``sw``) and ``c`` what
    torch's mean counts per element: 1 (``denominator`` None), the loss's ``weight``
    (``"weight"``; ``weight`` is then the driver's weights, already times ``s``), or
    ``denominator / n`` (a given count, such as kl_div's batch size)."""
    if denominator == "weight" and weight is not None:
        return float(np.add.reduce(weight, dtype=np.float64))
    if sw is None:
        return n if denominator in (None, "weight") else denominator
    if denominator in (None, "weight"):
        return sw.total * sw.repeat
    return sw.total * (sw.repeat * denominator / n) if n else 0.0


SAMPLE_WEIGHT_DOC = """
    sample_weight: (keyword-only) one weight per sample, a 1-D array of length ``N`` along
        axis 0 (a scalar for a 0-d input), or any shape that broadcasts to the ``"none"``
        output (per-element weights); finite and non-negative. ``"none"`` gives ``s * loss``,
        ``"sum"`` ``sum(s * loss)``, ``"mean"`` ``sum(s * loss) / sum(s * c)`` with ``c`` what
        the unweighted mean counts per element; gradients are those of the weighted formula.
"""


def grad_options(return_grad, grad_output, gradient_out):
    """The keyword arguments every loss passes through to :class:`Elementwise`."""
    return dict(return_grad=return_grad, grad_output=grad_output, gradient_out=gradient_out)
