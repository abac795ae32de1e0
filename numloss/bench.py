"""``numloss bench``: every loss timed against torch (same process, same thread count), a
straightforward vectorised NumPy version and, when installed, scikit-learn's loss module (for the
losses it has), with two memory-bandwidth floors for scale: reading the inputs once (the forward's
floor) and reading them once while writing one gradient-sized array per gradient (loss+grad's).

Timings are medians of interleaved repeats (each implementation once per round), so a noisy
neighbour affects all columns alike; read the ratios, not the absolute times. Each call's result
is dropped before the next, as in a user's loop: numloss's large outputs then reuse the memory
of the last ones (``numloss._buffers``), torch's come from the system allocator.
``--no-recycle`` turns numloss's reuse off, so that every output is fresh memory too.
"""
import argparse
import json
import math
import os
import sys
import time

import numba
import numpy as np

from . import _registry
from ._kernels._compile import COMPILED, cached_njit


MIN_SAMPLE = 2e-3  # seconds


@cached_njit(parallel=True, nogil=True, fastmath={"reassoc", "contract"})
def _read_once(a):
    """Sum of a flat array: the cheapest pass that reads every byte once."""
    acc = 0.0
    for i in numba.prange(a.size):
        acc += a[i]
    return acc


def _threads_arg(text):
    """--threads: an integer from 1 to Numba's thread count."""
    most = numba.config.NUMBA_NUM_THREADS
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer from 1 to {most}, got {text!r}") from None
    if not 1 <= n <= most:
        raise argparse.ArgumentTypeError(
            f"must be from 1 to {most} (NUMBA_NUM_THREADS on this machine), got {n}")
    return n


def _loss_arg(text):
    """--only: a loss's function name or its class name (``CrossEntropyLoss``), as the function
    name; or, for ``--suite metrics``, a metric's name or row label."""
    import numloss
    from .losses._base import Loss

    names = {c.name for c in _registry.CASES}
    if text in names or text in METRIC_BY_LABEL or text in {c[1] for c in METRIC_CASES}:
        return text
    cls = getattr(numloss, text, None)
    if isinstance(cls, type) and issubclass(cls, Loss) and cls.function.__name__ in names:
        return cls.function.__name__
    raise argparse.ArgumentTypeError(f"unknown loss {text!r}; {_valid_losses()}")


def _valid_losses():
    return f"valid names: {', '.join(sorted(c.name for c in _registry.CASES))} (or their class names)"


def _output_path(text):
    """--json / --plot: a path that can be written, checked (by opening it) before the benchmark
    runs; a file created by the check is removed again."""
    existed = os.path.exists(text)
    try:
        with open(text, "a"):
            pass
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot write to {text!r}: {exc.strerror}") from None
    if not existed:
        os.remove(text)
    return text


@cached_njit(parallel=True, nogil=True)
def _copy_once(a, out):
    """out = a: one read of ``a`` and one write of an array of its size."""
    for i in numba.prange(a.size):
        out[i] = a[i]


# The sklearn._loss class computing each numloss loss (up to sklearn's halving of the deviance,
# so only the times compare); numloss's first argument is its raw_prediction, the second y_true.
SKLEARN_LOSSES = {
    "mse_loss": "HalfSquaredError",
    "binary_cross_entropy_with_logits": "HalfBinomialLoss",
    "poisson_nll_loss": "HalfPoissonLoss",  # log_input=True, numloss's default as torch's
    "cross_entropy": "HalfMultinomialLoss",
}


def _sklearn_callables(case, args, kwargs, threads):
    """scikit-learn's forward (mean loss) and loss_gradient for ``args``, or {} when it has no
    such loss, these options differ from its definition or it is not installed."""
    name = SKLEARN_LOSSES.get(case.name)
    if name is None or kwargs:
        return {}
    try:
        from sklearn._loss import loss as skl
    except ImportError:
        return {}
    raw, target = args[0], args[1]
    if case.name == "cross_entropy":
        obj = skl.HalfMultinomialLoss(n_classes=raw.shape[1])
        y_true = target.astype(raw.dtype)
    else:
        obj = getattr(skl, name)()
        raw, y_true = raw.reshape(-1), target.reshape(-1)
    return {
        "sklearn": lambda: obj(y_true, raw, n_threads=threads),
        "sklearn_grad": lambda: obj.loss_gradient(y_true, raw, n_threads=threads),
    }


