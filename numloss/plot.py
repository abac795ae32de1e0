"""``numloss plot``: the loss gallery. Each loss and its gradient along a 1-D slice of its inputs,
computed by numloss itself (``reduction="none"``, ``return_grad=True``, ``grad_output`` of ones).

A slice maps a grid of scalars ``s`` to a batch of inputs, one sample per grid point. The loss
curve is each sample's loss (summed over its elements); the gradient curve is d loss / d s, the
numloss gradients contracted with d inputs / d s (the chain rule). For the elementwise losses
``s`` is the input itself and the curve is numloss's gradient as returned.
"""
import argparse
import ast
import inspect
import os
import sys
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import _registry


@dataclass(frozen=True)
class Slice:
    axis: str  # x-axis label: what s is
    range: tuple  # default (lo, hi) of s
    target: float  # default scalar target; None when the slice has none to vary
    build: Callable  # build(s, target, **fixed) -> (positional inputs, tangents: d input / d s per gradient)
    doc: str  # one line for the help and docs/losses.md
    fixed: dict = field(default_factory=dict)  # further inputs held fixed, overridable with --set
    batch_axis: int = 0  # the axis of the gradients that runs over the grid


def _pointwise(target, lo, hi, doc, axis="input x"):
    """s is the input; the target is one scalar broadcast over the grid."""
    return Slice(axis, (lo, hi), target, lambda s, t: ((s, np.full_like(s, t)), (np.ones_like(s),)), doc)


def _two_class(build_target, doc, lo=-4.0, hi=4.0, axis="score x of the true class (other class's score: 0)"):
    """Two classes, the true (labelled) class's score s, the other's 0; target class 0."""
    def build(s, t):
        x = np.stack([s, np.zeros_like(s)], axis=1)
        dx = np.stack([np.ones_like(s), np.zeros_like(s)], axis=1)
        return (x, build_target(len(s))), (dx,)
    return Slice(axis, (lo, hi), None, build, doc)


def _margin_ranking(s, t):
    return (s, np.zeros_like(s), np.full_like(s, t)), (np.ones_like(s), None)


def _gaussian(s, t, var):
    return (s, np.full_like(s, t), np.full_like(s, var)), (np.ones_like(s), None)


def _kl(s, t):
    q = np.stack([s, 1 - s], axis=1)
    p = np.broadcast_to(np.array([t, 1 - t]), q.shape)
    return (np.log(q), p), (np.stack([1 / s, -1 / (1 - s)], axis=1),)


def _cosine(theta, t):
    x1 = np.broadcast_to(np.array([1.0, 0.0]), (len(theta), 2))
    x2 = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    return (x1, x2, np.full_like(theta, t)), (None, np.stack([-np.sin(theta), np.cos(theta)], axis=1))


def _triplet(s, t):
    n = len(s)
    anchor = np.zeros((n, 2))
    positive = np.broadcast_to(np.array([1.0, 0.0]), (n, 2))
    negative = np.stack([np.zeros_like(s), s], axis=1)
    return (anchor, positive, negative), (None, None, np.broadcast_to(np.array([0.0, 1.0]), (n, 2)))


def _ctc(s, t):
    # Two frames, classes (blank, a), target "a": frame logits (0, s), log_probs their log_softmax.
    n = len(s)
    logits = np.stack([np.zeros_like(s), s], axis=1)
    log_probs = logits - np.logaddexp(0, s)[:, None]
    dlp = np.stack([-np.exp(log_probs[:, 1]), np.exp(log_probs[:, 0])], axis=1)  # d log_softmax / d s
    args = (np.stack([log_probs] * 2), np.ones((n, 1), np.int64), np.full(n, 2), np.full(n, 1))
    return args, (np.stack([dlp] * 2),)


_TRIPLET_DOC = "anchor (0, 0), positive (1, 0), negative (0, x): anchor-negative distance x, anchor-positive 1"

