"""The one optimizer factory: Adam with the fused kernel wherever torch has one.

torch's default Adam runs a Python loop over parameter tensors (``foreach`` at best); the fused
kernel is one call per step and measured several times faster on the benchmarks' CPU step
(``docs/results.md``). Every application and benchmark builds its optimizer here.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

__all__ = ["make_optimizer"]

#: device types with a fused Adam kernel in torch >= 2.4
_FUSED_DEVICES = {"cpu", "cuda", "mps", "xpu"}


def _groups(params) -> list[dict]:
    items = list(params)
    if not items:
        raise ValueError("make_optimizer got no parameters; pass model.parameters() or a list of "
                         "parameter groups (dicts with a 'params' key)")
    if isinstance(items[0], dict):
        groups = []
        for i, group in enumerate(items):
            if "params" not in group:
                raise ValueError(f"parameter group {i} has no 'params' key; got keys {sorted(group)}")
            groups.append(dict(group, params=[p for p in group["params"] if p.requires_grad]))
        return [g for g in groups if g["params"]]
    for p in items:
        if not isinstance(p, torch.Tensor):
            raise TypeError(f"make_optimizer expects tensors (model.parameters()) or parameter "
                            f"groups, got an item of type {type(p).__name__}")
    return [{"params": [p for p in items if p.requires_grad]}]


def make_optimizer(params: Iterable[nn.Parameter] | Iterable[dict], lr: float, *,
                   weight_decay: float = 0.0, betas: tuple[float, float] = (0.9, 0.999)
                   ) -> torch.optim.Adam:
    """Adam over the trainable tensors of ``params`` (frozen ones are dropped), fused if possible.

    Args:
        params: parameters, or Adam parameter groups (dicts with ``params`` and per-group options
            such as ``lr``).
        lr: learning rate (> 0).
        weight_decay: L2 penalty added to the gradient (Adam's, not AdamW's, decoupled form).
        betas: Adam's moment decay rates.

    Raises:
        ValueError: no trainable parameter, a non-positive ``lr`` or a negative ``weight_decay``.

    Example:
        >>> net = torch.nn.Linear(3, 2)
        >>> opt = make_optimizer(net.parameters(), lr=1e-3)
        >>> opt.defaults["fused"], len(opt.param_groups[0]["params"])
        (True, 2)
    """
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if not (isinstance(weight_decay, (int, float)) and weight_decay >= 0):
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
    groups = _groups(params)
    if not groups or not any(g["params"] for g in groups):
        raise ValueError("make_optimizer found no trainable parameter (every tensor has "
                         "requires_grad=False); unfreeze what should train")
    tensors = [p for g in groups for p in g["params"]]
    fused = all(p.device.type in _FUSED_DEVICES and p.is_floating_point() for p in tensors)
    return torch.optim.Adam(groups, lr=lr, weight_decay=weight_decay, betas=betas,
                            fused=fused or None)
