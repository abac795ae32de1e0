"""numloss: every torch.nn loss on NumPy arrays, with fused gradients, on the CPU.

Functions carry torch.nn.functional's names and arguments (``numloss.mse_loss``,
``numloss.cross_entropy``, ...), classes torch.nn's (``numloss.MSELoss``, ...). Every function
takes ``return_grad=True`` to return ``(loss, gradient)`` computed in one fused pass; see the
README and docs/api.md for the contract.

Masked arrays (``numpy.ma``) are refused with a TypeError rather than computed as if nothing
were masked: pass the mask as weights (``sample_weight=~np.ma.getmaskarray(x)``) or the unmasked
entries (``x.compressed()``).
"""
from ._accumulate import Accumulator
from ._buffers import get_buffer_cache_limit, set_buffer_cache_limit
from ._threads import get_num_threads, set_num_threads
from .losses import classification as _classification
from .losses import ctc as _ctc_losses  # not "_ctc": that is the compiled extension
from .losses import embedding as _embedding
from .losses import margin as _margin
from .losses import probabilistic as _probabilistic
from .losses import regression as _regression
from .losses.classification import *  # noqa: F403
from .losses.ctc import *  # noqa: F403
from .losses.embedding import *  # noqa: F403
from .losses.margin import *  # noqa: F403
from .losses.probabilistic import *  # noqa: F403
from .losses.regression import *  # noqa: F403

from . import functional  # noqa: E402  (after the losses it re-exports)

__version__ = "0.1.0"


def __getattr__(name):  # numloss.metrics is imported on first use, not by "import numloss"
    if name == "metrics":
        import importlib

        return importlib.import_module(".metrics", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "Accumulator",
    "set_num_threads",
    "get_num_threads",
    "set_buffer_cache_limit",
    "get_buffer_cache_limit",
    *_regression.__all__,
    *_margin.__all__,
    *_probabilistic.__all__,
    *_classification.__all__,
    *_embedding.__all__,
    *_ctc_losses.__all__,
]
