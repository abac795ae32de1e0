"""Thread count (issue 18 "Thread count", issue 17 item 9): numloss follows Numba's thread count of
the calling thread until ``numloss.set_num_threads`` is called, its own setting after that, and a
parallel call never leaves Numba's thread count of the calling thread changed."""
import threading

import numba
import numpy as np
import pytest

import numloss
from numloss import _threads

BIG = (300, 1000)  # 3e5 elements: above numloss's parallel threshold

needs_two = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads to tell counts apart")


@pytest.fixture
def fresh(threads, monkeypatch):
    """numloss as after import (following Numba), with Numba's count of this thread restored after."""
    before = numba.get_num_threads()
    monkeypatch.setattr(_threads, "_num_threads", None)
    yield
    numba.set_num_threads(before)


@pytest.fixture
def used(monkeypatch):
    """The thread counts handed to kernels: Numba's parallel calls and the CTC extension."""
    seen = []
    parallel_call, for_openmp = _threads.parallel_call, _threads.threads_for_openmp

    def spy_parallel(n):
        seen.append(n)
        return parallel_call(n)

    def spy_openmp(work):
        seen.append(for_openmp(work))
        return seen[-1]

    monkeypatch.setattr(_threads, "parallel_call", spy_parallel)
    monkeypatch.setattr(_threads, "threads_for_openmp", spy_openmp)
    return seen


def _ctc_large(rng):
    T, N, C, S = 200, 64, 20, 40  # work above the parallel threshold
    lp = rng.standard_normal((T, N, C)).astype(np.float32)
    lp -= np.log(np.exp(lp).sum(-1, keepdims=True))
    targets = rng.integers(1, C, (N, S))
    return lp, targets, np.full(N, T), np.full(N, S)


@needs_two
def test_follows_numba_until_set(fresh, used):
    x = np.ones(BIG)
    assert numloss.get_num_threads() == numba.get_num_threads() == 2
    numloss.mse_loss(x, 2 * x)
    assert used == [2]
    numba.set_num_threads(1)  # code that limits Numba limits numloss
    assert numloss.get_num_threads() == 1
    numloss.mse_loss(x, 2 * x, return_grad=True)
    assert used == [2, 1]  # the parallel kernel with one thread (the same bits as with two)
    assert numba.get_num_threads() == 1


@needs_two
def test_ctc_follows_numba_until_set(fresh, used, rng):
    args = _ctc_large(rng)
    numloss.ctc_loss(*args)
    numba.set_num_threads(1)
    numloss.ctc_loss(*args, return_grad=True)
    assert used == [2, 1]
    numloss.set_num_threads(2)
    numloss.ctc_loss(*args)
    assert used == [2, 1, 2]


@needs_two
def test_follows_numba_per_python_thread(fresh, used):
    """Numba's count is thread-local: a thread that limits Numba is limited, the others are not."""
    x = np.ones(BIG)
    reported = []

    def work():
        numba.set_num_threads(1)
        reported.append(numloss.get_num_threads())
        numloss.mse_loss(x, x)

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert reported == [1] and used == [1]
    assert numloss.get_num_threads() == 2
    numloss.mse_loss(x, x)
    assert used == [1, 2]


@needs_two
def test_own_setting_governs_after_set(fresh, used):
    numba.set_num_threads(1)
    numloss.set_num_threads(2)
    assert numloss.get_num_threads() == 2
    numloss.mse_loss(np.ones(BIG), np.zeros(BIG), return_grad=True)
    assert used == [2]
    numloss.set_num_threads(1)
    numba.set_num_threads(2)
    assert numloss.get_num_threads() == 1
    numloss.mse_loss(np.ones(BIG), np.zeros(BIG))
    assert used == [2, 1]


@needs_two
@pytest.mark.parametrize("own", [None, 2], ids=["following", "set"])
def test_parallel_call_leaves_numba_count_unchanged(fresh, own):
    """Issue 17 item 9: numba.set_num_threads(1), a large mse_loss, numba.get_num_threads() is still 1
    (in every thread, whichever setting governs numloss)."""
    if own is not None:
        numloss.set_num_threads(own)
    x = np.ones(BIG)
    seen = []

    def work():
        numba.set_num_threads(1)
        numloss.mse_loss(x, 2 * x, return_grad=True)
        seen.append(numba.get_num_threads())

    work()
    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert seen == [1, 1]


@needs_two
def test_numba_count_restored_when_kernel_raises(fresh, monkeypatch):
    numloss.set_num_threads(2)
    numba.set_num_threads(1)
    with pytest.raises(RuntimeError, match="boom"):
        with _threads.parallel_call(2):
            assert numba.get_num_threads() == 2
            raise RuntimeError("boom")
    assert numba.get_num_threads() == 1
