"""The dataset encoder: a Set Transformer (Lee et al., 2019) over a support set of (image, label) pairs.

Each pair becomes one element ``phi(x) + E[y]`` (an MLP of the image plus a label embedding), two
self-attention blocks (SAB) let the elements see each other, and pooling by multi-head attention
(PMA, one learned seed) gives one vector per support set. The result does not depend on the order
of the pairs.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..targets import mlp

__all__ = ["DatasetEncoder"]


class _MAB(nn.Module):
    """Multi-head attention block: ``H = LN(Q + MHA(Q, K, K))``, ``out = LN(H + FF(H))``."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.ff = mlp([dim, 2 * dim, dim])

    def forward(self, query: Tensor, keys: Tensor) -> Tensor:
        h = self.norm1(query + self.attention(query, keys, keys, need_weights=False)[0])
        return self.norm2(h + self.ff(h))


class DatasetEncoder(nn.Module):
    """Support set ``x: (T, N, D)``, ``y: (T, N)`` -> one embedding per set ``(T, dim)``.

    Args:
        num_features: ``D``; num_classes: labels are ``0..num_classes-1``.
        dim: output width; hidden: element width; heads: attention heads; blocks: SABs.

    Example:
        >>> enc = DatasetEncoder(6, 3, dim=8, hidden=16)
        >>> x, y = torch.randn(2, 10, 6), torch.randint(0, 3, (2, 10))
        >>> out = enc(x, y)
        >>> out.shape, torch.allclose(enc(x.flip(1), y.flip(1)), out, atol=1e-5)
        (torch.Size([2, 8]), True)
    """

    def __init__(self, num_features: int, num_classes: int, *, dim: int = 64, hidden: int = 64,
                 heads: int = 4, blocks: int = 2):
        super().__init__()
        self.num_features, self.num_classes, self.out_dim = num_features, num_classes, dim
        self.element = mlp([num_features, hidden, hidden])
        self.label = nn.Embedding(num_classes, hidden)
        self.blocks = nn.ModuleList(_MAB(hidden, heads) for _ in range(blocks))
        self.seed = nn.Parameter(torch.randn(1, 1, hidden) / hidden ** 0.5)
        self.pool = _MAB(hidden, heads)
        self.out = nn.Linear(hidden, dim)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        if x.ndim != 3 or x.shape[-1] != self.num_features or y.shape != x.shape[:2]:
            raise ValueError(f"DatasetEncoder takes support sets x (T, N, {self.num_features}) and "
                             f"labels y (T, N); got {tuple(x.shape)} and {tuple(y.shape)}")
        h = self.element(x) + self.label(y)
        for block in self.blocks:
            h = block(h, h)
        pooled = self.pool(self.seed.expand(x.shape[0], -1, -1), h)          # (T, 1, hidden)
        return self.out(pooled[:, 0])
