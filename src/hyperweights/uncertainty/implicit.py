"""Implicit ensemble (HyperGAN-style): noise -> mixer -> code -> generated weights, any K at once."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..heads import ChunkedHead
from ..hypernetwork import HyperNetwork
# the HyperModel half of hw.save / hw.load, which io does not export (yet) on its own
from ..io import _load_hypernetwork as load_hypermodel
from ..io import _static_state as static_state
from ..io import checkpointable
from ..model import HyperModel
from ..targets.build import mlp
from ..trunks import MLP
from .checks import check_features
from .mixer import NoiseMixer
from .predict import Predictive

__all__ = ["ImplicitEnsemble"]


@checkpointable("uncertainty.ImplicitEnsemble")
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

    # ------------------------------------------------------------------ checkpoints (hw.save / hw.load)
    def checkpoint_config(self) -> dict:
        return {"in_features": self.in_features, "target_mlp": _mlp_sizes(self.model.target)}

    def checkpoint_state(self) -> tuple[dict[str, Tensor], dict]:
        """The hypernetwork's tensors and the target's non-generated state (as ``hw.save`` stores a
        :class:`~hyperweights.HyperModel`), its design and :meth:`checkpoint_config`."""
        hnet = self.hypernetwork
        tensors = {f"hypernetwork.{k}": v.detach() for k, v in hnet.state_dict().items()}
        static = static_state(self.model.target, hnet.generated_parameter_names)
        tensors.update((f"target.{k}", v) for k, v in static.items())
        return tensors, {"hypernetwork": hnet.config(), **self.checkpoint_config()}

    @classmethod
    def from_checkpoint(cls, tensors: dict[str, Tensor], config: dict, target: nn.Module | None = None):
        """Rebuild a saved ensemble; ``target`` (the same architecture) is needed unless it was an
        ``hw.mlp``. The same seed gives the same members as before saving."""
        config = dict(config)
        design = config.pop("hypernetwork")
        target = cls._checkpoint_target(config) if target is None else target
        model = load_hypermodel(f"the {cls.__name__} checkpoint", tensors, {"kind": "HyperModel", "hypernetwork": design},
                                target, None, None, None, True)
        return cls._from_parts(target, model.hypernetwork, config)

    @classmethod
    def _checkpoint_target(cls, config: dict) -> nn.Module:
        if config.get("target_mlp") is None:
            raise TypeError("this ImplicitEnsemble's target is not an hw.mlp, so the checkpoint cannot rebuild "
                            "it: pass a freshly built one, hw.load(path, target)")
        return mlp(config["target_mlp"])

    @classmethod
    def _from_parts(cls, target: nn.Module, hypernetwork: HyperNetwork, config: dict):
        return cls(target, hypernetwork=hypernetwork, in_features=config["in_features"])


def _mlp_sizes(target: nn.Module) -> list[int] | None:
    """The widths ``hw.mlp(widths)`` would rebuild ``target`` from, or None if it is not such an MLP."""
    layers = list(target) if isinstance(target, nn.Sequential) else []
    if len(layers) % 2 == 0 or any(type(m) is not nn.Linear for m in layers[::2]) \
            or any(type(m) is not nn.ReLU for m in layers[1::2]):
        return None
    linears = layers[::2]
    if any(a.out_features != b.in_features for a, b in zip(linears, linears[1:])) or any(m.bias is None for m in linears):
        return None
    return [linears[0].in_features, *(m.out_features for m in linears)]


def _width(target: nn.Module, attribute: str, last: bool = False) -> int:
    """``attribute`` (``in_features`` / ``out_features``) of the first (or last) layer that has it."""
    layers = [m for m in target.modules() if hasattr(m, attribute)]
    if not layers:
        raise ValueError(f"cannot read {attribute} of {type(target).__name__}: it has no nn.Linear-like "
                         "layer; pass in_features= (and use a target whose last layer has out_features)")
    return int(getattr(layers[-1] if last else layers[0], attribute))
