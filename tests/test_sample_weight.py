"""``sample_weight=`` on every loss (docs/api.md, Evaluation).

Values and gradients against torch: the weighted formula ``w * loss``, ``sum(w * loss)``,
``sum(w * loss) / sum(w * c)`` evaluated with torch's own ``reduction="none"`` losses, and
torch.autograd's gradients of it. Also: per-sample, per-row and per-element weights, zeros, ones
and one nonzero weight, the errors, ``grad_output`` / ``gradient_out``, the class forms, no
mutation, and ``sample_weight=None`` leaving every bit unchanged.
"""
import warnings

import numpy as np
import pytest
import torch

import numloss
from numloss._registry import CASES

COVERED = [c for c in CASES if c.family in ("elementwise", "ctc", "class-score", "embedding")]
ELEMENTWISE = [c for c in COVERED if c.family == "elementwise"]
ROWS = [c for c in COVERED if c.family in ("class-score", "embedding")]
REDUCTIONS = ("none", "sum", "mean")
TOL = {np.float32: dict(rtol=3e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-13)}
FORMS = ("sample", "row", "element", "last", "scalar")


def _tuple(x):
    return x if isinstance(x, tuple) else (x,)


def _make(case, rng, dtype, size="small"):
    args, kwargs = case.make(rng, size, dtype)
    kwargs = dict(kwargs)
    kwargs.pop("reduction", None)  # kl_div's standard "batchmean" is tested as a reduction
    return args, kwargs


def _reductions(case):
    return REDUCTIONS + (("batchmean",) if case.name == "kl_div" else ())


def _loss_shape(case, args):
    if case.family == "ctc":
        return (args[0].shape[1],)
    if case.family == "class-score":  # one row per sample and position: (N, d1, ..., dK)
        return args[0].shape[:1] + args[0].shape[2:]
    if case.family == "embedding":
        return args[0].shape[:-1]
    return np.broadcast_shapes(*(np.shape(a) for a in args))


def _per_sample_only(case):
    return case.family != "elementwise"


def _weights(form, shape, rng, dtype):
    """Weights of one form for a loss of ``shape``, and the same broadcast to ``shape``."""
    n = shape[0]
    w = {
        "sample": lambda: rng.uniform(0, 2, n),
        "row": lambda: rng.uniform(0, 2, (n,) + (1,) * (len(shape) - 1)),
        "element": lambda: rng.uniform(0, 2, shape),
        "last": lambda: rng.uniform(0, 2, (1,) * (len(shape) - 1) + shape[-1:]),
        "scalar": lambda: np.array(rng.uniform(0, 2)),
    }[form]().astype(dtype)
    return w, _broadcast(w, shape)


def _broadcast(w, shape):
    w = np.asarray(w)
    if w.ndim == 1 and len(shape) and w.shape[0] == shape[0]:  # per sample, along axis 0
        w = w.reshape(w.shape + (1,) * (len(shape) - 1))
    return np.broadcast_to(w, shape)


def torch_weighted(case, args, kwargs, wb, reduction, grad_output=None):
    """torch's weighted formula (``wb``: the weights broadcast to the "none" output) and
    torch.autograd's gradients of it, as float64-or-float32 NumPy arrays like the inputs."""
    targs = [torch.tensor(a) if isinstance(a, np.ndarray) else a for a in args]
    for i in case.grad_of:
        targs[i].requires_grad_(True)
    tkw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    w = torch.tensor(np.ascontiguousarray(wb))
    F = torch.nn.functional
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if case.name == "rmse_loss" and reduction != "none":
            sq = w * F.mse_loss(*targs, reduction="none")
            loss = torch.sqrt(sq.sum() / (w.sum() if reduction == "mean" else 1))
        else:
            per = case.torch_loss(torch, *targs, **tkw, reduction="none")
            wl = w * per
            if reduction == "none":
                loss = wl
            elif case.name == "ctc_loss" and reduction == "mean":
                lengths = torch.clamp_min(torch.as_tensor(args[3]), 1).to(per.dtype)
                loss = (wl / lengths).sum() / w.sum()
            elif case.name in ("cross_entropy", "nll_loss") and reduction == "mean" and args[1].dtype.kind in "iu":
                # what torch's mean counts: the class weight of the target, 0 where ignored
                t = targs[1]
                kept = t != tkw.get("ignore_index", -100)
                cw = tkw.get("weight")
                count = kept.to(per.dtype) if cw is None else torch.where(kept, cw[torch.where(kept, t, 0)], 0)
                loss = wl.sum() / (w * count).sum()
            elif reduction == "sum":
                loss = wl.sum()
            else:  # what torch's mean counts per element: 1, the class weight, or 1/elements per sample
                if reduction == "batchmean":
                    count = args[0].shape[0] / per.numel()
                elif "weight" in tkw and case.name in ("l1_loss", "mse_loss"):
                    count = tkw["weight"]
                else:
                    count = torch.ones_like(per)
                loss = wl.sum() / (w * count).sum()
    go = torch.ones_like(loss) if grad_output is None else torch.as_tensor(grad_output, dtype=loss.dtype)
    grads = torch.autograd.grad(loss, [targs[i] for i in case.grad_of], go, allow_unused=True)
    grads = [np.zeros(targs[i].shape) if g is None else g.numpy() for i, g in zip(case.grad_of, grads)]
    return loss.detach().numpy(), grads


