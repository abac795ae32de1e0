"""numloss on Dask arrays: a loss or metric over data larger than memory or spread over a cluster.

``pip install "numloss[dask]"``. ``evaluate`` builds a ``dask.array.reduction`` whose chunk step
runs numloss's kernel on one block of whole samples and keeps the result as an
:class:`numloss.Accumulator` state; the combine step merges states and the aggregate step forms
the result, so the ratio of sums is taken once, over all blocks.
"""
import dask
import dask.array as da
import numpy as np

from . import _registry
from ._accumulate import Accumulator, batch_axis


def from_npy(path, rows, axis=0):
    """The .npy file at ``path`` as a dask array in blocks of ``rows`` along ``axis`` (one block
    along every other axis). Each block is a memory map opened by the task that reads it, so the
    graph holds the path, not the data: a cluster's workers read the file themselves (they must
    see it at the same path), and ``evaluate`` reads a block in the task that evaluates it.
    ``da.from_array(np.load(path, mmap_mode="r"))`` instead puts the whole array into the graph
    when it is sent to a distributed scheduler."""
    file = _NpyFile(path)
    shape = file.shape
    if not 0 <= axis < len(shape):
        raise ValueError(f"axis must be one of the array's axes (shape {shape}), got {axis}")
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise ValueError(f"rows must be a positive integer, got {rows!r}")
    chunks = tuple(rows if i == axis else -1 for i in range(len(shape)))
    return da.from_array(file, chunks=chunks, name=f"from_npy-{dask.base.tokenize(str(path), rows, axis)}",
                         inline_array=True, meta=np.empty((0,) * len(shape), file.dtype))


class _NpyFile:
    """An .npy file by its path, sliced through a memory map opened at each read (it pickles as
    the path)."""

    def __init__(self, path):
        self.path = str(path)
        header = np.load(self.path, mmap_mode="r")
        self.shape, self.dtype, self.ndim = header.shape, header.dtype, header.ndim
        del header

    def __getitem__(self, index):
        return np.load(self.path, mmap_mode="r")[index]


def _blocked(name, inputs, sample_weight):
    """Every input as a dask array chunked along its batch axis like the first input (whole
    samples per block, one chunk along every other axis), or as a plain value when it has no
    batch axis (a broadcast target, a scalar); returns ``(blocked, chunks)``."""
    arrays = [da.asarray(x) if isinstance(x, (np.ndarray, da.Array)) or np.ndim(x) else x for x in inputs]
    first = arrays[0]
    if not isinstance(first, da.Array) or first.ndim == 0:
        raise ValueError(f"{name}: the first input must be an array with a batch axis")
    axis0 = batch_axis(name, 0)
    n = first.shape[axis0]
    chunks = first.chunks[axis0]
    if name == "ctc_loss" and isinstance(arrays[1], da.Array) and arrays[1].ndim == 1:
        raise ValueError("ctc_loss on dask arrays needs padded targets of shape (N, S), not concatenated 1-D targets")

    def align(x, axis):
        if not isinstance(x, da.Array) or x.ndim <= axis or x.shape[axis] != n or (n == 1 and x.ndim < first.ndim):
            return x.compute() if isinstance(x, da.Array) else x
        return x.rechunk({i: (chunks if i == axis else -1) for i in range(x.ndim)})

    blocked = [align(x, batch_axis(name, i)) for i, x in enumerate(arrays)]
    weight = None if sample_weight is None else align(da.asarray(sample_weight), 0)
    return blocked, weight, chunks


def _per_block(x, axis, n_blocks):
    """Block k of ``x`` along ``axis`` for every k, as delayed objects (``to_delayed``: the block
    is handed to the task as it is, never assembled into a new array), or ``x`` itself for
    every block when it is not a dask array."""
    if not isinstance(x, da.Array):
        return [x] * n_blocks
    d = x.to_delayed()
    return [d[tuple(k if i == axis else 0 for i in range(x.ndim))] for k in range(n_blocks)]


def _blocks(name, blocked, weight, n_blocks):
    """``(inputs, weight)`` of every block: the inputs' blocks and the sample weight's."""
    inputs = [_per_block(x, batch_axis(name, i), n_blocks) for i, x in enumerate(blocked)]
    return list(zip(*inputs)), _per_block(weight, 0, n_blocks)


def _block_state(*block, acc, weighted):
    """One block's Accumulator state (a 1-element object array); the last operand is the block's
    sample weight when ``weighted``."""
    w = block[-1] if weighted else None
    block = block[:-1] if weighted else block
    return np.array([Accumulator(acc.name, **acc.options).update(*block, sample_weight=w)], dtype=object)


def _merge_states(states, axis=None, keepdims=False):
    if isinstance(states, list):
        states = np.concatenate([np.asarray(s, dtype=object).reshape(-1) for s in states])
    first = states.flat[0]
    acc = Accumulator(first.name, **first.options)
    for s in states.flat:
        acc.merge(s)
    return np.array([acc], dtype=object) if keepdims else acc


