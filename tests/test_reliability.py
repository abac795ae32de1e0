"""Threads, fork, the compile cache and bad input: nothing may crash, hang or give a wrong number."""
import json
import math
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import numloss
from numloss._registry import CASES

HERE = pathlib.Path(__file__).parent
BIG = (300, 1000)  # 3e5 elements: above numloss's parallel threshold


def _run_py(code, env=None, timeout=300, cwd=HERE.parent.parent):
    """Run ``code`` in a fresh interpreter (from a directory without a numloss source tree)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, cwd=cwd)


# --- bad input, in a subprocess -------------------------------------------------------------

@pytest.fixture(scope="module")
def bad_input_results():
    proc = subprocess.run([sys.executable, str(HERE / "_bad_inputs.py")], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"the bad-input run crashed (code {proc.returncode}): {proc.stderr[-2000:]}"
    return json.loads(proc.stdout)


def _bad_ids():
    sys.path.insert(0, str(HERE))
    try:
        from _bad_inputs import all_calls
        return [f"{name}-{kind}" for name, kind, *_ in all_calls()]
    finally:
        sys.path.remove(str(HERE))


@pytest.mark.parametrize("key", _bad_ids())
def test_bad_input_raises_documented_error(key, bad_input_results):
    got, message, expected, match = bad_input_results[key]
    assert got == expected, f"{key}: expected {expected}, got {got}: {message}"
    assert match in message, f"{key}: message does not name {match!r}: {message}"


@pytest.mark.parametrize("case", [c for c in CASES if c.family == "elementwise"], ids=lambda c: c.name)
def test_nan_and_inf_propagate_without_error(case, rng):
    args, kwargs = case.make(rng, "small", np.float64)
    x = args[0].copy()
    x.flat[0] = np.nan
    x.flat[1] = np.inf
    if case.name == "binary_cross_entropy":  # probabilities: torch refuses NaN and inf, so do we
        with pytest.raises(ValueError, match="input"):
            getattr(numloss, case.name)(x, *args[1:], **kwargs)
        return
    loss = getattr(numloss, case.name)(x, *args[1:], **{**kwargs, "reduction": "none"} if case.name != "kl_div" else kwargs)
    if np.ndim(loss):
        assert np.isnan(loss.flat[0])
    else:
        assert np.isnan(loss)


# --- threads --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mse_loss", "binary_cross_entropy_with_logits", "gaussian_nll_loss"])
def test_concurrent_python_threads_match_serial(name, rng):
    case = next(c for c in CASES if c.name == name)
    args, kwargs = case.make(rng, "small", np.float32)
    args = [np.tile(a, (10, 1)) for a in args]  # above PARALLEL_MIN_WORK
    fn = getattr(numloss, name)
    expected = fn(*args, **kwargs, return_grad=True)
    results = [None] * 8
    barrier = threading.Barrier(8)

    def work(k):
        barrier.wait()
        for _ in range(5):
            results[k] = fn(*args, **kwargs, return_grad=True)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for r in results:
        assert r[0] == expected[0]
        for a, b in zip(np.atleast_1d(r[1]) if not isinstance(r[1], tuple) else r[1],
                        np.atleast_1d(expected[1]) if not isinstance(expected[1], tuple) else expected[1]):
            assert np.array_equal(a, b)


THREAD_SCRIPT = """
import threading, numpy as np, numloss
x = np.linspace(-3, 3, 400000, dtype=np.float32); y = x[::-1].copy()
ref = numloss.mse_loss(x, y, return_grad=True)
out = []
def work():
    for _ in range(20):
        out.append(numloss.mse_loss(x, y, return_grad=True))
