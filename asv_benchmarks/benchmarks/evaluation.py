"""Evaluation beyond one array (issue 14's speed goals), as ratios of interleaved medians measured
side by side in one process: float32 ``mse_loss`` over 1e8 elements

* by an ``Accumulator`` fed batches of 1e6, against one call on the whole array;
* by ``numloss.dask.evaluate`` on the threaded scheduler over two .npy files loaded with
  ``np.load(mmap_mode="r")``, against the in-memory call;
* (``python asv_benchmarks/benchmarks/evaluation.py`` only) on a two-process
  ``distributed.LocalCluster`` bound to 127.0.0.1, the files read by the workers
  (``numloss.dask.from_npy``), against the in-memory call plus the cluster's fixed cost per
  computation (an empty graph's round trip).
"""
import os
import tempfile

import numba
import numpy as np

import numloss
from numloss import bench

N = 10**8
BATCH = 10**6


def make():
    rng = np.random.default_rng(0)
    return rng.standard_normal(N, dtype=np.float32), rng.standard_normal(N, dtype=np.float32)


def accumulate(x, y, batch):
    acc = numloss.Accumulator("mse_loss")
    for i in range(0, x.size, batch):
        acc.update(x[i:i + batch], y[i:i + batch])
    return acc.result()


def saved(x, y, directory):
    """x and y saved as .npy in ``directory`` and loaded back as read-only memory maps."""
    paths = [os.path.join(directory, f"{k}.npy") for k in "xy"]
    for p, a in zip(paths, (x, y)):
        np.save(p, a)
    return [np.load(p, mmap_mode="r") for p in paths]


def dask_value(xm, ym, chunks):
    import dask.array as da

    import numloss.dask

    return numloss.dask.evaluate("mse_loss", da.from_array(xm, chunks=chunks), da.from_array(ym, chunks=chunks))


class Accumulate:
    timeout = 600

    def setup(self):
        numloss.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        self.x, self.y = make()
        self.fns = {"one call": lambda: numloss.mse_loss(self.x, self.y),
                    "accumulator": lambda: accumulate(self.x, self.y, BATCH)}

    def time_accumulator(self):
        self.fns["accumulator"]()

    def track_accumulator_over_one_call(self):
        t = bench._median_times(self.fns, rounds=5)
        return t["accumulator"] / t["one call"]


class DaskThreads:
    params = [["auto", 5 * 10**6]]
    param_names = ["chunks"]
    timeout = 600

    def setup(self, chunks):
        try:
            import dask  # noqa: F401
        except ImportError:
            raise NotImplementedError("dask is not installed")
        numloss.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        self.x, self.y = make()
        self.dir = tempfile.mkdtemp()
        xm, ym = saved(self.x, self.y, self.dir)
        value = dask_value(xm, ym, chunks)
        self.fns = {"in-memory": lambda: numloss.mse_loss(self.x, self.y),
                    "dask threads": lambda: value.compute(scheduler="threads")}

    def teardown(self, chunks):
        for k in "xy":
            os.remove(os.path.join(self.dir, f"{k}.npy"))
        os.rmdir(self.dir)

    def time_dask_threads(self, chunks):
        self.fns["dask threads"]()

    def track_dask_threads_over_in_memory(self, chunks):
        t = bench._median_times(self.fns, rounds=5)
        return t["dask threads"] / t["in-memory"]


def main():
    import dask
    from distributed import Client, LocalCluster

    import numloss.dask as ndask

    numloss.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    x, y = make()
    one = lambda: numloss.mse_loss(x, y)  # noqa: E731
    t = bench._median_times({"one call": one, "accumulator": lambda: accumulate(x, y, BATCH)}, rounds=7)
    print(f"accumulator, batches of {BATCH:.0e}: {t['accumulator'] * 1e3:.1f} ms, one call "
          f"{t['one call'] * 1e3:.1f} ms: {t['accumulator'] / t['one call']:.2f}x")
    with tempfile.TemporaryDirectory() as d:
        xm, ym = saved(x, y, d)
        for chunks in DaskThreads.params[0]:
            value = dask_value(xm, ym, chunks)
            t = bench._median_times({"in-memory": one, "dask": lambda: value.compute(scheduler="threads")}, rounds=7)
            print(f"dask threads, chunks {chunks}: {t['dask'] * 1e3:.1f} ms, in-memory {t['in-memory'] * 1e3:.1f} ms: "
                  f"{t['dask'] / t['in-memory']:.2f}x")
        rows = 2**25  # 128 MiB of float32, dask's "auto" chunk size
        value = ndask.evaluate("mse_loss", *(ndask.from_npy(os.path.join(d, f"{k}.npy"), rows) for k in "xy"))
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None) as cluster, Client(cluster) as client:
            empty = dask.delayed(int)()
            t = bench._median_times({"in-memory": one, "cluster": lambda: client.compute(value).result(),
                                     "empty graph": lambda: client.compute(empty).result()}, rounds=7)
        print(f"LocalCluster(2 processes), numloss.dask.from_npy blocks of {rows} rows: {t['cluster'] * 1e3:.1f} ms, in-memory "
              f"{t['in-memory'] * 1e3:.1f} ms, empty graph {t['empty graph'] * 1e3:.1f} ms: "
              f"cluster / (in-memory + empty graph) = {t['cluster'] / (t['in-memory'] + t['empty graph']):.2f}x")


if __name__ == "__main__":  # the figures in one run: python asv_benchmarks/benchmarks/evaluation.py
    main()
