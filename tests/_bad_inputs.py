"""Every public loss through every generic class of bad input (docs/api.md, Values and types).

Run as a script it evaluates them all and prints JSON {case id: [exception type, message]}; the
test runs it in a subprocess so that a crash is a test failure, not the end of the suite.
"""
import inspect
import json
import sys
import warnings

import numpy as np


def bad_calls():
    import numloss
    from numloss._registry import CASES

    rng = np.random.default_rng(0)
    for case in CASES:
        fn = getattr(numloss, case.name)
        args, kwargs = case.make(rng, "small", np.float64)
        names = list(inspect.signature(fn).parameters)
        first = names[0]

        def call(*a, _fn=fn, **k):
            return lambda: _fn(*a, **k)

        replaced = lambda i, v: [v if j == i else a for j, a in enumerate(args)]  # noqa: E731
        yield case.name, "complex", TypeError, first, call(*replaced(0, args[0] + 1j), **kwargs)
        yield case.name, "strings", TypeError, first, call(*replaced(0, args[0].astype(str)), **kwargs)
        yield case.name, "ragged", TypeError, first, call(*replaced(0, [[1.0], [1.0, 2.0]]), **kwargs)
        yield case.name, "reduction", ValueError, "reduction", call(*args, **{**kwargs, "reduction": "avg"})
        yield case.name, "reduction_none", ValueError, "reduction", call(*args, **{**kwargs, "reduction": None})
        second = names[1]
        yield case.name, "second_shape", ValueError, "", call(*replaced(1, args[1][..., :1][:1, ...][..., :0]), **kwargs)
        yield case.name, "grad_output_shape", ValueError, "grad_output", call(*args, **kwargs, return_grad=True, grad_output=np.ones(7))
        yield case.name, "grad_output_without_grad", ValueError, "grad_output", call(*args, **kwargs, grad_output=1.0)
        g = [np.empty(np.shape(args[i]), np.float32) for i in case.grad_of]
        gout = tuple(g) if len(g) > 1 else g[0]
        yield case.name, "gradient_out_dtype", ValueError, "gradient_out", call(*args, **kwargs, return_grad=True, gradient_out=gout)
        del second


# --- issue 17: every argument kind crossed with what real code and files pass --------------

class ArrayOnly:
    """An object NumPy reads only through ``__array__`` (a stand-in for foreign containers)."""

    def __init__(self, arr):
        self._arr = arr

    def __array__(self, dtype=None, copy=None):
        return self._arr


class Sub(np.ndarray):
    """A plain ndarray subclass (as libraries define)."""


def _grad_shapes(case, args):
    return [np.shape(args[i]) for i in case.grad_of]


def _buffers_in(shared, shapes, dtype):
    """Gradient buffers laid out one after another in ``shared`` (a uint8 array)."""
    out, pos = [], 0
    for shape in shapes:
        n = int(np.prod(shape)) * np.dtype(dtype).itemsize
        out.append(shared[pos:pos + n].view(dtype).reshape(shape))
        pos += n
    return out


def _gout(bufs):
    return tuple(bufs) if len(bufs) > 1 else bufs[0]


def _same(a, b):
    """Results (losses or (loss, grads)) equal, NaN equal to NaN."""
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if a is None or b is None:
        return a is b
    return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)


def _as(kind, arr):
    """``arr`` as the kind of object a user might pass."""
    if kind == "torch":
        import torch
        return torch.from_numpy(np.ascontiguousarray(arr))
    if kind == "memoryview":
        return memoryview(np.ascontiguousarray(arr))
    if kind == "array_only":
        return ArrayOnly(arr)
    if kind == "subclass":
        return arr.view(Sub)
    if kind == "matrix":
        return np.asmatrix(arr)
    if kind == "big_endian":
        return arr.astype(arr.dtype.newbyteorder(">"))
    raise AssertionError(kind)


