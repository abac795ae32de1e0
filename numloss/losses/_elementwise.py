"""Running an elementwise loss: broadcasting, the fused kernel call, the reduction and the
shape of what is returned. Used by every loss whose value is a reduction of per-element terms."""
import numpy as np

from .. import _buffers, _parts, _threads
from .. import _validate as V
from .._kernels import _drivers
from .._kernels._compile import Kernel


# Writeable, empty placeholders for the outputs a kernel's flags skip (never written to).
_UNUSED = {np.dtype(t): np.empty(0, t) for t in (np.float32, np.float64)}


class Elementwise:
    """The kernels of one element function (see ``_kernels/elementwise.py``), one per
    combination of flags, built on first use."""

    def __init__(self, elem, nin=2):
        self.elem = elem
        self.nin = nin
        self._kernels = {}

    def kernel(self, weighted, none, grad, ngrad):
        key = (weighted, none, grad, ngrad)
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
            )
        return kernel

    def __call__(
        self,
        operands,
        dtype,
        *,
        reduction,
        weight=None,
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
        broadcast together (and with ``weight``). ``params``: up to three options.
        ``denominator``: what "mean" divides by: the element count (``None``), the sum of the
        weights (``"weight"``) or a given number.
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
        w = flat[len(operands)] if weight is not None else flat[0]
        if denominator == "weight":
            denom = float(np.add.reduce(w, dtype=np.float64)) if weight is not None else n
        else:
            denom = n if denominator is None else denominator

        unused = _UNUSED[dtype]
        go_arr, scale, grads, bufs = flat[0], 0.0, [], ()
        if not return_grad:
            if grad_output is not None:
                raise ValueError("grad_output is only used with return_grad=True")
            if gradient_out is not None:
                raise ValueError("gradient_out is only used with return_grad=True")
        else:
            if grad_shapes is None:
                grad_shapes = [arrays[i].shape if i is not None else None for i in grad_of]
            if gradient_out is not None:
                given = gradient_out if len(grad_of) > 1 else (gradient_out,)
                bufs = V.gradient_buffers(given, return_grad, grad_shapes, dtype, user_inputs)
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

        kernel = self.kernel(weight is not None, none, return_grad, max(len(gflat), 1))
        total = kernel(
            _threads.threads_for(n),
            flat[0],
            flat[1],
            flat[2] if self.nin == 3 else flat[0],
            w,
            np.array((*params, 0.0, 0.0, 0.0)[:3] + (scale,), dtype),
            go_arr,
            out.reshape(-1) if none else unused,
            gflat[0] if gflat else unused,
            gflat[1] if len(gflat) > 1 else unused,
            np.empty(_drivers.n_blocks(n), np.float64),
        )

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


def grad_options(return_grad, grad_output, gradient_out):
    """The keyword arguments every loss passes through to :class:`Elementwise`."""
    return dict(return_grad=return_grad, grad_output=grad_output, gradient_out=gradient_out)
