"""Row kernels of the margin losses, one row of C classes at a time ((N, C, 1) inputs, rows
[lo, hi)):

* multi_margin: ``loss_r = w_t sum_{c != t} h(margin - x_t + x_c) / C``, ``h(z) = z^p`` where
  z > 0, else 0 (NaN terms count as 0, as torch's ``if (z > 0)``);
* multilabel_margin: targets ``t[r, :k]`` (k = position of the first -1), T their set,
  ``loss_r = sum_{j < k} sum_{c not in T} max(0, 1 - x_{t_j} + x_c) / C`` (z > 0 strictly);
* multilabel_soft_margin: ``loss_r = sum_c w_c (y_c softplus(-x_c) + (1 - y_c) softplus(x_c))
  * inv_classes``, ``grad_c = sc w_c (sigmoid(x_c) - y_c) * inv_classes``; ``w`` is (1, C) or
  (N, C). ``inv_classes`` is 1 / (the input's class count), which differs from the row width
  when the input's last axis is broadcast.
"""
import numpy as np

from ._compile import inline, row_function
from ._intrinsics import radd
from ._math import vexp, vsoftplus
from ._rowbase import PARTIAL_LEN, fill, options_dtype, row_factor
from ._scalar import like

MULTI_MARGIN_OPTIONS = options_dtype(("power", np.int64), ("margin", np.float64))
MULTILABEL_MARGIN_OPTIONS = options_dtype()
MULTILABEL_SOFT_MARGIN_OPTIONS = options_dtype(("inv_classes", np.float64))

SOFT_TILE_ELEMENTS = 2048  # elements per tile of multilabel_soft_margin's flat exp / log1p pass


@inline
def margin_sums(xv, base, p2, skip):
    """(sum h(z), sum h'(z)) over the view but its entry ``skip``, z = base + x_c (float64
    totals). One pass with the skipped entry masked, not two slices: a row of a few classes
    would pay two loops' set-up for a handful of elements."""
    s = 0.0
    sd = 0.0
    zero = like(xv, 0)
    for b0 in range(0, xv.size, PARTIAL_LEN):
        xb = xv[b0:b0 + PARTIAL_LEN]
        k = skip - b0
        u = zero
        v = zero
        if p2:
            for c in range(xb.size):
                z = base + xb[c]
                z = z if z > zero and c != k else zero
                u = radd(u, z * z)
                v = radd(v, z)
        else:
            one = like(xv, 1)
            for c in range(xb.size):
                z = base + xb[c]
                pos = z > zero and c != k
                u = radd(u, z if pos else zero)
                v = radd(v, one if pos else zero)
        s += u
        sd += v
    if p2:
        sd *= 2.0
    return s, sd


@row_function
def multi_margin(scores, target, target_values, class_weight, options, grad_factor, loss_rows, grad, lo, hi):
    """Rows [lo, hi) of the (N, C, 1) ``scores``, ``target`` (N, 1) class indices."""
    opt = options[0]
    N, C, D = scores.shape
    write_grad = opt.write_grad
    p2 = opt.power == 2
    x2 = scores.reshape((N, C))
    g2 = grad.reshape((grad.shape[0], C))
    wv = class_weight[0]
    margin = like(scores, opt.margin)
    zero = like(scores, 0)
    acc = 0.0
    for r in range(lo, hi):
        xr = x2[r]
        tr = target[r, 0]
        base = margin - xr[tr]
        sm, dm = margin_sums(xr, base, p2, tr)
        wt = np.float64(wv[tr])
        loss = wt * sm / C
        loss_rows[r] = loss
        acc += loss
        if write_grad:
            gr = g2[r]
            coef = row_factor(grad_factor, opt, r) * wt / C
            k = like(gr, coef)
            if p2:
                k2 = like(gr, 2.0 * coef)
                for c in range(C):
                    z = base + xr[c]
                    gr[c] = k2 * z if z > zero else zero
            else:
                for c in range(C):
                    z = base + xr[c]
                    gr[c] = k if z > zero else zero
            gr[tr] = like(gr, -(coef * dm))
    return acc




@inline
def _hinge_terms(xr, other, base, gr, kc, write_grad):
    """(sum of z, count) over the non-target classes c (``other[c]`` != 0) where
    z = base + x_c > 0, in float64 partial sums; with ``write_grad`` (a constant at each call
    site, so the forward's loop has no stores) adds ``kc`` to ``gr[c]`` at each."""
    zero = like(xr, 0)
    one = like(xr, 1)
    s = 0.0
    cnt = 0.0
    for b0 in range(0, xr.size, PARTIAL_LEN):
        xb = xr[b0:b0 + PARTIAL_LEN]
        ob = other[b0:b0 + PARTIAL_LEN]
        gb = gr[b0:b0 + PARTIAL_LEN]
        u = zero
        v = zero
        for c in range(xb.size):
            z = base + xb[c]
            on = (z > zero) and (ob[c] != zero)
            u = radd(u, z if on else zero)
            if write_grad:
                v = radd(v, one if on else zero)
                gb[c] += kc if on else zero
        s += u
        cnt += v
    return s, cnt


