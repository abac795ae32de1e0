"""Elementwise and distribution losses against torch 2.13, finite differences and exact values."""
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import numloss
from numloss._registry import CASES

from _torch_ref import assert_close, fd_grad, numloss_loss_and_grads, torch_loss_and_grads

ELEMENTWISE = [c for c in CASES if c.family == "elementwise"]
REDUCTIONS = ["none", "mean", "sum"]
TOL = {np.float32: dict(rtol=3e-5, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


def _compare(name, args, kwargs, grad_of, dtype, grad_output=None, tol=None):
    tol = tol or TOL[dtype]
    loss, grads = numloss_loss_and_grads(name, args, kwargs, grad_output)
    tloss, tgrads = torch_loss_and_grads(name, args, kwargs, grad_of, grad_output)
    assert np.asarray(loss).dtype == dtype, f"{name}: loss dtype {np.asarray(loss).dtype}"
    assert_close(loss, tloss, what=f"{name} loss", **tol)
    for i, g, tg in zip(grad_of, grads, tgrads):
        assert g.dtype == dtype and g.shape == np.shape(args[i])
        assert_close(g, tg, what=f"{name} grad of arg {i}", **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", ELEMENTWISE, ids=lambda c: c.name)
def test_standard_inputs_match_torch(case, reduction, dtype, rng):
    args, kwargs = case.make(rng, "small", dtype)
    if case.name != "kl_div":
        kwargs = {**kwargs, "reduction": reduction}
    _compare(case.name, args, kwargs, case.grad_of, dtype)
    # with an upstream gradient
    loss = getattr(numloss, case.name)(*args, **kwargs)
    go = rng.standard_normal(np.shape(loss)).astype(dtype)
    _compare(case.name, args, kwargs, case.grad_of, dtype, grad_output=go if go.ndim else go[()])


# ---------------------------------------------------------------------------------------------
# Property-based differential tests: shapes (0-d, empty, broadcast), special values, options.

SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, np.inf, -np.inf, np.nan, 1e30, -1e30, 1e-30, 80.0, -80.0, 700.0]


def values(kind, dtype):
    if kind == "real":
        return st.one_of(st.floats(-20, 20, width=32), st.sampled_from(SPECIAL))
    if kind == "moderate":  # torch's soft-margin gradient is NaN where its exp overflows
        return st.one_of(st.floats(-20, 20, width=32), st.sampled_from([0.0, 1.0, -80.0, 80.0, np.inf, -np.inf, np.nan]))
    if kind == "sign":
        return st.sampled_from([-1.0, 1.0])
    if kind == "prob":
        return st.one_of(st.floats(0, 1, width=32), st.sampled_from([0.0, 1.0, 1e-30, 1 - 1e-7]))
    if kind == "pos":
        return st.one_of(st.floats(0, 50, width=32), st.sampled_from([0.0, 1.0, 1e-30, np.inf]))
    raise AssertionError(kind)


# loss -> (kinds of the positional arrays, may the target broadcast, options strategy)
SPECS = {
    "l1_loss": (("real", "real"), True, st.fixed_dictionaries({})),
    "mse_loss": (("real", "real"), True, st.fixed_dictionaries({})),
    "huber_loss": (("real", "real"), True, st.fixed_dictionaries({"delta": st.sampled_from([1.0, 0.5, 2.0, 1e-3])})),
    "smooth_l1_loss": (("real", "real"), True, st.fixed_dictionaries({"beta": st.sampled_from([1.0, 0.0, 0.5, 3.0])})),
    "soft_margin_loss": (("moderate", "sign"), True, st.fixed_dictionaries({})),
    "binary_cross_entropy": (("prob", "prob"), False, st.fixed_dictionaries({})),
    "binary_cross_entropy_with_logits": (("real", "prob"), False, st.fixed_dictionaries({})),
    "poisson_nll_loss": (("real", "pos"), True, st.fixed_dictionaries(
        {"log_input": st.booleans(), "full": st.booleans(), "eps": st.sampled_from([1e-8, 1e-3])})),
    "gaussian_nll_loss": (("real", "real", "pos"), False, st.fixed_dictionaries(
        {"full": st.booleans(), "eps": st.sampled_from([1e-6, 1e-2])})),
    "kl_div": (("real", "pos"), True, st.fixed_dictionaries({"log_target": st.booleans()})),
    "hinge_embedding_loss": (("real", "sign"), True, st.fixed_dictionaries({"margin": st.sampled_from([1.0, 0.0, 2.5])})),
    "margin_ranking_loss": (("real", "real", "sign"), False, st.fixed_dictionaries({"margin": st.sampled_from([0.0, 0.5])})),
    "rmse_loss": (("real", "real"), False, st.fixed_dictionaries({})),
    "msle_loss": (("pos", "pos"), False, st.fixed_dictionaries({})),
    "hinge_loss": (("real", "sign"), False, st.fixed_dictionaries({"margin": st.sampled_from([1.0, 0.0, 2.0])})),
}
GRAD_OF = {c.name: c.grad_of for c in ELEMENTWISE}


@st.composite
def problems(draw, name):
    kinds, may_broadcast, options = SPECS[name]
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))
    arrays = []
    for k, kind in enumerate(kinds):
        s = shape
        if k == 1 and may_broadcast and len(shape) > 0 and draw(st.booleans()):
            s = tuple(1 if draw(st.booleans()) else d for d in shape)[draw(st.integers(0, len(shape))):]
        arrays.append(draw(hnp.arrays(dtype, s, elements=values(kind, dtype))))
    kwargs = draw(options)
    reduction = draw(st.sampled_from(REDUCTIONS + (["batchmean"] if name == "kl_div" else [])))
    return arrays, {**kwargs, "reduction": reduction}, dtype