def add_arguments(parser):
    parser.add_argument("--suite", choices=("losses", "metrics"), default="losses",
                        help="losses (against torch, the default) or metrics (numloss.metrics against "
                             "sklearn.metrics; --dtype, --threads, --quick, --only and --json apply)")
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 11 (under a minute)")
    parser.add_argument("--only", action="append", metavar="NAME", type=_loss_arg,
                        help="only this loss (repeatable): a function name (cross_entropy) or a class "
                             "name (CrossEntropyLoss)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                        help="dtype of every input (default: float32)")
    parser.add_argument("--threads", type=_threads_arg, default=None,
                        help="threads for numloss and torch, from 1 to NUMBA_NUM_THREADS "
                             "(default: all; 1 for --size tiny)")
    parser.add_argument("--size", choices=_registry.ALL_SIZES, default="large",
                        help="input sizes: tiny (one evaluation batch, times in microseconds), small "
                             "(call overhead: 1e4 elements, or about 1e3), large and large2 (the two anchor "
                             "workloads of each family, e.g. 1e7 elements), few (many rows of few classes; "
                             "class-score losses only) (default: large)")
    parser.add_argument("--no-recycle", action="store_true",
                        help="fresh memory for every numloss output (set_buffer_cache_limit(0))")
    parser.add_argument("--json", metavar="PATH", type=_output_path, help="write the results as JSON")
    parser.add_argument("--plot", metavar="PATH.png", type=_output_path,
                        help="draw the speedup chart (needs matplotlib)")


def _bar(items, unit):
    """A progress bar over ``items`` on stderr, shown only on a terminal."""
    from tqdm import tqdm

    return tqdm(items, unit=unit, file=sys.stderr, disable=not sys.stderr.isatty())


def _median_times(fns, rounds):
    """Median seconds per call of each callable, measured in interleaved rounds after one warm-up
    call. A callable faster than ``MIN_SAMPLE`` seconds runs several times per round and the
    sample is their mean: a single microsecond call is otherwise dominated by what ran just
    before it (caches, and the other columns' threads)."""
    reps = {}
    for k, fn in fns.items():
        fn()
        t0 = time.perf_counter()
        fn()
        reps[k] = max(1, math.ceil(MIN_SAMPLE / max(time.perf_counter() - t0, 1e-9)))
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(reps[k]):
                fn()
            times[k].append((time.perf_counter() - t0) / reps[k])
    return {k: float(np.median(v)) for k, v in times.items()}


def _floors(case, args):
    """The two floor callables: read every float input once; read them once and write one
    gradient-sized array per gradient (into memory allocated here, as numloss reuses its own)."""
    flat = [np.ascontiguousarray(a).reshape(-1) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else None
            for a in args]
    read = [a for a in flat if a is not None]
    copied = [(flat[i], np.empty_like(flat[i])) for i in case.grad_of]
    uncopied = [a for i, a in enumerate(flat) if a is not None and i not in case.grad_of]
    return (lambda: [_read_once(a) for a in read],
            lambda: [_copy_once(a, out) for a, out in copied] + [_read_once(a) for a in uncopied])


def _callables(case, args, kwargs, torch):
    import numloss

    fn = getattr(numloss, case.name)
    floor, floor_rw = _floors(case, args)
    fns = {
        "numloss": lambda: fn(*args, **kwargs),
        "numloss_grad": lambda: fn(*args, **kwargs, return_grad=True),
        "numpy": lambda: case.numpy(*args, **kwargs),
        "floor": floor,
        "floor_rw": floor_rw,
    }
    if torch is not None:
        targs = [torch.from_numpy(np.ascontiguousarray(a)) if isinstance(a, np.ndarray) else a for a in args]
        leaves = [targs[i].detach().requires_grad_(True) for i in case.grad_of]
        gargs = list(targs)
        for i, leaf in zip(case.grad_of, leaves):
            gargs[i] = leaf

        def torch_forward():
            with torch.no_grad():
                return case.torch_loss(torch, *targs, **kwargs)

        def torch_backward():
            for leaf in leaves:
                leaf.grad = None
            case.torch_loss(torch, *gargs, **kwargs).backward()

        fns["torch"] = torch_forward
        fns["torch_grad"] = torch_backward
    return fns


def run(args):
    if args.suite == "metrics":
        return run_metrics(args)
    import numloss

    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("numloss bench: error: --plot needs matplotlib (pip install matplotlib)", file=sys.stderr)
            return 2

    try:
        import torch
    except ImportError:
        torch = None
        print("torch is not installed: comparing with NumPy only", file=sys.stderr)
    threads = args.threads or (1 if args.size == "tiny" else numba.config.NUMBA_NUM_THREADS)
    if args.no_recycle:
        numloss.set_buffer_cache_limit(0)
    numloss.set_num_threads(threads)
    numba.set_num_threads(threads)  # the floor kernel's too
    if torch is not None:
        torch.set_num_threads(threads)
    dtype = np.dtype(args.dtype)
    unknown = set(args.only or ()) - set(_registry.BY_NAME)
    if unknown:  # a metric's name, valid only with --suite metrics
        print(f"numloss bench: error: argument --only: unknown loss {sorted(unknown)[0]!r}; {_valid_losses()}",
              file=sys.stderr)
        return 2
    cases = [c for c in _registry.CASES if (not args.only or c.name in args.only)
             and args.size in _registry.sizes(c.family)]
    if not cases:
        print(f"no loss selected is benchmarked at size {args.size!r}", file=sys.stderr)
        return 2
    rounds = 3 if args.quick else 11
    rng = np.random.default_rng(0)
    rows = []
    first = len(COMPILED)
    bar = _bar(cases, "loss")
    for case in bar:
        bar.set_postfix_str(case.name)
        a, kw = case.make(rng, args.size, dtype)
        fns = _callables(case, a, kw, torch)
        fns.update(_sklearn_callables(case, a, kw, threads))
        t = _median_times(fns, rounds)
        t["shape"] = "x".join(map(str, a[0].shape))
        t["name"] = case.name
        rows.append(t)
    if len(COMPILED) > first:
        print(f"(compiled {len(COMPILED) - first} kernels in {sum(t for _, t in COMPILED[first:]):.1f} s before "
              f"timing; `numloss compile` fills the cache ahead of time)", file=sys.stderr)
    _print_table(rows, dtype, threads, torch is not None, not args.no_recycle, "us" if args.size == "tiny" else "ms")
    if args.json:
        meta = {"dtype": str(dtype), "threads": threads, "size": args.size, "rounds": rounds,
                "recycle": not args.no_recycle}
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": rows}, f, indent=1)
    if args.plot:
        _plot(rows, args.plot, dtype, threads)
    return 0


def _print_table(rows, dtype, threads, with_torch, recycle, unit="ms"):
    scale = {"ms": 1e3, "us": 1e6}[unit]
    ms = lambda s: f"{s * scale:9.3f}"  # noqa: E731
    ratio = lambda a, b: f"{a / b:7.2f}x" if unit == "us" else f"{a / b:7.1f}x"  # noqa: E731
    head = f"{'loss':34s} {'shape':>11s} {'fwd ' + unit:>9s}"
    if with_torch:
        head += f" {'torch':>9s} {'speedup':>8s} {'f+g ' + unit:>9s} {'torch f+b':>9s} {'speedup':>8s}"
    else:
        head += f" {'f+g ' + unit:>9s}"
    with_sklearn = any("sklearn" in r for r in rows)
    if with_sklearn:
        head += f" {'sklearn':>9s} {'skl f+g':>9s}"
    head += f" {'numpy':>9s} {'vs np':>8s} {'floor ' + unit:>9s} {'fwd/floor':>9s} {'rw floor':>9s} {'f+g/rw':>8s}"
    print(f"numloss bench: {dtype}, {threads} threads; medians of interleaved rounds; speedup = other / numloss; "
          f"numloss output memory {'recycled' if recycle else 'fresh'}")
    print("floor: read the float inputs once; rw floor: read them once and write one array per gradient; "
          "sklearn: sklearn._loss's Half* loss (half the deviance: compare times, not values)")
    print(head)
    print("-" * len(head))
    for r in rows:
        line = f"{r['name']:34s} {r['shape']:>11s} {ms(r['numloss'])}"
        if with_torch:
            line += f" {ms(r['torch'])} {ratio(r['torch'], r['numloss'])} {ms(r['numloss_grad'])}"
            line += f" {ms(r['torch_grad'])} {ratio(r['torch_grad'], r['numloss_grad'])}"
        else:
            line += f" {ms(r['numloss_grad'])}"
        if with_sklearn:
            line += f" {ms(r['sklearn'])} {ms(r['sklearn_grad'])}" if "sklearn" in r else f" {'':9s} {'':9s}"
        line += f" {ms(r['numpy'])} {ratio(r['numpy'], r['numloss'])} {ms(r['floor'])} {ratio(r['numloss'], r['floor'])}"
        line += f" {ms(r['floor_rw'])} {ratio(r['numloss_grad'], r['floor_rw'])}"
        print(line)


def _plot(rows, path, dtype, threads):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = [("vs NumPy (forward)", "numpy", "numloss"), ("vs torch forward", "torch", "numloss"),
              ("vs torch forward+backward (loss+grad)", "torch_grad", "numloss_grad")]
    series = [s for s in series if s[1] in rows[0]]
    names = [r["name"] for r in rows]
    y = np.arange(len(rows))
    h = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.5))
    for k, (label, other, mine) in enumerate(series):
        ax.barh(y + k * h, [r[other] / r[mine] for r in rows], height=h, label=label)
    ax.set_xscale("log")
    ax.axvline(1, color="k", lw=0.8)
    ax.set_yticks(y + h * (len(series) - 1) / 2, names)
    ax.invert_yaxis()
    ax.set_xlabel("speedup of numloss (x, log scale; > 1 is faster)")
    ax.set_title(f"numloss speedup, {dtype}, {threads} threads")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# --- numloss bench --suite metrics -------------------------------------------------------------

