"""One table of every loss: how to make its standard inputs, which arguments are
differentiable, its torch reference and a plain vectorised NumPy reference. The tests, the asv
suite and ``numloss bench`` all read this table; add a loss here when it lands.

Nothing here imports torch: torch references are functions taking the torch module.
"""
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

# "tiny": a batch of an evaluation loop, where the Python call path is the whole cost (10 elements;
# (8, 10) logits; (8, 16) embeddings; CTC (30, 4, 12)); "small": where call overhead dominates (1e4
# elements for the elementwise losses, the size the speed bar names; about 1e3 for the others);
# "large" and "large2": the family's two anchor
# workloads (1e7 elements for the elementwise losses, in two layouts). The class-score family
# has a fourth, "few": many rows of few classes (the common evaluation of a 10-class model), where
# the per-row cost of a row kernel shows. CTC has "scale": (T, N, C, S) = (1000, 8, 5000, 200), a
# speech-recognition-sized batch (160 MB of float32 log-probabilities).
SIZES = ("tiny", "small", "large", "large2")
FAMILY_SIZES = {"class-score": SIZES + ("few",), "ctc": SIZES + ("scale",)}
ALL_SIZES = SIZES + ("few", "scale")


def sizes(family):
    """The sizes a family's losses are benchmarked at."""
    return FAMILY_SIZES.get(family, SIZES)


@dataclass(frozen=True)
class Case:
    name: str  # numloss function name (and torch.nn.functional's where torch has it)
    family: str  # "elementwise", "class-score", "embedding" or "ctc"
    make: Callable  # make(rng, size, dtype) -> (args, kwargs) of NumPy arrays / options
    numpy: Callable  # straightforward vectorised NumPy forward: numpy(*args, **kwargs) -> float
    grad_of: tuple = (0,)  # positions of the differentiable arguments
    torch: Callable = None  # torch(torch_module, *targs, reduction=..., **kwargs); None: F.<name>
    shapes: dict = field(default_factory=dict)  # size -> description for tables
    compile: Callable = None  # compile(rng, dtype) -> [(args, kwargs)] using every kernel; None: "small"

    def compile_calls(self, rng, dtype):
        """The calls ``numloss compile`` makes (each also with "none" and a gradient)."""
        return [self.make(rng, "small", dtype)] if self.compile is None else self.compile(rng, dtype)

    def torch_loss(self, torch, *args, **kwargs):
        if self.torch is not None:
            return self.torch(torch, *args, **kwargs)
        return getattr(torch.nn.functional, self.name)(*args, **kwargs)


ELEMENTWISE_SHAPES = {"tiny": (10,), "small": (100, 100), "large": (10_000, 1000), "large2": (100, 100_000)}


def _shape(size):
    return ELEMENTWISE_SHAPES[size]


def _normal(rng, size, dtype, k=2):
    return tuple(rng.standard_normal(_shape(size), dtype=np.float64).astype(dtype) for _ in range(k))


def _sign(rng, size, dtype):
    return np.where(rng.random(_shape(size)) < 0.5, -1.0, 1.0).astype(dtype)


def _unit(rng, size, dtype, lo=0.0, hi=1.0):
    return rng.uniform(lo, hi, _shape(size)).astype(dtype)


def _xlogy(t):
    return np.where(t > 0, t * np.log(np.where(t > 0, t, 1)), 0)


