"""Decoders: node embedding -> a parameter tensor of any shape, for all nodes of a shape at once.

Every decoder maps ``h: (n, hidden)`` and a 2-D target ``(rows, cols)`` (the parameter's matrix
view, :func:`~hyperweights.graph.graph.matrix_shape`) to ``(n, rows, cols)``:

- :class:`TiledDecoder` (GHN-2/3): an MLP emits a fixed ``(P, Q)`` block that is repeated
  (tiled) along both axes and sliced to ``(rows, cols)``. Its size grows with ``P * Q``, and a
  layer wider than the block repeats values.
- :class:`LowRankDecoder` (LoGAH): an MLP ``hidden -> 4 hidden -> 8 hidden -> 2r * r`` viewed as
  ``[2r, r]``, a ReLU, a ``Linear(r -> ck)`` giving ``[2r, ck]`` viewed as ``[2ck, r]`` = ``A`` and
  ``Bᵀ`` (each ``[ck, r]``), and ``W = A[:rows] @ B[:, :cols]``. A layer up to ``ck`` wide costs
  ``O(ck * r)`` decoder parameters instead of a block of ``ck²``; wider layers repeat (tile).

:func:`normalize` is GHN-2's operation-dependent normalisation of what a decoder emits.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..targets import mlp

__all__ = ["TiledDecoder", "LowRankDecoder", "normalize", "DECODERS"]


class _Decoder(nn.Module):
    """What both decoders share: a learned output gain, initialised so that the decoded numbers
    have unit variance for unit-variance node embeddings (GHN-2's normalisation then sets the
    scale per operation; without it the first predictions are an order of magnitude too small)."""

    def _init_gain(self, hidden: int) -> None:
        self.gain = nn.Parameter(torch.ones(()))
        with torch.no_grad():
            probe = self(torch.randn(256, hidden, generator=torch.Generator().manual_seed(0)), 64, 64)
            self.gain.fill_(1.0 / float(probe.std().clamp(min=1e-8)))

    def forward(self, h: Tensor, rows: int, cols: int) -> Tensor:
        return self.expand(self.code(h), rows, cols)


def _tile(w: Tensor, rows: int, cols: int) -> Tensor:
    """Repeat ``w: (n, p, q)`` along its last two axes and slice to ``(n, rows, cols)``."""
    p, q = w.shape[-2:]
    if rows > p or cols > q:
        w = w.repeat(1, math.ceil(rows / p), math.ceil(cols / q))
    return w[:, :rows, :cols]


class TiledDecoder(_Decoder):
    """GHN-2/3's decoder: an MLP to a ``(P, Q)`` block, tiled and sliced to the target shape.

    Args:
        hidden: node embedding size; block: ``(P, Q)``; widths: the MLP's hidden widths.

    Example:
        >>> TiledDecoder(8, block=(4, 4))(torch.randn(3, 8), 10, 2).shape
        torch.Size([3, 10, 2])
    """

    def __init__(self, hidden: int, block: tuple[int, int] = (16, 16), widths: tuple[int, ...] | None = None):
        super().__init__()
        self.block = tuple(block)
        widths = tuple(widths) if widths is not None else (4 * hidden, 8 * hidden)
        self.net = mlp((hidden, *widths, self.block[0] * self.block[1]))
        self._init_gain(hidden)

    def code(self, h: Tensor) -> Tensor:
        """The blocks ``(n, P, Q)`` of the nodes ``h: (n, hidden)``."""
        return self.net(h).view(-1, *self.block)

    def expand(self, code: Tensor, rows: int, cols: int) -> Tensor:
        """``(n, rows, cols)`` from blocks of :meth:`code`."""
        return _tile(code * self.gain, rows, cols)

    def expand_rows(self, code: Tensor, rows: int, cols: int, start: int, stop: int) -> Tensor:
        """Rows ``start:stop`` of :meth:`expand` ``(code, rows, cols)``, without the others."""
        idx = torch.arange(start, stop, device=code.device) % min(rows, self.block[0])
        return _tile(code[:, idx] * self.gain, stop - start, cols)


class LowRankDecoder(_Decoder):
    """LoGAH's low-rank decoder: ``W = A B`` with ``A, Bᵀ in R^{ck x r}`` from one small code.

    Args:
        hidden: node embedding size; rank: ``r``; max_ck: ``ck``, the widest layer predicted
            without repetition; widths: the MLP's hidden widths (LoGAH: ``4 hidden, 8 hidden``).

    Example:
        >>> LowRankDecoder(8, rank=4, max_ck=32)(torch.randn(3, 8), 20, 7).shape
        torch.Size([3, 20, 7])
    """

    def __init__(self, hidden: int, rank: int = 16, max_ck: int = 1024, widths: tuple[int, ...] | None = None):
        super().__init__()
        self.rank, self.max_ck = rank, max_ck
        widths = tuple(widths) if widths is not None else (4 * hidden, 8 * hidden)
        self.net = mlp((hidden, *widths, 2 * rank * rank))
        self.up = nn.Linear(rank, max_ck)
        self._init_gain(hidden)

    def code(self, h: Tensor) -> Tensor:
        """``[A; Bᵀ]: (n, 2ck, r)`` of the nodes ``h: (n, hidden)``."""
        r, ck = self.rank, self.max_ck
        z = self.up(torch.relu(self.net(h).view(-1, 2 * r, r)))         # (n, 2r, ck)
        return z.reshape(-1, 2 * ck, r)                                    # LoGAH's [2ck, r] view

    def expand(self, code: Tensor, rows: int, cols: int) -> Tensor:
        """``W = A[:rows] @ B[:, :cols]``, ``(n, rows, cols)`` (tiled beyond ``ck``)."""
        ck = self.max_ck
        a, bt = code[:, :min(rows, ck)], code[:, ck:ck + min(cols, ck)]
        w = a @ bt.transpose(1, 2)
        return _tile(w * self.gain, rows, cols)

    def expand_rows(self, code: Tensor, rows: int, cols: int, start: int, stop: int) -> Tensor:
        """Rows ``start:stop`` of :meth:`expand` ``(code, rows, cols)``, without the others."""
        ck = self.max_ck
        idx = torch.arange(start, stop, device=code.device) % min(rows, ck)
        w = code[:, idx] @ code[:, ck:ck + min(cols, ck)].transpose(1, 2)
        return _tile(w * self.gain, stop - start, cols)


def normalize(p: Tensor, kind: str) -> Tensor:
    """GHN-2's operation-dependent normalisation of predicted parameters ``p: (n, *shape)``.

    Weights (2-D and more) are scaled to He's fan-in variance, ``p * sqrt(2 / fan_in)``; norm
    weights become ``2 sigmoid(p / 2)`` (in ``[0, 2]``); biases ``tanh(p / 5)`` (in ``[-1, 1]``);
    positional encodings and embeddings are left as they are.

    Example:
        >>> normalize(torch.zeros(1, 4), "norm_weight")
        tensor([[1., 1., 1., 1.]])
    """
    if kind in ("pos_enc", "embedding"):
        return p
    if p.ndim > 2:
        return p * math.sqrt(2.0 / p[0, 0].numel())
    if kind == "norm_weight":
        return 2 * torch.sigmoid(0.5 * p)
    return torch.tanh(0.2 * p)


#: the decoders by name
DECODERS = {"tiled": TiledDecoder, "lowrank": LowRankDecoder}
