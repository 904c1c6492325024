"""Uncertainty with noise-conditioned hypernetworks: implicit ensembles and Bayesian hypernetworks.

- :class:`ImplicitEnsemble` (HyperGAN-style): noise -> :class:`NoiseMixer` -> code -> generated
  weights; any number of members from one set of hypernetwork weights, evaluated in one call.
- :class:`BayesianHypernetwork` (Krueger et al.): a :class:`RealNVP` flow with exact log-det from
  noise to the weight-norm scales of a weight-normalised MLP, trained on the ELBO.
- :class:`SharedImplicitEnsemble`: an implicit ensemble whose members share weight directions;
  the hypernetwork generates only per-unit scales/biases (and rank-1 input scales), so ``K``
  members share most of the computation.
- :func:`fit_temperature` / :func:`apply_temperature`: post-hoc temperature scaling for any method.
- Baselines: :class:`SingleNetwork`, :class:`MCDropout`, :class:`DeepEnsemble` (stacked, vmapped).
- Every model has ``predict(x, samples=K, seed=s)`` -> :class:`Prediction` (mean probabilities,
  per-member outputs ``(K, B, C)``, predictive entropy, mutual information, member variance).
- :func:`fit` ``(model, x, y, UncertaintyConfig(...))`` trains any of them (each on its own
  objective), :func:`evaluate` measures them, ``hw.save`` / ``hw.load`` store them.

Example:
    >>> import torch
    >>> import hyperweights as hw
    >>> from hyperweights.uncertainty import ImplicitEnsemble, UncertaintyConfig, evaluate, fit
    >>> x, y = torch.randn(64, 6), torch.randint(0, 3, (64,))
    >>> ens = ImplicitEnsemble(hw.mlp((6, 16, 3)), noise_dim=4, code_dim=8, mixer_hidden=(16,),
    ...                        trunk_hidden=(16,), chunk_size=32)
    >>> result = fit(ens, x, y, UncertaintyConfig(epochs=1, batch_size=16, progress=False))
    >>> p = ens.predict(torch.randn(10, 6), samples=5, seed=0)
    >>> p.probs.shape, p.member_probs.shape, p.mutual_information.shape
    (torch.Size([10, 3]), torch.Size([5, 10, 3]), torch.Size([10]))
    >>> 0 <= evaluate(ens, x, y, samples=5)["accuracy"] <= 1
    True
"""

from .baselines import DeepEnsemble as DeepEnsemble
from .baselines import MCDropout as MCDropout
from .baselines import SingleNetwork as SingleNetwork
from .bayesian import BayesianHypernetwork as BayesianHypernetwork
from .calibration import apply_temperature as apply_temperature
from .calibration import fit_temperature as fit_temperature
from .flow import RealNVP as RealNVP
from .implicit import ImplicitEnsemble as ImplicitEnsemble
from .metrics import evaluate as evaluate
from .mixer import NoiseMixer as NoiseMixer
from .predict import Prediction as Prediction
from .predict import Predictive as Predictive
from .predict import uncertainty_scores as uncertainty_scores
from .regularizers import LatentDiscriminator as LatentDiscriminator
from .regularizers import mmd_to_prior as mmd_to_prior
from .shared import SharedImplicitEnsemble as SharedImplicitEnsemble
from .training import UncertaintyConfig as UncertaintyConfig
from .training import fit as fit
from .weightnorm import WeightNormLinear as WeightNormLinear
from .weightnorm import weight_norm_mlp as weight_norm_mlp

__all__ = [
    "BayesianHypernetwork", "DeepEnsemble", "ImplicitEnsemble", "LatentDiscriminator", "MCDropout",
    "NoiseMixer", "Prediction", "Predictive", "RealNVP", "SharedImplicitEnsemble", "SingleNetwork",
    "UncertaintyConfig", "WeightNormLinear", "apply_temperature", "evaluate", "fit", "fit_temperature",
    "mmd_to_prior", "uncertainty_scores", "weight_norm_mlp",
]
