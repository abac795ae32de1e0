"""``numloss eval``: a loss or metric over arrays in files, streamed in batches.

A file is a ``.npy`` (memory-mapped: never loaded whole), ``path.npz:key``, or one column of a
Parquet / Arrow IPC / CSV file (``path.parquet:column``; needs pyarrow, the ``parquet`` extra).
Batches of whole samples go through an :class:`numloss.Accumulator` (or a Dask graph with
``--dask``), so the files may be larger than memory.
"""
import ast
import json
import os
import sys
import time

import numpy as np

from ._accumulate import Accumulator, batch_axis, resolve


class InputError(Exception):
    """Bad input to ``numloss eval``: reported as one line, exit status 2."""


def add_arguments(parser):
    parser.add_argument("name", metavar="NAME", help="a loss (cross_entropy) or a metric (metrics.log_loss)")
    parser.add_argument("files", metavar="FILE", nargs="+",
                        help="the function's inputs in order: x.npy, f.npz:key, f.parquet:col, f.arrow:col, f.csv:col")
    parser.add_argument("--sample-weight", metavar="FILE", help="per-sample weights (a file as above)")
    parser.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                        help="an option of the function, e.g. --set reduction=sum (values as Python literals)")
    parser.add_argument("--batch-rows", metavar="N", type=int, default=1 << 16, help="samples per batch (default 65536)")
    parser.add_argument("--dask", metavar="threads|processes|ADDRESS",
                        help="compute with Dask: the threaded or multiprocessing scheduler, or a scheduler's address")
    parser.add_argument("--json", action="store_true", help="print one JSON object: name, result, samples, seconds")


def _options(pairs):
    options = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.isidentifier():
            raise InputError(f"--set takes KEY=VALUE, got {pair!r}")
        try:
            options[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            options[key] = text  # a bare word is a string: --set reduction=sum
    return options


def open_array(spec):
    """The array a FILE argument names: a memory map for .npy, else loaded (a column)."""
    path, sep, key = spec.partition(":") if not os.path.exists(spec) else (spec, "", "")
    if not os.path.exists(path):
        raise InputError(f"no such file: {path}")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".npy":
            if sep:
                raise InputError(f"{spec}: a .npy file holds one array, drop ':{key}'")
            return np.load(path, mmap_mode="r", allow_pickle=False)
        if ext == ".npz":
            with np.load(path, allow_pickle=False) as z:
                if not sep or key not in z.files:
                    raise InputError(f"{spec}: name one of the arrays in {path} as {path}:KEY ({', '.join(z.files)})")
                return z[key]
        if ext in (".parquet", ".arrow", ".feather", ".csv"):
            if not sep:
                raise InputError(f"{spec}: name a column as {path}:COLUMN")
            return _column(path, ext, key)
    except InputError:
        raise
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {spec}: {exc}") from None
    raise InputError(f"{spec}: unknown file type {ext or '(none)'}; use .npy, .npz, .parquet, .arrow or .csv")


def _column(path, ext, column):
    try:
        import pyarrow as pa
    except ImportError:
        raise InputError(f"reading {ext} files needs pyarrow: pip install \"numloss[parquet]\"") from None
    if ext == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path, columns=[column] if column else None, memory_map=True)
    elif ext == ".csv":
        import pyarrow.csv as pcsv

        table = pcsv.read_csv(path)
    else:
        with pa.memory_map(path) as source:
            table = pa.ipc.open_file(source).read_all()
    if column not in table.column_names:
        raise InputError(f"{path} has no column {column!r} (columns: {', '.join(table.column_names)})")
    col = table.column(column).combine_chunks()
    if pa.types.is_fixed_size_list(col.type):  # one row of k values per sample
        return col.flatten().to_numpy(zero_copy_only=False).reshape(len(col), col.type.list_size)
    return col.to_numpy(zero_copy_only=False)


