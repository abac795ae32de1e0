"""First use: a loss's first forward and first loss+grad in a fresh interpreter, with an empty
compile cache and with a warm one, beside Numba's own start-up (the first call of a trivial cached
``@njit`` function in a fresh interpreter).

As asv benchmarks (``timeraw``: one fresh interpreter per sample), and as a script that prints
the per-loss tables of docs/performance.md "First use":
``PYTHONPATH=. python asv_benchmarks/benchmarks/first_use.py [NAME...] [--dtype float32]``.
"""
import json
import os
import pathlib
import subprocess
import sys
import tempfile

# Wall and CPU seconds of each timed step in a fresh interpreter: the first forward and the first
# loss+grad of one loss, after (with {trivial} set) the first call of a trivial cached function,
# which pays Numba's own one-time start-up. CPU time is the steadier figure on a shared machine
# (a compile is single-threaded).
CHILD = """
import json, sys, time
laps = [(time.perf_counter(), time.process_time())]
if {trivial!r}:
    sys.path.insert(0, {trivial!r})
    import trivial_njit
    laps = [(time.perf_counter(), time.process_time())]
    trivial_njit.f(1.0)
    laps.append((time.perf_counter(), time.process_time()))
if {name!r}:
    import numpy as np
    import numloss
    from numloss._registry import BY_NAME
    args, kwargs = BY_NAME[{name!r}].make(np.random.default_rng(0), "small", np.dtype({dtype!r}))
    fn = getattr(numloss, {name!r})
    laps.append((time.perf_counter(), time.process_time()))
    fn(*args, **kwargs)
    laps.append((time.perf_counter(), time.process_time()))
    fn(*args, **kwargs, return_grad=True)
    laps.append((time.perf_counter(), time.process_time()))
steps = [[b[0] - a[0], b[1] - a[1]] for a, b in zip(laps, laps[1:])]
if {name!r}:  # drop the step of numloss's import
    del steps[-3]
print(json.dumps(steps))
"""

TRIVIAL = """
import numba
@numba.njit(cache=True)
def f(x):
    return x + 1
"""


def _child(cache_dir, name="", dtype="float32", trivial=""):
    code = CHILD.format(name=name, dtype=dtype, trivial=trivial)
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def first_use(name, dtype="float32", warm_rounds=3):
    """``[wall, cpu]`` seconds, each the median of ``warm_rounds`` fresh interpreters for a warm cache:
    ``empty``: [forward, loss+grad] with an empty cache; ``warm``: the same with the cache that run
    filled; ``trivial``: a trivial cached function's first call; ``after``: [trivial, forward,
    loss+grad] in one interpreter (the forward's share is numloss's own, over Numba's start-up)."""
    import numpy as np

    with tempfile.TemporaryDirectory() as cache:
        (pathlib.Path(cache) / "trivial_njit.py").write_text(TRIVIAL)
        empty = _child(cache, name, dtype)
        _child(cache, trivial=cache)  # fills the trivial function's cache
        runs = {"warm": [], "trivial": [], "after": []}
        for _ in range(warm_rounds):  # alternated, so that a busy neighbour hits all alike
            runs["warm"].append(_child(cache, name, dtype))
            runs["trivial"].append(_child(cache, trivial=cache)[0])
            runs["after"].append(_child(cache, name, dtype, trivial=cache))
        return dict(empty=empty, **{k: np.median(v, axis=0).tolist() for k, v in runs.items()})


def main(argv):
    from numloss._registry import CASES

    dtype = "float32"
    if "--dtype" in argv:
        i = argv.index("--dtype")
        dtype = argv[i + 1]
        del argv[i:i + 2]
    names = argv or [c.name for c in CASES]
    print("wall (CPU); empty cache: seconds; warm cache: milliseconds, medians of 3 fresh interpreters each")
    print("| loss | empty: forward | empty: loss+grad | warm: forward | warm: loss+grad | trivial @njit "
          "| warm forward after trivial |")
    print("|---|---|---|---|---|---|---|")
    wall = cpu = 0.0
    s_ = lambda t: f"{t[0]:.2f} ({t[1]:.2f})"  # noqa: E731
    ms = lambda t: f"{t[0] * 1e3:.0f} ({t[1] * 1e3:.0f})"  # noqa: E731
    for name in names:
        r = first_use(name, dtype)
        (fwd, lg), (wfwd, wlg) = r["empty"], r["warm"]
        wall += fwd[0] + lg[0]
        cpu += fwd[1] + lg[1]
        print(f"| {name} | {s_(fwd)} | {s_(lg)} | {ms(wfwd)} | {ms(wlg)} | {ms(r['trivial'])} "
              f"| {ms(r['after'][1])} |", flush=True)
    print(f"\nall {len(names)} losses, empty cache, forward + loss+grad: {wall:.1f} s wall ({cpu:.1f} s CPU)")


class FirstUse:
    """One loss's first forward + loss+grad in a fresh interpreter: empty cache, and warm (the
    parameters of the other suites, so that one harness runs them all; serial, "small" inputs)."""

    params = [["mse_loss", "cross_entropy", "nll_loss", "triplet_margin_loss", "ctc_loss"], ["float32"], ["small"], [1]]
    param_names = ["loss", "dtype", "size", "threads"]
    number = 1
    repeat = 1
    timeout = 600

    def setup(self, name, dtype, size, threads):
        self.cache = tempfile.mkdtemp()

    def timeraw_empty_cache(self, name, dtype, size, threads):
        # asv runs this in a fresh interpreter; the cache directory is new for every sample.
        return (f"import os, tempfile; os.environ['NUMBA_CACHE_DIR'] = tempfile.mkdtemp()\n"
                + CHILD.format(name=name, dtype=dtype, trivial=""))

    def timeraw_warm_cache(self, name, dtype, size, threads):
        code = (f"import os; os.environ['NUMBA_CACHE_DIR'] = {self.cache!r}\n"
                + CHILD.format(name=name, dtype=dtype, trivial=""))
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)  # fills the cache
        return code


if __name__ == "__main__":
    main(sys.argv[1:])
