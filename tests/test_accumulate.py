"""numloss.Accumulator and numloss.dask against one in-memory call of the same function."""
import inspect
import math
import pickle

import numpy as np
import pytest

import numloss
from numloss import _registry
from numloss._accumulate import batch_axis

# Every loss that has a reduced form, with each reduction it takes.
REDUCED = [
    (case, reduction)
    for case in _registry.CASES
    for reduction in (("mean", "sum", "batchmean") if case.name == "kl_div" else ("mean", "sum"))
]


def _split(name, args, cuts):
    """The batches of ``args`` between consecutive ``cuts`` along each input's batch axis (inputs
    without that axis, e.g. a broadcast target, go whole into every batch)."""
    n = args[0].shape[batch_axis(name, 0)]
    out = []
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        batch = []
        for i, a in enumerate(args):
            axis = batch_axis(name, i)
            if isinstance(a, np.ndarray) and a.ndim > axis and a.shape[axis] == n:
                a = a[(slice(None),) * axis + (slice(lo, hi),)]
            batch.append(a)
        out.append(batch)
    return out


def _cuts(rng, n, pieces):
    inner = np.sort(rng.choice(np.arange(1, n), size=min(pieces, n - 1) - 1, replace=False)) if n > 2 else []
    return [0, *map(int, inner), n]


def _close(got, want, dtype):
    if dtype == np.float32:  # the one-shot call's own float32 rounding
        assert got.dtype == want.dtype == np.float32
        assert got == want or abs(float(got) - float(want)) <= np.spacing(np.float32(want))
    else:
        assert got.dtype == want.dtype
        np.testing.assert_allclose(float(got), float(want), rtol=1e-12, atol=0)


@pytest.mark.parametrize("case,reduction", REDUCED, ids=[f"{c.name}-{r}" for c, r in REDUCED])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_split_and_merge_equal_one_call(case, reduction, dtype):
    rng = np.random.default_rng(7)
    args, kwargs = case.make(rng, "small", dtype)
    fn = getattr(numloss, case.name)
    kwargs = {**kwargs, "reduction": reduction}
    want = fn(*args, **kwargs)
    n = args[0].shape[batch_axis(case.name, 0)]

    accs = []
    for batch in _split(case.name, args, _cuts(rng, n, 5)):
        accs.append(numloss.Accumulator(case.name, **kwargs).update(*batch))
    rng.shuffle(accs)  # any merge order
    merged = accs[0]
    for other in accs[1:]:
        merged.merge(pickle.loads(pickle.dumps(other)))  # states travel between processes
    _close(merged.result(), want, dtype)
    assert merged.count == n

    serial = numloss.Accumulator(fn, **kwargs)
    for batch in _split(case.name, args, _cuts(rng, n, 3)):
        assert serial.update(*batch) is serial
    _close(serial.result(), want, dtype)


WEIGHTED = [(c, r) for c, r in REDUCED if "sample_weight" in inspect.signature(getattr(numloss, c.name)).parameters]


@pytest.mark.parametrize("case,reduction", WEIGHTED, ids=[f"{c.name}-{r}" for c, r in WEIGHTED])
def test_weighted_batches_equal_one_weighted_call(case, reduction):
    rng = np.random.default_rng(8)
    args, kwargs = case.make(rng, "small", np.float64)
    kwargs = {**kwargs, "reduction": reduction}
    n = args[0].shape[batch_axis(case.name, 0)]
    w = rng.random(n)
    w[rng.random(n) < 0.2] = 0.0
    want = getattr(numloss, case.name)(*args, **kwargs, sample_weight=w)
    acc = numloss.Accumulator(case.name, **kwargs)
    cuts = _cuts(rng, n, 4)
    for (lo, hi), batch in zip(zip(cuts[:-1], cuts[1:]), _split(case.name, args, cuts)):
        acc.update(*batch, sample_weight=w[lo:hi])
    _close(acc.result(), want, np.float64)


def test_rmse_is_the_root_of_the_accumulated_mean():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((2, 1000, 3))
    acc = numloss.Accumulator("rmse_loss")
    for lo in range(0, 1000, 300):
        acc.update(x[lo:lo + 300], y[lo:lo + 300])
    # the root of the mean over all samples, not a mean of per-batch roots
    assert acc.result() == pytest.approx(math.sqrt(np.mean((x - y) ** 2)), rel=1e-13)


