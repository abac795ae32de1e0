"""The parts of a reduced result: the float64 numerator and denominator a loss or metric has just
before it divides and rounds to the result dtype, and how to finish them.

Streaming evaluation (``Accumulator``, ``numloss.dask``) adds the parts of many batches and
finishes once, so every ratio of sums (a weighted mean, cross-entropy's class-weighted
denominator, CTC's per-length mean, RMSE's root) is formed only at the end. A call made inside
:func:`collecting` returns :class:`Parts` instead of its reduced value; nothing else changes.
"""
import contextvars
import math
from contextlib import contextmanager
from functools import partial
from typing import Callable, NamedTuple

import numpy as np

from ._validate import divide

_WANTED = contextvars.ContextVar("numloss_parts", default=False)


class Parts(NamedTuple):
    total: object  # float64 numerator: a float, or an ndarray (one per output of a metric)
    denom: float  # what a mean divides by (ignored by a sum)
    count: int  # samples in the batch
    finish: Callable  # finish(total, denom) -> the function's result; picklable


def wanted():
    """True inside :func:`collecting`: the caller wants :class:`Parts`, not the reduced value."""
    return _WANTED.get()


@contextmanager
def collecting():
    token = _WANTED.set(True)
    try:
        yield
    finally:
        _WANTED.reset(token)


def _reduced(mean, dtype, total, denom):
    return np.dtype(dtype).type(divide(total, denom) if mean else total)


def _nan_if_no_denominator(mean, dtype, total, denom):
    if mean and denom == 0:
        return np.dtype(dtype).type(math.nan)
    return _reduced(mean, dtype, total, denom)


def _root(inner, total, denom):
    value = inner(total, denom)
    return type(value)(math.sqrt(value))


def reduced(reduction, dtype, *, nan_if_no_denominator=False):
    """The finish of a loss reduced by ``reduction``: ``total / denom`` ("mean", "batchmean") or
    ``total`` ("sum"), as a scalar of ``dtype``; optionally NaN for a mean over a zero
    denominator whatever the total (cross-entropy, as torch)."""
    f = _nan_if_no_denominator if nan_if_no_denominator else _reduced
    return partial(f, reduction != "sum", np.dtype(dtype))


def root(finish):
    """The square root of what ``finish`` gives (RMSE from MSE's parts)."""
    return partial(_root, finish)
