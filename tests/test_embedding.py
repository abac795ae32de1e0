"""cosine_embedding_loss, triplet_margin_loss, triplet_margin_with_distance_loss: differential tests
against torch 2.13 (values and autograd gradients of every input), float64 finite differences,
layouts, thread-count determinism and the documented errors."""
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import numloss
from _torch_ref import fd_grad
from numloss.losses import embedding as EM

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture], derandomize=True, database=None)
REDUCTIONS = ("mean", "sum", "none")
TORCH_DISTANCES = {
    "euclidean": lambda x, y: F.pairwise_distance(x, y),
    "manhattan": lambda x, y: F.pairwise_distance(x, y, p=1),
    "chebyshev": lambda x, y: F.pairwise_distance(x, y, p=math.inf),
    "cosine": lambda x, y: 1 - F.cosine_similarity(x, y),
}


def torch_eval(fn, inputs, extra=(), kwargs=None, grad_output=None, dtype=None):
    """torch's loss and its gradients with respect to every array in ``inputs``."""
    ts = [torch.tensor(np.asarray(a, dtype=dtype or a.dtype), requires_grad=True) for a in inputs]
    ex = [torch.tensor(np.asarray(e)) if isinstance(e, np.ndarray) else e for e in extra]
    ex = [e.to(ts[0].dtype) if isinstance(e, torch.Tensor) and e.is_floating_point() else e for e in ex]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss = fn(*ts, *ex, **(kwargs or {}))
    go = torch.ones_like(loss) if grad_output is None else torch.tensor(np.asarray(grad_output), dtype=loss.dtype)
    if loss.requires_grad:
        grads = torch.autograd.grad(loss, ts, go, allow_unused=True)
    else:
        grads = [None] * len(ts)
    grads = [np.zeros(t.shape) if g is None else g.numpy().astype(np.float64) for t, g in zip(ts, grads)]
    return loss.detach().numpy().astype(np.float64), grads


def assert_matches(ours, t_same, t64, scale, what):
    """float64: ours ~ torch to 1e-9 relative; float32: within 4x torch-float32's own error of the
    float64 truth, plus a few ulp."""
    ours = np.asarray(ours, dtype=np.float64)
    t_same = np.asarray(t_same)
    assert ours.shape == t_same.shape, f"{what}: shape {ours.shape} != torch {t_same.shape}"
    assert np.array_equal(np.isnan(ours), np.isnan(t_same)), f"{what}: NaN pattern\nours {ours}\ntorch {t_same}"
    fin = ~np.isnan(ours) & np.isfinite(t64) & np.isfinite(ours)
    inf = ~np.isnan(ours) & ~fin
    np.testing.assert_array_equal(ours[inf], t_same[inf], err_msg=f"{what}: infinities")
    if t_same is t64:
        tol = 1e-9 * np.abs(t64[fin]) + 1e-12 * scale
    else:
        tol = 4 * np.abs(t_same[fin] - t64[fin]) + 2e-6 * np.abs(t64[fin]) + 1e-6 * scale
    err = np.abs(ours[fin] - t64[fin])
    assert np.all(err <= tol), f"{what}: max err {err.max() if err.size else 0}\nours {ours}\ntorch {t_same}"


def check(nl_fn, t_fn, inputs, extra, kwargs, reduction, rng, t_kwargs=None, grad_scale=1.0):
    dtype = inputs[0].dtype
    t_kwargs = dict(kwargs if t_kwargs is None else t_kwargs, reduction=reduction)
    loss = nl_fn(*inputs, *extra, reduction=reduction, **kwargs)
    l_same, _ = torch_eval(t_fn, inputs, extra, t_kwargs)
    l64 = l_same if dtype == np.float64 else torch_eval(t_fn, inputs, extra, t_kwargs, dtype=np.float64)[0]
    if dtype == np.float64:
        l64 = l_same
    if reduction == "none":
        assert isinstance(loss, np.ndarray) and loss.dtype == dtype
    else:
        assert isinstance(loss, dtype.type)
    # float32 differences of large coordinates round like torch's, but not like the float64 truth
    mag = max([1.0] + [float(np.max(np.abs(x[np.isfinite(x)]), initial=0)) for x in inputs])
    assert_matches(loss, l_same, l64, max(1, inputs[0].size) * mag, "loss")
    shape = np.shape(l_same)
    for go in (None, rng.standard_normal(shape).astype(dtype) if shape else dtype.type(rng.standard_normal())):
        loss2, grads = nl_fn(*inputs, *extra, reduction=reduction, **kwargs, return_grad=True, grad_output=go)
        eps = np.finfo(dtype).eps
        np.testing.assert_allclose(loss2, loss, rtol=4 * eps, atol=16 * eps * max(1, inputs[0].size), equal_nan=True)
        assert isinstance(grads, tuple) and len(grads) == len(inputs)
        _, g_same = torch_eval(t_fn, inputs, extra, t_kwargs, grad_output=go)
        g64 = g_same if dtype == np.float64 else torch_eval(t_fn, inputs, extra, t_kwargs, grad_output=go,
                                                            dtype=np.float64)[1]
        for i, (g, gs, gd, x) in enumerate(zip(grads, g_same, g64, inputs)):
            assert g.shape == x.shape and g.dtype == dtype
            scale = grad_scale * (1.0 if go is None else float(np.max(np.abs(go), initial=1.0)))
            assert_matches(g, gs, gs if dtype == np.float64 else gd, scale, f"grad {i} (go {go is not None})")


