"""numloss.metrics against scikit-learn 1.9.1's sklearn.metrics: values, return types, dtypes,
warnings and exception classes, over drawn shapes, dtypes, labels, weights and layouts."""
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import numloss
from numloss._kernels import _drivers

skm = pytest.importorskip("sklearn.metrics")
InvalidParameterError = pytest.importorskip("sklearn.utils._param_validation").InvalidParameterError

REGRESSION = ["mean_squared_error", "root_mean_squared_error", "mean_absolute_error",
              "mean_squared_log_error", "root_mean_squared_log_error", "mean_pinball_loss"]
DEVIANCE = ["mean_poisson_deviance", "mean_gamma_deviance", "mean_tweedie_deviance"]
CLASSIFICATION = ["log_loss", "brier_score_loss", "hinge_loss"]
HYP = dict(deadline=None, derandomize=True, database=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _run(fn, args, kwargs):
    """(result or exception, categories of the UserWarning/FutureWarning raised)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = fn(*args, **kwargs)
        except Exception as exc:  # compared with scikit-learn's below
            out = exc
    return out, sorted({w.category.__name__ for w in caught if issubclass(w.category, (UserWarning, FutureWarning))
                        and not issubclass(w.category, RuntimeWarning)})


def _copies(values):
    return [np.array(v, copy=True) if isinstance(v, np.ndarray) else v for v in values]


def check(name, *args, rtol=None, **kwargs):
    """numloss.metrics.<name> and sklearn.metrics.<name> agree: same exception class (for
    scikit-learn's InvalidParameterError, a ValueError or TypeError), else same type, shape and
    dtype and close values, and the same warnings; numloss leaves its inputs unchanged."""
    before = _copies(list(args) + list(kwargs.values()))
    mine, my_warnings = _run(getattr(numloss.metrics, name), args, kwargs)
    for old, new in zip(before, list(args) + list(kwargs.values())):
        if isinstance(old, np.ndarray):
            np.testing.assert_array_equal(old, new)
    ref, ref_warnings = _run(getattr(skm, name), args, kwargs)
    if isinstance(ref, Exception):
        expected = (ValueError, TypeError) if isinstance(ref, InvalidParameterError) else type(ref)
        assert isinstance(mine, expected), (name, ref, mine)
        return ref
    if isinstance(mine, Exception):
        raise mine
    assert type(mine) is type(ref), (name, mine, ref)
    if rtol is None:
        # float32 anywhere (weights too) makes scikit-learn compute in float32
        dtypes = [a.dtype for a in list(args) + list(kwargs.values()) if isinstance(a, np.ndarray)]
        rtol = 2e-4 if np.dtype(np.float32) in dtypes else 1e-9
    if isinstance(ref, np.ndarray):
        assert mine.shape == ref.shape and mine.dtype == ref.dtype, (mine, ref)
    np.testing.assert_allclose(mine, ref, rtol=rtol, atol=rtol * 1e-3)
    assert my_warnings == ref_warnings, (name, my_warnings, ref_warnings)
    return ref


def _layout(a, how, tmp_path):
    """The same values as C-contiguous, non-contiguous (a strided view) or memory-mapped."""
    if how == "strided":
        big = np.empty((2 * a.shape[0],) + a.shape[1:], a.dtype)
        big[::2] = a
        return big[::2]
    if how == "memmap" and a.dtype != object:  # object arrays cannot be memory-mapped
        path = tmp_path / f"a{np.random.default_rng().integers(1 << 30)}.npy"
        np.save(path, a)
        return np.load(path, mmap_mode="r")
    return a


def _weights(draw_kind, n, rng):
    return {"none": None, "ones": np.ones(n), "zeros_but_one": np.eye(1, n, n // 2)[0],
            "random": rng.uniform(0, 2, n), "float32": rng.uniform(0, 2, n).astype(np.float32),
            "with_zeros": np.where(rng.uniform(size=n) < 0.3, 0.0, rng.uniform(0, 2, n))}[draw_kind]


WEIGHTS = st.sampled_from(["none", "ones", "zeros_but_one", "random", "float32", "with_zeros"])
LAYOUTS = st.sampled_from(["contiguous", "strided", "memmap"])


# --- regression -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REGRESSION + DEVIANCE)
@pytest.mark.parametrize("y_dtype, w_dtype", [("int64", "float32"), ("float32", "float64"), ("float64", "float32")])
def test_regression_dtype_comes_from_the_weights_too(name, y_dtype, w_dtype):
    """scikit-learn computes in the widest float among y_true, y_pred and sample_weight: int
    targets with float32 weights give a float32 result (hypothesis found this)."""
    rng = np.random.default_rng(7)
    y_true = np.ceil(rng.uniform(0.05, 4, 9)).astype(y_dtype)
    y_pred = np.ceil(rng.uniform(0.05, 4, 9)).astype(y_dtype)
    if y_dtype != "int64":
        y_pred += y_pred.dtype.type(0.5)
    kwargs = {"sample_weight": rng.uniform(0.1, 2, 9).astype(w_dtype)}
    if name not in DEVIANCE:
        kwargs["multioutput"] = "raw_values"
    check(name, y_true, y_pred, **kwargs)


@settings(max_examples=40, **HYP)
@given(name=st.sampled_from(REGRESSION + DEVIANCE), n=st.integers(1, 40), k=st.sampled_from([None, 1, 3]),
       dtype=st.sampled_from(["float32", "float64", "int64"]), weights=WEIGHTS, layout=LAYOUTS,
       multioutput=st.sampled_from(["raw_values", "uniform_average", "array"]), equal=st.booleans(),
       seed=st.integers(0, 2**16), power=st.sampled_from([-1.0, 0, 1, 1.5, 2, 3]))
def test_regression_matches_sklearn(thread_mode, tmp_path, name, n, k, dtype, weights, layout, multioutput,
                                    equal, seed, power):
    rng = np.random.default_rng(seed)
    shape = (n,) if k is None else (n, k)
    lo = 0.0 if name in DEVIANCE or "log" in name else -3.0
    y_true = rng.uniform(lo + 0.05, 4, shape)
    y_pred = y_true.copy() if equal else rng.uniform(lo + 0.05, 4, shape)
    if dtype == "int64":
        y_true, y_pred = np.ceil(y_true).astype(np.int64), np.ceil(y_pred).astype(np.int64)
    else:
        y_true, y_pred = y_true.astype(dtype), y_pred.astype(dtype)
    kwargs = {"sample_weight": _weights(weights, n, rng)}
    if name in DEVIANCE:
        if k is not None and k > 1:
            y_true, y_pred = y_true[:, 0], y_pred[:, 0]
        if name == "mean_tweedie_deviance":
            kwargs["power"] = power
    else:
        kwargs["multioutput"] = rng.uniform(0.5, 2, k) if multioutput == "array" and k and k > 1 else (
            "raw_values" if multioutput == "raw_values" else "uniform_average")
        if name == "mean_pinball_loss":
            kwargs["alpha"] = float(rng.choice([0.0, 0.1, 0.5, 0.95, 1.0]))
    check(name, _layout(y_true, layout, tmp_path), _layout(y_pred, layout, tmp_path), **kwargs)


@pytest.mark.parametrize("name", REGRESSION)
def test_regression_bad_inputs_raise_as_sklearn(name):
    y = np.arange(1.0, 7.0)
    y2 = np.arange(1.0, 7.0).reshape(3, 2)
    cases = [
        ((y[:5], y), {}),  # inconsistent lengths
        ((y, y), {"sample_weight": np.ones(5)}),
        ((y, y), {"sample_weight": np.ones((6, 1))}),
        ((y, y), {"sample_weight": np.zeros(6)}),
        ((y, y), {"sample_weight": np.array([1, -1, 1, -1, 1, -1.0])}),  # sums to 0
        ((y, y), {"sample_weight": np.array([1, np.nan, 1, 1, 1, 1])}),
        ((y, y), {"sample_weight": 2.0}),
        ((np.array([1.0, np.nan]), np.ones(2)), {}),
        ((np.ones(2), np.array([np.inf, 1.0])), {}),
        ((np.array([]), np.array([])), {}),
        ((np.ones((2, 2, 2)), np.ones((2, 2, 2))), {}),
        ((np.array(["a", "b"]), np.ones(2)), {}),
        ((3.0, 3.0), {}),
        ((y2, y2[:, :1]), {}),
        ((y, y), {"multioutput": [0.5, 0.5]}),
        ((y2, y2), {"multioutput": [1.0, 2.0, 3.0]}),
        ((y2, y2), {"multioutput": [1.0, -1.0]}),
        ((y2, y2), {"multioutput": "variance_weighted"}),
        ((y2, y2), {"multioutput": "bad"}),
        ((np.array([-1.0, 2.0]), np.ones(2)), {}),  # msle domain
        ((np.ones(2), np.array([-2.0, 2.0])), {}),
    ]
    if name == "mean_pinball_loss":
        cases += [((y, y), {"alpha": 1.5}), ((y, y), {"alpha": -0.1}), ((y, y), {"alpha": "x"})]
    for args, kwargs in cases:
        check(name, *args, **kwargs)


@pytest.mark.parametrize("name", DEVIANCE)
def test_deviance_bad_inputs_raise_as_sklearn(name):
    y = np.array([0.0, 1.0, 2.0])
    cases = [((y, y + 1), {}), ((y - 1, y + 1), {}), ((y + 1, y), {}), ((y + 1, -y - 1), {}),
             ((np.ones((3, 2)), np.ones((3, 2))), {}), ((y + 1, y + 1), {"sample_weight": np.zeros(3)})]
    if name == "mean_tweedie_deviance":
        cases += [((y + 1, y + 1), {"power": p}) for p in (0.5, "1", -0.5, 2.5, 1.0, 0.0)]
        cases += [((y - 1, y + 1), {"power": -2.0}), ((y, y), {"power": -2.0}), ((y, y + 1), {"power": 3.0})]
    for args, kwargs in cases:
        check(name, *args, **kwargs)


# --- classification -----------------------------------------------------------------------------


def _labels(kind, codes):
    values = {"int": np.array([-3, 2, 5, 11, 40]), "str": np.array(["ant", "bee", "cat", "dog", "eel"]),
              "float": np.array([0.0, 1.0, 2.0, 3.0, 7.0]), "bool": np.array([False, True]),
              "object": np.array(["ant", "bee", "cat", "dog", "eel"], dtype=object)}[kind]
    return values[codes % len(values)]


@settings(max_examples=60, **HYP)
@given(name=st.sampled_from(CLASSIFICATION), n=st.integers(1, 50), n_classes=st.integers(3, 5),
       kind=st.sampled_from(["int", "str", "float", "bool", "object", "01", "pm1"]),
       dtype=st.sampled_from(["float32", "float64"]), weights=WEIGHTS, layout=LAYOUTS, one_d=st.booleans(),
       edges=st.booleans(), with_labels=st.booleans(), one_class=st.integers(0, 5), seed=st.integers(0, 2**16))
def test_classification_matches_sklearn(thread_mode, tmp_path, name, n, n_classes, kind, dtype, weights, layout,
                                        one_d, edges, with_labels, one_class, seed):
    rng = np.random.default_rng(seed)
    binary = one_d or kind in ("bool", "01", "pm1")
    k = 2 if binary else n_classes
    codes = rng.integers(0, k, n)
    if one_class == 0:
        codes[:] = codes[0]  # one class present
    elif n >= k:
        codes[:k] = rng.permutation(k)  # every class present
    if kind == "01":
        y_true = codes
    elif kind == "pm1":
        y_true = 2 * codes - 1
    else:
        y_true = _labels(kind, codes)
    kwargs = {"sample_weight": _weights(weights, n, rng)}
    if with_labels:
        fixed = {"01": np.array([0, 1]), "pm1": np.array([-1, 1])}
        kwargs["labels"] = fixed[kind] if kind in fixed else _labels(kind, np.arange(k))
    if name == "hinge_loss":
        pred = rng.normal(size=n if binary else (n, k))
    else:
        pred = rng.dirichlet(np.ones(k), n)
        if edges:
            pred[: n // 2] = np.eye(k)[rng.integers(0, k, n // 2)]  # probabilities 0 and 1
        pred = pred[:, 1] if binary else pred
    if name == "brier_score_loss" and binary and kind in ("str", "object", "float", "int") and rng.uniform() < 0.7:
        kwargs["pos_label"] = y_true[0]
    if name == "log_loss" and rng.uniform() < 0.3:
        kwargs["normalize"] = False
    check(name, _layout(y_true, layout, tmp_path), _layout(pred.astype(dtype), layout, tmp_path), **kwargs)


def test_log_loss_edges_and_warnings():
    y = np.array([0, 1, 1, 0])
    check("log_loss", y, np.array([0.0, 1.0, 1.0, 0.0], np.float32))  # perfect: clipped at eps
    check("log_loss", y, np.array([1.0, 0.0, 0.0, 1.0]))  # worst: -log(eps)
    check("log_loss", y, np.array([[0.5, 0.6], [0.2, 0.9], [0.1, 0.9], [1.0, 0.0]]))  # rows not summing to 1
    check("log_loss", y, np.array([0.2, 0.7, 0.9, 0.1]), labels=[1, 0])  # labels out of order: warning
    check("log_loss", y, y_pred=np.array([0.2, 0.7, 0.9, 0.1]))  # deprecated name: FutureWarning
    check("log_loss", y, np.array([0.2, 0.7, 0.9, 0.1]), y_pred=np.array([0.2, 0.7, 0.9, 0.1]))
    check("log_loss", np.array([3]), np.array([[0.2, 0.8]]), labels=[1, 3])  # one sample
    check("log_loss", np.array([1, 1]), np.array([0.3, 0.9]), labels=[0, 1])  # one class present


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_classification_bad_inputs_raise_as_sklearn(name):
    y = np.array([0, 1, 1, 0])
    p = np.array([0.2, 0.7, 0.9, 0.1])
    P = np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4], [0.6, 0.2, 0.2]])
    y3 = np.array([0, 2, 1, 2])
    cases = [
        ((y[:3], p), {}),
        ((y, p), {"sample_weight": np.ones(3)}),
        ((y, p), {"sample_weight": np.zeros(4)}),
        ((y, p), {"sample_weight": np.array([1.0, -1.0, 1.0, -1.0])}),
        ((y, p), {"sample_weight": np.array([1.0, np.nan, 1.0, 1.0])}),
        ((y, np.array([0.2, np.nan, 0.9, 0.1])), {}),
        ((y, np.array([0.2, np.inf, 0.9, 0.1])), {}),
        ((y, np.array([])), {}),
        ((np.array([0, 1, 2, 0]), p), {}),  # multiclass target, 1-D prediction
        ((y3, P[:, :2]), {}),
        ((y3, P), {"labels": [0, 1, 2, 3]}),
        ((y3, P), {"labels": [0, 1]}),
        ((y3, P), {"labels": [0, 1, 5]}),
        ((np.array([1, 1, 1, 1]), p), {}),
        ((np.array(["a", "b", "b", "a"]), p), {}),
        ((y, p), {"labels": [0, 1, 2]}),
        ((y, np.ones((4, 2, 2))), {}),
        ((np.array([0.5, 1.5, 1.5, 0.5]), p), {}),
        ((y, p), {"pos_label": 2}),
        ((y, p), {"normalize": "yes"}),
        ((y, p), {"scale_by_half": "no"}),
    ]
    if name != "hinge_loss":
        cases += [((y, p * 2), {}), ((y, p - 0.5), {}), ((y3, P * 2), {}), ((y3, P - 0.5), {})]
    for args, kwargs in cases:
        if "normalize" in kwargs and name != "log_loss" or "scale_by_half" in kwargs and name != "brier_score_loss" \
                or "pos_label" in kwargs and name != "brier_score_loss":
            continue
        check(name, *args, **kwargs)


# --- kernels: determinism, large inputs --------------------------------------------------------


@pytest.mark.parametrize("name,args", [
    ("mean_squared_error", lambda r, n: (r.normal(size=(n, 2)), r.normal(size=(n, 2)))),
    ("mean_absolute_error", lambda r, n: (r.normal(size=n).astype(np.float32), r.normal(size=n).astype(np.float32))),
    ("mean_squared_log_error", lambda r, n: (r.uniform(size=n), r.uniform(size=n))),
    ("log_loss", lambda r, n: (r.integers(0, 2, n), r.uniform(size=n).astype(np.float32))),
    ("log_loss", lambda r, n: (np.sort(r.integers(0, 2, n)), r.uniform(size=n))),  # one-label blocks
    ("log_loss", lambda r, n: (r.integers(0, 3, n // 4), r.dirichlet(np.ones(3), n // 4))),
])
def test_same_bits_for_any_thread_count_and_matches_sklearn(threads, name, args, monkeypatch):
    from numloss import _threads

    rng = np.random.default_rng(1)
    n = 5 * _drivers.BLOCK + 17
    a = args(rng, n)
    w = rng.uniform(size=len(a[0]))
    monkeypatch.setattr(_threads, "PARALLEL_MIN_WORK", 0)
    results = []
    for t in (1, 2):
        numloss.set_num_threads(min(t, _threads._max_threads))
        results.append(getattr(numloss.metrics, name)(*a, sample_weight=w))
    assert results[0] == results[1]
    check(name, *a, sample_weight=w)


def _label_layout(how, n, rng):
    """0/1 labels over several blocks, laid out as ``how``."""
    b = _drivers.BLOCK
    y = rng.integers(0, 2, n)
    if how == "ascending":
        y.sort()
    elif how == "descending":
        y = np.sort(y)[::-1].copy()
    elif how == "first block negative":
        y[:b] = 0
    elif how == "first block positive":
        y[:b] = 1
    elif how == "one block negative":
        y[2 * b:3 * b] = 0
    elif how == "third label late":
        y[-3] = 2
    elif how == "one label":
        y[:] = 1
    return y


@pytest.mark.parametrize("how", ["random", "ascending", "descending", "first block negative", "first block positive",
                                 "one block negative", "third label late", "one label"])
@pytest.mark.parametrize("kind", ["int", "float32", "bool", "pm1"])
@pytest.mark.parametrize("name", ["log_loss", "brier_score_loss", "hinge_loss"])
def test_binary_labels_in_any_block_layout(name, kind, how):
    rng = np.random.default_rng(4)
    n = 5 * _drivers.BLOCK + 17
    y = _label_layout(how, n, rng)
    if kind == "bool":
        if how == "third label late":
            return
        y = y.astype(bool)
    elif kind == "pm1":
        y = np.where(y == 0, -1, y)
    elif kind == "float32":
        y = y.astype(np.float32)
    p = rng.uniform(size=n).astype(np.float32)
    w = rng.uniform(size=n)
    for kwargs in ({}, {"sample_weight": w}, {"labels": [-1, 1] if kind == "pm1" else [0, 1]}):
        if name == "brier_score_loss" and "labels" in kwargs:
            kwargs = {"pos_label": 1}
        check(name, y, p, **kwargs)


def test_metrics_is_lazy_and_imports_neither_sklearn_nor_torch():
    code = ("import sys, numloss; assert 'numloss.metrics' not in sys.modules; numloss.metrics.log_loss; "
            "assert not {'sklearn', 'torch'} & set(sys.modules), sorted(set(sys.modules) & {'sklearn', 'torch'})")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("power", [-1.5, 0, 1, 1.5])
def test_tweedie_with_zero_targets(dtype, power):
    rng = np.random.default_rng(3)
    y = rng.poisson(1.0, 500).astype(dtype)  # about a third zeros
    f = rng.uniform(0.1, 3, 500).astype(dtype)
    assert (y == 0).any()
    check("mean_tweedie_deviance", y, f, power=power, sample_weight=rng.uniform(size=500))


def test_float16_raw_values_keep_sklearn_dtype():
    y = np.array([[1.0, 2.0], [3.0, 4.5]], np.float16)
    check("mean_squared_error", y, y[::-1].copy(), multioutput="raw_values", rtol=1e-3)
