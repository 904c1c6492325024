"""The weight VAE: a transformer over layer-wise weight tokens, one latent vector per token.

Tokens ``(K, T, S)`` (:class:`hyperweights.zoo.TokenLayout`, normalised per scalar) are embedded,
given a learned position embedding, mixed by a transformer encoder and mapped to a mean and a
log-variance per token ``(K, T, z)``; the decoder mirrors it from ``(K, T, z)`` back to tokens.
The latent of a model is the flattened ``(K, T * z)``, what the diffusion model works on.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["WeightVAE"]


def _transformer(dim: int, heads: int, layers: int) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, batch_first=True)
    # nested tensors only matter with padding masks, which the token grid has none of
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


class WeightVAE(nn.Module):
    """Variational autoencoder over ``T`` tokens of ``S`` weights.

    Args:
        num_tokens: ``T``; token_size: ``S``; latent_dim: ``z`` per token.
        dim: transformer width; heads, layers: of each transformer.

    Example:
        >>> vae = WeightVAE(num_tokens=5, token_size=8, latent_dim=2, dim=16, heads=2, layers=1)
        >>> mean, logvar = vae.encode(torch.randn(3, 5, 8))
        >>> mean.shape, vae.decode(mean).shape
        (torch.Size([3, 5, 2]), torch.Size([3, 5, 8]))
    """

    def __init__(self, num_tokens: int, token_size: int, latent_dim: int = 4, *, dim: int = 64,
                 heads: int = 4, layers: int = 2):
        super().__init__()
        self.num_tokens, self.token_size, self.latent_dim = num_tokens, token_size, latent_dim
        self.embed = nn.Linear(token_size, dim)
        self.enc_position = nn.Parameter(0.02 * torch.randn(num_tokens, dim))
        self.encoder = _transformer(dim, heads, layers)
        self.to_latent = nn.Linear(dim, 2 * latent_dim)
        self.from_latent = nn.Linear(latent_dim, dim)
        self.dec_position = nn.Parameter(0.02 * torch.randn(num_tokens, dim))
        self.decoder = _transformer(dim, heads, layers)
        self.to_tokens = nn.Linear(dim, token_size)

    @property
    def latent_size(self) -> int:
        """``T * z``: the width of a flattened latent."""
        return self.num_tokens * self.latent_dim

    def encode(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        """``(K, T, S)`` -> mean and log-variance ``(K, T, z)``."""
        h = self.encoder(self.embed(tokens) + self.enc_position)
        mean, logvar = self.to_latent(h).chunk(2, dim=-1)
        return mean, logvar.clamp(-10.0, 5.0)

    def decode(self, latent: Tensor) -> Tensor:
        """``(K, T, z)`` -> tokens ``(K, T, S)``."""
        return self.to_tokens(self.decoder(self.from_latent(latent) + self.dec_position))

    def reconstruct(self, tokens: Tensor, valid: Tensor, kl_weight: float,
                    noise: float = 0.0) -> tuple[Tensor, Tensor]:
        """One training pass: the decoded tokens ``(K, T, S)`` of a sampled latent, and the loss
        (reconstruction MSE over the real, ``valid: (T, S)``, entries + ``kl_weight`` x KL to N(0, I)).

        ``noise`` adds Gaussian noise of that scale to the input tokens (D2NWG's input augmentation).
        """
        noisy = tokens + noise * torch.randn_like(tokens) if noise else tokens
        mean, logvar = self.encode(noisy)
        latent = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
        decoded = self.decode(latent)
        reconstruction = (decoded - tokens).pow(2)[:, valid].mean()
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum((1, 2)).mean()
        return decoded, reconstruction + kl_weight * kl / valid.sum()

    def loss(self, tokens: Tensor, valid: Tensor, kl_weight: float, noise: float = 0.0) -> Tensor:
        """The loss of :meth:`reconstruct` alone (a scalar)."""
        return self.reconstruct(tokens, valid, kl_weight, noise)[1]
