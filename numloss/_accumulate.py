"""``numloss.Accumulator``: a loss or metric over data that arrives in batches.

Each batch is one call of the function inside :func:`numloss._parts.collecting`, which returns
the call's float64 numerator and denominator (:class:`numloss._parts.Parts`); the accumulator
adds them with compensated (Neumaier) summation and forms the ratio once, in ``result()``.
"""
import functools
import inspect
import math

import numpy as np

from . import _parts

# Arguments that belong to one call, never to the accumulated function.
_PER_CALL = ("return_grad", "grad_output", "gradient_out", "sample_weight")


def resolve(fn):
    """``(name, function)`` of a numloss loss or ``numloss.metrics`` function, given as the
    function or its name (``"mse_loss"``, ``"metrics.log_loss"``)."""
    functions = _functions()
    if isinstance(fn, str):
        if fn not in functions:
            raise ValueError(
                f"fn must be a numloss loss or metric, got {fn!r}; valid names: {', '.join(sorted(functions))}"
            )
        return fn, functions[fn]
    for name, f in functions.items():
        if f is fn:
            return name, f
    raise TypeError(f"fn must be a numloss loss or numloss.metrics function (or its name), got {fn!r}")


@functools.cache
def _functions():
    """``{name: function}`` of every loss and metric, built once (the metrics import on first use)."""
    from . import functional, metrics

    out = {name: getattr(functional, name) for name in functional.__all__}
    out.update({f"metrics.{name}": getattr(metrics, name) for name in metrics.__all__})
    return out


# Metrics whose classes come from the data: an Accumulator without ``labels=`` fixes them from
# its first batch (a later batch with another label is then the metric's own ValueError).
_LABELS_FROM_DATA = ("metrics.log_loss", "metrics.hinge_loss")


def batch_axis(name, position):
    """The batch axis of ``name``'s input at ``position``: ctc's log_probs are (T, N, C)."""
    return 1 if (name == "ctc_loss" and position == 0) else 0


def _neumaier(s, c, x):
    """Add ``x`` to the compensated sum ``s + c``; inf and NaN pass through ``s`` alone. Python
    floats for a one-output state (the common case, a few hundred ns), else float64 arrays."""
    t = s + x
    if type(t) is float:
        if not math.isfinite(t):
            return t, c
        return t, c + ((s - t) + x if abs(s) >= abs(x) else (x - t) + s)
    with np.errstate(invalid="ignore", over="ignore"):
        corr = np.where(np.abs(s) >= np.abs(x), (s - t) + x, (x - t) + s)
        corr = np.where(np.isfinite(t), corr, 0.0)
    return t, c + corr


def _same(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        numeric = a.dtype.kind in "fc" and b.dtype.kind in "fc"
        return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=numeric))
    return a == b