def numloss_weighted(case, args, kwargs, w, reduction, **extra):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss, grad = getattr(numloss, case.name)(
            *args, **kwargs, reduction=reduction, sample_weight=w, return_grad=True, **extra
        )
    return loss, (list(grad) if isinstance(grad, tuple) else [grad])


def assert_matches_torch(case, args, kwargs, w, reduction, dtype, grad_output=None, tol=None):
    tol = tol or TOL[dtype]
    loss, grads = numloss_weighted(case, args, kwargs, w, reduction, grad_output=grad_output)
    wb = _broadcast(w, _loss_shape(case, args))
    tloss, tgrads = torch_weighted(case, args, kwargs, wb, reduction, grad_output)
    assert np.asarray(loss).dtype == dtype and np.shape(loss) == np.shape(tloss)
    np.testing.assert_allclose(loss, tloss, equal_nan=True, err_msg=f"{case.name} loss", **tol)
    for i, g, tg in zip(case.grad_of, grads, tgrads):
        assert g.dtype == dtype and g.shape == np.shape(args[i])
        np.testing.assert_allclose(g, tg, equal_nan=True, err_msg=f"{case.name} grad {i}", **tol)
    return loss, grads


# ---------------------------------------------------------------------------------------------
# Values and gradients against torch


# float32 of every form compiles a kernel variant per loss: in the slow run (the other tests here
# cover float32 weights)
@pytest.mark.parametrize("dtype", [pytest.param(np.float32, marks=pytest.mark.slow), np.float64])
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("case", COVERED, ids=lambda c: c.name)
def test_weighted_formula_matches_torch(case, form, dtype, rng):
    if _per_sample_only(case) and form != "sample":
        pytest.skip("one weight per sample only")
    args, kwargs = _make(case, rng, dtype)
    w, _ = _weights(form, _loss_shape(case, args), rng, dtype)
    for reduction in _reductions(case):
        assert_matches_torch(case, args, kwargs, w, reduction, dtype)
        # the forward alone gives the same loss; a forward sums per-element weights in its loss
        # pass, in the compiled loop's order, so a weighted mean may differ in the last bit
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loss = getattr(numloss, case.name)(*args, **kwargs, reduction=reduction, sample_weight=w)
        ref, _ = numloss_weighted(case, args, kwargs, w, reduction)
        if reduction in ("mean", "batchmean"):
            np.testing.assert_allclose(loss, ref, rtol=2 * np.finfo(dtype).eps, atol=0)
        else:
            np.testing.assert_array_equal(loss, ref)


@pytest.mark.parametrize("weight_of", ["l1_loss", "mse_loss", "huber_loss", "binary_cross_entropy",
                                       "binary_cross_entropy_with_logits"])
@pytest.mark.parametrize("form", ["sample", "element"])
def test_with_the_losses_own_weight(weight_of, form, rng):
    """l1/mse: torch 2.13's weighted mean divides by sum(weight), so c = weight; huber and the
    BCEs divide by the element count, so c = 1 and ``weight`` is only a factor."""
    case = next(c for c in ELEMENTWISE if c.name == weight_of)
    args, kwargs = _make(case, rng, np.float64)
    kwargs["weight"] = rng.uniform(0, 3, args[0].shape)
    w, _ = _weights(form, args[0].shape, rng, np.float64)
    for reduction in REDUCTIONS:
        assert_matches_torch(case, args, kwargs, w, reduction, np.float64)


