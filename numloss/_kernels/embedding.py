"""Row kernels of the embedding losses: one row is one embedding of the (R, D) inputs.

* cosine_embedding: ``cos = a.b / sqrt((|a|^2 + eps)(|b|^2 + eps))``, eps = float32(1e-12) as
  torch; ``loss = 1 - cos`` (t == 1), ``max(0, cos - margin)`` (t == -1), 0 otherwise.
  ``|a|^2 = square_scale1 sum_j a_j^2`` (1/D for an input broadcast along D: torch sums its
  squares over its own, unbroadcast, last axis).
* triplet: ``loss = max(0, margin + d(a, p) - d')``, ``d' = d(a, n)`` or, with swap,
  ``min(d(a, n), d(p, n))``; d is the p-norm of ``x - y + eps`` (torch's pairwise_distance) or,
  for ``distance == COSINE``, ``1 - cosine_similarity(x, y)`` with torch's eps (norms clamped
  below at eps).
"""
import math

import numpy as np

from ._compile import inline, row_function, specialise
from ._intrinsics import fmax, fmin, radd
from ._math import vexp, vlog
from ._rowbase import options_dtype, row_factor
from ._scalar import like

# triplet distances, and the kinds of p of the p-norm (the cases its code distinguishes)
PNORM, COSINE = 0, 1
P2, P1, P_INF, P_NEG_INF, P0, P_OTHER = 0, 1, 2, 3, 4, 5

# triplet's code paths: the fused 2- and 1-norms, the other p-norms, the cosine distance. The
# path and whether gradients are written are bound as constants in each compiled variant
# (``triplet_variant``), so a call compiles one path, forward or loss+grad.
FUSED_NORM, OTHER_NORM, COSINE_DISTANCE = 0, 1, 2
PATH = FUSED_NORM
WRITE_GRAD = False


def triplet_path(distance, p_kind):
    """The code path of a triplet call."""
    if distance == COSINE:
        return COSINE_DISTANCE
    return FUSED_NORM if p_kind <= P1 else OTHER_NORM


def triplet_variant(path, write_grad):
    """The triplet row function of one code path, forward or loss+grad."""
    return specialise(triplet, PATH=path, WRITE_GRAD=write_grad)

COSINE_OPTIONS = options_dtype(("margin", np.float64), ("square_scale1", np.float64), ("square_scale2", np.float64))
TRIPLET_OPTIONS = options_dtype(
    ("distance", np.int64), ("swap", np.bool_), ("p_kind", np.int64), ("margin", np.float64), ("p", np.float64),
    ("eps", np.float64),
)

COS_EPS = 9.999999960041972e-13  # torch's EPSILON for cosine_embedding_loss: float32(1e-12)


@inline
def dots(ar, br):
    """(a.b, a.a, b.b) accumulated in float64 (a float32 product is exact in float64, so a
    cosine that is exactly +-1 in theory comes out so, and its zero gradient cancels)."""
    u = 0.0
    v = 0.0
    h = 0.0
    for j in range(ar.size):
        x1 = np.float64(ar[j])
        x2 = np.float64(br[j])
        u = radd(u, x1 * x2)
        v = radd(v, x1 * x1)
        h = radd(h, x2 * x2)
    return u, v, h


@row_function
def cosine_embedding(input1, input2, unused, target, options, grad_factor, loss_rows, grad1, grad2, unused_grad,
                     lo, hi):
    """Rows [lo, hi) of the (R, D) ``input1``, ``input2`` and their labels ``target``."""
    opt = options[0]
    grad = opt.write_grad
    margin = opt.margin
    f1 = opt.square_scale1
    f2 = opt.square_scale2
    acc = 0.0
    for r in range(lo, hi):
        ar = input1[r]
        br = input2[r]
        dot, m1, m2 = dots(ar, br)
        m1 = f1 * m1 + COS_EPS
        m2 = f2 * m2 + COS_EPS
        denom = math.sqrt(m1 * m2)
        cos = dot / denom
        tt = target[r]
        gcos = 0.0
        loss = 0.0
        if tt == 1:
            loss = 1.0 - cos
            gcos = -1.0
        elif tt == -1:
            v = cos - margin
            loss = v if not v < 0.0 else 0.0
            gcos = 1.0 if v >= 0.0 else 0.0
        loss_rows[r] = loss
        acc += loss
        if grad:
            # float64 per element: the two terms cancel exactly where the gradient is 0 in theory
            sc = row_factor(grad_factor, opt, r) * gcos
            ka = sc / denom
            k1 = sc * cos * f1 / m1
            k2 = sc * cos * f2 / m2
            gar = grad1[r]
            gbr = grad2[r]
            for j in range(ar.size):
                x1 = np.float64(ar[j])
                x2 = np.float64(br[j])
                gar[j] = ka * x2 - k1 * x1
                gbr[j] = ka * x1 - k2 * x2
    return acc