METRIC_SIZES = {"small": 10_000, "large": 10_000_000}
MULTICLASS_SHAPES = {"small": (100, 100), "large": (4096, 1000)}


def _xlogy(a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a == 0, 0, a * np.log(b))


def _pair(lo, hi):
    def make(rng, size, dtype):
        n = METRIC_SIZES[size]
        return (rng.uniform(lo, hi, n).astype(dtype), rng.uniform(lo, hi, n).astype(dtype)), {}
    return make


def _counts(rng, size, dtype):
    n = METRIC_SIZES[size]
    return (rng.poisson(1.5, n).astype(dtype), rng.uniform(0.1, 3, n).astype(dtype)), {}


def _binary(rng, size, dtype, neg=0.0):
    n = METRIC_SIZES[size]
    y = np.where(rng.random(n) < 0.5, neg, 1.0).astype(dtype)
    return (y, rng.uniform(0, 1, n).astype(dtype)), {}


def _multiclass(rng, size, dtype):
    n, k = MULTICLASS_SHAPES[size]
    z = rng.standard_normal((n, k))
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return (rng.integers(0, k, n), p.astype(dtype)), {"labels": np.arange(k)}


def _numpy_pinball(a, b, alpha):
    d = a - b
    return float(np.mean(np.where(d >= 0, alpha * d, (alpha - 1) * d)))


