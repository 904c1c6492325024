"""Implicit ensembles whose members share computation: only per-unit factors are generated.

HyperGAN generates every weight of every member, so generating a member costs as much as running
it and ``K`` members can never share work. Here the members share trainable *directions* ``V``
(a weight-normalised MLP, :func:`weight_norm_mlp`) and the noise-conditioned hypernetwork
generates only low-dimensional per-member factors:

- ``"scale"``: per-output-unit scales ``g_k`` and biases ``b_k`` of every layer:
  ``W_k = diag(g_k) V/||V||`` (the weight-norm scales a Bayesian hypernetwork generates, Krueger
  et al. 2017, here from an implicit distribution);
- ``"rank1"``: in addition per-input scales ``r_k`` of every layer but the first:
  ``W_k = diag(g_k) V/||V|| diag(r_k)`` (BatchEnsemble's rank-1 factors, Wen et al. 2020, generated
  from noise instead of stored per member).

Because the first layer's factors act on its *output*, its product ``x V̂ᵀ`` (most of the work for
784-pixel inputs) is computed once for all ``K`` members under the core's ensemble ``vmap``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..heads import FullHead
from ..hypernetwork import HyperNetwork
from ..io import checkpointable
from ..trunks import MLP
from .implicit import ImplicitEnsemble
from .mixer import NoiseMixer
from .weightnorm import weight_norm_mlp

__all__ = ["FACTORS", "SharedImplicitEnsemble"]

#: which target parameters each variant generates (regex, full match); the rest are shared
FACTORS = {"scale": r".*\.(scale|bias)", "rank1": r".*\.(scale|in_scale|bias)"}


@checkpointable("uncertainty.SharedImplicitEnsemble")
class SharedImplicitEnsemble(ImplicitEnsemble):
    """Noise -> :class:`NoiseMixer` -> code -> per-member factors of shared weight directions.

    Args:
        sizes: widths of the weight-normalised MLP (input, hidden..., classes).
        factors: ``"scale"`` (output scales and biases) or ``"rank1"`` (also input scales of every
            layer but the first).
        noise_dim, code_dim, mixer_hidden: the mixer (see :class:`NoiseMixer`).
        trunk_hidden: hidden widths of the generator trunk; a :class:`~hyperweights.FullHead`
            emits all factors (a few hundred per layer) from its features.
        init_spread: relative spread of the generated multiplicative factors (scales, input
            scales) across members at initialisation: each starts with mean ``m`` (the target's
            initial value) and member-to-member std ``init_spread * |m|`` (BatchEnsemble and rank-1
            BNNs start their factors spread similarly); 0 keeps the core's hyperfan
            initialisation, under which members start almost identical.

    Example:
        >>> import torch
        >>> ens = SharedImplicitEnsemble((6, 16, 3), factors="rank1", noise_dim=4, code_dim=8,
        ...                              mixer_hidden=(16,), trunk_hidden=(16,))
        >>> ens.members(torch.randn(5, 6), samples=7).shape
        torch.Size([7, 5, 3])
        >>> sorted(ens.weights_from_noise(ens.sample_noise(2)))
        ['0.bias', '0.scale', '2.bias', '2.in_scale', '2.scale']

    References:
        HyperGAN: https://arxiv.org/abs/1901.11058; Bayesian hypernetworks:
        https://arxiv.org/abs/1710.04759; BatchEnsemble: https://arxiv.org/abs/2002.06715
    """

    def __init__(self, sizes: tuple[int, ...] | list[int], *, factors: str = "scale", noise_dim: int = 32,
                 code_dim: int = 32, mixer_hidden: tuple[int, ...] = (64,),
                 trunk_hidden: tuple[int, ...] = (64,), init_spread: float = 0.5,
                 hypernetwork: HyperNetwork | None = None, target: nn.Module | None = None):
        if factors not in FACTORS:
            raise ValueError(f"factors must be one of {sorted(FACTORS)}, got {factors!r}")
        if not init_spread >= 0:
            raise ValueError(f"init_spread must be >= 0, got {init_spread}")
        sizes = tuple(int(s) for s in sizes)
        target = target if target is not None else weight_norm_mlp(sizes, input_scales=factors == "rank1")
        if hypernetwork is None:
            hypernetwork = HyperNetwork(target, generate=FACTORS[factors],
                                        condition=NoiseMixer(noise_dim, code_dim, mixer_hidden),
                                        trunk=MLP(trunk_hidden), head=FullHead())
            _spread_factors(hypernetwork, init_spread)
        super().__init__(target, hypernetwork=hypernetwork, in_features=sizes[0])
        self.sizes, self.factors = sizes, factors

    def checkpoint_config(self) -> dict:
        return {"sizes": list(self.sizes), "factors": self.factors}

    @classmethod
    def _checkpoint_target(cls, config: dict) -> nn.Module:
        return weight_norm_mlp(config["sizes"], input_scales=config["factors"] == "rank1")

    @classmethod
    def _from_parts(cls, target: nn.Module, hypernetwork: HyperNetwork, config: dict):
        return cls(config["sizes"], factors=config["factors"], hypernetwork=hypernetwork, target=target)


@torch.no_grad()
def _spread_factors(hnet: HyperNetwork, spread: float, draws: int = 512) -> None:
    """Redraw the head rows of the multiplicative factors (scales and input scales) so that, over
    noise draws, each factor has mean ``m`` (the target's initial value) and standard deviation
    ``spread * |m|`` across members. The trunk features' member-to-member variance is measured on
    ``draws`` noise draws (a ReLU trunk's features vary less than their norm suggests), and the
    bias cancels the rows' response to the features' mean. Biases of the layers stay zero-mean."""
    if spread == 0:
        return
    cond = hnet.encode(hnet.condition.sample(draws))
    features = hnet.head._single(hnet.features(cond))                   # (draws, d_h)
    mean, var = features.mean(0), features.var(0).sum().clamp_min(1e-12)
    weight, bias = hnet.head.out.weight, hnet.head.out.bias
    for s in hnet.specs:
        if s.name.endswith("scale"):
            rows = slice(s.offset, s.offset + s.numel)
            weight[rows].normal_(0.0, spread * abs(s.init_mean) / var.sqrt().item())
            bias[rows] = s.init_mean - weight[rows] @ mean