@inline
def pnorm_fused(ar, br, cr, eps, l1, swap):
    """sum of (a - b + eps)^2, (a - c + eps)^2 and, with swap, (b - c + eps)^2 (or of their
    absolute values with ``l1``) in one pass over the three rows. The differences are taken in
    the input's dtype (as torch), their squares accumulated in float64: one large coordinate
    must not swallow the others (torch's float32 norm keeps them too)."""
    e = like(ar, eps)
    sp = 0.0
    sn = 0.0
    ss = 0.0
    if l1:
        for j in range(ar.size):
            sp = radd(sp, np.float64(abs((ar[j] - br[j]) + e)))
            sn = radd(sn, np.float64(abs((ar[j] - cr[j]) + e)))
        if swap:
            for j in range(ar.size):
                ss = radd(ss, np.float64(abs((br[j] - cr[j]) + e)))
    else:
        for j in range(ar.size):
            dpj = np.float64((ar[j] - br[j]) + e)
            dnj = np.float64((ar[j] - cr[j]) + e)
            sp = radd(sp, dpj * dpj)
            sn = radd(sn, dnj * dnj)
        if swap:
            for j in range(ar.size):
                dsj = np.float64((br[j] - cr[j]) + e)
                ss = radd(ss, dsj * dsj)
    return sp, sn, ss


@row_function
def pnorm(xr, yr, eps, pk, p):
    """(||x - y + eps||_p as float64, number of entries at the max/min for p = +-inf), for the
    p kinds ``pnorm_fused`` does not cover (pk >= P_INF)."""
    zero = like(xr, 0)
    e = like(xr, eps)
    n = xr.size
    if pk == P_INF or pk == P_NEG_INF:
        m = like(xr, math.inf) if pk == P_NEG_INF else zero
        nan = 0
        for j in range(n):
            d = (xr[j] - yr[j]) + e
            nan += np.int32(d != d)
            m = fmin(m, abs(d)) if pk == P_NEG_INF else fmax(m, abs(d))
        if nan > 0:
            # torch: NaN norm; the entries "at the max" are the NaN ones (their sign is 0)
            return math.nan, np.float64(nan)
        if n == 0:
            return (math.inf if pk == P_NEG_INF else 0.0), 0.0
        cnt = 0
        for j in range(n):
            d = (xr[j] - yr[j]) + e
            cnt += np.int32(abs(d) == m)
        return np.float64(m), np.float64(cnt)
    if pk == P0:
        cnt = 0
        for j in range(n):
            d = (xr[j] - yr[j]) + e
            cnt += np.int32(d != zero)
        return np.float64(cnt), 0.0
    s = 0.0
    for j in range(n):
        d = np.float64((xr[j] - yr[j]) + e)
        s += vexp(p * vlog(abs(d)))
    return s ** (1.0 / p), 0.0


@inline
def normgrad(d, nrm, pk, p, k, cnt):
    """d ||v||_p / d v_j at v_j = d (float64), for pk >= P_INF (the non-vectorised kinds); ``k`` is
    the scale precomputed per row (see ``norm_scale``)."""
    sg = 1.0 if d > 0.0 else (-1.0 if d < 0.0 else 0.0)  # torch.sign (0 for NaN)
    if pk == P_INF or pk == P_NEG_INF:
        hit = abs(d) == nrm or (d != d and nrm != nrm)
        return sg / cnt if hit else 0.0 * sg
    if pk == P0:
        return 0.0
    ad = abs(d)
    if p < 1.0:
        v = sg * ad ** (p - 1.0)
        return (0.0 if d == 0.0 else v) * k
    if p < 2.0:
        return sg * ad ** (p - 1.0) * k
    return d * ad ** (p - 2.0) * k


@inline
def norm_scale(nrm, pk, p):
    """The per-row factor of the p-norm gradient (masked to 0 where the norm is 0, as torch)."""
    if pk == P2:
        return 0.0 if nrm == 0.0 else 1.0 / nrm
    if pk == P_OTHER:
        if p < 1.0:
            return nrm ** (1.0 - p)
        return 0.0 if nrm == 0.0 else 1.0 / nrm ** (p - 1.0)
    return 0.0


@row_function
def cosdist(xr, yr, eps):
    """(1 - cos, 1 / (N1 N2), cos / (N1 n1), cos / (N2 n2)) with N = max(n, eps); a term
    with n = 0 is 0 (torch clamps the norm under no_grad, and the norm's gradient at 0 is 0)."""
    dot, s1, s2 = dots(xr, yr)
    n1 = math.sqrt(s1)
    n2 = math.sqrt(s2)
    c1 = max(n1, eps)
    c2 = max(n2, eps)
    cos = dot / (c1 * c2)
    k = 1.0 / (c1 * c2)
    h1 = 0.0 if n1 == 0.0 else cos / (c1 * n1)
    h2 = 0.0 if n2 == 0.0 else cos / (c2 * n2)
    return 1.0 - cos, k, h1, h2


