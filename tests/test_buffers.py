"""Recycled output memory (numloss/_buffers.py): large gradients reuse the memory of dropped ones,
never memory still reachable from a live array or view, within the cache limit, from any thread."""
import gc
import threading

import numpy as np
import pytest

import numloss
from numloss import _buffers

N = 1 << 19  # float32 elements: a 2 MiB gradient, above MIN_BYTES


@pytest.fixture
def cache():
    """A clean cache with the default limit, restored afterwards. The kernels the tests call are
    compiled first: the call that compiles a kernel keeps its outputs referenced until the next
    garbage collection (seen with a cold compile cache), so its memory returns late."""
    x, y = inputs(0)
    numloss.mse_loss(x, y, return_grad=True)
    numloss.l1_loss(x, y, reduction="none")
    numloss.cross_entropy(x.reshape(512, 1024), np.zeros(512, np.int64), return_grad=True)
    gc.collect()
    limit = numloss.get_buffer_cache_limit()
    numloss.set_buffer_cache_limit(0)
    numloss.set_buffer_cache_limit(256 << 20)
    yield
    numloss.set_buffer_cache_limit(0)
    numloss.set_buffer_cache_limit(limit)


def lent(a):
    """Whether ``a``'s memory is a block lent by numloss's cache."""
    while isinstance(a, np.ndarray):
        a = a.base
    return isinstance(a, _buffers._Lease)


def inputs(seed, n=N, dtype=np.float32):
    r = np.random.default_rng(seed)
    return r.standard_normal(n).astype(dtype), r.standard_normal(n).astype(dtype)


def test_dropped_gradient_memory_is_reused(cache):
    x, y = inputs(0)
    _, g = numloss.mse_loss(x, y, return_grad=True)
    address = g.ctypes.data
    del g
    assert _buffers.cached_bytes() == 4 * N
    _, g2 = numloss.mse_loss(x, y, reduction="sum", return_grad=True)
    assert g2.ctypes.data == address and lent(g2)
    np.testing.assert_array_equal(g2, 2 * (x - y))
    assert g2.flags.c_contiguous and g2.flags.writeable and g2.dtype == np.float32 and g2.shape == x.shape


def test_memory_of_a_live_view_is_not_reused(cache):
    x, y = inputs(1)
    _, g = numloss.mse_loss(x, y, reduction="sum", return_grad=True)
    view = g[::2]
    kept = view.copy()
    del g
    assert _buffers.cached_bytes() == 0
    _, g2 = numloss.mse_loss(y, x, reduction="sum", return_grad=True)
    assert not np.shares_memory(g2, view)
    np.testing.assert_array_equal(view, kept)
    del view
    assert _buffers.cached_bytes() == 4 * N


def test_small_outputs_are_plain_arrays(cache):
    x, y = inputs(2, n=1000)
    _, g = numloss.mse_loss(x, y, return_grad=True)
    assert not lent(g)
    del g
    assert _buffers.cached_bytes() == 0


def test_limit_bounds_the_cache(cache):
    numloss.set_buffer_cache_limit(3 * 4 * N)
    grads = [numloss.mse_loss(*inputs(k), return_grad=True)[1] for k in range(5)]
    del grads
    assert _buffers.cached_bytes() == 3 * 4 * N
    numloss.set_buffer_cache_limit(4 * N - 1)  # below one block: everything is freed
    assert _buffers.cached_bytes() == 0
    _, g = numloss.mse_loss(*inputs(0), return_grad=True)
    assert not lent(g)  # larger than the limit: not lent
    numloss.set_buffer_cache_limit(0)
    _, g = numloss.mse_loss(*inputs(0), return_grad=True)
    del g
    assert _buffers.cached_bytes() == 0


def test_limit_validates():
    with pytest.raises(ValueError, match="nbytes"):
        numloss.set_buffer_cache_limit(-1)
    with pytest.raises(TypeError, match="nbytes"):
        numloss.set_buffer_cache_limit(1.5)


def test_reduction_none_output_and_class_score_gradient_are_recycled(cache):
    x, y = inputs(3)
    out = numloss.l1_loss(x, y, reduction="none")
    np.testing.assert_array_equal(out, np.abs(x - y))
    address = out.ctypes.data
    del out
    logits = x.reshape(512, 1024)
    t = np.arange(512) % 1024
    _, g = numloss.cross_entropy(logits, t, return_grad=True)
    assert g.ctypes.data == address
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(512), t] -= 1
    np.testing.assert_allclose(g, p / 512, rtol=1e-4, atol=1e-9)


def test_threads_never_share_a_block(cache):
    """Eight threads compute and drop gradients of the same size at once; each result must be
    its own (a block lent twice would mix two threads' gradients)."""
    cases = [inputs(10 + k) for k in range(8)]
    expected = [2 * (x - y) for x, y in cases]
    errors = []
    barrier = threading.Barrier(8)

    def work(k):
        x, y = cases[k]
        barrier.wait()
        for _ in range(20):
            _, g = numloss.mse_loss(x, y, reduction="sum", return_grad=True)
            if not np.array_equal(g, expected[k]):
                errors.append(k)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    # each thread holds at most two blocks at once (its last gradient while the next is made)
    assert _buffers.cached_bytes() <= 16 * 4 * N
