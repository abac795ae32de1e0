"""Specialising a generic driver for one loss, compiled lazily and cached on disk.

A driver (see ``_drivers.py``) is a plain Python function that refers to module-level names
such as ``ELEM`` (the per-element math), ``PRANGE`` and flags like ``GRAD``. :class:`Kernel`
clones the driver's code object with those names bound to constants, once as a ``prange``
(parallel) function and once as a ``range`` (serial) one, and compiles each with
``numba.njit(cache=True)`` on first use. Numba freezes the bound globals into the compiled code,
so flags cost nothing at run time.

Every clone gets its own ``__qualname__`` -- loss name, flags, variant and a hash of every
source file in ``numloss/_kernels`` -- because Numba's cache key contains neither compile flags
nor the source of functions called from another file: without the name, the serial clone
would load the parallel one's cached machine code, and an edit to an element function would
leave stale code in the cache.
"""
import hashlib
import logging
import pathlib
import threading
import time
import types
import warnings

import numba
from numba.core import event

from .. import _threads

logger = logging.getLogger("numloss")
SLOW_COMPILE = 1.0  # seconds: a compile that takes longer is logged at INFO
COMPILED = []  # (name, seconds) of every compile of a numloss function in this process

_HERE = pathlib.Path(__file__).parent
SOURCE_HASH = hashlib.sha256(
    b"".join(p.read_bytes() for p in sorted(_HERE.glob("*.py")))
).hexdigest()[:12]