@row_function
def triplet(anchor, positive, negative, unused, options, grad_factor, loss_rows, grad_anchor, grad_positive,
            grad_negative, lo, hi):
    """Rows [lo, hi) of the (R, D) ``anchor``, ``positive`` and ``negative`` embeddings."""
    opt = options[0]
    grad = WRITE_GRAD
    cosine = PATH == COSINE_DISTANCE
    swap = opt.swap
    pk = opt.p_kind
    margin = opt.margin
    p = opt.p
    eps = opt.eps
    acc = 0.0
    for r in range(lo, hi):
        ar = anchor[r]
        br = positive[r]
        cr = negative[r]
        dp = dn = ds = 0.0
        cp_ = cn_ = cs_ = 0.0
        kp = hpa = hpb = kn = hna = hnc = ks = hsb = hsc = 0.0
        if PATH == FUSED_NORM:
            dp, dn, ds = pnorm_fused(ar, br, cr, eps, pk == P1, swap)
            if pk == P2:
                dp = math.sqrt(dp)
                dn = math.sqrt(dn)
                ds = math.sqrt(ds)
        elif PATH == OTHER_NORM:
            dp, cp_ = pnorm(ar, br, eps, pk, p)
            dn, cn_ = pnorm(ar, cr, eps, pk, p)
            ds, cs_ = pnorm(br, cr, eps, pk, p) if swap else (0.0, 0.0)
        else:
            dp, kp, hpa, hpb = cosdist(ar, br, eps)
            dn, kn, hna, hnc = cosdist(ar, cr, eps)
            if swap:
                ds, ks, hsb, hsc = cosdist(br, cr, eps)
            else:
                ds, ks, hsb, hsc = 0.0, 0.0, 0.0, 0.0
        # torch.minimum(dn, ds) and its gradient: ties split the gradient, NaN sends it to both.
        an = 1.0
        as_ = 0.0
        dneg = dn
        if swap:
            if ds < dn:
                an, as_, dneg = 0.0, 1.0, ds
            elif ds == dn:
                an, as_ = 0.5, 0.5
            elif not dn < ds:
                an, as_, dneg = 1.0, 1.0, (dn if dn != dn else ds)
        z = margin + dp - dneg
        loss = z if not z < 0.0 else 0.0
        loss_rows[r] = loss
        acc += loss
        if not grad:
            continue
        gl = row_factor(grad_factor, opt, r) if z >= 0.0 else 0.0
        cp = gl
        cn = -gl * an
        cs = -gl * as_
        gar = grad_anchor[r]
        gbr = grad_positive[r]
        gcr = grad_negative[r]
        D = ar.size
        if cosine:
            # d(1 - cos(x, y))/dx = -(y k - x h_x); collect the coefficients of a, p, n.
            alpha_a = cp * hpa + cn * hna
            beta_a = -cp * kp
            gamma_a = -cn * kn
            alpha_b = -cp * kp
            beta_b = cp * hpb + cs * hsb
            gamma_b = -cs * ks
            alpha_c = -cn * kn
            beta_c = -cs * ks
            gamma_c = cn * hnc + cs * hsc
            for j in range(D):  # float64: the terms cancel where the gradient is 0 in theory
                x1 = np.float64(ar[j])
                x2 = np.float64(br[j])
                x3 = np.float64(cr[j])
                gar[j] = alpha_a * x1 + beta_a * x2 + gamma_a * x3
                gbr[j] = alpha_b * x1 + beta_b * x2 + gamma_b * x3
                gcr[j] = alpha_c * x1 + beta_c * x2 + gamma_c * x3
            continue
        e = like(ar, eps)
        if PATH == FUSED_NORM:
            if pk == P2:
                up = like(ar, cp * norm_scale(dp, pk, p))
                un = like(ar, cn * norm_scale(dn, pk, p))
                us = like(ar, cs * norm_scale(ds, pk, p))
            else:
                up = like(ar, cp)
                un = like(ar, cn)
                us = like(ar, cs)
            zero = like(ar, 0)
            one = like(ar, 1)
            for j in range(D):
                x1 = ar[j]
                x2 = br[j]
                x3 = cr[j]
                vp = (x1 - x2) + e
                vn = (x1 - x3) + e
                vs = (x2 - x3) + e
                if pk == P1:
                    # torch.sign: -1, 0 or 1, and 0 for NaN
                    vp = (one if vp > zero else zero) - (one if vp < zero else zero)
                    vn = (one if vn > zero else zero) - (one if vn < zero else zero)
                    vs = (one if vs > zero else zero) - (one if vs < zero else zero)
                gp = up * vp
                gn = un * vn
                gsw = us * vs if swap else zero
                gar[j] = gp + gn
                gbr[j] = gsw - gp
                gcr[j] = -gn - gsw
            continue
        kp_ = norm_scale(dp, pk, p)
        kn_ = norm_scale(dn, pk, p)
        ks_ = norm_scale(ds, pk, p)
        for j in range(D):
            vp = np.float64((ar[j] - br[j]) + e)
            vn = np.float64((ar[j] - cr[j]) + e)
            gp = cp * normgrad(vp, dp, pk, p, kp_, cp_)
            gn = cn * normgrad(vn, dn, pk, p, kn_, cn_)
            gsw = 0.0
            if swap:
                vs = np.float64((br[j] - cr[j]) + e)
                gsw = cs * normgrad(vs, ds, pk, p, ks_, cs_)
            gar[j] = gp + gn
            gbr[j] = gsw - gp
            gcr[j] = -gn - gsw
    return acc
