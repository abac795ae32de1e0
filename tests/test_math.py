"""Accuracy, special values, vectorisation and caching of numloss._kernels._math.

Errors are measured in ulps of the exact result: |y - ref| / ulp(ref), where
ulp(ref) = 2**(floor(log2|ref|) - p + 1) (p = 24 / 53), floored at the
smallest subnormal.

* float32: the reference is the same function evaluated in float64 by numpy
  (np.exp/np.log/np.log1p/np.logaddexp; numpy's float64 exp/log are within
  ~0.7 ulp of float64 on this machine -- numpy's own AVX-512 code, not glibc),
  i.e. accurate to ~2**-28 float32 ulp, so the measured float32 error is the
  true one to ~1e-8 ulp.  vexp is checked on *every* float32 in [-104, 89];
  the others on every 31st bit pattern of their whole domain plus every
  float32 (or every 3rd) of the region where their error peaks.  The
  bounds asserted are the maxima of exhaustive runs of all five.
* float64: 1e6-element samples against glibc's long double expl/logl/log1pl
  (64-bit mantissa: errors ~2**-11 float64 ulp), a 2000-point mpmath
  (200-bit) subset, and numpy's float64 functions (< 1 ulp themselves, so
  the difference to them is bounded by our bound + 1).
"""
import json
import math
import os
import re
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numba
import pytest
from numba import njit, prange

import numloss._kernels._math as nlmath
from numloss._kernels._math import (vexp, vlog, vlog1p, vlog1p_finite, vlog_finite, vlog_normal,
                                   vsigmoid, vsoftplus)
from numloss._kernels.softmax import softmax_exp as sexp

FUNCS = {"vexp": vexp, "vlog": vlog, "vlog1p": vlog1p,
         "vsoftplus": vsoftplus, "vsigmoid": vsigmoid,
         "vlog_finite": vlog_finite, "vlog_normal": vlog_normal, "vlog1p_finite": vlog1p_finite}
# The variants for checked inputs compute their base function on a smaller domain.
BASE = {name: name for name in FUNCS}
BASE.update(vlog_finite="vlog", vlog_normal="vlog", vlog1p_finite="vlog1p")

# Measured maxima with FMA (float32: exhaustive over each function's whole
# range; float64: 4e6 random points), asserted with a ~0.01-0.03 ulp margin.
# See the module docstring of _math.py.
BOUND32 = {"vexp": 0.88, "vlog": 0.80, "vlog1p": 0.82,
           "vsoftplus": 1.59, "vsigmoid": 2.42}
BOUND64 = {"vexp": 0.90, "vlog": 0.82, "vlog1p": 0.82,
           "vsoftplus": 1.60, "vsigmoid": 2.45}
for _bounds in (BOUND32, BOUND64):
    _bounds.update({name: _bounds[BASE[name]] for name in FUNCS})


def _host_features():
    """(cpu name, set of enabled features) numba compiles for."""
    import llvmlite.binding as ll
    name = numba.config.CPU_NAME or "host"
    if numba.config.CPU_FEATURES is not None:
        feats = {f[1:] for f in numba.config.CPU_FEATURES.split(",")
                 if f.startswith("+")}
    elif name == "host":
        feats = {k for k, v in ll.get_host_cpu_features().items() if v}
    else:
        feats = None
    return name, feats


_CPU, _FEATS = _host_features()
HAS_FMA = _FEATS is not None and "fma" in _FEATS
HAS_AVX2 = _FEATS is not None and "avx2" in _FEATS
# Without FMA the llvm.fmuladd steps round twice (measured with
# NUMBA_CPU_NAME=x86-64: vexp 1.16, vlog1p 0.86, vsoftplus 1.67 ulp).
_SLACK = 0.0 if HAS_FMA else 0.35


# ---------------------------------------------------------------------------
# jitted drivers and error kernels
# ---------------------------------------------------------------------------