def _numpy_tweedie(y, f, power):
    p = power
    return float(np.mean(2 * (y ** (2 - p) / ((1 - p) * (2 - p)) - y * f ** (1 - p) / (1 - p) + f ** (2 - p) / (2 - p))))


def _numpy_binary_log_loss(y, p):
    eps = np.finfo(p.dtype).eps
    return float(-np.mean(np.log(np.clip(np.where(y == 1, p, 1 - p), eps, 1 - eps))))


def _numpy_multiclass_log_loss(y, p, labels):
    eps = np.finfo(p.dtype).eps
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], eps, 1 - eps))))


# (row label, metric name, make(rng, size, dtype) -> (args, kwargs), NumPy expression)
METRIC_CASES = [
    ("mean_squared_error", "mean_squared_error", _pair(-3, 3), lambda a, b: float(np.mean((a - b) ** 2))),
    ("root_mean_squared_error", "root_mean_squared_error", _pair(-3, 3),
     lambda a, b: float(np.sqrt(np.mean((a - b) ** 2)))),
    ("mean_absolute_error", "mean_absolute_error", _pair(-3, 3), lambda a, b: float(np.mean(np.abs(a - b)))),
    ("mean_squared_log_error", "mean_squared_log_error", _pair(0, 3),
     lambda a, b: float(np.mean((np.log1p(a) - np.log1p(b)) ** 2))),
    ("root_mean_squared_log_error", "root_mean_squared_log_error", _pair(0, 3),
     lambda a, b: float(np.sqrt(np.mean((np.log1p(a) - np.log1p(b)) ** 2)))),
    ("mean_pinball_loss", "mean_pinball_loss", lambda r, s, d: (_pair(-3, 3)(r, s, d)[0], {"alpha": 0.9}),
     _numpy_pinball),
    ("mean_poisson_deviance", "mean_poisson_deviance", _counts,
     lambda y, f: float(np.mean(2 * (_xlogy(y, y / f) - y + f)))),
    ("mean_gamma_deviance", "mean_gamma_deviance", _pair(0.1, 3),
     lambda y, f: float(np.mean(2 * (np.log(f / y) + y / f - 1)))),
    ("mean_tweedie_deviance(1.5)", "mean_tweedie_deviance",
     lambda r, s, d: (_counts(r, s, d)[0], {"power": 1.5}), _numpy_tweedie),
    ("log_loss (binary)", "log_loss", _binary, _numpy_binary_log_loss),
    ("log_loss (multiclass)", "log_loss", _multiclass, _numpy_multiclass_log_loss),
    ("hinge_loss (binary)", "hinge_loss", lambda r, s, d: _binary(r, s, d, neg=-1.0),
     lambda y, x: float(np.mean(np.maximum(1 - y * x, 0)))),
    ("brier_score_loss (binary)", "brier_score_loss", _binary, lambda y, p: float(np.mean((y - p) ** 2))),
]
METRIC_BY_LABEL = {c[0]: c for c in METRIC_CASES}


