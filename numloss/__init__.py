"""numloss: every torch.nn loss on NumPy arrays, with fused gradients, on the CPU.

Functions carry torch.nn.functional's names and arguments (``numloss.mse_loss``,
``numloss.cross_entropy``, ...), classes torch.nn's (``numloss.MSELoss``, ...). Every function
takes ``return_grad=True`` to return ``(loss, gradient)`` computed in one pass.
"""
from ._threads import get_num_threads, set_num_threads
from .losses.regression import *  # noqa: F403
from .losses import regression as _regression

__version__ = "0.1.0"

__all__ = ["set_num_threads", "get_num_threads", *_regression.__all__]
