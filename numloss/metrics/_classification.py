"""Classification metrics: labels, the binary kernel (``binary_labels``) and the row kernel
(``indexed_rows``)."""
import math
import numbers
import warnings

import numpy as np

from .._kernels import _drivers
from .._kernels import metrics as _mk
from ._common import (
    _EMPTY_W,
    _array_like,
    _check_bool,
    _check_dims,
    _consistent_length,
    _divide,
    _finite_bounds,
    _kernel,
    _numeric,
    _operand_checks,
    _ratio,
    _result,
    _weight_checks,
    _weights,
)

__all__ = ["log_loss", "brier_score_loss", "hinge_loss"]


def _labels_1d(y_true, name="y_true"):
    y = _array_like(y_true, name)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of labels, got shape {y.shape}")
    return y


def _comparable(y):
    """``y`` as labels the binary kernel compares directly (bools and integers as integers,
    floats through their bits), or None when they must be encoded first (strings, objects,
    uint64)."""
    kind = y.dtype.kind
    if kind == "b":
        return np.ascontiguousarray(y).view(np.uint8)
    if kind in "iu" and y.dtype != np.uint64 or y.dtype in (np.float32, np.float64):
        return np.ascontiguousarray(y)
    if y.dtype == np.float16:
        return y.astype(np.float32)
    return None


_SIGN_MASK = np.int64(0x7FFFFFFFFFFFFFFF)


class _BinaryPass:
    """One ``binary_labels`` pass of ``elem`` over predictions ``x`` and labels ``y`` (from
    :func:`_comparable`, or int64 codes), with the positive label ``pos`` when known: the
    sums, the label values found and the counts of x outside ``bounds``."""

    def __init__(self, elem, x, y, w, params, bounds, pos=None):
        self.y = y
        self.float_keys = y.dtype.kind == "f"
        keys = y.view(np.int32 if y.dtype.itemsize == 4 else np.int64) if self.float_keys else y
        pos_key = None if pos is None else self.key(pos)
        if pos is not None and pos_key is None:
            raise _NotALabel
        nb = _drivers.n_blocks(x.size)
        self.partial = np.empty((nb, 3), np.float64)
        self.labels = np.empty((nb, 3), np.int64)
        self.stats = np.empty((nb, _drivers.N_STATS), np.float64)
        kernel = _kernel(_drivers.binary_labels, elem.__name__ + ("_fkeys" if self.float_keys else ""),
                         ELEM=elem, FLOAT_KEYS=self.float_keys, WEIGHTED=w.size > 0)
        kernel.sized(x.size, x, keys, w, np.asarray(params, np.float64), pos is not None,
               np.int64(0 if pos_key is None else pos_key), np.asarray(bounds, np.float64), self.partial,
               self.labels, self.stats)
        self.known = pos is not None

    def key(self, value):
        """The kernel's key of a label value, or None when no label of y's dtype equals it."""
        if isinstance(value, (str, bytes)) or not isinstance(value, (numbers.Real, np.bool_)):
            return None
        if self.float_keys:
            v = np.asarray(value, self.y.dtype)
            if float(v) != value:
                return None
            bits = np.int64(v.view(np.int32 if self.y.dtype.itemsize == 4 else np.int64))
            return int(bits ^ ((bits >> np.int64(63)) & _SIGN_MASK))
        if float(value) != int(value):
            return None
        return int(value)

    def value(self, key):
        if not self.float_keys:
            return key
        bits = np.int64(key) ^ ((np.int64(key) >> np.int64(63)) & _SIGN_MASK)
        return (np.int32(bits) if self.y.dtype.itemsize == 4 else bits).view(self.y.dtype)[()]

    def values(self):
        """(smallest, largest) label when the labels take at most two values (read as floats,
        distinct and not -0.0), else None: the caller then encodes them."""
        lab = self.labels
        lo, hi = lab[:, 0].min(), lab[:, 1].max()
        ends = lab[:, :2]
        if lab[:, 2].any() or not ((ends == lo) | (ends == hi)).all():
            return None
        vlo, vhi = self.value(lo), self.value(hi)
        if self.float_keys:
            if not (np.isfinite(vlo) and np.isfinite(vhi)):
                raise ValueError("Input y_true contains NaN or infinity.")
            if (lo != hi and vlo == vhi) or (vlo == 0 and np.signbit(vlo)) or (vhi == 0 and np.signbit(vhi)):
                return None
        return vlo, vhi

    def total(self, pos=None):
        """(weighted sum, sum of weights): for a known positive label, or for the positive
        label ``pos`` (a value of :meth:`values`)."""
        if self.known:
            return self.partial[:, 0].sum(), self.partial[:, 1].sum()
        pos_key = self.key(pos) if pos is not None else None
        one_key = self.labels[:, 0] == self.labels[:, 1]
        values = np.where(one_key & (self.labels[:, 0] != pos_key), self.partial[:, 2], self.partial[:, 0])
        return values.sum(), self.partial[:, 1].sum()


