"""Multi-head: one linear head per generated tensor (the review's "generate multiple")."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..parametrize.init import init_rows, tensor_stats
from .base import Head

__all__ = ["PerTensorHead"]


class PerTensorHead(Head):
    """A separate ``Linear(d_h, numel_k)`` per tensor: the same function class as
    :class:`FullHead`, but each tensor's head is its own parameter (to freeze, mask or share).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from hyperweights.targets.spec import SpecTable
        >>> head = PerTensorHead()
        >>> head.prepare(SpecTable.from_parameters(nn.Linear(3, 2).named_parameters()))
        >>> head.bind(in_dim=5, init="target_stats")
        >>> head(torch.randn(4, 1, 5)).shape
        torch.Size([4, 8])
    """

    def __init__(self):
        super().__init__()
        self._config = {}

    def bind(self, in_dim: int, init: str, feature_norm: float = 1.0) -> None:
        self.heads = nn.ModuleList(nn.Linear(in_dim, s.numel) for s in self.specs)
        for s, lin in zip(self.specs, self.heads):
            init_rows(lin.weight, lin.bias, slice(0, s.numel), *tensor_stats(s, self.specs, init, in_dim),
                      feature_norm)

    def forward(self, features: Tensor) -> Tensor:
        h = self._single(features)
        return torch.cat([lin(h) for lin in self.heads], dim=1)

    def describe(self) -> str:
        return f"PerTensorHead({len(self.specs)} heads)"
