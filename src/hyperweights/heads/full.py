"""All at once: one linear layer emits every generated scalar (the review's "generate once")."""

from __future__ import annotations

from torch import Tensor, nn

from ..parametrize.init import init_rows, tensor_stats
from ._grad_buffer import GradBufferLinear
from .base import Head

__all__ = ["FullHead"]


class FullHead(Head):
    """One ``Linear(d_h, P)`` whose output is split per tensor; each tensor's block of rows is
    initialised on its own (per-tensor fan-out). Its ``P x d_h`` weight gradient is written into a
    reused buffer (see :mod:`hyperweights.heads._grad_buffer`), which removes most of the cost of a
    large head's backward pass on CPU.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from hyperweights.targets.spec import SpecTable
        >>> head = FullHead()
        >>> head.prepare(SpecTable.from_parameters(nn.Linear(3, 2).named_parameters()))
        >>> head.bind(in_dim=5, init="target_stats")
        >>> head(torch.randn(4, 1, 5)).shape
        torch.Size([4, 8])
    """

    def __init__(self):
        super().__init__()
        self._config = {}

    def bind(self, in_dim: int, init: str, feature_norm: float = 1.0) -> None:
        self.out = GradBufferLinear(in_dim, self.specs.total)
        for s in self.specs:
            init_rows(self.out.weight, self.out.bias, slice(s.offset, s.offset + s.numel),
                      *tensor_stats(s, self.specs, init, in_dim), feature_norm)

    def forward(self, features: Tensor) -> Tensor:
        return self.out(self._single(features))

    def linear_layout(self) -> tuple[nn.Linear, int]:
        return self.out, self.specs.total

    def describe(self) -> str:
        return f"FullHead(P={self.specs.total})"
