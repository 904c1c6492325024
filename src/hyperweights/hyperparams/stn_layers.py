"""Self-Tuning Networks' structured best-response layers (MacKay et al., ICLR 2019).

Each layer has an *elementary* path (an ordinary layer, scaled by a learned scalar ``s``) and a
*hyperparameter-gated* path whose output units are scaled by ``e(lambda)`` and whose bias is
gated by ``f(lambda)``, with ``[e; f] = U lambda`` (``U`` linear without bias):

    out = s * (W_elem x + b_elem) + e(lambda) * (W_hyper x) + f(lambda) * b_hyper

i.e. ``W(lambda) = s W_elem + diag(e(lambda)) W_hyper`` per output unit (channel for conv). With
``U = 0`` the gate is closed and the layer is exactly its elementary layer. ``lambda`` is
``(B, h)`` (one row per example, so per-example perturbed hyperparameters cost nothing extra) or
``(h,)``/``(1, h)`` shared by the batch.

References: MacKay, Vicol, Lorraine, Duvenaud, Grosse, "Self-Tuning Networks: Bilevel
Optimization of Hyperparameters using Structured Best-Response Functions", arXiv 1903.03088.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["StnLinear", "StnConv2d", "StnLayer"]


class StnLayer(nn.Module):
    """Shared parts: the gate ``U`` (``num_hparams -> 2 * units``) and the scale ``s``."""

    units: int

    def _init_gate(self, num_hparams: int, units: int) -> None:
        if num_hparams < 1:
            raise ValueError(f"an STN layer needs num_hparams >= 1, got {num_hparams}")
        self.num_hparams, self.units = num_hparams, units
        self.gate = nn.Linear(num_hparams, 2 * units, bias=False)
        nn.init.normal_(self.gate.weight, std=0.01)     # the reference code's N(0, 0.01) init
        self.scale = nn.Parameter(torch.ones(()))

    def gates(self, hparams: Tensor, batch: int) -> tuple[Tensor, Tensor]:
        """``(B or 1, h) -> e, f`` each ``(B or 1, units)``."""
        if hparams.ndim == 1:
            hparams = hparams.unsqueeze(0)
        if hparams.ndim != 2 or hparams.shape[1] != self.num_hparams or hparams.shape[0] not in (1, batch):
            raise ValueError(f"{type(self).__name__} expects hyperparameters of shape (B, {self.num_hparams}) "
                             f"or ({self.num_hparams},) with B={batch}; got {tuple(hparams.shape)}")
        e, f = self.gate(hparams).chunk(2, dim=1)
        return e, f

    def close_gate(self) -> None:
        """Set ``U = 0``: the layer becomes its elementary path (used by tests and warm starts)."""
        with torch.no_grad():
            self.gate.weight.zero_()


class StnLinear(StnLayer):
    """Gated hyperparameter-conditioned ``Linear``.

    Args:
        in_features, out_features, bias: as :class:`torch.nn.Linear`.
        num_hparams: the number of (transformed) hyperparameters the gate reads.

    Forward: ``x: (B, in_features)``, ``hparams: (B, h)`` or ``(h,)`` -> ``(B, out_features)``.

    Example:
        >>> layer = StnLinear(4, 3, num_hparams=2)
        >>> layer(torch.randn(5, 4), torch.randn(5, 2)).shape
        torch.Size([5, 3])
    """

    def __init__(self, in_features: int, out_features: int, num_hparams: int, bias: bool = True):
        super().__init__()
        if min(in_features, out_features) < 1:
            raise ValueError(f"StnLinear needs in_features and out_features >= 1, got {in_features}, {out_features}")
        self.in_features, self.out_features = in_features, out_features
        self.elem = nn.Linear(in_features, out_features, bias=bias)
        self.hyper_weight = nn.Parameter(torch.empty(out_features, in_features))
        self.hyper_bias = nn.Parameter(torch.empty(out_features)) if bias else None
        bound = 1 / math.sqrt(in_features)                # U(+-1/sqrt(fan_in)) as the reference
        nn.init.uniform_(self.hyper_weight, -bound, bound)
        if self.hyper_bias is not None:
            nn.init.uniform_(self.hyper_bias, -bound, bound)
        self._init_gate(num_hparams, out_features)

    def forward(self, x: Tensor, hparams: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"StnLinear({self.in_features}, {self.out_features}) expects x of shape "
                             f"(B, {self.in_features}), got {tuple(x.shape)}")
        e, f = self.gates(hparams, x.shape[0])
        out = self.scale * self.elem(x) + e * F.linear(x, self.hyper_weight)
        if self.hyper_bias is not None:
            out = out + f * self.hyper_bias
        return out

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, num_hparams={self.num_hparams}"


class StnConv2d(StnLayer):
    """Gated hyperparameter-conditioned ``Conv2d`` (gates per output channel).

    Args:
        in_channels, out_channels, kernel_size, stride, padding, bias: as :class:`torch.nn.Conv2d`.
        num_hparams: the number of (transformed) hyperparameters the gate reads.

    Forward: ``x: (B, C, H, W)``, ``hparams: (B, h)`` or ``(h,)`` -> ``(B, C_out, H', W')``.

    Example:
        >>> layer = StnConv2d(1, 4, 3, num_hparams=2, padding=1)
        >>> layer(torch.randn(2, 1, 8, 8), torch.randn(2, 2)).shape
        torch.Size([2, 4, 8, 8])
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, num_hparams: int,
                 stride: int = 1, padding: int = 0, bias: bool = True):
        super().__init__()
        self.elem = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=bias)
        self.hyper_weight = nn.Parameter(torch.empty_like(self.elem.weight))
        self.hyper_bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        bound = 1 / math.sqrt(in_channels * kernel_size * kernel_size)
        nn.init.uniform_(self.hyper_weight, -bound, bound)
        if self.hyper_bias is not None:
            nn.init.uniform_(self.hyper_bias, -bound, bound)
        self.stride, self.padding = stride, padding
        self._init_gate(num_hparams, out_channels)

    def forward(self, x: Tensor, hparams: Tensor) -> Tensor:
        e, f = self.gates(hparams, x.shape[0])
        hyper = F.conv2d(x, self.hyper_weight, stride=self.stride, padding=self.padding)
        out = self.scale * self.elem(x) + e[:, :, None, None] * hyper
        if self.hyper_bias is not None:
            out = out + (f * self.hyper_bias)[:, :, None, None]
        return out

    def extra_repr(self) -> str:
        e = self.elem
        return (f"{e.in_channels}, {e.out_channels}, kernel_size={e.kernel_size}, "
                f"num_hparams={self.num_hparams}")
