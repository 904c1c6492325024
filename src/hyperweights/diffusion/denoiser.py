"""The denoiser of the latent diffusion: an MLP with residual blocks, conditioned on the timestep
and on the dataset embedding (or the learned null embedding, for classifier-free guidance)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..targets import mlp

__all__ = ["Denoiser", "timestep_embedding"]


def timestep_embedding(t: Tensor, dim: int) -> Tensor:
    """Sinusoidal embedding of integer timesteps ``(B,)`` -> ``(B, dim)`` (Ho et al., 2020).

    Example:
        >>> timestep_embedding(torch.tensor([0, 999]), 8).shape
        torch.Size([2, 8])
    """
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * freqs
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class _Block(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.ff = mlp([width, 2 * width, width], activation="silu")

    def forward(self, h: Tensor, context: Tensor) -> Tensor:
        return h + self.ff(self.norm(h) + context)


class Denoiser(nn.Module):
    """Predicts the noise in a noisy latent ``(B, L)`` at timesteps ``(B,)`` given conditions ``(B, c)``.

    Example:
        >>> net = Denoiser(latent_size=12, cond_dim=4, width=32, blocks=2)
        >>> net(torch.randn(3, 12), torch.tensor([1, 50, 999]), torch.randn(3, 4)).shape
        torch.Size([3, 12])
    """

    def __init__(self, latent_size: int, cond_dim: int, *, width: int = 256, blocks: int = 4):
        super().__init__()
        self.width = width
        self.inp = nn.Linear(latent_size, width)
        self.time = mlp([width, width, width], activation="silu")
        self.cond = nn.Linear(cond_dim, width)
        self.blocks = nn.ModuleList(_Block(width) for _ in range(blocks))
        self.out = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, latent_size))
        nn.init.zeros_(self.out[1].weight)          # starts by predicting zero noise
        nn.init.zeros_(self.out[1].bias)

    def forward(self, latent: Tensor, t: Tensor, cond: Tensor) -> Tensor:
        context = self.time(timestep_embedding(t, self.width)) + self.cond(cond)
        h = self.inp(latent)
        for block in self.blocks:
            h = block(h, context)
        return self.out(h)
