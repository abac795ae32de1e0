# cython: freethreading_compatible = False
"""Compiled core of numloss: the CTC forward-backward (see numloss/losses/ctc.py for the API).

Typed memoryviews only: no NumPy C-API, so the build needs just setuptools and Cython.

One call computes, for every sample of a batch, the negative log-likelihood and (optionally) the
gradient block ``grad[:, n, :]`` in torch's convention, ``(exp(lp) - occupancy) * scale``. The
samples are independent; the batch loop runs in parallel (OpenMP, dynamic schedule) with one
workspace per thread, O(T * (2 * max_target_length + 1)) doubles, allocated once per call.
Everything is computed in float64 whatever the input dtype.

Three algorithms, tried in this order for each sample:

1. Linear-space band path (ordinary inputs). Alpha and beta are plain probabilities over the
   band of states that are both reachable from the start and able to reach the end at that
   frame. Each frame's emissions are divided by the largest label probability of the frame, and
   each row is rescaled by the power of two that brings the previous row's maximum into
   [0.5, 1) (folded into the next row's products: free, and exact). Alpha is kept for every
   frame; beta is one row updated in place from the last frame down. The occupancy of a state at
   frame t is ``alpha * beta' / Z_t`` with ``Z_t = sum_s alpha * beta'`` (beta' excludes the
   frame's own emission), so the posterior of a label is a plain sum -- no log-sum-exp and no
   exp per cell. ``Z_t`` times the frame's scale is the likelihood for every t: comparing the
   frames' estimates detects values lost to underflow. The path gives up if that check fails,
   if the likelihood underflows, if a label's emission is below e**-665 times the frame's best
   label, or if a label log-probability is NaN or +inf.
2. Log-space band path (where the first would underflow: very long or very peaked inputs).
   Log alpha for every frame and log beta in one row, over the same band; each cell is a
   vectorised three-term log-sum-exp of its predecessors, and the occupancies
   ``exp(log alpha + log beta' - log P)`` are again summed per class in linear space.
3. Exact path (a label log-probability is NaN or +inf). The log-space recursion over every
   state of every frame with the guards and the operation order of torch's CPU kernel, so that
   NaN and inf propagate (into the loss and into which gradient entries are NaN) as in torch.

The per-class sums are written into the gradient row after a vectorised pass that writes
``exp(lp) * scale`` to the whole row (``NaN`` where lp is -inf, as torch's formula gives).
"""
from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.math cimport INFINITY, NAN, exp, fabs, frexp, ldexp, log
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc

