"""The numloss command: info, demo, bench, plot, compile and eval."""
import argparse
import contextlib
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


class _Parser(argparse.ArgumentParser):
    """Bad arguments: one line on stderr and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")
def compile_kernels(args):
    """Compile every kernel the named losses use -- forward and loss+grad, reduced and
    ``"none"``, serial and parallel, per dtype -- into Numba's disk cache, so that a later
    process loads them instead of compiling (for images and deploys)."""
    import logging
    import time

    import numba

    import numloss
    from . import _registry, _threads
    from ._kernels._compile import COMPILED

    names = args.names or [c.name for c in _registry.CASES]
    unknown = [n for n in names if n not in _registry.BY_NAME]
    if unknown:
        print(f"numloss compile: unknown loss {', '.join(unknown)}; valid: {', '.join(_registry.BY_NAME)}",
              file=sys.stderr)
        return 2
    dtypes = ("float32", "float64") if args.dtype == "both" else (args.dtype,)
    jobs = [(name, dtype) for name in names for dtype in dtypes]
    from tqdm import tqdm

    class Report(logging.Handler):  # shows the slow compiles without breaking the bar
        def emit(self, record):
            tqdm.write(record.getMessage(), file=sys.stderr)

    logger = logging.getLogger("numloss")
    handler, level = Report(logging.INFO), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    first = len(COMPILED)
    # None: a plain call, serial (the registry's compile calls are below PARALLEL_MIN_WORK); then
    # every kernel's parallel variant, which large inputs run whatever the thread count
    threads = (None, numba.config.NUMBA_NUM_THREADS)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    try:
        bar = tqdm(jobs, desc="numloss compile", unit="loss", file=sys.stderr, disable=not sys.stderr.isatty())
        for name, dtype in bar:
            bar.set_postfix_str(f"{name} [{dtype}]")
            before, t0 = len(COMPILED), time.perf_counter()
            case = _registry.BY_NAME[name]
            fn = getattr(numloss, name)
            for call_args, kwargs in case.compile_calls(rng, np.dtype(dtype)):
                for n in threads:
                    with contextlib.nullcontext() if n is None else _threads.parallel_at_every_size(n):
                        for reduction in {kwargs.get("reduction", "mean"), "none"}:
                            for return_grad in (False, True):
                                fn(*call_args, **{**kwargs, "reduction": reduction}, return_grad=return_grad)
            if bar.disable:  # no terminal: one line per loss instead of the bar
                print(f"{name} [{dtype}]: {len(COMPILED) - before} kernels compiled in "
                      f"{time.perf_counter() - t0:.1f} s", flush=True)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    print(f"numloss compile: {len(jobs)} loss/dtype pairs, {len(COMPILED) - first} kernels compiled (the others were "
          f"in the cache) in {time.perf_counter() - start:.1f} s; cache: {_cache_dir()}")
    return 0


def main(argv=None):
    parser = _Parser(prog="numloss", description="numloss: every torch.nn loss on NumPy arrays, on the CPU.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    sub.add_parser("info", help="versions, compiled extension, threads, compile cache")
    sub.add_parser("demo", help="a few losses and gradients, beside torch's when installed")
    from .bench import add_arguments

    add_arguments(sub.add_parser("bench", help="time every loss against torch and NumPy"))
    from . import evaluate, plot

    plot.add_arguments(sub.add_parser("plot", help="draw losses and their gradients (needs matplotlib)"))
    comp = sub.add_parser("compile", help="fill the compile cache ahead of time (for images and deploys)")
    comp.add_argument("names", nargs="*", metavar="NAME", help="losses to compile (default: all)")
    comp.add_argument("--dtype", choices=("float32", "float64", "both"), default="both",
                      help="the dtypes to compile for (default: both)")
    evaluate.add_arguments(sub.add_parser("eval", help="a loss or metric over arrays in files, in batches"))
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "compile":
        return compile_kernels(args)
    if args.command == "info":
        info()
    elif args.command == "demo":
        demo()
    elif args.command == "plot":
        return plot.run(args)
    elif args.command == "eval":
        return evaluate.run(args)
    else:
        from .bench import run

        return run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
