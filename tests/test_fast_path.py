"""The elementwise losses' fast path (``Elementwise.fast``): a repeated call on plain
C-contiguous arrays gives torch's numbers and gradients, and everything the general path does
around it (Parts under ``collecting``, errors) still happens."""
import numpy as np
import pytest

import numloss
from numloss import _parts

torch = pytest.importorskip("torch")
F = torch.nn.functional

# (numloss function, torch function, extra keyword options)
CASES = [
    (numloss.mse_loss, F.mse_loss, {}),
    (numloss.l1_loss, F.l1_loss, {}),
    (numloss.huber_loss, F.huber_loss, {"delta": 0.5}),
    (numloss.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits, {}),
    (numloss.binary_cross_entropy, F.binary_cross_entropy, {}),
    (numloss.poisson_nll_loss, F.poisson_nll_loss, {"log_input": False, "full": True}),
    (numloss.soft_margin_loss, F.soft_margin_loss, {}),
    (numloss.hinge_embedding_loss, F.hinge_embedding_loss, {"margin": 0.5}),
]


def _data(name, shape, dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape).astype(dtype)
    y = rng.standard_normal(shape).astype(dtype)
    if name == "poisson_nll_loss":
        x, y = np.abs(x), np.abs(y)
    if name in ("binary_cross_entropy_with_logits",):
        y = (y > 0).astype(dtype)
    if name == "binary_cross_entropy":
        x, y = 1 / (1 + np.exp(-x)), (y > 0).astype(dtype)
    if name in ("soft_margin_loss", "hinge_embedding_loss"):
        y = np.where(y > 0, 1, -1).astype(dtype)
    return np.asarray(x, dtype), np.asarray(y, dtype)


@pytest.mark.parametrize("fn, ref, kw", CASES, ids=[c[0].__name__ for c in CASES])
@pytest.mark.parametrize("shape", [(10,), (3, 4), ()])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_repeated_calls_match_torch(fn, ref, kw, shape, dtype, reduction):
    x, y = _data(fn.__name__, shape, dtype)
    tx = torch.from_numpy(x.copy()).requires_grad_()
    want = ref(tx, torch.from_numpy(y), reduction=reduction, **kw)
    want.backward()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for _ in range(3):  # the first call may take the general path; later ones the fast one
        loss, grad = fn(x, y, reduction=reduction, return_grad=True, **kw)
        assert loss.dtype == dtype and grad.dtype == dtype and grad.shape == x.shape
        np.testing.assert_allclose(loss, want.item(), rtol=tol, atol=tol)
        np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=tol, atol=tol)
        value = fn(x, y, reduction=reduction, **kw)
        assert type(value) is np.dtype(dtype).type
        np.testing.assert_allclose(value, want.item(), rtol=tol, atol=tol)


@pytest.mark.parametrize("shape", [(10,), (3, 4), ()])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_margin_ranking_repeated_calls_match_torch(shape, dtype, reduction):
    rng = np.random.default_rng(4)
    x1, x2 = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
    y = np.where(rng.standard_normal(shape) > 0, 1, -1).astype(dtype)
    t1, t2 = (torch.from_numpy(a.copy()).requires_grad_() for a in (x1, x2))
    want = F.margin_ranking_loss(t1, t2, torch.from_numpy(y), margin=0.25, reduction=reduction)
    want.backward()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for _ in range(3):  # the first call may take the general path; later ones the fast one
        loss, (g1, g2) = numloss.margin_ranking_loss(x1, x2, y, margin=0.25, reduction=reduction, return_grad=True)
        assert loss.dtype == dtype and g1.shape == g2.shape == x1.shape
        np.testing.assert_allclose(loss, want.item(), rtol=tol, atol=tol)
        np.testing.assert_allclose(g1, t1.grad.numpy(), rtol=tol, atol=tol)
        np.testing.assert_allclose(g2, t2.grad.numpy(), rtol=tol, atol=tol)
        value = numloss.margin_ranking_loss(x1, x2, y, margin=0.25, reduction=reduction)
        assert type(value) is np.dtype(dtype).type
        np.testing.assert_allclose(value, want.item(), rtol=tol, atol=tol)
    with pytest.raises(ValueError, match="target"):  # a target of another shape: the general path's error
        numloss.margin_ranking_loss(x1, x2, np.ones((2, 2, 2), dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_multilabel_margin_repeated_calls_match_torch(dtype, reduction):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 7)).astype(dtype)
    t = np.full((6, 7), -1, np.int64)
    t[:, :3] = np.argsort(rng.random((6, 7)), axis=1)[:, :3]
    t[1, 1] = t[1, 0]  # a class listed twice counts twice
    tx = torch.from_numpy(x.copy()).requires_grad_()
    want = F.multilabel_margin_loss(tx, torch.from_numpy(t), reduction=reduction)
    want.backward()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for _ in range(3):
        loss, grad = numloss.multilabel_margin_loss(x, t, reduction=reduction, return_grad=True)
        np.testing.assert_allclose(loss, want.item(), rtol=tol, atol=tol)
        np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=tol, atol=tol)
        value = numloss.multilabel_margin_loss(x, t, reduction=reduction)
        assert type(value) is np.dtype(dtype).type
        np.testing.assert_allclose(value, want.item(), rtol=tol, atol=tol)
    for bad in (7, -2):  # out of range after warm calls: the general path's error
        t[2, 5] = bad
        with pytest.raises(ValueError, match=f"target contains {bad}"):
            numloss.multilabel_margin_loss(x, t)