cdef extern from *:
    """
    #ifndef NUMLOSS_OPENMP
    #define NUMLOSS_OPENMP 0
    #endif
    #include <stdint.h>
    #include <string.h>
    #include <math.h>

    /* Loops over e**x, written so that the compiler vectorises them. With GCC on x86-64 glibc
       they are also compiled for x86-64-v3 (AVX2/FMA) and -v4 (AVX-512) and the best is picked
       at load time; -fno-trapping-math lets GCC if-convert the NaN selects. */
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__) && __GNUC__ >= 11
    #define NL_VECTOR __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"), optimize("no-trapping-math")))
    #else
    #define NL_VECTOR
    #endif

    /* e**x for a double x, branch-free. Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2 (ln2
       split fdlibm-style so that n * ln2_hi is exact), e**r by its Taylor polynomial of degree
       13 (truncation < 0.05 ulp: about 1 ulp in all, for float64 results) or 7 (truncation
       < 6e-9 relative, for float32 results), then 2**n applied as two normal factors so that
       overflow to inf and gradual underflow to 0 are right. x is clamped to [-746, 710] first
       (outside, e**x is 0 or inf anyway); NaN is left to the caller. */
    #define NL_EXP(x, DEG, out) do {                                                        \
        double xc_ = (x) < -746.0 ? -746.0 : ((x) > 710.0 ? 710.0 : (x));                   \
        double t_ = xc_ * 1.4426950408889634 + 6755399441055744.0;                          \
        double nd_ = t_ - 6755399441055744.0;                                               \
        double r_ = (xc_ - nd_ * 6.93147180369123816490e-01) - nd_ * 1.90821492927058770002e-10; \
        double p_;                                                                          \
        int64_t tb_, n_, n1_, n2_;                                                          \
        uint64_t b1_, b2_;                                                                  \
        double s1_, s2_;                                                                    \
        if (DEG == 13) {                                                                    \
            p_ = 1.6059043836821614e-10;                                                    \
            p_ = p_ * r_ + 2.08767569878681e-09;                                            \
            p_ = p_ * r_ + 2.505210838544172e-08;                                           \
            p_ = p_ * r_ + 2.7557319223985893e-07;                                          \
            p_ = p_ * r_ + 2.755731922398589e-06;                                           \
            p_ = p_ * r_ + 2.48015873015873e-05;                                            \
            p_ = p_ * r_ + 0.0001984126984126984;                                           \
            p_ = p_ * r_ + 0.001388888888888889;                                            \
        } else {                                                                            \
            p_ = 0.0001984126984126984;                                                     \
            p_ = p_ * r_ + 0.001388888888888889;                                            \
        }                                                                                   \
        p_ = p_ * r_ + 0.008333333333333333;                                                \
        p_ = p_ * r_ + 0.041666666666666664;                                                \
        p_ = p_ * r_ + 0.16666666666666666;                                                 \
        p_ = p_ * r_ + 0.5;                                                                 \
        p_ = p_ * r_ + 1.0;                                                                 \
        p_ = p_ * r_ + 1.0;                                                                 \
        memcpy(&tb_, &t_, 8);                                                               \
        n_ = tb_ - (int64_t)0x4338000000000000LL;                                           \
        n1_ = (int64_t)(((uint64_t)(n_ + 2048)) >> 1) - 1024;                               \
        n2_ = n_ - n1_;                                                                     \
        b1_ = (uint64_t)(n1_ + 1023) << 52;                                                 \
        b2_ = (uint64_t)(n2_ + 1023) << 52;                                                 \
        memcpy(&s1_, &b1_, 8);                                                              \
        memcpy(&s2_, &b2_, 8);                                                              \
        (out) = (p_ * s1_) * s2_;                                                           \
    } while (0)

    #if defined(__GNUC__) || defined(__clang__)
    #define nl_prefetch(p) __builtin_prefetch((const void*)(p), 0, 3)
    #define nl_prefetchw(p) __builtin_prefetch((const void*)(p), 1, 3)
    #else
    #define nl_prefetch(p) ((void)0)
    #define nl_prefetchw(p) ((void)0)
    #endif

    /* Prefetch the first n bytes (at most 8 KiB: the hardware follows a stream once it has
       started) from p, for reading (w = 0) or writing (w = 1). */
    static void nl_prefetch_range(const void* p, Py_ssize_t n, int w) {
        const char* c = (const char*)p;
        Py_ssize_t i;
        n = n < 8192 ? n : 8192;
        if (w) { for (i = 0; i < n; i += 64) nl_prefetchw(c + i); }
        else { for (i = 0; i < n; i += 64) nl_prefetch(c + i); }
    }

    /* log(x) for x in [1, 4] (a sum of at most four terms, the largest being 1): x = 2**k f with
       f in [sqrt(1/2), sqrt(2)), log f = 2 atanh(s), s = (f - 1) / (f + 1), |s| < 0.172, by its
       series to s**21 (truncation < 1e-18 relative); about 2 ulp in all. */
    #define NL_LOG14(x, out) do {                                                        \
        double f_ = (x) > 2.0 ? (x) * 0.5 : (x);                                         \
        double k_ = (x) > 2.0 ? 1.0 : 0.0;                                               \
        double s_, z_, r_, lf_;                                                          \
        k_ = f_ > 1.4142135623730951 ? k_ + 1.0 : k_;                                    \
        f_ = f_ > 1.4142135623730951 ? f_ * 0.5 : f_;                                    \
        s_ = (f_ - 1.0) / (f_ + 1.0);                                                    \
        z_ = s_ * s_;                                                                    \
        r_ = 1.0 / 21.0;                                                                 \
        r_ = r_ * z_ + 1.0 / 19.0;                                                       \
        r_ = r_ * z_ + 1.0 / 17.0;                                                       \
        r_ = r_ * z_ + 1.0 / 15.0;                                                       \
        r_ = r_ * z_ + 1.0 / 13.0;                                                       \
        r_ = r_ * z_ + 1.0 / 11.0;                                                       \
        r_ = r_ * z_ + 1.0 / 9.0;                                                        \
        r_ = r_ * z_ + 1.0 / 7.0;                                                        \
        r_ = r_ * z_ + 1.0 / 5.0;                                                        \
        r_ = r_ * z_ + 1.0 / 3.0;                                                        \
        lf_ = 2.0 * s_ + 2.0 * s_ * (z_ * r_);                                           \
        (out) = k_ * 6.93147180369123816490e-01 + (lf_ + k_ * 1.90821492927058770002e-10); \
    } while (0)

    /* out[i] = log(e**a[i] + e**b[i] + e**c[i]) + add[i] (add = NULL: + 0), with c[i] left out
       where sk[i] == 0; -inf when all terms are -inf (torch's guard). No input is NaN or +inf. */
    NL_VECTOR static void nl_lse3_row(const double* a, const double* b, const double* c,
                                      const double* sk, const double* add, double* out,
                                      Py_ssize_t n) {
        Py_ssize_t i;
        for (i = 0; i < n; i++) {
            double x = a[i], y = b[i], w = sk[i] != 0.0 ? c[i] : -INFINITY;
            double m = x > y ? x : y;
            double mm, d1, d2, d3, e1, e2, e3, l;
            m = w > m ? w : m;
            mm = m == -INFINITY ? 0.0 : m;
            d1 = x - mm;
            d2 = y - mm;
            d3 = w - mm;
            NL_EXP(d1, 13, e1);
            NL_EXP(d2, 13, e2);
            NL_EXP(d3, 13, e3);
            e1 = e1 + e2 + e3;
            NL_LOG14(e1, l);
            l = m == -INFINITY ? -INFINITY : l + m;
            out[i] = add ? l + add[i] : l;
        }
    }

    /* out[i] = exp(a[i] + b[i] - c); a[i] + b[i] is never NaN or +inf here */
    NL_VECTOR static void nl_exp_sum(const double* a, const double* b, double c, double* out,
                                     Py_ssize_t n) {
        Py_ssize_t i;
        for (i = 0; i < n; i++) {
            double y, d = a[i] + b[i] - c;
            NL_EXP(d, 13, y);
            out[i] = y;
        }
    }

    /* v[i] = exp(v[i] - shift); the differences are never NaN or +inf here */
    NL_VECTOR static void nl_exp_shift(double* v, Py_ssize_t n, double shift) {
        Py_ssize_t i;
        for (i = 0; i < n; i++) {
            double y, d = v[i] - shift;
            NL_EXP(d, 13, y);
            v[i] = y;
        }
    }

    /* A gradient row before the posterior is subtracted: g[i] = exp(x[i]) * scale, and NaN
       where x[i] is -inf (torch's exp(lp) - exp(lcab + nll - lp) is NaN there) or NaN. */
    NL_VECTOR static void nl_grad_row_d(const double* x, double* g, Py_ssize_t n, double scale) {
        Py_ssize_t i;
        for (i = 0; i < n; i++) {
            double y, xi = x[i];
            NL_EXP(xi, 13, y);
            y = y * scale;
            y = (xi == -INFINITY) ? NAN : y;
            g[i] = (xi != xi) ? xi : y;
        }
    }

    NL_VECTOR static void nl_grad_row_f(const float* x, float* g, Py_ssize_t n, double scale) {
        Py_ssize_t i;
        for (i = 0; i < n; i++) {
            double y, xi = (double)x[i];
            NL_EXP(xi, 7, y);
            y = y * scale;
            y = (xi == -INFINITY) ? NAN : y;
            g[i] = (float)((xi != xi) ? xi : y);
        }
    }
    """
    int NUMLOSS_OPENMP
    void nl_prefetch(const void* p) noexcept nogil
    void nl_prefetch_range(const void* p, Py_ssize_t n, int w) noexcept nogil
    void nl_exp_shift(double* v, Py_ssize_t n, double shift) noexcept nogil
    void nl_lse3_row(const double* a, const double* b, const double* c, const double* sk,
                     const double* add, double* out, Py_ssize_t n) noexcept nogil
    void nl_exp_sum(const double* a, const double* b, double c, double* out,
                    Py_ssize_t n) noexcept nogil
    void nl_grad_row_d(const double* x, double* g, Py_ssize_t n, double scale) noexcept nogil
    void nl_grad_row_f(const float* x, float* g, Py_ssize_t n, double scale) noexcept nogil