def spice(rng, x, special):
    x = x.copy()
    if special and x.size:
        i = rng.integers(0, x.size)
        x.reshape(-1)[i] = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf, "big": 1e4}[special]
    return x


dtypes = st.sampled_from([np.float32, np.float64])
specials = st.sampled_from([None, None, None, "nan", "inf", "-inf", "big", "zero"])


# --------------------------------------------------------------------------------------------
# cosine_embedding_loss
# --------------------------------------------------------------------------------------------


@SETTINGS
@given(st.integers(0, 6), st.integers(0, 8), st.booleans(), st.integers(0, 2**32 - 1), dtypes,
       st.sampled_from(REDUCTIONS), specials, st.sampled_from(["same", "bcast1", "bcast2", "target1"]),
       st.sampled_from([0.0, 0.3, -0.5]), st.booleans())
def test_cosine_embedding_matches_torch(thread_mode, N, D, unbatched, seed, dtype, reduction, special, layout, margin, float_target):
    rng = np.random.default_rng(seed)
    shape = (D,) if unbatched else (N, D)
    x1 = spice(rng, rng.standard_normal(shape).astype(dtype), special if special != "zero" else None)
    x2 = rng.standard_normal(shape).astype(dtype)
    if special == "zero" and x1.size:
        x1[..., :] = 0
    t = rng.choice([1, -1, 1, -1, 0, 2], () if unbatched else (N,))
    if float_target:
        t = t.astype(dtype)
    grad_scale = 1.0
    if not unbatched and layout == "bcast1":
        x1 = x1[:1]
    elif not unbatched and layout == "bcast2" and D:
        x2 = x2[:, :1]
        # the gradient of a D-broadcast input is a sum of D terms ~1/|x2| that cancel exactly
        grad_scale = 10 * D / max(float(np.min(np.abs(x2), initial=1.0)), 1e-3)
    elif not unbatched and layout == "target1":
        t = t[:1]
    check(EM.cosine_embedding_loss, F.cosine_embedding_loss, [x1, x2], (t,), dict(margin=margin), reduction, rng,
          grad_scale=grad_scale)


def test_cosine_embedding_zero_vector_and_kink():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 4))
    b = rng.standard_normal((3, 4))
    a[0] = 0
    b[1] *= 1e-9
    t = np.array([-1, -1, 1])
    cos = F.cosine_similarity(torch.tensor(a), torch.tensor(b)).numpy()
    for margin in (-0.5, float(cos[2])):
        check(EM.cosine_embedding_loss, F.cosine_embedding_loss, [a, b], (t,), dict(margin=margin), "sum", rng)


# --------------------------------------------------------------------------------------------
# triplet losses
# --------------------------------------------------------------------------------------------

P_VALUES = [2, 1, 3, 1.5, 0.5, math.inf, -math.inf, 0, -1]


@SETTINGS
@given(st.integers(0, 6), st.integers(0, 7), st.sampled_from(["2d", "1d", "0d", "3d", "bcast"]),
       st.integers(0, 2**32 - 1), dtypes, st.sampled_from(REDUCTIONS), specials, st.sampled_from(P_VALUES),
       st.sampled_from([1e-6, 0.0, -0.3]), st.booleans(), st.sampled_from([1.0, 0.2, 5.0]), st.booleans())