def _differential(name, problem):
    arrays, kwargs, dtype = problem
    if name == "kl_div" and kwargs.get("log_target"):
        assume(np.all(np.abs(arrays[1][np.isfinite(arrays[1])]) < 80))  # exp(t) overflow differs in f32 order
    tol = TOL[dtype] if dtype == np.float64 else dict(rtol=1e-4, atol=1e-4)
    if name == "rmse_loss" and kwargs["reduction"] != "none" and numloss.rmse_loss(*arrays, **kwargs) == 0:
        # docs/api.md: the gradient at zero error is 0 (torch's sqrt backward gives NaN there).
        _, g = numloss.rmse_loss(*arrays, **kwargs, return_grad=True)
        assert np.all(g == 0)
        return
    _compare(name, arrays, kwargs, GRAD_OF[name], dtype, tol=tol)


def _property_test(name):
    @settings(max_examples=40, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(problem=problems(name))
    def test(thread_mode, problem):
        _differential(name, problem)

    test.__name__ = f"test_{name}_matches_torch_on_drawn_inputs"
    return test


def test_every_elementwise_loss_has_property_specs():
    """The property tests below run for every elementwise loss of the registry."""
    assert set(SPECS) == set(GRAD_OF)


for _name in GRAD_OF:
    globals()[f"test_{_name}_matches_torch_on_drawn_inputs"] = _property_test(_name)


# ---------------------------------------------------------------------------------------------
# Independent of torch: fourth-order central differences in float64.


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("case", ELEMENTWISE, ids=lambda c: c.name)
def test_gradient_matches_finite_differences(case, reduction, rng):
    args, kwargs = case.make(rng, "small", np.float64)
    if case.name != "kl_div":
        kwargs = {**kwargs, "reduction": reduction}
    fn = getattr(numloss, case.name)
    _, grads = fn(*args, **kwargs, return_grad=True)
    grads = grads if isinstance(grads, tuple) else (grads,)
    for slot, i in enumerate(case.grad_of):
        def f(v, i=i):
            a = list(args)
            a[i] = v
            return fn(*a, **kwargs)

        idx = rng.choice(args[i].size, 6, replace=False)
        fd = fd_grad(f, args[i].copy(), indices=idx).reshape(-1)[idx]
        scale = np.max(np.abs(grads[slot]))
        np.testing.assert_allclose(grads[slot].reshape(-1)[idx], fd, rtol=1e-6, atol=1e-7 * scale, err_msg=case.name)


# ---------------------------------------------------------------------------------------------
# torch's choices at kinks and its special rules, checked point by point.


def test_kinks_follow_torch():
    x = np.array([0.0, 1.0, -1.0, 2.0, 0.5, 1.0])
    y = np.zeros(6)
    for name, kw in [("l1_loss", {}), ("huber_loss", {"delta": 1.0}), ("smooth_l1_loss", {"beta": 1.0}),
                     ("smooth_l1_loss", {"beta": 0.5}), ("huber_loss", {"delta": 0.5})]:
        _compare(name, [x, y], {**kw, "reduction": "sum"}, (0,), np.float64)
    s = np.array([1.0, -1.0, 1.0, -1.0, -1.0, 1.0])
    _compare("hinge_embedding_loss", [x, s], {"margin": 1.0, "reduction": "none"}, (0,), np.float64)
    _compare("hinge_embedding_loss", [x, np.array([0.0, 2.0, 0.5, 1.0, -1.0, 3.0])], {"reduction": "none"}, (0,), np.float64)
    _compare("margin_ranking_loss", [x, x, s], {"margin": 0.0, "reduction": "none"}, (0, 1), np.float64)
    _compare("margin_ranking_loss", [x, y, s], {"margin": 1.0, "reduction": "none"}, (0, 1), np.float64)


def test_binary_cross_entropy_clamps_as_torch():
    p = np.array([0.0, 1.0, 0.0, 1.0, 1e-50, 0.5])
    t = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.3])
    for dtype in (np.float32, np.float64):
        _compare("binary_cross_entropy", [p.astype(dtype), t.astype(dtype)], {"reduction": "none"}, (0,), dtype)


