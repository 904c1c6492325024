"""Recurrent trunk: generates the target token by token (layer by layer or chunk by chunk), so
later layers' weights depend on earlier ones through the recurrent state — the
dependency-preserving hypernetwork of Chandra et al. (WACV 2023, arXiv 2209.07712)."""

from __future__ import annotations

from torch import Tensor, nn

from .._checks import check_int
from .base import Trunk, join_tokens

__all__ = ["RNNTrunk"]


class RNNTrunk(Trunk):
    """GRU or LSTM run over the head's token sequence with input ``[condition ; token_i]``.

    Args:
        hidden: recurrent state width (the features handed to the head).
        cell: ``"gru"`` or ``"lstm"``.
        layers: stacked recurrent layers.

    Needs a tokenised head (:class:`~hyperweights.heads.ChunkedHead` or
    :class:`~hyperweights.heads.PerLayerHead`); the ``W`` conditions run as the RNN's batch.

    Example:
        >>> import torch
        >>> trunk = RNNTrunk(hidden=8)
        >>> trunk.bind(cond_dim=4, token_dim=3, num_tokens=5)
        >>> trunk(torch.randn(2, 4), torch.randn(5, 3)).shape
        torch.Size([2, 5, 8])
    """

    needs_tokens = True

    def __init__(self, hidden: int = 64, cell: str = "gru", layers: int = 1):
        super().__init__()
        if cell not in ("gru", "lstm"):
            raise ValueError(f"cell must be 'gru' or 'lstm', got {cell!r}")
        check_int(hidden, "hidden", "RNNTrunk")
        check_int(layers, "layers", "RNNTrunk")
        self._config = {"hidden": hidden, "cell": cell, "layers": layers}
        self.hidden, self.cell, self.layers = hidden, cell, layers
        self.out_dim = hidden

    def bind(self, cond_dim: int, token_dim: int, num_tokens: int) -> None:
        rnn = nn.GRU if self.cell == "gru" else nn.LSTM
        self.rnn = rnn(cond_dim + token_dim, self.hidden, num_layers=self.layers, batch_first=True)
        # The recurrent state is tanh-bounded; a norm restores unit second moment for the head init.
        self.norm = nn.LayerNorm(self.hidden)

    def forward(self, cond: Tensor, tokens: Tensor | None = None) -> Tensor:
        out, _ = self.rnn(join_tokens(cond, tokens))
        return self.norm(out)

    def describe(self) -> str:
        return f"RNNTrunk({self.cell.upper()} {self.hidden} x {self.layers})"