class _NotALabel(Exception):
    """The positive label is no value of y's dtype (it is then encoded)."""


def _unique(values, name):
    try:
        return np.unique(values)
    except TypeError as exc:  # labels of mixed types
        raise ValueError(f"{name} mixes label types that cannot be sorted: {exc}") from None


def _encode(y, classes, name="y_true"):
    """int64 indices of ``y`` in the sorted ``classes``, and the values of y not among them."""
    try:
        idx = np.searchsorted(classes, y)
    except TypeError as exc:
        raise ValueError(f"{name} and labels have labels of incomparable types: {exc}") from None
    np.minimum(idx, len(classes) - 1, out=idx)
    missing = classes[idx] != y
    return idx.astype(np.int64), (set(np.asarray(y)[missing].tolist()) if missing.any() else set())


def _check_discrete(values, name="y_true"):
    """scikit-learn's LabelBinarizer refuses float labels that are not integers ("continuous")."""
    values = np.asarray(values)
    if values.dtype.kind == "f" and not np.all(np.mod(values, 1) == 0):
        raise ValueError(f"Unknown label type: {name} holds non-integer floats (continuous target)")


def _given_classes(labels, y):
    """scikit-learn's LabelBinarizer classes of ``labels`` (sorted), with its warning when the
    given order differs."""
    given = _array_like(labels, "labels")
    classes = _unique(given, "labels")
    if classes.shape != given.shape or not np.all(classes == given):
        warnings.warn(
            f"Labels passed were {given}. But this function assumes labels are ordered "
            f"lexicographically. Pass the ordered labels={classes.tolist()} and ensure that the "
            "columns of y_prob correspond to this ordering.", UserWarning, stacklevel=3)
    return classes


def _too_few_classes(classes, labels_given):
    if len(classes) < 2:
        if labels_given:
            raise ValueError(f"The labels array needs to contain at least two labels, got {classes}.")
        raise ValueError(f"y_true contains only one label ({classes[0]}). Please provide the list of all "
                         "expected class labels explicitly through the labels argument.")


def _rows_pass(row, x, codes, w, params, bounds, tol=np.inf):
    """Run ``indexed_rows`` over the (n, k) array ``x`` with class indices ``codes``."""
    n, k = x.shape
    nb = _drivers.n_row_blocks(n, k)
    partial = np.empty((nb, 3), np.float64)
    stats = np.empty((nb, _drivers.N_STATS), np.float64)
    _kernel(_drivers.indexed_rows, row.__name__, ROW=row, WEIGHTED=w.size > 0).sized(
        x.size, np.ascontiguousarray(x).reshape(-1), codes, w,
        np.array([*params, tol], np.float64), np.asarray(bounds, np.float64), k, partial, stats)
    return partial, stats


def _probability_checks(stats, p, weighted):
    """scikit-learn's checks of probabilities (finite, in [0, 1]) and of their weights."""
    if stats[:, 0].any():
        if not np.isfinite(p).all():
            raise ValueError("Input y_proba contains NaN or infinity.")
        if p.max() > 1:
            raise ValueError(f"y_prob (y_proba) contains values greater than 1: {p.max()}")
        raise ValueError(f"y_prob (y_proba) contains values lower than 0: {p.min()}")
    _weight_checks(stats, weighted)


