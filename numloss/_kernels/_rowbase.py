"""What every row kernel shares: its options record, the per-row gradient factor and a few
small loops.

A row kernel (see ``_drivers.blocks``) gets, after its operands, ``options`` (a one-element
record array of a dtype made by :func:`options_dtype`: the gradient fields below, then the
loss's own options), ``grad_factor``, ``loss_rows`` and its gradient arrays. It writes each
row's loss to ``loss_rows[r]``, returns their float64 sum and, when ``write_grad`` is set,
writes the gradient rows scaled by :func:`row_factor`.
"""
import numpy as np

from ._compile import inline

PARTIAL_LEN = 256  # elements per float32 partial sum inside a row (added into float64)

# write_grad: write the gradient rows; row r's gradient is scaled by
# grad_factor[r * grad_factor_stride] * grad_scale (grad_output per row for reduction "none",
# stride 0 and grad_output / denominator in grad_scale for a reduced loss).
GRAD_FIELDS = (("write_grad", np.bool_), ("grad_factor_stride", np.int64), ("grad_scale", np.float64))


def options_dtype(*fields):
    """The record dtype of a row kernel's options: the gradient fields, then ``fields``."""
    return np.dtype(list(GRAD_FIELDS) + list(fields), align=True)


@inline
def row_factor(grad_factor, opt, r):
    """The float64 factor of row r's gradient (``opt``: the options record)."""
    return np.float64(grad_factor[r * opt.grad_factor_stride]) * opt.grad_scale


@inline
def fill(v, value):
    for i in range(v.size):
        v[i] = value
