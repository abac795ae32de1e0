"""numloss.dask.evaluate against the in-memory call, on the threaded scheduler and on a
two-process LocalCluster bound to loopback."""
import numpy as np
import pytest

import numloss

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
ndask = pytest.importorskip("numloss.dask")

CASES = [
    ("mse_loss", {}),
    ("rmse_loss", {}),
    ("huber_loss", {"reduction": "sum", "delta": 0.3}),
    ("kl_div", {"reduction": "batchmean"}),
    ("cross_entropy", {"label_smoothing": 0.1}),
    ("nll_loss", {}),
    ("triplet_margin_loss", {}),
    ("ctc_loss", {}),
]


def _inputs(name, rng):
    from numloss import _registry

    args, kwargs = _registry.BY_NAME[name].make(rng, "small", np.float64)
    return list(args), kwargs


def _chunked(name, args, rng):
    """Dask arrays with uneven chunks along every axis (evaluate rechunks to whole samples)."""
    out = []
    for a in args:
        if isinstance(a, np.ndarray) and a.ndim:
            out.append(da.from_array(a, chunks=tuple(max(1, s // 3) for s in a.shape)))
        else:
            out.append(a)
    return out


@pytest.mark.parametrize("name,options", CASES, ids=[c[0] for c in CASES])
def test_threaded_equals_in_memory(name, options):
    rng = np.random.default_rng(3)
    args, kwargs = _inputs(name, rng)
    kwargs.update(options)
    fn = getattr(numloss, name)
    value = ndask.evaluate(name, *_chunked(name, args, rng), **kwargs)
    assert isinstance(value, da.Array) and value.shape == ()
    got = value.compute(scheduler="threads")
    np.testing.assert_allclose(float(got), float(fn(*args, **kwargs)), rtol=1e-12)


@pytest.mark.parametrize("name,options", CASES[:6], ids=[c[0] for c in CASES[:6]])
def test_gradient_blocks_use_the_global_denominator(name, options):
    rng = np.random.default_rng(4)
    args, kwargs = _inputs(name, rng)
    kwargs.update(options)
    value, grad = ndask.evaluate(name, *_chunked(name, args, rng), return_grad=True, **kwargs)
    want_value, want_grad = getattr(numloss, name)(*args, **kwargs, return_grad=True)
    assert grad.chunks[0] != (grad.shape[0],)  # really computed in blocks
    np.testing.assert_allclose(float(value.compute()), float(want_value), rtol=1e-12)
    np.testing.assert_allclose(grad.compute(), want_grad, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("var", ["per_sample", "shared", "number"])
def test_gradients_of_several_inputs(var):
    """gaussian_nll's var: with a batch axis its gradient is computed in blocks; shared by every
    sample ((1, D)) it is the sum of the blocks' gradients; a Python number has none."""
    rng = np.random.default_rng(8)
    x, t = rng.standard_normal((2, 60, 4))
    v = {"per_sample": rng.uniform(0.5, 2, (60, 1)), "shared": rng.uniform(0.5, 2, (1, 4)), "number": 1.5}[var]
    dv = da.from_array(v, chunks=7) if isinstance(v, np.ndarray) else v
    value, grads = ndask.evaluate("gaussian_nll_loss", da.from_array(x, chunks=7), t, dv, return_grad=True)
    want_value, want_grads = numloss.gaussian_nll_loss(x, t, v, return_grad=True)
    np.testing.assert_allclose(float(value.compute()), float(want_value), rtol=1e-12)
    np.testing.assert_allclose(grads[0].compute(), want_grads[0], rtol=1e-12)
    if want_grads[1] is None:
        assert grads[1] is None
    else:
        np.testing.assert_allclose(grads[1].compute(), want_grads[1], rtol=1e-12)


def test_numpy_inputs_are_wrapped_and_metrics_refuse_gradients():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((2, 50, 4))
    value = ndask.evaluate(numloss.l1_loss, x, y)
    np.testing.assert_allclose(float(value.compute()), float(numloss.l1_loss(x, y)), rtol=1e-12)
    with pytest.raises(ValueError, match="reduction"):
        ndask.evaluate("mse_loss", x, y, reduction="none")


def test_local_cluster_of_two_processes(tmp_path):
    distributed = pytest.importorskip("distributed")
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4000, 8))
    t = rng.integers(0, 8, 4000)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "t.npy", t)
    want = float(numloss.cross_entropy(x, t))
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        value = ndask.evaluate("cross_entropy", da.from_array(x, chunks=(700, 8)), da.from_array(t, chunks=700))
        got = client.compute(value).result()
        np.testing.assert_allclose(float(got), want, rtol=1e-12)
        # the workers read the .npy files themselves
        value = ndask.evaluate("cross_entropy", ndask.from_npy(tmp_path / "x.npy", 700),
                               ndask.from_npy(tmp_path / "t.npy", 700))
        got = client.compute(value).result()
        np.testing.assert_allclose(float(got), want, rtol=1e-12)


def test_each_block_is_read_by_the_task_that_evaluates_it(tmp_path):
    """Reading a block and evaluating it are one task once Dask optimises the graph, so a
    cluster never moves a block between workers."""
    rng = np.random.default_rng(10)
    x, y, w = rng.standard_normal(1000), rng.standard_normal(1000), rng.uniform(0, 1, 1000)
    for name, a in (("x", x), ("y", y), ("w", w)):
        np.save(tmp_path / f"{name}.npy", a)
    value = ndask.evaluate("mse_loss", ndask.from_npy(tmp_path / "x.npy", 100), ndask.from_npy(tmp_path / "y.npy", 100),
                           sample_weight=ndask.from_npy(tmp_path / "w.npy", 100))
    (optimized,) = dask.optimize(value)
    names = {k[0] if isinstance(k, tuple) else k for k in dict(optimized.__dask_graph__())}
    assert not [n for n in names if n.startswith("from_npy")], names
    assert len(dict(optimized.__dask_graph__())) < len(dict(value.__dask_graph__())) - 20
    np.testing.assert_allclose(float(value.compute(scheduler="threads")),
                               float(numloss.mse_loss(x, y, sample_weight=w)), rtol=1e-12)


def test_from_npy_blocks_hold_the_path_not_the_data(tmp_path):
    import pickle

    rng = np.random.default_rng(9)
    lp = rng.standard_normal((50, 30, 5))
    np.save(tmp_path / "lp.npy", lp)
    for axis, rows in ((0, 7), (1, 4), (2, 5)):
        arr = ndask.from_npy(tmp_path / "lp.npy", rows, axis)
        assert arr.chunks[axis] == tuple(min(rows, lp.shape[axis] - lo) for lo in range(0, lp.shape[axis], rows))
        np.testing.assert_array_equal(arr.compute(scheduler="threads"), lp)
        assert len(pickle.dumps(dict(arr.__dask_graph__()))) < lp.nbytes / 4
    with pytest.raises(ValueError, match="rows"):
        ndask.from_npy(tmp_path / "lp.npy", 0)
    with pytest.raises(ValueError, match="axis"):
        ndask.from_npy(tmp_path / "lp.npy", 5, axis=3)
