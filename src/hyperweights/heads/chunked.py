"""Chunk-wise: a shared head emits fixed-size chunks, one per learned chunk embedding; the last
chunk is trimmed (von Oswald et al. 2020)."""

from __future__ import annotations

import math

from torch import Tensor, nn

from .._checks import check_int
from ..parametrize.init import init_block, pooled_stats
from .base import Head

__all__ = ["ChunkedHead"]


class ChunkedHead(Head):
    """``ceil(P / chunk_size)`` chunk embeddings; every chunk comes from the same
    ``Linear(d_h, chunk_size)`` applied to the trunk's features for that chunk.

    Args:
        chunk_size: scalars per chunk.
        embedding_dim: width of the chunk embeddings (the tokens).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from hyperweights.targets.spec import SpecTable
        >>> head = ChunkedHead(chunk_size=3, embedding_dim=4)
        >>> head.prepare(SpecTable.from_parameters(nn.Linear(3, 2).named_parameters()))
        >>> head.num_tokens        # 8 scalars in chunks of 3
        3
        >>> head.bind(in_dim=5, init="hyperfan")
        >>> head(torch.randn(2, 3, 5)).shape
        torch.Size([2, 8])
    """

    def __init__(self, chunk_size: int = 4096, embedding_dim: int = 16):
        super().__init__()
        check_int(chunk_size, "chunk_size", "ChunkedHead")
        check_int(embedding_dim, "embedding_dim", "ChunkedHead")
        self._config = {"chunk_size": chunk_size, "embedding_dim": embedding_dim}
        self.chunk_size = chunk_size
        self.embedding_dim = embedding_dim

    def prepare(self, specs) -> None:
        super().prepare(specs)
        # a chunk larger than the whole target would only emit scalars that are trimmed away
        self.chunk_size = min(self._config["chunk_size"], specs.total)
        self._make_tokens(math.ceil(specs.total / self.chunk_size), self.embedding_dim)

    def bind(self, in_dim: int, init: str, feature_norm: float = 1.0) -> None:
        self.out = nn.Linear(in_dim, self.chunk_size)
        mean, std = pooled_stats(self.specs)
        init_block(self.out.weight, self.out.bias, slice(0, self.chunk_size), mean, std, init, feature_norm)

    def forward(self, features: Tensor) -> Tensor:
        chunks = self.out(features)                                  # (W, N, chunk)
        return chunks.reshape(features.shape[0], -1)[:, : self.specs.total]

    def linear_layout(self) -> tuple[nn.Linear, int]:
        return self.out, self.chunk_size

    def describe(self) -> str:
        return f"ChunkedHead({self.num_tokens} chunks x {self.chunk_size}, emb {self.embedding_dim})"
