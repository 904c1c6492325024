"""Diagonal empirical Fisher information of a target's weights, with per-sample gradients batched
by :func:`torch.func.vmap` (used by online EWC and by the Fisher-weighted output regularizer)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

__all__ = ["fisher_diagonal"]


def fisher_diagonal(target: nn.Module, params: dict[str, Tensor], x: Tensor, y: Tensor,
                    units: Tensor, chunk: int = 256) -> dict[str, Tensor]:
    """``E[(d log p(y | x) / d theta)^2]`` over the samples, per parameter.

    Args:
        target: the network; ``params`` replace its parameters (others are read from it).
        params: ``{name: tensor}`` the weights to differentiate (no weight-set dimension).
        x: ``(N, D)`` inputs; y: ``(N,)`` local labels.
        units: ``(C,)`` the task's output units (the loss reads only those logits).
        chunk: samples per vmapped block (bounds memory at ``chunk * |params|``).

    Returns:
        ``{name: tensor shaped like params[name]}``.

    Example:
        >>> from torch import nn
        >>> net = nn.Linear(3, 2)
        >>> p = {k: v.detach() for k, v in net.named_parameters()}
        >>> f = fisher_diagonal(net, p, torch.randn(5, 3), torch.tensor([0, 1, 0, 1, 1]), torch.arange(2))
        >>> f["weight"].shape, bool((f["weight"] >= 0).all())
        (torch.Size([2, 3]), True)
    """
    params = {k: v.detach() for k, v in params.items()}

    def nll(p, xi, yi):
        logits = functional_call(target, p, (xi[None],))[0, units]
        return F.cross_entropy(logits[None], yi[None])

    per_sample = vmap(grad(nll), in_dims=(None, 0, 0))
    total = {k: torch.zeros_like(v) for k, v in params.items()}
    for start in range(0, len(x), chunk):     # blocks of samples, each one vmapped call
        g = per_sample(params, x[start:start + chunk], y[start:start + chunk])
        for k in total:
            total[k] += g[k].square().sum(0)
    return {k: v / max(len(x), 1) for k, v in total.items()}
