"""scikit-learn's metrics that are sums over samples, with its names, signatures, defaults,
return types and numbers (scikit-learn 1.9.1), computed by fused, parallel Numba kernels.

Every function takes ``y_true, y_pred`` (``y_proba`` / ``pred_decision`` for the classification
metrics, as scikit-learn names them) and keyword-only options. Sums are accumulated in float64
per block of samples, so a result has the same bits for any thread count; float32 inputs are
read as float32, and the per-sample terms are computed in the dtype scikit-learn computes them
in. Where scikit-learn raises, the same built-in exception class is raised (its
``InvalidParameterError`` is a ValueError and a TypeError: numloss raises ValueError for a bad
value, TypeError for a bad type), with a message naming the argument. The validity checks
(finite values, probabilities in [0, 1], the domain of a deviance) are made in the same pass as
the sum.

This module never imports scikit-learn.
"""
from ._classification import *  # noqa: F403
from ._classification import __all__ as _classification_all
from ._regression import *  # noqa: F403
from ._regression import __all__ as _regression_all

__all__ = [*_regression_all, *_classification_all]
