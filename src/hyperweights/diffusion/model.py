"""D2NWG (Soro et al., ICLR 2025): weights for a dataset from a latent diffusion over a model zoo.

:class:`D2NWG` holds the three trained parts and the sampler:

1. a :class:`~hyperweights.diffusion.vae.WeightVAE` over layer-wise tokens of the zoo's weights
   (normalised per scalar by the zoo's mean and standard deviation);
2. a :class:`~hyperweights.diffusion.encoder.DatasetEncoder` (Set Transformer) whose embedding of
   a support set is aligned CLIP-style with a projection of the VAE latent of that dataset's models;
3. a :class:`~hyperweights.diffusion.denoiser.Denoiser` of the VAE latents conditioned on the
   dataset embedding, trained with condition dropout (classifier-free guidance); the noise schedule
   is ``diffusers``' ``DDPMScheduler``, sampling uses its ``DDIMScheduler`` (deterministic, ``eta=0``).

:meth:`D2NWG.generate` samples ``K`` weight sets for one support set in one call, scores them on it
and, optionally, fine-tunes them (all ``K`` at once, with the zoo's batched trainer).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..io import checkpointable
from ..zoo import TaskSet, TokenLayout, ZooConfig, member_accuracy, spec_table, train_zoo
from .denoiser import Denoiser
from .encoder import DatasetEncoder
from .vae import WeightVAE

__all__ = ["D2NWG", "Generated", "schedulers"]


def schedulers(num_train_timesteps: int):
    """``(DDPMScheduler, DDIMScheduler)`` of ``diffusers`` with the cosine schedule (imported here,
    so the rest of the library never imports ``diffusers``)."""
    with warnings.catch_warnings():
        # diffusers may warn about optional backends (flax, onnx) on import; they are not used here
        warnings.simplefilter("ignore", FutureWarning)
        from diffusers.schedulers.scheduling_ddim import DDIMScheduler
        from diffusers.schedulers.scheduling_ddpm import DDPMScheduler
    train = DDPMScheduler(num_train_timesteps=num_train_timesteps, beta_schedule="squaredcos_cap_v2",
                          clip_sample=False)
    sample = DDIMScheduler.from_config(train.config)
    return train, sample


@dataclass
class Generated:
    """What :meth:`D2NWG.generate` returns: ``weights {name: (K, *shape)}`` sorted best first by
    ``support_accuracy: (K,)`` (accuracy on the support set, after fine-tuning when asked)."""

    weights: dict[str, Tensor]
    support_accuracy: Tensor

    def best(self) -> dict[str, Tensor]:
        """The top-scoring weight set, ``{name: (1, *shape)}``."""
        return {n: w[:1] for n, w in self.weights.items()}


def _fingerprint_error(stored: dict, target: nn.Module) -> str | None:
    theirs = spec_table(target).fingerprint()
    return None if theirs["sha256_16"] == stored["sha256_16"] else (
        f"the target's parameters {theirs['params']} are not those the model was trained for "
        f"{stored['params']}")


@checkpointable("diffusion.D2NWG")
class D2NWG(nn.Module):
    """Dataset-conditioned latent diffusion over the weights of ``target``.

    Args:
        target: the architecture of the generated networks (not stored; pass it to ``hw.load``).
        num_features, num_classes: of the datasets (support-set images ``D``, labels ``0..C-1``).
        token_size: weights per layer-wise token; latent_dim: latent width per token.
        vae_dim, vae_layers: the VAE's transformer width and depth.
        cond_dim: dataset-embedding width; encoder_hidden: Set Transformer width.
        denoiser_width, denoiser_blocks: the denoiser MLP's size.
        timesteps: diffusion steps of the training schedule.

    Example:
        >>> import hyperweights as hw
        >>> model = D2NWG(hw.mlp([4, 3, 2]), 4, 2, token_size=8, latent_dim=2, vae_dim=16,
        ...               vae_layers=1, cond_dim=8, encoder_hidden=16, denoiser_width=32)
        >>> out = model.generate(torch.randn(10, 4), torch.arange(10) % 2, samples=3, sample_steps=4)
        >>> out.weights["0.weight"].shape, out.support_accuracy.shape
        (torch.Size([3, 3, 4]), torch.Size([3]))
    """

    def __init__(self, target: nn.Module, num_features: int, num_classes: int, *, token_size: int = 64,
                 latent_dim: int = 4, vae_dim: int = 64, vae_layers: int = 2, cond_dim: int = 64,
                 encoder_hidden: int = 64, denoiser_width: int = 256, denoiser_blocks: int = 4,
                 timesteps: int = 1000):
        super().__init__()
        table = spec_table(target)
        self.config = {"num_features": num_features, "num_classes": num_classes, "token_size": token_size,
                       "latent_dim": latent_dim, "vae_dim": vae_dim, "vae_layers": vae_layers,
                       "cond_dim": cond_dim, "encoder_hidden": encoder_hidden,
                       "denoiser_width": denoiser_width, "denoiser_blocks": denoiser_blocks,
                       "timesteps": timesteps, "fingerprint": table.fingerprint()}
        object.__setattr__(self, "target", target)          # not a submodule: not trained, not saved
        self.layout = TokenLayout(table, token_size)
        self.vae = WeightVAE(self.layout.num_tokens, token_size, latent_dim, dim=vae_dim,
                             heads=4 if vae_dim % 4 == 0 else 1, layers=vae_layers)
        self.encoder = DatasetEncoder(num_features, num_classes, dim=cond_dim, hidden=encoder_hidden,
                                      heads=4 if encoder_hidden % 4 == 0 else 1)
        self.latent_projection = nn.Linear(self.vae.latent_size, cond_dim)   # CLIP-style alignment
        self.log_temperature = nn.Parameter(torch.tensor(2.659))             # log(1 / 0.07)
        self.null_condition = nn.Parameter(torch.zeros(cond_dim))           # classifier-free guidance
        self.denoiser = Denoiser(self.vae.latent_size, cond_dim, width=denoiser_width, blocks=denoiser_blocks)
        self.register_buffer("weight_mean", torch.zeros(table.total))
        self.register_buffer("weight_std", torch.ones(table.total))
        self.register_buffer("latent_scale", torch.ones(()))

    # -- weights <-> latents ------------------------------------------------------------------
    def set_normalization(self, flat: Tensor) -> None:
        """Per-scalar mean and standard deviation of the zoo's flat weights ``(M, P)``."""
        self.weight_mean.copy_(flat.mean(0))
        self.weight_std.copy_(flat.std(0).clamp_min(1e-3) if len(flat) > 1 else torch.ones_like(flat[0]))

    def tokens(self, weights: dict[str, Tensor]) -> Tensor:
        """``{name: (K, *shape)}`` -> normalised tokens ``(K, T, S)``."""
        flat = self.layout.table.flatten(weights)
        return self.layout.tokenize((flat - self.weight_mean) / self.weight_std)

    def encode_weights(self, weights: dict[str, Tensor]) -> Tensor:
        """The scaled latent means ``(K, L)`` of weight sets (what the diffusion model learns)."""
        mean, _ = self.vae.encode(self.tokens(weights))
        return mean.flatten(1) * self.latent_scale

    def weights_from_tokens(self, tokens: Tensor) -> dict[str, Tensor]:
        """Normalised tokens ``(K, T, S)`` -> weights ``{name: (K, *shape)}`` (inverts :meth:`tokens`)."""
        flat = self.layout.untokenize_flat(tokens)
        return self.layout.table.split(flat * self.weight_std + self.weight_mean)

    def decode_latents(self, latent: Tensor) -> dict[str, Tensor]:
        """Scaled latents ``(K, L)`` -> weights ``{name: (K, *shape)}``."""
        z = (latent / self.latent_scale).view(len(latent), self.layout.num_tokens, -1)
        return self.weights_from_tokens(self.vae.decode(z))

    def dataset_embedding(self, x: Tensor, y: Tensor) -> Tensor:
        """Support sets ``x: (T, N, D)``, ``y: (T, N)`` -> conditions ``(T, cond_dim)``."""
        return self.encoder(x, y)

    # -- sampling -----------------------------------------------------------------------------
    @torch.no_grad()
    def sample_latents(self, cond: Tensor, *, guidance: float = 2.0, sample_steps: int = 50,
                       seed: int = 0) -> Tensor:
        """DDIM sampling with classifier-free guidance: conditions ``(B, c)`` -> latents ``(B, L)``.

        ``eps = eps_null + guidance * (eps_cond - eps_null)``; ``guidance = 1`` is the plain
        conditional model, ``0`` the unconditional one. The same ``seed`` gives the same latents.
        """
        _, scheduler = schedulers(self.config["timesteps"])
        scheduler.set_timesteps(sample_steps)
        generator = torch.Generator(device=cond.device).manual_seed(seed)
        x = torch.randn(len(cond), self.vae.latent_size, generator=generator, device=cond.device)
        both = torch.cat([cond, self.null_condition.expand_as(cond)])
        for t in scheduler.timesteps:
            steps = torch.full((2 * len(cond),), int(t), device=cond.device)
            eps_cond, eps_null = self.denoiser(torch.cat([x, x]), steps, both).chunk(2)
            eps = eps_null + guidance * (eps_cond - eps_null)
            x = scheduler.step(eps, t, x).prev_sample
        return x

    def _check_support(self, x, y) -> None:
        d, c = self.config["num_features"], self.config["num_classes"]
        if not (isinstance(x, Tensor) and x.ndim == 2 and x.shape[1] == d and x.is_floating_point()):
            raise ValueError(f"the support set's images must be a float tensor (N, {d}); got "
                             f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}")
        if not (isinstance(y, Tensor) and y.shape == x.shape[:1] and not y.is_floating_point()):
            raise ValueError(f"the support set's labels must be an integer tensor ({len(x)},); got "
                             f"{tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__}")
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= c):
            raise ValueError(f"support labels must be in 0..{c - 1}, got {int(y.min())}..{int(y.max())}")

    def generate(self, support_x: Tensor, support_y: Tensor, samples: int = 10, *, guidance: float = 2.0,
                 sample_steps: int = 50, seed: int = 0, finetune_steps: int = 0, lr: float = 1e-2,
                 batch_size: int = 64) -> Generated:
        """``samples`` weight sets for the dataset of one support set, in one call.

        Args:
            support_x: ``(N, D)`` images; support_y: ``(N,)`` labels in ``0..C-1``.
            samples: ``K``; guidance: classifier-free guidance scale; sample_steps: DDIM steps.
            seed: the sampling noise (equal seeds give equal weights).
            finetune_steps: Adam steps on the support set for all ``K`` sets at once (0: none).
            lr, batch_size: of that fine-tuning.

        Returns:
            :class:`Generated`, sorted best first by accuracy on the support set.
        """
        self._check_support(support_x, support_y)
        if not (isinstance(samples, int) and samples > 0):
            raise ValueError(f"samples must be a positive integer, got {samples!r}")
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                cond = self.dataset_embedding(support_x[None], support_y[None])
                weights = self.decode_latents(self.sample_latents(
                    cond.expand(samples, -1), guidance=guidance, sample_steps=sample_steps, seed=seed))
        finally:
            self.train(was_training)
        tasks = _one_task(support_x, support_y, self.config["num_classes"])
        if finetune_steps:
            cfg = ZooConfig(steps=finetune_steps, lr=lr, batch_size=min(batch_size, len(support_x)),
                            progress=False, seed=seed, device=str(support_x.device))
            weights, _ = train_zoo(self.target, tasks, [0] * samples, range(seed, seed + samples), cfg,
                                   init=weights)
        scores = member_accuracy(self.target, weights, *tasks.train_batch([0] * samples))
        order = torch.argsort(scores, descending=True, stable=True)
        return Generated({n: w[order] for n, w in weights.items()}, scores[order])

    # -- checkpoints --------------------------------------------------------------------------
    def checkpoint_state(self):
        return dict(self.state_dict()), dict(self.config)

    @classmethod
    def from_checkpoint(cls, tensors, config, target: nn.Module | None = None, **overrides):
        if target is None:
            raise TypeError("a D2NWG checkpoint needs the architecture it generates for: "
                            "hw.load(path, target=net)")
        config = {**config, **overrides}
        fingerprint = config.pop("fingerprint")
        problem = _fingerprint_error(fingerprint, target)
        if problem:
            raise ValueError(problem)
        model = cls(target, **config)
        model.load_state_dict(tensors)
        return model


def _one_task(x: Tensor, y: Tensor, num_classes: int) -> TaskSet:
    """One support set as a one-task :class:`TaskSet` (for the zoo's trainer and scorer)."""
    rows = torch.arange(len(x), device=x.device)[None]
    return TaskSet(x, rows, y[None], x, rows, y[None], torch.arange(num_classes)[None], "support")
