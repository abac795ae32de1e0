"""One pass over sample weights: their float64 sum and the float64 sum of their negative entries
(per block of ``BLOCK``, the partials summed in order: the same bits whatever the thread count).
The weights are finite and non-negative when the first is finite and the second is 0."""
from ._compile import cached_njit
from ._drivers import BLOCK

PRANGE = range  # bound by Kernel


@cached_njit(fastmath={"reassoc"}, error_model="numpy")
def block_stats(v):
    """float64 sums of ``v`` and of its negative entries. NaN and +inf make the first NaN or
    inf; a negative entry (-inf included) makes the second nonzero. ``reassoc`` vectorises it."""
    total = 0.0
    negative = 0.0
    for i in range(v.size):
        x = v[i]
        total += x
        negative += x if x < 0 else 0.0
    return total, negative


def stats(w, partial):
    """``(sum of w, sum of its negative entries)``; ``partial`` has shape (blocks, 2)."""
    n = w.size
    for k in PRANGE(partial.shape[0]):
        lo = k * BLOCK
        partial[k, 0], partial[k, 1] = block_stats(w[lo:min(lo + BLOCK, n)])
    total = 0.0
    negative = 0.0
    for k in range(partial.shape[0]):
        total += partial[k, 0]
        negative += partial[k, 1]
    return total, negative
