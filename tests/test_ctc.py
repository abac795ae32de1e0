"""numloss.ctc_loss / CTCLoss against torch 2.13 and against independent checks.

Imports go through ``numloss.losses.ctc`` so that the file works before and after the module is
re-exported from ``numloss``, editable or installed.
"""
import multiprocessing
import os
import threading

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import numloss
from numloss.losses.ctc import CTCLoss, _ctc_core, ctc_loss

F = torch.nn.functional
SETTINGS = dict(
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture], derandomize=True, database=None
)


# --------------------------------------------------------------------------------------------
# helpers


@pytest.fixture
def all_threads():
    """numloss's largest thread count for the test, then the previous setting again."""
    before = numloss.get_num_threads()
    numloss.set_num_threads(numloss._threads._max_threads)
    yield numloss._threads._max_threads
    numloss.set_num_threads(before)


def log_softmax(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    y = x - m
    return y - np.log(np.sum(np.exp(y), axis=axis, keepdims=True))


def torch_ref(lp, targets, il, tl, blank=0, reduction="mean", zero_infinity=False, grad_output=None):
    """torch's loss and gradient (log_probs a float64 leaf), as NumPy arrays."""
    x = torch.tensor(np.asarray(lp, np.float64), requires_grad=True)
    loss = F.ctc_loss(
        x,
        torch.as_tensor(np.asarray(targets, np.int64)),
        torch.as_tensor(np.asarray(il, np.int64)),
        torch.as_tensor(np.asarray(tl, np.int64)),
        blank=blank,
        reduction=reduction,
        zero_infinity=zero_infinity,
    )
    go = torch.ones_like(loss) if grad_output is None else torch.as_tensor(np.asarray(grad_output, np.float64))
    (g,) = torch.autograd.grad(loss, x, go)
    return loss.detach().numpy(), g.numpy()


def per_sample_nll(lp, targets, il, tl, blank):
    """torch's unreduced float64 losses, at least 1-D (for scaling tolerances)."""
    nll = F.ctc_loss(
        torch.tensor(np.asarray(lp, np.float64)),
        torch.as_tensor(np.asarray(targets, np.int64)),
        torch.as_tensor(np.asarray(il, np.int64)),
        torch.as_tensor(np.asarray(tl, np.int64)),
        blank=blank,
        reduction="none",
    )
    return np.atleast_1d(nll.numpy())


def grad_scales(reduction, tl, grad_output, n):
    """The factor torch multiplies sample n's (exp(lp) - posterior) by."""
    tl = np.atleast_1d(np.asarray(tl, np.float64))
    if reduction == "none":
        go = np.ones(n) if grad_output is None else np.atleast_1d(np.asarray(grad_output, np.float64))
        return go
    go = 1.0 if grad_output is None else float(grad_output)
    if reduction == "sum":
        return np.full(n, go)
    return go / n / np.maximum(tl, 1)


def assert_matches_torch(lp, targets, il, tl, blank, reduction, zi, grad_output, dtype, mode=0):
    """numloss (on lp cast to dtype) against torch in float64 on the same values. ``mode``: 0
    as users get it, 1 the exact path only, 2 the log-space band path only (see numloss._ctc).
    Returns the algorithm used per sample."""
    x = np.asarray(lp).astype(dtype)
    paths = np.zeros(1 if x.ndim == 2 else x.shape[1], np.int8)
    loss, grad = _ctc_core(
        x, targets, il, tl, blank, reduction, zi, True, grad_output, None, mode=mode, paths=paths
    )
    ref_loss, ref_grad = torch_ref(x, targets, il, tl, blank, reduction, zi, grad_output)
    assert np.asarray(loss).dtype == dtype and grad.dtype == dtype
    assert grad.shape == x.shape
    assert np.shape(loss) == np.shape(ref_loss)
    if reduction != "none":
        assert isinstance(loss, np.generic)
    nll = per_sample_nll(x, targets, il, tl, blank)
    n = nll.shape[0]
    scale = np.abs(grad_scales(reduction, tl, grad_output, n))
    mag = np.where(np.isfinite(nll), np.maximum(1.0, np.abs(nll)), 1.0)
    if dtype == np.float32:
        # float32 results of a float64 computation: rounding of the output, and of the loss
        loss_rtol, grad_atol = 2e-6, 1.3e-6 * mag * scale
    else:
        loss_rtol, grad_atol = 1e-10, 1e-10 * mag * scale
    np.testing.assert_allclose(np.asarray(loss, np.float64), ref_loss, rtol=loss_rtol, atol=1e-30)
    atol = grad_atol if x.ndim == 2 else grad_atol[None, :, None]
    nan_ref = np.isnan(ref_grad)
    assert np.array_equal(np.isnan(grad), nan_ref), "NaN pattern differs from torch"
    with np.errstate(invalid="ignore"):
        diff = np.abs(grad.astype(np.float64) - ref_grad)
        rtol = 1e-6 if dtype == np.float32 else 0.0
        ok = nan_ref | (grad == ref_grad) | (diff <= atol + rtol * np.abs(ref_grad))
    assert ok.all(), f"max grad diff {np.nanmax(diff)}"
    # the loss alone (no backward pass unless the forward saw tiny values)
    alone = _ctc_core(x, targets, il, tl, blank, reduction, zi, False, None, None, mode=mode)
    np.testing.assert_allclose(np.asarray(alone, np.float64), ref_loss, rtol=loss_rtol, atol=1e-30)
    return paths


@st.composite
def ctc_case(draw, max_t=30, max_n=4, max_c=8, max_s=8):
    """log_probs (float64 values), targets in either layout, lengths, and options."""
    unbatched = draw(st.booleans()) and draw(st.booleans())
    T = draw(st.integers(1, max_t))
    N = 1 if unbatched else draw(st.integers(1, max_n))
    C = draw(st.integers(2, max_c))
    S = draw(st.integers(0, max_s))
    blank = draw(st.integers(0, C - 1))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    spread = draw(st.sampled_from([0.5, 2.0, 6.0]))
    lp = log_softmax(rng.standard_normal((T, N, C)) * spread)
    # a small alphabet makes repeated labels (which need a blank between them) common
    alphabet = [c for c in range(C) if c != blank]
    if draw(st.booleans()):
        alphabet = alphabet[:2]
    tl = np.array([draw(st.integers(0, S)) for _ in range(N)], np.int64)
    labels = [rng.choice(alphabet, size=int(k)) for k in tl]
    il = np.array([draw(st.integers(0, T)) for _ in range(N)], np.int64)
    if draw(st.booleans()):  # mostly full-length inputs
        il[:] = T
    layout = draw(st.sampled_from(["padded", "concat"]))
    if layout == "padded":
        pad = S + draw(st.integers(0, 2))
        targets = rng.integers(0, C, (N, pad))  # padding holds anything, blank included
        for i, lab in enumerate(labels):
            targets[i, : len(lab)] = lab
    else:
        targets = np.concatenate(labels).astype(np.int64) if labels else np.zeros(0, np.int64)
    reduction = draw(st.sampled_from(["none", "mean", "sum"]))
    zi = draw(st.booleans())
    grad_output = None
    if draw(st.booleans()):
        if reduction == "none":
            grad_output = rng.uniform(-2, 2, N)
        else:
            grad_output = float(rng.uniform(-2, 2))
    if unbatched:
        lp = lp[:, 0]
        il, tl = int(il[0]), int(tl[0])
        if grad_output is not None and reduction == "none":
            grad_output = np.float64(grad_output[0])
    return lp, targets, il, tl, blank, reduction, zi, grad_output


# --------------------------------------------------------------------------------------------
# against torch


@settings(max_examples=60, **SETTINGS)
@given(case=ctc_case(), f32=st.booleans())
def test_matches_torch(thread_mode, case, f32):
    assert_matches_torch(*case, np.float32 if f32 else np.float64)


@settings(max_examples=15, **SETTINGS)
@given(case=ctc_case(max_t=150, max_n=5, max_c=40, max_s=40), f32=st.booleans())
def test_matches_torch_larger(thread_mode, case, f32):
    assert_matches_torch(*case, np.float32 if f32 else np.float64)


@settings(max_examples=25, **SETTINGS)
@given(case=ctc_case(max_t=12, max_s=5))
def test_exact_path_matches_torch(thread_mode, case):
    """The exact path (normally only for NaN / +inf inputs) on ordinary inputs."""
    assert_matches_torch(*case, np.float64, mode=1)


@settings(max_examples=25, **SETTINGS)
@given(case=ctc_case(max_t=40, max_s=10), f32=st.booleans())
def test_log_space_path_matches_torch(thread_mode, case, f32):
    """The log-space band path (normally only where linear space underflows)."""
    assert_matches_torch(*case, np.float32 if f32 else np.float64, mode=2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spread", [1.0, 3.0])
def test_long_sequences(dtype, spread):
    rng = np.random.default_rng(7)
    T, N, C = 2000, 3, 20
    lp = log_softmax(rng.standard_normal((T, N, C)) * spread)
    tl = np.array([100, 400, 0])
    targets = rng.integers(1, C, (N, 400))
    il = np.array([2000, 1700, 1500])
    for reduction in ("none", "mean"):
        assert_matches_torch(lp, targets, il, tl, 0, reduction, False, None, dtype)


def test_paths_agree():
    rng = np.random.default_rng(3)
    T, N, C = 300, 6, 12
    lp = log_softmax(rng.standard_normal((T, N, C)) * 2)
    tl = np.array([0, 1, 20, 60, 100, 5])
    il = np.array([300, 300, 250, 300, 120, 0])
    targets = rng.integers(1, C, (N, 100))
    paths = np.zeros(N, np.int8)
    fast = _ctc_core(lp, targets, il, tl, 0, "none", False, True, None, None, paths=paths)
    assert list(paths) == [0, 0, 0, 0, 0, 2]
    for mode in (1, 2):
        other = _ctc_core(lp, targets, il, tl, 0, "none", False, True, None, None, mode=mode, paths=paths)
        assert list(paths) == [2 * mode - 1] * 5 + [2]
        np.testing.assert_allclose(fast[0], other[0], rtol=1e-12)
        np.testing.assert_allclose(fast[1], other[1], rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize(
    "edit",
    [
        "nan_label", "nan_blank", "nan_other", "nan_unreachable", "nan_dead_end", "posinf_label",
        "posinf_other", "neginf_label", "neginf_other", "neginf_frame", "label_never_possible",
        "huge_range", "shifted_up", "shifted_down",
    ],
)
@pytest.mark.parametrize("zi", [False, True])
def test_nonfinite_and_extreme_inputs_as_torch(edit, zi):
    rng = np.random.default_rng(11)
    T, N, C = 12, 3, 6
    lp = log_softmax(rng.standard_normal((T, N, C)))
    targets = np.array([[1, 2, 3], [2, 2, 4], [5, 1, 1]])
    il, tl = np.array([12, 10, 12]), np.array([3, 3, 2])
    if edit == "nan_label":
        lp[4, 0, 2] = np.nan
    elif edit == "nan_blank":
        lp[4, 1, 0] = np.nan
    elif edit == "nan_other":
        lp[4, 0, 5] = np.nan
    elif edit == "nan_unreachable":  # a state not reachable from the start yet
        lp[1, 0, 3] = np.nan
    elif edit == "nan_dead_end":  # a state that cannot reach the end any more
        lp[11, 0, 1] = np.nan
    elif edit == "posinf_label":
        lp[5, 2, 1] = np.inf
    elif edit == "posinf_other":
        lp[5, 2, 3] = np.inf
    elif edit == "neginf_label":
        lp[6, 0, 1] = -np.inf
    elif edit == "neginf_other":
        lp[6, 0, 5] = -np.inf
    elif edit == "neginf_frame":
        lp[6, 1, :] = -np.inf
    elif edit == "label_never_possible":
        lp[:, 0, 2] = -np.inf
    elif edit == "huge_range":  # emissions 1000s of nats apart: linear space would underflow
        lp *= 500
    elif edit == "shifted_up":  # unnormalised scores
        lp += 800
    elif edit == "shifted_down":
        lp -= 3000
    for reduction in ("none", "sum"):
        assert_matches_torch(lp, targets, il, tl, 0, reduction, zi, None, np.float64)


def test_extreme_inputs_leave_the_linear_space_path():
    rng = np.random.default_rng(5)
    lp = log_softmax(rng.standard_normal((40, 3, 5)) * 400)
    lp[3, 2, 0] = np.nan
    targets, il, tl = [[1, 2, 3], [1, 1, 1], [2, 3, 4]], [40, 40, 40], [3, 3, 3]
    paths = assert_matches_torch(lp, targets, il, tl, 0, "none", False, None, np.float64)
    assert list(paths) == [3, 3, 1]


def test_long_random_sequences_use_the_log_space_path_where_needed():
    """Long, high-variance random inputs: alpha and beta peak at states so far apart that their
    products underflow in linear space; those samples take the log-space band path."""
    rng = np.random.default_rng(7)
    T, N, C = 2000, 4, 20
    lp = log_softmax(rng.standard_normal((T, N, C)) * 3)
    targets, il, tl = rng.integers(1, C, (N, 100)), [2000, 2000, 1900, 1800], [100, 100, 90, 100]
    paths = assert_matches_torch(lp, targets, il, tl, 0, "sum", False, None, np.float64)
    assert set(paths) <= {0, 3} and 3 in paths


def test_underflowed_path_that_dominates_is_detected():
    """A path whose forward probability falls below the double range (relative to the best
    state of its frame) and later becomes the only likely one: the linear-space path's
    per-frame likelihood check sends the sample to the log-space path."""
    lp = np.zeros((40, 1, 2))
    lp[:20, 0] = [-40.0, 0.0]  # label 1 likely: staying in the first blank costs 40 per frame
    lp[20:30, 0] = [0.0, -np.inf]  # only blanks
    lp[30:, 0] = [-100.0, 0.0]  # label 1 again: only the all-blank start can still emit it
    paths = np.zeros(1, np.int8)
    loss = _ctc_core(lp, [[1]], [40], [1], 0, "none", False, False, None, None, paths=paths)
    assert paths[0] == 3
    np.testing.assert_allclose(loss, [800.0], rtol=1e-12)
    paths = assert_matches_torch(lp, [[1]], [40], [1], 0, "none", False, None, np.float64)
    assert paths[0] == 3


# --------------------------------------------------------------------------------------------
# independent checks


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(4))
def test_one_to_one_alignment_closed_form(dtype, seed):
    """T == L with distinct consecutive labels: one alignment, no blank anywhere."""
    rng = np.random.default_rng(seed)
    T, N, C = 7, 3, 9
    blank = int(rng.integers(0, C))
    lp = log_softmax(rng.standard_normal((T, N, C)) * 2).astype(dtype)
    labels = np.array([rng.permutation([c for c in range(C) if c != blank])[:T] for _ in range(N)])
    loss, grad = ctc_loss(lp, labels, [T] * N, [T] * N, blank=blank, reduction="sum", return_grad=True)
    lp64 = lp.astype(np.float64)
    picked = np.take_along_axis(lp64, labels.T[:, :, None], axis=2)[:, :, 0]
    expected = -picked.sum()
    onehot = np.zeros_like(lp64)
    np.put_along_axis(onehot, labels.T[:, :, None], 1.0, axis=2)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(loss, expected, rtol=tol)
    np.testing.assert_allclose(grad, np.exp(lp64) - onehot, atol=tol)


def test_finite_differences_through_log_softmax():
    """numloss's gradient is d loss / d logits when log_probs = log_softmax(logits)."""
    rng = np.random.default_rng(2)
    T, N, C = 6, 2, 4
    logits = rng.standard_normal((T, N, C))
    targets, il, tl = np.array([[1, 1], [2, 3]]), np.array([6, 5]), np.array([2, 2])
    go = np.array([0.7, -1.3])

    def f(z):
        return np.dot(ctc_loss(log_softmax(z), targets, il, tl, reduction="none"), go)

    _, grad = ctc_loss(log_softmax(logits), targets, il, tl, reduction="none", return_grad=True, grad_output=go)
    h = 1e-6
    fd = np.zeros_like(logits)
    for idx in np.ndindex(logits.shape):
        zp, zm = logits.copy(), logits.copy()
        zp[idx] += h
        zm[idx] -= h
        fd[idx] = (f(zp) - f(zm)) / (2 * h)
    np.testing.assert_allclose(grad, fd, atol=1e-8)
    assert np.all(grad[5, 1] == 0)  # frame past input_lengths[1]


@pytest.mark.parametrize("zi", [False, True])
def test_infeasible_samples(zi):
    rng = np.random.default_rng(4)
    T, N, C = 6, 3, 4
    lp = log_softmax(rng.standard_normal((T, N, C)))
    targets = np.array([[1, 1, 1], [1, 2, 3], [3, 2, 1]])
    il = np.array([4, 2, 6])  # 1 1 1 needs 5 frames; 1 2 3 needs 3
    tl = np.array([3, 3, 3])
    loss, grad = ctc_loss(lp, targets, il, tl, reduction="none", zero_infinity=zi, return_grad=True)
    assert np.isfinite(loss[2])
    if zi:
        assert loss[0] == 0 and loss[1] == 0
        assert np.all(grad[:, :2] == 0)
    else:
        assert loss[0] == np.inf and loss[1] == np.inf
        assert np.all(np.isnan(grad[:4, 0])) and np.all(grad[4:, 0] == 0)
        assert np.all(np.isnan(grad[:2, 1])) and np.all(grad[2:, 1] == 0)
    assert np.all(np.isfinite(grad[:, 2]))
    for reduction in ("mean", "sum"):
        total = ctc_loss(lp, targets, il, tl, reduction=reduction, zero_infinity=zi)
        assert np.isfinite(total) == zi
        assert_matches_torch(lp, targets, il, tl, 0, reduction, zi, None, np.float64)


@pytest.mark.parametrize("zi", [False, True])
def test_zero_lengths(zi):
    rng = np.random.default_rng(6)
    T, N, C = 5, 4, 3
    lp = log_softmax(rng.standard_normal((T, N, C)))
    targets = np.array([[1, 2], [1, 2], [2, 1], [1, 1]])
    il = np.array([0, 0, 5, 3])
    tl = np.array([0, 2, 0, 0])
    loss, grad = ctc_loss(lp, targets, il, tl, reduction="none", zero_infinity=zi, return_grad=True)
    assert loss[0] == 0
    assert loss[1] == (0 if zi else np.inf)
    np.testing.assert_allclose(loss[2], -lp[:, 2, 0].sum(), rtol=1e-14)
    np.testing.assert_allclose(loss[3], -lp[:3, 3, 0].sum(), rtol=1e-14)
    assert np.all(grad[:, :2] == 0)
    expected = np.exp(lp[:, 2])
    expected[:, 0] -= 1
    np.testing.assert_allclose(grad[:, 2], expected, atol=1e-14)
    assert np.all(grad[3:, 3] == 0)
    assert_matches_torch(lp, targets, il, tl, 0, "mean", zi, None, np.float64)
    # an empty concatenated target list
    empty = ctc_loss(lp, np.zeros(0, np.int64), [5, 5, 5, 5], [0, 0, 0, 0], reduction="none")
    np.testing.assert_allclose(empty, -lp[:, :, 0].sum(0), rtol=1e-14)
    assert ctc_loss(lp, [], [5, 5, 5, 5], [0, 0, 0, 0], reduction="sum") == np.sum(empty)


def test_frames_past_input_length_get_zero_gradient():
    rng = np.random.default_rng(8)
    T, N, C = 20, 4, 5
    lp = log_softmax(rng.standard_normal((T, N, C)))
    lp[15:, 1] = np.nan  # never read
    il = np.array([20, 15, 9, 3])
    targets = np.array([[1, 2], [3, 3], [4, 1], [2, 2]])
    loss, grad = ctc_loss(lp, targets, il, [2, 2, 2, 1], reduction="none", return_grad=True)
    assert np.all(np.isfinite(loss))
    for n, t in enumerate(il):
        assert np.all(grad[t:, n] == 0)
        assert np.all(grad[:t, n] != 0)


# --------------------------------------------------------------------------------------------
# layouts, shapes, dtypes, buffers


def test_layouts_and_argument_kinds_agree():
    rng = np.random.default_rng(9)
    T, N, C = 15, 3, 6
    lp = log_softmax(rng.standard_normal((T, N, C)))
    padded = np.array([[1, 2, 3, 0], [4, 4, 0, 0], [5, 1, 2, 3]])
    tl = [3, 2, 4]
    concat = np.array([1, 2, 3, 4, 4, 5, 1, 2, 3])
    ref = ctc_loss(lp, padded, [15, 12, 15], tl, reduction="none")
    for targets in (padded, concat, padded.astype(np.int32), concat.astype(np.uint8), concat.tolist()):
        for il in ([15, 12, 15], (15, 12, 15), np.array([15, 12, 15], np.int32)):
            for tls in (tl, tuple(tl), np.array(tl, np.uint16)):
                np.testing.assert_array_equal(ctc_loss(lp, targets, il, tls, reduction="none"), ref)


def test_unbatched():
    rng = np.random.default_rng(10)
    lp = log_softmax(rng.standard_normal((9, 5)))
    loss, grad = ctc_loss(lp, [1, 2, 2], 9, 3, reduction="none", return_grad=True, grad_output=2.0)
    assert isinstance(loss, np.ndarray) and loss.shape == () and grad.shape == (9, 5)
    batched, bgrad = ctc_loss(lp[:, None], [[1, 2, 2]], [9], [3], reduction="none", return_grad=True, grad_output=[2.0])
    assert loss == batched[0]
    np.testing.assert_array_equal(grad, bgrad[:, 0])
    for targets, il, tl in (([[1, 2, 2, 4]], [9], [3]), ([1, 2, 2], np.int64(9), np.array(3))):
        assert ctc_loss(lp, targets, il, tl, reduction="none") == loss
    assert_matches_torch(lp, [1, 2, 2], 9, 3, 0, "mean", False, None, np.float64)
    assert_matches_torch(lp, [[1, 2, 2]], 9, 3, 0, "sum", False, None, np.float32)


def test_dtypes():
    rng = np.random.default_rng(12)
    lp = log_softmax(rng.standard_normal((6, 2, 4)))
    args = ([[1, 2], [3, 3]], [6, 6], [2, 2])
    r64 = ctc_loss(lp, *args)
    assert type(r64) is np.float64
    r32, g32 = ctc_loss(lp.astype(np.float32), *args, return_grad=True)
    assert type(r32) is np.float32 and g32.dtype == np.float32
    r16, g16 = ctc_loss(lp.astype(np.float16), *args, return_grad=True)
    assert type(r16) is np.float32 and g16.dtype == np.float32
    ints = np.full((6, 2, 4), -1)
    ri, gi = ctc_loss(ints, *args, return_grad=True)
    assert type(ri) is np.float64 and gi.dtype == np.float64
    assert ri == ctc_loss(ints.astype(np.float64), *args)
    none = ctc_loss(lp.astype(np.float32), *args, reduction="none")
    assert none.dtype == np.float32 and none.shape == (2,)
    with pytest.raises(TypeError, match="log_probs"):
        ctc_loss(lp.astype(np.complex128), *args)
    swapped = lp.astype(">f8"), [[1, 2], [3, 3]], np.array([6, 6], ">i4"), np.array([2, 2], ">i8")
    rs, gs = ctc_loss(*swapped, return_grad=True)
    assert type(rs) is np.float64 and gs.dtype == np.float64 and rs == r64


def test_noncontiguous_readonly_memmap_not_mutated(tmp_path):
    rng = np.random.default_rng(13)
    big = log_softmax(rng.standard_normal((10, 6, 14)))
    lp = big[::2, ::-2, 1::2]  # strided, reversed, not contiguous (and not normalised: fine)
    targets = np.array([[1, 2, 0], [3, 3, 0], [4, 5, 6]])
    il, tl = np.array([5, 4, 5]), np.array([2, 2, 3])
    ref_loss, ref_grad = ctc_loss(np.ascontiguousarray(lp), targets, il, tl, return_grad=True)
    before = [a.copy() for a in (big, targets, il, tl)]
    for a in (big, targets, il, tl):
        a.flags.writeable = False
    loss, grad = ctc_loss(lp, targets, il, tl, return_grad=True)
    assert loss == ref_loss
    np.testing.assert_array_equal(grad, ref_grad)
    for a, b in zip((big, targets, il, tl), before):
        np.testing.assert_array_equal(a, b)
    path = tmp_path / "lp.npy"
    np.save(path, np.ascontiguousarray(lp, np.float32))
    mm = np.load(path, mmap_mode="r")
    loss32, grad32 = ctc_loss(mm, targets, il, tl, return_grad=True)
    np.testing.assert_allclose(loss32, ref_loss, rtol=1e-6)
    np.testing.assert_allclose(grad32, ref_grad, atol=1e-6)


def test_gradient_out():
    rng = np.random.default_rng(14)
    lp = log_softmax(rng.standard_normal((8, 2, 5))).astype(np.float32)
    args = ([[1, 2], [3, 4]], [8, 6], [2, 2])
    loss, grad = ctc_loss(lp, *args, return_grad=True)
    buf = np.full_like(lp, np.nan)
    loss2, out = ctc_loss(lp, *args, return_grad=True, gradient_out=buf)
    assert out is buf and loss2 == loss
    np.testing.assert_array_equal(buf, grad)
    for bad in (np.empty((8, 2, 5)), np.empty((8, 2, 4), np.float32), np.empty((5, 2, 8), np.float32).transpose(2, 1, 0), lp):
        with pytest.raises(ValueError, match="gradient_out"):
            ctc_loss(lp, *args, return_grad=True, gradient_out=bad)
    ro = np.empty_like(lp)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="gradient_out"):
        ctc_loss(lp, *args, return_grad=True, gradient_out=ro)
    with pytest.raises(ValueError, match="gradient_out"):
        ctc_loss(lp, *args, gradient_out=np.empty_like(lp))


def test_class_form():
    rng = np.random.default_rng(15)
    lp = log_softmax(rng.standard_normal((8, 2, 5)))
    args = ([[1, 2], [3, 4]], [8, 6], [2, 2])
    fn = CTCLoss(blank=0, reduction="sum", zero_infinity=True)
    assert fn(lp, *args) == ctc_loss(lp, *args, reduction="sum", zero_infinity=True)
    loss, grad = fn.value_and_grad(lp, *args, grad_output=0.5)
    ref = ctc_loss(lp, *args, reduction="sum", zero_infinity=True, return_grad=True, grad_output=0.5)
    assert loss == ref[0]
    np.testing.assert_array_equal(grad, ref[1])
    assert CTCLoss(3).blank == 3 and CTCLoss().reduction == "mean" and CTCLoss().zero_infinity is False
    assert "CTCLoss" in repr(fn)
    if hasattr(numloss, "ctc_loss"):  # once re-exported by the package
        assert numloss.ctc_loss is ctc_loss and numloss.CTCLoss is CTCLoss


# --------------------------------------------------------------------------------------------
# errors

LP = log_softmax(np.random.default_rng(0).standard_normal((6, 2, 5)))
GOOD = dict(targets=[[1, 2], [3, 4]], input_lengths=[6, 6], target_lengths=[2, 2])


@pytest.mark.parametrize(
    "change, exc, match",
    [
        (dict(log_probs=np.zeros((6, 2, 5, 1))), ValueError, "log_probs"),
        (dict(log_probs=np.zeros(5)), ValueError, "log_probs"),
        (dict(log_probs=np.zeros((0, 2, 5))), ValueError, "log_probs"),
        (dict(log_probs=LP.astype(np.complex64)), TypeError, "log_probs"),
        (dict(log_probs=np.array([["a"]])), TypeError, "log_probs"),
        (dict(targets=[[1.0, 2.0], [3.0, 4.0]]), TypeError, "targets"),
        (dict(targets=[[True, True], [True, True]]), TypeError, "targets"),
        (dict(targets=[[1, 0], [3, 4]]), ValueError, "targets.*blank"),
        (dict(targets=[[1, 5], [3, 4]]), ValueError, "targets"),
        (dict(targets=[[1, -1], [3, 4]]), ValueError, "targets"),
        (dict(targets=[[1, 2]]), ValueError, "targets"),
        (dict(targets=[[1], [3]]), ValueError, "target_lengths.*longer"),
        (dict(targets=[1, 2, 3]), ValueError, "targets.*sum"),
        (dict(targets=[1, 2, 3, 4, 1]), ValueError, "targets.*sum"),
        (dict(targets=np.ones((2, 2, 1), int)), ValueError, "targets"),
        (dict(input_lengths=[6, 7]), ValueError, "input_lengths"),
        (dict(input_lengths=[6, -1]), ValueError, "input_lengths"),
        (dict(input_lengths=[6]), ValueError, "input_lengths"),
        (dict(input_lengths=[[6, 6]]), ValueError, "input_lengths"),
        (dict(input_lengths=[6.0, 6.0]), TypeError, "input_lengths"),
        (dict(input_lengths=6), ValueError, "input_lengths"),
        (dict(target_lengths=[2, -1]), ValueError, "target_lengths"),
        (dict(target_lengths=[2, 2, 2]), ValueError, "target_lengths"),
        (dict(target_lengths=[2.0, 2.0]), TypeError, "target_lengths"),
        (dict(blank=5), ValueError, "blank"),
        (dict(blank=-1), ValueError, "blank"),
        (dict(blank=1.0), TypeError, "blank"),
        (dict(reduction="avg"), ValueError, "reduction"),
        (dict(reduction=None), ValueError, "reduction"),
        (dict(zero_infinity=1), TypeError, "zero_infinity"),
        (dict(grad_output=1.0), ValueError, "grad_output"),
        (dict(return_grad=True, grad_output=[1.0, 2.0]), ValueError, "grad_output"),
        (dict(return_grad=True, reduction="none", grad_output=[1.0]), ValueError, "grad_output"),
        (dict(return_grad=True, grad_output=1j), TypeError, "grad_output"),
    ],
)
def test_bad_arguments(change, exc, match):
    kwargs = dict(log_probs=LP, **GOOD)
    kwargs.update(change)
    with pytest.raises(exc, match=match):
        ctc_loss(**kwargs)


def test_unbatched_errors():
    lp = LP[:, 0]
    with pytest.raises(ValueError, match="input_lengths"):
        ctc_loss(lp, [1, 2], [6, 6], 2)
    with pytest.raises(ValueError, match="targets"):
        ctc_loss(lp, [[1, 2], [1, 2]], 6, 2)
    with pytest.raises(ValueError, match="targets"):
        ctc_loss(lp, [1, 2, 3], 6, 2)  # 1-D targets are the concatenated layout


# --------------------------------------------------------------------------------------------
# threads and processes


def _big_case(seed=21):
    rng = np.random.default_rng(seed)
    T, N, C = 120, 24, 16
    lp = log_softmax(rng.standard_normal((T, N, C)) * 2).astype(np.float32)
    targets = rng.integers(1, C, (N, 30))
    tl = rng.integers(0, 31, N)
    il = rng.integers(60, T + 1, N)
    return lp, targets, il, tl


def test_thread_count_does_not_change_results(all_threads):
    args = _big_case()
    many = ctc_loss(*args, reduction="none", return_grad=True)
    numloss.set_num_threads(1)
    one = ctc_loss(*args, reduction="none", return_grad=True)
    np.testing.assert_array_equal(one[0], many[0])
    np.testing.assert_array_equal(one[1], many[1])


def test_concurrent_python_threads():
    args = _big_case()
    expected = ctc_loss(*args, reduction="none", return_grad=True)
    results, errors = [None] * 6, []

    def work(i):
        try:
            for _ in range(3):
                results[i] = ctc_loss(*args, reduction="none", return_grad=True)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors
    for loss, grad in results:
        np.testing.assert_array_equal(loss, expected[0])
        np.testing.assert_array_equal(grad, expected[1])


def _child(queue):
    args = _big_case()
    loss, grad = ctc_loss(*args, reduction="none", return_grad=True)
    queue.put((loss, float(np.nansum(grad))))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_after_parallel_call(all_threads):
    args = _big_case()
    loss, grad = ctc_loss(*args, reduction="none", return_grad=True)  # a parallel call
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue,))
    proc.start()
    proc.join(60)
    if proc.is_alive():  # pragma: no cover
        proc.kill()
        pytest.fail("child hung")
    assert proc.exitcode == 0
    child_loss, child_sum = queue.get(timeout=5)
    np.testing.assert_array_equal(child_loss, loss)
    assert child_sum == float(np.nansum(grad))
