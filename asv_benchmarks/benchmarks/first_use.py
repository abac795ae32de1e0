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

# Wall and CPU seconds of the first forward and the first loss+grad of one loss, measured in the
# child (CPU time is the steadier figure on a shared machine: a compile is single-threaded).
CALLS = """
import json, time
import numpy as np
import numloss
from numloss._registry import BY_NAME
args, kwargs = BY_NAME[{name!r}].make(np.random.default_rng(0), "small", np.dtype({dtype!r}))
fn = getattr(numloss, {name!r})
t = [(time.perf_counter(), time.process_time())]
fn(*args, **kwargs)
t.append((time.perf_counter(), time.process_time()))
fn(*args, **kwargs, return_grad=True)
t.append((time.perf_counter(), time.process_time()))
print(json.dumps([[b[0] - a[0], b[1] - a[1]] for a, b in zip(t, t[1:])]))
"""

TRIVIAL = """
import numba
@numba.njit(cache=True)
def f(x):
    return x + 1
"""

TRIVIAL_CALL = """
import json, sys, time
sys.path.insert(0, {dir!r})
import trivial_njit
t0, c0 = time.perf_counter(), time.process_time()
trivial_njit.f(1.0)
print(json.dumps([time.perf_counter() - t0, time.process_time() - c0]))
"""


def _child(code, cache_dir):
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def trivial_first_call(work_dir):
    """``[wall, cpu]`` seconds of a trivial cached function's first call in a fresh interpreter
    (cache warm)."""
    (pathlib.Path(work_dir) / "trivial_njit.py").write_text(TRIVIAL)
    code = TRIVIAL_CALL.format(dir=str(work_dir))
    _child(code, work_dir)  # fills the cache
    return _child(code, work_dir)


def first_use(name, dtype="float32", warm_rounds=3, trivial_dir=None):
    """(forward, loss+grad) ``[wall, cpu]`` seconds with an empty cache; then, with the cache that
    run filled, the same and the trivial function's first call (each the median of
    ``warm_rounds`` fresh interpreters, alternated)."""
    import numpy as np

    with tempfile.TemporaryDirectory() as cache:
        code = CALLS.format(name=name, dtype=dtype)
        empty = _child(code, cache)
        warm, trivial = [], []
        for _ in range(warm_rounds):
            warm.append(_child(code, cache))
            trivial.append(trivial_first_call(trivial_dir or cache))
        return empty, np.median(warm, axis=0).tolist(), np.median(trivial, axis=0).tolist()


def main(argv):
    from numloss._registry import CASES

    dtype = "float32"
    if "--dtype" in argv:
        i = argv.index("--dtype")
        dtype = argv[i + 1]
        del argv[i:i + 2]
    names = argv or [c.name for c in CASES]
    print("wall seconds (CPU seconds); warm columns: milliseconds, medians of 3 fresh interpreters")
    print("| loss | empty: forward | empty: loss+grad | warm: forward | warm: loss+grad "
          "| trivial @njit | warm forward - trivial |")
    print("|---|---|---|---|---|---|---|")
    wall = cpu = 0.0
    ms = lambda t: f"{t[0] * 1e3:.0f} ({t[1] * 1e3:.0f})"  # noqa: E731
    with tempfile.TemporaryDirectory() as work:
        for name in names:
            (fwd, lg), (wfwd, wlg), triv = first_use(name, dtype, trivial_dir=work)
            wall += fwd[0] + lg[0]
            cpu += fwd[1] + lg[1]
            print(f"| {name} | {fwd[0]:.2f} ({fwd[1]:.2f}) | {lg[0]:.2f} ({lg[1]:.2f}) | {ms(wfwd)} | {ms(wlg)} "
                  f"| {ms(triv)} | {ms([wfwd[0] - triv[0], wfwd[1] - triv[1]])} |", flush=True)
    print(f"\nall {len(names)} losses, empty cache, forward + loss+grad: {wall:.1f} s wall ({cpu:.1f} s CPU)")


class FirstUse:
    """One loss's first forward + loss+grad in a fresh interpreter: empty cache, and warm."""

    params = ["mse_loss", "cross_entropy", "nll_loss", "triplet_margin_loss", "ctc_loss"]
    param_names = ["loss"]
    number = 1
    repeat = 1
    timeout = 600

    def setup(self, name):
        self.cache = tempfile.mkdtemp()

    def timeraw_empty_cache(self, name):
        # asv runs this in a fresh interpreter; the cache directory is new for every sample.
        return (f"import os, tempfile; os.environ['NUMBA_CACHE_DIR'] = tempfile.mkdtemp()\n"
                + CALLS.format(name=name, dtype="float32"))

    def timeraw_warm_cache(self, name):
        code = f"import os; os.environ['NUMBA_CACHE_DIR'] = {self.cache!r}\n" + CALLS.format(name=name, dtype="float32")
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)  # fills the cache
        return code


if __name__ == "__main__":
    main(sys.argv[1:])
