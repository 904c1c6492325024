"""``fit(model, x, y, config)``: one training entry point for every model of the package.

Each model keeps its own objective (:func:`objective` picks it from the model's class):

- :class:`SingleNetwork`, :class:`MCDropout`: cross-entropy (MC dropout with one ordinary mask per
  input);
- :class:`DeepEnsemble`: every member on its own minibatch and data order in one vmapped step; the
  loss is the *sum* of the members' mean losses, so each member gets exactly its own gradient;
- :class:`ImplicitEnsemble` / :class:`SharedImplicitEnsemble`: the expected cross-entropy over
  ``config.samples`` members per step (one batched call) plus ``config.beta`` times a diversity
  term on the mixed codes: HyperGAN's latent discriminator (``"gan"``, alternating Adam steps),
  kernel MMD to ``N(0, I)`` (``"mmd"``) or nothing (``"none"``); optionally minus
  ``config.ood_diversity`` times the members' disagreement on pixel-shuffled training images;
- :class:`BayesianHypernetwork`: the negative ELBO per datum (:meth:`BayesianHypernetwork.loss`).

All run on the core :func:`~hyperweights.training.train_loop`: fused Adam, a cosine schedule from
``config.lr`` to zero over ``config.epochs``, a progress bar, checkpoints every
``config.checkpoint_every`` steps and ``config.resume``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..optim import make_optimizer
from ..training import FitResult, TrainConfig, config_field, train_loop
from .baselines import DeepEnsemble, MCDropout, SingleNetwork
from .bayesian import BayesianHypernetwork
from .implicit import ImplicitEnsemble
from .predict import Predictive
from .regularizers import LatentDiscriminator, member_disagreement, mmd_to_prior, permuted_pixels

__all__ = ["UncertaintyConfig", "fit", "objective", "Objective"]

REGULARIZERS = ("gan", "mmd", "none")


@dataclass
class UncertaintyConfig(TrainConfig):
    """Training of any model of :mod:`hyperweights.uncertainty` (the core fields, plus these).

    Example:
        >>> UncertaintyConfig(epochs=30, regularizer="mmd").validate()
        >>> UncertaintyConfig(samples=0).validate()
        Traceback (most recent call last):
        ...
        ValueError: UncertaintyConfig.samples must be a positive integer, got 0
    """

    epochs: int = config_field(10, "passes over the training set (the learning rate decays to 0 over them)")
    samples: int = config_field(4, "members drawn per step (implicit ensembles, Bayesian hypernetwork)")
    regularizer: str = config_field(
        "gan", "implicit ensembles' diversity term on the codes: gan (HyperGAN's latent "
               "discriminator), mmd (kernel MMD to N(0, I)) or none")
    beta: float = config_field(1.0, "implicit ensembles: weight of the diversity term")
    code_batch: int = config_field(64, "implicit ensembles: codes drawn per step for the diversity term")
    head_lr_scale: float = config_field(
        1.0, "implicit ensembles: learning-rate factor of the generator's output head")
    ood_diversity: float = config_field(
        0.0, "implicit ensembles: weight of the members' disagreement on pixel-shuffled training "
             "images, subtracted from the loss (0: off)")
    kl_weight: float = config_field(1.0, "Bayesian hypernetwork: weight of the KL term (1: the ELBO)")

    def validate(self) -> None:
        super().validate()
        for name in ("epochs", "samples", "code_batch"):
            self.positive_int(name)
        if self.regularizer not in REGULARIZERS:
            raise ValueError(f"UncertaintyConfig.regularizer must be one of {REGULARIZERS}, got {self.regularizer!r}")
        for name, low in (("beta", 0.0), ("ood_diversity", 0.0), ("kl_weight", 0.0)):
            value = getattr(self, name)
            self._require(name, isinstance(value, (int, float)) and math.isfinite(value) and value >= low,
                          "a finite number >= 0")
        self._require("head_lr_scale", isinstance(self.head_lr_scale, (int, float))
                      and math.isfinite(self.head_lr_scale) and self.head_lr_scale > 0, "a positive finite number")


@dataclass
class Objective:
    """What one model trains on: ``loss(idx)`` of minibatch indices ``(B,)`` (``(streams, B)`` for
    a deep ensemble), the optimizer's parameter groups, and anything that trains beside the model."""

    loss: Callable[[Tensor], Tensor]
    groups: list[dict]
    streams: int = 1
    after_step: Callable[[int], None] | None = None
    companions: dict[str, nn.Module] = field(default_factory=dict)
    companion_optimizer: torch.optim.Optimizer | None = None
    generators: list[torch.Generator] = field(default_factory=list)