OPENMP = bool(NUMLOSS_OPENMP)

# Values below TINY (2**-960) may be imprecise after one more multiplication: the fast path
# treats them as a possible loss of accuracy.
cdef double TINY = 1.0271338468522923e-289
cdef double LN2 = 0.6931471805599453
# Largest accepted disagreement between the per-frame estimates of log(likelihood), in nats
# (a relative error of 1e-10); rounding alone gives ~1e-13 at T = 2000.
cdef double LOGP_TOL = 1e-10

cdef enum:
    PREFETCH_ROWS = 4

cdef enum:
    PATH_FAST = 0      # linear-space band path
    PATH_EXACT = 1     # torch's full-grid log-space recursion (NaN / +inf inputs)
    PATH_DIRECT = 2    # the result is known without a recursion
    PATH_LOG = 3       # log-space band path (where linear space would underflow)

cdef enum:
    MODE_AUTO = 0
    MODE_EXACT = 1
    MODE_LOG = 2

cdef enum:
    FAST_OK = 0
    FAST_CHECK = 1    # forward done, but tiny values were seen: verify with the backward pass
    FAST_FAIL = 2     # the linear-space path cannot represent this sample: use log space
    FAST_UNCLEAN = 3  # a label log-probability is NaN or +inf: use the exact path


cdef inline double _lse3(double a, double b, double c) noexcept nogil:
    """log(e^a + e^b + e^c) with torch's guard: all -inf gives -inf; NaN propagates."""
    cdef double m = a
    if b > m:
        m = b
    if c > m:
        m = c
    if m == -INFINITY:
        m = 0.0
    return log(exp(a - m) + exp(b - m) + exp(c - m)) + m


cdef inline double _lae(double a, double b) noexcept nogil:
    """log(e^a + e^b) for the posterior accumulation (a is the running value, not -inf)."""
    cdef double m = b if a < b else a
    return log(exp(a - m) + exp(b - m)) + m


cdef void _zero_rows(floating* g, Py_ssize_t stride, Py_ssize_t t0, Py_ssize_t t1,
                     Py_ssize_t C) noexcept nogil:
    cdef Py_ssize_t t, c
    cdef floating* row
    for t in range(t0, t1):
        row = g + t * stride
        for c in range(C):
            row[c] = 0


cdef void _fill_rows(floating* g, Py_ssize_t stride, Py_ssize_t t0, Py_ssize_t t1,
                     Py_ssize_t C, double value) noexcept nogil:
    cdef Py_ssize_t t, c
    cdef floating* row
    for t in range(t0, t1):
        row = g + t * stride
        for c in range(C):
            row[c] = <floating>value


