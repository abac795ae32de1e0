"""Recycled memory for large outputs (gradients, ``reduction="none"`` losses).

A new multi-megabyte array is mapped page by page on its first write, and the page faults can
cost more than the kernel that fills it (the README has a measurement: on a VM
with transparent huge pages a fresh 40 MB array costs several times a write to a mapped one). A loop that
computes a loss and its gradient, uses the gradient and drops it, would pay that on every call.

So every output of at least ``MIN_BYTES`` is carved from a block of memory numloss lends it. The
array handed out is an ordinary, writeable, C-contiguous NumPy array whose ``base`` is a small
lease object; NumPy keeps that lease alive for as long as the array or any view of it exists.
When the lease dies its block goes back to a cache, and the next output of the same size in
bytes reuses it, already mapped. At most ``get_buffer_cache_limit()`` bytes wait in the cache
(the oldest blocks are freed beyond that); ``set_buffer_cache_limit(0)`` turns recycling off.
The one call that compiles a kernel keeps its outputs referenced (through Numba's compiler) until
the next garbage collection, so their memory comes back late; later calls return it at once.
"""
import math
import os
import threading

import numpy as np

MIN_BYTES = 1 << 20

_limit = 256 << 20
_free = []  # idle blocks (uint8 arrays), oldest first
_free_bytes = 0
_lock = threading.RLock()  # reentrant: a lease can die (and give back) in a GC pass inside the lock


def set_buffer_cache_limit(nbytes):
    """Keep at most ``nbytes`` of idle output memory for reuse (default 256 MiB; 0 disables
    recycling and frees what is kept)."""
    global _limit
    if isinstance(nbytes, bool) or not hasattr(nbytes, "__index__"):
        raise TypeError(f"nbytes must be an integer, got {type(nbytes).__name__}")
    nbytes = int(nbytes.__index__())
    if nbytes < 0:
        raise ValueError(f"nbytes must be >= 0, got {nbytes}")
    with _lock:
        _limit = nbytes
        _trim()


def get_buffer_cache_limit():
    """The most idle output memory numloss keeps for reuse, in bytes."""
    return _limit


def cached_bytes():
    """Idle output memory kept for reuse right now, in bytes."""
    return _free_bytes


class _Lease:
    """The owner of one lent block: the ``base`` of the array made from it. Gives the block back
    to the cache when the last array using it is gone."""

    __slots__ = ("block", "__array_interface__")

    def __init__(self, block, shape, dtype):
        self.block = block
        self.__array_interface__ = {
            "version": 3,
            "shape": shape,
            "typestr": dtype.str,
            "data": (block.ctypes.data, False),
        }

    def __del__(self):
        try:
            _give_back(self.block)
        except Exception:  # interpreter shutdown: the module may already be torn down
            pass


def empty(shape, dtype):
    """An uninitialised C-contiguous array, like ``np.empty``; large ones reuse recycled memory."""
    dtype = np.dtype(dtype)
    shape = tuple(int(s) for s in shape)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < MIN_BYTES or nbytes > _limit:
        return np.empty(shape, dtype)
    block = _take(nbytes)
    if block is None:
        block = np.empty(nbytes, np.uint8)
    return np.asarray(_Lease(block, shape, dtype))


def _take(nbytes):
    global _free_bytes
    with _lock:
        for i in range(len(_free) - 1, -1, -1):
            if _free[i].size == nbytes:
                _free_bytes -= nbytes
                return _free.pop(i)
    return None


def _give_back(block):
    global _free_bytes
    with _lock:
        if block.size > _limit:
            return
        _free.append(block)
        _free_bytes += block.size
        _trim()


def _trim():
    global _free_bytes
    while _free_bytes > _limit:
        _free_bytes -= _free.pop(0).size


def _after_fork_in_child():
    global _lock
    _lock = threading.RLock()


os.register_at_fork(after_in_child=_after_fork_in_child)
