"""Composition of conditioners."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Conditioner

__all__ = ["Concat"]


class Concat(Conditioner):
    """Concatenate several conditions: called with a tuple (one input per conditioner).

    A part with ``W = 1`` is broadcast to the others' ``W``.

    Example:
        >>> from hyperweights.conditioning import TaskEmbedding, HyperparameterCondition
        >>> cond = Concat(TaskEmbedding(3, 4), HyperparameterCondition(1))
        >>> cond((torch.tensor([0, 2]), torch.tensor([[0.5], [0.2]]))).shape
        torch.Size([2, 6])
    """

    serializable = False

    def __init__(self, *conditioners: Conditioner, parts: list[dict] | None = None):
        super().__init__()
        if parts is not None:  # rebuilt from a checkpoint config
            from .._parts import build_part
            conditioners = tuple(build_part(p) for p in parts)
        if not conditioners or not all(isinstance(c, Conditioner) for c in conditioners):
            raise TypeError("Concat takes one or more Conditioner instances, e.g. Concat(TaskEmbedding(5, 8), "
                            f"NoiseCondition(4)); got {[type(c).__name__ for c in conditioners]}")
        self.parts = nn.ModuleList(conditioners)
        self.out_dim = sum(c.out_dim for c in conditioners)
        self.serializable = all(c.serializable for c in conditioners)
        self._config = {"parts": [{"class": type(c).__name__, "config": c.get_config()} for c in conditioners]}

    def forward(self, conditions) -> Tensor:
        if not isinstance(conditions, (tuple, list)) or len(conditions) != len(self.parts):
            raise ValueError(f"Concat expects a tuple of {len(self.parts)} conditions, one per part "
                             f"({', '.join(type(p).__name__ for p in self.parts)}); got {type(conditions).__name__}"
                             + (f" of {len(conditions)}" if isinstance(conditions, (tuple, list)) else ""))
        codes = [part(c) for part, c in zip(self.parts, conditions)]
        sizes = {c.shape[0] for c in codes}
        width = max(sizes)
        if not sizes <= {1, width}:
            raise ValueError(f"the parts produced condition batches {sorted(sizes)}; each must be 1 or {width}")
        return torch.cat([c.expand(width, -1) for c in codes], dim=1)

    def describe(self) -> str:
        return "Concat(" + ", ".join(p.describe() for p in self.parts) + ")"
