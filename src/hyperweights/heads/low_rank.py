"""Low-rank output: every matrix is emitted as ``A @ B.T`` of rank ``r`` (LoGAH-style decoder,
Zhou et al. 2024, arXiv 2405.16287); vectors and biases are emitted directly."""

from __future__ import annotations


import torch
from torch import Tensor, nn

from .._checks import check_int
from ..parametrize.init import init_rows, tensor_stats
from .base import Head

__all__ = ["LowRankHead"]


class LowRankHead(Head):
    """Emits factors ``A: (rows, r)`` and ``B: (cols, r)`` per matrix (``rows = shape[0]``,
    ``cols = prod(shape[1:])``); the matrix is ``A @ B.T`` reshaped to the parameter's shape.
    With :class:`~hyperweights.MIP` the result is ``W0 + A @ B.T``.

    Args:
        rank: ``r``; a matrix whose rank bound ``min(rows, cols)`` is smaller is emitted in full.

    Example:
        >>> from torch import nn
        >>> from hyperweights.targets.spec import SpecTable
        >>> head = LowRankHead(rank=2)
        >>> head.prepare(SpecTable.from_parameters(nn.Linear(30, 20).named_parameters()))
        >>> head.bind(in_dim=5, init="target_stats")
        >>> head(torch.randn(3, 1, 5)).shape
        torch.Size([3, 620])
        >>> head.out.out_features      # (20 + 30) * 2 factors + 20 bias entries
        120
    """

    def __init__(self, rank: int = 8):
        super().__init__()
        check_int(rank, "rank", "LowRankHead")
        self._config = {"rank": rank}
        self.rank = rank

    def prepare(self, specs) -> None:
        super().prepare(specs)
        # layout of the emitted vector: per tensor either (A, B) factors or the tensor itself
        self.plan = []
        offset = 0
        for s in specs:
            rows, cols = s.matrix_shape if s.is_matrix else (s.numel, 1)
            if s.is_matrix and self.rank < min(rows, cols):
                size = (rows + cols) * self.rank
                self.plan.append(("lowrank", s, offset, rows, cols))
            else:
                size = s.numel
                self.plan.append(("direct", s, offset, rows, cols))
            offset += size
        self.emitted = offset

    def bind(self, in_dim: int, init: str, feature_norm: float = 1.0) -> None:
        self.out = nn.Linear(in_dim, self.emitted)
        for kind, s, off, rows, cols in self.plan:
            mean, std = tensor_stats(s, self.specs, init, in_dim)
            if kind == "direct":
                init_rows(self.out.weight, self.out.bias, slice(off, off + s.numel), mean, std, feature_norm)
            else:
                # entries of A @ B.T sum r products: factor std (std_k^2 / r)^(1/4) matches std_k;
                # the mean goes to neither factor (a rank-r product cannot carry a constant offset)
                init_rows(self.out.weight, self.out.bias, slice(off, off + (rows + cols) * self.rank),
                          0.0, (std ** 2 / self.rank) ** 0.25, feature_norm)

    def forward(self, features: Tensor) -> Tensor:
        code = self.out(self._single(features))                      # (W, emitted)
        w = code.shape[0]
        parts = []
        for kind, s, off, rows, cols in self.plan:
            if kind == "direct":
                parts.append(code[:, off:off + s.numel])
            else:
                a = code[:, off:off + rows * self.rank].view(w, rows, self.rank)
                b = code[:, off + rows * self.rank:off + (rows + cols) * self.rank].view(w, cols, self.rank)
                parts.append(torch.bmm(a, b.transpose(1, 2)).reshape(w, -1))
        return torch.cat(parts, dim=1)

    def factored(self, features: Tensor, names) -> tuple[dict[str, Tensor], dict[str, tuple[Tensor, Tensor]]]:
        """The generated weights with the low-rank matrices named in ``names`` left as factors.

        Returns:
            ``({name: (W, *shape)}`` for every other tensor, ``{name: (A: (W, rows, r),
            B: (W, cols, r))})``, ``A @ B.T`` being what :meth:`forward` would emit for ``name``.
        """
        code = self.out(self._single(features))
        w = code.shape[0]
        direct, factors = {}, {}
        for kind, s, off, rows, cols in self.plan:
            if kind == "direct":
                direct[s.name] = code[:, off:off + s.numel].view(w, *s.shape)
                continue
            a = code[:, off:off + rows * self.rank].view(w, rows, self.rank)
            b = code[:, off + rows * self.rank:off + (rows + cols) * self.rank].view(w, cols, self.rank)
            if s.name in names:
                factors[s.name] = (a, b)
            else:
                direct[s.name] = torch.bmm(a, b.transpose(1, 2)).view(w, *s.shape)
        return direct, factors

    def factorable(self) -> list[str]:
        """Names of the tensors this head emits as low-rank factors."""
        return [s.name for kind, s, *_ in self.plan if kind == "lowrank"]

    def describe(self) -> str:
        n = sum(1 for p in self.plan if p[0] == "lowrank")
        return f"LowRankHead(rank {self.rank}, {n} low-rank matrices)"