cdef double _exact(const floating* x, floating* g, Py_ssize_t stride, Py_ssize_t C,
                   Py_ssize_t Tn, Py_ssize_t L, const int64_t* ext, double scale,
                   bint want_grad, bint zero_inf, double* A, double* b, double* lcab) noexcept nogil:
    """The log-space forward-backward over all states (torch's recursion and guards). Writes
    gradient rows 0..Tn-1 when ``want_grad``; returns the negative log-likelihood."""
    cdef Py_ssize_t S = 2 * L + 1
    cdef Py_ssize_t t, s, c
    cdef double la2, la3, nll, ll, xv, v, res
    cdef double* a
    cdef double* ap
    cdef const floating* xr
    cdef floating* gr

    # forward: log alpha for every frame and state (row stride S)
    a = A
    for s in range(S):
        a[s] = -INFINITY
    a[0] = x[ext[0]]
    if L > 0:
        a[1] = x[ext[1]]
    for t in range(1, Tn):
        xr = x + t * stride
        ap = A + (t - 1) * S
        a = A + t * S
        for s in range(S):
            la2 = ap[s - 1] if s > 0 else -INFINITY
            la3 = ap[s - 2] if s > 1 and ext[s - 2] != ext[s] else -INFINITY
            a[s] = _lse3(ap[s], la2, la3) + xr[ext[s]]
    a = A + (Tn - 1) * S
    if L == 0:
        ll = a[0]
    else:
        ll = _lse3(a[S - 1], a[S - 2], -INFINITY)
    nll = -ll
    if not want_grad:
        return nll
    if zero_inf and <floating>nll == INFINITY:
        _zero_rows(g, stride, 0, Tn, C)
        return nll

    # backward: log beta (including the frame's emission) in one row, updated in place;
    # lcab[c] = log sum over the states of class c of alpha * beta
    for c in range(C):
        lcab[c] = -INFINITY
    for s in range(S + 2):
        b[s] = -INFINITY
    t = Tn - 1
    while t >= 0:
        xr = x + t * stride
        a = A + t * S
        if t == Tn - 1:
            b[S - 1] = xr[ext[S - 1]]
            if L > 0:
                b[S - 2] = xr[ext[S - 2]]
            for s in range(S - 2 if L > 0 else S - 1, S):
                c = ext[s]
                v = a[s] + b[s]
                lcab[c] = v if lcab[c] == -INFINITY else _lae(lcab[c], v)
        else:
            for s in range(S):
                la2 = b[s + 1] if s < S - 1 else -INFINITY
                la3 = b[s + 2] if s < S - 2 and ext[s + 2] != ext[s] else -INFINITY
                b[s] = _lse3(b[s], la2, la3) + xr[ext[s]]
                c = ext[s]
                v = a[s] + b[s]
                lcab[c] = v if lcab[c] == -INFINITY else _lae(lcab[c], v)
        gr = g + t * stride
        for c in range(C):
            xv = xr[c]
            gr[c] = <floating>((exp(xv) - exp(-INFINITY + nll - xv)) * scale)
        for s in range(S):
            c = ext[s]
            xv = xr[c]
            res = lcab[c]
            gr[c] = <floating>((exp(xv) - exp(res + nll - xv)) * scale)
        for s in range(S):
            lcab[ext[s]] = -INFINITY
        t -= 1
    return nll


cdef inline void _grad_row(const floating* x, floating* g, Py_ssize_t C, double scale) noexcept nogil:
    if floating is float:
        nl_grad_row_f(x, g, C, scale)
    else:
        nl_grad_row_d(x, g, C, scale)


cdef inline double _fix(double e, double expm, double x, double occupancy,
                        double scale) noexcept nogil:
    """(exp(x) - occupancy) * scale from e = exp(x - m), expm = exp(m); NaN where x == -inf."""
    if e == 0.0:
        return NAN
    if expm < INFINITY:
        return (e * expm - occupancy) * scale
    return (exp(x) - occupancy) * scale


cdef inline double _entry(const double* et, Py_ssize_t j, double expm, double x, double occupancy,
                          double scale) noexcept nogil:
    """(exp(x) - occupancy) * scale, NaN where x == -inf: with ``_fix`` from the fast path's
    emission table (``et[j]`` = exp(x - m), ``expm`` = exp(m)), or from x when ``et`` is NULL."""
    if et != NULL:
        return _fix(et[j], expm, x, occupancy, scale)
    return NAN if x == -INFINITY else (exp(x) - occupancy) * scale


cdef inline void _label_grads(const floating* xr, floating* gr, const int64_t* ext,
                              const int64_t* jidx, const double* et, double expm,
                              const double* occ, double* acc, Py_ssize_t lo, Py_ssize_t hi,
                              double zb, double invz, double scale) noexcept nogil:
    """The entries of a gradient row (otherwise exp(x) * scale, see ``_grad_row``) at the blank
    and at the labels of the band's odd states [lo, hi]: (exp(x_c) - occupancy_c / z) * scale.
    ``zb`` is the blank's occupancy, ``occ[s]`` state s's; a label repeated in the target adds its
    states' occupancies in ``acc`` (zero on entry and on return)."""
    cdef Py_ssize_t s, c
    c = ext[0]
    gr[c] = <floating>_entry(et, 0, expm, xr[c], zb * invz, scale)
    s = lo + 1 - (lo & 1)
    while s <= hi:
        acc[ext[s]] += occ[s]
        s += 2
    s = lo + 1 - (lo & 1)
    while s <= hi:
        c = ext[s]
        gr[c] = <floating>_entry(et, jidx[s] if et != NULL else 0, expm, xr[c], acc[c] * invz, scale)
        s += 2
    s = lo + 1 - (lo & 1)
    while s <= hi:
        acc[ext[s]] = 0.0
        s += 2


cdef inline void _band(Py_ssize_t t, Py_ssize_t Tn, Py_ssize_t S, Py_ssize_t* lo,
                       Py_ssize_t* hi) noexcept nogil:
    """The states of frame t reachable from the start and able to reach the end."""
    lo[0] = S - 2 * (Tn - t)
    if lo[0] < 0:
        lo[0] = 0
    hi[0] = 2 * t + 1
    if hi[0] > S - 1:
        hi[0] = S - 1