@row_function
def multilabel_margin(scores, target, target_values, class_weight, options, grad_factor, loss_rows, grad, lo, hi):
    """Rows [lo, hi) of the (N, C, 1) ``scores``; ``target`` (N, C) target classes, ended by -1."""
    opt = options[0]
    N, C, D = scores.shape
    write_grad = opt.write_grad
    x2 = scores.reshape((N, C))
    g2 = grad.reshape((grad.shape[0], C))
    other = np.empty(C, scores.dtype)  # 1 where the class is not a target
    zero = like(scores, 0)
    one = like(scores, 1)
    acc = 0.0
    for r in range(lo, hi):
        xr = x2[r]
        tr = target[r]
        k = 0
        while k < C and tr[k] >= 0:
            k += 1
        fill(other, one)
        for j in range(k):
            other[tr[j]] = zero
        gr = g2[r]  # only touched when grad is set
        coef = row_factor(grad_factor, opt, r) / C if write_grad else 0.0
        kc = like(scores, coef)
        if write_grad:
            fill(gr, zero)
        s = 0.0
        for j in range(k):
            tj = tr[j]
            if write_grad:
                u, cnt = _hinge_terms(xr, other, one - xr[tj], gr, kc, True)
                gr[tj] -= like(scores, coef * cnt)
            else:
                u, cnt = _hinge_terms(xr, other, one - xr[tj], gr, kc, False)
            s += u
        loss = s / C
        loss_rows[r] = loss
        acc += loss
    return acc




@row_function
def multilabel_soft_margin(scores, target, target_values, class_weight, options, grad_factor, loss_rows, grad, lo, hi):
    """Rows [lo, hi) of the (N, C, 1) ``scores`` and ``target_values``; ``class_weight`` is
    (1, C) or (N, C)."""
    opt = options[0]
    N, C, D = scores.shape
    write_grad = opt.write_grad
    inv = opt.inv_classes
    x2 = scores.reshape((N, C))
    y2 = target_values.reshape((N, C))
    g2 = grad.reshape((grad.shape[0], C))
    wrows = class_weight.shape[0] > 1
    zero = like(scores, 0)
    one = like(scores, 1)
    x1 = scores.reshape(N * C)
    T = max(1, SOFT_TILE_ELEMENTS // C)  # rows per tile
    ex = np.empty(T * C, scores.dtype)  # exp(-|x|) of the tile's elements
    lx = np.empty(T * C, scores.dtype)  # log1p(exp(-|x|))
    acc = 0.0
    for r0 in range(lo, hi, T):
        r1 = min(r0 + T, hi)
        # the exp and log1p over the tile's rows as one flat vectorised loop: row by row, a row of
        # a few classes would run them in a short loop's scalar remainder
        xf = x1[r0 * C:r1 * C]
        # log1p(exp(-|x|)) is vsoftplus(-|x|), whose log needs no special-value selects (vlog1p's);
        # LLVM shares the exp between the two lines
        if write_grad:  # the gradient needs exp(-|x|) too; the forward alone skips that store
            for i in range(xf.size):
                a = -abs(xf[i])
                ex[i] = vexp(a)
                lx[i] = vsoftplus(a)
        else:
            for i in range(xf.size):
                lx[i] = vsoftplus(-abs(xf[i]))
        for r in range(r0, r1):
            xr = x2[r]
            yr = y2[r]
            wr = class_weight[r if wrows else 0]
            er = ex[(r - r0) * C:(r - r0 + 1) * C]
            lr = lx[(r - r0) * C:(r - r0 + 1) * C]
            s = 0.0
            for b0 in range(0, C, PARTIAL_LEN):
                xb = xr[b0:b0 + PARTIAL_LEN]
                yb = yr[b0:b0 + PARTIAL_LEN]
                wb = wr[b0:b0 + PARTIAL_LEN]
                lb = lr[b0:b0 + PARTIAL_LEN]
                u = zero
                for c in range(xb.size):
                    xc = xb[c]
                    yc = yb[c]
                    sp = (xc if xc > zero else zero) + lb[c]  # softplus(x)
                    sn = (-xc if xc < zero else zero) + lb[c]  # softplus(-x)
                    u = radd(u, wb[c] * (yc * sn + (one - yc) * sp))
                s += u
            loss = s * inv
            loss_rows[r] = loss
            acc += loss
            if write_grad:
                gr = g2[r]
                k = like(gr, row_factor(grad_factor, opt, r) * inv)
                for c in range(C):
                    e = er[c]
                    sig = (one if xr[c] >= zero else e) / (one + e)
                    gr[c] = k * wr[c] * (sig - yr[c])
    return acc
