"""Weight-normalised linear layers whose per-unit scales a Bayesian hypernetwork generates."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["WeightNormLinear", "weight_norm_mlp"]


class WeightNormLinear(nn.Module):
    """``y = scale * (x @ (v / ||v||)^T) + bias`` (Salimans & Kingma 2016), one scale per output unit.

    The scale multiplies the *output*, so when only ``scale`` varies across ensemble members (a
    ``vmap`` over ``scale``), ``x @ v_n^T`` is computed once for all members.

    Example:
        >>> layer = WeightNormLinear(4, 3)
        >>> layer(torch.randn(2, 4)).shape
        torch.Size([2, 3])
    """

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.direction = nn.Parameter(torch.empty(out_features, in_features))
        # Kaiming init for ReLU nets: rows of norm ~sqrt(2), i.e. the scale a flow starts from
        nn.init.normal_(self.direction, std=math.sqrt(2.0 / in_features))
        self.scale = nn.Parameter(self.direction.norm(dim=1).detach().clone())
        self.bias = nn.Parameter(torch.zeros(out_features))

    def forward(self, x: Tensor) -> Tensor:
        unit = self.direction / self.direction.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return F.linear(x, unit) * self.scale + self.bias


def weight_norm_mlp(sizes: tuple[int, ...] | list[int]) -> nn.Sequential:
    """``WeightNormLinear -> ReLU`` stack for widths ``sizes``.

    Example:
        >>> net = weight_norm_mlp((4, 8, 3))
        >>> [n for n, _ in net.named_parameters() if n.endswith("scale")]
        ['0.scale', '2.scale']
    """
    if len(sizes) < 2:
        raise ValueError(f"sizes must list at least an input and an output width, got {sizes}")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(WeightNormLinear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)
