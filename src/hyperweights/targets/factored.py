"""Linear layers applied from low-rank factors, without materialising the weight matrix.

A :class:`~hyperweights.LowRankHead` emits a matrix as ``W = A @ B.T`` (``A: (out, r)``,
``B: (in, r)``). For an ``nn.Linear`` target layer, ``x @ W.T = (x @ B) @ A.T``: two thin matmuls
of ``O((in + out) r)`` per row instead of forming the ``(out, in)`` matrix per weight set.
:class:`~hyperweights.HyperModel` takes this path for every generated Linear weight the head emits
in factored form (no parametrization, no finiteness check); other layers use the materialised
weights. Both give the same outputs and gradients up to float rounding (tested).

The Linear's ``forward`` is overridden on the instance for the duration of one call only and put
back in a ``finally`` block, so the target is unchanged afterwards, also when the call raises.
"""

from __future__ import annotations

from contextlib import contextmanager

from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["factored_linear_names", "factored_linears"]


def factored_linear_names(target: nn.Module, names) -> frozenset[str]:
    """The names among ``names`` that are the ``weight`` of an ``nn.Linear`` of ``target``.

    Example:
        >>> sorted(factored_linear_names(nn.Sequential(nn.Linear(2, 3), nn.ReLU()), ["0.weight", "0.bias"]))
        ['0.weight']
    """
    modules = dict(target.named_modules())
    found = set()
    for name in names:
        owner, _, leaf = name.rpartition(".")
        if leaf == "weight" and type(modules.get(owner)) is nn.Linear:
            found.add(name)
    return frozenset(found)


@contextmanager
def factored_linears(target: nn.Module, factors: dict[str, tuple[Tensor, Tensor]]):
    """Within the block, each Linear named in ``factors`` computes ``(x @ B) @ A.T + bias``.

    Args:
        target: the module holding the Linear layers.
        factors: ``{"<module>.weight": (A: (out, r), B: (in, r))}`` for one weight set (inside a
            ``vmap`` over weight sets each member sees its own pair).

    Example:
        >>> import torch
        >>> net = nn.Linear(4, 3)
        >>> a, b = torch.randn(3, 2), torch.randn(4, 2)
        >>> x = torch.randn(5, 4)
        >>> with factored_linears(net, {"weight": (a, b)}):
        ...     y = net(x)
        >>> torch.allclose(y, x @ (a @ b.T).T + net.bias, atol=1e-6)
        True
    """
    modules = dict(target.named_modules())
    patched = []
    try:
        for name, (a, b) in factors.items():
            layer = modules[name.rpartition(".")[0]]

            def forward(x, a=a, b=b, layer=layer):     # layer.bias is read at call time: it may be generated
                return F.linear(F.linear(x, b.transpose(-1, -2)), a, layer.bias)

            layer.forward = forward
            patched.append(layer)
        yield
    finally:
        for layer in patched:
            layer.__dict__.pop("forward", None)