def test_parts_and_errors_after_warm_calls():
    x, y = _data("mse_loss", (10,), np.float32)
    for _ in range(2):
        numloss.mse_loss(x, y)
    with _parts.collecting():
        parts = numloss.mse_loss(x, y)
    assert isinstance(parts, _parts.Parts) and parts.denom == 10 and parts.count == 10
    np.testing.assert_allclose(parts.total, np.sum((x.astype(np.float64) - y) ** 2), rtol=1e-6)
    with pytest.raises(ValueError, match="reduction"):
        numloss.mse_loss(x, y, reduction="avg")
    with pytest.raises(TypeError, match="return_grad"):
        numloss.mse_loss(x, y, return_grad=1)
    with pytest.raises(ValueError, match="grad_output"):
        numloss.mse_loss(x, y, grad_output=2.0)



@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_rmse_loss_and_grad_match_torch(reduction):
    x, y = _data("mse_loss", (3, 4), np.float64)
    tx = torch.from_numpy(x.copy()).requires_grad_()
    want = torch.sqrt(F.mse_loss(tx, torch.from_numpy(y), reduction=reduction))
    want.backward()
    for _ in range(3):
        loss, grad = numloss.rmse_loss(x, y, reduction=reduction, return_grad=True)
        np.testing.assert_allclose(loss, want.item(), rtol=1e-12)
        np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_grad_output_zero_keeps_its_sign():
    x, y = _data("mse_loss", (10,), np.float32)
    tx = torch.from_numpy(x.copy()).requires_grad_()
    for go in (0.0, -0.0, 0.0, -0.0, 2.0):
        tx.grad = None
        F.mse_loss(tx, torch.from_numpy(y), reduction="sum").backward(torch.tensor(go))
        _, grad = numloss.mse_loss(x, y, reduction="sum", return_grad=True, grad_output=go)
        assert np.array_equal(np.signbit(grad), np.signbit(tx.grad.numpy())) and np.array_equal(grad, tx.grad.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("readonly", [False, True])
def test_cross_entropy_repeated_calls_match_torch(dtype, reduction, readonly):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((8, 10)).astype(dtype)
    t = rng.integers(0, 10, 8)
    t[3] = -100  # ignored
    x.flags.writeable = t.flags.writeable = not readonly
    tx = torch.from_numpy(x.copy()).requires_grad_()
    want = F.cross_entropy(tx, torch.from_numpy(t.copy()), reduction=reduction)
    want.backward()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for _ in range(3):
        loss, grad = numloss.cross_entropy(x, t, reduction=reduction, return_grad=True)
        assert type(loss) is np.dtype(dtype).type and grad.dtype == dtype and grad.shape == x.shape
        np.testing.assert_allclose(loss, want.item(), rtol=tol)
        np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=tol, atol=tol)
        np.testing.assert_allclose(numloss.cross_entropy(x, t, reduction=reduction), want.item(), rtol=tol)


def test_cross_entropy_bad_index_and_parts_after_warm_calls():
    x = np.zeros((4, 3), np.float32)
    t = np.array([0, 1, 2, 1])
    for _ in range(2):
        numloss.cross_entropy(x, t)
    with pytest.raises(ValueError, match="class index 3"):
        numloss.cross_entropy(x, np.array([0, 3, 1, 1]))
    t[2] = -100
    with _parts.collecting():
        parts = numloss.cross_entropy(x, t)
    assert isinstance(parts, _parts.Parts) and parts.denom == 3 and parts.count == 4
    np.testing.assert_allclose(parts.total, 3 * np.log(3), rtol=1e-6)


