"""Branch-free, auto-vectorisable elementary functions for Numba kernels.

Why
---
Without Intel SVML, Numba lowers ``math.exp``/``math.log`` to scalar libm
calls, so a loop calling them cannot be vectorised by LLVM.  The functions
here are written with plain arithmetic, integer bit manipulation and
selects only, so after inlining LLVM turns a loop over them into packed
AVX2 / AVX-512 code (``vfmadd...ps``/``...pd`` on ymm/zmm registers, no
``call`` to ``expf``/``exp``/``logf``/``log``).

Public functions (usable inside ``@numba.njit`` code, including
``parallel=True`` / ``prange`` loops and ``cache=True`` functions)::

    vexp(x)       e**x
    vlog(x)       natural logarithm
    vlog1p(x)     log(1 + x), accurate for tiny |x|
    vsoftplus(x)  log(1 + e**x), stable for all x
    vsigmoid(x)   1 / (1 + e**-x), stable for both signs

and, for inputs the caller has checked, vlog / vlog1p without their special-value selects:
``vlog_finite`` (finite x > 0), ``vlog_normal`` (finite normal x > 0), ``vlog1p_finite``
(finite x > -1). On those inputs they give vlog's / vlog1p's results.

Each is generic over float32 and float64 *scalars*: a float32 argument is
computed entirely in float32 and returns float32 (all constants are typed
per dtype, so there is no silent promotion that would halve the vector
width); float64 computes in float64.  Integer / boolean arguments are
converted to float64.  Dispatch is done with
``numba.extending.overload(..., inline="always")`` so the bodies are inlined
into the caller at Numba-IR level; each (function, dtype) body is one flat
function generated from the statement templates below (vsoftplus/vsigmoid
contain the exp/log statements rather than nested inline calls, which
compile faster).  Every body is pure selects and arithmetic, so it is
safe anywhere: prange loops, ``cache=True``, ``nogil=True``.  Called from plain Python they work on
scalars (through a small lazily-compiled jitted wrapper) and return a
Python float.

Method
------
vexp
    Clamp x to [-104, 89] (float32) / [-746, 710] (float64): outside that
    range the result is exactly 0 or inf anyway.  n = round(x*log2(e)) is
    obtained without libm as ``int32(x*log2e + (OFFSET + 0.5)) - OFFSET``
    (truncation of a positive value == floor).  Cody-Waite reduction
    r = x - n*ln2_hi - n*ln2_lo with ln2_hi holding 15 (float32) /
    29 (float64) significant bits, so n*ln2_hi and x - n*ln2_hi are exact.
    e**r on |r| <= ln2/2 (+ a hair) by the Taylor polynomial of degree 8
    (float32, truncation error < 2e-10 relative) / 13 (float64, < 4.5e-18
    relative, ~0.04 ulp), Horner with fused multiply-adds.
    The result p*2**n is formed as (p * 2**(n>>1)) * 2**(n - (n>>1)); both
    factors are normal numbers built from integer bits, so n up to the top
    of the range overflows correctly to inf and subnormal results are
    rounded only once.  NaN passes through via a final select.
vlog
    Subnormals are pre-scaled by 2**23 / 2**52 (select).  From the bits:
    x = 2**k * m with m in [sqrt(1/2), sqrt(2)).  With f = m - 1 (exact) and
    s = f/(2+f), log(m) = 2*atanh(s) = f - hfsq + s*(hfsq + R(s*s)), where
    hfsq = f*f/2 (its rounding error recovered with an FMA) and
    R(z) = 2z/3 + 2z**2/5 + ... (Taylor, 4 terms float32 / 10 terms
    float64; |s| <= 0.1716 so truncation < 2**-29 / 2**-56 relative).
    Then log(x) = k*ln2_hi + (log(m) + k*ln2_lo), k*ln2_hi exact, the small
    terms summed first.  Specials by selects: log(+-0) = -inf,
    log(x<0) = NaN, log(inf) = inf, NaN -> NaN.
vlog1p
    u = 1 + x; log1p(x) = log(u) - ((u - 1) - x)/u, the second term
    being the exactly-computed rounding error of 1 + x (Fast2Sum for
    |x| <= 1) divided by u.  It is folded into log(u)'s small terms, so it
    costs no extra rounding.  u == 1 gives x (so log1p(-0) = -0).
    x == -1 -> -inf, x < -1 -> NaN, inf -> inf, NaN -> NaN.
vsoftplus
    max(x, 0) + log1p(exp(-|x|)) (the exp and log1p code, inlined).
    +inf -> inf, -inf -> 0, NaN -> NaN.
vsigmoid
    e = vexp(-|x|);  (1 if x >= 0 else e) / (1 + e): one exp, one division,
    exactly 1 / 0 at the extremes, NaN -> NaN.

Fused multiply-adds are emitted as ``llvm.fmuladd`` (fused when the target
has FMA, separate mul+add otherwise - never a libm ``fma`` call), and
divisions are emitted directly as IEEE ``fdiv`` through an intrinsic, so the
code vectorises regardless of the caller's ``error_model`` (a Python-level
``/`` in a function with the default ``error_model='python'`` would carry a
ZeroDivisionError branch and keep the loop scalar).

Measured accuracy (AMD EPYC znver4 with FMA; error in ulps of the exact value)
------------------------------------------------------------------------------
float32, EXHAUSTIVE over every float32 of the stated range, against the
function evaluated in float64 by numpy (accurate to ~2**-28 float32 ulp):

    vexp       [-104, 89]  (2.24e9 values)            max 0.870 ulp
    vlog       (0, inf]    (all positive, incl. subn.) max 0.792 ulp
    vlog1p     [-1, inf]                               max 0.805 ulp
    vsoftplus  [-104, 89]                              max 1.571 ulp
    vsigmoid   [-104, 89]                              max 2.402 ulp

float64, 4e6 random points over the whole range against glibc long double
expl/logl/log1pl (64-bit mantissa), confirmed on 2000-point mpmath subsets:

    vexp 0.872   vlog 0.791   vlog1p 0.742   vsoftplus 1.524   vsigmoid 2.322

vsigmoid's larger bound is three independent roundings (e**-|x|, 1 + e,
the division) whose relative errors can each be worth up to 1 ulp of a
result that sits at the top of its binade; it is still < 2.5 ulp.
Without FMA (measured with NUMBA_CPU_NAME=x86-64) ``llvm.fmuladd`` rounds
twice: vexp 1.16, vlog 0.83, vlog1p 0.86, vsoftplus 1.67, vsigmoid 2.37 ulp.
``tests/test_math.py`` asserts these bounds.

Caveats for callers
-------------------
* fastmath: ``{'contract'}`` and ``{'reassoc', 'contract'}`` are safe
  (tested: same NaN/inf results, values within 2 ulp of the strict build,
  same bounds).  'reassoc' is what a reduction such as
  ``s += vexp(x[i])`` needs to vectorise at all -- without it that loop
  stays scalar, several times slower.  Do NOT use ``fastmath=True`` or the
  'nnan' / 'ninf' flags (the NaN/inf selects get folded away), nor 'nsz'
  together with 'reassoc' (LLVM may then cancel the exact (u - 1) - x
  correction of log1p); 'arcp' turns the divisions into reciprocal
  multiplies (slightly larger errors).
* Keep float32 kernels float32: multiplying a float32 by a Python float
  literal (``x * 0.5``) or a float64 array element promotes to float64.
* Numba's on-disk cache of a ``cache=True`` caller does not notice edits to
  this module (the bodies are inlined); clear ``__pycache__`` / the cache
  dir after changing it.
"""

