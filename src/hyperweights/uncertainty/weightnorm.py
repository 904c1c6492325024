"""Weight-normalised linear layers whose per-unit scales a Bayesian hypernetwork generates."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["WeightNormLinear", "weight_norm_mlp"]


class WeightNormLinear(nn.Module):
    """``y = scale * ((x * in_scale) @ (v / ||v||)^T) + bias`` (Salimans & Kingma 2016), one scale per
    output unit; the per-input ``in_scale`` (a rank-1 factor as in BatchEnsemble) exists only with
    ``input_scale=True``.

    The scale multiplies the *output*, so when only ``scale`` (and ``bias``) vary across ensemble
    members (a ``vmap`` over them), ``x @ v_n^T`` is computed once for all members.

    Example:
        >>> layer = WeightNormLinear(4, 3)
        >>> layer(torch.randn(2, 4)).shape
        torch.Size([2, 3])
        >>> WeightNormLinear(4, 3, input_scale=True).in_scale.shape
        torch.Size([4])
    """

    def __init__(self, in_features: int, out_features: int, input_scale: bool = False):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.direction = nn.Parameter(torch.empty(out_features, in_features))
        # Kaiming init for ReLU nets: rows of norm ~sqrt(2), i.e. the scale a flow starts from
        nn.init.normal_(self.direction, std=math.sqrt(2.0 / in_features))
        self.scale = nn.Parameter(self.direction.norm(dim=1).detach().clone())
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.in_scale = nn.Parameter(torch.ones(in_features)) if input_scale else None

    def forward(self, x: Tensor) -> Tensor:
        unit = self.direction / self.direction.norm(dim=1, keepdim=True).clamp_min(1e-12)
        if self.in_scale is not None:
            x = x * self.in_scale
        return F.linear(x, unit) * self.scale + self.bias


def weight_norm_mlp(sizes: tuple[int, ...] | list[int], input_scales: bool = False) -> nn.Sequential:
    """``WeightNormLinear -> ReLU`` stack for widths ``sizes``.

    With ``input_scales=True`` every layer but the first has a per-input ``in_scale`` (the first
    layer has none, so that its product with the input can be shared by ensemble members).

    Example:
        >>> net = weight_norm_mlp((4, 8, 3))
        >>> [n for n, _ in net.named_parameters() if n.endswith("scale")]
        ['0.scale', '2.scale']
        >>> [n for n, _ in weight_norm_mlp((4, 8, 3), input_scales=True).named_parameters()
        ...  if n.endswith("in_scale")]
        ['2.in_scale']
    """
    if len(sizes) < 2:
        raise ValueError(f"sizes must list at least an input and an output width, got {sizes}")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(WeightNormLinear(a, b, input_scale=input_scales and i > 0))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)