def test_triplet_margin_matches_torch(thread_mode, N, D, layout, seed, dtype, reduction, special, p, eps, swap, margin, tie):
    rng = np.random.default_rng(seed)
    shape = {"2d": (N, D), "1d": (D,), "0d": (), "3d": (N, 2, D), "bcast": (N, D)}[layout]
    a = spice(rng, rng.standard_normal(shape).astype(dtype), special if special != "zero" else None)
    pos = rng.standard_normal(shape).astype(dtype)
    neg = rng.standard_normal(shape).astype(dtype)
    if tie:
        pos = a.copy()  # d(a, n) == d(p, n): torch splits the gradient of the minimum
    if layout == "bcast":
        neg = neg[:1]
    if special == "zero":
        neg = a.copy()
    if (p < 0 or math.isinf(p)) and (shape[-1:] == (0,)):
        with pytest.raises(ValueError, match="p="):  # torch: no inf-norm of an empty dimension
            EM.triplet_margin_loss(a, pos, neg, p=p)
        return
    check(EM.triplet_margin_loss, F.triplet_margin_loss, [a, pos, neg], (),
          dict(margin=margin, p=p, eps=eps, swap=swap),
          reduction, rng)


@SETTINGS
@given(st.integers(0, 6), st.integers(1, 7), st.integers(0, 2**32 - 1), dtypes, st.sampled_from(REDUCTIONS),
       specials, st.sampled_from([None, "euclidean", "manhattan", "chebyshev", "cosine"]), st.booleans(),
       st.sampled_from([1.0, 0.3]), st.booleans())
def test_triplet_with_named_distance_matches_torch(thread_mode, N, D, seed, dtype, reduction, special, name, swap, margin,
                                                   unbatched):
    rng = np.random.default_rng(seed)
    shape = (D,) if unbatched else (N, D)
    a = spice(rng, rng.standard_normal(shape).astype(dtype), special if special != "zero" else None)
    pos = rng.standard_normal(shape).astype(dtype)
    neg = a.copy() if special == "zero" else rng.standard_normal(shape).astype(dtype)
    tk = dict(distance_function=TORCH_DISTANCES[name or "euclidean"], margin=margin, swap=swap)
    if unbatched and name == "cosine":
        tk["distance_function"] = lambda x, y: 1 - F.cosine_similarity(x, y, dim=-1)
    check(EM.triplet_margin_with_distance_loss, F.triplet_margin_with_distance_loss, [a, pos, neg], (),
          dict(distance_function=name, margin=margin, swap=swap), reduction, rng, t_kwargs=tk)


def test_triplet_with_callable_distance_value_and_no_gradient():
    rng = np.random.default_rng(2)
    a, p, n = (rng.standard_normal((5, 4)).astype(np.float32) for _ in range(3))
    seen = []

    def dist(x, y):
        seen.append((x.shape, x.flags.writeable))
        return np.abs(x - y).sum(axis=-1) ** 0.5

    for swap in (False, True):
        for red in REDUCTIONS:
            ours = EM.triplet_margin_with_distance_loss(a, p, n, distance_function=dist, swap=swap, reduction=red)
            ref = F.triplet_margin_with_distance_loss(
                torch.tensor(a), torch.tensor(p), torch.tensor(n),
                distance_function=lambda x, y: (x - y).abs().sum(-1) ** 0.5,
                swap=swap, reduction=red)
            np.testing.assert_allclose(ours, ref.numpy(), rtol=1e-6)
            assert np.asarray(ours).dtype == np.float32
    assert all(s == ((5, 4), False) for s in seen)
    with pytest.raises(NotImplementedError, match="distance_function"):
        EM.triplet_margin_with_distance_loss(a, p, n, distance_function=dist, return_grad=True)
    with pytest.raises(NotImplementedError, match="euclidean"):
        EM.TripletMarginWithDistanceLoss(distance_function=dist).value_and_grad(a, p, n)


# --------------------------------------------------------------------------------------------
# Finite differences (float64, independent of torch)
# --------------------------------------------------------------------------------------------

