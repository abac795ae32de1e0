"""numloss.metrics: every metric of ``numloss bench --suite metrics`` at 1e4 and 1e7 samples
((100, 100) and (4096, 1000) for multiclass log_loss), and its speedup over sklearn.metrics
measured side by side in one process."""
import numpy as np

import numloss
from numloss import bench

from .common import THREADS


class Metrics:
    param_names = ["metric", "dtype", "size", "threads"]
    params = [[c[0] for c in bench.METRIC_CASES], ["float32", "float64"], list(bench.METRIC_SIZES), THREADS]
    timeout = 600
    number = 1
    repeat = (3, 10, 20.0)

    def setup(self, label, dtype, size, threads):
        numloss.set_num_threads(threads)
        make = bench.METRIC_BY_LABEL[label][2]
        self.args, self.kwargs = make(np.random.default_rng(0), size, np.dtype(dtype))
        self.fn = bench.metric_callables(label, self.args, self.kwargs)["numloss"]
        self.fn()  # compile (or load) before timing

    def time_metric(self, *params):
        self.fn()

    def track_speedup_vs_sklearn(self, label, dtype, size, threads):
        """sklearn's time / numloss's, interleaved medians as in ``numloss bench``; NaN without
        scikit-learn."""
        try:
            import sklearn.metrics
        except ImportError:
            return float("nan")
        fns = bench.metric_callables(label, self.args, self.kwargs, sklearn.metrics)
        t = bench._median_times({"numloss": fns["numloss"], "sklearn": fns["sklearn"]}, rounds=3)
        return t["sklearn"] / t["numloss"]

    track_speedup_vs_sklearn.unit = "ratio"