# doc: "{t}" is the target in use, other fields the fixed inputs in use.
SLICES = {
    "l1_loss": _pointwise(0.0, -3, 3, "input x, target {t}"),
    "mse_loss": _pointwise(0.0, -3, 3, "input x, target {t}"),
    "huber_loss": _pointwise(0.0, -3, 3, "input x, target {t}"),
    "smooth_l1_loss": _pointwise(0.0, -3, 3, "input x, target {t}"),
    "soft_margin_loss": _pointwise(1.0, -4, 4, "score x, label {t}", axis="score x"),
    "binary_cross_entropy": _pointwise(1.0, 0.05, 0.95, "probability x in (0, 1), target {t}",
                                       axis="probability x"),
    "binary_cross_entropy_with_logits": _pointwise(1.0, -5, 5, "logit x, target {t}", axis="logit x"),
    "poisson_nll_loss": _pointwise(1.0, -3, 2, "log-rate x (log_input=True), target count {t}",
                                   axis="log-rate x"),
    "gaussian_nll_loss": Slice("mean x", (-3, 3), 0.0, _gaussian, "mean x, target {t}, var {var}",
                               fixed={"var": 1.0}),
    "kl_div": Slice("predicted probability x of class 0", (0.05, 0.95), 0.25, _kl,
                    "two classes: input log(x, 1 - x), target (p, 1 - p) with p = {t}; loss summed "
                    "over the two classes"),
    "hinge_embedding_loss": _pointwise(-1.0, 0, 2.5, "distance x, label {t} (-1, a dissimilar pair: the hinge "
                                       "at the margin; +1: the distance itself)", axis="distance x"),
    "margin_ranking_loss": Slice("input1 x (input2: 0)", (-3, 3), 1.0, _margin_ranking,
                                 "input1 x, input2 0, label {t} (+1: input1 should rank higher)"),
    "rmse_loss": _pointwise(0.0, -3, 3, "input x, target {t} (one element: |x - target|)"),
    "msle_loss": _pointwise(1.0, 0, 5, "input x >= 0, target {t}"),
    "hinge_loss": _pointwise(1.0, -2, 3, "score x, label {t}", axis="score x"),
    "cross_entropy": _two_class(lambda n: np.zeros(n, np.int64), "two classes: the true class's logit x, "
                                "the other's 0", axis="logit x of the true class (other logit: 0)"),
    "nll_loss": _two_class(lambda n: np.zeros(n, np.int64), "two classes: the true class's "
                           "log-probability x (the one entry nll_loss reads)", lo=-5, hi=0,
                           axis="log-probability x of the true class"),
    "multi_margin_loss": _two_class(lambda n: np.zeros(n, np.int64), "two classes: the true class's score x, "
                                    "the other's 0"),
    "multilabel_margin_loss": _two_class(lambda n: np.tile(np.array([0, -1]), (n, 1)),
                                         "two classes, class 0 the one label: its score x, class 1's 0"),
    "multilabel_soft_margin_loss": _two_class(lambda n: np.tile(np.array([1.0, 0.0]), (n, 1)),
                                              "two classes, targets (1, 0): class 0's score x, class 1's 0"),
    "cosine_embedding_loss": Slice("angle x between input1 and input2 (radians)", (0, np.pi), 1.0, _cosine,
                                   "input1 (1, 0), input2 at angle x from it, label {t} (-1: a "
                                   "dissimilar pair)"),
    "triplet_margin_loss": Slice("anchor-negative distance x", (0.05, 3), None, _triplet, _TRIPLET_DOC),
    "triplet_margin_with_distance_loss": Slice("anchor-negative distance x", (0.05, 3), None, _triplet,
                                               _TRIPLET_DOC),
    "ctc_loss": Slice("logit x of the label (blank's: 0) in both frames", (-4, 4), None, _ctc,
                      "two frames, classes (blank, a), target 'a': each frame's logits (0, x) "
                      "through log_softmax", batch_axis=1),
}


def loss_names():
    """Every loss the gallery draws, in the registry's order."""
    return [c.name for c in _registry.CASES]


def _class_names():
    """Class name -> function name (``HuberLoss`` -> ``huber_loss``)."""
    import numloss
    from .losses._base import Loss

    classes = (getattr(numloss, n) for n in numloss.__all__)
    return {c.__name__: c.function.__name__ for c in classes if isinstance(c, type) and issubclass(c, Loss)}


def resolve(name):
    """The function name of a loss given by function or class name; ``KeyError`` if there is none."""
    name = _class_names().get(name, name)
    if name not in SLICES:
        raise KeyError(name)
    return name


def curves(name, lo=None, hi=None, target=None, points=601, **options):
    """``(s, loss, grad)`` along ``name``'s slice: float64 arrays of ``points`` values.

    ``options`` are the loss's keyword arguments, or the slice's fixed inputs (gaussian's ``var``).
    """
    import numloss

    name = resolve(name)
    sl = SLICES[name]
    if target is not None and sl.target is None:
        raise ValueError(f"--target does not apply to {name}: its slice ({_doc(name)}) has no scalar target")
    lo, hi = (sl.range[0] if lo is None else lo), (sl.range[1] if hi is None else hi)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"--range must be two finite numbers A < B, got {lo} {hi}")
    if points < 2:
        raise ValueError(f"--points must be at least 2, got {points}")
    fixed = {k: options.pop(k, v) for k, v in sl.fixed.items()}
    s = np.linspace(lo, hi, points)
    args, tangents = sl.build(s, sl.target if target is None else target, **fixed)
    fn = getattr(numloss, name)
    loss = fn(*args, reduction="none", **options)
    _, grads = fn(*args, reduction="none", return_grad=True, grad_output=np.ones_like(loss), **options)
    grads = grads if isinstance(grads, tuple) else (grads,)
    axis = sl.batch_axis
    dloss = sum(np.moveaxis(g * d, axis, 0).reshape(points, -1).sum(1)
                for g, d in zip(grads, tangents) if d is not None)
    return s, loss.reshape(points, -1).sum(1), dloss


