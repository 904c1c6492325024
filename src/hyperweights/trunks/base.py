"""Base class of trunks, the review's "architecture" of the hypernetwork."""

from __future__ import annotations

import torch
from torch import Tensor

from .._parts import Part

__all__ = ["Trunk", "join_tokens"]


class Trunk(Part):
    """Maps a condition batch and the head's tokens to features.

    ``forward(cond: (W, d_c), tokens: (N, d_t) | None) -> (W, N, out_dim)``; ``N = 1`` when the head
    has no tokens. A trunk is built lazily by :meth:`bind` once the hypernetwork knows ``d_c``,
    ``d_t`` and ``N``, so users write ``MLP(hidden=(64,))`` without computing input widths.
    """

    out_dim: int
    #: trunks that run over the token sequence (RNN, attention) need a tokenised head
    needs_tokens: bool = False

    def bind(self, cond_dim: int, token_dim: int, num_tokens: int) -> None:  # pragma: no cover
        raise NotImplementedError


def join_tokens(cond: Tensor, tokens: Tensor | None) -> Tensor:
    """``[cond ; token_i]`` for every token: ``(W, d_c), (N, d_t) -> (W, N, d_c + d_t)``."""
    if tokens is None:
        return cond.unsqueeze(1)
    w, n = cond.shape[0], tokens.shape[0]
    return torch.cat([cond.unsqueeze(1).expand(w, n, -1), tokens.unsqueeze(0).expand(w, n, -1)], dim=2)