def _proba_input(y_proba, y_true, sample_weight):
    p = _numeric(_array_like(y_proba, "y_proba"), "y_proba")
    _check_dims(p, "y_proba")
    y = _labels_1d(y_true)
    _consistent_length(y_proba=p, y_true=y,
                       sample_weight=None if sample_weight is None else _array_like(sample_weight, "sample_weight"))
    return p, y, _weights(sample_weight, len(y))


def _multiclass_codes(y, labels, k):
    """scikit-learn's multiclass target checks (_validate_multiclass_probabilistic_prediction)
    and y's class indices."""
    if labels is not None:
        classes = _given_classes(labels, y)
        codes, missing = _encode(y, classes)
        if missing:
            raise ValueError(f"y_true contains values {missing} not belonging to the passed labels {labels}.")
    else:
        try:
            classes, codes = np.unique(y, return_inverse=True)
        except TypeError as exc:
            raise ValueError(f"y_true mixes label types that cannot be sorted: {exc}") from None
        codes = codes.astype(np.int64)
    _check_discrete(classes, "labels" if labels is not None else "y_true")
    _too_few_classes(classes, labels is not None)
    if len(classes) != k:
        if labels is None:
            raise ValueError(f"y_true and y_prob contain different number of classes: {len(classes)} vs {k}. "
                             "Please provide the true labels explicitly through the labels argument. "
                             f"Classes found in y_true: {classes}")
        raise ValueError(f"The number of classes in labels is different from that in y_prob (y_proba). "
                         f"Classes found in labels: {classes}")
    return codes


def _multiclass_proba(row, p, y, w, labels, params):
    """(weighted sum, weight sum) of a probability metric over an (n, k >= 2) ``y_proba``, with
    scikit-learn's checks and its warning for rows not summing to one."""
    codes = _multiclass_codes(y, labels, p.shape[1])
    eps = np.finfo(p.dtype).eps
    partial, stats = _rows_pass(row, p, codes, w, params, (0.0, 1.0), tol=1e-8 + math.sqrt(eps))
    _probability_checks(stats, p, w.size > 0)
    if partial[:, 2].any():
        warnings.warn("The y_prob values do not sum to one. Make sure to pass probabilities.",
                      UserWarning, stacklevel=3)
    return partial[:, 0].sum(), partial[:, 1].sum()


def _encoded_pass(elem, x, y, w, params, bounds, classes, pos_index):
    """A binary pass over y's indices in ``classes``; ``pos_index`` -1: no positive sample."""
    codes, _ = _encode(y, classes)
    return _BinaryPass(elem, x, codes, w, params, bounds, pos=pos_index)


def _binary_log_loss(p, y, w, labels, eps):
    """(weighted sum, weight sum, pass) of log_loss with a 1-D ``y_proba`` (the larger class's
    probability)."""
    yk = _comparable(y)
    params, bounds = (eps, 0.0, 0.0), (0.0, 1.0)
    if labels is not None:
        classes = _given_classes(labels, y)
        _check_discrete(classes, "labels")
        _too_few_classes(classes, True)
        if len(classes) != 2:
            raise ValueError("The number of classes in labels is different from that in y_prob (y_proba). "
                             f"Classes found in labels: {classes}")
        if yk is not None and classes.dtype.kind in "biuf":
            try:
                bp = _BinaryPass(_mk.binary_log_loss, p, yk, w, params, bounds, pos=classes[1].item())
            except _NotALabel:
                bp = None
            found = bp.values() if bp is not None else None
            if found is not None and set(found) <= set(classes.tolist()):
                return (*bp.total(), bp)
        codes, missing = _encode(y, classes)
        if missing:
            raise ValueError(f"y_true contains values {missing} not belonging to the passed labels {labels}.")
        bp = _BinaryPass(_mk.binary_log_loss, p, codes, w, params, bounds, pos=1)
        return (*bp.total(), bp)
    if yk is not None:
        bp = _BinaryPass(_mk.binary_log_loss, p, yk, w, params, bounds)
        found = bp.values()
        if found is not None:
            _check_discrete(found)
            _too_few_classes(np.unique(found), False)
            return (*bp.total(found[1]), bp)
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError("Input y_true contains NaN or infinity.")
    classes = _unique(y, "y_true")
    _check_discrete(classes)
    _too_few_classes(classes, False)
    if len(classes) != 2:
        raise ValueError(f"y_true and y_prob contain different number of classes: {len(classes)} vs 2. "
                         "Please provide the true labels explicitly through the labels argument. "
                         f"Classes found in y_true: {classes}")
    bp = _encoded_pass(_mk.binary_log_loss, p, y, w, params, bounds, classes, 1)
    return (*bp.total(), bp)


