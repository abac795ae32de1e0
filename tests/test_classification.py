"""cross_entropy, nll_loss, multi_margin_loss, multilabel_margin_loss, multilabel_soft_margin_loss:
differential tests against torch 2.13 (values and autograd gradients), independent float64 finite
differences, layouts, thread-count determinism and every documented error."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import numloss
from _torch_ref import fd_grad
from numloss._kernels import cross_entropy as CEK
from numloss._kernels import margin as MK
from numloss._kernels import softmax as SK
from numloss._kernels._rowbase import PARTIAL_LEN
from numloss.losses import _rows
from numloss.losses import classification as CL

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture], derandomize=True, database=None)
REDUCTIONS = ("mean", "sum", "none")


# --------------------------------------------------------------------------------------------
# Oracle and comparison helpers
# --------------------------------------------------------------------------------------------


def torch_eval(fn, x, args=(), kwargs=None, grad_output=None, dtype=None):
    """torch's loss and d loss / d x (with ``grad_output``), x cast to ``dtype``."""
    kwargs = dict(kwargs or {})
    xd = np.asarray(x, dtype=dtype or x.dtype)
    xt = torch.tensor(xd, requires_grad=True)
    conv = [torch.tensor(a) if isinstance(a, np.ndarray) else a for a in args]
    for k, v in list(kwargs.items()):
        if isinstance(v, np.ndarray):
            kwargs[k] = torch.tensor(v.astype(xd.dtype) if v.dtype.kind == "f" else v)
    conv = [c.to(xt.dtype) if isinstance(c, torch.Tensor) and c.is_floating_point() else c for c in conv]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss = fn(xt, *conv, **kwargs)
    go = torch.ones_like(loss) if grad_output is None else torch.tensor(np.asarray(grad_output), dtype=loss.dtype)
    if xt.numel() and loss.requires_grad:
        (g,) = torch.autograd.grad(loss, xt, go)
    else:
        g = torch.zeros_like(xt)
    return loss.detach().numpy().astype(np.float64), g.numpy().astype(np.float64)


def assert_matches(ours, t_same, t64, scale, what):
    """float64: ours ~ torch to 1e-9 relative. float32: ours is within 4x torch-float32's own error
    of the float64 truth (computed by torch from the same float32 inputs), plus a few ulp."""
    ours = np.asarray(ours, dtype=np.float64)
    assert ours.shape == np.shape(t_same), f"{what}: shape {ours.shape} != torch {np.shape(t_same)}"
    nan_ours = np.isnan(ours)
    nan_torch = np.isnan(t_same)
    assert np.array_equal(nan_ours, nan_torch), f"{what}: NaN pattern differs\nours {ours}\ntorch {t_same}"
    fin = ~nan_ours & np.isfinite(t64) & np.isfinite(ours)
    inf = ~nan_ours & ~fin
    np.testing.assert_array_equal(ours[inf], np.asarray(t_same)[inf], err_msg=f"{what}: infinities")
    if np.asarray(t_same).dtype == np.float64 and t_same is t64:
        tol = 1e-9 * np.abs(t64[fin]) + 1e-12 * scale
    else:
        tol = 4 * np.abs(np.asarray(t_same)[fin] - t64[fin]) + 2e-6 * np.abs(t64[fin]) + 1e-6 * scale
    err = np.abs(ours[fin] - t64[fin])
    assert np.all(err <= tol), f"{what}: max err {err.max() if err.size else 0} > tol\nours {ours}\ntorch {t_same}"


def check_against_torch(nl_fn, t_fn, x, args, kwargs, reduction, rng, scale=1.0, with_grad_output=True):
    """numloss (loss, grad) against torch, with and without grad_output, both dtypes of x."""
    x = np.asarray(x)
    loss_nl = nl_fn(x, *args, reduction=reduction, **kwargs)
    l_same, g_same = torch_eval(t_fn, x, args, dict(kwargs, reduction=reduction))
    l64, g64 = (l_same, g_same) if x.dtype == np.float64 else torch_eval(
        t_fn, x, args, dict(kwargs, reduction=reduction), dtype=np.float64)
    if x.dtype == np.float64:
        l64, g64 = l_same, g_same
    if reduction == "none":
        assert isinstance(loss_nl, np.ndarray) and loss_nl.dtype == x.dtype
    else:
        assert isinstance(loss_nl, x.dtype.type), type(loss_nl)
    assert_matches(loss_nl, l_same, l64, scale * max(1, x.shape[0] if x.ndim else 1), "loss")
    gos = [None]
    if with_grad_output:
        shape = np.shape(l_same)
        gos.append(rng.standard_normal(shape).astype(x.dtype) if shape else x.dtype.type(rng.standard_normal()))
    for go in gos:
        loss2, grad = nl_fn(x, *args, reduction=reduction, **kwargs, return_grad=True, grad_output=go)
        # the fused loss+gradient sweep is a different vectorised loop: last-bit differences only
        eps = np.finfo(x.dtype).eps
        np.testing.assert_allclose(loss2, loss_nl, rtol=4 * eps, atol=16 * eps * scale * max(1, x.size),
                                   equal_nan=True)
        assert grad.shape == x.shape and grad.dtype == x.dtype
        _, g_same = torch_eval(t_fn, x, args, dict(kwargs, reduction=reduction), grad_output=go)
        if x.dtype == np.float64:
            g64 = g_same
        else:
            _, g64 = torch_eval(t_fn, x, args, dict(kwargs, reduction=reduction), grad_output=go, dtype=np.float64)
        gscale = 1.0 if go is None else float(np.max(np.abs(go), initial=1.0))
        assert_matches(grad, g_same, g64, gscale, f"grad (grad_output={'given' if go is not None else None})")