def _result(states, axis=None, keepdims=False):
    return np.asarray(_merge_states(states).result())


def _identity(states, axis=None, keepdims=False):
    return states


def evaluate(fn, *inputs, sample_weight=None, return_grad=False, **options):
    """``fn(*inputs, sample_weight=sample_weight, **options)`` over dask arrays, lazily.

    ``fn``: a numloss loss (function or name; reduction "mean", "sum" or "batchmean") or a
    ``numloss.metrics`` function. ``inputs``: dask arrays (NumPy arrays are wrapped); they are
    rechunked along the batch axis only (axis 0; axis 1 of ctc's ``log_probs``) so that every
    block holds whole samples. Returns a lazy 0-d dask array whose ``compute()`` equals the
    in-memory call; with ``return_grad=True`` (losses only) also the gradient(s), lazy dask
    arrays chunked like the inputs, each block computed with the global denominator.
    """
    acc = Accumulator(fn, **options)
    blocked, weight, chunks = _blocked(acc.name, inputs, sample_weight)
    # One task per block reads the block's inputs and returns its state: a blockwise step, which
    # Dask fuses with the blockwise reads of from_array / from_npy, so no block moves between workers.
    args = []
    for i, x in enumerate(blocked if weight is None else [*blocked, weight]):
        axis = 0 if i == len(blocked) else batch_axis(acc.name, i)
        index = None if not isinstance(x, da.Array) else tuple("b" if j == axis else f"{i}.{j}" for j in range(x.ndim))
        args += [x, index]
    states = da.blockwise(_block_state, ("b",), *args, acc=acc, weighted=weight is not None,
                          adjust_chunks={"b": 1}, concatenate=True, dtype=object, meta=np.empty((0,), object))
    value = da.reduction(
        states, chunk=_identity, combine=_merge_states, aggregate=_result, concatenate=False,
        dtype=np.float64, meta=np.array(0.0),
    )
    if not return_grad:
        return value
    return value, _gradients(acc, blocked, weight, chunks, states)


def _gradients(acc, blocked, weight, chunks, states):
    if acc.name.startswith("metrics."):
        raise ValueError("return_grad=True is for losses, not metrics")
    reduction = acc.options.get("reduction", "mean")
    total = dask.delayed(_total_denom)(states)
    case = _registry.BY_NAME[acc.name]
    grads = [[] for _ in case.grad_of]
    inputs, weights = _blocks(acc.name, blocked, weight, len(chunks))
    for k, (block, w) in enumerate(zip(inputs, weights)):
        g = dask.delayed(_block_grad, nout=len(case.grad_of))(acc, total, reduction, *block, sample_weight=w)
        g = g if len(case.grad_of) > 1 else [g]
        for slot, pos in enumerate(case.grad_of):
            x = blocked[pos]
            if isinstance(x, da.Array):
                axis = batch_axis(acc.name, pos)
                shape = tuple(x.chunks[axis][k] if i == axis else s for i, s in enumerate(x.shape))
            elif isinstance(x, np.ndarray):  # no batch axis (broadcast over the samples)
                shape = x.shape
            else:  # a Python number: no gradient, as in the in-memory call
                continue
            grads[slot].append(da.from_delayed(g[slot], shape=shape, dtype=acc_dtype(blocked[0])))
    out = []
    for slot, pos in enumerate(case.grad_of):
        if not grads[slot]:
            out.append(None)
        elif isinstance(blocked[pos], da.Array):
            out.append(da.concatenate(grads[slot], axis=batch_axis(acc.name, pos)))
        else:  # an input shared by every block: its gradient is the sum of the blocks'
            out.append(da.stack(grads[slot]).sum(axis=0))
    return tuple(out) if len(out) > 1 else out[0]


def acc_dtype(x):
    dt = np.dtype(x.dtype)
    if dt == np.float16:
        return np.dtype(np.float32)
    return dt if dt.kind == "f" and dt.itemsize <= 8 else np.dtype(np.float64)


def _total_denom(states):
    """The merged state's float64 total and denominator."""
    acc = _merge_states(states)
    return float(acc._total[0] + acc._total[1]), float(acc._denom[0] + acc._denom[1])


def _block_grad(acc, total_denom, reduction, *block, sample_weight=None):
    """The gradient of one block: the block's summed loss differentiated, times d result / d sum."""
    total, denom = (float(v) for v in total_denom)
    fn = acc.fn
    options = dict(acc.options)
    scale = 1.0
    if reduction != "sum":
        scale = 1.0 / denom if denom else float("nan")
    if acc.name == "rmse_loss":
        from . import functional

        root = np.sqrt(total * scale)
        scale = 0.0 if root == 0 else scale / (2.0 * root)
        fn = functional.mse_loss
    options["reduction"] = "sum"
    kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
    _, g = fn(*block, **options, return_grad=True, grad_output=scale, **kwargs)
    return g
