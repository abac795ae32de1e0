"""``numloss eval``: files in, the in-memory call's number out; bad input is one line and exit 2."""
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import numloss


def _eval(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "numloss", "eval", *args], capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5000, 7)).astype(np.float32)
    t = rng.integers(0, 7, 5000)
    w = rng.random(5000)
    for name, a in (("x", x), ("t", t), ("w", w), ("short", x[:10])):
        np.save(tmp_path / f"{name}.npy", a)
    np.savez(tmp_path / "both.npz", x=x, t=t)
    return tmp_path, x, t, w


def test_npy_and_npz_equal_the_in_memory_call(files):
    d, x, t, _ = files
    want = float(numloss.cross_entropy(x, t, label_smoothing=0.2))
    out = _eval("cross_entropy", str(d / "x.npy"), str(d / "t.npy"), "--set", "label_smoothing=0.2",
                "--batch-rows", "333", "--json")
    got = json.loads(out.stdout)
    assert set(got) == {"name", "result", "samples", "seconds"}
    assert got["result"] == want and got["samples"] == 5000
    out = _eval("cross_entropy", f"{d / 'both.npz'}:x", f"{d / 'both.npz'}:t", "--set", "label_smoothing=0.2")
    assert f"cross_entropy: {want}" in out.stdout and "samples: 5000" in out.stdout
    assert out.stderr == ""  # no progress bar when stderr is not a terminal


def test_parquet_column_and_dask_threads(files):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    d, x, t, _ = files
    y = x[:, 0] * 0.5
    pq.write_table(pa.table({"pred": x[:, 0], "true": y}), d / "cols.parquet")
    want = float(numloss.mse_loss(x[:, 0], y))
    got = json.loads(_eval("mse_loss", f"{d / 'cols.parquet'}:pred", f"{d / 'cols.parquet'}:true", "--json").stdout)
    assert got["result"] == want
    got = json.loads(_eval("mse_loss", f"{d / 'cols.parquet'}:pred", f"{d / 'cols.parquet'}:true", "--json",
                           "--dask", "threads", "--batch-rows", "999").stdout)
    assert got["result"] == pytest.approx(want, rel=1e-6)


def test_npy_files_through_dask_threads(files):
    d, x, t, w = files
    want = float(numloss.cross_entropy(x, t, sample_weight=w))
    got = json.loads(_eval("cross_entropy", str(d / "x.npy"), str(d / "t.npy"), "--sample-weight", str(d / "w.npy"),
                           "--json", "--dask", "threads", "--batch-rows", "999").stdout)
    assert got["result"] == pytest.approx(want, rel=1e-6) and got["samples"] == 5000


@pytest.mark.parametrize(
    "args,message",
    [
        (["cross_entropy", "{d}/x.npy", "{d}/missing.npy"], "no such file"),
        (["crossentropy", "{d}/x.npy", "{d}/t.npy"], "must be a numloss loss or metric"),
        (["cross_entropy", "{d}/x.npy", "{d}/t.npy", "--set", "delta=1"], "no option 'delta'"),
        (["cross_entropy", "{d}/x.npy", "{d}/w.npy"], "target"),  # wrong dtype
        (["mse_loss", "{d}/x.npy", "{d}/short.npy"], "samples"),
        (["mse_loss", "{d}/x.npy", "{d}/short.npy", "--dask", "threads"], "samples"),
        (["cross_entropy", "{d}/x.npy", "{d}/t.npy", "--sample-weight", "{d}/short.npy", "--dask", "threads"],
         "--sample-weight"),
        (["cross_entropy", "{d}/both.npz:nope", "{d}/t.npy"], "name one of the arrays"),
        (["cross_entropy", "{d}/x.npy", "{d}/t.npy", "--batch-rows", "0"], "--batch-rows"),
        (["cross_entropy", "{d}/x.npy", "{d}/t.npy", "--set", "reduction=none"], "reduction"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(files, args, message):
    d, *_ = files
    proc = _eval(*[a.format(d=d) for a in args], check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def _peak_rss_anon(cmd):
    """Run ``cmd``; return its exit status and the largest RssAnon (bytes) seen while it ran."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        peak = max(peak, int(line.split()[1]) * 1024)
        except OSError:
            pass
        time.sleep(0.01)
    out, err = proc.communicate()
    return proc.returncode, peak, out, err


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc")
def test_file_larger_than_the_memory_it_may_use(tmp_path):
    """A 2 GiB .npy is streamed: the process's anonymous memory stays under 300 MB."""
    n = (2 << 30) // 4
    path = tmp_path / "big.npy"
    big = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n,))  # sparse: no disk writes
    big[-4:] = [1.0, 2.0, 3.0, 4.0]
    del big
    zeros = tmp_path / "zeros.npy"
    np.lib.format.open_memmap(zeros, mode="w+", dtype=np.float32, shape=(n,))
    code, peak, out, err = _peak_rss_anon(
        [sys.executable, "-m", "numloss", "eval", "mse_loss", str(path), str(zeros), "--set", "reduction=sum", "--json"]
    )
    assert code == 0, err
    assert json.loads(out)["samples"] == n
    assert json.loads(out)["result"] == 30.0
    assert 0 < peak < 300e6, peak
