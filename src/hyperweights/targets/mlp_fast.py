"""Batched-matmul fast path for MLP targets (an ``nn.Sequential`` of Linear layers and
element-wise activations).

Why: ``torch.func.vmap`` turns a Linear with a batched weight and a shared input into a
broadcasting ``matmul``, which on CPU runs 3-4x slower than the equivalent ``bmm`` of an expanded
input (measured: 5.8 ms vs 1.65 ms for 32 members of a 784->100 layer at B = 16); with ``W == B`` it
becomes ``B`` matrix-vector products the same way. For the targets hypernetworks are most often
used with, this module runs the stack directly as ``bmm`` calls. It is only taken when the result
is provably the same as the vmapped ``functional_call``: an exact ``nn.Sequential`` (not a subclass
with its own ``forward``), plain ``nn.Linear`` layers, parameter-free element-wise modules, dropout
that is off, no hooks, and a 2-D input. Everything else goes through ``vmap``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["linear_stack", "stack_forward", "single_forward"]

_ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.Softplus,
                nn.Mish, nn.Identity)


def _plain(module: nn.Module) -> bool:
    return not (module._forward_hooks or module._forward_pre_hooks)


def linear_stack(target: nn.Module) -> bool:
    """True when ``target`` is an MLP the fast path computes exactly."""
    if type(target) is not nn.Sequential or not _plain(target) or len(target) == 0:
        return False
    if nn.modules.module._global_forward_hooks or nn.modules.module._global_forward_pre_hooks:
        return False
    for module in target:
        if not _plain(module):
            return False
        if type(module) is nn.Linear:
            continue
        if type(module) in _ELEMENTWISE:
            continue
        if type(module) is nn.Dropout and (not module.training or module.p == 0):
            continue
        return False
    return any(type(m) is nn.Linear for m in target)


def stack_forward(target: nn.Sequential, weights: dict[str, Tensor], x: Tensor, shared: bool) -> Tensor:
    """Run an MLP target with ``K`` weight sets.

    Args:
        target: a module for which :func:`linear_stack` is True.
        weights: ``{name: (K, *shape)}`` for the generated parameters; the rest are read from it.
        x: ``(B, in)``, or ``(K, B, in)`` with ``shared=True``: set ``k`` runs on ``x[k]`` (the
            zoo's per-member batches).
        shared: True for an ensemble (every set sees all of ``x``, or its own ``x[k]``: returns
            ``(K, B, out)``); False for per-sample weights (``K == B``, set ``i`` sees row ``i``:
            returns ``(B, out)``).
    """
    k = next(iter(weights.values())).shape[0]
    h = x if shared else x.unsqueeze(1)                      # (B, in) or (B, 1, in)
    for index, module in enumerate(target):
        if type(module) is not nn.Linear:
            h = module(h)
            continue
        w = weights.get(f"{index}.weight")
        w = module.weight.expand(k, *module.weight.shape) if w is None else w
        b = weights.get(f"{index}.bias")
        if b is None and module.bias is not None:
            b = module.bias.expand(k, *module.bias.shape)
        if h.ndim == 2:                                       # shared input, first layer
            h = h.expand(k, *h.shape)
        h = torch.bmm(h, w.transpose(1, 2)) if b is None else torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
    return h if shared else h.squeeze(1)


def single_forward(target: nn.Sequential, weights: dict[str, Tensor], x: Tensor) -> Tensor:
    """Run an MLP target with one weight set ``{name: (1, *shape)}`` on ``x: (B, in)`` -> ``(B, out)``.

    The same result as ``functional_call`` with ``w[0]``, without swapping the module's parameters
    (about half the cost of a small MLP's forward at batch 128).

    Example:
        >>> net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
        >>> w = {"0.weight": torch.randn(1, 4, 3), "2.bias": torch.zeros(1, 2)}
        >>> single_forward(net, w, torch.randn(5, 3)).shape
        torch.Size([5, 2])
    """
    h = x
    for index, module in enumerate(target):
        if type(module) is not nn.Linear:
            h = module(h)
            continue
        w = weights.get(f"{index}.weight")
        b = weights.get(f"{index}.bias")
        h = torch.nn.functional.linear(h, module.weight if w is None else w[0],
                                       module.bias if b is None else b[0])
    return h