def _make_driver(fn, fastmath=False):
    @njit(error_model="numpy", nogil=True, fastmath=fastmath)
    def drive(x, out):
        for i in range(x.size):
            out[i] = fn(x[i])
    return drive


DRV = {k: _make_driver(f) for k, f in FUNCS.items()}
# the softmax's exp of the row kernels: float32, for shifted logits z <= 0 only
DRV["sexp"] = _make_driver(sexp)


def _sig(drv, nbt):
    """The compiled (nbt[::1], nbt[::1]) signature of a driver."""
    drv.compile((nbt[::1], nbt[::1]))
    return [s for s in drv.signatures if s[0] == nbt[::1]][0]


def run(name, x, drivers=DRV):
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    drivers[name](x, out)
    return out


def _inv_ulp_table(p, emin):
    """1/ulp indexed by the biased float64 exponent of the reference."""
    e = np.maximum(np.arange(2048) - 1023, emin)
    return np.ldexp(1.0, -(e - (p - 1)))


INV32 = _inv_ulp_table(24, -126)


@njit(nogil=True, error_model="numpy")
def _max_err32(y, ref, inv):
    """max |y - ref| in float32 ulps of ref (vectorised int max-reduction).

    A correctly rounded result counts as <= 0.5 (covers ref beyond FLT_MAX
    rounding to inf); both NaN counts 0; a NaN/inf mismatch counts 1e6.
    """
    rb = ref.view(np.int64)
    m = 0
    for i in range(y.size):
        yi = np.float64(y[i])
        r = ref[i]
        e = abs(yi - r) * inv[(rb[i] >> 52) & 0x7FF]
        e = (e if e < 0.5 else 0.5) if np.float32(r) == yi else e
        e = 0.0 if (yi != yi and r != r) else e
        e = e if e < 1e6 else 1e6
        m = max(m, np.int64(e * 1048576.0))
    return m / 1048576.0


@njit(nogil=True, error_model="numpy")
def _fill_bits(bits, start, step):
    for i in range(bits.size):
        bits[i] = np.uint32(start + i * step)


def _ref64(name, x64, out):
    name = BASE.get(name, name)
    with np.errstate(all="ignore"):
        if name in ("vexp", "sexp"):
            np.exp(x64, out=out)
        elif name == "vlog":
            np.log(x64, out=out)
        elif name == "vlog1p":
            np.log1p(x64, out=out)
        elif name == "vsoftplus":
            np.logaddexp(0.0, x64, out=out)
        elif name == "vsigmoid":
            np.negative(x64, out=out)
            np.exp(out, out=out)
            out += 1.0
            np.divide(1.0, out, out=out)