import math

import numpy as np
import numba
from numba import types
from numba.extending import overload

from ._intrinsics import as_float, as_int, fdiv, fma

__all__ = ["vexp", "vlog", "vlog1p", "vsoftplus", "vsigmoid", "vlog_finite", "vlog_normal", "vlog1p_finite"]


# ---------------------------------------------------------------------------
# Per-dtype implementations
#
# The bodies are generated from the statement templates below and compiled
# with ``exec`` into one *flat* function per (function, dtype): vsoftplus
# and vsigmoid contain the exp/log statements directly instead of calling
# other inline overloads: Numba-IR inlining of nested inline functions
# compiles slower than the same code written flat.
#
# Template fields: {x} input variable, {o} output variable, {p} prefix of
# the block's temporaries.  Upper-case names are per-dtype constants (all
# numpy scalars of the working dtype, or np.int32 / the same-width int),
# ``ft``/``it``/``i32`` the float / same-width int / int32 constructors.
# ---------------------------------------------------------------------------

_EXP_BLOCK = """\
{p}xc = {x} if {x} > EXP_LO else EXP_LO        # NaN -> EXP_LO (fixed below)
{p}xc = {p}xc if {p}xc < EXP_HI else EXP_HI
{p}n = i32(i32(_fma({p}xc, LOG2E, SHIFT)) - OFFSET)   # round(x*log2(e))
{p}nf = ft({p}n)
{p}r = _fma({p}nf, NLN2_HI, {p}xc)             # exact
{p}r = _fma({p}nf, NLN2_LO, {p}r)
{poly}
{p}n1 = i32({p}n >> I32_1)
{p}s1 = _as_float(it((it({p}n1) + EBIAS) << MBITS))
{p}s2 = _as_float(it((it(i32({p}n - {p}n1)) + EBIAS) << MBITS))
{o} = ({p}q * {p}s1) * {p}s2
{o} = {o} if {x} == {x} else {x}
"""