FD = {
    "cosine_embedding": (lambda a, b, c, **k: EM.cosine_embedding_loss(
        a, b, np.array([1, -1, -1]), margin=-0.2, **k), 2),
    "triplet_p2_swap": (lambda a, b, c, **k: EM.triplet_margin_loss(a, b, c, margin=3.0, swap=True, **k), 3),
    "triplet_p1": (lambda a, b, c, **k: EM.triplet_margin_loss(a, b, c, margin=3.0, p=1, **k), 3),
    "triplet_p3": (lambda a, b, c, **k: EM.triplet_margin_loss(a, b, c, margin=3.0, p=3, **k), 3),
    "triplet_p1.5": (lambda a, b, c, **k: EM.triplet_margin_loss(a, b, c, margin=3.0, p=1.5, **k), 3),
    "triplet_inf": (lambda a, b, c, **k: EM.triplet_margin_loss(a, b, c, margin=3.0, p=math.inf, **k), 3),
    "twd_cosine": (lambda a, b, c, **k: EM.triplet_margin_with_distance_loss(
        a, b, c, distance_function="cosine", margin=3.0, swap=True, **k), 3),
}


@pytest.mark.parametrize("name", sorted(FD))
def test_gradient_matches_finite_differences(name):
    f, nin = FD[name]
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal((3, 4)) for _ in range(3)]
    for red in ("mean", "none"):
        go = None if red == "mean" else rng.standard_normal(3)
        _, grads = f(*xs, reduction=red, return_grad=True, grad_output=go)
        for i in range(nin):
            def scalar(v, i=i, red=red, go=go):
                args = list(xs)
                args[i] = v
                loss = f(*args, reduction=red)
                return float(loss) if go is None else float(np.sum(loss * go))

            np.testing.assert_allclose(grads[i], fd_grad(scalar, xs[i].copy()), rtol=1e-6, atol=1e-8,
                                       err_msg=f"{name} input {i} {red}")


# --------------------------------------------------------------------------------------------
# Layouts, buffers, threads, classes, errors
# --------------------------------------------------------------------------------------------


def test_strided_readonly_and_no_mutation():
    rng = np.random.default_rng(4)
    base = [rng.standard_normal((8, 12)) for _ in range(3)]
    keep = [b.copy() for b in base]
    views = [b[::2, ::-2] for b in base]
    dense = [np.ascontiguousarray(v) for v in views]
    for d in dense:
        d.flags.writeable = False
    t = np.array([1, -1, 1, -1])
    for fn, args in ((EM.cosine_embedding_loss, (t,)), (EM.triplet_margin_loss, ())):
        nin = 2 if args else 3
        a = fn(*views[:nin], *args, reduction="none", return_grad=True)
        b = fn(*dense[:nin], *args, reduction="none", return_grad=True)
        np.testing.assert_array_equal(a[0], b[0])
        for u, v in zip(a[1], b[1]):
            np.testing.assert_array_equal(u, v)
    for b, k in zip(base, keep):
        np.testing.assert_array_equal(b, k)


def test_gradient_out_tuple_and_broadcast_inputs():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((4, 3)).astype(np.float32)
    p = rng.standard_normal((1, 3)).astype(np.float32)  # broadcast: its gradient is summed
    n = rng.standard_normal((4, 3)).astype(np.float32)
    bufs = (np.empty_like(a), np.empty_like(p), np.empty_like(n))
    loss, grads = EM.triplet_margin_loss(a, p, n, return_grad=True, gradient_out=bufs)
    assert all(g is b for g, b in zip(grads, bufs))
    ref = EM.triplet_margin_loss(a, p, n, return_grad=True)[1]
    for g, r in zip(grads, ref):
        np.testing.assert_array_equal(g, r)
    with pytest.raises(ValueError, match="gradient_out"):
        EM.triplet_margin_loss(a, p, n, return_grad=True, gradient_out=bufs[0])
    with pytest.raises(ValueError, match="gradient_out"):
        EM.cosine_embedding_loss(a, n, np.ones(4), return_grad=True, gradient_out=(bufs[0], a))
    with pytest.raises(ValueError, match="gradient_out"):
        EM.cosine_embedding_loss(a, n, np.ones(4), gradient_out=(bufs[0], bufs[2]))


