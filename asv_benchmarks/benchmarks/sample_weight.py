"""The cost of ``sample_weight=`` at 1e7 float32 elements with float32 weights: the weighted
forward against the unweighted one and against reading its inputs and weights once (``numloss
bench``'s floor column), as ratios of interleaved medians measured side by side in one process.

Layouts: "flat", 1e7 samples with 1e7 weights (one per element, as a metric's); "rows",
(10000, 1000) with 10000 per-sample weights (expanded per block by the driver, never copied).
"""
import numba
import numpy as np

import numloss
from numloss import bench

LAYOUTS = {"flat": ((10_000_000,), (10_000_000,)), "rows": ((10_000, 1000), (10_000,))}


def make(name, layout, rng):
    shape, wshape = LAYOUTS[layout]
    if name == "binary_cross_entropy":
        x = rng.uniform(0.01, 0.99, shape).astype(np.float32)
        t = rng.uniform(0, 1, shape).astype(np.float32)
    else:
        x, t = (rng.standard_normal(shape, dtype=np.float32) for _ in range(2))
    return x, t, rng.uniform(0, 2, wshape).astype(np.float32)


def callables(name, x, t, w):
    fn = getattr(numloss, name)
    return {
        "unweighted": lambda: fn(x, t),
        "weighted": lambda: fn(x, t, sample_weight=w),
        "floor": lambda: [bench._read_once(a.reshape(-1)) for a in (x, t, w)],
    }


class SampleWeight:
    params = [["mse_loss", "binary_cross_entropy"], list(LAYOUTS), sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)})]
    param_names = ["loss", "layout", "threads"]
    timeout = 300

    def setup(self, name, layout, threads):
        numloss.set_num_threads(threads)
        numba.set_num_threads(threads)  # the floor's prange
        self.x, self.t, self.w = make(name, layout, np.random.default_rng(0))
        self.fns = callables(name, self.x, self.t, self.w)

    def time_weighted_forward(self, *params):
        self.fns["weighted"]()

    def _ratios(self):
        t = bench._median_times(self.fns, rounds=7)
        return t["weighted"] / t["floor"], t["weighted"] / t["unweighted"]

    def track_weighted_over_floor(self, *params):
        return self._ratios()[0]

    def track_weighted_over_unweighted(self, *params):
        return self._ratios()[1]


if __name__ == "__main__":  # the figures in one run: python asv_benchmarks/benchmarks/sample_weight.py
    for threads in SampleWeight.params[2]:
        numloss.set_num_threads(threads)
        numba.set_num_threads(threads)
        for name in SampleWeight.params[0]:
            for layout in LAYOUTS:
                fns = callables(name, *make(name, layout, np.random.default_rng(0)))
                t = bench._median_times(fns, rounds=11)
                print(f"{threads} thr {name:22s} {layout:5s} " + "  ".join(f"{k} {v * 1e3:6.2f} ms" for k, v in t.items())
                      + f"  weighted/floor {t['weighted'] / t['floor']:.2f}  weighted/unweighted "
                      f"{t['weighted'] / t['unweighted']:.2f}")