@pytest.mark.parametrize("bad", [1.5, -0.25, np.nan])
def test_binary_cross_entropy_range_checks_after_warm_calls(bad):
    x = np.full(10, 0.5, np.float32)
    for _ in range(2):
        numloss.binary_cross_entropy(x, x, return_grad=True)
    for name, args in (("input", (np.where(np.arange(10) == 7, bad, x).astype(np.float32), x)),
                       ("target", (x, np.where(np.arange(10) == 7, bad, x).astype(np.float32)))):
        with pytest.raises(ValueError, match=f"{name}: all elements"):
            numloss.binary_cross_entropy(*args)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("p, margin", [(1, 1.0), (2, 0.5)])
def test_multi_margin_repeated_calls_match_torch(dtype, reduction, p, margin):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((8, 10)).astype(dtype)
    t = rng.integers(0, 10, 8)
    tx = torch.from_numpy(x.copy()).requires_grad_()
    want = F.multi_margin_loss(tx, torch.from_numpy(t), p=p, margin=margin, reduction=reduction)
    want.backward()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for _ in range(3):
        loss, grad = numloss.multi_margin_loss(x, t, p=p, margin=margin, reduction=reduction, return_grad=True)
        np.testing.assert_allclose(loss, want.item(), rtol=tol)
        np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=tol, atol=tol)
        np.testing.assert_allclose(numloss.multi_margin_loss(x, t, p=p, margin=margin, reduction=reduction),
                                   want.item(), rtol=tol)


@pytest.mark.parametrize("bad", [-1, 3, -(2**63)])
def test_multi_margin_bad_index_after_warm_calls(bad):
    x = np.zeros((4, 3), np.float32)
    for _ in range(2):
        numloss.multi_margin_loss(x, np.array([0, 1, 2, 1]))
    with pytest.raises(ValueError, match="outside"):
        numloss.multi_margin_loss(x, np.array([0, bad, 1, 1]))


@pytest.mark.parametrize("reduction", ["sum", "batchmean", "mean"])
@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("shape", [(10,), (3, 4), ()])
@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")
def test_kl_div_repeated_calls_match_torch(reduction, log_target, shape):
    rng = np.random.default_rng(7)
    x = np.array(np.log(rng.uniform(0.05, 1, shape)))
    t = np.array(rng.uniform(0, 1, shape))
    if log_target:
        t = np.array(np.log(t))
    tx = torch.from_numpy(x.copy()).requires_grad_()
    want = F.kl_div(tx, torch.from_numpy(t), reduction=reduction, log_target=log_target)
    want.backward()
    for _ in range(3):
        loss, grad = numloss.kl_div(x, t, reduction=reduction, log_target=log_target, return_grad=True)
        np.testing.assert_allclose(loss, want.item(), rtol=1e-12)
        np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(numloss.kl_div(x, t, reduction=reduction, log_target=log_target), want.item(),
                                   rtol=1e-12)


def test_kl_div_mean_still_warns_and_batchmean_parts():
    x = np.log(np.full((4, 5), 0.2))
    for _ in range(2):
        with pytest.warns(UserWarning, match="batchmean"):
            numloss.kl_div(x, np.exp(x))
    with _parts.collecting():
        parts = numloss.kl_div(x, np.full((4, 5), 0.3), reduction="batchmean")
    assert parts.denom == 4 and parts.count == 4


def test_lean_and_general_paths_share_compiled_kernels(tmp_path):
    """The lean path runs the general path's specialisations (read-only inputs): after general
    calls, lean calls of the same losses compile nothing (a fresh cache, so every compile shows)."""
    import os
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import numpy as np, numloss
        from numloss._kernels import _compile
        x = np.random.rand(8, 10).astype(np.float32)
        t = np.arange(8) % 10
        p = np.random.rand(8, 10).astype(np.float32)
        calls = [
            lambda a: numloss.cross_entropy(a, t), lambda a: numloss.cross_entropy(a, t, return_grad=True),
            lambda a: numloss.multi_margin_loss(a, t), lambda a: numloss.mse_loss(a, p),
            lambda a: numloss.mse_loss(a, p, return_grad=True), lambda a: numloss.binary_cross_entropy(a, p),
            lambda a: numloss.margin_ranking_loss(a, p, np.sign(p - 0.5)),
            lambda a: numloss.margin_ranking_loss(a, p, np.sign(p - 0.5), return_grad=True),
        ]
        for f in calls:
            f(np.asfortranarray(x))  # not C-contiguous: the general path
        before = len(_compile.COMPILED)
        for f in calls:
            f(x)
            f(x)
        print(before, len(_compile.COMPILED))
        """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    before, after = map(int, proc.stdout.split())
    assert before > 0 and after == before