ts = [threading.Thread(target=work) for _ in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
assert all(o[0] == ref[0] and np.array_equal(o[1], ref[1]) for o in out) and len(out) == 80
import numba; print("layer", numba.threading_layer())
"""


def test_workqueue_layer_is_guarded():
    """Numba's workqueue layer aborts on concurrent parallel calls unless numloss serialises them."""
    proc = _run_py(THREAD_SCRIPT, env={"NUMBA_THREADING_LAYER": "workqueue"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "layer workqueue" in proc.stdout


def test_thread_count_applies_in_every_thread(threads, monkeypatch):
    """numloss.set_num_threads in one thread governs calls made from another (Numba's own
    setting is thread-local), and the other thread's Numba setting is left as it was."""
    import numba

    from numloss import _threads

    used, seen = [], []
    parallel_call = _threads.parallel_call
    monkeypatch.setattr(_threads, "parallel_call", lambda n: used.append(n) or parallel_call(n))
    numloss.set_num_threads(1)
    x = np.ones(BIG)

    def work():
        numba.set_num_threads(1)  # a thread-local Numba setting in this thread
        numloss.mse_loss(x, x)
        seen.append(numba.get_num_threads())

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 threads to tell the settings apart")
    numloss.set_num_threads(2)
    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert used == [2] and seen == [1]


# --- fork ---------------------------------------------------------------------------------

FORK_SCRIPT = """
import multiprocessing as mp, numpy as np, numloss
from numloss._registry import CASES
rng = np.random.default_rng(0)
def tiled(a): return np.tile(a, (10, 1))  # elementwise "small" inputs, made parallel-sized
inputs = {}
for c in CASES:
    if c.family == "elementwise":
        a, k = c.make(rng, "small", np.float64)
        inputs[c.name] = ([tiled(v) for v in a], k)
    else:
        inputs[c.name] = c.make(rng, "large", np.float64)
# a parallel call in the parent first (this is what kills or hangs a forked OpenMP child)
x = np.ones((300, 1000)); numloss.mse_loss(x, x * 2, return_grad=True)
# ... which also left a recycled gradient block in numloss's output cache (2.4 MB), inherited by
# the child with the cache's lock
def child(q):
    out = {}
    for c in CASES:
        a, k = inputs[c.name]
        out[c.name] = float(np.sum(getattr(numloss, c.name)(*a, **k)))
    out["mse gradient"] = float(np.sum(numloss.mse_loss(x, x * 2, return_grad=True)[1]))
    q.put(out)
expected = {}
for c in CASES:
    a, k = inputs[c.name]
    expected[c.name] = float(np.sum(getattr(numloss, c.name)(*a, **k)))
expected["mse gradient"] = float(np.sum(numloss.mse_loss(x, x * 2, return_grad=True)[1]))
assert numloss._buffers.cached_bytes() > 0
ctx = mp.get_context("fork"); q = ctx.Queue(); p = ctx.Process(target=child, args=(q,)); p.start()
got = q.get(timeout=240); p.join(60)
assert p.exitcode == 0, p.exitcode
assert got == expected, (got, expected)
print("fork ok", len(got))
"""


def test_forked_child_computes_every_loss():
    proc = _run_py(FORK_SCRIPT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "fork ok" in proc.stdout


# --- compile cache ------------------------------------------------------------------------

CACHE_SCRIPT = """
import warnings, numpy as np, numloss
from numloss.losses.regression import _MSE
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    v = numloss.mse_loss(np.arange(5.0), np.zeros(5), return_grad=True)
d = next(iter(_MSE._kernels.values())).dispatcher(False)
print(repr((float(v[0]), sum(d.stats.cache_misses.values()), sum(d.stats.cache_hits.values()),
            [str(x.message)[:60] for x in w if "cache" in str(x.message)])))
"""


def test_no_writable_cache_location_still_works(tmp_path):
    env = {"NUMBA_CACHE_LOCATOR_CLASSES": "UserProvidedCacheLocator", "NUMBA_CACHE_DIR": "/dev/null/unwritable"}
    proc = _run_py(CACHE_SCRIPT, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    value, misses, hits, warned = eval(proc.stdout)
    assert value == 6.0 and warned, "must compute correctly and warn that it cannot cache"


def test_read_only_package_caches_in_user_directory(tmp_path):
    """With no in-tree cache (a read-only installation), the user-wide cache directory serves."""
    env = {"NUMBA_CACHE_LOCATOR_CLASSES": "UserWideCacheLocator", "XDG_CACHE_HOME": str(tmp_path),
           "HOME": str(tmp_path)}
    first = eval(_run_py(CACHE_SCRIPT, env=env).stdout)
    second = eval(_run_py(CACHE_SCRIPT, env=env).stdout)
    assert first[1] > 0 and second[1] == 0 and second[2] > 0
    assert any(tmp_path.rglob("*.nbi"))


def test_editing_kernel_math_invalidates_the_cache(tmp_path):
    """A changed element function (in another file than the driver) is recompiled, not loaded."""
    pkg = tmp_path / "numloss"
    shutil.copytree(pathlib.Path(numloss.__file__).parent, pkg,
                    ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    env = {"PYTHONPATH": str(tmp_path), "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    first = eval(_run_py(CACHE_SCRIPT, env=env, cwd=tmp_path).stdout)
    src = pkg / "_kernels" / "elementwise.py"
    text = src.read_text()
    assert "return e * e, like(x, 2) * e, like(x, 0)" in text
    src.write_text(text.replace("return e * e, like(x, 2) * e, like(x, 0)", "return e * e * like(x, 3), like(x, 2) * e, like(x, 0)"))
    second = eval(_run_py(CACHE_SCRIPT, env=env, cwd=tmp_path).stdout)
    assert first[0] == 6.0 and second[0] == 18.0, (first, second)
    assert second[1] > 0


# --- large inputs -------------------------------------------------------------------------

@pytest.mark.slow
def test_more_than_2_31_elements():
    n = 2**31 + 5
    x = np.zeros(n, np.float32)
    y = np.zeros(n, np.float32)
    x[-1] = 3.0
    assert numloss.l1_loss(x, y, reduction="sum") == 3.0
    assert np.isclose(numloss.mse_loss(x, y), 9.0 / n)
    del x, y
    # a row kernel: (2**21 + 1) rows of 1024 logits, the last row's past element 2**31
    logits = np.zeros((2**21 + 1, 1024), np.float32)
    logits[-1, 1] = 5.0
    t = np.zeros(2**21 + 1, np.int64)
    t[-1] = 1
    losses = numloss.cross_entropy(logits, t, reduction="none")
    assert np.isclose(losses[0], math.log(1024), rtol=1e-6)
    assert np.isclose(losses[-1], math.log(1023 + math.exp(5.0)) - 5.0, rtol=1e-5)


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_ctc_extension_does_not_leak(rng):
    case = next(c for c in CASES if c.name == "ctc_loss")
    args, kwargs = case.make(rng, "small", np.float32)
    for _ in range(1000):  # warm up allocator pools
        numloss.ctc_loss(*args, **kwargs, return_grad=True)
    before = _rss_bytes()
    for _ in range(10_000):
        numloss.ctc_loss(*args, **kwargs, return_grad=True)
    grown = _rss_bytes() - before
    assert grown < 4 * 2**20, f"RSS grew by {grown / 2**20:.1f} MiB over 10,000 CTC calls"


# --- issue 17: inputs from the wild (one regression test per item; items 1-4, 8, 10, 11, 15
# and 20 are also crossed with every loss and argument in _bad_inputs.py) -----------------------

def test_ctc_gradient_out_sharing_targets_is_refused():  # issue 17 item 2 (segfaulted)
    proc = _run_py("""
        import numpy as np, numloss
        T, N, C, S = 30, 4, 12, 8
        shared = np.zeros(T * N * C * 8, np.uint8)
        grad = shared.view(np.float64).reshape(T, N, C)
        targets = shared[: N * S * 8].view(np.int64).reshape(N, S)
        targets[...] = 1 + np.arange(N * S).reshape(N, S) % (C - 1)
        lp = np.log(np.full((T, N, C), 1.0 / C))
        try:
            numloss.ctc_loss(lp, targets, [T] * N, [S] * N, return_grad=True, gradient_out=grad)
        except ValueError as e:
            print("refused:", e)
        """)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "refused: gradient_out" in proc.stdout


def test_overlapping_gradient_out_tuple_is_refused():  # issue 17 item 3
    x = np.linspace(-1, 1, 12).reshape(3, 4)
    buf = np.zeros(24)
    for a, b in [(buf[:12], buf[:12]), (buf[:12], buf[6:18])]:
        with pytest.raises(ValueError, match="gradient_out"):
            numloss.margin_ranking_loss(x, -x, np.ones_like(x), return_grad=True,
                                        gradient_out=(a.reshape(3, 4), b.reshape(3, 4)))
    assert not buf.any()


def test_gradient_out_overlapping_grad_output_or_a_tensor_input_is_refused():  # issue 17 item 4
    torch = pytest.importorskip("torch")
    x = np.linspace(-1, 1, 12).reshape(3, 4)
    go = np.ones((3, 4))
    with pytest.raises(ValueError, match="gradient_out.*grad_output"):
        numloss.mse_loss(x, 0 * x, reduction="none", return_grad=True, grad_output=go, gradient_out=go)
    assert (go == 1).all()
    buf = np.zeros((3, 4))
    for wrapped in (torch.from_numpy(buf), memoryview(buf)):
        with pytest.raises(ValueError, match="gradient_out"):
            numloss.mse_loss(x, wrapped, return_grad=True, gradient_out=buf)
    assert not buf.any()


@pytest.mark.parametrize("name, make", [
    ("cross_entropy", lambda t: (np.zeros((2, 3)), t)),
    ("multi_margin_loss", lambda t: (np.zeros((2, 3)), t)),
])
def test_indices_beyond_int64_are_refused_with_their_value(name, make):  # issue 17 item 8
    for value in (2**64 - 100, 2**63):
        t = np.array([0, value], np.uint64)
        with pytest.raises(ValueError, match=str(value)):
            getattr(numloss, name)(*make(t))
    t = np.full((2, 3), 2**64 - 1, np.uint64)  # would be multilabel_margin's -1 terminator
    with pytest.raises(ValueError, match=str(2**64 - 1)):
        numloss.multilabel_margin_loss(np.zeros((2, 3)), t)


@pytest.mark.parametrize("order", [">", "<"])
@pytest.mark.parametrize("dtype", ["f2", "f4", "f8"])
def test_non_native_byte_order_gives_native_numbers(order, dtype, rng):  # issue 17 item 11
    x = rng.standard_normal((5, 4)).astype(dtype)
    y = rng.standard_normal((5, 4)).astype(dtype)
    t = rng.integers(0, 4, 5)
    swapped = lambda a: a.astype(a.dtype.newbyteorder(order))  # noqa: E731
    for fn, args in [(numloss.mse_loss, (x, y)), (numloss.huber_loss, (x, y)),
                     (numloss.cross_entropy, (x, t)), (numloss.nll_loss, (x, t))]:
        want = fn(*args, return_grad=True)
        got = fn(*[swapped(a) for a in args], return_grad=True)
        assert got[0] == want[0] and np.array_equal(got[1], want[1])


def test_unconvertible_class_indices_name_target():  # issue 17 item 12
    torch = pytest.importorskip("torch")

    class Raises:
        def __array__(self, dtype=None, copy=None):
            raise RuntimeError("no array here")

    x = np.zeros((2, 3))
    for bad in ([[0], [1, 2]], torch.zeros(2, requires_grad=True), Raises()):
        for fn in (numloss.cross_entropy, numloss.nll_loss, numloss.multi_margin_loss):
            with pytest.raises(TypeError, match="target"):
                fn(x, bad)


def test_ctc_target_lengths_summing_past_int64_name_target_lengths():  # issue 17 item 14
    lp = np.log(np.full((5, 4, 3), 1 / 3))
    with pytest.raises(ValueError, match="target_lengths"):
        numloss.ctc_loss(lp, np.zeros(0, np.int64), [5] * 4, [2**62] * 4)


def test_gaussian_nll_constant_var_with_gradient_out_and_return_grad_type(rng):  # issue 17 item 15
    x, y = rng.standard_normal((2, 6))
    b1 = np.empty(6)
    loss, (g, gv) = numloss.gaussian_nll_loss(x, y, 1.0, return_grad=True, gradient_out=(b1, None))
    assert g is b1 and gv is None and np.allclose(b1, (x - y) / 6)
    with pytest.raises(ValueError, match=r"gradient_out\[1\]"):
        numloss.gaussian_nll_loss(x, y, 1.0, return_grad=True, gradient_out=(b1, np.empty(6)))
    for case in CASES:
        args, kwargs = case.make(rng, "small", np.float64)
        for value in ("yes", "", 1, None):
            with pytest.raises(TypeError, match="return_grad"):
                getattr(numloss, case.name)(*args, **kwargs, return_grad=value)


def test_error_messages_describe_arrays_without_their_values(rng):  # issue 17 item 20
    pred, y, w = rng.standard_normal((3, 50, 40))
    with pytest.raises(ValueError) as err:
        numloss.mse_loss(pred, y, w)
    assert "(50, 40)" in str(err.value) and len(str(err.value)) < 200
    with pytest.raises(TypeError) as err:
        numloss.huber_loss(pred, y, delta=w)
    assert "(50, 40)" in str(err.value) and len(str(err.value)) < 200


def test_loss_classes_read_their_attributes_at_call_time():  # issue 17 item 18
    x, y = np.array([3.0, 0.2]), np.zeros(2)
    c = numloss.HuberLoss(delta=0.5)
    c.delta = 2.0
    assert c(x, y) == numloss.huber_loss(x, y, delta=2.0)
    assert c.value_and_grad(x, y)[0] == numloss.huber_loss(x, y, delta=2.0)
    ce = numloss.CrossEntropyLoss()
    ce.reduction = "sum"
    logits, t = np.array([[1.0, 2.0], [0.5, -1.0]]), np.array([0, 1])
    assert ce(logits, t) == numloss.cross_entropy(logits, t, reduction="sum")
    ce.weight = np.array([1.0, 3.0], np.float32)
    assert "weight=" in repr(ce) and "(2,)" in repr(ce) and "reduction='sum'" in repr(ce)


def test_numba_warnings_do_not_reach_users(tmp_path):  # issue 17 item 19
    """A kernel compiled (cold cache) while the user's filters turn Numba warnings into errors --
    as pytest's per-test filters reset any filter installed at import."""
    proc = _run_py("""
        import warnings, numpy as np, numba, numloss
        warnings.simplefilter("error", numba.NumbaWarning)
        x = np.linspace(0.1, 0.9, 64, dtype=np.float32)
        print(numloss.binary_cross_entropy(x, x[::-1].copy(), return_grad=True)[0])
        """, env={"NUMBA_CACHE_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-2000:]


def _torch_value_and_grad(torch, fn, args, grad_index=0, **kwargs):
    targs = [torch.tensor(a) if isinstance(a, np.ndarray) else a for a in args]
    targs[grad_index].requires_grad_(True)
    loss = fn(*targs, **kwargs)
    (grad,) = torch.autograd.grad(loss.sum(), targs[grad_index])
    return loss.detach().numpy(), grad.numpy()


def _assert_matches(got, want):
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-6, equal_nan=True)


def test_huber_infinite_delta_and_tiny_smooth_l1_beta_match_torch():  # issue 17 item 6
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.array([-3.0, 0.5, 2.0, np.inf], np.float32)
    y = np.zeros(4, np.float32)
    for dtype, delta in [(np.float64, math.inf), (np.float32, math.inf), (np.float32, 1e39)]:
        xs, ys = x.astype(dtype), y.astype(dtype)
        want = _torch_value_and_grad(torch, F.huber_loss, (xs, ys), reduction="none", delta=delta)
        _assert_matches(numloss.huber_loss(xs, ys, reduction="none", delta=delta, return_grad=True), want)
    want = _torch_value_and_grad(torch, F.smooth_l1_loss, (x, y), reduction="none", beta=1e-50)
    _assert_matches(numloss.smooth_l1_loss(x, y, reduction="none", beta=1e-50, return_grad=True), want)


@pytest.mark.parametrize("shape", [(64, 5), (64, 300), (8, 5, 7)])  # tile, row and spatial paths
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_weight_of_an_absent_class_leaves_gradients_finite(shape, bad):  # issue 17 item 5
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape).astype(np.float32)
    t = rng.integers(1, shape[1], (shape[0],) + shape[2:])  # class 0 never occurs
    w = np.ones(shape[1], np.float32)
    w[0] = bad
    for reduction in ("mean", "sum"):
        want = _torch_value_and_grad(torch, torch.nn.functional.cross_entropy, (x, t), weight=torch.from_numpy(w),
                                     reduction=reduction)
        got = numloss.cross_entropy(x, t, weight=w, reduction=reduction, return_grad=True)
        assert np.isfinite(got[1]).all()
        np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("bad", [1.5, -0.1, math.nan])
def test_binary_cross_entropy_refuses_targets_outside_0_1(bad):  # issue 17 item 7
    p = np.array([0.2, 0.7])
    with pytest.raises(ValueError, match="target"):
        numloss.binary_cross_entropy(p, np.array([0.0, bad]))


def test_multilabel_soft_margin_target_of_higher_rank_with_gradient(rng):  # issue 17 item 13
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((3, 4))
    t = (rng.random((2, 3, 4)) < 0.5).astype(np.float64)
    for reduction in ("mean", "sum", "none"):
        want = _torch_value_and_grad(torch, torch.nn.functional.multilabel_soft_margin_loss, (x, t),
                                     reduction=reduction)
        _assert_matches(numloss.multilabel_soft_margin_loss(x, t, reduction=reduction, return_grad=True), want)


def test_non_finite_corners_match_torch():  # issue 17 item 17
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    inf, nan = math.inf, math.nan
    x = np.array([1.0, -1.0, 2.0])
    want = _torch_value_and_grad(torch, F.binary_cross_entropy_with_logits, (x, np.array([inf, inf, -inf])),
                                 reduction="none")
    _assert_matches(numloss.binary_cross_entropy_with_logits(x, np.array([inf, inf, -inf]), reduction="none",
                                                             return_grad=True), want)
    a, b, t = np.array([1.0, 2.0, -1.0, 0.5]), np.array([0.0, 0.0, 3.0, 0.1]), np.array([nan, inf, -inf, 1.0])
    for i in (0, 1):
        want = _torch_value_and_grad(torch, F.margin_ranking_loss, (a, b, t), grad_index=i, reduction="none")
        loss, grads = numloss.margin_ranking_loss(a, b, t, reduction="none", return_grad=True)
        _assert_matches((loss, grads[i]), want)
    logits, target = np.array([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0]]), np.array([0, 1])
    w = np.array([1.0, -1.0, 5.0])
    want = F.cross_entropy(torch.tensor(logits), torch.tensor(target), weight=torch.tensor(w)).item()
    assert numloss.cross_entropy(logits, target, weight=w) == want  # -+inf: a sum over 0
    want = F.gaussian_nll_loss(torch.zeros(3), torch.ones(3), torch.ones(3), eps=nan).item()
    assert math.isnan(want) and math.isnan(numloss.gaussian_nll_loss(np.zeros(3), np.ones(3), np.ones(3), eps=nan))
    assert math.isnan(numloss.gaussian_nll_loss(np.zeros(3), np.ones(3), 1.0, eps=nan))
    empty = np.zeros((0, 0))
    for reduction in ("sum", "mean"):
        want = F.cross_entropy(torch.zeros(0, 0), torch.zeros(0, dtype=torch.long), label_smoothing=0.1,
                               reduction=reduction).item()
        got = numloss.cross_entropy(empty, np.zeros(0, np.int64), label_smoothing=0.1, reduction=reduction)
        assert math.isnan(want) and math.isnan(got)
    # documented deviation: float32 poisson at x = t = 1e30 is inf (fused multiply-add), torch NaN
    assert "fused multiply-add" in numloss.poisson_nll_loss.__doc__
    big = np.full(2, 1e30, np.float32)
    assert np.all(numloss.poisson_nll_loss(big, big, reduction="none") == np.inf)


def test_masked_arrays_are_refused_saying_how_to_pass_the_mask():  # issue 17 item 10
    x = np.ma.masked_array([0.0, 5.0, 1.0], mask=[False, True, False])
    y = np.zeros(3)
    for call in (lambda: numloss.mse_loss(x, y), lambda: numloss.mse_loss(y, x),
                 lambda: numloss.cross_entropy(np.zeros((3, 2)), np.ma.masked_array([0, 1, 1], mask=[0, 1, 0]))):
        with pytest.raises(TypeError, match="sample_weight"):
            call()
    assert "sample_weight" in numloss.__doc__