def test_thread_count_gives_identical_bits(threads):
    rng = np.random.default_rng(6)
    a, p, n = (rng.standard_normal((400, 200)).astype(np.float32) for _ in range(3))
    t = np.where(rng.random(400) < 0.5, 1, -1)
    calls = [
        lambda **k: EM.cosine_embedding_loss(a, p, t, margin=0.1, **k),
        lambda **k: EM.triplet_margin_loss(a, p, n, swap=True, **k),
        lambda **k: EM.triplet_margin_loss(a, p, n, p=1.5, **k),
        lambda **k: EM.triplet_margin_with_distance_loss(a, p, n, distance_function="cosine", **k),
    ]
    for call in calls:
        res = []
        for nt in (1, 2):
            numloss.set_num_threads(nt)
            res.append((call(), call(return_grad=True), call(reduction="none")))
        (l1, (m1, g1), r1), (l2, (m2, g2), r2) = res
        assert l1.tobytes() == l2.tobytes() and m1.tobytes() == m2.tobytes() and r1.tobytes() == r2.tobytes()
        assert all(x.tobytes() == y.tobytes() for x, y in zip(g1, g2))


def test_class_api():
    rng = np.random.default_rng(7)
    a, p, n = (rng.standard_normal((4, 3)) for _ in range(3))
    t = np.array([1, -1, 1, -1])
    assert EM.CosineEmbeddingLoss(0.2, "sum")(a, p, t) == EM.cosine_embedding_loss(a, p, t, 0.2, "sum")
    assert EM.TripletMarginLoss(0.5, 1, 1e-6, True)(a, p, n) == EM.triplet_margin_loss(a, p, n, 0.5, 1, 1e-6, True)
    fn = EM.TripletMarginWithDistanceLoss(distance_function="cosine", margin=0.5)
    loss, grads = fn.value_and_grad(a, p, n)
    assert loss == EM.triplet_margin_with_distance_loss(a, p, n, distance_function="cosine", margin=0.5)
    assert len(grads) == 3
    with pytest.raises(TypeError):
        EM.TripletMarginWithDistanceLoss(None, 0.5)  # keyword-only, as torch


A = np.zeros((3, 4))
ERRORS = [
    (ValueError, "target", lambda: EM.cosine_embedding_loss(A, A, np.ones((3, 1)))),
    (ValueError, "input", lambda: EM.cosine_embedding_loss(A[0], A[0], np.ones(1))),
    (ValueError, "input", lambda: EM.cosine_embedding_loss(A, A, np.ones(()))),
    (ValueError, "target", lambda: EM.cosine_embedding_loss(A, A, np.ones(2))),
    (ValueError, "input2", lambda: EM.cosine_embedding_loss(A, np.zeros((3, 5)), np.ones(3))),
    (TypeError, "input1", lambda: EM.cosine_embedding_loss(A.astype(complex), A, np.ones(3))),
    (ValueError, "reduction", lambda: EM.cosine_embedding_loss(A, A, np.ones(3), reduction="bad")),
    (TypeError, "margin", lambda: EM.cosine_embedding_loss(A, A, np.ones(3), margin=None)),
    (ValueError, "margin", lambda: EM.triplet_margin_loss(A, A, A, margin=0.0)),
    (ValueError, "dimensions", lambda: EM.triplet_margin_loss(A[0], A, A)),
    (ValueError, "negative", lambda: EM.triplet_margin_loss(A, A, np.zeros((3, 5)))),
    (TypeError, "swap", lambda: EM.triplet_margin_loss(A, A, A, swap=1)),
    (TypeError, "p", lambda: EM.triplet_margin_loss(A, A, A, p="2")),
    (ValueError, "p", lambda: EM.triplet_margin_loss(A, A, A, p=float("nan"))),
    (TypeError, "eps", lambda: EM.triplet_margin_loss(A, A, A, eps=[1])),
    (TypeError, "positive", lambda: EM.triplet_margin_loss(A, A.astype(complex), A)),
    (ValueError, "reduction", lambda: EM.triplet_margin_with_distance_loss(A, A, A, reduction="x")),
    (ValueError, "margin", lambda: EM.triplet_margin_with_distance_loss(A, A, A, margin=-1)),
    (ValueError, "distance_function", lambda: EM.triplet_margin_with_distance_loss(
        A, A, A, distance_function="l3")),
    (TypeError, "distance_function", lambda: EM.triplet_margin_with_distance_loss(
        A, A, A, distance_function=3)),
    (ValueError, "grad_output", lambda: EM.triplet_margin_loss(A, A, A, reduction="none", return_grad=True,
                                                               grad_output=np.ones(4))),
]


@pytest.mark.parametrize("exc, word, call", ERRORS, ids=[f"{i}-{e[1]}" for i, e in enumerate(ERRORS)])
def test_bad_input_raises_naming_argument(exc, word, call):
    with pytest.raises(exc, match=word):
        call()
