"""Type-preserving scalar helpers for kernel code.

Numba types ``float32 * 0.5`` as float64 (a Python float literal is float64), which would make
every float32 kernel compute in float64 and halve its vector width. Element functions therefore
write constants as ``like(x, 0.5)``: the constant in ``x``'s own type, folded at compile time.
"""
import numpy as np
from numba import types
from numba.extending import overload


def like(x, c):
    """``c`` converted to the type of ``x`` -- or of ``x``'s elements when ``x`` is an array
    (pure-Python fallback for interpreted use)."""
    return np.asarray(x).dtype.type(c)


@overload(like, inline="always")
def _like_overload(x, c):
    if isinstance(x, types.Array):
        x = x.dtype
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return lambda x, c: np.float32(c)
    return lambda x, c: np.float64(c)