def _cross_entropy(model, x, y, config):
    return Objective(lambda i: F.cross_entropy(model.net(x[i]), y[i]), [{"params": model.trainable_parameters()}])


def _deep_ensemble(model, x, y, config):
    n = model.fixed_members

    def loss(idx):                                                   # idx: (n, B)
        logits = model._forward(x[idx])                               # (n, B, C)
        return F.cross_entropy(logits.flatten(0, 1), y[idx].flatten()) * n

    return Objective(loss, [{"params": model.trainable_parameters()}], streams=n)


def _implicit(model, x, y, config):
    samples, gamma = config.samples, config.ood_diversity
    shuffle_gen = torch.Generator().manual_seed(config.seed + 7919)   # its own stream: gamma = 0 changes nothing
    disc = LatentDiscriminator(model.mixer.out_dim) if config.regularizer == "gan" else None
    codes = {}

    def loss(idx):
        noise = model.sample_noise(samples)
        xb = x[idx]
        if gamma:                           # same members, real and shuffled images in one call
            both = model.model.ensemble(torch.cat([xb, permuted_pixels(xb, shuffle_gen)]), noise)
            logits, shuffled = both[:, :len(xb)], both[:, len(xb):]  # (K, B, C) each
        else:
            logits = model.model.ensemble(xb, noise)                  # (K, B, C)
        value = F.cross_entropy(logits.flatten(0, 1), y[idx].repeat(samples))
        if gamma:
            value = value - gamma * member_disagreement(shuffled)
        if config.regularizer != "none":
            codes["last"] = model.hypernetwork.encode(model.sample_noise(config.code_batch))
            reg = disc.mixer_loss(codes["last"]) if disc is not None else mmd_to_prior(codes["last"])
            value = value + config.beta * reg
        return value

    head = list(model.hypernetwork.head.parameters())
    head_ids = {id(p) for p in head}
    groups = [{"params": head, "lr": config.lr * config.head_lr_scale},
              {"params": [p for p in model.trainable_parameters() if id(p) not in head_ids]}]
    if disc is None:
        return Objective(loss, groups, generators=[shuffle_gen])
    disc_opt = make_optimizer(disc.parameters(), config.lr)

    def disc_step(i):                      # alternating: the discriminator after every mixer step
        d_loss = disc.loss(codes["last"])
        disc_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        disc_opt.step()

    return Objective(loss, groups, after_step=disc_step, companions={"discriminator": disc},
                     companion_optimizer=disc_opt, generators=[shuffle_gen])


def _bayesian(model, x, y, config):
    return Objective(lambda i: model.negative_elbo(x[i], y[i], config.samples, len(x), config.kl_weight),
                     [{"params": model.trainable_parameters()}])


_OBJECTIVES = [(DeepEnsemble, _deep_ensemble), (ImplicitEnsemble, _implicit),
               (BayesianHypernetwork, _bayesian), ((SingleNetwork, MCDropout), _cross_entropy)]


def objective(model: Predictive, x: Tensor, y: Tensor, config: UncertaintyConfig) -> Objective:
    """The training objective of ``model`` on ``x: (N, D)``, ``y: (N,)`` (see the module docs)."""
    for classes, build in _OBJECTIVES:
        if isinstance(model, classes):
            return build(model, x, y, config)
    raise TypeError(f"fit trains the models of hyperweights.uncertainty (SingleNetwork, MCDropout, DeepEnsemble, "
                    f"ImplicitEnsemble, SharedImplicitEnsemble, BayesianHypernetwork); got {type(model).__name__}")