# log({x}) + {corr} for finite {x} > 0 (garbage otherwise: callers select).
_LOG_BLOCK_SUBNORMAL = """\
{p}sub = {x} < TINY
{p}xs = {x} * SUB_SCALE if {p}sub else {x}
{p}kadj = SUB_ADJ if {p}sub else I32_0
{p}ix = it(_as_int({p}xs) - SQRTH)
{p}k = i32(i32({p}ix >> MBITS) + {p}kadj)
"""
_LOG_BLOCK_NORMAL = """\
{p}ix = it(_as_int({x}) - SQRTH)
{p}k = i32({p}ix >> MBITS)
"""
_LOG_BLOCK = """\
{p}f = _as_float(it(({p}ix & MMASK) + SQRTH)) - ONE   # m - 1, exact
{p}s = _div({p}f, {p}f + TWO)
{p}z = {p}s * {p}s
{poly}
{p}hf = HALF * {p}f                            # exact
{p}hfsq = {p}hf * {p}f
{p}ehf = _fma({p}hf, {p}f, -{p}hfsq)           # f*f/2 - hfsq (exact w/ FMA)
{p}kf = ft({p}k)
{p}c = _fma({p}s, {p}hfsq + {p}R, _fma({p}kf, LN2_LO, {corr}))
{o} = _fma({p}kf, LN2_HI, {p}f - ({p}hfsq - ({p}c - {p}ehf)))
"""


def _horner(out, var, coeff_names, p, mul_var=False):
    """Statements evaluating sum c_i var**i (highest first) into {p}out."""
    c = coeff_names
    lines = ["%s%s = _fma(%s, %s%s, %s)" % (p, out, c[0], p, var, c[1])]
    for name in c[2:]:
        lines.append("%s%s = _fma(%s%s, %s%s, %s)" % (p, out, p, out, p, var, name))
    if mul_var:
        lines.append("%s%s = %s%s * %s%s" % (p, out, p, out, p, var))
    return "\n".join(lines)


def _exp_block(x, o, p, n_exp):
    poly = _horner("q", "r", ["EC%d" % k for k in range(n_exp, -1, -1)], p)
    return _EXP_BLOCK.format(x=x, o=o, p=p, poly=poly)


def _log_block(x, o, p, n_log, corr="ZERO", subnormal=True):
    poly = _horner("R", "z", ["LC%d" % k for k in range(n_log, 0, -1)], p,
                   mul_var=True)
    head = _LOG_BLOCK_SUBNORMAL if subnormal else _LOG_BLOCK_NORMAL
    return (head + _LOG_BLOCK).format(x=x, o=o, p=p, poly=poly, corr=corr)


