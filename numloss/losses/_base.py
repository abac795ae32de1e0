"""The class form of every loss: torch's class name and constructor arguments, wrapping the
functional form."""
import inspect

from .._validate import describe


class Loss:
    """Base of the loss classes. A subclass sets ``function`` (the functional form) and
    ``options`` (constructor arguments, in torch's order, with their defaults)."""

    function = None
    options = ()

    def __init__(self, *args, **kwargs):
        bound = self._signature().bind(*args, **kwargs)
        bound.apply_defaults()
        for name, value in bound.arguments.items():
            setattr(self, name, value)

    @classmethod
    def _signature(cls):
        return inspect.Signature(
            [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=d) for n, d in cls.options]
        )

    @property
    def kwargs(self):
        """The options as they are now: attributes are read at every call, as torch modules do
        (``c.delta = 2.0`` then ``c(x, y)`` uses 2.0)."""
        return {name: getattr(self, name) for name, _ in self.options}

    def __call__(self, *inputs, sample_weight=None):
        """The loss of ``inputs`` (the functional form's positional arguments), optionally
        weighted by ``sample_weight``."""
        return type(self).function(*inputs, **self.kwargs, sample_weight=sample_weight)

    def value_and_grad(self, *inputs, sample_weight=None, grad_output=None, gradient_out=None):
        """``(loss, grad)`` in one fused pass; see the functional form for ``grad``'s layout."""
        return type(self).function(
            *inputs, **self.kwargs, sample_weight=sample_weight,
            return_grad=True, grad_output=grad_output, gradient_out=gradient_out,
        )

    def __repr__(self):
        args = ", ".join(f"{k}={describe(v)}" for k, v in self.kwargs.items())
        return f"{type(self).__name__}({args})"


def loss_class(name, function, options, doc=None):
    """A :class:`Loss` subclass called ``name`` around ``function``."""
    cls = type(name, (Loss,), {"function": staticmethod(function), "options": tuple(options)})
    cls.__doc__ = doc or f"Class form of :func:`numloss.{function.__name__}` (torch.nn.{name})."
    cls.__signature__ = cls._signature()
    cls.__module__ = function.__module__
    return cls
