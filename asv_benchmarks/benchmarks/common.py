"""The shared benchmark class: every loss of a family from numloss's registry, forward and fused
loss+gradient, parameterised by dtype, size and thread count; and the speedup over torch measured
side by side in one process (the ratio is stable where absolute times on a shared machine are not).

asv runs every (benchmark, parameter combination) in a fresh process. The inputs are therefore
built once per (loss, dtype, size) and pickled to a directory under the system's temporary
directory (named after a hash of the registry, so that a change to an input generator makes new
files); every later process loads them (from the page cache) instead of generating 1e7-element
arrays again.

By default the matrix is reduced so that ``asv run --python=same --quick`` takes minutes: the
small size in float32 (call overhead, which float64 does not change), the family's first anchor
workload in float32 and float64, CTC's "scale" in float32, all at ``min(2, NUMBA_NUM_THREADS)``
threads; the speedups over torch from 3 interleaved rounds. Combinations outside it are skipped
(``NotImplementedError`` in setup, which asv reports as n/a). ``NUMLOSS_ASV_FULL=1`` in the
environment selects the full matrix: every size of the family in both dtypes, 1 and 2 threads,
speedups from 5 rounds.
"""
import hashlib
import inspect
import os
import pickle
import tempfile

import numba
import numpy as np

import numloss
from numloss import _registry, bench

try:  # imported here, so that asv's forkserver imports it once for every benchmark
    import torch
except ImportError:
    torch = None

FULL = os.environ.get("NUMLOSS_ASV_FULL") == "1"
MAX_THREADS = min(2, numba.config.NUMBA_NUM_THREADS)
THREADS = sorted({1, MAX_THREADS}) if FULL else [MAX_THREADS]
DEFAULT_SIZES = ("small", "large", "scale")  # those of a family's sizes in the reduced matrix
FLOAT32_ONLY = ("small", "scale")  # sizes the reduced matrix runs in float32 only
SPEEDUP_ROUNDS = 5 if FULL else 3


def names(family):
    return [c.name for c in _registry.CASES if c.family == family]


def family_sizes(family):
    sizes = _registry.sizes(family)
    return list(sizes) if FULL else [s for s in sizes if s in DEFAULT_SIZES]


INPUT_DIR = os.path.join(tempfile.gettempdir(), "numloss-asv-inputs-" + hashlib.sha256(
    (inspect.getsource(_registry) + np.__version__).encode()).hexdigest()[:12])


def inputs(name, dtype, size):
    """``make(rng(0), size, dtype)`` of the loss's registry entry, from the file cache."""
    path = os.path.join(INPUT_DIR, f"{name}-{dtype}-{size}.pkl")
    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except FileNotFoundError:
        pass
    made = _registry.BY_NAME[name].make(np.random.default_rng(0), size, np.dtype(dtype))
    os.makedirs(INPUT_DIR, exist_ok=True)
    tmp = f"{path}.{os.getpid()}"
    with open(tmp, "wb") as f:
        pickle.dump(made, f, protocol=5)
    os.replace(tmp, path)  # atomic: a concurrent reader sees the whole file or none
    return made


class _LossBenchmark:
    """Subclasses set ``params`` with :func:`family_params`."""

    param_names = ["loss", "dtype", "size", "threads"]
    timeout = 300
    number = 1
    repeat = (3, 10, 20.0)

    def setup(self, name, dtype, size, threads):
        if not FULL and size in FLOAT32_ONLY and dtype != "float32":
            raise NotImplementedError("outside the reduced matrix (NUMLOSS_ASV_FULL=1 runs it)")
        numloss.set_num_threads(threads)
        self.args, self.kwargs = inputs(name, dtype, size)
        self.fn = getattr(numloss, name)
        self.fn(*self.args, **self.kwargs, return_grad=True)  # compile (or load) before timing
        self.fn(*self.args, **self.kwargs)

    def time_forward(self, *params):
        self.fn(*self.args, **self.kwargs)

    def time_loss_and_grad(self, *params):
        self.fn(*self.args, **self.kwargs, return_grad=True)

    def peakmem_loss_and_grad(self, *params):
        self.fn(*self.args, **self.kwargs, return_grad=True)

    def _speedup(self, name, threads, mine, torchs):
        """torch's time / numloss's, interleaved medians as in ``numloss bench``; NaN without torch."""
        if torch is None:
            return float("nan")
        torch.set_num_threads(threads)
        fns = bench._callables(_registry.BY_NAME[name], self.args, self.kwargs, torch)
        t = bench._median_times({mine: fns[mine], torchs: fns[torchs]}, rounds=SPEEDUP_ROUNDS)
        return t[torchs] / t[mine]

    def track_speedup_vs_torch_forward(self, name, dtype, size, threads):
        return self._speedup(name, threads, "numloss", "torch")

    def track_speedup_vs_torch_loss_and_grad(self, name, dtype, size, threads):
        return self._speedup(name, threads, "numloss_grad", "torch_grad")

    track_speedup_vs_torch_forward.unit = "ratio"
    track_speedup_vs_torch_loss_and_grad.unit = "ratio"


def family_params(family):
    return [names(family), ["float32", "float64"], family_sizes(family), THREADS]
