"""Heads that emit one adapter matrix per (condition, module) feature vector.

- :class:`FactorHead`: one ``Linear(hidden, rows * cols)`` (HyperFormer++'s weight generators).
- :class:`DecomposedFactorHead` (Polyhistor's decomposed hypernetwork): two small generators emit a
  left ``(rows, k)`` and a right ``(cols, k)`` factor whose product is the matrix, so the head
  costs ``hidden * (rows + cols) * k`` instead of ``hidden * rows * cols``.
- :class:`ScalingKernelHead` (Polyhistor's layer-wise scaling kernels): an inner head emits a
  template with the longer side divided by ``s``; a learned per-layer kernel ``(s,)`` scales it up
  by a Kronecker product, ``M = template ⊗ kernel``, so one small template serves every layer.

``zero=True`` makes the emitted matrix start at exactly 0 while gradients still reach the head
(LoRA's ``B = 0`` start: the adapted model starts as the pretrained one). ``bound`` is the
half-width of the uniform start of a non-zero matrix (peft's LoRA A: ``1/sqrt(in)``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["DecomposedFactorHead", "FactorHead", "ScalingKernelHead"]

_FEATURE_SHARE = 0.5     # share of a matrix's starting spread that varies with the features


def _start(linear: nn.Linear, bound: float, zero: bool) -> None:
    """Bias: a uniform(-bound, bound) draw (the matrix every condition starts from); weight: small."""
    with torch.no_grad():
        if zero:
            linear.weight.zero_()
            linear.bias.zero_()
            return
        linear.bias.uniform_(-bound, bound)
        linear.weight.normal_(0.0, _FEATURE_SHARE * bound / math.sqrt(linear.in_features))


class FactorHead(nn.Module):
    """``(N, hidden)`` -> ``(N, rows, cols)`` with one linear layer.

    Example:
        >>> FactorHead(8, 2, 5, bound=0.1)(torch.randn(3, 8)).shape
        torch.Size([3, 2, 5])
    """

    def __init__(self, hidden: int, rows: int, cols: int, *, bound: float, zero: bool = False):
        super().__init__()
        self.rows, self.cols = rows, cols
        self.out = nn.Linear(hidden, rows * cols)
        _start(self.out, bound, zero)

    def forward(self, features: Tensor, layers: Tensor | None = None) -> Tensor:
        return self.out(features).view(-1, self.rows, self.cols)


class DecomposedFactorHead(nn.Module):
    """``(N, hidden)`` -> ``(N, rows, cols)`` as ``left @ right.T`` of rank ``k``.

    Example:
        >>> DecomposedFactorHead(8, 2, 5, k=2, bound=0.1)(torch.randn(3, 8)).shape
        torch.Size([3, 2, 5])
    """

    def __init__(self, hidden: int, rows: int, cols: int, *, k: int, bound: float, zero: bool = False):
        super().__init__()
        self.rows, self.cols, self.k = rows, cols, k
        self.left = nn.Linear(hidden, rows * k)
        self.right = nn.Linear(hidden, cols * k)
        # entries of left @ right.T sum k products: spread each factor so the product's is ~bound
        scale = (bound ** 2 / k) ** 0.25
        _start(self.left, scale, False)
        _start(self.right, scale, zero)          # right = 0 -> matrix = 0, gradients reach right

    def forward(self, features: Tensor, layers: Tensor | None = None) -> Tensor:
        left = self.left(features).view(-1, self.rows, self.k)
        right = self.right(features).view(-1, self.cols, self.k)
        return torch.bmm(left, right.transpose(1, 2))


class ScalingKernelHead(nn.Module):
    """A template from ``inner`` (longer side ``/ s``) times a per-layer kernel (Kronecker).

    Args:
        inner: a head emitting the template ``(N, rows / s, cols)`` or ``(N, rows, cols / s)``.
        num_layers: how many layer kernels to learn.
        scale: ``s``; the longer of ``rows``, ``cols`` must be divisible by it.
        along_rows: scale the row axis (else the column axis).

    Example:
        >>> inner = FactorHead(8, 2, 3, bound=0.1)
        >>> head = ScalingKernelHead(inner, num_layers=2, scale=4, along_rows=False)
        >>> head(torch.randn(5, 8), torch.tensor([0, 1, 1, 0, 1])).shape
        torch.Size([5, 2, 12])
    """

    def __init__(self, inner: nn.Module, *, num_layers: int, scale: int, along_rows: bool):
        super().__init__()
        self.inner, self.scale, self.along_rows = inner, scale, along_rows
        self.kernels = nn.Parameter(torch.ones(num_layers, scale))

    def forward(self, features: Tensor, layers: Tensor | None = None) -> Tensor:
        template = self.inner(features)                                     # (N, a, b)
        kernel = self.kernels[layers]                                       # (N, s)
        n, a, b = template.shape
        if self.along_rows:                                                 # (a*s, b)
            return (template[:, :, None, :] * kernel[:, None, :, None]).reshape(n, a * self.scale, b)
        return (template[:, :, :, None] * kernel[:, None, None, :]).reshape(n, a, b * self.scale)
