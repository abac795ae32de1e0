"""The shared benchmark class: every loss of a family from numloss's registry, forward and fused
loss+gradient, parameterised by dtype, size and thread count; and the speedup over torch measured
side by side in one process (the ratio is stable where absolute times on a shared machine are not)."""
import numba
import numpy as np

import numloss
from numloss import _registry, bench

THREADS = sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)})


def names(family):
    return [c.name for c in _registry.CASES if c.family == family]


class _LossBenchmark:
    """Subclasses set ``params`` from :func:`names` of their family."""

    param_names = ["loss", "dtype", "size", "threads"]
    timeout = 300
    number = 1
    repeat = (3, 10, 20.0)

    def setup(self, name, dtype, size, threads):
        numloss.set_num_threads(threads)
        self.args, self.kwargs = _registry.BY_NAME[name].make(np.random.default_rng(0), size, np.dtype(dtype))
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
        try:
            import torch
        except ImportError:
            return float("nan")
        torch.set_num_threads(threads)
        fns = bench._callables(_registry.BY_NAME[name], self.args, self.kwargs, torch)
        t = bench._median_times({mine: fns[mine], torchs: fns[torchs]}, rounds=5)
        return t[torchs] / t[mine]

    def track_speedup_vs_torch_forward(self, name, dtype, size, threads):
        return self._speedup(name, threads, "numloss", "torch")

    def track_speedup_vs_torch_loss_and_grad(self, name, dtype, size, threads):
        return self._speedup(name, threads, "numloss_grad", "torch_grad")

    track_speedup_vs_torch_forward.unit = "ratio"
    track_speedup_vs_torch_loss_and_grad.unit = "ratio"


def family_params(family):
    return [names(family), ["float32", "float64"], list(_registry.sizes(family)), THREADS]
