"""The one place numloss decides how many threads a kernel call uses, and whether it may run in
parallel at all.

* Until ``set_num_threads(n)`` is called, a call uses Numba's thread count of the calling thread
  (``numba.get_num_threads()``: ``numba.set_num_threads`` or ``NUMBA_NUM_THREADS``), so code
  that limits Numba limits numloss. After it, ``n`` is process-wide state: Numba's thread mask
  is thread-local, so ``n`` is applied in the calling thread for the duration of each parallel
  call (``parallel_call``) and restored after it; the same number goes to the CTC extension.
* Numba's ``workqueue`` threading layer aborts the process when two Python threads enter a
  parallel region at once: parallel calls are serialised by a lock until the layer is known
  to be thread-safe (``omp`` or ``tbb``).
* GNU OpenMP does not survive ``fork()``: a child of a process that already ran an OpenMP
  parallel region is killed (Numba's ``omp`` layer) or hangs (the CTC extension). After a
  fork, a child whose parent ran any parallel region computes everything serially.
* Small inputs run serially: a parallel launch costs more than it saves below
  ``PARALLEL_MIN_WORK`` units of work.
"""
import os
import threading
from contextlib import contextmanager

import numba

PARALLEL_MIN_WORK = 1 << 16

_max_threads = numba.config.NUMBA_NUM_THREADS
_num_threads = None  # None: follow numba.get_num_threads() of the calling thread
_lock = threading.Lock()
_layer_is_threadsafe = False
_parallel_used = False
_forked_after_parallel = False


def set_num_threads(n):
    """Set the number of threads numloss kernels (Numba and CTC) use, in every Python thread.

    ``n`` must be an integer in ``[1, numba.config.NUMBA_NUM_THREADS]``.
    """
    global _num_threads
    if isinstance(n, bool) or not isinstance(n, (int,)) and not hasattr(n, "__index__"):
        raise TypeError(f"n must be an integer, got {type(n).__name__}")
    n = int(n.__index__())
    if not 1 <= n <= _max_threads:
        raise ValueError(f"n must be in [1, {_max_threads}] (NUMBA_NUM_THREADS), got {n}")
    _num_threads = n


def get_num_threads():
    """The number of threads the next numloss call in this thread uses for a large input: the
    value given to :func:`set_num_threads`, or Numba's thread count in this thread before that."""
    return numba.get_num_threads() if _num_threads is None else _num_threads


def may_parallel(work):
    """Whether a call with ``work`` units of work runs its parallel code (large enough, and not
    in a child forked after a parallel region)."""
    return not _forked_after_parallel and work >= PARALLEL_MIN_WORK


def threads_for(work):
    """How many threads a call with ``work`` units of work should use (1 means serial)."""
    return get_num_threads() if may_parallel(work) else 1


def _after_fork_in_child():
    global _forked_after_parallel, _lock
    _lock = threading.Lock()
    if _parallel_used:
        _forked_after_parallel = True


os.register_at_fork(after_in_child=_after_fork_in_child)


def threading_layer():
    """Numba's threading layer, or ``None`` before the first parallel call."""
    try:
        return numba.threading_layer()
    except ValueError:
        return None


@contextmanager
def parallel_call(n_threads):
    """Context for one parallel kernel call with ``n_threads`` threads in the calling thread;
    Numba's thread count of the calling thread is restored on exit."""
    global _parallel_used, _layer_is_threadsafe
    before = numba.get_num_threads()
    numba.set_num_threads(n_threads)
    try:
        if _layer_is_threadsafe:
            _parallel_used = True
            yield
            return
        with _lock:
            _parallel_used = True
            yield
            _layer_is_threadsafe = threading_layer() in ("omp", "tbb")
    finally:
        numba.set_num_threads(before)


@contextmanager
def parallel_at_every_size(n):
    """Calls inside use ``n`` threads whatever their size (``numloss compile`` compiles the
    parallel kernels on small inputs this way). Process-wide: for the command line only."""
    global PARALLEL_MIN_WORK, _num_threads
    saved = PARALLEL_MIN_WORK, _num_threads
    PARALLEL_MIN_WORK, _num_threads = 0, n
    try:
        yield
    finally:
        PARALLEL_MIN_WORK, _num_threads = saved


def threads_for_openmp(work):
    """Thread count for a call into the OpenMP-parallel CTC extension; a parallel call marks the
    process, so that children it forks later stay serial."""
    global _parallel_used
    n = threads_for(work)
    if n > 1:
        _parallel_used = True
    return n