def spiced(rng, x, special):
    """x with a few NaN / +-inf / +-1e4 entries (``special`` picks which)."""
    x = x.copy()
    if special and x.size:
        k = max(1, x.size // 8)
        idx = rng.integers(0, x.size, k)
        vals = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf, "big": 1e4, "-big": -1e4}
        x.reshape(-1)[idx] = [vals[special] if special in vals else v for v in rng.choice(list(vals.values()), k)]
    return x


# --------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------

dtypes = st.sampled_from([np.float32, np.float64])
reductions = st.sampled_from(REDUCTIONS)
specials = st.sampled_from([None, None, None, "nan", "inf", "-inf", "big", "mixed"])


@st.composite
def ce_case(draw):
    N = draw(st.integers(0, 6))
    # few classes, and around SMALL_C (cross-entropy's tile path for (N, C) inputs, then rows)
    C = draw(st.one_of(st.integers(1, 9), st.integers(15, 36)))
    kdims = tuple(draw(st.lists(st.integers(1, 4), max_size=2)))
    unbatched = draw(st.booleans()) and not kdims
    return dict(
        N=N, C=C, kdims=kdims, unbatched=unbatched, seed=draw(st.integers(0, 2**32 - 1)),
        dtype=draw(dtypes), reduction=draw(reductions), weighted=draw(st.booleans()),
        ignore=draw(st.sampled_from([None, "default", "class", "all"])),
        ls=draw(st.sampled_from([0.0, 0.0, 0.1, 0.5, 1.0])), scale=draw(st.sampled_from([1.0, 30.0, 1e4])),
        special=draw(specials),
    )


def _index_data(case):
    rng = np.random.default_rng(case["seed"])
    C = case["C"]
    if case["unbatched"]:
        xshape, tshape = (C,), ()
    else:
        xshape, tshape = (case["N"], C) + case["kdims"], (case["N"],) + case["kdims"]
    x = (rng.standard_normal(xshape) * case["scale"]).astype(case["dtype"])
    x = spiced(rng, x, case["special"])
    t = rng.integers(0, C, tshape)
    kwargs = {}
    if case["weighted"]:
        kwargs["weight"] = rng.random(C).astype(case["dtype"]) + 0.1
    ii = -100
    if case["ignore"] == "class":
        ii = int(rng.integers(0, C))
        kwargs["ignore_index"] = ii
    if case["ignore"] in ("default", "all") and t.size:
        mask = rng.random(tshape) < (1.0 if case["ignore"] == "all" else 0.3)
        t = np.where(mask, -100, t)
    return rng, x, t, kwargs


# --------------------------------------------------------------------------------------------
# cross_entropy / nll_loss
# --------------------------------------------------------------------------------------------


@SETTINGS
@given(ce_case())
def test_cross_entropy_index_targets_match_torch(thread_mode, case):
    rng, x, t, kwargs = _index_data(case)
    kwargs["label_smoothing"] = case["ls"]
    if case["reduction"] == "mean" and case["N"] == 0 and not case["unbatched"]:
        pass  # NaN, as torch: covered by the comparison
    check_against_torch(CL.cross_entropy, F.cross_entropy, x, (t,), kwargs, case["reduction"], rng,
                        scale=case["scale"])


@SETTINGS
@given(ce_case())
def test_cross_entropy_probability_targets_match_torch(thread_mode, case):
    rng = np.random.default_rng(case["seed"])
    C = case["C"]
    xshape = (C,) if case["unbatched"] else (case["N"], C) + case["kdims"]
    x = spiced(rng, (rng.standard_normal(xshape) * case["scale"]).astype(case["dtype"]), case["special"])
    y = rng.random(xshape).astype(case["dtype"])
    if case["ignore"] == "class":
        y = y / np.sum(y, axis=0 if case["unbatched"] else 1, keepdims=True)
    kwargs = dict(label_smoothing=case["ls"])
    if case["weighted"]:
        kwargs["weight"] = rng.random(C).astype(case["dtype"]) + 0.1
    check_against_torch(CL.cross_entropy, F.cross_entropy, x, (y,), kwargs, case["reduction"], rng,
                        scale=case["scale"])