def _quiet(dispatcher):
    """``dispatcher`` compiling with Numba's internal ``NumbaIRAssumptionWarning`` silenced.

    Numba's SSA pass emits that pedantic warning ("variable ... is not in scope", asking for a
    bug report) on the branch-free select chains of _math.py; the compiled code is correct (the
    ulp and differential tests check it). A filter installed at import would not do: pytest and
    ``warnings.catch_warnings`` reset the filters, and the warning reached users' own test runs.
    So the filter is applied around each compilation only (the dispatcher's ``compile``, which
    Numba calls on first use of each signature)."""
    compile_ = dispatcher.compile

    def compile(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", numba.core.errors.NumbaIRAssumptionWarning)
            return compile_(*args, **kwargs)

    dispatcher.compile = compile
    return dispatcher


NJIT_OPTIONS = dict(error_model="numpy", fastmath={"contract"}, nogil=True)

# Helpers of the kernels: ``inline`` ones are inlined into their caller at Numba-IR level; a
# ``row_function`` is compiled once per dtype and called (from the serial and the parallel
# driver alike), which keeps compile time down. Both with the drivers' options.
inline = numba.njit(inline="always", **NJIT_OPTIONS)
row_function = numba.njit(**NJIT_OPTIONS)


def _const_key(value):
    """A constant's part of a compiled function's name; a function by its qualified name, which
    tells ``specialise``'s copies apart."""
    if callable(value):
        fn = getattr(value, "py_func", value)
        return getattr(fn, "__qualname__", type(value).__name__)
    return str(int(value))


def _flags(consts):
    return "_".join(f"{k}{_const_key(v)}" for k, v in sorted(consts.items()))


def _bound(fn, consts, qualname):
    """A copy of the Python function ``fn`` with the module globals ``consts`` bound (Numba
    freezes them into the compiled code as constants), named ``qualname``."""
    glb = dict(fn.__globals__)
    glb.update(consts)
    clone = types.FunctionType(fn.__code__, glb, fn.__name__, fn.__defaults__, fn.__closure__)
    clone.__qualname__ = qualname
    return clone


def cached_njit(fn=None, **options):
    """``numba.njit(cache=True, **options)``, or without the cache and with a warning when no
    cache location is writable (numba#5566), instead of failing. Usable as a decorator."""
    if fn is None:
        return lambda f: cached_njit(f, **options)
    try:
        return _quiet(numba.njit(cache=True, **options)(fn))
    except RuntimeError as exc:  # "no locator available"
        warnings.warn(  # shown once per call site by Python's default filter
            f"numloss cannot cache compiled code ({exc}); it will compile in every process. "
            "Set NUMBA_CACHE_DIR to a writable directory to cache it.",
            RuntimeWarning,
            stacklevel=3,
        )
        return _quiet(numba.njit(cache=False, **options)(fn))


class _CompileLog(event.Listener):
    """Logs every compile of a numloss function (DEBUG; INFO when it takes more than
    ``SLOW_COMPILE`` seconds). A compile includes the functions it calls that are not compiled yet;
    those are not logged on their own. Loads from the disk cache are not compiles."""

    def __init__(self):
        self._local = threading.local()

    def on_start(self, ev):
        self._local.__dict__.setdefault("starts", []).append(time.perf_counter())

    def on_end(self, ev):
        starts = self._local.starts
        seconds = time.perf_counter() - starts.pop()
        fn = getattr(ev.data["dispatcher"], "py_func", None)  # lifted loops of users' code have none
        if starts or not (getattr(fn, "__module__", None) or "").startswith("numloss."):
            return
        name = fn.__qualname__.replace(f"__{SOURCE_HASH}", "")
        args = list(ev.data["args"])
        for t in args:  # the arrays inside tuples (a driver's *args) too
            args.extend(getattr(t, "types", ()))
        dtypes = sorted({str(t.dtype) for t in args if isinstance(t, numba.types.Array)})
        COMPILED.append((name, seconds))
        logger.log(logging.INFO if seconds > SLOW_COMPILE else logging.DEBUG,
                   "numloss: compiled %s [%s] in %.1f s", name, ", ".join(dtypes), seconds)


event.register("numba:compile", _CompileLog())


def specialise(fn, **consts):
    """A copy of the Numba function ``fn`` with its module globals ``consts`` (flags, or other
    specialised functions it calls) bound as constants, compiled on first use with ``fn``'s
    options. A driver's row function specialised this way compiles only the code its flags
    select, and is cached inside the driver's :class:`Kernel` (whose name must then tell the
    specialisations apart: it does, by the copy's qualified name)."""
    py = fn.py_func
    options = {k: v for k, v in fn.targetoptions.items() if k != "nopython"}
    return numba.njit(**options)(_bound(py, consts, f"{py.__name__}__{_flags(consts)}"))


COMPUTE_BOUND = set()


def compute_bound(elem):
    """Mark an element function whose exp/log arithmetic, not memory, bounds its loss loop:
    ``_drivers.elementwise`` then sums its losses in a second pass over a block buffer
    (``BUFFER_SUM``), which measured faster for these than a float64 sum inside the loop."""
    COMPUTE_BOUND.add(elem)
    return elem


class Kernel:
    """``template`` specialised with ``consts``; ``kernel(n_threads, *args)`` runs it serially
    (``n_threads == 1``) or in parallel with ``n_threads`` threads. A driver of an element
    function (``ELEM``) also gets ``BUFFER_SUM``: whether the function is ``compute_bound``."""

    def __init__(self, template, name, **consts):
        if "ELEM" in consts:
            consts["BUFFER_SUM"] = consts["ELEM"] in COMPUTE_BOUND
        self.template = template
        self.consts = consts
        self.name = f"{name}__{template.__name__}__{_flags(consts)}__{SOURCE_HASH}"
        self._compiled = {}
        self._entries = {}  # caller's key -> compiled entry point of the serial variant

    def dispatcher(self, parallel):
        """The Numba dispatcher of one variant (compiled, or loaded from cache, on first call)."""
        disp = self._compiled.get(parallel)
        if disp is None:
            fn = _bound(self.template, {**self.consts, "PRANGE": numba.prange if parallel else range},
                        f"{self.name}__{'par' if parallel else 'ser'}")
            disp = self._compiled[parallel] = cached_njit(fn, parallel=parallel, **NJIT_OPTIONS)
        return disp

    def __call__(self, n_threads, *args):
        if n_threads > 1:
            disp = self.dispatcher(True)
            with _threads.parallel_call(n_threads):
                return disp(*args)
        return self.dispatcher(False)(*args)

    def sized(self, work, *args):
        """Run on an input of ``work`` units: the parallel variant for every input large enough
        to run in parallel, with however many threads (one included), the serial one below.
        A kernel whose sums are ordered by LLVM's vectoriser, which may order the two variants'
        loops differently, so gives the same bits for any thread count."""
        if not _threads.may_parallel(work):
            return self.dispatcher(False)(*args)
        disp = self.dispatcher(True)
        with _threads.parallel_call(_threads.get_num_threads()):
            return disp(*args)

    def serial(self, key, *args, read_only=()):
        """The serial variant on ``args``, called through its compiled entry point once one is
        known for ``key``, so a repeated small call skips Numba's type dispatch.
        ``key`` is the caller's name for the Numba types of ``args`` (dtype, dimensions,
        layout, alignment): equal keys must mean equal types, since the entry point converts
        its arguments without checking them. ``read_only``: the positions of arrays the kernel
        only reads; they are typed read-only, as the general path passes them, so both paths
        share one compiled (and cached) specialisation. (``entry_point`` is Numba's
        compiled-function wrapper, stable since 0.50 but not public API.)"""
        known = self._entries.get(key)
        if known is not None:
            entry, star = known
            return entry(*args) if star is None else entry(*args[:star], args[star:])
        typed = list(args)
        for i in read_only:
            if typed[i].flags.writeable:
                typed[i] = typed[i].view()
                typed[i].flags.writeable = False
        disp = self.dispatcher(False)
        result = disp(*typed)
        # the overload's key: the argument types, a driver's *args folded into one tuple type
        _, folded = disp.fold_argument_types(tuple(disp.typeof_pyval(a) for a in typed), {})
        star = next((i for i, t in enumerate(folded) if isinstance(t, numba.types.StarArgTuple)), None)
        if star is not None:
            folded = (*folded[:star], numba.types.BaseTuple.from_types(folded[star].types))
        cres = disp.overloads.get(tuple(folded))
        if cres is not None:
            self._entries[key] = (cres.entry_point, star)
        return result