cdef inline void _occupancy_sums(const double* occ, Py_ssize_t lo, Py_ssize_t hi, double* zb,
                                 double* z) noexcept nogil:
    """zb = the sum of occ over the blank (even) states of [lo, hi], z = the sum over all."""
    cdef Py_ssize_t s
    cdef double sb = 0.0, sl = 0.0
    s = lo + (lo & 1)
    while s <= hi:
        sb += occ[s]
        s += 2
    s = lo + 1 - (lo & 1)
    while s <= hi:
        sl += occ[s]
        s += 2
    zb[0] = sb
    z[0] = sb + sl


cdef double _rescaled_products(const double* a, const double* bq, double* occ, Py_ssize_t lo,
                               Py_ssize_t hi) noexcept nogil:
    """occ[s] = a[s] * bq[s] * 2**-e with e the largest exponent of the products (computed
    from the factors' exponents, so nothing underflows); returns e."""
    cdef Py_ssize_t s
    cdef int ea = 0, eb = 0, emax = -2147483647
    cdef double f1, f2
    for s in range(lo, hi + 1):
        if a[s] > 0.0 and bq[s] > 0.0:
            frexp(a[s], &ea)
            frexp(bq[s], &eb)
            if ea + eb > emax:
                emax = ea + eb
    if emax == -2147483647:
        return 0.0
    f1 = ldexp(1.0, -(emax // 2))
    f2 = ldexp(1.0, -(emax - emax // 2))
    for s in range(lo, hi + 1):
        occ[s] = (a[s] * f1) * (bq[s] * f2)
    return emax


cdef int _fast(const floating* x, floating* g, Py_ssize_t stride, Py_ssize_t C,
               Py_ssize_t Tn, Py_ssize_t L, const int64_t* ext, const int64_t* jidx,
               const double* sk, double scale, bint want_grad, double* A, double* E,
               double* M, double* Ae, double* b, double* bq, double* occ, double* acc,
               double* nll_out) noexcept nogil:
    """The linear-space band forward-backward (see the module docstring). Returns FAST_OK with
    the nll in ``nll_out`` (and gradient rows 0..Tn-1 written when ``want_grad``), or FAST_FAIL
    (nothing usable; gradient rows may be partly written)."""
    cdef Py_ssize_t S = 2 * L + 1
    cdef Py_ssize_t W = S + 4
    cdef Py_ssize_t J = L + 1
    cdef Py_ssize_t t, s, j, lo = 0, hi = 0
    cdef double m, v, e, sm, rmax, sc, msum, pfin, lzref, lz, invz, bp, expm
    cdef double bexp, zexp, z = 0.0, zb = 0.0
    cdef int kexp = 0, status = FAST_OK
    cdef double* a
    cdef double* ap
    cdef double* et
    cdef const floating* xr
    cdef floating* gr

    # emissions: E[t, j] = exp(lp[t, label j] - M[t]), M[t] the frame's largest label lp
    for t in range(Tn):
        xr = x + t * stride
        et = E + t * J
        m = -INFINITY
        if t + PREFETCH_ROWS < Tn:   # the gathers miss the cache: ask for a later row now
            for j in range(J):
                nl_prefetch(xr + PREFETCH_ROWS * stride + (ext[2 * j - 1] if j > 0 else ext[0]))
        for j in range(J):
            v = xr[ext[2 * j - 1] if j > 0 else ext[0]]
            et[j] = v
            if v > m:
                m = v
            if not v < INFINITY:          # NaN or +inf: torch's NaN semantics need the exact path
                return FAST_UNCLEAN
        if m == -INFINITY:
            m = 0.0
        M[t] = m
        for j in range(J):
            v = et[j] - m
            if v < -665.0 and v != -INFINITY:   # e**v < TINY: it would lose precision
                return FAST_FAIL
        nl_exp_shift(et, J, m)

    # forward: alpha rows (offset 2, zero padding of 2 on both sides of the band), each scaled
    # by the power of two that brings the previous row's maximum into [0.5, 1)
    rmax = 0.0
    for t in range(Tn):
        _band(t, Tn, S, &lo, &hi)
        a = A + t * W + 2
        et = E + t * J
        if t == 0:
            Ae[0] = 0.0
            for s in range(lo, hi + 1):
                v = et[jidx[s]]
                a[s] = v
                if v > rmax:
                    rmax = v
        else:
            frexp(rmax, &kexp)
            sc = ldexp(1.0, -kexp)
            Ae[t] = Ae[t - 1] + kexp
            ap = a - W
            rmax = 0.0
            for s in range(lo, hi + 1):
                sm = ap[s] + ap[s - 1] + sk[s] * ap[s - 2]
                e = et[jidx[s]]
                v = sm * (e * sc)
                a[s] = v
                if v > rmax:
                    rmax = v
                if v < TINY and sm > 0.0 and e > 0.0:   # small, not an exact 0: check with beta
                    status = FAST_CHECK
        if rmax == 0.0:
            return FAST_FAIL
        a[lo - 2] = 0.0
        a[lo - 1] = 0.0
        a[hi + 1] = 0.0
        a[hi + 2] = 0.0

    a = A + (Tn - 1) * W + 2
    pfin = a[S - 1] + (a[S - 2] if L > 0 else 0.0)
    msum = 0.0
    for t in range(Tn):
        msum += M[t]
    lzref = log(pfin) + Ae[Tn - 1] * LN2
    nll_out[0] = -(lzref + msum)
    if not want_grad and status == FAST_OK:
        return FAST_OK

    # backward: b holds beta (with the frame's emission) of frame t + 1, scaled by 2**-bexp;
    # bp = beta' (without it) of frame t; occ[s] = alpha * beta'
    for s in range(S + 2):
        b[s] = 0.0
    bexp = 0.0
    kexp = 0
    t = Tn - 1
    while t >= 0:
        _band(t, Tn, S, &lo, &hi)
        a = A + t * W + 2
        et = E + t * J
        sc = ldexp(1.0, -kexp)
        rmax = 0.0
        if t == Tn - 1:
            for s in range(lo, hi + 1):
                occ[s] = a[s]
                v = et[jidx[s]]
                b[s] = v
                if v > rmax:
                    rmax = v
        else:
            for s in range(lo, hi + 1):
                bp = b[s] + b[s + 1] + sk[s + 2] * b[s + 2]
                bq[s] = bp
                occ[s] = a[s] * bp
                v = bp * (et[jidx[s]] * sc)
                b[s] = v
                if v > rmax:
                    rmax = v
        _occupancy_sums(occ, lo, hi, &zb, &z)
        zexp = 0.0
        if z < TINY and t < Tn - 1:
            # alpha and beta' peak at different states: their products underflow although the
            # factors do not. Redo this frame's products scaled by a power of two.
            zexp = _rescaled_products(a, bq, occ, lo, hi)
            _occupancy_sums(occ, lo, hi, &zb, &z)
        lz = log(z) + (zexp + Ae[t] + bexp) * LN2
        if not fabs(lz - lzref) <= LOGP_TOL:
            return FAST_FAIL
        if want_grad:
            xr = x + t * stride
            gr = g + t * stride
            if t > 0:
                nl_prefetch_range(xr - stride, C * sizeof(floating), 0)
                nl_prefetch_range(gr - stride, C * sizeof(floating), 1)
            expm = exp(M[t])
            invz = 1.0 / z
            _grad_row(xr, gr, C, scale)
            _label_grads(xr, gr, ext, jidx, et, expm, occ, acc, lo, hi, zb, invz, scale)
        bexp += kexp
        frexp(rmax, &kexp)   # rmax > 0 since z > 0
        t -= 1
    return FAST_OK


cdef int _logband(const floating* x, floating* g, Py_ssize_t stride, Py_ssize_t C,
                  Py_ssize_t Tn, Py_ssize_t L, const int64_t* ext, const double* sk,
                  double scale, bint want_grad, bint zero_inf, double* A, double* bt,
                  double* lbp, double* lps, double* occ, double* acc,
                  double* nll_out) noexcept nogil:
    """The log-space band forward-backward, for inputs without NaN or +inf: log alpha for every
    frame (A, rows of S + 4 with -inf padding), log beta in one row, each cell a vectorised
    log-sum-exp of its (up to) three predecessors, occupancies exp(log alpha + log beta' - log P)
    summed per class in linear space. Returns FAST_OK, or FAST_FAIL if the occupancies of a
    frame do not sum to a positive finite number (never expected)."""
    cdef Py_ssize_t S = 2 * L + 1
    cdef Py_ssize_t W = S + 4
    cdef Py_ssize_t t, s, lo = 0, hi = 0
    cdef double lp_, invz, z = 0.0, zb = 0.0
    cdef double* la
    cdef const floating* xr
    cdef floating* gr

    for t in range(Tn):
        _band(t, Tn, S, &lo, &hi)
        la = A + t * W + 2
        xr = x + t * stride
        for s in range(lo, hi + 1):
            lps[s] = xr[ext[s]]
        if t == 0:
            for s in range(lo, hi + 1):
                la[s] = lps[s]
        else:
            nl_lse3_row(la - W + lo, la - W + lo - 1, la - W + lo - 2, sk + lo, lps + lo,
                        la + lo, hi - lo + 1)
        la[lo - 2] = -INFINITY
        la[lo - 1] = -INFINITY
        la[hi + 1] = -INFINITY
        la[hi + 2] = -INFINITY
    la = A + (Tn - 1) * W + 2
    lp_ = _lse3(la[S - 1], la[S - 2] if L > 0 else -INFINITY, -INFINITY)
    nll_out[0] = -lp_
    if not want_grad:
        return FAST_OK
    if lp_ == -INFINITY:
        # probability 0 (log-probabilities of -inf): torch's gradient is NaN on every frame
        if zero_inf:
            _zero_rows(g, stride, 0, Tn, C)
        else:
            _fill_rows(g, stride, 0, Tn, C, NAN)
        return FAST_OK

    for s in range(S + 2):
        bt[s] = -INFINITY
    t = Tn - 1
    while t >= 0:
        _band(t, Tn, S, &lo, &hi)
        la = A + t * W + 2
        xr = x + t * stride
        if t == Tn - 1:
            for s in range(lo, hi + 1):
                lbp[s] = 0.0
        else:
            nl_lse3_row(bt + lo, bt + lo + 1, bt + lo + 2, sk + lo + 2, NULL, lbp + lo,
                        hi - lo + 1)
        nl_exp_sum(la + lo, lbp + lo, lp_, occ + lo, hi - lo + 1)
        _occupancy_sums(occ, lo, hi, &zb, &z)
        if not (z > 0.0 and z < INFINITY):
            return FAST_FAIL
        if want_grad:
            gr = g + t * stride
            _grad_row(xr, gr, C, scale)
            invz = 1.0 / z
            _label_grads(xr, gr, ext, NULL, NULL, 1.0, occ, acc, lo, hi, zb, invz, scale)
        for s in range(lo, hi + 1):
            bt[s] = lbp[s] + xr[ext[s]]
        t -= 1
    return FAST_OK


cdef bint _has_nonfinite_label(const floating* x, Py_ssize_t stride, Py_ssize_t Tn,
                               const int64_t* ext, Py_ssize_t S) noexcept nogil:
    """Whether lp[t, c] is NaN or +inf for a frame t < Tn and a class c of the extended labels."""
    cdef Py_ssize_t t, s
    cdef double v
    for t in range(Tn):
        for s in range(S):
            v = x[t * stride + ext[s]]
            if not v < INFINITY:
                return True
    return False


cdef double _sample(const floating* x, floating* g, Py_ssize_t stride, Py_ssize_t T,
                    Py_ssize_t C, Py_ssize_t Tn, const int64_t* tg, Py_ssize_t L, int64_t blank,
                    double scale, bint want_grad, bint zero_inf, double* dws, Py_ssize_t Tmax,
                    Py_ssize_t Lmax, int64_t* iws, int mode, signed char* path) noexcept nogil:
    """One sample: the nll; gradient rows 0..T-1 of the sample when ``want_grad``. ``path``
    receives the PATH_* of the algorithm that gave the result; ``mode`` (MODE_*) skips the
    linear-space path, or both band paths (for tests)."""
    cdef Py_ssize_t S = 2 * L + 1
    cdef Py_ssize_t Wmax = 2 * Lmax + 5
    cdef Py_ssize_t s, j, repeats
    cdef double nll = 0.0
    cdef int status
    cdef int64_t* ext = iws
    cdef int64_t* jidx = iws + Wmax
    cdef double* A = dws
    cdef double* E = A + Tmax * Wmax
    cdef double* M = E + Tmax * (Lmax + 1)
    cdef double* Ae = M + Tmax
    cdef double* b = Ae + Tmax
    cdef double* sk = b + Wmax
    cdef double* occ = sk + Wmax
    cdef double* bq = occ + Wmax
    cdef double* acc = bq + Wmax
    cdef double* lcab = acc + C
    cdef double* lps = lcab + C

    path[0] = PATH_DIRECT
    if Tn == 0:
        if want_grad:
            _zero_rows(g, stride, 0, T, C)
        return -0.0 if L == 0 else INFINITY

    # the extended label sequence: blank, y1, blank, y2, ..., yL, blank
    repeats = 0
    for s in range(S):
        if s % 2 == 0:
            ext[s] = blank
            jidx[s] = 0
            sk[s] = 0.0
        else:
            j = (s - 1) // 2
            ext[s] = tg[j]
            jidx[s] = j + 1
            if j > 0 and tg[j] == tg[j - 1]:
                repeats += 1
                sk[s] = 0.0
            else:
                sk[s] = 1.0 if j > 0 else 0.0
    sk[S] = 0.0
    sk[S + 1] = 0.0

    if Tn < L + repeats and not _has_nonfinite_label(x, stride, Tn, ext, S):
        # no alignment fits in Tn frames: what the exact path gives (inf; NaN gradient), without
        # computing it. NaN or +inf inputs take the exact path, which reproduces their effect.
        nll = INFINITY
        if want_grad:
            if zero_inf:
                _zero_rows(g, stride, 0, Tn, C)
            else:
                _fill_rows(g, stride, 0, Tn, C, NAN)
    else:
        status = FAST_FAIL
        path[0] = PATH_FAST
        if mode == MODE_AUTO:
            status = _fast(x, g, stride, C, Tn, L, ext, jidx, sk, scale, want_grad,
                           A, E, M, Ae, b, bq, occ, acc, &nll)
        if status == FAST_FAIL and _has_nonfinite_label(x, stride, Tn, ext, S):
            status = FAST_UNCLEAN     # (the linear-space path may stop before seeing it)
        if status == FAST_FAIL and mode != MODE_EXACT:
            path[0] = PATH_LOG
            status = _logband(x, g, stride, C, Tn, L, ext, sk, scale, want_grad, zero_inf,
                              A, b, bq, lps, occ, acc, &nll)
        if status != FAST_OK:
            path[0] = PATH_EXACT
            nll = _exact(x, g, stride, C, Tn, L, ext, scale, want_grad, zero_inf, A, b, lcab)
        elif want_grad and zero_inf and <floating>nll == INFINITY:
            _zero_rows(g, stride, 0, Tn, C)   # finite in float64, but inf in the result dtype
    if want_grad:
        _zero_rows(g, stride, Tn, T, C)
    return nll


cdef void _zero_acc(double* dws, Py_ssize_t T, Py_ssize_t Lmax, Py_ssize_t C) noexcept nogil:
    """The per-class occupancy accumulator of a fresh workspace starts at 0 (the fast path
    leaves it at 0 after every frame)."""
    cdef Py_ssize_t Wmax = 2 * Lmax + 5
    cdef double* acc = dws + T * Wmax + T * (Lmax + 1) + 2 * T + 4 * Wmax
    cdef Py_ssize_t c
    for c in range(C):
        acc[c] = 0.0


def workspace_sizes(Py_ssize_t T, Py_ssize_t Lmax, Py_ssize_t C):
    """(doubles, int64s) of one thread's workspace."""
    cdef Py_ssize_t Wmax = 2 * Lmax + 5
    return (T * Wmax + T * (Lmax + 1) + 2 * T + 5 * Wmax + 2 * C, 2 * Wmax)


def ctc(const floating[:, :, ::1] log_probs, const int64_t[::1] targets,
        const int64_t[::1] offsets, const int64_t[::1] input_lengths,
        const int64_t[::1] target_lengths, int64_t blank, const double[::1] scales,
        bint zero_infinity, double[::1] nll, floating[:, :, ::1] grad, bint want_grad,
        int num_threads, int mode=0, signed char[::1] paths=None):
    """Negative log-likelihoods into ``nll`` (N,) and, when ``want_grad``, the gradient into
    ``grad`` (T, N, C): ``(exp(lp) - occupancy) * scales[n]`` for frames below the input length,
    0 after. ``targets[offsets[n]:offsets[n] + target_lengths[n]]`` are the labels of sample n.

    The arguments are validated by numloss.losses.ctc, with messages for users; the checks here
    only keep the kernel memory-safe. For tests: ``mode`` 1 runs the exact (torch-like) path
    for every sample, 2 the log-space band path (the exact one for NaN / +inf inputs);
    ``paths`` (N,) receives per sample 0 (linear-space band path), 1 (exact path), 2 (direct
    result) or 3 (log-space band path)."""
    cdef Py_ssize_t T = log_probs.shape[0]
    cdef Py_ssize_t N = log_probs.shape[1]
    cdef Py_ssize_t C = log_probs.shape[2]
    cdef Py_ssize_t stride = N * C
    cdef Py_ssize_t n, i, Lmax = 0, nd, ni
    cdef int chunk
    cdef int failed = 0
    cdef int* pfailed = &failed
    cdef double* dws
    cdef int64_t* iws
    cdef const floating* x0
    cdef floating* g0 = NULL
    cdef const int64_t* tg0 = NULL
    cdef signed char* own_paths = NULL
    cdef signed char* pp = NULL
    if (input_lengths.shape[0] != N or target_lengths.shape[0] != N or offsets.shape[0] != N
            or scales.shape[0] != N or nll.shape[0] != N):
        raise ValueError("ctc: every per-sample array must have N entries")
    if want_grad and not (grad.shape[0] == T and grad.shape[1] == N and grad.shape[2] == C):
        raise ValueError("ctc: grad must have the shape of log_probs")
    if paths is not None:
        if paths.shape[0] != N:
            raise ValueError("ctc: paths must have N entries")
        if N > 0:
            pp = &paths[0]
    if not 0 <= blank < C:
        raise ValueError("ctc: blank out of range")
    if mode not in (MODE_AUTO, MODE_EXACT, MODE_LOG):
        raise ValueError("ctc: unknown mode")
    for n in range(N):
        if not (0 <= input_lengths[n] <= T and 0 <= target_lengths[n]
                and 0 <= offsets[n] <= targets.shape[0] - target_lengths[n]):
            raise ValueError(f"ctc: lengths or offsets of sample {n} out of range")
        for i in range(offsets[n], offsets[n] + target_lengths[n]):
            if not (0 <= targets[i] < C and targets[i] != blank):
                raise ValueError(f"ctc: label of sample {n} out of range or blank")
        if target_lengths[n] > Lmax:
            Lmax = target_lengths[n]
    if N == 0 or T == 0 or C == 0:
        return
    if targets.shape[0] > 0:
        tg0 = &targets[0]
    if pp == NULL:
        pp = own_paths = <signed char*>malloc(N)
        if pp == NULL:
            raise MemoryError("numloss.ctc_loss: out of memory")
    nd, ni = workspace_sizes(T, Lmax, C)
    x0 = &log_probs[0, 0, 0]
    if want_grad:
        g0 = &grad[0, 0, 0]
    # neighbouring samples' gradient rows share cache lines: hand them out a few at a time
    chunk = max(1, min(8, N // (4 * num_threads)))
    if num_threads <= 1:
        with nogil:
            dws = <double*>malloc(nd * sizeof(double))
            iws = <int64_t*>malloc(ni * sizeof(int64_t))
            if dws == NULL or iws == NULL:
                failed = 1
            else:
                _zero_acc(dws, T, Lmax, C)
                for n in range(N):
                    nll[n] = _sample(x0 + n * C, g0 + n * C if want_grad else NULL, stride, T, C,
                                     input_lengths[n], tg0 + offsets[n] if tg0 != NULL else NULL,
                                     target_lengths[n], blank, scales[n], want_grad,
                                     zero_infinity, dws, T, Lmax, iws, mode, pp + n)
            free(dws)
            free(iws)
    else:
        with nogil, parallel(num_threads=num_threads):
            dws = <double*>malloc(nd * sizeof(double))
            iws = <int64_t*>malloc(ni * sizeof(int64_t))
            if dws != NULL:
                _zero_acc(dws, T, Lmax, C)
            for n in prange(N, schedule='dynamic', chunksize=chunk):
                if dws == NULL or iws == NULL:
                    pfailed[0] = 1
                else:
                    nll[n] = _sample(x0 + n * C, g0 + n * C if want_grad else NULL, stride, T, C,
                                     input_lengths[n], tg0 + offsets[n] if tg0 != NULL else NULL,
                                     target_lengths[n], blank, scales[n], want_grad,
                                     zero_infinity, dws, T, Lmax, iws, mode, pp + n)
            free(dws)
            free(iws)
    free(own_paths)
    if failed:
        raise MemoryError("numloss.ctc_loss: cannot allocate the CTC workspace")