def test_class_weighted_cross_entropy_uses_the_global_denominator():
    import torch

    rng = np.random.default_rng(1)
    x = rng.standard_normal((500, 6))
    t = rng.integers(0, 6, 500)
    t[rng.random(500) < 0.2] = -100
    w = rng.random(6)
    acc = numloss.Accumulator(numloss.cross_entropy, weight=w)
    for lo in range(0, 500, 64):
        acc.update(x[lo:lo + 64], t[lo:lo + 64])
    want = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(t), weight=torch.tensor(w))
    assert acc.result() == pytest.approx(want.item(), rel=1e-12)


def test_state_is_small_and_the_empty_result_is_the_empty_call():
    acc = numloss.Accumulator("mse_loss")
    assert math.isnan(acc.result())
    assert numloss.Accumulator("l1_loss", reduction="sum").result() == 0.0
    acc.update(np.ones(10), np.zeros(10))
    assert len(pickle.dumps(acc)) < 1000
    assert acc.result() == 1.0
    assert acc.reset().count == 0 and math.isnan(acc.result())


def test_errors():
    with pytest.raises(ValueError, match="reduction"):
        numloss.Accumulator("mse_loss", reduction="none")
    with pytest.raises(TypeError, match="no option 'delta'"):
        numloss.Accumulator("mse_loss", delta=1.0)
    with pytest.raises(ValueError, match="fn must be"):
        numloss.Accumulator("mse")
    with pytest.raises(TypeError, match="fn must be"):
        numloss.Accumulator(np.mean)
    with pytest.raises(ValueError, match="return_grad"):
        numloss.Accumulator("mse_loss", return_grad=True)
    a = numloss.Accumulator("huber_loss", delta=0.5)
    with pytest.raises(ValueError, match="cannot merge"):
        a.merge(numloss.Accumulator("huber_loss", delta=2.0))
    with pytest.raises(ValueError, match="cannot merge"):
        a.merge(numloss.Accumulator("mse_loss"))
    with pytest.raises(TypeError):
        a.merge(object())


METRICS = [
    ("mean_squared_error", {"multioutput": "raw_values"}),
    ("root_mean_squared_error", {}),
    ("mean_absolute_error", {"multioutput": [0.3, 0.7]}),
    ("mean_pinball_loss", {"alpha": 0.3}),
    ("mean_tweedie_deviance", {"power": 1.5}),
    ("log_loss", {}),
    ("log_loss", {"normalize": False}),
    ("hinge_loss", {}),
    ("brier_score_loss", {"pos_label": "b"}),
]


def _metric_inputs(name, rng, n=600):
    if name in ("mean_squared_error", "root_mean_squared_error", "mean_absolute_error", "mean_pinball_loss"):
        return rng.standard_normal((n, 2)), rng.standard_normal((n, 2))
    if name == "mean_tweedie_deviance":
        return rng.poisson(2.0, n).astype(float), rng.uniform(0.5, 3, n)
    if name == "log_loss":
        p = rng.dirichlet(np.ones(3), n)
        return np.array(["x", "y", "z"])[rng.integers(0, 3, n)], p
    if name == "hinge_loss":
        return rng.integers(0, 4, n), rng.standard_normal((n, 4))
    return np.array(["a", "b"])[rng.integers(0, 2, n)], rng.uniform(0, 1, n)


@pytest.mark.parametrize("name,options", METRICS, ids=[f"{m}-{i}" for i, (m, _) in enumerate(METRICS)])
def test_metric_batches_equal_scikit_learn(name, options):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(9)
    y, p = _metric_inputs(name, rng)
    w = rng.uniform(0, 2, len(y))
    want = getattr(sklearn_metrics, name)(y, p, sample_weight=w, **options)
    accs = [numloss.Accumulator(f"metrics.{name}", **options) for _ in range(3)]
    for k, (lo, hi) in enumerate(((0, 250), (250, 410), (410, 600))):
        accs[k].update(y[lo:hi], p[lo:hi], sample_weight=w[lo:hi])
    got = accs[2].merge(pickle.loads(pickle.dumps(accs[0]))).merge(accs[1]).result()
    assert type(got) is type(getattr(numloss.metrics, name)(y, p, sample_weight=w, **options))
    np.testing.assert_allclose(got, want, rtol=1e-9)
    assert accs[2].count == len(y)


def test_labels_fixed_by_the_first_batch():
    rng = np.random.default_rng(10)
    p = rng.dirichlet(np.ones(3), 20)
    acc = numloss.Accumulator(numloss.metrics.log_loss).update(np.array([0, 1, 2] * 5), p[:15])
    with pytest.raises(ValueError, match="label"):
        acc.update(np.array([0, 1, 3, 1, 0]), p[15:])
