"""Implicit ensemble (HyperGAN-style): noise -> mixer -> code -> generated weights, any K at once."""

from __future__ import annotations

import os

import torch
from torch import Tensor, nn

from ..heads import ChunkedHead
from ..hypernetwork import HyperNetwork
from ..io import load as load_model
from ..io import save as save_model
from ..model import HyperModel
from ..trunks import MLP
from .checks import check_features
from .mixer import NoiseMixer
from .predict import Predictive

__all__ = ["ImplicitEnsemble"]


class ImplicitEnsemble(Predictive):
    """A noise-conditioned hypernetwork: every noise draw is one member of an ensemble of any size.

    ``s ~ N(0, I)`` -> :class:`NoiseMixer` ``Q`` -> code ``q`` -> trunk ``MLP`` over ``[q ; chunk
    embedding]`` -> :class:`~hyperweights.ChunkedHead` -> all weights of ``target``. ``K`` members are
    one :meth:`HyperModel.ensemble` call (``torch.func.vmap`` over the ``K`` weight sets).

    Args:
        target: the network whose weights are generated (its first layer must be an
            ``nn.Linear``-like module with ``in_features``, or pass ``in_features``).
        noise_dim, code_dim, mixer_hidden: the mixer (see :class:`NoiseMixer`).
        trunk_hidden: hidden widths of the shared generator trunk.
        chunk_size, chunk_embedding: the chunked output head (parameter budget: the head costs
            ``trunk_hidden[-1] * chunk_size`` parameters, independent of the target's size).
        in_features: input width checked by :meth:`predict` (read from the target if None).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> target = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> ens = ImplicitEnsemble(target, noise_dim=4, code_dim=8, mixer_hidden=(16,),
        ...                        trunk_hidden=(16,), chunk_size=20, chunk_embedding=4)
        >>> ens.members(torch.randn(5, 6), samples=7).shape
        torch.Size([7, 5, 3])
        >>> a = ens.predict(torch.randn(5, 6), samples=4, seed=1)
        >>> a.member_probs.shape, a.entropy.shape
        (torch.Size([4, 5, 3]), torch.Size([5]))

    References:
        Ratzlaff & Li, HyperGAN (ICML 2019): https://arxiv.org/abs/1901.11058
    """

    def __init__(self, target: nn.Module, *, noise_dim: int = 32, code_dim: int = 64,
                 mixer_hidden: tuple[int, ...] = (128,), trunk_hidden: tuple[int, ...] = (128,),
                 chunk_size: int = 1000, chunk_embedding: int = 32, feature_scale: float | None = None,
                 in_features: int | None = None, hypernetwork: HyperNetwork | None = None):
        super().__init__()
        if hypernetwork is None:
            mixer = NoiseMixer(noise_dim, code_dim, mixer_hidden)
            hypernetwork = HyperNetwork(target, condition=mixer, trunk=MLP(trunk_hidden),
                                        head=ChunkedHead(chunk_size, chunk_embedding),
                                        feature_scale=feature_scale)
        if not isinstance(hypernetwork.condition, NoiseMixer):
            raise TypeError("an ImplicitEnsemble's hypernetwork must be conditioned on a NoiseMixer, "
                            f"got {type(hypernetwork.condition).__name__}")
        self.model = HyperModel(target, hypernetwork)
        self.in_features = in_features if in_features is not None else _width(target, 'in_features')
        self.num_classes = _width(target, 'out_features', last=True)

    @property
    def mixer(self) -> NoiseMixer:
        return self.model.hypernetwork.condition

    @property
    def hypernetwork(self) -> HyperNetwork:
        return self.model.hypernetwork

    def sample_noise(self, samples: int, generator: torch.Generator | None = None) -> Tensor:
        """Noise ``s: (K, noise_dim)``; the same generator state gives the same members."""
        return self.mixer.sample(samples, generator)

    def check_noise(self, noise) -> Tensor:
        """Raise a clear error unless ``noise`` is a finite float tensor ``(K, noise_dim)``, ``K >= 1``,
        with the model's dtype and device (what :meth:`sample_noise` returns)."""
        return check_features(noise, self.mixer.noise_dim, self.reference_parameter(), what="noise",
                              rows="K")

    def codes(self, noise: Tensor) -> Tensor:
        """Mixed codes ``q = Q(s)``: ``(K, code_dim)`` (what the latent regularizer sees)."""
        return self.hypernetwork.encode(self.check_noise(noise))

    def weights_from_noise(self, noise: Tensor) -> dict[str, Tensor]:
        """Generated weights ``{name: (K, *shape)}`` for noise ``(K, noise_dim)``."""
        return self.hypernetwork(self.check_noise(noise))

    def forward_noise(self, x: Tensor, noise: Tensor) -> Tensor:
        """Logits ``(K, B, C)`` of the members given by ``noise: (K, noise_dim)``, one call, for
        ``x: (B, in_features)`` (both validated; training calls ``self.model.ensemble`` directly)."""
        return self.model.ensemble(self.check_input(x), self.check_noise(noise))

    def _members(self, x: Tensor, samples: int, generator: torch.Generator | None) -> Tensor:
        return self.model.ensemble(x, self.sample_noise(samples, generator))

    def trainable_parameters(self) -> list[nn.Parameter]:
        return self.model.trainable_parameters()

    # ------------------------------------------------------------------ checkpoints
    def save(self, path: str | os.PathLike) -> None:
        """Write the hypernetwork (safetensors + JSON config, no pickle); see :func:`load`."""
        save_model(self.model, path)

    @classmethod
    def load(cls, path: str | os.PathLike, target: nn.Module, in_features: int | None = None) -> ImplicitEnsemble:
        """Rebuild a saved ensemble for ``target`` (same architecture); same seed -> same members."""
        model = load_model(path, target)
        return cls(target, hypernetwork=model.hypernetwork, in_features=in_features)


def _width(target: nn.Module, attribute: str, last: bool = False) -> int:
    """``attribute`` (``in_features`` / ``out_features``) of the first (or last) layer that has it."""
    layers = [m for m in target.modules() if hasattr(m, attribute)]
    if not layers:
        raise ValueError(f"cannot read {attribute} of {type(target).__name__}: it has no nn.Linear-like "
                         "layer; pass in_features= (and use a target whose last layer has out_features)")
    return int(getattr(layers[-1] if last else layers[0], attribute))