class _EpochBatches:
    """Minibatch indices of global step ``i``: every epoch draws ``streams`` permutations of the
    ``N`` inputs from one generator seeded ``seed + 1``; a resumed run replays the draws of the
    epochs before (cheap: one ``randperm`` each), so it sees the batches an uninterrupted run sees."""

    def __init__(self, num_data: int, batch_size: int, streams: int, seed: int):
        self.num_data, self.batch_size, self.streams, self.seed = num_data, batch_size, streams, seed
        self.steps_per_epoch = num_data // batch_size
        self.epoch, self.order, self.gen = -1, None, torch.Generator().manual_seed(seed + 1)

    def _draw(self) -> Tensor:
        return torch.stack([torch.randperm(self.num_data, generator=self.gen) for _ in range(self.streams)])

    def __call__(self, i: int) -> Tensor:
        epoch, j = divmod(i, self.steps_per_epoch)
        if epoch != self.epoch:
            if epoch != self.epoch + 1:                 # resumed: replay the earlier epochs' draws
                self.gen.manual_seed(self.seed + 1)
                for _ in range(epoch):
                    self._draw()
            self.order, self.epoch = self._draw(), epoch
        idx = self.order[:, j * self.batch_size:(j + 1) * self.batch_size]
        return idx[0] if self.streams == 1 else idx


def fit(model: Predictive, x: Tensor, y: Tensor, config: UncertaintyConfig | None = None) -> FitResult:
    """Train ``model`` on ``x: (N, in_features)`` and integer classes ``y: (N,)``.

    Seeds the global RNG with ``config.seed`` first (initialisation of a discriminator, sampled
    members, dropout masks); minibatch orders come from a generator seeded ``config.seed + 1``.
    ``x`` and ``y`` must be on ``config.device`` (the model is moved there).

    Returns:
        :class:`~hyperweights.training.FitResult` (per-step losses, seconds, optimizer steps);
        ``extra["discriminator"]`` holds the trained latent discriminator of a ``"gan"`` run.

    Example:
        >>> import torch
        >>> from hyperweights.uncertainty import SingleNetwork, UncertaintyConfig, fit
        >>> x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
        >>> result = fit(SingleNetwork((4, 8, 3)), x, y, UncertaintyConfig(epochs=2, batch_size=16,
        ...                                                                progress=False))
        >>> result.steps, len(result.losses)
        (8, 8)
    """
    config = UncertaintyConfig() if config is None else config
    if not isinstance(config, UncertaintyConfig):
        raise TypeError(f"config must be an UncertaintyConfig, got {type(config).__name__}")
    config.validate()
    if not isinstance(model, Predictive):
        objective(model, x, y, config)                  # raises the TypeError naming the models
    model.to(config.device)
    x, y = model.check_data(x, y)
    if model.fixed_members is None:                     # a sampling model draws config.samples members
        model.check_samples(config.samples)
    if len(x) < config.batch_size:
        raise ValueError(f"UncertaintyConfig.batch_size={config.batch_size} exceeds the {len(x)} training "
                         "inputs (an epoch would take no step); lower batch_size")
    torch.manual_seed(config.seed)
    goal = objective(model, x, y, config)
    batches = _EpochBatches(len(x), config.batch_size, goal.streams, config.seed)
    optimizer = make_optimizer(goal.groups, config.lr)
    total = config.epochs * batches.steps_per_epoch
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, total)
    state = nn.ModuleDict({"model": model, **goal.companions})
    model.train()
    companion = {} if goal.companion_optimizer is None else {"companion_optimizer": goal.companion_optimizer}
    result = train_loop(lambda i: goal.loss(batches(i)), optimizer, config, total_steps=total,
                        model=state, scheduler=scheduler, after_step=goal.after_step,
                        generators=goal.generators, extra_state=companion,
                        settings={**config.settings(), "model": type(model).__name__},
                        desc=type(model).__name__)
    result.extra.update(goal.companions)
    return result
