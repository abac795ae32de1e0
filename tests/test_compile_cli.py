"""``numloss compile`` fills Numba's disk cache ahead of time, and a compile is logged (logger
"numloss": DEBUG for every compile of a numloss kernel, INFO for one slower than SLOW_COMPILE)."""
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

import numloss

# Where this process imported numloss from (site-packages, or a checkout on PYTHONPATH): the
# subprocesses import the same one, never an unbuilt source tree above the tests.
IMPORT_ROOT = pathlib.Path(numloss.__file__).resolve().parents[1]

# The compiles logged while mse_loss (cached by `numloss compile` before) and then l1_loss (not
# cached) run: forward and loss+grad, serial and parallel sizes, reduced and "none".
USER = """
import logging, numpy as np, numloss
from numloss._kernels import _compile
_compile.SLOW_COMPILE = 0.0  # every compile is "slow": its INFO line shows
records = []
handler = logging.Handler()
handler.emit = records.append
logging.getLogger("numloss").addHandler(handler)
logging.getLogger("numloss").setLevel(logging.INFO)
for name in ("mse_loss", "l1_loss"):
    fn = getattr(numloss, name)
    for n in (10, 300_000):
        x = np.linspace(-1, 1, n, dtype=np.float32)
        for reduction in ("mean", "none"):
            fn(x, x[::-1], reduction=reduction)
            fn(x, x[::-1], reduction=reduction, return_grad=True)
    print(name, sum(r.levelname == "INFO" and "compiled" in r.getMessage() for r in records))
    records.clear()
"""


def _run(args, cache):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": str(IMPORT_ROOT)}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=900, env=env,
                          cwd=cache)


def test_compile_fills_the_cache_for_a_new_process(tmp_path):
    proc = _run(["-m", "numloss", "compile", "mse_loss", "--dtype", "float32"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "1 loss/dtype pairs" in proc.stdout
    assert any(tmp_path.rglob("*mse*.nbi")), "no cache index written"
    proc = _run(["-c", textwrap.dedent(USER)], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    counts = dict(line.split() for line in proc.stdout.splitlines())
    assert counts["mse_loss"] == "0", "the compiled mse_loss kernels were compiled again"
    assert int(counts["l1_loss"]) >= 2, "a compile went unlogged (the check above would then prove nothing)"


def test_compile_rejects_unknown_loss(tmp_path):
    proc = _run(["-m", "numloss", "compile", "nope_loss"], tmp_path)
    assert proc.returncode == 2
    assert "nope_loss" in proc.stderr and "cross_entropy" in proc.stderr
    assert "Traceback" not in proc.stderr


CROSS_ENTROPY_USER = """
import numpy as np, numloss
from numloss._kernels import _compile
rng = np.random.default_rng(1)
for n, c in ((50, 7), (40, 100), (30_000, 7), (2_000, 100)):  # tiles and rows, serial and parallel
    x = rng.standard_normal((n, c)).astype(np.float32)
    t = rng.integers(0, c, n)
    for kw in ({}, {"label_smoothing": 0.2}):
        numloss.cross_entropy(x, t, **kw)
        numloss.cross_entropy(x, t, return_grad=True, **kw)
    p = np.full_like(x, 1 / c)
    numloss.cross_entropy(x, p)
    numloss.cross_entropy(x, p, return_grad=True)
print(len(_compile.COMPILED))
"""


@pytest.mark.slow
def test_compile_covers_every_cross_entropy_variant(tmp_path):
    """cross_entropy compiles one kernel per path, target kind and gradient flag: `numloss
    compile` must reach them all."""
    proc = _run(["-m", "numloss", "compile", "cross_entropy", "--dtype", "float32"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc = _run(["-c", textwrap.dedent(CROSS_ENTROPY_USER)], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["0"], proc.stdout