def metric_callables(label, args, kwargs, sklearn_metrics=None):
    """The timed callables of one metric case: numloss, NumPy, the read floor and (when given)
    scikit-learn."""
    import numloss

    _, name, _, numpy_fn = METRIC_BY_LABEL[label]
    fn = getattr(numloss.metrics, name)
    flat = [np.ascontiguousarray(a).reshape(-1) for a in args]
    fns = {
        "numloss": lambda: fn(*args, **kwargs),
        "numpy": lambda: numpy_fn(*args, **kwargs),
        "floor": lambda: [_read_once(a) for a in flat],
    }
    if sklearn_metrics is not None:
        sk = getattr(sklearn_metrics, name)
        fns["sklearn"] = lambda: sk(*args, **kwargs)
    return fns


def run_metrics(args):
    """``numloss bench --suite metrics``: every numloss.metrics function against
    sklearn.metrics and a NumPy expression on the same arrays, and the read floor."""
    import numloss

    try:
        import sklearn.metrics as sklearn_metrics
    except ImportError:
        sklearn_metrics = None
        print("scikit-learn is not installed: comparing with NumPy only", file=sys.stderr)
    threads = args.threads or numba.config.NUMBA_NUM_THREADS
    numloss.set_num_threads(threads)
    dtype = np.dtype(args.dtype)
    size = args.size if args.size in METRIC_SIZES else "large"
    unknown = set(args.only or ()) - set(METRIC_BY_LABEL) - {c[1] for c in METRIC_CASES}
    if unknown:
        print(f"unknown metric: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    cases = [c for c in METRIC_CASES if not args.only or c[0] in args.only or c[1] in args.only]
    rounds = 3 if args.quick else 7
    rng = np.random.default_rng(0)
    rows = []
    bar = _bar(cases, "metric")
    for label, _, make, _ in bar:
        bar.set_postfix_str(label)
        a, kw = make(rng, size, dtype)
        t = _median_times(metric_callables(label, a, kw, sklearn_metrics), rounds)
        t["name"] = label
        t["shape"] = "x".join(map(str, a[-1].shape))
        rows.append(t)
    ms = lambda s: f"{s * 1e3:10.3f}"  # noqa: E731
    ratio = lambda a, b: f"{a / b:8.1f}x"  # noqa: E731
    head = f"{'metric':28s} {'shape':>10s} {'numloss ms':>10s}"
    if sklearn_metrics is not None:
        head += f" {'sklearn ms':>10s} {'speedup':>9s}"
    head += f" {'numpy ms':>10s} {'vs np':>9s} {'floor ms':>10s} {'/floor':>9s}"
    print(f"numloss bench --suite metrics: {dtype}, {threads} threads; medians of interleaved rounds; "
          "speedup = other / numloss; /floor = numloss / read floor")
    print(head)
    print("-" * len(head))
    for r in rows:
        line = f"{r['name']:28s} {r['shape']:>10s} {ms(r['numloss'])}"
        if sklearn_metrics is not None:
            line += f" {ms(r['sklearn'])} {ratio(r['sklearn'], r['numloss'])}"
        line += f" {ms(r['numpy'])} {ratio(r['numpy'], r['numloss'])} {ms(r['floor'])} {ratio(r['numloss'], r['floor'])}"
        print(line)
    if args.json:
        meta = {"suite": "metrics", "dtype": str(dtype), "threads": threads, "size": size, "rounds": rounds}
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": rows}, f, indent=1)
    return 0