def _elementwise():
    def pair(rng, size, dtype):
        return _normal(rng, size, dtype), {}

    def with_sign(rng, size, dtype):
        return (_normal(rng, size, dtype, 1)[0], _sign(rng, size, dtype)), {}

    def probs(rng, size, dtype):
        return (_unit(rng, size, dtype, 0.01, 0.99), _unit(rng, size, dtype)), {}

    def logits(rng, size, dtype):
        return (_normal(rng, size, dtype, 1)[0], _unit(rng, size, dtype)), {}

    def poisson(rng, size, dtype):
        return (_normal(rng, size, dtype, 1)[0], rng.poisson(2.0, _shape(size)).astype(dtype)), {}

    def gaussian(rng, size, dtype):
        x, y = _normal(rng, size, dtype)
        return (x, y, _unit(rng, size, dtype, 0.1, 2.0)), {}

    def kl(rng, size, dtype):
        t = _unit(rng, size, dtype)
        return (np.log(_unit(rng, size, dtype, 0.01, 1.0)), t / t.sum(-1, keepdims=True)), {"reduction": "batchmean"}

    def ranking(rng, size, dtype):
        x1, x2 = _normal(rng, size, dtype)
        return (x1, x2, _sign(rng, size, dtype)), {}

    def positive(rng, size, dtype):
        return (_unit(rng, size, dtype, 0, 3), _unit(rng, size, dtype, 0, 3)), {}

    def huber_np(x, y, delta=1.0):
        e = np.abs(x - y)
        return np.mean(np.where(e < delta, 0.5 * e * e, delta * (e - 0.5 * delta)))

    def reduce(torch, v, reduction):
        return {"none": v, "mean": v.mean(), "sum": v.sum()}[reduction]

    def rmse_torch(torch, x, y, reduction="mean"):
        if reduction == "none":
            return (x - y).abs()
        return torch.sqrt(torch.nn.functional.mse_loss(x, y, reduction=reduction))

    def msle_torch(torch, x, y, reduction="mean"):
        return torch.nn.functional.mse_loss(torch.log1p(x), torch.log1p(y), reduction=reduction)

    def hinge_torch(torch, x, t, margin=1.0, reduction="mean"):
        return reduce(torch, torch.clamp_min(margin - t * x, 0), reduction)

    E = "elementwise"
    return [
        Case("l1_loss", E, pair, lambda x, y: np.mean(np.abs(x - y))),
        Case("mse_loss", E, pair, lambda x, y: np.mean((x - y) ** 2)),
        Case("huber_loss", E, pair, huber_np),
        Case("smooth_l1_loss", E, pair, huber_np),
        Case("soft_margin_loss", E, with_sign, lambda x, y: np.mean(np.logaddexp(0, -y * x))),
        Case("binary_cross_entropy", E, probs,
             lambda p, t: -np.mean(t * np.maximum(np.log(p), -100) + (1 - t) * np.maximum(np.log1p(-p), -100))),
        Case("binary_cross_entropy_with_logits", E, logits,
             lambda x, t: np.mean((1 - t) * x + np.logaddexp(0, -x))),
        Case("poisson_nll_loss", E, poisson, lambda x, t: np.mean(np.exp(x) - t * x)),
        Case("gaussian_nll_loss", E, gaussian, lambda x, y, v: 0.5 * np.mean(np.log(v) + (x - y) ** 2 / v),
             grad_of=(0, 2)),
        Case("kl_div", E, kl, lambda x, t, reduction: np.sum(_xlogy(t) - t * x) / x.shape[0]),
        Case("hinge_embedding_loss", E, with_sign,
             lambda x, y: np.mean(np.where(y == 1, x, np.maximum(0, 1 - x)))),
        Case("margin_ranking_loss", E, ranking, lambda a, b, y: np.mean(np.maximum(0, -y * (a - b))),
             grad_of=(0, 1)),
        Case("rmse_loss", E, pair, lambda x, y: np.sqrt(np.mean((x - y) ** 2)), torch=rmse_torch),
        Case("msle_loss", E, positive, lambda x, y: np.mean((np.log1p(x) - np.log1p(y)) ** 2), torch=msle_torch),
        Case("hinge_loss", E, with_sign, lambda x, y: np.mean(np.maximum(0, 1 - y * x)), torch=hinge_torch),
    ]


CTC_SHAPES = {"tiny": (30, 4, 12, 8), "small": (30, 4, 12, 8), "large": (200, 32, 30, 40),
              "large2": (500, 16, 1000, 100), "scale": (1000, 8, 5000, 200)}