def wild_calls():
    """(loss, kind, expected exception or None, text the message must contain, thunk). With
    ``None`` the thunk must return True: the call gives the same numbers as with plain arrays."""
    import numloss
    from numloss._registry import CASES

    rng = np.random.default_rng(0)
    for case in CASES:
        fn = getattr(numloss, case.name)
        args, kwargs = case.make(rng, "small", np.float64)
        names = list(inspect.signature(fn).parameters)
        positions = [i for i, a in enumerate(args) if isinstance(a, np.ndarray)]
        shapes = _grad_shapes(case, args)
        none_kw = {**kwargs, "reduction": "none"}

        def with_arg(i, value, _args=args):
            return [value if j == i else a for j, a in enumerate(_args)]

        for i in positions:
            arg, name = args[i], names[i]
            # issue 17 items 1, 11, 4: subclasses, non-native byte order, tensors, memoryviews and
            # __array__ objects as any argument give the same numbers as plain arrays
            for kind in ("subclass", "big_endian", "torch", "memoryview", "array_only") + (
                    ("matrix",) if arg.ndim == 2 else ()):
                yield case.name, f"{name}_{kind}", None, "", (
                    lambda i=i, kind=kind, _fn=fn, _a=args, _k=kwargs:
                    _same(_fn(*with_arg(i, _as(kind, _a[i]), _a), **_k, return_grad=True),
                          _fn(*_a, **_k, return_grad=True)))
            # issue 17 item 10: masked arrays are refused, naming the argument and sample_weight
            yield case.name, f"{name}_masked", TypeError, name, (
                lambda i=i, _fn=fn, _a=args, _k=kwargs: _fn(*with_arg(i, np.ma.masked_array(_a[i]), _a), **_k))
            # issue 17 item 8: integer arguments beyond int64 are a ValueError showing the value
            if arg.dtype.kind in "iu":
                big = np.maximum(arg, 0).astype(np.uint64)
                big.flat[0] = 2**64 - 100
                yield case.name, f"{name}_uint64", ValueError, "18446744073709551516", (
                    lambda i=i, big=big, _fn=fn, _a=args, _k=kwargs: _fn(*with_arg(i, big, _a), **_k))
            # issue 17 items 2 and 4: gradient_out sharing memory with any argument, whatever
            # object that argument is passed as (the argument holds its own values)
            nbytes = sum(int(np.prod(s)) for s in shapes) * 8
            if arg.nbytes <= nbytes:
                for kind in ("ndarray", "torch", "memoryview", "array_only"):
                    def overlap(i=i, kind=kind, _fn=fn, _a=args, _k=kwargs, _s=shapes, _n=nbytes):
                        shared = np.zeros(_n, np.uint8)
                        view = shared[: _a[i].nbytes].view(_a[i].dtype).reshape(_a[i].shape)
                        view[...] = _a[i]
                        passed = view if kind == "ndarray" else _as(kind, view)
                        return _fn(*with_arg(i, passed, _a), **_k, return_grad=True,
                                   gradient_out=_gout(_buffers_in(shared, _s, np.float64)))
                    yield case.name, f"gradient_out_overlaps_{name}_{kind}", ValueError, "gradient_out", overlap
        # issue 17 item 1: ndarray subclasses and masked arrays as gradient_out are refused
        for kind in ("matrix", "subclass", "masked"):
            if kind == "matrix" and any(len(s) != 2 for s in shapes):
                continue
            def wrapped(kind=kind, _fn=fn, _a=args, _k=kwargs, _s=shapes):
                bufs = [np.ma.masked_array(np.zeros(s)) if kind == "masked" else _as(kind, np.zeros(s)) for s in _s]
                return _fn(*_a, **_k, return_grad=True, gradient_out=_gout(bufs))
            yield case.name, f"gradient_out_{kind}", ValueError, "gradient_out", wrapped
        # issue 17 item 4: gradient_out overlapping grad_output (reduction "none")
        def go_overlap(_fn=fn, _a=args, _k=none_kw, _s=shapes):
            loss_shape = np.shape(_fn(*_a, **_k))
            size = max(int(np.prod(loss_shape)), sum(int(np.prod(s)) for s in _s))
            shared = np.zeros(size * 8, np.uint8)
            go = shared[: int(np.prod(loss_shape)) * 8].view(np.float64).reshape(loss_shape)
            go[...] = 1.0
            return _fn(*_a, **_k, return_grad=True, grad_output=go,
                       gradient_out=_gout(_buffers_in(shared, _s, np.float64)))
        yield case.name, "gradient_out_overlaps_grad_output", ValueError, "gradient_out", go_overlap
        # issue 17 item 3: one buffer twice (or overlapping views) in a gradient_out tuple
        if len(shapes) > 1 and len(set(shapes)) == 1:
            buf = np.zeros(shapes[0])
            yield case.name, "gradient_out_twice", ValueError, "gradient_out", (
                lambda _fn=fn, _a=args, _k=kwargs, b=buf, n=len(shapes):
                _fn(*_a, **_k, return_grad=True, gradient_out=(b,) * n))
        # issue 17 item 15: return_grad must be a bool
        for value in ("yes", 1, None):
            yield case.name, f"return_grad_{value!r}", TypeError, "return_grad", (
                lambda v=value, _fn=fn, _a=args, _k=kwargs: _fn(*_a, **_k, return_grad=v))
        # issue 17 item 20: an array in an option's place is described, not printed
        yield case.name, "array_as_reduction", ValueError, "shape", (
            lambda _fn=fn, _a=args, _k=kwargs: _fn(*_a, **{**_k, "reduction": np.arange(1000.0)}))


def all_calls():
    yield from bad_calls()
    yield from wild_calls()


def main():
    results = {}
    for name, kind, exc, match, thunk in all_calls():
        key = f"{name}-{kind}"
        expected = exc.__name__ if exc is not None else "True"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                value = thunk()
        except Exception as err:  # noqa: BLE001 - every outcome is recorded
            results[key] = [type(err).__name__, str(err), expected, match]
        else:
            results[key] = [str(value is True) if exc is None else "no exception", "", expected, match]
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