def log_loss(y_true, y_proba=None, *, normalize=True, sample_weight=None, labels=None, y_pred="deprecated"):
    r"""Log loss, aka logistic loss or cross-entropy loss (scikit-learn's ``log_loss``).

    .. math:: L = -\frac{\sum_i w_i \log \mathrm{clip}(p_{i, y_i}, \epsilon, 1 - \epsilon)}
              {\sum_i w_i}

    where :math:`p_{i, c}` is the predicted probability of sample i's class c (classes in
    sorted order) and :math:`\epsilon` the machine epsilon of ``y_proba``'s dtype. Rows of a 2-D
    ``y_proba`` that do not sum to 1 (relative tolerance :math:`\sqrt\epsilon`) give a
    UserWarning; they are not renormalised (scikit-learn >= 1.7).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels of any kind (integers, floats, bools, strings).
    y_proba : array-like of shape (n_samples, n_classes) or (n_samples,)
        Predicted probabilities; a 1-D array is the probability of the larger of two classes.
    normalize : bool, default=True
        Return the (weighted) mean; False returns the (weighted) sum.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights :math:`w_i`.
    labels : array-like, default=None
        All classes, when y_true does not hold every one of them.
    y_pred : array-like
        Deprecated name of ``y_proba`` (FutureWarning), as in scikit-learn 1.9.

    Returns
    -------
    loss : float
    """
    if not (isinstance(y_pred, str) and y_pred == "deprecated"):
        if y_proba is not None:
            raise ValueError("Cannot use both `y_pred` and `y_proba`. `y_pred` is deprecated, use `y_proba` instead.")
        warnings.warn("`y_pred` was renamed to `y_proba` in version 1.9 and will be removed in 1.11. "
                      "Use `y_proba` instead.", FutureWarning, stacklevel=2)
        y_proba = y_pred
    _check_bool(normalize, "normalize")
    p, y, w = _proba_input(y_proba, y_true, sample_weight)
    eps = np.finfo(p.dtype).eps
    if p.ndim == 1 or p.shape[1] == 1:
        p = np.ascontiguousarray(p.reshape(-1))
        total, wsum, bp = _binary_log_loss(p, y, w, labels, eps)
        _probability_checks(bp.stats, p, w.size > 0)
    else:
        total, wsum = _multiclass_proba(_mk.row_log_loss, p, y, w, labels, (eps, 0.0, 0.0))
    return _result(total, wsum, len(y), _ratio if normalize else _total)


def _total(total, weight_sum):
    return float(total)


def _pos_label_consistency(found, is_str, classes_repr):
    """scikit-learn's _check_pos_label_consistency for an unspecified ``pos_label``, then its
    fallback in brier_score_loss: 1 for {0, 1}, {-1, 1} and their subsets of one, else the
    larger label; string labels need pos_label."""
    if is_str:
        raise ValueError(f"y_true takes value in {{{classes_repr}}} and pos_label is not specified: either make "
                         "y_true take value in {0, 1} or {-1, 1} or pass pos_label explicitly.")
    if set(found) in ({0, 1}, {-1, 1}, {0}, {-1}, {1}):
        return 1
    return found[1]


