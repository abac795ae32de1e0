"""Evaluating a loss with torch (the oracle) and with numloss on the same inputs."""
import warnings

import numpy as np
import torch

import numloss
from numloss._registry import BY_NAME


def torch_loss_and_grads(name, args, kwargs, grad_of, grad_output=None):
    """torch's loss and its gradients w.r.t. ``args[i]`` for i in ``grad_of`` (float64 inputs
    stay float64; the torch dtype follows each NumPy array)."""
    targs = [torch.tensor(np.asarray(a)) if isinstance(a, np.ndarray) else a for a in args]
    for i in grad_of:
        targs[i].requires_grad_(True)
    tkw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        case = BY_NAME.get(name)
        loss = case.torch_loss(torch, *targs, **tkw) if case else getattr(torch.nn.functional, name)(*targs, **tkw)
    go = torch.ones_like(loss) if grad_output is None else torch.as_tensor(grad_output, dtype=loss.dtype)
    grads = torch.autograd.grad(loss, [targs[i] for i in grad_of], go, allow_unused=True)
    grads = [np.zeros(targs[i].shape) if g is None else g.numpy() for i, g in zip(grad_of, grads)]
    return loss.detach().numpy(), grads


def numloss_loss_and_grads(name, args, kwargs, grad_output=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss, grad = getattr(numloss, name)(*args, **kwargs, return_grad=True, grad_output=grad_output)
    return loss, (list(grad) if isinstance(grad, tuple) else [grad])


def assert_close(actual, expected, rtol, atol, what):
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != torch {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def fd_grad(f, x, h=1e-5, indices=None):
    """Fourth-order central differences of the scalar function ``f`` at the float64 array ``x``
    (``x`` is perturbed in place and restored), at ``indices`` of the flat array or everywhere;
    entries not computed are NaN."""
    g = np.full(x.shape, np.nan)
    flat = x.reshape(-1)
    for i in range(flat.size) if indices is None else indices:
        v = flat[i]
        vals = []
        for d in (2, 1, -1, -2):
            flat[i] = v + d * h
            vals.append(float(f(x)))
        flat[i] = v
        g.reshape(-1)[i] = (-vals[0] + 8 * vals[1] - 8 * vals[2] + vals[3]) / (12 * h)
    return g