@SETTINGS
@given(ce_case())
def test_nll_loss_matches_torch(thread_mode, case):
    rng, x, t, kwargs = _index_data(case)
    check_against_torch(CL.nll_loss, F.nll_loss, x, (t,), kwargs, case["reduction"], rng, scale=case["scale"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nll_loss_fast_path_matches_torch(dtype):
    """The plain call -- (N, C) input, int64 (N,) target, no weight -- has its own entry
    (``_nll_fast``): every reduction against torch, over several blocks, with ignored rows."""
    rng = np.random.default_rng(17)
    N, C = 2 * CL.NLL_SUM_ROWS + 37, 9
    x = (rng.standard_normal((N, C)) * 3).astype(dtype)
    t = rng.integers(0, C, N)
    t[::4] = -100
    t[1::9] = 3
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for reduction in REDUCTIONS:
        ours = CL.nll_loss(x, t, reduction=reduction)
        ref = F.nll_loss(torch.from_numpy(x), torch.from_numpy(t), reduction=reduction).numpy()
        assert np.shape(ours) == ref.shape and np.asarray(ours).dtype == dtype
        np.testing.assert_allclose(ours, ref, **tol)
        # the general path (any weight) runs the same blocks: the same bits with unit weights
        general = CL.nll_loss(x, t, reduction=reduction, weight=np.ones(C, dtype))
        assert np.asarray(ours).tobytes() == np.asarray(general).tobytes()


@pytest.mark.parametrize("C", [2, 16, 17, CEK.SMALL_C, CEK.SMALL_C + 1, 100])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_tiles_and_rows_match_torch_across_tiles_and_blocks(C, dtype):
    """(N, C) inputs on both sides of SMALL_C (transposed tiles / rows), with N spanning many
    tiles of TD rows and several reduction blocks; the row's max beyond its first 16 logits
    (the provisional shift's redo), ignored rows, a NaN row, smoothing and weights."""
    rng = np.random.default_rng(C)
    N = 3 * _rows.block_rows(C) + CEK.TILE_ROWS // 2 + 1
    x = (rng.standard_normal((N, C)) * 20).astype(dtype)
    x[::7, C - 1] = 300.0  # the max past the first 16 classes: exp(x - shift) would overflow
    x[5] = np.nan
    t = rng.integers(0, C, N)
    t[::5] = -100
    w = (rng.random(C) + 0.1).astype(dtype)
    y = rng.random((N, C)).astype(dtype)
    xt = torch.from_numpy(x).requires_grad_()
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    for target, kw in [(t, {}), (t, dict(weight=w, label_smoothing=0.3)), (y, dict(weight=w, label_smoothing=0.1))]:
        tk = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        for reduction in ("none", "sum"):
            loss, g = CL.cross_entropy(x, target, reduction=reduction, return_grad=True, **kw)
            ref = F.cross_entropy(xt, torch.from_numpy(target), reduction=reduction, **tk)
            gref, = torch.autograd.grad(ref.sum(), xt)
            np.testing.assert_allclose(loss, ref.detach().numpy(), equal_nan=True, **tol)
            np.testing.assert_allclose(g, gref.numpy(), equal_nan=True, **tol)
            assert np.isfinite(g[np.arange(N) != 5]).all()


def test_cross_entropy_big_logits_float32_no_overflow():
    x = np.array([[1e4, -1e4, 0.0, 9999.0], [-1e4, -1e4, -1e4, -9990.0]], np.float32)
    t = np.array([1, 3])
    loss, g = CL.cross_entropy(x, t, reduction="none", return_grad=True)
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(g))
    ref = F.cross_entropy(torch.tensor(x, dtype=torch.float64), torch.tensor(t), reduction="none").numpy()
    # float32 row sums: absolute error ~1e-7 where the loss is ~0 (torch float32 likewise)
    np.testing.assert_allclose(loss, ref, rtol=1e-6, atol=2e-7)
    for ls in (0.0, 0.3):
        check_against_torch(CL.cross_entropy, F.cross_entropy, x, (t,), dict(label_smoothing=ls), "none",
                            np.random.default_rng(0), scale=1e4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_rows_needing_the_true_max(dtype):
    """The kernel shifts by the max of a row's first 16 logits and redoes the row with the true
    max when the exp-sum could overflow: rows whose max (or inf/NaN) lies beyond the first 16."""
    rng = np.random.default_rng(15)
    x = rng.standard_normal((9, 40)).astype(dtype)
    x[0, 30] = 1e4  # huge logit late in the row
    x[1, :16] = -1e4  # first 16 far below the rest
    x[2, 25] = 45.0  # just past the e^40 threshold
    x[3, :16] = -np.inf  # provisional shift -inf
    x[4, 39] = np.inf
    x[5, 20] = np.nan
    x[6, 35] = -np.inf
    x[7] *= 300  # wide spread everywhere
    x[8, 17] = 88.5  # exp would overflow float32 with the provisional shift
    t = np.array([30, 20, 25, 3, 5, 1, 35, 2, 17])
    y = rng.random(x.shape).astype(dtype)
    xk = np.ascontiguousarray(x.T[None])  # the same rows as (1, C, 9): the strided-class-axis tiles
    for xx, target in ((x, t), (x, y), (xk, t[None]), (xk, np.ascontiguousarray(y.T[None]))):
        for ls in (0.0, 0.25):
            check_against_torch(CL.cross_entropy, F.cross_entropy, xx, (target,), dict(label_smoothing=ls), "none",
                                np.random.default_rng(0), scale=1e4)


@pytest.mark.parametrize("ls", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_all_ignored_is_nan_with_zero_grad(ls, weighted):
    x = np.random.default_rng(0).standard_normal((4, 5))
    t = np.full(4, -100)
    w = np.linspace(0.5, 2, 5) if weighted else None
    loss, g = CL.cross_entropy(x, t, weight=w, label_smoothing=ls, return_grad=True)
    assert np.isnan(loss)
    assert np.array_equal(g, np.zeros_like(x))
    assert CL.cross_entropy(x, t, weight=w, label_smoothing=ls, reduction="sum") == 0
    loss, g = CL.nll_loss(x, t, weight=w, return_grad=True)
    assert np.isnan(loss) and np.array_equal(g, np.zeros_like(x))


def test_cross_entropy_zero_total_weight_gives_nan_rows_like_torch():
    x = np.random.default_rng(1).standard_normal((4, 5))
    w = np.array([0.0, 1, 1, 1, 1])
    t = np.array([0, 0, 0, -100])
    for ls in (0.0, 0.1):
        check_against_torch(CL.cross_entropy, F.cross_entropy, x, (t,), dict(weight=w, label_smoothing=ls), "mean",
                            np.random.default_rng(0))
    check_against_torch(CL.nll_loss, F.nll_loss, x, (t,), dict(weight=w), "mean", np.random.default_rng(0))


def test_cross_entropy_ignored_row_with_nan_has_nan_grad_like_torch():
    x = np.random.default_rng(2).standard_normal((3, 4))
    x[1, 2] = np.nan
    x[2, 0] = np.inf
    t = np.array([0, 1, 1])
    for ls in (0.0, 0.2):
        check_against_torch(CL.cross_entropy, F.cross_entropy, x, (t,), dict(ignore_index=1, label_smoothing=ls),
                            "none", np.random.default_rng(0))
    xk = np.random.default_rng(3).standard_normal((2, 4, 3))
    xk[0, :, 1] = np.nan
    tk = np.array([[1, 1, 2], [0, 3, 1]])
    check_against_torch(CL.cross_entropy, F.cross_entropy, xk, (tk,), dict(ignore_index=1), "none",
                        np.random.default_rng(0))


def test_unbatched_and_single_target_shapes():
    x = np.random.default_rng(4).standard_normal(5)
    for t in (np.array(2), np.array([2])):
        for red in REDUCTIONS:
            loss = CL.cross_entropy(x, t, reduction=red)
            ref = F.cross_entropy(torch.tensor(x), torch.tensor(t), reduction=red)
            assert np.shape(loss) == tuple(ref.shape)
            np.testing.assert_allclose(loss, ref.numpy(), rtol=1e-12)
            assert np.shape(CL.nll_loss(x, t, reduction=red)) == tuple(
                F.nll_loss(torch.tensor(x), torch.tensor(t), reduction=red).shape)


def test_empty_class_axis():
    x = np.zeros((3, 0))
    t = np.full(3, -100)
    assert np.isnan(CL.cross_entropy(x, t))
    assert CL.cross_entropy(x, t, reduction="sum") == 0
    assert np.all(np.isnan(CL.cross_entropy(x, t, reduction="none", label_smoothing=0.2)))
    assert np.isnan(CL.cross_entropy(x, np.zeros((3, 0))))
    loss, g = CL.cross_entropy(x, t, return_grad=True)
    assert g.shape == (3, 0)
    with pytest.raises(ValueError, match="target"):
        CL.cross_entropy(x, np.zeros(3, np.int64))


def test_fused_cross_entropy_kdim_strided_class_axis_matches_2d():
    """(N, C, D) is handled in place (class axis strided); it equals the transposed 2-D problem."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 7, 40)).astype(np.float32)
    t = rng.integers(0, 7, (3, 40))
    t[0, 5] = -100
    w = rng.random(7).astype(np.float32)
    for ls in (0.0, 0.3):
        l3, g3 = CL.cross_entropy(x, t, weight=w, label_smoothing=ls, reduction="none", return_grad=True)
        x2 = np.ascontiguousarray(x.transpose(0, 2, 1).reshape(-1, 7))
        l2, g2 = CL.cross_entropy(x2, t.reshape(-1), weight=w, label_smoothing=ls, reduction="none",
                                  return_grad=True)
        np.testing.assert_allclose(l3.reshape(-1), l2, rtol=2e-6, atol=1e-6)
        np.testing.assert_allclose(g3.transpose(0, 2, 1).reshape(-1, 7), g2, rtol=2e-6, atol=1e-7)


# --------------------------------------------------------------------------------------------
# Margin losses
# --------------------------------------------------------------------------------------------


@st.composite
def margin_case(draw):
    return dict(
        N=draw(st.integers(0, 6)), C=draw(st.integers(1, 9)), unbatched=draw(st.booleans()),
        seed=draw(st.integers(0, 2**32 - 1)), dtype=draw(dtypes), reduction=draw(reductions),
        weighted=draw(st.booleans()), special=draw(specials), p=draw(st.sampled_from([1, 2])),
        margin=draw(st.sampled_from([1.0, 0.3, -0.5, 2.0])),
    )


def _torch_garbage(case):
    """torch's margin losses return an uninitialised value for "sum" and "mean" over an empty batch."""
    return case["reduction"] != "none" and case["N"] == 0 and not case["unbatched"]


def check_empty_batch(ours, x, args, kwargs, reduction):
    """An empty batch sums to 0 and has a NaN mean (torch's rule for its other losses); its gradient is empty."""
    loss, g = ours(x, *args, reduction=reduction, return_grad=True, **kwargs)
    assert loss.shape == () and g.shape == x.shape and g.dtype == x.dtype
    assert (loss == 0) if reduction == "sum" else np.isnan(loss)


def _margin_inputs(case):
    """The generator, class count, input shape and (spiced) input of a drawn margin case."""
    rng = np.random.default_rng(case["seed"])
    C = case["C"]
    shape = (C,) if case["unbatched"] else (case["N"], C)
    return rng, C, shape, spiced(rng, rng.standard_normal(shape).astype(case["dtype"]), case["special"])


@SETTINGS
@given(margin_case())
def test_multi_margin_loss_matches_torch(thread_mode, case):
    rng, C, shape, x = _margin_inputs(case)
    t = rng.integers(0, C, () if case["unbatched"] else (case["N"],))
    kwargs = dict(p=case["p"], margin=case["margin"])
    if case["weighted"]:
        kwargs["weight"] = (rng.random(C) + 0.1).astype(case["dtype"])
    if _torch_garbage(case):
        check_empty_batch(CL.multi_margin_loss, x, (t,), kwargs, case["reduction"])
        return
    check_against_torch(CL.multi_margin_loss, F.multi_margin_loss, x, (t,), kwargs, case["reduction"], rng)


@SETTINGS
@given(margin_case())
def test_multilabel_margin_loss_matches_torch(thread_mode, case):
    rng, C, shape, x = _margin_inputs(case)
    t = rng.integers(-1, C, shape)  # rows ended by the first -1; values after it still checked
    if _torch_garbage(case):
        check_empty_batch(CL.multilabel_margin_loss, x, (t,), {}, case["reduction"])
        return
    check_against_torch(CL.multilabel_margin_loss, F.multilabel_margin_loss, x, (t,), {}, case["reduction"], rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_margin_losses_over_an_empty_batch(dtype):
    x = np.zeros((0, 4), dtype)
    for reduction in ("sum", "mean"):
        check_empty_batch(CL.multi_margin_loss, x, (np.zeros(0, np.int64),), dict(p=2, weight=np.ones(4, dtype)),
                          reduction)
        check_empty_batch(CL.multilabel_margin_loss, x, (np.zeros((0, 4), np.int64),), {}, reduction)
    assert CL.multi_margin_loss(x, np.zeros(0, np.int64), reduction="none").shape == (0,)
    assert CL.multilabel_margin_loss(x, np.zeros((0, 4), np.int64), reduction="none").shape == (0,)


@SETTINGS
@given(margin_case(), st.sampled_from(["same", "row", "col", "bcast_target"]))
def test_multilabel_soft_margin_loss_matches_torch(thread_mode, case, layout):
    rng = np.random.default_rng(case["seed"])
    C = case["C"]
    shape = (C,) if case["unbatched"] else (case["N"], C)
    x = spiced(rng, (rng.standard_normal(shape) * 3).astype(case["dtype"]), case["special"])
    y = rng.random(shape).astype(case["dtype"])
    if layout == "bcast_target":
        y = y[..., :1] if y.ndim else y
    kwargs = {}
    if case["weighted"]:
        w = rng.random(C) + 0.1
        if layout == "col" and not case["unbatched"]:
            w = rng.random((case["N"], 1)) + 0.1
        kwargs["weight"] = w.astype(case["dtype"])
    check_against_torch(CL.multilabel_soft_margin_loss, F.multilabel_soft_margin_loss, x, (y,), kwargs,
                        case["reduction"], rng)


@pytest.mark.parametrize("C", [10, MK.SOFT_TILE_ELEMENTS + 3])
def test_multilabel_soft_margin_across_tiles_matches_torch(C):
    """Rows spanning several tiles of the flat exp / log1p pass (SOFT_TILE elements; one row per
    tile when a row is longer), with per-row weights and extreme logits."""
    rng = np.random.default_rng(C)
    N = 2 * max(1, MK.SOFT_TILE_ELEMENTS // C) + 3
    x = rng.standard_normal((N, C)) * 30
    x[0, :3] = [-800.0, 800.0, 0.0]
    y = rng.random((N, C))
    w = rng.random((N, 1)) + 0.1
    for red in REDUCTIONS:
        check_against_torch(CL.multilabel_soft_margin_loss, F.multilabel_soft_margin_loss, x, (y,),
                            dict(weight=w), red, rng)


def test_multilabel_soft_margin_target_with_more_dims_than_input_follows_torch():
    rng = np.random.default_rng(6)
    x = rng.standard_normal(4)
    y = rng.random((3, 4))
    for red in REDUCTIONS:
        check_against_torch(CL.multilabel_soft_margin_loss, F.multilabel_soft_margin_loss, x, (y,), {}, red, rng)


@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin_wide_rows_match_torch(p):
    """Rows wider than one float32 partial (SB classes): the target, whose own term is masked
    out of the sum, falls in the first, a middle and the last partial."""
    rng = np.random.default_rng(p)
    C = 2 * PARTIAL_LEN + 37
    x = rng.standard_normal((6, C))
    t = np.array([0, PARTIAL_LEN - 1, PARTIAL_LEN, PARTIAL_LEN + 5, C - 1, 2 * PARTIAL_LEN])
    w = rng.random(C) + 0.1
    for red in REDUCTIONS:
        check_against_torch(CL.multi_margin_loss, F.multi_margin_loss, x, (t,),
                            dict(p=p, margin=0.7, weight=w), red, rng)


def test_margin_losses_ignore_nan_terms_like_torch():
    x = np.random.default_rng(7).standard_normal((3, 4))
    x[0, 2] = np.nan
    x[1, 1] = np.nan
    check_against_torch(CL.multi_margin_loss, F.multi_margin_loss, x, (np.array([0, 1, 3]),), {}, "none",
                        np.random.default_rng(0))
    check_against_torch(CL.multilabel_margin_loss, F.multilabel_margin_loss, x,
                        (np.array([[1, -1, 0, 0], [0, 1, -1, 3], [2, -1, 0, 0]]),), {}, "none",
                        np.random.default_rng(0))


def test_margin_kinks_follow_torch():
    x = np.array([[0.0, 1.0, 0.0]])
    for p in (1, 2):
        loss, g = CL.multi_margin_loss(x, np.array([1]), p=p, return_grad=True)
        assert loss == 0 and np.all(g == 0)
    loss, g = CL.multilabel_margin_loss(x, np.array([[1, -1, 0]]), return_grad=True)
    assert loss == 0 and np.all(g == 0)


def test_softmax_exp_accuracy():
    """softmax.softmax_exp (float32 exp for the softmax): <= 1.1 ulp against float64 on [-87.33, 88.3],
    0 below (flushed subnormals), inf above, NaN kept."""
    import numba

    @numba.njit(error_model="numpy", fastmath={"contract"})
    def run(z, out):
        for i in range(z.size):
            out[i] = SK.softmax_exp(z[i])

    z = np.concatenate([np.linspace(-87.33, 88.3, 4_000_001, dtype=np.float32),
                        np.float32(-1.0) * np.arange(4096, dtype=np.float32) * np.float32(2.0**-20)])
    out = np.empty_like(z)
    run(z, out)
    ref = np.exp(z.astype(np.float64))
    ulp = np.spacing(ref.astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(out - ref) / ulp) <= 1.1
    special = np.array([0.0, -0.0, -88.0, -1e30, -np.inf, np.nan, 89.0, 1e30], np.float32)
    out = np.empty_like(special)
    run(special, out)
    assert out[0] == 1 and out[1] == 1 and out[2] == 0 and out[3] == 0 and out[4] == 0
    assert np.isnan(out[5]) and out[6] == np.inf and out[7] == np.inf


# --------------------------------------------------------------------------------------------
# Independent float64 finite differences
# --------------------------------------------------------------------------------------------

FD_CASES = {
    "ce": (lambda x, **k: CL.cross_entropy(x, np.array([0, 3, -100, 2]), weight=np.array([1.0, 0.5, 2.0, 1.5]),
                                           label_smoothing=0.2, **k), (4, 4)),
    "ce_kdim": (lambda x, **k: CL.cross_entropy(x, np.array([[0, 2, 1], [3, -100, 0]]), label_smoothing=0.1, **k),
                (2, 4, 3)),
    "ce_prob": (lambda x, **k: CL.cross_entropy(x, np.linspace(0.1, 1, 12).reshape(3, 4), weight=np.array(
        [1.0, 0.5, 2.0, 1.5]), label_smoothing=0.3, **k), (3, 4)),
    "nll": (lambda x, **k: CL.nll_loss(x, np.array([[0, 2, 1], [3, -100, 0]]), weight=np.array(
        [1.0, 0.5, 2.0, 1.5]), **k), (2, 4, 3)),
    "multi_margin_p1": (lambda x, **k: CL.multi_margin_loss(x, np.array([0, 3, 1]), margin=2.0, weight=np.array(
        [1.0, 0.5, 2.0, 1.5]), **k), (3, 4)),
    "multi_margin_p2": (lambda x, **k: CL.multi_margin_loss(x, np.array([0, 3, 1]), p=2, margin=2.0, **k), (3, 4)),
    "multilabel_margin": (lambda x, **k: CL.multilabel_margin_loss(x, np.array(
        [[0, 3, -1, 1], [1, -1, 2, 2], [2, 0, 1, -1]]), **k), (3, 4)),
    "multilabel_soft_margin": (lambda x, **k: CL.multilabel_soft_margin_loss(x, np.linspace(0, 1, 12).reshape(
        3, 4), weight=np.array([1.0, 0.5, 2.0, 1.5]), **k), (3, 4)),
}


@pytest.mark.parametrize("name", sorted(FD_CASES))
def test_gradient_matches_finite_differences(name):
    f, shape = FD_CASES[name]
    rng = np.random.default_rng(8)
    x = rng.standard_normal(shape) * 0.7
    for red in ("mean", "none"):
        go = None if red == "mean" else rng.standard_normal(np.shape(f(x, reduction=red)))

        def scalar(v, red=red, go=go):
            loss = f(v, reduction=red)
            return float(loss) if go is None else float(np.sum(loss * go))

        _, g = f(x, reduction=red, return_grad=True, grad_output=go)
        np.testing.assert_allclose(g, fd_grad(scalar, x.copy(), h=1e-4), rtol=1e-6, atol=1e-8)


# --------------------------------------------------------------------------------------------
# Layouts, buffers, dtypes, threads
# --------------------------------------------------------------------------------------------


def test_strided_readonly_inputs_and_no_mutation():
    rng = np.random.default_rng(9)
    base = rng.standard_normal((10, 14))
    x = base[::2, ::-2]  # negatively strided, non-contiguous (5, 7)
    t = np.arange(10)[::2] % 7
    xr = np.ascontiguousarray(x)
    x_ro = xr.copy()
    x_ro.flags.writeable = False
    keep = base.copy()
    for fn, args in ((CL.cross_entropy, (t,)), (CL.nll_loss, (t,)), (CL.multi_margin_loss, (t,)),
                     (CL.multilabel_soft_margin_loss, (rng.random((5, 7)),)),
                     (CL.multilabel_margin_loss, (np.tile([1, 0, -1, 0, 0, 0, 0], (5, 1)),))):
        a = fn(x, *args, return_grad=True, reduction="none")
        b = fn(xr, *args, return_grad=True, reduction="none")
        c = fn(x_ro, *args, return_grad=True, reduction="none")
        for u, v in ((a, b), (b, c)):
            np.testing.assert_array_equal(u[0], v[0])
            np.testing.assert_array_equal(u[1], v[1])
    np.testing.assert_array_equal(base, keep)


def test_memmap_input(tmp_path):
    rng = np.random.default_rng(10)
    x = rng.standard_normal((6, 5)).astype(np.float32)
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32, shape=x.shape)
    mm[...] = x
    mm.flush()
    ro = np.load(tmp_path / "x.npy", mmap_mode="r")
    t = rng.integers(0, 5, 6)
    assert CL.cross_entropy(ro, t) == CL.cross_entropy(x, t)


def test_dtype_rules():
    x16 = np.random.default_rng(11).standard_normal((3, 4)).astype(np.float16)
    t = np.array([0, 1, 2], dtype=np.uint8)
    loss, g = CL.cross_entropy(x16, t, return_grad=True)
    assert type(loss) is np.float32 and g.dtype == np.float32
    loss = CL.cross_entropy(np.arange(12).reshape(3, 4), t.astype(np.int32))  # int input -> float64
    assert type(loss) is np.float64
    # weight and probabilities follow the input's dtype
    x32 = np.ones((2, 3), np.float32)
    assert type(CL.cross_entropy(x32, np.full((2, 3), 1 / 3), weight=np.ones(3))) is np.float32
    assert type(CL.multilabel_soft_margin_loss(x32, np.ones((2, 3), np.int64))) is np.float32


def test_gradient_out_buffer():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((5, 6)).astype(np.float32)
    t = rng.integers(0, 6, 5)
    buf = np.full_like(x, 7.0)
    loss, g = CL.cross_entropy(x, t, return_grad=True, gradient_out=buf)
    assert g is buf
    np.testing.assert_array_equal(buf, CL.cross_entropy(x, t, return_grad=True)[1])
    buf = np.full_like(x, 7.0)
    _, g = CL.nll_loss(x, t, return_grad=True, gradient_out=buf)
    assert g is buf and np.count_nonzero(buf) == 5
    with pytest.raises(ValueError, match="gradient_out"):
        CL.cross_entropy(x, t, gradient_out=buf)
    with pytest.raises(ValueError, match="gradient_out"):
        CL.cross_entropy(x, t, return_grad=True, gradient_out=np.empty((5, 6)))  # float64
    with pytest.raises(ValueError, match="gradient_out"):
        CL.nll_loss(x, t, return_grad=True, gradient_out=np.empty((6, 5), np.float32))
    with pytest.raises(ValueError, match="gradient_out"):
        CL.cross_entropy(x, t, return_grad=True, gradient_out=x)
    ro = np.empty_like(x)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="gradient_out"):
        CL.multi_margin_loss(x, t, return_grad=True, gradient_out=ro)
    with pytest.raises(ValueError, match="grad_output"):
        CL.cross_entropy(x, t, grad_output=1.0)
    with pytest.raises(ValueError, match="grad_output"):
        CL.cross_entropy(x, t, reduction="none", return_grad=True, grad_output=np.ones(4))


def test_nll_sum_blocks_in_parallel(monkeypatch):
    """The reduced NLL forward runs its blocks in parallel: the same bits with 1 and 2 threads,
    for the (N, C) fast path and the general path alike, matching torch; with bad class indices
    in several blocks, the first one is reported."""
    from numloss import _threads

    rng = np.random.default_rng(21)
    N, C = 3 * CL.NLL_SUM_ROWS + 11, 7  # four blocks
    x = rng.standard_normal((N, C)).astype(np.float32)
    t = rng.integers(0, C, N)
    t[::9] = -100
    w = (rng.random(C) + 0.1).astype(np.float32)
    monkeypatch.setattr(_threads, "PARALLEL_MIN_WORK", 0)
    results = []
    for n in (1, 2):
        numloss.set_num_threads(n)
        results.append([CL.nll_loss(x, t), CL.nll_loss(x, t, reduction="sum"), CL.nll_loss(x, t, weight=w),
                        CL.nll_loss(x[:, :, None], t[:, None], reduction="sum")])
    numloss.set_num_threads(_threads._max_threads)
    assert [r.tobytes() for r in results[0]] == [r.tobytes() for r in results[1]]
    np.testing.assert_allclose(results[0][0], F.nll_loss(torch.from_numpy(x), torch.from_numpy(t)).item(),
                               rtol=1e-6)
    np.testing.assert_allclose(results[0][1], results[0][3], rtol=1e-6)
    bad = t.copy()
    bad[N - 5] = C + 4
    bad[CL.NLL_SUM_ROWS + 3] = C
    for n in (1, 2):
        numloss.set_num_threads(n)
        with pytest.raises(ValueError, match=f"class index {C},"):
            CL.nll_loss(x, bad)
        with pytest.raises(ValueError, match=f"class index {C},"):
            CL.nll_loss(x, bad, weight=w)
    numloss.set_num_threads(_threads._max_threads)


def test_thread_count_gives_identical_bits(threads):
    rng = np.random.default_rng(13)
    x = (rng.standard_normal((300, 250)) * 5).astype(np.float32)
    t = rng.integers(0, 250, 300)
    t[::7] = -100
    xk = rng.standard_normal((4, 20, 1000)).astype(np.float32)
    tk = rng.integers(0, 20, (4, 1000))
    y = rng.random(x.shape).astype(np.float32)
    w = rng.random(250).astype(np.float32)
    tml = np.where(rng.random(x.shape) < 0.02, rng.integers(0, 250, x.shape), -1)
    tml = np.sort(tml, axis=1)[:, ::-1].copy()
    calls = [
        lambda **k: CL.cross_entropy(x, t, weight=w, label_smoothing=0.1, **k),
        lambda **k: CL.cross_entropy(xk, tk, **k),
        lambda **k: CL.cross_entropy(x, y, **k),
        lambda **k: CL.nll_loss(x, t, **k),
        lambda **k: CL.multi_margin_loss(x, t % 250, p=2, **k),
        lambda **k: CL.multilabel_margin_loss(x, tml, **k),
        lambda **k: CL.multilabel_soft_margin_loss(x, y, **k),
    ]
    for call in calls:
        results = []
        for n in (1, 2):
            numloss.set_num_threads(n)
            results.append((call(), call(return_grad=True), call(reduction="none")))
        (a, (la, ga), na), (b, (lb, gb), nb) = results
        assert a.tobytes() == b.tobytes() and la.tobytes() == lb.tobytes()
        assert ga.tobytes() == gb.tobytes() and na.tobytes() == nb.tobytes()


def test_class_api():
    rng = np.random.default_rng(14)
    x = rng.standard_normal((4, 5))
    t = rng.integers(0, 5, 4)
    w = rng.random(5)
    fn = CL.CrossEntropyLoss(weight=w, ignore_index=1, reduction="sum", label_smoothing=0.1)
    assert fn(x, t) == CL.cross_entropy(x, t, w, 1, "sum", 0.1)
    loss, g = fn.value_and_grad(x, t)
    np.testing.assert_array_equal(g, CL.cross_entropy(x, t, w, 1, "sum", 0.1, return_grad=True)[1])
    assert CL.NLLLoss(w, -100, "none")(x, t).shape == (4,)
    assert CL.MultiMarginLoss(2, 0.5, w)(x, t) == CL.multi_margin_loss(x, t, 2, 0.5, w)
    tm = np.array([[1, -1, 0, 0, 0]] * 4)
    assert CL.MultiLabelMarginLoss()(x, tm) == CL.multilabel_margin_loss(x, tm)
    y = rng.random((4, 5))
    assert CL.MultiLabelSoftMarginLoss(w, "mean")(x, y) == CL.multilabel_soft_margin_loss(x, y, w)
    assert "CrossEntropyLoss(" in repr(fn)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------

X = np.zeros((3, 4))
T = np.array([0, 1, 2])

ERRORS = [
    (ValueError, "target", lambda: CL.cross_entropy(X, np.array([0, 1, 4]))),
    (ValueError, "target", lambda: CL.cross_entropy(X, np.array([0, -1, 2]))),
    (ValueError, "target", lambda: CL.nll_loss(X, np.array([0, 1, -5]), ignore_index=-1)),
    (TypeError, "target", lambda: CL.cross_entropy(X, np.array([0.0, 1.0, 2.0]))),
    (TypeError, "target", lambda: CL.nll_loss(X, np.array([0.0, 1.0, 2.0]))),
    (ValueError, "target", lambda: CL.cross_entropy(X, np.array([0, 1]))),
    (ValueError, "target", lambda: CL.cross_entropy(np.zeros((3, 4, 2)), np.zeros((3, 3), np.int64))),
    (ValueError, "target", lambda: CL.cross_entropy(np.zeros((3, 4, 2)), np.zeros((3,), np.int64))),
    (ValueError, "target", lambda: CL.cross_entropy(np.zeros(4), np.array([1, 2]))),
    (ValueError, "target", lambda: CL.cross_entropy(X, np.zeros((3, 4), np.int64))),
    (ValueError, "ignore_index", lambda: CL.cross_entropy(X, np.full((3, 4), 0.25), ignore_index=0)),
    (ValueError, "weight", lambda: CL.cross_entropy(X, T, weight=np.ones(3))),
    (ValueError, "weight", lambda: CL.nll_loss(X, T, weight=np.ones((1, 4)))),
    (ValueError, "label_smoothing", lambda: CL.cross_entropy(X, T, label_smoothing=1.5)),
    (TypeError, "label_smoothing", lambda: CL.cross_entropy(X, T, label_smoothing="a")),
    (ValueError, "reduction", lambda: CL.cross_entropy(X, T, reduction="avg")),
    (ValueError, "reduction", lambda: CL.nll_loss(X, T, reduction=None)),
    (TypeError, "ignore_index", lambda: CL.nll_loss(X, T, ignore_index=1.5)),
    (ValueError, "input", lambda: CL.cross_entropy(np.zeros(()), np.array(0))),
    (TypeError, "input", lambda: CL.cross_entropy(X.astype(complex), T)),
    (ValueError, "p", lambda: CL.multi_margin_loss(X, T, p=3)),
    (TypeError, "p", lambda: CL.multi_margin_loss(X, T, p=True)),
    (ValueError, "target", lambda: CL.multi_margin_loss(X, np.array([0, 1, 4]))),
    (ValueError, "target", lambda: CL.multi_margin_loss(X, np.array([0, 1]))),
    (TypeError, "target", lambda: CL.multi_margin_loss(X, T.astype(float))),
    (ValueError, "weight", lambda: CL.multi_margin_loss(X, T, weight=np.ones(3))),
    (ValueError, "input", lambda: CL.multi_margin_loss(np.zeros((2, 3, 4)), T)),
    (ValueError, "input", lambda: CL.multi_margin_loss(np.zeros((3, 0)), T)),
    (TypeError, "margin", lambda: CL.multi_margin_loss(X, T, margin="1")),
    (ValueError, "target", lambda: CL.multilabel_margin_loss(X, np.array([[4, -1, 0, 0]] * 3))),
    (ValueError, "target", lambda: CL.multilabel_margin_loss(X, np.array([[1, -2, 0, 0]] * 3))),
    (ValueError, "target", lambda: CL.multilabel_margin_loss(X, np.zeros((3, 3), np.int64))),
    (TypeError, "target", lambda: CL.multilabel_margin_loss(X, np.zeros((3, 4)))),
    (ValueError, "shapes", lambda: CL.multilabel_soft_margin_loss(X, np.zeros((3, 3)))),
    (ValueError, "weight", lambda: CL.multilabel_soft_margin_loss(X, X, weight=np.ones(3))),
    (ValueError, "input", lambda: CL.multilabel_soft_margin_loss(np.zeros(()), np.zeros(()))),
    (ValueError, "grad_output", lambda: CL.multilabel_soft_margin_loss(X, X, return_grad=True, grad_output=np.ones(3))),
]


@pytest.mark.parametrize("exc, word, call", ERRORS, ids=[f"{i}-{e[1]}" for i, e in enumerate(ERRORS)])
def test_bad_input_raises_naming_argument(exc, word, call):
    with pytest.raises(exc, match=word):
        call()


def test_streaming_stores_give_the_same_bits(monkeypatch):
    """NLL gradients of at least STREAM_BYTES, with rows of at least STREAM_ROW_BYTES, are
    zero-filled with non-temporal stores (a different code path): force it on small inputs and
    compare with the ordinary path."""
    rng = np.random.default_rng(16)
    x = (rng.standard_normal((37, 53)) * 4).astype(np.float32)
    x[3, 5] = np.nan
    t = rng.integers(0, 53, 37)
    t[::5] = -100
    w = rng.random(53).astype(np.float32)
    x[7] = x[7].astype(np.float64).astype(np.float32)
    calls = [
        lambda **k: CL.cross_entropy(x, t, **k),
        lambda **k: CL.cross_entropy(x, t, weight=w, label_smoothing=0.2, **k),
        lambda **k: CL.cross_entropy(x[:, 1:], t % 52, reduction="none", **k),  # unaligned rows
        lambda **k: CL.nll_loss(x, t, weight=w, **k),
        lambda **k: CL.nll_loss(x.astype(np.float64), t, **k),
    ]
    plain = [call(return_grad=True) for call in calls]
    monkeypatch.setattr(CL, "STREAM_BYTES", 0)
    monkeypatch.setattr(CL, "STREAM_ROW_BYTES", 0)
    for call, (loss, grad) in zip(calls, plain):
        loss2, grad2 = call(return_grad=True)
        assert np.asarray(loss).tobytes() == np.asarray(loss2).tobytes()
        assert grad.tobytes() == grad2.tobytes()
