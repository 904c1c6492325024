"""All at once: one linear layer emits every generated scalar (the review's "generate once")."""

from __future__ import annotations

from torch import Tensor, nn

from ..parametrize.init import init_block
from .base import Head

__all__ = ["FullHead"]


class FullHead(Head):
    """One ``Linear(d_h, P)`` whose output is split per tensor; each tensor's block of rows is
    initialised on its own (per-tensor fan-out).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from hyperweights.target.spec import SpecTable
        >>> head = FullHead()
        >>> head.prepare(SpecTable.from_parameters(nn.Linear(3, 2).named_parameters()))
        >>> head.bind(in_dim=5, init="hyperfan")
        >>> head(torch.randn(4, 1, 5)).shape
        torch.Size([4, 8])
    """

    def __init__(self):
        super().__init__()
        self._config = {}

    def bind(self, in_dim: int, init: str) -> None:
        self.out = nn.Linear(in_dim, self.specs.total)
        for s in self.specs:
            init_block(self.out.weight, self.out.bias, slice(s.offset, s.offset + s.numel),
                       s.init_mean, s.init_std, in_dim, init)

    def forward(self, features: Tensor) -> Tensor:
        return self.out(self._single(features))

    def describe(self) -> str:
        return f"FullHead(P={self.specs.total})"
