"""One pass over sample weights: how many are not finite and >= 0, and their float64 sum (per
block of ``BLOCK``, the partials summed in order: the same bits whatever the thread count)."""
import numpy as np

from ._compile import cached_njit
from ._drivers import BLOCK, block_sum

PRANGE = range  # bound by Kernel


@cached_njit(error_model="numpy")
def count_bad(v):
    """Entries of ``v`` that are NaN, infinite or negative (no early exit: the loop vectorises)."""
    bad = 0
    for i in range(v.size):
        x = v[i]
        bad += np.int64(not (x >= 0 and x < np.inf))
    return bad


def stats(w, partial):
    """``(count_bad(w), float64 sum of w)``; ``partial`` has one slot per block."""
    n = w.size
    bad = 0
    for k in PRANGE(partial.size):
        lo = k * BLOCK
        v = w[lo:min(lo + BLOCK, n)]
        bad += count_bad(v)
        partial[k] = block_sum(v)
    total = 0.0
    for k in range(partial.size):
        total += partial[k]
    return bad, total
