"""Keeping an implicit ensemble's members diverse: HyperGAN's latent discriminator, or MMD.

Training on the expected loss alone lets the mixer collapse every noise draw onto one code (one
network). HyperGAN (Ratzlaff & Li 2019) adds an adversarial term: a discriminator tells mixed
codes ``q = Q(s)`` from draws of a prior ``N(0, I)``, and the mixer is trained to fool it, which
keeps the codes spread like the prior. :func:`mmd_to_prior` is the simpler, non-adversarial
alternative measured next to it: the kernel maximum mean discrepancy between the codes and prior
draws, minimised directly (no second network, no alternating updates).

Both act on the codes only. :func:`member_disagreement` and :func:`permuted_pixels` add an optional
*output-space* term: on synthetic inputs that carry no test information (training images with their
pixels shuffled) the members are rewarded for disagreeing (their mutual information), so that
inputs unlike the training data get a more uncertain ensemble prediction.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["LatentDiscriminator", "member_disagreement", "mmd_to_prior", "permuted_pixels"]


class LatentDiscriminator(nn.Module):
    """HyperGAN's latent-space discriminator: ``D(q) -> logit`` that ``q`` came from the prior.

    Example:
        >>> d = LatentDiscriminator(6, hidden=(16,))
        >>> q = torch.randn(8, 6)
        >>> d.loss(q).ndim, d.mixer_loss(q).ndim
        (0, 0)
    """

    def __init__(self, code_dim: int, hidden: tuple[int, ...] = (64, 64)):
        super().__init__()
        widths = (code_dim, *hidden)
        layers: list[nn.Module] = []
        for a, b in zip(widths, widths[1:]):
            layers += [nn.Linear(a, b), nn.LeakyReLU(0.2)]
        layers.append(nn.Linear(widths[-1], 1))
        self.net = nn.Sequential(*layers)

    def forward(self, q: Tensor) -> Tensor:
        return self.net(q).squeeze(-1)

    def loss(self, codes: Tensor) -> Tensor:
        """The discriminator's loss: prior draws are "real" (1), mixed codes (detached) are "fake" (0)."""
        prior = torch.randn_like(codes)
        real, fake = self(prior), self(codes.detach())
        return (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))

    def mixer_loss(self, codes: Tensor) -> Tensor:
        """The mixer's adversarial loss: make ``D`` call the codes "real"."""
        logit = self(codes)
        return F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit))


def mmd_to_prior(codes: Tensor, bandwidths: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)) -> Tensor:
    """Biased RBF-kernel MMD² between codes ``(K, d)`` and ``K`` fresh ``N(0, I)`` draws.

    Bandwidths are relative to ``sqrt(d)`` (the typical distance between prior draws).

    Example:
        >>> q = torch.randn(64, 8)
        >>> bool(mmd_to_prior(q) < mmd_to_prior(q * 0.01))   # collapsed codes are far from the prior
        True
    """
    prior = torch.randn_like(codes)
    both = torch.cat([codes, prior])
    d2 = torch.cdist(both, both).pow(2)
    dim = codes.shape[1]
    kernel = sum(torch.exp(-d2 / (2 * (b * b) * dim)) for b in bandwidths)
    k = codes.shape[0]
    xx, yy, xy = kernel[:k, :k], kernel[k:, k:], kernel[:k, k:]
    return xx.mean() + yy.mean() - 2 * xy.mean()


def member_disagreement(logits: Tensor) -> Tensor:
    """Mean mutual information ``H[mean_k p_k] - mean_k H[p_k]`` of members' logits ``(K, B, C)``.

    Computed from log-probabilities (``log mean_k p_k`` by ``logsumexp``), so it stays finite and
    differentiable for confident members. Returns a scalar in ``[0, log K]``.

    Example:
        >>> agree = torch.tensor([[[4.0, 0.0]], [[4.0, 0.0]]])
        >>> disagree = torch.tensor([[[4.0, 0.0]], [[0.0, 4.0]]])
        >>> round(member_disagreement(agree).item(), 4), member_disagreement(disagree).item() > 0.5
        (0.0, True)
    """
    if logits.ndim != 3:
        raise ValueError(f"member logits must be (K, B, C), got shape {tuple(logits.shape)}")
    logp = logits.log_softmax(-1)                                     # (K, B, C)
    log_mean = torch.logsumexp(logp, 0) - math.log(logits.shape[0])   # (B, C)
    entropy_of_mean = -(log_mean.exp() * log_mean).sum(-1)            # (B,)
    mean_entropy = -(logp.exp() * logp).sum(-1).mean(0)               # (B,)
    return (entropy_of_mean - mean_entropy).mean()


def permuted_pixels(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Each row of ``x: (B, D)`` with its features shuffled by its own random permutation.

    Every image keeps its own intensity histogram (so brightness or ink amount cannot tell it from
    a training image) but loses all spatial structure: an input no class explains.

    Example:
        >>> x = torch.arange(12.0).reshape(2, 6)
        >>> xp = permuted_pixels(x, torch.Generator().manual_seed(0))
        >>> torch.equal(xp.sort(1).values, x), xp.shape
        (True, torch.Size([2, 6]))
    """
    order = torch.rand(x.shape, generator=generator).argsort(1)      # one permutation per row
    return x.gather(1, order.to(x.device))
