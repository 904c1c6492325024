"""D2NWG: diffusion-based neural network weight generation (Soro et al., ICLR 2025).

Where the other hypernetworks of the library are trained end to end through the target, D2NWG
learns from a model zoo (:mod:`hyperweights.zoo`): a VAE over layer-wise weight tokens, a Set
Transformer embedding of a dataset aligned with the VAE latents, and a latent diffusion model
conditioned on that embedding (classifier-free guidance; ``diffusers``' DDPM/DDIM schedulers).

- :class:`D2NWG`: the model; :meth:`D2NWG.generate` gives ``K`` weight sets for a support set.
- :class:`DiffusionConfig`, :class:`ZooData`, :func:`fit`, :func:`evaluate`: the contract.
- :class:`WeightVAE`, :class:`DatasetEncoder`, :class:`Denoiser`: the parts.

Example:
    >>> import torch
    >>> import hyperweights as hw
    >>> from hyperweights.diffusion import D2NWG
    >>> model = D2NWG(hw.mlp([4, 3, 2]), num_features=4, num_classes=2, token_size=8, latent_dim=2,
    ...               vae_dim=16, vae_layers=1, cond_dim=8, encoder_hidden=16, denoiser_width=32)
    >>> model.generate(torch.randn(8, 4), torch.arange(8) % 2, samples=4, sample_steps=3).weights["2.bias"].shape
    torch.Size([4, 2])
"""

from .denoiser import Denoiser as Denoiser
from .encoder import DatasetEncoder as DatasetEncoder
from .fit import DiffusionConfig as DiffusionConfig
from .fit import ZooData as ZooData
from .fit import evaluate as evaluate
from .fit import fit as fit
from .fit import generate_for_tasks as generate_for_tasks
from .fit import support_sets as support_sets
from .model import D2NWG as D2NWG
from .model import Generated as Generated
from .vae import WeightVAE as WeightVAE

__all__ = ["D2NWG", "DatasetEncoder", "Denoiser", "DiffusionConfig", "Generated", "WeightVAE", "ZooData",
           "evaluate", "fit", "generate_for_tasks", "support_sets"]
