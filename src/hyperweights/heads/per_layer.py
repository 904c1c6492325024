"""Component-wise: a shared head + one learned embedding per target layer."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .._checks import check_int
from ..parametrize.init import init_block, pooled_stats
from .base import Head

__all__ = ["PerLayerHead"]


class PerLayerHead(Head):
    """One token per generated layer (module); a shared ``Linear(d_h, max_layer_size)`` emits each
    layer's parameters, trimmed to that layer's size.

    Args:
        embedding_dim: width of the layer embeddings.

    Example:
        >>> from torch import nn
        >>> from hyperweights.targets.spec import SpecTable
        >>> net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
        >>> head = PerLayerHead(embedding_dim=4)
        >>> head.prepare(SpecTable.from_parameters(net.named_parameters()))
        >>> head.num_tokens
        2
        >>> head.bind(in_dim=5, init="hyperfan")
        >>> head(torch.randn(2, 2, 5)).shape
        torch.Size([2, 26])
    """

    def __init__(self, embedding_dim: int = 16):
        super().__init__()
        check_int(embedding_dim, "embedding_dim", "PerLayerHead")  # width 0: every layer the same features
        self._config = {"embedding_dim": embedding_dim}
        self.embedding_dim = embedding_dim

    def prepare(self, specs) -> None:
        super().prepare(specs)
        sizes = specs.layer_sizes()
        self._make_tokens(len(sizes), self.embedding_dim)
        self.width = max(sizes)
        # flat position of every generated scalar in the (N * width) grid of head outputs
        index = torch.cat([torch.arange(size) + i * self.width for i, size in enumerate(sizes)])
        self.register_buffer("index", index, persistent=False)

    def bind(self, in_dim: int, init: str, feature_norm: float = 1.0) -> None:
        self.out = nn.Linear(in_dim, self.width)
        mean, std = pooled_stats(self.specs)
        init_block(self.out.weight, self.out.bias, slice(0, self.width), mean, std, init, feature_norm)

    def forward(self, features: Tensor) -> Tensor:
        grid = self.out(features).reshape(features.shape[0], -1)     # (W, N * width)
        return grid.index_select(1, self.index)

    def describe(self) -> str:
        return f"PerLayerHead({self.num_tokens} layers, width {self.width}, emb {self.embedding_dim})"