class Accumulator:
    """A numloss loss or ``numloss.metrics`` function over batches.

    ``fn``: a loss (the function or its name, e.g. ``"cross_entropy"``) with reduction
    ``"mean"``, ``"sum"`` or ``"batchmean"``, or a metric (``numloss.metrics.log_loss`` or
    ``"metrics.log_loss"``); ``options``: its keyword arguments. ``update(*inputs,
    sample_weight=None)`` folds in one batch, ``merge(other)`` another accumulator of the same
    function and options; ``result()`` is what one call of ``fn`` on all batches concatenated
    along the batch axis returns. The state is a few float64 numbers (one per output for a
    multi-output metric), summed with compensation, so the result does not depend on how the
    data was split or merged (to about 1e-15 relative in float64).

    Example::

        acc = numloss.Accumulator(numloss.cross_entropy, label_smoothing=0.1)
        for logits, labels in batches:
            acc.update(logits, labels)
        acc.result(), acc.count
    """

    def __init__(self, fn, **options):
        self.name, self.fn = resolve(fn)
        sig = inspect.signature(self.fn)
        for key in options:
            if key in _PER_CALL:
                raise ValueError(f"{key} is not an option of an Accumulator ({self.name}): pass sample_weight to update()")
            p = sig.parameters.get(key)
            if p is None or p.kind in (p.POSITIONAL_ONLY, p.VAR_POSITIONAL):
                raise TypeError(f"{self.name} has no option {key!r}")
        red = sig.parameters.get("reduction")
        if red is not None and not self.name.startswith("metrics."):
            reduction = options.get("reduction", red.default)
            if reduction == "none":
                raise ValueError("an Accumulator needs a reduced loss: reduction must be 'mean', 'sum' or 'batchmean', got 'none'")
        self.options = dict(options)
        self._fixed = {}
        self.reset()

    def reset(self):
        """Forget every batch (and the options the data fixed); returns self."""
        self._total = (0.0, 0.0)
        self._denom = (0.0, 0.0)
        self._finish = None
        self._fixed = {}
        self.count = 0
        return self

    def update(self, *inputs, sample_weight=None):
        """Fold in one batch: ``inputs`` are ``fn``'s positional inputs. Returns self."""
        fixed = self._fixed
        if self.name in _LABELS_FROM_DATA and "labels" not in self.options and not fixed and inputs:
            fixed = {"labels": np.unique(np.asarray(inputs[0]))}
        kwargs = {**self.options, **fixed}
        if sample_weight is not None:
            kwargs["sample_weight"] = sample_weight
        with _parts.collecting():
            parts = self.fn(*inputs, **kwargs)
        if not isinstance(parts, _parts.Parts):  # a path that cannot be split into parts
            raise TypeError(f"{self.name} with these options cannot be accumulated")
        self._add(parts.total, parts.denom, parts.count, parts.finish)
        self._fixed = fixed
        return self

    def _add(self, total, denom, count, finish):
        total = float(total) if np.ndim(total) == 0 else np.asarray(total, np.float64)
        if self._finish is not None and np.shape(total) != np.shape(self._total[0]):
            raise ValueError(f"{self.name}: a batch has {np.size(total)} outputs, earlier ones {np.size(self._total[0])}")
        self._total = _neumaier(*self._total, total)
        self._denom = _neumaier(*self._denom, float(denom))
        self.count += int(count)
        if self._finish is None:
            self._finish = finish

    def merge(self, other):
        """Fold in ``other`` (the same function and options, e.g. from another process). Returns self."""
        if not isinstance(other, Accumulator):
            raise TypeError(f"other must be an Accumulator, got {type(other).__name__}")
        if other.name != self.name or other.options.keys() != self.options.keys() or not all(
            _same(self.options[k], other.options[k]) for k in self.options
        ):
            raise ValueError(f"cannot merge an Accumulator of {other.name} {other.options} into one of {self.name} {self.options}")
        if self._fixed and other._fixed and not all(
            k in other._fixed and _same(v, other._fixed[k]) for k, v in self._fixed.items()
        ):
            raise ValueError(f"cannot merge accumulators whose data fixed different options: {self._fixed} and {other._fixed}")
        if other._finish is not None:
            self._add(other._total[0], other._denom[0], other.count, other._finish)
            self._total = _neumaier(*self._total, other._total[1])
            self._denom = _neumaier(*self._denom, other._denom[1])
            self._fixed = self._fixed or dict(other._fixed)
        return self

    def result(self):
        """What one call of ``fn`` on every batch so far returns."""
        if self._finish is None:
            return self._empty()
        total = self._total[0] + self._total[1]
        denom = float(self._denom[0] + self._denom[1])
        return self._finish(total if np.ndim(total) else float(total), denom)

    def _empty(self):
        if self.name.startswith("metrics."):
            empty = np.empty(0)
            return self.fn(empty, empty, **self.options)  # the metric's own error for no samples
        reduction = self.options.get("reduction", inspect.signature(self.fn).parameters["reduction"].default)
        return np.float64(0.0 if reduction == "sum" else math.nan)

    def __getstate__(self):
        state = dict(self.__dict__)
        del state["fn"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.fn = resolve(self.name)[1]

    def __repr__(self):
        opts = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"Accumulator({self.name}{opts}; count={self.count})"