def _label(name, options):
    return name + (" (" + ", ".join(f"{k}={v}" for k, v in options.items()) + ")" if options else "")


def draw(specs, path, lo=None, hi=None, target=None, points=601):
    """Draw ``specs`` (``(name, options)`` pairs) overlaid: loss on the left, gradient on the right."""
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

    data = [(name, options, curves(name, lo, hi, target, points, **options)) for name, options in specs]
    fig = Figure(figsize=(8, 4))
    left, right = fig.subplots(1, 2)
    for name, options, (s, loss, grad) in data:
        line, = left.plot(s, loss, lw=1.5, label=_label(name, options))
        right.plot(s, grad, lw=1.5, color=line.get_color())
    axes = " / ".join(dict.fromkeys(SLICES[resolve(n)].axis for n, _ in specs))
    for ax, title in ((left, "loss"), (right, "gradient d loss / d x")):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(axes, fontsize=8)
        ax.axhline(0, color="0.6", lw=0.6)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    left.legend(fontsize=8)
    docs = dict.fromkeys(_doc(resolve(n), target, o) for n, o in specs)
    fig.suptitle("; ".join(docs), fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=80, metadata={"Software": None})


def _doc(name, target=None, options=()):
    """The slice's one-line description with the target and fixed inputs in use."""
    sl = SLICES[name]
    fixed = {k: f"{dict(options).get(k, v):g}" for k, v in sl.fixed.items()}
    t = sl.target if target is None else target
    return sl.doc.format(t=None if t is None else f"{t:g}", **fixed)


def _value(text):
    """A --set value: a Python literal (1, 0.5, True, "cosine"), else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _options(pairs, what):
    out = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key.isidentifier():
            raise ValueError(f"{what} takes KEY=VALUE, got {pair!r}")
        out[key] = _value(value)
    return out


def _accepts(name, key):
    import numloss

    return key in SLICES[name].fixed or key in inspect.signature(getattr(numloss, name)).parameters


def _specs(names, settings):
    """``(function name, options)`` per NAME[:KEY=VALUE,...]; --set options go to the losses taking them."""
    common = _options(settings, "--set")
    specs = []
    for text in names:
        name, _, own = text.partition(":")
        name = resolve(name)
        options = {k: v for k, v in common.items() if _accepts(name, k)}
        specs.append((name, {**options, **_options(own.split(",") if own else [], name)}))
    unused = [k for k in common if not any(_accepts(n, k) for n, _ in specs)]
    if unused:
        raise ValueError(f"--set {unused[0]}: none of {', '.join(n for n, _ in specs)} takes it")
    return specs


def add_arguments(parser):
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = __doc__.split("\n\n")[0].replace("``", "")
    parser.epilog = ("slices (--target replaces the value after 'target' or 'label'; --set var=V sets "
                     "gaussian_nll_loss's var):\n" + "\n".join(f"  {n}: {_doc(n)}" for n in loss_names()))
    parser.add_argument("names", nargs="*", metavar="NAME[:KEY=VALUE,...]",
                        help="losses by function or class name (huber_loss or HuberLoss), with options "
                             "for that curve, e.g. huber_loss:delta=0.5")
    parser.add_argument("--range", nargs=2, type=float, metavar=("A", "B"), help="the slice's span (default: per loss)")
    parser.add_argument("--target", type=float, metavar="T", help="the fixed target (default: per loss)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an option for every named loss that takes it (e.g. delta=0.5, var=2)")
    parser.add_argument("--points", type=int, default=601, help="grid points (default 601)")
    parser.add_argument("-o", "--output", metavar="FILE.png", default="numloss-plot.png")
    parser.add_argument("--all-to", metavar="DIR", help="write DIR/NAME.png for every loss at its defaults "
                                                        "(the pictures of docs/losses.md)")


def _fail(message):
    print(f"numloss plot: {message}", file=sys.stderr)
    return 2


def run(args):
    """The ``numloss plot`` command; returns the exit status."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return _fail("needs matplotlib: pip install matplotlib")
    if args.all_to is not None:
        if args.names or args.range or args.target is not None or args.set:
            return _fail("--all-to draws every loss at its defaults: give it no NAME, --range, --target or --set")
        jobs = [([(n, {})], os.path.join(args.all_to, f"{n}.png")) for n in loss_names()]
    elif not args.names:
        return _fail("give at least one NAME, or --all-to DIR")
    else:
        try:
            jobs = [(_specs(args.names, args.set), args.output)]
        except KeyError as exc:
            return _fail(f"unknown loss {exc.args[0]!r}; valid names (or their class names): "
                         + ", ".join(loss_names()))
        except ValueError as exc:
            return _fail(exc)
    lo, hi = args.range or (None, None)
    for specs, path in jobs:
        try:
            draw(specs, path, lo, hi, args.target, args.points)
        except (ValueError, TypeError, NotImplementedError, OSError) as exc:
            return _fail(" ".join(str(exc).split()))
        print(f"wrote {path}")
    return 0
