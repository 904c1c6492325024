"""Stacked, batch-first recurrent layers over the cells of :mod:`hyperweights.sequence.cells`.

The time loop is the one Python loop a recurrence cannot avoid; everything that does not depend on
the previous step (each layer's input projection for all ``T`` steps) is one matmul before it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .cells import HyperLSTMCell, LayerNormLSTMCell

__all__ = ["HyperLSTM", "LayerNormLSTM"]


class _Stacked(nn.Module):
    cell_type: type[nn.Module]

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, **cell_kwargs):
        super().__init__()
        if not (isinstance(num_layers, int) and num_layers >= 1):
            raise ValueError(f"num_layers must be a positive integer, got {num_layers!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.cells = nn.ModuleList(
            self.cell_type(input_size if k == 0 else hidden_size, hidden_size, **cell_kwargs)
            for k in range(num_layers))

    def forward(self, x: Tensor, state: list | None = None) -> tuple[Tensor, list]:
        """``x: (B, T, D)`` -> ``(output (B, T, H), final state of every layer)``.

        ``state``: a list with one cell state per layer (from a previous call, for truncated
        back-propagation through time), or ``None`` for zeros.
        """
        if not isinstance(x, Tensor) or x.ndim != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"{type(self).__name__} expects a batch-first input (B, T, "
                             f"{self.input_size}); got {tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}")
        if state is not None and len(state) != self.num_layers:
            raise ValueError(f"state must hold one cell state per layer ({self.num_layers}), got {len(state)}")
        finals = []
        for k, cell in enumerate(self.cells):
            s = state[k] if state is not None else cell.initial_state(x.shape[0], x)
            proj = cell.input_projection(x)                                 # all steps at once
            steps = []
            for t in range(x.shape[1]):
                xt = tuple(p[:, t] for p in proj) if isinstance(proj, tuple) else proj[:, t]
                s = cell.step(xt, s)
                steps.append(s[0])
            x = torch.stack(steps, 1)
            finals.append(s)
        return x, finals


class LayerNormLSTM(_Stacked):
    """Stacked layer-normalised LSTM (the paper's "Layer Norm LSTM" baseline).

    Example:
        >>> out, state = LayerNormLSTM(3, 6, num_layers=2)(torch.randn(4, 5, 3))
        >>> out.shape, len(state)
        (torch.Size([4, 5, 6]), 2)
    """

    cell_type = LayerNormLSTMCell


class HyperLSTM(_Stacked):
    """Stacked HyperLSTM (Ha, Dai & Le 2017): every layer's main LSTM weights are rescaled at every
    time step by its own hyper LSTM. Cell options (``hyper_size``, ``embedding_size``,
    ``layer_norm``, ``forget_bias``, ``dropout``) go to every layer's :class:`HyperLSTMCell`.

    Example:
        >>> layer = HyperLSTM(3, 8, hyper_size=4, embedding_size=2)
        >>> out, state = layer(torch.randn(2, 7, 3))
        >>> out.shape
        torch.Size([2, 7, 8])
    """

    cell_type = HyperLSTMCell
