"""Attention trunk: self-attention over the head's layer/chunk tokens."""

from __future__ import annotations

from torch import Tensor, nn

from .._checks import check_int
from .base import Trunk, join_tokens

__all__ = ["AttentionTrunk"]


class AttentionTrunk(Trunk):
    """Transformer encoder over the tokens ``[condition ; token_i]`` (pre-norm, GELU).

    Args:
        dim: model width (the features handed to the head).
        heads: attention heads.
        layers: encoder layers.

    Example:
        >>> import torch
        >>> trunk = AttentionTrunk(dim=16, heads=2, layers=1)
        >>> trunk.bind(cond_dim=4, token_dim=3, num_tokens=5)
        >>> trunk(torch.randn(2, 4), torch.randn(5, 3)).shape
        torch.Size([2, 5, 16])
    """

    needs_tokens = True

    def __init__(self, dim: int = 64, heads: int = 4, layers: int = 2):
        super().__init__()
        for name, value in (("dim", dim), ("heads", heads), ("layers", layers)):
            check_int(value, name, "AttentionTrunk")
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
        self._config = {"dim": dim, "heads": heads, "layers": layers}
        self.dim, self.heads, self.layers = dim, heads, layers
        self.out_dim = dim

    def bind(self, cond_dim: int, token_dim: int, num_tokens: int) -> None:
        self.proj = nn.Linear(cond_dim + token_dim, self.dim)
        block = nn.TransformerEncoderLayer(self.dim, self.heads, dim_feedforward=2 * self.dim,
                                           dropout=0.0, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(block, self.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(self.dim)

    def forward(self, cond: Tensor, tokens: Tensor | None = None) -> Tensor:
        return self.norm(self.encoder(self.proj(join_tokens(cond, tokens))))

    def describe(self) -> str:
        return f"AttentionTrunk(dim {self.dim}, {self.heads} heads, {self.layers} layers)"