@pytest.mark.parametrize("n", [10, 300_000])  # the lean path and the parallel general path
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_cross_entropy_refuses_values_outside_the_unit_interval(n, dtype):
    """torch's error for an input or target outside [0, 1] or NaN, wherever it is, in a forward,
    a loss+grad and with gradient_out (which stays untouched)."""
    rng = np.random.default_rng(3)
    for name, bad in (("input", 1.5), ("input", -1e-30), ("input", np.nan), ("target", 1.0000001), ("target", np.nan)):
        for at in (0, n // 2, n - 1):
            x = rng.uniform(0, 1, n).astype(dtype)
            t = rng.uniform(0, 1, n).astype(dtype)
            (x if name == "input" else t)[at] = bad
            saved = x.copy(), t.copy()
            buf = np.full(n, 7.0, dtype)
            for kwargs in ({}, {"reduction": "sum", "return_grad": True}, {"reduction": "none"},
                           {"return_grad": True, "gradient_out": buf}):
                with pytest.raises(ValueError, match=f"^{name}: all elements of {name} should be between 0 and 1$"):
                    numloss.binary_cross_entropy(x, t, **kwargs)
            assert np.all(buf == 7.0)
            np.testing.assert_array_equal(x, saved[0])
            np.testing.assert_array_equal(t, saved[1])
    x = rng.uniform(0, 1, n).astype(dtype)
    x[:2] = 0.0, 1.0  # the ends are in
    assert np.isfinite(numloss.binary_cross_entropy(x, x))


def test_logits_of_huge_magnitude_stay_finite():
    x = np.array([1e4, -1e4, 88.0, -88.0, 0.0], np.float32)
    t = np.array([1.0, 0.0, 0.0, 1.0, 0.5], np.float32)
    _compare("binary_cross_entropy_with_logits", [x, t], {"reduction": "none"}, (0,), np.float32)
    loss = numloss.binary_cross_entropy_with_logits(x, t, reduction="none")
    assert np.all(np.isfinite(loss))


def test_pos_weight_broadcasts_over_last_dimension(rng):
    x = rng.standard_normal((4, 3, 5))
    t = rng.uniform(size=(4, 3, 5))
    pw = rng.uniform(0.5, 3, size=5)
    w = rng.uniform(size=(3, 1))
    for red in REDUCTIONS:
        _compare("binary_cross_entropy_with_logits", [x, t], {"pos_weight": pw, "weight": w, "reduction": red}, (0,), np.float64)


def test_weights_follow_torch_2_13(rng):
    x, y = rng.standard_normal((2, 6, 4))
    w = rng.uniform(size=(6, 4))
    for name in ("l1_loss", "mse_loss", "huber_loss"):
        for red in REDUCTIONS:
            _compare(name, [x, y], {"weight": w, "reduction": red}, (0,), np.float64)
    with pytest.raises(ValueError, match="weight"):
        numloss.mse_loss(x, y, weight=w[0])
    _compare("binary_cross_entropy", [rng.uniform(size=(6, 4)), rng.uniform(size=(6, 4))], {"weight": w[0]}, (0,), np.float64)


@pytest.mark.parametrize("var_shape", [(3, 4), (3,), (3, 1), (1, 4)])
def test_gaussian_var_shapes_and_gradient(var_shape, rng):
    x, y = rng.standard_normal((2, 3, 4))
    var = rng.uniform(0.0, 2.0, var_shape)
    var.flat[0] = 1e-9  # below eps: clamped in the value, gradient passes through
    for red in REDUCTIONS:
        _compare("gaussian_nll_loss", [x, y, var], {"reduction": red, "full": True}, (0, 2), np.float64)


def test_gaussian_scalar_var_is_a_constant(rng):
    x, y = rng.standard_normal((2, 5))
    loss, (gx, gv) = numloss.gaussian_nll_loss(x, y, 0.7, return_grad=True)
    ref = numloss.gaussian_nll_loss(x, y, np.full(5, 0.7))
    assert gv is None and np.isclose(loss, ref, rtol=1e-14)
    assert np.allclose(gx, (x - y) / 0.7 / 5)
    with pytest.raises(ValueError, match="var"):
        numloss.gaussian_nll_loss(x, y, np.ones(4))
    with pytest.raises(ValueError, match="var"):
        numloss.gaussian_nll_loss(x, y, -np.ones(5))


def test_kl_div_reductions(rng):
    x = np.log(rng.uniform(0.01, 1, (4, 6)))
    t = rng.uniform(size=(4, 6))
    t[0, :3] = 0.0
    for red in ["batchmean", "sum", "none"]:
        _compare("kl_div", [x, t], {"reduction": red}, (0,), np.float64)
    with pytest.warns(UserWarning, match="batchmean"):
        numloss.kl_div(x, t, reduction="mean")
    assert np.isnan(numloss.kl_div(np.zeros((0, 3)), np.zeros((0, 3)), reduction="batchmean"))


def test_rmse_extra(rng):
    x, y = rng.standard_normal((2, 50))
    loss, g = numloss.rmse_loss(x, y, return_grad=True)
    assert np.isclose(loss, np.sqrt(np.mean((x - y) ** 2)), rtol=1e-14)
    assert np.allclose(g, (x - y) / (50 * loss), rtol=1e-12)
    loss0, g0 = numloss.rmse_loss(x, x, return_grad=True)
    assert loss0 == 0 and np.all(g0 == 0)
    assert np.allclose(numloss.rmse_loss(x, y, reduction="sum"), np.sqrt(np.sum((x - y) ** 2)))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", [c for c in CASES if c.family == "elementwise"], ids=lambda c: c.name)
def test_gradient_out_without_return_grad_is_refused(case, reduction, rng):
    """Issue 18: rmse_loss(..., gradient_out=buf) without return_grad returned the loss."""
    args, kwargs = case.make(rng, "small", np.float64)
    kwargs = {"reduction": reduction, **kwargs}  # kl_div's own "batchmean" stays
    with pytest.raises(ValueError, match="gradient_out"):
        getattr(numloss, case.name)(*args, **kwargs, gradient_out=np.empty_like(args[0]))


def test_hinge_target_must_be_plus_minus_one():
    with pytest.raises(ValueError, match="target"):
        numloss.hinge_loss(np.zeros(3), np.array([1.0, 0.0, -1.0]))


def test_empty_and_zero_dim_reductions():
    for name in ("mse_loss", "l1_loss", "binary_cross_entropy_with_logits"):
        f = getattr(numloss, name)
        assert np.isnan(f(np.zeros(0), np.zeros(0)))
        assert f(np.zeros(0), np.zeros(0), reduction="sum") == 0
        assert f(np.zeros((0, 3)), np.zeros((0, 3)), reduction="none").shape == (0, 3)
        loss, g = f(np.float64(0.3), np.float64(0.7), reduction="none", return_grad=True)
        assert np.shape(loss) == () and g.shape == ()


def test_target_broadcast_warns_as_torch(rng):
    x = rng.standard_normal((3, 4))
    with pytest.warns(UserWarning, match="target size"):
        numloss.mse_loss(x, x[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        numloss.mse_loss(x, x)
    _compare("mse_loss", [x[:, :1], x[0]], {"reduction": "sum"}, (0,), np.float64)  # input broadcast too


# ---------------------------------------------------------------------------------------------
# Types, layouts, buffers, classes.


def test_dtype_rules(rng):
    x = rng.standard_normal(10)
    assert np.asarray(numloss.mse_loss(x.astype(np.int64), x)).dtype == np.float64
    assert np.asarray(numloss.mse_loss(x > 0, x)).dtype == np.float64
    assert type(numloss.mse_loss(x.astype(np.float16), x)) is np.float32
    assert type(numloss.mse_loss(x.astype(np.float32), x)) is np.float32
    _, g = numloss.mse_loss(x.astype(np.float32), x, return_grad=True)
    assert g.dtype == np.float32
    assert type(numloss.mse_loss(x, x.astype(np.float32))) is np.float64


@pytest.mark.parametrize("case", ELEMENTWISE, ids=lambda c: c.name)
def test_layouts_and_no_mutation(case, rng, tmp_path):
    args, kwargs = case.make(rng, "small", np.float64)
    ref = getattr(numloss, case.name)(*args, **kwargs, return_grad=True)
    # non-contiguous views with negative strides
    strided = [np.repeat(a, 2, axis=-1)[..., ::-2][..., ::-1] for a in args]
    assert not strided[0].flags.c_contiguous
    # read-only memmaps
    mapped = []
    for k, a in enumerate(args):
        path = tmp_path / f"a{k}.npy"
        np.save(path, a)
        mapped.append(np.load(path, mmap_mode="r"))
    for variant in (strided, mapped):
        before = [v.copy() for v in variant]
        out = getattr(numloss, case.name)(*variant, **kwargs, return_grad=True)
        assert np.array_equal(out[0], ref[0])
        for g, gr in zip(out[1] if isinstance(out[1], tuple) else (out[1],), ref[1] if isinstance(ref[1], tuple) else (ref[1],)):
            assert np.array_equal(g, gr)
        for v, b in zip(variant, before):
            assert np.array_equal(v, b)


def test_gradient_out_is_filled_and_returned(rng):
    x, y = rng.standard_normal((2, 4, 5)).astype(np.float32)
    buf = np.full((4, 5), np.nan, np.float32)
    loss, g = numloss.mse_loss(x, y, return_grad=True, gradient_out=buf)
    assert g is buf and np.allclose(buf, 2 * (x - y) / 20)
    b1, b2 = np.empty_like(x), np.empty_like(x)
    _, (g1, g2) = numloss.margin_ranking_loss(x, y, np.sign(x), return_grad=True, gradient_out=(b1, b2))
    assert g1 is b1 and g2 is b2 and np.allclose(g1, -g2)


@pytest.mark.parametrize("bad, match", [
    (np.empty((4, 4), np.float32), "shape"),
    (np.empty((4, 5), np.float64), "dtype"),
    (np.empty((5, 4), np.float32).T, "contiguous"),
])
def test_gradient_out_is_checked(bad, match, rng):
    x, y = rng.standard_normal((2, 4, 5)).astype(np.float32)
    with pytest.raises(ValueError, match="gradient_out"):
        numloss.mse_loss(x, y, return_grad=True, gradient_out=bad)
    ro = np.empty((4, 5), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="gradient_out"):
        numloss.mse_loss(x, y, return_grad=True, gradient_out=ro)
    with pytest.raises(ValueError, match="gradient_out"):
        numloss.mse_loss(x, y, return_grad=True, gradient_out=x)
    with pytest.raises(ValueError, match="gradient_out"):
        numloss.mse_loss(x, y, gradient_out=np.empty_like(x))


def test_classes_wrap_the_functions(rng):
    x, y = rng.standard_normal((2, 3, 4))
    assert numloss.MSELoss()(x, y) == numloss.mse_loss(x, y)
    assert numloss.HuberLoss("sum", 0.5)(x, y) == numloss.huber_loss(x, y, reduction="sum", delta=0.5)
    loss, g = numloss.SmoothL1Loss(beta=0.3).value_and_grad(x, y)
    ref = numloss.smooth_l1_loss(x, y, beta=0.3, return_grad=True)
    assert loss == ref[0] and np.array_equal(g, ref[1])
    t = rng.uniform(size=(3, 4))
    assert numloss.BCEWithLogitsLoss(pos_weight=np.ones(4))(x, t) == numloss.binary_cross_entropy_with_logits(x, t)
    assert "reduction='sum'" in repr(numloss.L1Loss(reduction="sum"))
    with pytest.raises(TypeError):
        numloss.MSELoss(weight=np.ones(3))  # torch's MSELoss takes no weight


# ---------------------------------------------------------------------------------------------
# Bad input: a clear error naming the argument, before any kernel runs.


@pytest.mark.parametrize("case", ELEMENTWISE, ids=lambda c: c.name)
def test_bad_inputs_raise_naming_the_argument(case, rng):
    args, kwargs = case.make(rng, "small", np.float64)
    f = getattr(numloss, case.name)
    first = "input1" if case.name == "margin_ranking_loss" else "input"
    with pytest.raises(TypeError, match=first):
        f(args[0] + 1j, *args[1:], **kwargs)
    with pytest.raises(TypeError, match=first):
        f(np.array(["a"] * args[0].size).reshape(args[0].shape), *args[1:], **kwargs)
    with pytest.raises(ValueError, match="reduction"):
        f(*args, **{**kwargs, "reduction": "avg"})
    with pytest.raises(ValueError):
        f(args[0], *(a[:1, :3] for a in args[1:]), **kwargs)  # shapes that do not broadcast
    with pytest.raises(ValueError, match="grad_output"):
        f(*args, **kwargs, return_grad=True, grad_output=np.ones(3))


@pytest.mark.parametrize("call, exc, match", [
    (lambda: numloss.huber_loss(np.ones(2), np.ones(2), delta=0.0), ValueError, "delta"),
    (lambda: numloss.smooth_l1_loss(np.ones(2), np.ones(2), beta=-1.0), ValueError, "beta"),
    (lambda: numloss.huber_loss(np.ones(2), np.ones(2), delta="1"), TypeError, "delta"),
    (lambda: numloss.binary_cross_entropy(np.array([1.5]), np.array([1.0])), ValueError, "input"),
    (lambda: numloss.binary_cross_entropy(np.array([0.5]), np.array([1.0, 0.0])), ValueError, "target"),
    (lambda: numloss.binary_cross_entropy_with_logits(np.ones(3), np.ones(2)), ValueError, "target"),
    (lambda: numloss.binary_cross_entropy_with_logits(np.ones(3), np.ones(3), pos_weight=np.ones(2)), ValueError, "pos_weight"),
    (lambda: numloss.poisson_nll_loss(np.ones(2), np.ones(2), log_input=1), TypeError, "log_input"),
    (lambda: numloss.kl_div(np.ones(2), np.ones(2), log_target="no"), TypeError, "log_target"),
    (lambda: numloss.margin_ranking_loss(np.ones((2, 2)), np.ones(2), np.ones(2)), ValueError, "dimensions"),
    (lambda: numloss.soft_margin_loss(np.ones(2), np.ones((3, 2))), ValueError, "target"),
    (lambda: numloss.mse_loss(np.ones(2), np.ones(2), grad_output=1.0), ValueError, "grad_output"),
])
def test_specific_bad_inputs(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("n_threads", [1, 2])
def test_range_checks_see_every_element(n_threads, threads, rng):
    """The one-pass range checks (BCE's input in [0, 1], gaussian's var >= 0) look at every
    element, the last block's included, and treat NaN as torch does: a NaN probability is refused,
    a NaN variance is not (torch tests var < 0)."""
    n = 300_001  # several blocks and a partial one; above the parallel threshold
    numloss.set_num_threads(min(n_threads, numloss._threads._max_threads))
    x = rng.uniform(0.1, 0.9, n)
    t = rng.uniform(0, 1, n)
    for pos, bad in [(0, -1e-300), (n - 1, 1 + 1e-15), (n // 2, np.nan), (n - 1, -np.inf)]:
        xb = x.copy()
        xb[pos] = bad
        with pytest.raises(ValueError, match="input"):
            numloss.binary_cross_entropy(xb, t)
    var = rng.uniform(0.5, 2, n)
    var[-1] = -1e-300
    with pytest.raises(ValueError, match="var"):
        numloss.gaussian_nll_loss(x, t, var)
    var[-1] = np.nan
    torch = pytest.importorskip("torch")
    want = torch.nn.functional.gaussian_nll_loss(*(torch.from_numpy(a) for a in (x, t, var)), reduction="none")
    got = numloss.gaussian_nll_loss(x, t, var, reduction="none")
    np.testing.assert_array_equal(np.isnan(got), torch.isnan(want).numpy())
    assert np.isnan(got[-1]) and np.isfinite(got[:-1]).all()


# ---------------------------------------------------------------------------------------------
# Threads: the same bits with 1 and 2 threads (fixed-size reduction blocks).


@pytest.mark.parametrize("name", ["mse_loss", "binary_cross_entropy_with_logits", "gaussian_nll_loss"])
def test_thread_count_does_not_change_bits(name, rng, threads):
    args, kwargs = next(c for c in CASES if c.name == name).make(rng, "small", np.float32)
    big = [np.tile(a, (300, 1)) for a in args]  # 300k elements: above the parallel threshold
    out = {}
    for n in (1, 2):
        numloss.set_num_threads(n)
        out[n] = getattr(numloss, name)(*big, **kwargs, return_grad=True)
    assert out[1][0] == out[2][0]
    g1 = out[1][1] if isinstance(out[1][1], tuple) else (out[1][1],)
    g2 = out[2][1] if isinstance(out[2][1], tuple) else (out[2][1],)
    for a, b in zip(g1, g2):
        assert np.array_equal(a, b)
