"""HyperGAN's mixer as a conditioner: s ~ N(0, I) -> Q(s) = a correlated latent code q."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..conditioning.base import Conditioner

__all__ = ["NoiseMixer"]


class NoiseMixer(Conditioner):
    """Samples noise ``s ~ N(0, I)`` and mixes it into a code ``q = Q(s)``: ``(K, code_dim)``.

    In HyperGAN (Ratzlaff & Li 2019) the mixer ``Q`` correlates the noise before per-layer generators
    turn the code into weights; a latent discriminator keeps ``Q(s)`` close to a prior so the codes,
    and hence the members, stay spread out (see :mod:`hyperweights.uncertainty.regularizers`).

    Args:
        noise_dim: width of ``s``.
        code_dim: width of the mixed code ``q`` (what the hypernetwork's trunk sees).
        hidden: hidden widths of the mixer MLP.
        samples: members drawn when called with ``None``.

    Call with ``None`` (draw ``samples``), an int ``K``, or given noise ``s: (K, noise_dim)``.
    :meth:`sample` draws ``s`` with an optional ``torch.Generator`` (same seed -> same members).

    Example:
        >>> mixer = NoiseMixer(noise_dim=4, code_dim=6, hidden=(8,))
        >>> s = mixer.sample(3, generator=torch.Generator().manual_seed(0))
        >>> mixer(s).shape, mixer(5).shape
        (torch.Size([3, 6]), torch.Size([5, 6]))

    References:
        HyperGAN: https://arxiv.org/abs/1901.11058
    """

    def __init__(self, noise_dim: int = 32, code_dim: int = 64, hidden: tuple[int, ...] | list[int] = (128,),
                 samples: int = 1):
        super().__init__()
        hidden = tuple(int(h) for h in hidden)
        if noise_dim < 1 or code_dim < 1 or samples < 1 or any(h < 1 for h in hidden):
            raise ValueError(
                "NoiseMixer needs positive noise_dim, code_dim, samples and hidden widths; got "
                f"noise_dim={noise_dim}, code_dim={code_dim}, samples={samples}, hidden={hidden}"
            )
        self._config = {"noise_dim": noise_dim, "code_dim": code_dim, "hidden": list(hidden),
                        "samples": samples}
        self.noise_dim, self.out_dim, self.samples = noise_dim, code_dim, samples
        widths = (noise_dim, *hidden)
        layers: list[nn.Module] = []
        for a, b in zip(widths, widths[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], code_dim))
        self.net = nn.Sequential(*layers)

    def sample(self, k: int, generator: torch.Generator | None = None) -> Tensor:
        """Noise ``s: (k, noise_dim)`` on the mixer's device."""
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"the number of members must be a positive int, got {k!r}")
        weight = self.net[0].weight
        noise = torch.randn(k, self.noise_dim, generator=generator, dtype=weight.dtype,
                            device=generator.device if generator is not None else weight.device)
        return noise.to(weight.device)

    def forward(self, condition=None) -> Tensor:
        if condition is None:
            condition = self.samples
        if isinstance(condition, int) and not isinstance(condition, bool):
            condition = self.sample(condition)
        if not isinstance(condition, Tensor):
            raise TypeError(f"NoiseMixer takes None, an int K or noise (K, {self.noise_dim}); got "
                            f"{type(condition).__name__}")
        if condition.ndim != 2 or condition.shape[1] != self.noise_dim:
            raise ValueError(f"noise must have shape (K, {self.noise_dim}), got {tuple(condition.shape)}")
        return self.net(condition)

    def describe(self) -> str:
        widths = " -> ".join(str(w) for w in (self.noise_dim, *self._config["hidden"], self.out_dim))
        return f"NoiseMixer({widths})"
