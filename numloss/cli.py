"""The ``numloss`` command: ``info``, ``demo`` and ``bench``."""
import argparse
import platform
import sys

import numpy as np


def _cache_dir():
    """Where Numba caches numloss's compiled kernels (or why it cannot)."""
    from .losses.regression import _MSE

    disp = _MSE.kernel(weighted=False, none=False, grad=False, ngrad=1).dispatcher(False)  # what mse_loss(x, y) uses
    cache = getattr(disp, "_cache", None)
    return getattr(cache, "_cache_path", None) or "not cached (no writable location)"


def info():
    """Versions, the compiled extension, threads and the compile cache, as facts."""
    import numba

    import numloss
    from . import _buffers, _threads

    try:
        from . import _ctc

        ext = f"loaded ({_ctc.__file__}), OpenMP: {'yes' if _ctc.OPENMP else 'no'}"
    except ImportError as exc:
        ext = f"NOT loaded: {exc}"
    # The threading layer is chosen at the first parallel launch: make one.
    x = np.zeros(_threads.PARALLEL_MIN_WORK * 2)
    numloss.mse_loss(x, x)
    layer = _threads.threading_layer() if numloss.get_num_threads() > 1 else "none (1 thread)"
    rows = [
        ("numloss", numloss.__version__),
        ("numpy", np.__version__),
        ("numba", numba.__version__),
        ("python", platform.python_version()),
        ("CTC extension", ext),
        ("threading layer", layer),
        ("threads", f"{numloss.get_num_threads()} (max {numba.config.NUMBA_NUM_THREADS})"),
        ("compile cache", _cache_dir()),
        ("output memory", f"outputs >= {_buffers.MIN_BYTES >> 20} MiB recycled, up to "
                          f"{numloss.get_buffer_cache_limit() >> 20} MiB kept (set_buffer_cache_limit)"),
    ]
    for key, value in rows:
        print(f"{key + ':':17s} {value}")


def demo():
    """A few losses and gradients on generated data, beside torch's numbers when installed."""
    import numloss

    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 5)).astype(np.float32)
    y = rng.standard_normal((4, 5)).astype(np.float32)
    t = (rng.uniform(size=(4, 5)) > 0.5).astype(np.float32)
    cases = [
        ("mse_loss", (x, y), {}),
        ("huber_loss", (x, y), {"delta": 0.5}),
        ("binary_cross_entropy_with_logits", (x, t), {}),
        ("soft_margin_loss", (x, 2 * t - 1), {}),
    ]
    if hasattr(numloss, "cross_entropy"):
        cases.append(("cross_entropy", (x, np.array([0, 3, 1, 4])), {"label_smoothing": 0.1}))
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        torch = None
        print("(torch is not installed: numloss's numbers only)")
    print(f"{'loss':34s} {'numloss':>12s} {'torch':>12s} {'max |grad diff|':>16s}")
    for name, args, kwargs in cases:
        loss, grad = getattr(numloss, name)(*args, **kwargs, return_grad=True)
        ref = diff = ""
        if torch is not None:
            targs = [torch.tensor(a) for a in args]
            targs[0].requires_grad_(True)
            tloss = getattr(F, name)(*targs, **kwargs)
            (tgrad,) = torch.autograd.grad(tloss, targs[0])
            ref = f"{tloss.item():12.6f}"
            diff = f"{np.max(np.abs(grad - tgrad.numpy())):16.2e}"
        print(f"{name:34s} {float(loss):12.6f} {ref:>12s} {diff:>16s}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="numloss", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="versions, compiled extension, threads, compile cache")
    sub.add_parser("demo", help="a few losses and gradients, beside torch's when installed")
    from .bench import add_arguments

    add_arguments(sub.add_parser("bench", help="time every loss against torch and NumPy"))
    from . import evaluate

    evaluate.add_arguments(sub.add_parser("eval", help="a loss or metric over arrays in files, in batches"))
    args = parser.parse_args(argv)
    if args.command == "info":
        info()
    elif args.command == "demo":
        demo()
    elif args.command == "eval":
        return evaluate.run(args)
    else:
        from .bench import run

        return run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