def _function_sources(n_exp, n_log):
    """Source text of the five functions for one dtype."""
    E = lambda x, o: _exp_block(x, o, "e_", n_exp)          # noqa: E731
    L = lambda x, o, **kw: _log_block(x, o, "l_", n_log, **kw)  # noqa: E731
    src = {}
    src["vexp"] = E("x", "y") + "return y\n"
    src["vlog"] = L("x", "y") + (
        "y = y if x >= ZERO else NAN\n"
        "y = NINF if x == ZERO else y\n"
        "return y if x < INF else x\n")        # +inf -> inf, NaN -> NaN
    # u = 1 + x is never subnormal (>= eps/2 or 0), so no pre-scaling.
    src["vlog1p"] = (
        "u = x + ONE\n"
        "c = _div((u - ONE) - x, u)\n"          # rounding error of 1+x, / u
        + L("u", "y", corr="-c", subnormal=False) +
        "y = x if u == ONE else y\n"
        "y = y if x >= -ONE else NAN\n"
        "y = NINF if x == -ONE else y\n"
        "return y if x < INF else x\n")
    # The same arithmetic without the special-value selects (and, for vlog_normal, without the
    # subnormal pre-scaling), for callers whose inputs are checked: a third to a half cheaper.
    src["vlog_finite"] = L("x", "y") + "return y\n"
    src["vlog_normal"] = L("x", "y", subnormal=False) + "return y\n"
    src["vlog1p_finite"] = (
        "u = x + ONE\n"
        "c = _div((u - ONE) - x, u)\n"
        + L("u", "y", corr="-c", subnormal=False) +
        "return x if u == ONE else y\n")
    src["vsoftplus"] = (
        "a = -abs(x)\n"
        + E("a", "e") +                          # e in [0, 1] or NaN
        "u = e + ONE\n"
        "c = _div((u - ONE) - e, u)\n"
        + L("u", "y", corr="-c", subnormal=False) +
        "y = e if u == ONE else y\n"
        "y = (x if x > ZERO else ZERO) + y\n"
        "return y if x == x else x\n")
    src["vsigmoid"] = (
        "a = -abs(x)\n"
        + E("a", "e") +
        "num = ONE if x >= ZERO else e\n"
        "return _div(num, ONE + e)\n")
    return src


def _taylor_exp_coeffs(deg):
    return [1.0 / math.factorial(k) for k in range(deg + 1)]


def _make_impls(ft, it, bits):
    """Build the float32 (bits=32) or float64 (bits=64) implementations.

    ``ft``/``it``: numpy float/int type of the same width.  Every constant
    is an ``ft``/``it``/``np.int32`` scalar, so the generated code never
    mixes widths.
    """
    i32 = np.int32
    if bits == 32:
        mbits, ebias = 23, 127
        exp_lo, exp_hi = -104.0, 89.0   # exp is exactly 0 / inf beyond
        offset = 256                    # > max |n| (151)
        n_exp, n_log = 8, 4             # Taylor degree / atanh terms
        ln2_hi = float.fromhex("0x1.62e4p-1")            # 15 sig. bits
        ln2_lo = float.fromhex("0x1.7f7d1cp-20")         # ln2 - ln2_hi
        sqrth = 0x3F3504F3                               # bits of sqrt(.5)
    else:
        mbits, ebias = 52, 1023
        exp_lo, exp_hi = -746.0, 710.0
        offset = 2048                   # > max |n| (1077)
        n_exp, n_log = 13, 10
        ln2_hi = float.fromhex("0x1.62e42ffp-1")         # 29 sig. bits
        ln2_lo = float.fromhex("-0x1.718432a1b0e26p-35")
        sqrth = 0x3FE6A09E667F3BCD
    ns = dict(
        ft=ft, it=it, i32=i32, np=np,
        _fma=fma, _div=fdiv, _as_int=as_int, _as_float=as_float,
        EXP_LO=ft(exp_lo), EXP_HI=ft(exp_hi),
        LOG2E=ft(1.0 / math.log(2.0)), SHIFT=ft(offset + 0.5),
        OFFSET=i32(offset),
        NLN2_HI=ft(-ln2_hi), NLN2_LO=ft(-ln2_lo),
        LN2_HI=ft(ln2_hi), LN2_LO=ft(ln2_lo),
        I32_0=i32(0), I32_1=i32(1),
        EBIAS=it(ebias), MBITS=it(mbits), MMASK=it((1 << mbits) - 1),
        SQRTH=it(sqrth),
        TINY=ft(np.finfo(ft).tiny), SUB_SCALE=ft(2.0 ** mbits),
        SUB_ADJ=i32(-mbits),
        ZERO=ft(0.0), HALF=ft(0.5), ONE=ft(1.0), TWO=ft(2.0),
        INF=ft(np.inf), NINF=ft(-np.inf), NAN=ft(np.nan),
    )
    for k, c in enumerate(_taylor_exp_coeffs(n_exp)):
        ns["EC%d" % k] = ft(c)                 # e**r = sum r**k / k!
    for j in range(1, n_log + 1):
        ns["LC%d" % j] = ft(2.0 / (2 * j + 1))  # R(z) = sum 2 z**j/(2j+1)

    impls = {}
    for name, body in _function_sources(n_exp, n_log).items():
        fname = "_%s_f%d" % (name, bits)
        src = "def %s(x):\n%s" % (
            fname, "".join("    " + ln + "\n" for ln in body.splitlines()))
        exec(compile(src, "<numloss._kernels._math %s>" % fname, "exec"), ns)
        impls[name] = ns[fname]
        impls[name].source = src     # for reading / debugging
    return impls