@pytest.mark.parametrize("name", ["mse_loss", "gaussian_nll_loss", "margin_ranking_loss"])
def test_row_weights_across_block_boundaries(name, rng, thread_mode):
    """Rows of 1000 and 3 x 7 elements (not dividing the 4096-element blocks), one weight per
    sample or per (sample, channel), serial and in parallel (the row expansion is the driver's,
    the same for every loss: two and three operands, one and two gradients)."""
    case = next(c for c in ELEMENTWISE if c.name == name)
    for shape, wshape in [((37, 1000), (37,)), ((300, 3, 7), (300, 3, 1)), ((300, 3, 7), (300,))]:
        args = [np.ascontiguousarray(np.resize(a, shape)) for a in _make(case, rng, np.float64)[0]]
        kwargs = _make(case, rng, np.float64)[1]
        w = rng.uniform(0, 2, wshape)
        for reduction in ("none", "mean"):
            assert_matches_torch(case, args, kwargs, w, reduction, np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", COVERED, ids=lambda c: c.name)
def test_edge_weights(case, dtype, rng):
    args, kwargs = _make(case, rng, dtype)
    shape = _loss_shape(case, args)
    n = shape[0]
    f = getattr(numloss, case.name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for reduction in _reductions(case):
            plain = f(*args, **kwargs, reduction=reduction, return_grad=True)
            # all ones: the unweighted numbers (to rounding of the denominator's float64 sum)
            ones = f(*args, **kwargs, reduction=reduction, return_grad=True, sample_weight=np.ones(n, dtype))
            rtol = 1e-12 if dtype == np.float64 else 1e-6
            np.testing.assert_allclose(ones[0], plain[0], rtol=rtol)
            for g, g0 in zip(_tuple(ones[1]), _tuple(plain[1])):
                np.testing.assert_allclose(g, g0, rtol=rtol, atol=0)
            # all zeros: 0 for "none" / "sum", NaN for a mean (0 / 0), as torch's all-ignored mean
            zero = f(*args, **kwargs, reduction=reduction, sample_weight=np.zeros(n, dtype))
            if reduction in ("mean", "batchmean"):
                assert np.isnan(zero)
            else:
                assert np.all(zero == 0)
            # one nonzero weight
            one = np.zeros(n, dtype)
            one[3] = 2.5
            assert_matches_torch(case, args, kwargs, one, reduction, dtype)
        # a mean over zero weights: NaN (0 / 0), and so is its whole gradient
        # (torch's autograd gives 0 instead where its backward masks the
        # upstream NaN, e.g. through clamp_min, so it is not the reference here);
        # a row loss's gradient entries that are 0 whatever the factor (NLL off
        # the target, an inactive hinge) stay 0
        loss, grads = numloss_weighted(case, args, kwargs, np.zeros(n, dtype), "mean")
        assert np.isnan(loss)
        for g, g0 in zip(grads, _tuple(f(*args, **kwargs, reduction="mean", return_grad=True)[1])):
            assert np.isnan(g[g0 != 0]).all() and (case.family in ("class-score", "embedding") or np.isnan(g).all())


def test_one_sample_mean_is_that_samples_mean(rng):
    x, y = rng.standard_normal((2, 6, 5))
    w = np.zeros(6)
    w[2] = 0.7
    assert numloss.l1_loss(x, y, sample_weight=w) == pytest.approx(np.abs(x[2] - y[2]).mean(), rel=1e-14)
    # kl_div batchmean: the KL of that sample
    t = rng.dirichlet(np.ones(5), 6)
    kl = numloss.kl_div(x, t, reduction="batchmean", sample_weight=w)
    assert kl == pytest.approx(np.sum(t[2] * (np.log(t[2]) - x[2])), rel=1e-13)


# ---------------------------------------------------------------------------------------------
# grad_output, gradient_out, class forms, unbatched inputs


@pytest.mark.parametrize("case", COVERED, ids=lambda c: c.name)
def test_grad_output_and_gradient_out(case, rng):
    args, kwargs = _make(case, rng, np.float64)
    shape = _loss_shape(case, args)
    w = rng.uniform(0, 2, shape[0])
    for reduction in REDUCTIONS:
        go = rng.standard_normal(shape) if reduction == "none" else 0.37
        loss, grads = assert_matches_torch(case, args, kwargs, w, reduction, np.float64, grad_output=go)
        bufs = tuple(np.full(np.shape(args[i]), -7.0) for i in case.grad_of)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = getattr(numloss, case.name)(
                *args, **kwargs, reduction=reduction, sample_weight=w, return_grad=True, grad_output=go,
                gradient_out=bufs if len(bufs) > 1 else bufs[0],
            )
        got = _tuple(out[1])
        for b, g, ref in zip(bufs, got, grads):
            assert g is b
            np.testing.assert_array_equal(b, ref)


def test_class_forms_take_sample_weight(rng):
    x, y = rng.standard_normal((2, 8, 3))
    w = rng.uniform(0, 1, 8)
    assert numloss.MSELoss()(x, y, sample_weight=w) == numloss.mse_loss(x, y, sample_weight=w)
    loss, g = numloss.HuberLoss("sum", 0.5).value_and_grad(x, y, sample_weight=w, grad_output=2.0)
    ref = numloss.huber_loss(x, y, "sum", 0.5, sample_weight=w, return_grad=True, grad_output=2.0)
    assert loss == ref[0] and np.array_equal(g, ref[1])
    case = next(c for c in COVERED if c.name == "ctc_loss")
    args, _ = case.make(rng, "small", np.float64)
    cw = rng.uniform(0, 1, args[0].shape[1])
    loss, g = numloss.CTCLoss(reduction="sum").value_and_grad(*args, sample_weight=cw)
    ref = numloss.ctc_loss(*args, reduction="sum", sample_weight=cw, return_grad=True)
    assert loss == ref[0] and np.array_equal(g, ref[1])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_unbatched_inputs_take_a_scalar(reduction, rng):
    x, y = rng.standard_normal(2)
    for w in (0.5, np.float32(0.5), np.array(0.5)):
        loss, g = numloss.mse_loss(np.array(x), np.array(y), reduction=reduction, sample_weight=w, return_grad=True)
        assert np.shape(loss) == () and np.shape(g) == ()
        expected = (x - y) ** 2 * (1 if reduction == "mean" else 0.5)
        assert float(loss) == pytest.approx(expected, rel=1e-14)
    # kl_div "batchmean" of a 0-d input: one sample, whose weight it is divided by
    assert numloss.kl_div(np.array(x), np.array(0.3), reduction="batchmean", sample_weight=4.0) == pytest.approx(
        0.3 * (np.log(0.3) - x), rel=1e-14)
    # unbatched CTC
    lp = np.log(np.full((5, 3), 1 / 3))
    tgt, il, tl = np.array([1, 2]), 5, 2
    loss = numloss.ctc_loss(lp, tgt, il, tl, reduction=reduction, sample_weight=0.5)
    plain = numloss.ctc_loss(lp, tgt, il, tl, reduction=reduction)
    assert loss == pytest.approx(plain * (1 if reduction == "mean" else 0.5), rel=1e-14)


def test_ctc_zero_infinity_with_weights(rng):
    """An infeasible sample (inf loss) zeroed by zero_infinity contributes nothing; the others
    are weighted. Without zero_infinity its weight multiplies inf (0 * inf = NaN, as torch)."""
    lp = np.log(rng.dirichlet(np.ones(4), (6, 3)))
    targets = np.array([[1, 2, 3], [1, 1, 1], [2, 3, 0]])  # sample 1 needs 5 frames but gets 3
    il, tl = np.array([6, 3, 6]), np.array([3, 3, 2])
    w = np.array([0.5, 2.0, 1.5])
    case = next(c for c in COVERED if c.name == "ctc_loss")
    for reduction in REDUCTIONS:
        loss = numloss.ctc_loss(lp, targets, il, tl, reduction=reduction, zero_infinity=True, sample_weight=w)
        t = torch.nn.functional.ctc_loss(torch.tensor(lp), torch.tensor(targets), torch.tensor(il), torch.tensor(tl),
                                         reduction="none", zero_infinity=True).numpy()
        ref = {"none": w * t, "sum": np.sum(w * t), "mean": np.sum(w * t / tl) / w.sum()}[reduction]
        np.testing.assert_allclose(loss, ref, rtol=1e-12)
    w0 = np.array([0.5, 0.0, 1.5])
    assert np.isnan(numloss.ctc_loss(lp, targets, il, tl, reduction="sum", sample_weight=w0))
    assert_matches_torch(case, (lp, targets, il, tl), {}, w0, "none", np.float64)


# ---------------------------------------------------------------------------------------------
# None: the same bits as without the argument; inputs never mutated


@pytest.mark.parametrize("case", COVERED, ids=lambda c: c.name)
def test_none_is_bit_identical(case, rng):
    args, kwargs = _make(case, rng, np.float32)
    f = getattr(numloss, case.name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for reduction in _reductions(case):
            for extra in ({}, {"return_grad": True}):
                a = f(*args, **kwargs, reduction=reduction, **extra)
                b = f(*args, **kwargs, reduction=reduction, sample_weight=None, **extra)
                for u, v in zip(_tuple(a), _tuple(b)):
                    for p, q in zip(_tuple(u), _tuple(v)):
                        assert np.asarray(p).dtype == np.asarray(q).dtype
                        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("form", ["sample", "element"])
@pytest.mark.parametrize("case", COVERED, ids=lambda c: c.name)
def test_inputs_are_not_mutated(case, form, rng):
    if _per_sample_only(case) and form != "sample":
        pytest.skip("one weight per sample only")
    args, kwargs = _make(case, rng, np.float32)
    w, _ = _weights(form, _loss_shape(case, args), rng, np.float32)
    before = [np.copy(a) for a in args] + [w.copy()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for reduction in REDUCTIONS:
            getattr(numloss, case.name)(*args, **kwargs, reduction=reduction, sample_weight=w, return_grad=True)
    for a, b in zip(list(args) + [w], before):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------
# Bad weights: a ValueError (TypeError for a non-number) naming sample_weight, before any kernel


def _bad_weights(case, shape, dtype):
    n = shape[0]
    bad = {
        "length": np.ones(n + 1),
        "2-D sample": np.ones((n, 1)) if len(shape) == 1 else np.ones((n, shape[1] + 1)),
        "broadcast beyond": np.ones((2,) + tuple(shape)),
        "negative": np.r_[np.ones(n - 1), -1.0],
        "NaN": np.r_[np.ones(n - 1), np.nan],
        "inf": np.r_[np.ones(n - 1), np.inf],
        "-0 and tiny negative": np.r_[np.zeros(n - 1), -1e-300],
    }
    if _per_sample_only(case):
        bad["scalar"] = np.array(1.0)
    return {k: v.astype(dtype) for k, v in bad.items()}


@pytest.mark.parametrize("case", COVERED, ids=lambda c: c.name)
def test_bad_weights_raise_before_any_kernel(case, rng):
    args, kwargs = _make(case, rng, np.float64)
    shape = _loss_shape(case, args)
    f = getattr(numloss, case.name)
    for what, w in _bad_weights(case, shape, np.float64).items():
        for reduction in REDUCTIONS:
            bufs = tuple(np.full(np.shape(args[i]), 5.0) for i in case.grad_of)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with pytest.raises(ValueError, match="sample_weight") as err:
                    f(*args, **kwargs, reduction=reduction, sample_weight=w, return_grad=True,
                      gradient_out=bufs if len(bufs) > 1 else bufs[0])
            for b in bufs:
                assert np.all(b == 5.0), f"{what}: gradient_out written before the error"
            if what in ("negative", "NaN", "inf"):
                assert what.lower() in str(err.value).lower()
    for w in (np.array(["a"] * shape[0]), np.ones(shape[0]) + 1j):
        with pytest.raises(TypeError, match="sample_weight"):
            f(*args, **kwargs, reduction="sum", sample_weight=w)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", ELEMENTWISE, ids=lambda c: c.name)
def test_bad_element_weights_raise_in_a_forward(case, dtype, rng):
    """A forward sums per-element weights in its loss pass: the same errors, raised from those
    sums, with the bad value anywhere (blocks beyond the first included)."""
    args, kwargs = _make(case, rng, dtype)
    shape = _loss_shape(case, args)
    f = getattr(numloss, case.name)
    n = int(np.prod(shape))
    for what, value in (("negative", -1.0), ("NaN", np.nan), ("inf", np.inf), ("negative", -1e-30)):
        for at in (0, n // 2, n - 1):
            w = np.ones(n, dtype)
            w[at] = value
            for reduction in REDUCTIONS:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    with pytest.raises(ValueError, match="sample_weight") as err:
                        f(*args, **kwargs, reduction=reduction, sample_weight=w.reshape(shape))
                assert what.lower() in str(err.value).lower()
    # -0.0 is a valid weight
    w = np.ones(n, dtype)
    w[n // 2] = -0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isfinite(f(*args, **kwargs, sample_weight=w.reshape(shape)))


def test_sample_weight_is_keyword_only(rng):
    x, y = rng.standard_normal((2, 4, 3))
    with pytest.raises(TypeError):
        numloss.l1_loss(x, y, "mean", None, np.ones(4))
    with pytest.raises(TypeError):
        numloss.MSELoss()(x, y, np.ones(4))


# ---------------------------------------------------------------------------------------------
# Row losses: what the registry's standard inputs do not reach


def _ce_nll(name):
    return next(c for c in ROWS if c.name == name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
def test_class_index_targets_with_everything(name, dtype, rng):
    """K-dim input (w_n on every position of sample n), ignore_index, class weights, label
    smoothing: "mean" divides by sum(w_n weight[t] [t != ignore_index]); grad_output too."""
    case = _ce_nll(name)
    x = rng.standard_normal((6, 5, 3, 4)).astype(dtype)
    t = rng.integers(0, 5, (6, 3, 4))
    t[rng.random(t.shape) < 0.25] = 2  # ignored
    w = rng.uniform(0, 2, 6).astype(dtype)
    w[1] = 0
    extra = {"label_smoothing": 0.2} if name == "cross_entropy" else {}
    kwargs = dict(weight=rng.uniform(0.5, 2, 5).astype(dtype), ignore_index=2, **extra)
    for reduction in REDUCTIONS:
        go = rng.standard_normal((6, 3, 4)) if reduction == "none" else 1.7
        assert_matches_torch(case, (x, t), kwargs, w, reduction, dtype, grad_output=go)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_probability_targets(dtype, rng):
    """Probability targets: "mean" counts 1 per (sample, position), so it divides by
    sum(w) * positions; also with class weights and label smoothing."""
    case = _ce_nll("cross_entropy")
    x = rng.standard_normal((5, 4, 7)).astype(dtype)
    y = rng.dirichlet(np.ones(4), (5, 7)).transpose(0, 2, 1).astype(dtype)
    w = rng.uniform(0, 2, 5).astype(dtype)
    for kwargs in ({}, {"weight": rng.uniform(0.5, 2, 4).astype(dtype), "label_smoothing": 0.1}):
        for reduction in REDUCTIONS:
            assert_matches_torch(case, (x, y), kwargs, w, reduction, dtype)
    assert_matches_torch(case, (x[:, :, 0], y[:, :, 0]), {}, w, "mean", dtype)


def test_nll_weighted_denominator_by_hand(rng):
    """The weighted mean of the non-ignored samples' NLL, written out (not through torch)."""
    x = np.log(rng.dirichlet(np.ones(4), 8))
    t = np.array([0, 1, 2, 3, -100, 1, 2, 0])
    cw = np.array([1.0, 2.0, 0.5, 3.0])
    w = rng.uniform(0, 2, 8)
    kept = t != -100
    per = np.where(kept, -cw[np.where(kept, t, 0)] * x[np.arange(8), np.where(kept, t, 0)], 0)
    want = np.sum(w * per) / np.sum(w * np.where(kept, cw[np.where(kept, t, 0)], 0))
    assert numloss.nll_loss(x, t, weight=cw, sample_weight=w) == pytest.approx(want, rel=1e-14)
    assert numloss.cross_entropy(x, t, weight=cw, sample_weight=w) == pytest.approx(want, rel=1e-13)


def test_row_losses_unbatched_take_a_scalar(rng):
    x = rng.standard_normal(5)
    for reduction in REDUCTIONS:
        for f, args in [(numloss.cross_entropy, (x, 2)), (numloss.nll_loss, (x, 2)), (numloss.multi_margin_loss, (x, 2)),
                        (numloss.multilabel_soft_margin_loss, (x, (x > 0).astype(float))),
                        (numloss.triplet_margin_loss, (x, x[::-1].copy(), np.zeros(5)))]:
            plain, g0 = f(*args, reduction=reduction, return_grad=True)
            loss, g = f(*args, reduction=reduction, sample_weight=0.5, return_grad=True)
            k = 1.0 if reduction == "mean" else 0.5
            assert np.shape(loss) == () and float(loss) == pytest.approx(k * float(plain), rel=1e-14)
            for a, b in zip(_tuple(g), _tuple(g0)):
                np.testing.assert_allclose(a, k * b, rtol=1e-14)
            with pytest.raises(ValueError, match="sample_weight"):
                f(*args, reduction=reduction, sample_weight=np.ones(1))


def test_row_losses_numpy_paths(rng):
    """No kernel: C == 0 (every target ignored), multilabel_soft_margin's target with more
    dimensions than its input, and a callable triplet distance."""
    w = rng.uniform(0, 2, 3)
    x0, t0 = np.zeros((3, 0)), np.full(3, -100)
    assert numloss.cross_entropy(x0, t0, reduction="sum", sample_weight=w) == 0
    assert np.isnan(numloss.nll_loss(x0, t0, sample_weight=w))
    # mlsm: a (3, 4, 5) target against a (4, 5) input: torch sums over axis 1 (counted from the front)
    x, y = rng.standard_normal((4, 5)), (rng.random((3, 4, 5)) < 0.5).astype(float)
    X = torch.tensor(x, requires_grad=True)
    per = torch.nn.functional.multilabel_soft_margin_loss(X, torch.tensor(y), reduction="none")
    assert per.shape == (3, 5)
    W = torch.tensor(w)[:, None]
    for reduction in REDUCTIONS:
        X.grad = None
        ref = {"none": W * per, "sum": (W * per).sum(), "mean": (W * per).sum() / (W.sum() * 5)}[reduction]
        ref.backward(torch.ones_like(ref), retain_graph=True)
        loss, g = numloss.multilabel_soft_margin_loss(x, y, reduction=reduction, sample_weight=w, return_grad=True)
        np.testing.assert_allclose(loss, ref.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(g, X.grad.numpy(), rtol=1e-12, atol=1e-15)
    # a callable distance: the same numbers as the named one
    a, p, n = rng.standard_normal((3, 3, 4))
    named = numloss.triplet_margin_with_distance_loss(a, p, n, sample_weight=w)
    called = numloss.triplet_margin_with_distance_loss(
        a, p, n, sample_weight=w, distance_function=lambda u, v: np.linalg.norm(u - v + 1e-6, axis=-1))
    assert called == pytest.approx(named, rel=1e-14)
    with pytest.raises(ValueError, match="sample_weight"):
        numloss.triplet_margin_with_distance_loss(a, p, n, sample_weight=w[:2], distance_function=lambda u, v: u[:, 0])


def test_row_losses_class_forms_take_sample_weight(rng):
    x = rng.standard_normal((8, 4))
    t = rng.integers(0, 4, 8)
    w = rng.uniform(0, 1, 8)
    c = numloss.CrossEntropyLoss(label_smoothing=0.1)
    assert c(x, t, sample_weight=w) == numloss.cross_entropy(x, t, label_smoothing=0.1, sample_weight=w)
    loss, g = numloss.TripletMarginLoss(reduction="sum").value_and_grad(x, x[::-1], x * 2, sample_weight=w)
    ref = numloss.triplet_margin_loss(x, x[::-1], x * 2, reduction="sum", sample_weight=w, return_grad=True)
    assert loss == ref[0] and all(np.array_equal(a, b) for a, b in zip(g, ref[1]))


def test_row_weights_the_same_for_any_thread_count(rng, threads, monkeypatch):
    """Weighted sums in fixed blocks: the same bits serially and with 2 threads (many blocks)."""
    from numloss import _threads

    if _threads._max_threads < 2:
        pytest.skip("Numba has fewer than 2 threads here")
    x = rng.standard_normal((3000, 40)).astype(np.float32)
    t = rng.integers(0, 40, 3000)
    w = rng.uniform(0, 2, 3000).astype(np.float32)
    calls = [lambda: numloss.cross_entropy(x, t, sample_weight=w), lambda: numloss.nll_loss(x, t, sample_weight=w)]
    numloss.set_num_threads(1)
    want = [f() for f in calls]
    numloss.set_num_threads(2)
    monkeypatch.setattr(_threads, "PARALLEL_MIN_WORK", 0)
    for f, b in zip(calls, want):
        assert f().tobytes() == b.tobytes()