def _samples(name, arrays, weight):
    """The number of samples, after checking that every input and the weight have it."""
    n = arrays[0].shape[batch_axis(name, 0)]
    for i, a in enumerate(arrays):
        axis = batch_axis(name, i)
        if a.ndim <= axis or a.shape[axis] != n:
            raise InputError(
                f"input {i + 1} has {a.shape[axis] if a.ndim > axis else 'no'} samples along axis {axis}, "
                f"input 1 has {n}"
            )
    if weight is not None and (weight.ndim < 1 or weight.shape[0] != n):
        raise InputError(f"--sample-weight has shape {weight.shape}, expected {n} weights (one per sample)")
    return n


def _batches(name, arrays, weight, rows):
    """``(n, batch)`` pairs: each input (and the weight) cut into the same runs of whole samples."""
    n = _samples(name, arrays, weight)
    for lo in range(0, n, rows):
        hi = min(lo + rows, n)
        batch = [a[(slice(None),) * batch_axis(name, i) + (slice(lo, hi),)] for i, a in enumerate(arrays)]
        yield hi - lo, batch, (None if weight is None else weight[lo:hi])


def _stream(acc, arrays, weight, rows, progress):
    from tqdm import tqdm

    n = arrays[0].shape[batch_axis(acc.name, 0)]
    with tqdm(total=n, unit="samples", unit_scale=True, disable=not progress, file=sys.stderr) as bar:
        for k, batch, w in _batches(acc.name, arrays, weight, rows):
            acc.update(*batch, sample_weight=w)
            bar.update(k)
    return acc.result(), acc.count


def _with_dask(acc, arrays, weight, rows, where):
    try:
        import dask
        import dask.array as da

        from . import dask as ndask
    except ImportError:
        raise InputError('--dask needs dask: pip install "numloss[dask]"') from None
    n = _samples(acc.name, arrays, weight)

    def blocked(a, axis):
        if isinstance(a, np.memmap) and a.ndim:  # an .npy file: its blocks are read where they are computed
            return ndask.from_npy(a.filename, rows, axis)
        return da.from_array(a, chunks={j: (rows if j == axis else -1) for j in range(a.ndim)})

    inputs = [blocked(a, batch_axis(acc.name, i)) for i, a in enumerate(arrays)]
    value = ndask.evaluate(acc.name, *inputs, sample_weight=None if weight is None else blocked(weight, 0),
                           **acc.options)
    if where in ("threads", "processes"):
        with dask.config.set(scheduler=where):
            return value.compute(), n
    from distributed import Client

    with Client(where) as client:
        return client.compute(value).result(), n


def run(args):
    """The ``eval`` command; returns the exit status."""
    try:
        if args.batch_rows < 1:
            raise InputError(f"--batch-rows must be a positive integer, got {args.batch_rows}")
        try:
            resolve(args.name)
        except (ValueError, TypeError) as exc:
            raise InputError(str(exc)) from None
        try:
            acc = Accumulator(args.name, **_options(args.set))
        except (ValueError, TypeError) as exc:
            raise InputError(str(exc)) from None
        arrays = [open_array(f) for f in args.files]
        weight = open_array(args.sample_weight) if args.sample_weight else None
        start = time.perf_counter()
        try:
            if args.dask:
                result, samples = _with_dask(acc, arrays, weight, args.batch_rows, args.dask)
            else:
                result, samples = _stream(acc, arrays, weight, args.batch_rows, sys.stderr.isatty())
        except (ValueError, TypeError) as exc:
            raise InputError(f"{args.name}: {exc}") from None
        seconds = time.perf_counter() - start
    except InputError as exc:
        print(f"numloss eval: error: {exc}", file=sys.stderr)
        return 2
    value = np.asarray(result).tolist()
    if args.json:
        print(json.dumps({"name": args.name, "result": value, "samples": int(samples), "seconds": seconds}))
    else:
        rate = samples / seconds if seconds > 0 else float("inf")
        print(f"{args.name}: {value}")
        print(f"samples: {samples}  seconds: {seconds:.3f}  samples/s: {rate:.4g}")
    return 0