def _binary_brier(p, y, w, pos_label):
    """(weighted sum, weight sum, pass) of the two-column Brier terms with a 1-D ``y_proba``."""
    yk = _comparable(y)
    params, bounds = (0.0, 0.0, 0.0), (0.0, 1.0)
    if yk is not None:
        try:
            bp = _BinaryPass(_mk.binary_brier, p, yk, w, params, bounds, pos=pos_label)
        except _NotALabel:
            bp = None
        found = bp.values() if bp is not None else None
        if found is not None:
            if yk.dtype.kind == "f" and not all(float(v).is_integer() for v in found):
                _not_binary("continuous")
            pos = None if pos_label is not None else _pos_label_consistency(found, False, "")
            return (*bp.total(pos), bp)
    if y.dtype.kind == "f":
        if not np.isfinite(y).all():
            raise ValueError("Input y_true contains NaN or infinity.")
        if not np.all(np.mod(y, 1) == 0):
            _not_binary("continuous")
    classes = _unique(y, "y_true")
    if len(classes) > 2:
        _not_binary("multiclass")
    if pos_label is None:
        is_str = classes.dtype.kind in "OUS"
        found = () if is_str else (classes[0].item(), classes[-1].item())
        pos_label = _pos_label_consistency(found, is_str, ", ".join(repr(c) for c in classes.tolist()))
    hit = [i for i, c in enumerate(classes.tolist()) if c == pos_label]
    bp = _encoded_pass(_mk.binary_brier, p, y, w, params, bounds, classes, hit[0] if hit else -1)
    return (*bp.total(), bp)


def _not_binary(y_type):
    raise ValueError(f"The type of the target inferred from y_true is {y_type} but should be binary according to "
                     "the shape of y_prob (y_proba).")


def brier_score_loss(y_true, y_proba, *, sample_weight=None, pos_label=None, labels=None, scale_by_half="auto"):
    r"""Brier score loss (scikit-learn's ``brier_score_loss``).

    .. math:: B = s \, \frac{\sum_i w_i \sum_c (\mathbb{1}[y_i = c] - p_{i, c})^2}{\sum_i w_i}

    summed over the classes c; a 1-D ``y_proba`` is the positive class's probability
    (:math:`p_{i, 0} = 1 - p_{i, 1}`). :math:`s = 1/2` when ``scale_by_half`` is True, or "auto"
    with at most two classes (the binary score then is the mean of :math:`(y_i - p_i)^2`), else 1.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_proba : array-like of shape (n_samples,) or (n_samples, n_classes)
        Predicted probabilities.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights :math:`w_i`.
    pos_label : int, float, bool or str, default=None
        The positive class of a binary y_true: by default 1 when the labels are in {0, 1} or
        {-1, 1}, else the larger label (strings need it).
    labels : array-like, default=None
        All classes, for a 2-D ``y_proba`` (as in :func:`log_loss`).
    scale_by_half : bool or "auto", default="auto"

    Returns
    -------
    score : float
    """
    if not (isinstance(scale_by_half, (bool, np.bool_)) or (isinstance(scale_by_half, str) and scale_by_half == "auto")):
        raise ValueError(f"scale_by_half must be a bool or 'auto', got {scale_by_half!r}")
    if pos_label is not None and not isinstance(pos_label, (numbers.Real, str, np.bool_)):
        raise TypeError(f"pos_label must be an int, float, bool or str, got {pos_label!r}")
    p, y, w = _proba_input(y_proba, y_true, sample_weight)
    if p.ndim == 1 or p.shape[1] == 1:
        p = np.ascontiguousarray(p.reshape(-1))
        total, wsum, bp = _binary_brier(p, y, w, pos_label)
        _probability_checks(bp.stats, p, w.size > 0)
        k = 1
    else:
        total, wsum = _multiclass_proba(_mk.row_brier, p, y, w, labels, (0.0, 0.0, 0.0))
        k = p.shape[1]
    if scale_by_half == "auto":
        scale_by_half = k < 3
    return _result(total, wsum, len(y), _half_ratio if scale_by_half else _ratio)


def _half_ratio(total, weight_sum):
    return float(_divide(total, weight_sum) * 0.5)


