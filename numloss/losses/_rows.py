"""Running a row loss: the gradient factor, the kernel call, the reduction and the shapes of what
is returned. Used by every loss whose terms are whole rows: the class-score losses
(``classification.py``) and the embedding losses (``embedding.py``). The mirror of
``_elementwise.py``; the kernels are in ``numloss/_kernels`` (driver ``_drivers.blocks``, the
row functions' contract in ``_kernels/_rowbase.py``).
"""
import functools
import math
from typing import NamedTuple

import numpy as np

from .. import _buffers, _parts, _threads
from .. import _validate as V
from .._kernels import _drivers
from .._kernels._compile import Kernel

BLOCK_ELEMENTS = 16384  # elements per reduction block (rows per block = this / row width)


def block_rows(width, min_rows=1):
    """Rows per reduction block: a function of the row width only, never of the thread count."""
    return max(min_rows, BLOCK_ELEMENTS // max(width, 1), 1)


_PLACEHOLDERS = {}


def placeholder(dtype, ndim, writeable=False):
    """An empty array of ``ndim`` dimensions for an operand a kernel call does not use (one per
    type, so every call hits the same compiled specialisation)."""
    key = (dtype, ndim, writeable)
    p = _PLACEHOLDERS.get(key)
    if p is None:
        p = _PLACEHOLDERS[key] = np.empty((0,) * ndim, dtype)
        p.flags.writeable = writeable
    return p


_ONE = {np.dtype(t): np.ones(1, t) for t in (np.float32, np.float64)}
for _a in _ONE.values():
    _a.flags.writeable = False


def grad_factor(reduction, denom, loss_shape, dtype, return_grad, grad_output):
    """``(factor array, stride, scale)``: the factor of row r's gradient is
    ``factor[r * stride] * scale`` -- ``grad_output`` per row for ``"none"``, else one scalar
    with the "mean" denominator folded in. Checks ``grad_output``."""
    if not return_grad:
        if grad_output is not None:
            raise ValueError("grad_output is only used with return_grad=True")
        return _ONE[dtype], 0, 0.0
    if reduction == "none":
        return V.grad_output(grad_output, loss_shape, dtype, reduced=False), 1, 1.0
    go = V.grad_output(grad_output, (), dtype, reduced=True)
    return _ONE[dtype], 0, (V.divide(go, denom) if reduction == "mean" else float(go))


class RowWeights(NamedTuple):
    """A checked per-sample ``sample_weight`` spread over the loss rows: ``rows`` (flat, one
    weight per row of the ``"none"`` output, read-only) and their float64 ``sum`` -- the "mean"
    denominator of a loss that counts 1 per row."""

    rows: np.ndarray
    sum: float


def row_weights(sample_weight, dtype, loss_shape):
    """``sample_weight`` (one weight per sample along axis 0 of ``loss_shape``, a scalar when it
    is ``()``) as :class:`RowWeights`, or None; a ValueError naming it when it is not that."""
    if sample_weight is None:
        return None
    sw = V.sample_weight(sample_weight, dtype, loss_shape, per_element=False)
    arr = sw.array.reshape(sw.array.shape[:len(loss_shape)])  # a scalar's array is (1,)
    return RowWeights(V.flat_readonly(arr, loss_shape), sw.total * sw.repeat)


def mean_count(weights, nrows):
    """What the "mean" of a loss counting 1 per row divides by: the sum of the row weights, or
    the number of rows (NaN for none)."""
    if weights is not None:
        return weights.sum
    return nrows if nrows else math.nan


def weigh(rows, weights):
    """``(rows * w, float64 sum of the products)`` for rows computed outside a kernel (NumPy)."""
    if weights is None:
        return rows, np.sum(rows, dtype=np.float64)
    with np.errstate(invalid="ignore"):  # 0 * inf is NaN, silently, as in the kernels
        prod = weights.rows.astype(np.float64) * rows.reshape(-1)
    return prod.astype(rows.dtype).reshape(rows.shape), np.sum(prod)


def weighted_factor(factor, stride, weights):
    """The gradient factor (see :func:`grad_factor`) of the rows weighted by ``weights`` (a
    :class:`RowWeights` or None): per row, ``w`` times ``grad_output``'s row for "none"."""
    if weights is None:
        return factor, stride
    return (weights.rows * factor if stride else weights.rows), 1


def reduce(loss_rows, total, reduction, denom, loss_shape, dtype):
    """The loss to return: the rows (``"none"``) or their float64 ``total`` (over ``denom``)."""
    if reduction == "none":
        return loss_rows.reshape(loss_shape)
    if _parts.wanted():
        return _parts.Parts(total, denom, loss_shape[0] if loss_shape else 1, _parts.reduced(reduction, dtype))
    return V.scalar_result(V.divide(total, denom) if reduction == "mean" else total, dtype)


def finish(loss, grads, full_shape, input_shapes, buffers, return_grad, written=()):
    """``loss``, or ``(loss, gradient)`` (a tuple of gradients for more than one input): each
    gradient, computed on ``full_shape``, summed back to its input's shape and copied into its
    ``gradient_out`` buffer -- unless ``written[i]`` says the kernel wrote it there."""
    if not return_grad:
        return loss
    result = []
    for i, (g, shape, buf) in enumerate(zip(grads, input_shapes, buffers)):
        if i < len(written) and written[i]:
            g = buf
        else:
            g = V.sum_to_shape(g.reshape(full_shape), shape)
            if buf is not None:
                buf[...] = g
                g = buf
        result.append(g)
    return loss, (tuple(result) if len(result) > 1 else result[0])


@functools.lru_cache(maxsize=256)
def _options_record(options_dtype, values):
    """A one-element options record of ``values`` for :meth:`Rows.serial` (cached; never written)."""
    record = np.empty(1, options_dtype)
    record[0] = values
    return record


class Rows:
    """The kernel of one row function (see ``_kernels/_rowbase.py``), built on first use.
    ``options``: the row function's options dtype; ``n_grads``: how many gradient arrays it
    takes (1 for the class-score kernels, 3 for the embedding ones); ``writes_loss``: whether
    the row function writes ``loss_rows`` (else it only writes gradients, and weights only scale
    them)."""

    def __init__(self, row, name, options, n_grads=1, writes_loss=True):
        self.kernels = [Kernel(_drivers.blocks, name, ROW=row, WEIGHTED=w) for w in (0, 1)]
        self.options = options
        self.n_grads = n_grads
        self.writes_loss = writes_loss

    def __call__(self, operands, *, options=(), reduction, denom, loss_shape, full_shape, input_shapes=None,
                 return_grad, grad_output=None, gradient_out=None, user_inputs=(), min_block_rows=1, work=None,
                 weights=None):
        """Evaluate the loss.

        ``operands``: the kernel's arrays in its order (read-only; placeholders where unused),
        the first one's gradient layout being the kernel's (``(N, C, D)`` scores or ``(R, D)``
        embeddings); its axis 1 is the row width. ``options``: the values of the row function's
        own options, in order. ``denom``: what "mean" divides by. ``loss_shape``: the loss
        rows' shape. ``input_shapes``: the shapes of the differentiable inputs (the gradients'
        order; default: one input of ``full_shape``), whose gradients the kernel computes on
        ``full_shape``. ``work``: the work units for ``_threads.threads_for`` (default: the first
        operand's size). ``weights``: :class:`RowWeights` or None (``denom`` is then already the
        weighted one).
        Returns the loss, or ``(loss, grad)`` (a tuple for more than one input).
        """
        first = operands[0]
        dtype = first.dtype
        nrows = math.prod(loss_shape)
        if input_shapes is None:
            input_shapes = (full_shape,)
        return_grad = V.want_grad(return_grad, grad_output, gradient_out)
        buffers = V.gradient_buffers(gradient_out, return_grad, input_shapes, dtype, user_inputs, grad_output)
        factor, stride, scale = grad_factor(reduction, denom, loss_shape, dtype, return_grad, grad_output)
        grads = []
        written = ()
        if return_grad:
            factor, stride = weighted_factor(factor, stride, weights)
            written = [buf is not None and shape == full_shape for buf, shape in zip(buffers, input_shapes)]
            for buf, direct in zip(buffers, written):
                grads.append(buf.reshape(first.shape) if direct else _buffers.empty(first.shape, dtype))
        if len(grads) < self.n_grads:
            grads += [placeholder(dtype, first.ndim, writeable=True)] * (self.n_grads - len(grads))
        rows_per_block = block_rows(first.shape[1] if first.ndim > 1 else 1, min_block_rows)
        partial = np.empty(-(-nrows // rows_per_block), np.float64)
        loss_rows = np.empty(nrows, dtype)
        opts = np.empty(1, self.options)
        opts[0] = (return_grad, stride, scale, *options)
        weighted = weights is not None and self.writes_loss
        total = self.kernels[weighted](
            _threads.threads_for(first.size if work is None else work), partial, rows_per_block, nrows,
            weights.rows if weighted else placeholder(dtype, 1), loss_rows if weighted else placeholder(dtype, 1, True),
            *operands, opts, factor, loss_rows, *grads,
        )
        loss = reduce(loss_rows, total, reduction, denom, loss_shape, dtype)
        return finish(loss, grads, full_shape, input_shapes, buffers, return_grad, written)

    def serial(self, key, operands, options, scale, grad=None):
        """The unweighted kernel, serially, through its entry point (``Kernel.serial``; ``key``
        names the operands' types; the operands are typed read-only, as in :meth:`__call__`):
        for a small call whose arguments the caller has checked.
        ``grad``: the (first) gradient buffer to write, every row's factor ``scale``; None for
        the forward. Returns ``(float64 total, loss rows)``."""
        first = operands[0]
        dtype = first.dtype
        nrows = first.shape[0]
        rows_per_block = block_rows(first.shape[1])
        opts = _options_record(self.options, (grad is not None, 0, scale, *options))
        spare = placeholder(dtype, first.ndim, writeable=True)
        grads = [spare if grad is None else grad] + [spare] * (self.n_grads - 1)
        loss_rows = np.empty(nrows, dtype)
        total = self.kernels[0].serial(
            key, np.empty(-(-nrows // rows_per_block), np.float64), rows_per_block, nrows, placeholder(dtype, 1),
            placeholder(dtype, 1, True), *operands, opts, _ONE[dtype], loss_rows, *grads,
            read_only=range(5, 5 + len(operands)),
        )
        return total, loss_rows
