"""Every public loss through every generic class of bad input (API.md, Values and types).

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


def main():
    results = {}
    for name, kind, exc, match, thunk in bad_calls():
        key = f"{name}-{kind}"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                thunk()
        except Exception as err:  # noqa: BLE001 - every outcome is recorded
            results[key] = [type(err).__name__, str(err), exc.__name__, match]
        else:
            results[key] = ["no exception", "", exc.__name__, match]
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