def sweep32(name, lo_bits, hi_bits, step=1, chunk=1 << 21, threads=2):
    """Max float32 ulp error of `name` over the float32 bit patterns
    lo_bits, lo_bits+step, ... < hi_bits.  Returns (err, worst x)."""
    starts = list(range(lo_bits, hi_bits, chunk * step))
    lock = threading.Lock()
    state = {"next": 0, "err": 0.0, "x": None}

    def work(_):
        bits = np.empty(chunk, np.uint32)
        y = np.empty(chunk, np.float32)
        x64 = np.empty(chunk, np.float64)
        ref = np.empty(chunk, np.float64)
        while True:
            with lock:
                if state["next"] >= len(starts):
                    return
                s = starts[state["next"]]
                state["next"] += 1
            n = min(chunk, (hi_bits - s + step - 1) // step)
            b = bits[:n]
            _fill_bits(b, s, step)
            x = b.view(np.float32)
            DRV[name](x, y[:n])
            x64[:n] = x
            _ref64(name, x64[:n], ref[:n])
            e = _max_err32(y[:n], ref[:n], INV32)
            if e > state["err"]:
                with np.errstate(all="ignore"):
                    full = np.abs(y[:n].astype(np.float64) - ref[:n]) * INV32[
                        (ref[:n].view(np.int64) >> 52) & 0x7FF]
                full[np.isnan(full)] = np.inf
                worst = x[int(np.argmax(full))]
                with lock:
                    if e > state["err"]:
                        state["err"], state["x"] = e, worst

    with ThreadPoolExecutor(threads) as ex:
        list(ex.map(work, range(threads)))
    return state["err"], state["x"]


def b32(v):
    return int(np.float32(v).view(np.uint32))


NEG = 0x80000000
PINF_BITS = 0x7F800000


# ---------------------------------------------------------------------------
# float32 accuracy
# ---------------------------------------------------------------------------

def test_vexp_float32_exhaustive():
    # every float32 in [-104, 89]: 2.24e9 values
    for lo, hi in [(0, b32(89.0) + 1), (NEG, b32(-104.0) + 1)]:
        err, x = sweep32("vexp", lo, hi)
        assert err <= BOUND32["vexp"] + _SLACK, (err, x)


def test_sexp_float32_exhaustive():
    """softmax.softmax_exp, the cross-entropy's exp of x - shift: every float32 in [-87.33, 0] within the
    1.05 ulp its comment states; below that it flushes to 0, which is what a subnormal term is
    worth beside a softmax denominator >= 1."""
    lo = b32(-87.33654)
    err, x = sweep32("sexp", NEG, lo + 1)
    assert err <= 1.05 + _SLACK, (err, x)
    tiny = np.array([-87.34, -100.0, -1e30, -np.inf], np.float32)
    assert np.all(run("sexp", tiny) == 0)
    assert np.isnan(run("sexp", np.array([np.nan], np.float32)))[0]


def test_vlog_float32():
    # every 31st positive float32 (all binades incl. subnormals) + every
    # float32 in [0.5, 2] (k in {-1, 0, 1}: where cancellation is largest)
    err, x = sweep32("vlog", 1, PINF_BITS + 1, step=31)
    assert err <= BOUND32["vlog"] + _SLACK, (err, x)
    err, x = sweep32("vlog", b32(0.5), b32(2.0) + 1)
    assert err <= BOUND32["vlog"] + _SLACK, (err, x)


def test_vlog1p_float32():
    cases = [(0, PINF_BITS + 1, 31),            # [0, inf]
             (NEG, b32(-1.0) + 1, 31),         # [-1, -0]
             (b32(-0.5), b32(-0.25), 1),       # |x| ~ 0.3: largest errors
             (b32(0.25), b32(0.5), 1)]
    for lo, hi, step in cases:
        if lo > hi:
            lo, hi = hi, lo
        err, x = sweep32("vlog1p", lo, hi, step=step)
        assert err <= BOUND32["vlog1p"] + _SLACK, (err, x)


@pytest.mark.parametrize("name,ranges", [
    ("vlog_finite", [(1, PINF_BITS)]),                        # every finite x > 0
    ("vlog_normal", [(0x00800000, PINF_BITS)]),               # every normal x > 0
    ("vlog1p_finite", [(0, PINF_BITS), (NEG, b32(-1.0))]),    # every finite x > -1
])
def test_checked_input_variants_float32_exhaustive(name, ranges):
    """Each variant over every float32 of its domain, within its base function's bound."""
    for lo, hi in ranges:
        err, x = sweep32(name, lo, hi)
        assert err <= BOUND32[name] + _SLACK, (name, err, x)


@pytest.mark.parametrize("name", ["vsoftplus", "vsigmoid"])
def test_softplus_sigmoid_float32(name):
    for lo, hi, step in [(0, b32(89.0) + 1, 31), (NEG, b32(-104.0) + 1, 31),
                         (b32(-5.0), b32(-1.0), 1),  # largest errors here
                         (b32(0.25), b32(1.0), 3)]:
        if lo > hi:
            lo, hi = hi, lo
        err, x = sweep32(name, lo, hi, step=step)
        assert err <= BOUND32[name] + _SLACK, (name, err, x)


# ---------------------------------------------------------------------------
# float64 accuracy
# ---------------------------------------------------------------------------

HAVE_LONGDOUBLE = np.finfo(np.longdouble).nmant >= 63


def _samples64(name, rng, n):
    if name in ("vlog_finite", "vlog_normal"):  # their domains: finite x > 0 / normal x > 0
        lo = 1 if name == "vlog_finite" else 0x0010000000000000
        return np.concatenate([rng.integers(lo, 0x7FF0000000000000, n // 2, dtype=np.int64).view(np.float64),
                               1 + rng.uniform(-0.3, 0.42, n // 2)])
    if name == "vlog1p_finite":  # finite x > -1
        return np.concatenate([rng.integers(1, 0x7FF0000000000000, n // 2, dtype=np.int64).view(np.float64),
                               -rng.integers(1, 0x3FF0000000000000, n // 4, dtype=np.int64).view(np.float64),
                               rng.uniform(-1, 3, n // 4)[1:]])
    if name in ("vexp", "vsoftplus", "vsigmoid"):
        return np.concatenate([rng.uniform(-746, 710, n // 2),
                               rng.uniform(-40, 40, n // 4),
                               rng.standard_normal(n // 4) * 3])
    pos = rng.integers(1, 0x7FF0000000000000, n // 2, dtype=np.int64).view(np.float64)
    if name == "vlog":
        return np.concatenate([pos, 1 + rng.uniform(-0.3, 0.42, n // 2)])
    neg = -rng.integers(1, 0x3FF0000000000000, n // 4, dtype=np.int64).view(np.float64)
    return np.concatenate([pos, neg, rng.uniform(-1, 3, n // 4)])


def _ulp64(v):
    _, e = np.frexp(np.abs(v))
    return np.ldexp(1.0, np.maximum(e - 53, -1074))


def _ld_ref(name, x):
    name = BASE[name]
    xl = x.astype(np.longdouble)
    with np.errstate(all="ignore"):
        if name == "vexp":
            return np.exp(xl)
        if name == "vlog":
            return np.log(xl)
        if name == "vlog1p":
            return np.log1p(xl)
        if name == "vsoftplus":
            return np.log1p(np.exp(xl))
        return 1 / (1 + np.exp(-xl))


_MP = {"vexp": lambda m, v: m.exp(v),
       "vlog": lambda m, v: m.log(v),
       "vlog1p": lambda m, v: m.log1p(v),
       "vsoftplus": lambda m, v: m.log1p(m.exp(v)),
       "vsigmoid": lambda m, v: 1 / (1 + m.exp(-v))}


@pytest.mark.parametrize("name", list(FUNCS))
def test_float64_mpmath_subset(name):
    mpmath = pytest.importorskip("mpmath")
    rng = np.random.default_rng(7)
    x = _samples64(name, rng, 2000)
    y = run(name, x)
    worst = 0.0
    with mpmath.workprec(200):
        for xv, yv in zip(x, y):
            r = _MP[BASE[name]](mpmath, mpmath.mpf(float(xv)))
            rf = float(r)
            if not np.isfinite(rf) or rf == 0.0:
                assert yv == rf, (xv, yv, rf)
                continue
            worst = max(worst, float(abs(mpmath.mpf(float(yv)) - r) / _ulp64(rf)))
    assert worst <= BOUND64[name] + _SLACK, worst


@pytest.mark.skipif(not HAVE_LONGDOUBLE, reason="long double is not x87 extended")
@pytest.mark.parametrize("name", list(FUNCS))
def test_float64_longdouble_bulk(name):
    rng = np.random.default_rng(11)
    x = _samples64(name, rng, 1_000_000)
    y = run(name, x)
    ref = _ld_ref(name, x)
    with np.errstate(all="ignore"):
        ref64 = ref.astype(np.float64)
        err = np.abs((y.astype(np.longdouble) - ref) / _ulp64(ref64)).astype(np.float64)
    both = (y == ref64) | (np.isnan(y) & np.isnan(ref64))
    err[both] = 0.0
    assert not np.isnan(err).any()
    i = int(np.argmax(err))
    assert err[i] <= BOUND64[name] + _SLACK, (x[i], y[i], ref64[i], err[i])


@pytest.mark.parametrize("name,npf", [("vexp", np.exp), ("vlog", np.log),
                                      ("vlog1p", np.log1p)])
def test_float64_vs_numpy(name, npf):
    # numpy's float64 exp/log/log1p are < 1 ulp (measured <= 0.7 here);
    # the distance to them is therefore < our bound + 1 ulp.
    rng = np.random.default_rng(3)
    x = _samples64(name, rng, 1_000_000)
    y = run(name, x)
    with np.errstate(all="ignore"):
        r = npf(x)
        err = np.abs(y - r) / _ulp64(r)
    err[(y == r) | (np.isnan(y) & np.isnan(r))] = 0.0
    assert np.nanmax(err) < BOUND64[name] + 1.0 + _SLACK
    assert not np.isnan(err).any()


# ---------------------------------------------------------------------------
# special values
# ---------------------------------------------------------------------------

def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    num = ~np.isnan(b)          # the sign of a NaN is not specified
    return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True) and \
        np.array_equal(np.signbit(a[num]), np.signbit(b[num]))


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_specials_exact(dt):
    inf, nan = dt(np.inf), dt(np.nan)
    fi = np.finfo(dt)
    tiny_sub = fi.smallest_subnormal
    cases = {
        "vexp": [(0.0, 1.0), (-0.0, 1.0), (inf, inf), (-inf, 0.0), (nan, nan),
                 (1e-30, 1.0), (-1e-30, 1.0), (1e4, inf), (-1e4, 0.0),
                 (fi.max, inf), (-fi.max, 0.0)],
        "vlog": [(0.0, -inf), (-0.0, -inf), (-1.0, nan), (-inf, nan),
                 (-tiny_sub, nan), (inf, inf), (nan, nan), (1.0, 0.0)],
        "vlog1p": [(0.0, 0.0), (-0.0, -0.0), (-1.0, -inf), (-1.5, nan),
                   (-inf, nan), (inf, inf), (nan, nan), (1e-30, 1e-30),
                   (-1e-30, -1e-30), (tiny_sub, tiny_sub),
                   (-tiny_sub, -tiny_sub)],
        "vsoftplus": [(inf, inf), (-inf, 0.0), (nan, nan), (1e4, 1e4),
                      (fi.max, fi.max), (-1e4, 0.0), (-fi.max, 0.0)],
        "vsigmoid": [(inf, 1.0), (-inf, 0.0), (nan, nan), (0.0, 0.5),
                     (-0.0, 0.5), (1e4, 1.0), (-1e4, 0.0), (fi.max, 1.0),
                     (-fi.max, 0.0), (60.0, 1.0)],
    }
    for name, pairs in cases.items():
        x = np.array([p[0] for p in pairs], dt)
        want = np.array([p[1] for p in pairs], dt)
        got = run(name, x)
        assert _same(got, want), (name, dt, x, got, want)


def _cr(v, dt):
    """long double value -> correctly rounded dt."""
    with np.errstate(over="ignore", under="ignore"):
        return np.asarray(v).astype(dt)[()]


@pytest.mark.skipif(not HAVE_LONGDOUBLE, reason="long double is not x87 extended")
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_exp_thresholds(dt):
    fi = np.finfo(dt)
    up, down = dt(np.inf), dt(-np.inf)

    def cexp(v):
        return _cr(np.exp(np.longdouble(v)), dt)

    # xo: largest x with finite exp(x); xu: smallest x with exp(x) != 0
    xo = dt(math.log(float(fi.max)))
    while not np.isfinite(cexp(xo)):
        xo = np.nextafter(xo, down)
    while np.isfinite(cexp(np.nextafter(xo, up))):
        xo = np.nextafter(xo, up)
    xu = dt(math.log(float(fi.smallest_subnormal)) - math.log(2.0))  # ~ the limit
    while cexp(xu) == 0:
        xu = np.nextafter(xu, up)
    while cexp(np.nextafter(xu, down)) != 0:
        xu = np.nextafter(xu, down)
    xs = np.array([xo, np.nextafter(xo, dt(np.inf)), xu, np.nextafter(xu, dt(-np.inf)),
                   dt(-104.0) if dt is np.float32 else dt(-746.0),     # clamp points
                   dt(89.0) if dt is np.float32 else dt(710.0)], dt)
    y = run("vexp", xs)
    assert np.isfinite(y[0]) and y[0] > fi.max * 0.99
    assert y[1] == np.inf
    assert y[2] == fi.smallest_subnormal, y[2]
    assert y[3] == 0.0
    assert y[4] == 0.0 and not np.signbit(y[4])
    assert y[5] == np.inf
    # subnormal results are correctly rounded to within 1 subnormal ulp
    x = np.linspace(float(xu), float(xu) + 25.0, 20001).astype(dt)
    y = run("vexp", x)
    ref = np.exp(x.astype(np.longdouble))
    with np.errstate(all="ignore"):
        err = np.abs(y.astype(np.longdouble) - ref) / np.longdouble(fi.smallest_subnormal)
    sub = ref < fi.smallest_normal
    assert sub.sum() > 1000
    assert float(err[sub].max()) <= 1.0


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_log_subnormal_and_extremes(dt):
    fi = np.finfo(dt)
    x = np.array([fi.smallest_subnormal, fi.smallest_subnormal * 3,
                  np.nextafter(fi.smallest_normal, dt(0)), fi.smallest_normal,
                  fi.max, np.nextafter(dt(1), dt(0)), np.nextafter(dt(1), dt(2))], dt)
    y = run("vlog", x)
    ref = np.log(x.astype(np.longdouble))
    ulp = _ulp64(ref.astype(np.float64)) * (2.0 ** 29 if dt is np.float32 else 1.0)
    err = np.abs(y.astype(np.longdouble) - ref) / ulp
    bound = (BOUND32 if dt is np.float32 else BOUND64)["vlog"]
    assert float(err.max()) <= bound + _SLACK, (x, y, err)
    # log1p at the bottom end: tiny values come back unchanged
    t = np.array([fi.smallest_subnormal, fi.smallest_normal, fi.eps / 8,
                  -fi.eps / 16], dt)
    assert _same(run("vlog1p", t), t)


def test_log1p_near_minus_one_and_large():
    for dt in (np.float32, np.float64):
        x = np.array([np.nextafter(dt(-1), dt(0)), dt(-0.9999), dt(1e30),
                      np.finfo(dt).max], dt)
        y = run("vlog1p", x)
        ref = np.log1p(x.astype(np.longdouble))
        scale = 2.0 ** 29 if dt is np.float32 else 1.0
        err = np.abs(y.astype(np.longdouble) - ref) / (_ulp64(ref.astype(np.float64)) * scale)
        assert float(err.max()) <= 1.0, (dt, y, err)


def test_sigmoid_softplus_extremes_float32():
    x = np.array([-104.0, -100.0, -88.0, -20.0, 20.0, 89.0, 18.0], np.float32)
    s = run("vsigmoid", x)
    assert s[0] == 0.0 and s[-2] == 1.0 and s[-3] == 1.0 and s[-1] == 1.0
    assert s[1] > 0 and abs(float(s[1]) - math.exp(-100)) <= 2 * 2.0 ** -149
    sp = run("vsoftplus", x)
    assert sp[0] == 0.0 and sp[-2] == np.float32(89.0)
    assert abs(float(sp[1]) - math.exp(-100)) <= 2 * 2.0 ** -149


# ---------------------------------------------------------------------------
# dtypes, Python-level calls, prange, fastmath={'reassoc','contract'}
# ---------------------------------------------------------------------------

def test_dtype_preserved_no_promotion():
    @njit(error_model="numpy")
    def all5(x):
        return vexp(x), vlog(x), vlog1p(x), vsoftplus(x), vsigmoid(x)

    # (integer arguments -> float64 is covered by test_python_level_scalar_calls)
    for nbt, want in [(numba.float32, numba.float32), (numba.float64, numba.float64)]:
        all5.compile((nbt,))
        sig = [s for s in all5.nopython_signatures if s.args == (nbt,)][0]
        assert sig.return_type == numba.types.UniTuple(want, 5), (nbt, sig)
    # the float32 loops never touch a double (no fpext / double constants)
    for name in FUNCS:
        ir = DRV[name].inspect_llvm(_sig(DRV[name], numba.float32))
        assert "fpext" not in ir and " double" not in ir, name


def test_python_level_scalar_calls():
    assert abs(vexp(1.0) - math.e) < 1e-15
    assert abs(vlog(np.float32(math.e)) - 1.0) < 1e-6
    assert vsigmoid(0.0) == 0.5
    assert vexp(2) == pytest.approx(math.exp(2), rel=1e-15)
    with pytest.raises(TypeError):
        vexp(np.ones(3))


def test_prange_and_reassoc():
    @njit(parallel=True, error_model="numpy")
    def pmap(x, out):
        for i in prange(x.size):
            out[i] = vsigmoid(x[i])

    # a reduction only vectorises with 'reassoc'; the kernels must stay
    # accurate and NaN-correct under it
    @njit(parallel=True, error_model="numpy", fastmath={"reassoc", "contract"})
    def psum(x):
        s = 0.0
        for i in prange(x.size):
            s += vexp(x[i]) + vlog1p(x[i] * x[i])
        return s

    x = np.random.default_rng(5).uniform(-30, 30, 100_001)
    out = np.empty_like(x)
    pmap(x, out)
    np.testing.assert_array_equal(out, run("vsigmoid", x))
    want = float(np.sum(np.exp(x) + np.log1p(x * x)))
    assert psum(x) == pytest.approx(want, rel=1e-12)


@njit(error_model="numpy", fastmath={"reassoc", "contract"})
def _all5_reassoc(x, out):
    for i in range(x.size):
        out[0, i] = vexp(x[i])
        out[1, i] = vlog(x[i])
        out[2, i] = vlog1p(x[i])
        out[3, i] = vsoftplus(x[i])
        out[4, i] = vsigmoid(x[i])


def test_reassoc_contract_caller_keeps_accuracy():
    # Reductions only vectorise under 'reassoc', so callers will use it.
    # (float32 only: same code as float64, and one compile is enough.)
    dt = np.float32
    rng = np.random.default_rng(9)
    x = np.concatenate([rng.uniform(-104, 89, 200_000), rng.standard_normal(100_000),
                        [0.0, -0.0, np.inf, -np.inf, np.nan, -1.0, 1e-30]]).astype(dt)
    out = np.empty((5, x.size), dt)
    _all5_reassoc(x, out)
    for a, name in zip(out, FUNCS):
        b = run(name, x)
        if dt is np.float32:
            ref = np.empty(x.size)
            _ref64(name, x.astype(np.float64), ref)
            assert _max_err32(a, ref, INV32) <= BOUND32[name] + _SLACK, name
        # NaN/inf handling identical, values within 2 ulp of the strict build
        assert np.array_equal(np.isnan(a), np.isnan(b)), name
        fin = np.isfinite(b)
        assert np.array_equal(a[~fin], b[~fin], equal_nan=True), name
        assert np.all(np.abs(a[fin] - b[fin]) <= np.spacing(np.abs(b[fin])) * 2), name


# ---------------------------------------------------------------------------
# vectorisation
# ---------------------------------------------------------------------------

_LIBM = re.compile(r"(?<![\w.])(expf?|logf?|log1pf?|exp2f?|__\w*(exp|log)\w*)(@PLT)?\b")


def _libm_refs(asm):
    out = []
    for line in asm.splitlines():
        s = line.strip()
        if not s or s.startswith((".", "#", ";")) or s.endswith(":"):
            continue
        if _LIBM.search(s.split("#")[0]):
            out.append(s)
    return out


def _asm(drv, nbt):
    return drv.inspect_asm(_sig(drv, nbt))


def test_libm_detector_sees_scalar_math():
    # negative control: the regex must find the libm calls of math.exp/log
    @njit(error_model="numpy")
    def scalar(x, out):
        for i in range(x.size):
            out[i] = math.exp(x[i]) + math.log(x[i])

    for nbt in (numba.float32, numba.float64):
        assert _libm_refs(_asm(scalar, nbt)), nbt


@pytest.mark.parametrize("name", list(FUNCS))
@pytest.mark.parametrize("nbt,suffix", [(numba.float32, "ps"), (numba.float64, "pd")])
def test_loop_vectorises_without_libm(name, nbt, suffix):
    asm = _asm(DRV[name], nbt)
    assert not _libm_refs(asm), _libm_refs(asm)[:5]
    if not HAS_AVX2:
        pytest.skip("numba targets %s without AVX2 (features: %s); packed-width "
                    "check skipped" % (_CPU, sorted(_FEATS) if _FEATS else "unknown"))
    arith = re.compile(r"^\s*v(fn?m(add|sub)\d*|mul|add|sub|div)%s\s.*%%[yz]mm" % suffix,
                       re.M)
    n = len(arith.findall(asm))
    assert n >= 8, (name, suffix, n)
    if HAS_FMA:
        assert re.search(r"^\s*vfn?madd\d*%s\s.*%%[yz]mm" % suffix, asm, re.M)


# ---------------------------------------------------------------------------
# on-disk cache
# ---------------------------------------------------------------------------

_CACHE_MOD = """
import numpy as np
from numba import njit, prange
from numloss._kernels._math import vexp, vlog, vlog1p, vsoftplus, vsigmoid

@njit(cache=True, error_model="numpy")
def f(x):
    s = x[0] * 0
    for i in range(x.size):
        s += vexp(x[i]) + vlog(x[i]) + vlog1p(x[i])
    return s

@njit(cache=True, parallel=True, error_model="numpy")
def g(x, out):
    for i in prange(x.size):
        out[i] = vsoftplus(x[i]) * vsigmoid(x[i])
"""

_CACHE_RUN = """
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import nl_math_cache_probe as m
res = []
for dt in (np.float32, np.float64):
    x = np.linspace(0.25, 3.0, 1001).astype(dt)
    res.append(float(m.f(x)))
x = np.linspace(-3.0, 3.0, 1001).astype(np.float32)
out = np.empty_like(x)
m.g(x, out)                                     # parallel: float32 only
res.append(float(out.sum()))
print(json.dumps({"res": res,
                  "misses": sum(m.f.stats.cache_misses.values())
                            + sum(m.g.stats.cache_misses.values()),
                  "hits": sum(m.f.stats.cache_hits.values())
                          + sum(m.g.stats.cache_hits.values())}))
"""


def test_cache_roundtrip(tmp_path):
    (tmp_path / "nl_math_cache_probe.py").write_text(_CACHE_MOD)
    script = tmp_path / "run_probe.py"
    script.write_text(_CACHE_RUN)
    root = str(Path(nlmath.__file__).resolve().parents[2])
    env = dict(os.environ)
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "numba_cache")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    outs = []
    for _ in range(2):
        p = subprocess.run([sys.executable, str(script), str(tmp_path)], env=env,
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr[-3000:]
        outs.append(json.loads(p.stdout.strip().splitlines()[-1]))
    first, second = outs
    assert first["misses"] == 3 and first["hits"] == 0, first
    assert second["misses"] == 0 and second["hits"] == 3, second
    assert first["res"] == second["res"]
    assert any((tmp_path / "numba_cache").rglob("*.nbi"))