def _ctc_numpy(log_probs, targets, input_lengths, target_lengths, reduction="mean"):
    """CTC forward in log space, vectorised over the batch and the states (padded targets)."""
    T, N, C = log_probs.shape
    S = targets.shape[1]
    ext = np.zeros((N, 2 * S + 1), np.int64)  # blank-interleaved labels (blank = 0)
    ext[:, 1::2] = targets
    same = np.zeros_like(ext, dtype=bool)
    same[:, 2:] = (ext[:, 2:] == ext[:, :-2]) | (ext[:, 2:] == 0)
    rows = np.arange(N)[:, None]
    alpha = np.full((N, 2 * S + 1), -np.inf)
    alpha[:, 0] = log_probs[0, :, 0]
    alpha[:, 1] = log_probs[0, np.arange(N), ext[:, 1]]
    for t in range(1, T):
        a1 = np.concatenate([np.full((N, 1), -np.inf), alpha[:, :-1]], axis=1)
        a2 = np.concatenate([np.full((N, 2), -np.inf), alpha[:, :-2]], axis=1)
        a2[same] = -np.inf
        new = np.logaddexp(np.logaddexp(alpha, a1), a2) + log_probs[t][rows, ext]
        alpha = np.where((t < input_lengths)[:, None], new, alpha)
    end = 2 * target_lengths
    nll = -np.logaddexp(alpha[np.arange(N), end], alpha[np.arange(N), np.maximum(end - 1, 0)])
    return float(np.mean(nll / np.maximum(target_lengths, 1)))


def _ctc():
    def make(rng, size, dtype):
        T, N, C, S = CTC_SHAPES[size]
        logits = rng.standard_normal((T, N, C))
        log_probs = (logits - np.log(np.exp(logits).sum(-1, keepdims=True))).astype(dtype)
        target_lengths = rng.integers(S // 2, S + 1, N)
        targets = rng.integers(1, C, (N, S))
        return (log_probs, targets, np.full(N, T), target_lengths), {}

    return [Case("ctc_loss", "ctc", make, _ctc_numpy)]


CLASS_SHAPES = {"tiny": (8, 10), "small": (100, 10), "large": (4096, 1000), "large2": (512, 32000), "few": (200_000, 10)}
EMBEDDING_SHAPES = {"tiny": (8, 16), "small": (100, 16), "large": (4096, 512), "large2": (1024, 2048)}


def _logsumexp(x):
    m = x.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))[:, 0]