# ---------------------------------------------------------------------------
# Public stubs (Python-level scalar fallback) + overloads
# ---------------------------------------------------------------------------

_JIT_SCALAR = {}


def _py_scalar(name, x):
    """Evaluate ``name`` on a scalar from Python via a jitted wrapper."""
    if isinstance(x, np.ndarray) and x.ndim > 0:
        raise TypeError(
            "numloss._kernels._math.%s takes a scalar; call it from an "
            "@njit loop to process arrays" % name)
    fn = _JIT_SCALAR.get(name)
    if fn is None:
        g = globals()[name]

        def wrapper(v):
            return g(v)

        fn = numba.njit(wrapper)
        _JIT_SCALAR[name] = fn
    if isinstance(x, np.ndarray):
        x = x[()]
    return fn(x)


def vexp(x):
    """e**x, branch-free and vectorisable (float32 in -> float32 out)."""
    return _py_scalar("vexp", x)


def vlog(x):
    """Natural log, branch-free and vectorisable (float32 -> float32)."""
    return _py_scalar("vlog", x)


def vlog1p(x):
    """log(1 + x), accurate for tiny |x| (float32 -> float32)."""
    return _py_scalar("vlog1p", x)


def vlog_finite(x):
    """vlog for finite x > 0 (subnormals included); unspecified for 0, x < 0, inf and NaN."""
    return _py_scalar("vlog_finite", x)


def vlog_normal(x):
    """vlog for finite normal x > 0; unspecified for any other x (subnormals included)."""
    return _py_scalar("vlog_normal", x)


def vlog1p_finite(x):
    """vlog1p for finite x > -1; unspecified for any other x."""
    return _py_scalar("vlog1p_finite", x)


def vsoftplus(x):
    """log(1 + e**x), stable for all x (float32 -> float32)."""
    return _py_scalar("vsoftplus", x)


def vsigmoid(x):
    """1 / (1 + e**-x), stable for both signs (float32 -> float32)."""
    return _py_scalar("vsigmoid", x)


_IMPLS = {
    32: _make_impls(np.float32, np.int32, 32),
    64: _make_impls(np.float64, np.int64, 64),
}


def _register(stub):
    name = stub.__name__

    @overload(stub, inline="always")
    def _ol(x):
        if isinstance(x, types.Float) and x.bitwidth in _IMPLS:
            return _IMPLS[x.bitwidth][name]
        if isinstance(x, (types.Integer, types.Boolean)):
            def impl(x):
                return stub(np.float64(x))
            return impl
        return None

    return _ol


for _stub in (vexp, vlog, vlog1p, vsoftplus, vsigmoid, vlog_finite, vlog_normal, vlog1p_finite):
    _register(_stub)
del _stub
