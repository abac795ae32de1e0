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
        from _bad_inputs import bad_calls
        return [f"{name}-{kind}" for name, kind, *_ in bad_calls()]
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