def _class_score():
    def logits_and_index(rng, size, dtype):
        n, c = CLASS_SHAPES[size]
        return (rng.standard_normal((n, c)).astype(dtype), rng.integers(0, c, n)), {}

    def log_probs_and_index(rng, size, dtype):
        (x, t), kw = logits_and_index(rng, size, dtype)
        return ((x - _logsumexp(x.astype(np.float64))[:, None]).astype(dtype), t), kw

    def multilabel(rng, size, dtype):
        n, c = CLASS_SHAPES[size]
        k = min(5, c - 1)
        target = np.full((n, c), -1, np.int64)
        target[:, :k] = np.argsort(rng.random((n, c)), axis=1)[:, :k]
        return (rng.standard_normal((n, c)).astype(dtype), target), {}

    def multilabel_soft(rng, size, dtype):
        n, c = CLASS_SHAPES[size]
        return (rng.standard_normal((n, c)).astype(dtype), (rng.random((n, c)) < 0.3).astype(dtype)), {}

    def ce_compile(rng, dtype):
        # both paths (few classes: tiles; more than 32: rows), each target kind
        calls = []
        for c in (10, 64):
            x = rng.standard_normal((8, c)).astype(dtype)
            t = rng.integers(0, c, 8)
            calls += [((x, t), {}), ((x, t), {"label_smoothing": 0.1}), ((x, np.full_like(x, 1 / c)), {})]
        return calls

    def ce_np(x, t):
        return float(np.mean(_logsumexp(x) - x[np.arange(len(t)), t]))

    def multi_margin_np(x, t):
        xy = x[np.arange(len(t)), t][:, None]
        m = np.maximum(0, 1 - xy + x)
        m[np.arange(len(t)), t] = 0
        return float(np.mean(m.sum(axis=1) / x.shape[1]))

    def multilabel_margin_np(x, target):
        k = np.argmax(target < 0, axis=1)  # first -1 (rows here always have one)
        is_t = np.zeros(x.shape, bool)
        rows = np.arange(len(x))[:, None]
        valid = np.arange(target.shape[1])[None, :] < k[:, None]
        is_t[np.nonzero(valid)[0], target[valid]] = True
        xt = np.where(valid, x[rows, np.where(valid, target, 0)], np.nan)[:, : k.max()]
        hinge = np.maximum(0, 1 - (xt[:, :, None] - x[:, None, :]))
        hinge = np.where(np.isnan(xt)[:, :, None] | is_t[:, None, :], 0, hinge)
        return float(np.mean(hinge.sum(axis=(1, 2)) / x.shape[1]))

    def multilabel_soft_np(x, y):
        return float(np.mean(np.mean(y * np.logaddexp(0, -x) + (1 - y) * np.logaddexp(0, x), axis=1)))

    C = "class-score"
    return [
        Case("cross_entropy", C, logits_and_index, ce_np, compile=ce_compile),
        Case("nll_loss", C, log_probs_and_index, lambda x, t: float(-np.mean(x[np.arange(len(t)), t]))),
        Case("multi_margin_loss", C, logits_and_index, multi_margin_np),
        Case("multilabel_margin_loss", C, multilabel, multilabel_margin_np),
        Case("multilabel_soft_margin_loss", C, multilabel_soft, multilabel_soft_np),
    ]


def _embedding():
    def pair(rng, size, dtype):
        n, d = EMBEDDING_SHAPES[size]
        x1, x2 = (rng.standard_normal((n, d)).astype(dtype) for _ in range(2))
        return (x1, x2, np.where(rng.random(n) < 0.5, -1.0, 1.0).astype(dtype)), {}

    def triplet(rng, size, dtype):
        n, d = EMBEDDING_SHAPES[size]
        return tuple(rng.standard_normal((n, d)).astype(dtype) for _ in range(3)), {}

    def triplet_compile(options):
        # every code path of the triplet kernel: the fused norms, another p, the cosine distance
        def calls(rng, dtype):
            args = triplet(rng, "small", dtype)[0]
            return [(args, kw) for kw in options]
        return calls

    def cosine_np(x1, x2, y):
        cos = (x1 * x2).sum(1) / np.sqrt(((x1 * x1).sum(1) + 1e-12) * ((x2 * x2).sum(1) + 1e-12))
        return float(np.mean(np.where(y == 1, 1 - cos, np.maximum(0, cos))))

    def triplet_np(a, p, n):
        dap = np.linalg.norm(a - p + 1e-6, axis=1)
        dan = np.linalg.norm(a - n + 1e-6, axis=1)
        return float(np.mean(np.maximum(dap - dan + 1.0, 0)))

    E = "embedding"
    return [
        Case("cosine_embedding_loss", E, pair, cosine_np, grad_of=(0, 1)),
        Case("triplet_margin_loss", E, triplet, triplet_np, grad_of=(0, 1, 2),
             compile=triplet_compile([{}, {"p": 3.0}])),
        Case("triplet_margin_with_distance_loss", E, triplet, triplet_np, grad_of=(0, 1, 2),
             compile=triplet_compile([{}, {"distance_function": "chebyshev"}, {"distance_function": "cosine"}])),
    ]


CASES = _elementwise() + _class_score() + _embedding() + _ctc()
BY_NAME = {c.name: c for c in CASES}