def hinge_loss(y_true, pred_decision, *, labels=None, sample_weight=None):
    r"""Average hinge loss (scikit-learn's ``hinge_loss``).

    Binary (1-D ``pred_decision`` :math:`d_i`, labels encoded as :math:`s_i = \pm 1`, +1 for the
    larger label): :math:`\max(0, 1 - s_i d_i)`. Multiclass (Crammer-Singer, ``pred_decision``
    of shape (n_samples, n_classes)): :math:`\max(0, 1 - d_{i, y_i} + \max_{c \ne y_i} d_{i, c})`.
    The result is their mean weighted by ``sample_weight``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    pred_decision : array-like of shape (n_samples,) or (n_samples, n_classes)
        Decision values.
    labels : array-like, default=None
        All classes of a multiclass problem.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights (as in scikit-learn, neither checked for finiteness nor sign).

    Returns
    -------
    loss : float
    """
    d = _array_like(pred_decision, "pred_decision")
    y0 = _array_like(y_true, "y_true")
    sw = None if sample_weight is None else _numeric(_array_like(sample_weight, "sample_weight"), "sample_weight")
    _consistent_length(y_true=y0, pred_decision=d, sample_weight=sw)
    if d.dtype.kind in "OUS" and d.dtype.kind != "O":
        raise ValueError("pred_decision must be numeric, got strings")
    d = _numeric(d, "pred_decision")
    _check_dims(d, "pred_decision")
    y = _labels_1d(y0)
    if sw is not None and sw.ndim != 1:
        raise TypeError(f"sample_weight must be 1-D (shape {sw.shape} differs from the losses' {(len(y),)})")
    w = _EMPTY_W if sw is None else np.ascontiguousarray(sw)
    n_labels = len(_unique(_array_like(labels, "labels"), "labels")) if labels is not None else None
    multiclass_d = d.ndim == 2 and d.shape[1] > 1
    if n_labels is not None and n_labels > 2 or labels is None and multiclass_d:
        classes = _unique(_array_like(labels, "labels"), "labels") if labels is not None else _unique(y, "y_true")
        if len(classes) > 2:
            return _multiclass_hinge(d, y, w, classes, labels is not None)
    if multiclass_d:
        raise ValueError(f"y should be a 1d array, got an array of shape {d.shape} instead (pred_decision).")
    d = np.ascontiguousarray(d.reshape(-1))
    yk = _comparable(y)
    params, bounds = (0.0, 0.0, 0.0), _finite_bounds(d.dtype)
    if yk is not None:
        bp = _BinaryPass(_mk.binary_hinge, d, yk, w, params, bounds)
        _operand_checks(bp.stats, ((d, "pred_decision"),))
        found = bp.values()
        if found is not None:
            _check_discrete(found)
            # LabelBinarizer(neg_label=-1): one class present encodes every sample as -1.
            total, wsum = bp.total(found[1] if found[0] != found[1] else None)
            return _result(total, wsum, len(y))
    classes = _unique(y, "y_true")
    _check_discrete(classes)
    if len(classes) > 2 and labels is None:
        raise ValueError("The shape of pred_decision cannot be 1d array with a multiclass target. pred_decision "
                         f"shape must be (n_samples, n_classes), that is ({len(y)}, {len(classes)}). Got: {d.shape}")
    # Two classes: +1 for the larger; more (only with labels of at most two): LabelBinarizer's
    # first column, +1 for the smallest; one: -1 for all.
    pos = 1 if len(classes) == 2 else (0 if len(classes) > 2 else -1)
    bp = _encoded_pass(_mk.binary_hinge, d, y, w, params, bounds, classes, pos)
    _operand_checks(bp.stats, ((d, "pred_decision"),))
    return _result(*bp.total(), len(y))


def _multiclass_hinge(d, y, w, classes, labels_given):
    n = len(y)
    if d.ndim == 1:
        raise ValueError("The shape of pred_decision cannot be 1d array with a multiclass target. pred_decision "
                         f"shape must be (n_samples, n_classes), that is ({n}, {len(classes)}). Got: {d.shape}")
    if len(classes) != d.shape[1]:
        if not labels_given:
            raise ValueError("Please include all labels in y_true or pass labels as third argument")
        raise ValueError("The shape of pred_decision is not consistent with the number of classes. With a "
                         "multiclass target, pred_decision shape must be (n_samples, n_classes), that is "
                         f"({n}, {len(classes)}). Got: {d.shape}")
    codes, missing = _encode(y, classes)
    if missing:
        raise ValueError(f"y_true contains previously unseen labels: {sorted(missing, key=str)}")
    partial, stats = _rows_pass(_mk.row_hinge, d, codes, w, (0.0, 0.0, 0.0), _finite_bounds(d.dtype))
    _operand_checks(stats, ((d, "pred_decision"),))
    return _result(partial[:, 0].sum(), partial[:, 1].sum(), n)
