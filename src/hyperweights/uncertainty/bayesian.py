"""Bayesian hypernetwork (Krueger et al.): a normalizing flow from noise to weight-norm scales."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ..io import checkpointable
from ..targets.functional import ensemble_forward
from ..targets.select import select_parameters
from ..targets.spec import SpecTable
from .checks import check_features, check_positive_int
from .flow import RealNVP
from .predict import Predictive
from .weightnorm import weight_norm_mlp

__all__ = ["BayesianHypernetwork"]

_LOG_2PI = math.log(2 * math.pi)


@checkpointable("uncertainty.BayesianHypernetwork")
class BayesianHypernetwork(Predictive):
    """``theta = h(eps)``, ``eps ~ N(0, I)``, with ``h`` an invertible :class:`RealNVP` flow.

    The generated ``theta`` are the per-unit scales of a weight-normalised MLP
    (:func:`weight_norm_mlp`); the directions and biases are ordinary point-estimated parameters of
    the target (the paper's main setting). With ``log q(theta) = log N(eps; 0, I) - log|det dh/deps|``
    the model is trained on the negative ELBO per datum (:meth:`loss`):
    ``E_q[NLL(batch)] + kl_weight * (log q(theta) - log p(theta)) / N`` with the prior
    ``p(theta) = N(prior_mean, prior_std^2 I)``.

    Args:
        sizes: widths of the weight-normalised MLP (input, hidden..., classes).
        couplings, hidden: the flow (see :class:`RealNVP`).
        prior_mean, prior_std: the Gaussian prior on each scale.
        init_std: initial posterior spread of the scales (the flow's elementwise layer).

    Example:
        >>> bhn = BayesianHypernetwork((6, 8, 3), couplings=2, hidden=8)
        >>> bhn.members(torch.randn(5, 6), samples=4).shape
        torch.Size([4, 5, 3])
        >>> loss = bhn.loss(torch.randn(5, 6), torch.tensor([0, 1, 2, 0, 1]), samples=2, num_data=100)
        >>> loss.ndim
        0

    References:
        https://arxiv.org/abs/1710.04759
    """

    def __init__(self, sizes: tuple[int, ...], *, couplings: int = 4, hidden: int = 64,
                 prior_mean: float = 0.0, prior_std: float = 1.0, init_std: float = 0.1):
        super().__init__()
        if prior_std <= 0 or init_std <= 0:
            raise ValueError(f"prior_std and init_std must be positive, got {prior_std}, {init_std}")
        self.target = weight_norm_mlp(sizes)
        self.specs = SpecTable.from_parameters(select_parameters(self.target, r".*\.scale"))
        init_scale = torch.cat([p.detach().flatten() for n, p in self.target.named_parameters()
                                if n.endswith(".scale")]).mean().item()
        self.flow = RealNVP(self.specs.total, couplings, hidden, shift=init_scale, scale=init_std)
        self.prior_mean, self.prior_std = prior_mean, prior_std
        self.in_features, self.num_classes = sizes[0], sizes[-1]
        self._config = {"sizes": list(sizes), "couplings": couplings, "hidden": hidden, "prior_mean": prior_mean,
                        "prior_std": prior_std, "init_std": init_std}

    def checkpoint_config(self) -> dict:
        return dict(self._config)

    def trainable_parameters(self) -> list:
        """The flow, the directions and the biases: the target's own ``scale`` parameters are
        generated, so never used or trained."""
        return [p for n, p in self.named_parameters() if not n.endswith(".scale")]

    def sample_scales(self, samples: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``theta: (K, D)`` and ``log q(theta): (K,)`` for ``K`` draws."""
        ref = self.flow.affine.shift
        eps = torch.randn(samples, self.specs.total, generator=generator, dtype=ref.dtype,
                          device=generator.device if generator is not None else ref.device).to(ref.device)
        theta, logdet = self.flow(eps)
        log_q = -0.5 * (eps.pow(2).sum(-1) + eps.shape[1] * _LOG_2PI) - logdet
        return theta, log_q

    def log_prior(self, theta: Tensor) -> Tensor:
        z = (theta - self.prior_mean) / self.prior_std
        return -0.5 * (z.pow(2) + _LOG_2PI).sum(-1) - theta.shape[1] * math.log(self.prior_std)

    def forward_scales(self, x: Tensor, theta: Tensor) -> Tensor:
        """Logits ``(K, B, C)`` for ``x: (B, in_features)`` and scales ``theta: (K, D)``, all members
        in one vmapped call."""
        theta = check_features(theta, self.specs.total, self.reference_parameter(), what="theta", rows="K")
        return self._forward_scales(self.check_input(x), theta)

    def _forward_scales(self, x: Tensor, theta: Tensor) -> Tensor:
        return ensemble_forward(self.target, self.specs.split(theta), x)

    def _members(self, x, samples, generator):
        return self._forward_scales(x, self.sample_scales(samples, generator)[0])

    def loss(self, x: Tensor, y: Tensor, samples: int, num_data: int, kl_weight: float = 1.0) -> Tensor:
        """Negative ELBO per datum, Monte-Carlo over ``samples`` draws of the scales, for a minibatch
        ``x: (B, in_features)``, ``y: (B,)`` of a training set of ``num_data`` inputs."""
        self.check_data(x, y)
        samples = self.check_samples(samples)
        check_positive_int(num_data, "num_data")
        if not kl_weight >= 0:
            raise ValueError(f"kl_weight must be >= 0 (1 is the plain ELBO), got {kl_weight}")
        return self.negative_elbo(x, y, samples, num_data, kl_weight)

    def negative_elbo(self, x: Tensor, y: Tensor, samples: int, num_data: int, kl_weight: float) -> Tensor:
        """:meth:`loss` without the input checks (the training step)."""
        theta, log_q = self.sample_scales(samples)
        logits = self._forward_scales(x, theta)                             # (K, B, C)
        nll = F.cross_entropy(logits.flatten(0, 1), y.repeat(samples))
        kl = (log_q - self.log_prior(theta)).mean()
        return nll + kl_weight * kl / num_data
