"""An invertible normalizing flow with exact log-determinant (RealNVP couplings)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["ElementwiseAffine", "AffineCoupling", "RealNVP"]


class ElementwiseAffine(nn.Module):
    """``y = x * exp(log_scale) + shift``; log-det ``sum(log_scale)``. Krueger et al.'s "linear" layer.

    Example:
        >>> layer = ElementwiseAffine(3, shift=1.0, scale=0.5)
        >>> y, logdet = layer(torch.zeros(2, 3))
        >>> y[0].detach(), round(logdet[0].item(), 4)
        (tensor([1., 1., 1.]), -2.0794)
    """

    def __init__(self, dim: int, shift: float = 0.0, scale: float = 1.0):
        super().__init__()
        self.shift = nn.Parameter(torch.full((dim,), float(shift)))
        self.log_scale = nn.Parameter(torch.full((dim,), math.log(scale)))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        y = x * self.log_scale.exp() + self.shift
        return y, self.log_scale.sum().expand(x.shape[0])

    def inverse(self, y: Tensor) -> Tensor:
        return (y - self.shift) * (-self.log_scale).exp()


class AffineCoupling(nn.Module):
    """RealNVP coupling (Dinh et al. 2017): the ``mask`` half conditions a scale and shift of the rest.

    ``y_a = x_a``; ``y_b = x_b * exp(s(x_a)) + t(x_a)``; log-det ``sum(s)``. ``s`` passes through
    ``tanh`` (times a learned per-dimension bound) so one step cannot blow up the scale.

    Args:
        mask: boolean ``(D,)``, True for the dimensions that pass through unchanged.
        hidden: width of the conditioner network.
    """

    def __init__(self, mask: Tensor, hidden: int = 64):
        super().__init__()
        mask = mask.bool()
        if mask.all() or not mask.any():
            raise ValueError("a coupling mask must keep some dimensions and transform the others")
        self.register_buffer("keep", mask.nonzero().squeeze(1))
        self.register_buffer("change", (~mask).nonzero().squeeze(1))
        n_keep, n_change = len(self.keep), len(self.change)
        self.net = nn.Sequential(nn.Linear(n_keep, hidden), nn.ReLU(), nn.Linear(hidden, 2 * n_change))
        # start as the identity map: zero scale and shift
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        self.bound = nn.Parameter(torch.ones(n_change))

    def _scale_shift(self, xa: Tensor) -> tuple[Tensor, Tensor]:
        s, t = self.net(xa).chunk(2, dim=-1)
        return torch.tanh(s) * self.bound, t

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        xa, xb = x[:, self.keep], x[:, self.change]
        s, t = self._scale_shift(xa)
        y = torch.empty_like(x)
        y[:, self.keep] = xa
        y[:, self.change] = xb * s.exp() + t
        return y, s.sum(-1)

    def inverse(self, y: Tensor) -> Tensor:
        ya, yb = y[:, self.keep], y[:, self.change]
        s, t = self._scale_shift(ya)
        x = torch.empty_like(y)
        x[:, self.keep] = ya
        x[:, self.change] = (yb - t) * (-s).exp()
        return x


class RealNVP(nn.Module):
    """Elementwise affine layer followed by ``couplings`` RealNVP couplings with alternating masks.

    ``forward(eps: (K, D)) -> (theta: (K, D), log|det d theta / d eps|: (K,))``; :meth:`inverse` undoes it.
    The masks alternate between a fixed random half and its complement (seeded by ``mask_seed``), so
    every dimension is transformed and, across layers, conditioned on every other.

    Args:
        dim: ``D``, the number of generated scalars.
        couplings: number of coupling layers.
        hidden: width of every coupling's conditioner network.
        shift, scale: initial mean and spread of ``theta`` (the elementwise layer's initial values).

    Example:
        >>> flow = RealNVP(6, couplings=2, hidden=8)
        >>> eps = torch.randn(4, 6)
        >>> theta, logdet = flow(eps)
        >>> theta.shape, logdet.shape
        (torch.Size([4, 6]), torch.Size([4]))
        >>> torch.allclose(flow.inverse(theta), eps, atol=1e-5)
        True

    References:
        Krueger et al., Bayesian Hypernetworks: https://arxiv.org/abs/1710.04759;
        Dinh et al., RealNVP: https://arxiv.org/abs/1605.08803
    """

    def __init__(self, dim: int, couplings: int = 4, hidden: int = 64, shift: float = 0.0,
                 scale: float = 1.0, mask_seed: int = 0):
        super().__init__()
        if dim < 2 or couplings < 0 or hidden < 1:
            raise ValueError(f"RealNVP needs dim >= 2, couplings >= 0, hidden >= 1; got {dim}, {couplings}, {hidden}")
        self.dim = dim
        self.affine = ElementwiseAffine(dim, shift, scale)
        perm = torch.randperm(dim, generator=torch.Generator().manual_seed(mask_seed))
        half = torch.zeros(dim, dtype=torch.bool)
        half[perm[: dim // 2]] = True
        self.couplings = nn.ModuleList(AffineCoupling(half if i % 2 == 0 else ~half, hidden)
                                       for i in range(couplings))

    def forward(self, eps: Tensor) -> tuple[Tensor, Tensor]:
        if eps.ndim != 2 or eps.shape[1] != self.dim:
            raise ValueError(f"flow input must be (K, {self.dim}), got {tuple(eps.shape)}")
        x, logdet = self.affine(eps)
        for layer in self.couplings:
            x, ld = layer(x)
            logdet = logdet + ld
        return x, logdet

    def inverse(self, theta: Tensor) -> Tensor:
        x = theta
        for layer in reversed(self.couplings):
            x = layer.inverse(x)
        return self.affine.inverse(x)
