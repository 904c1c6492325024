"""Training loops for every method (minibatch Adam, seeded, one loss function per method)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .baselines import DeepEnsemble, MCDropout, SingleNetwork
from .bayesian import BayesianHypernetwork
from .implicit import ImplicitEnsemble
from .regularizers import LatentDiscriminator, member_disagreement, mmd_to_prior, permuted_pixels

__all__ = ["TrainConfig", "fit", "train_single", "train_mc_dropout", "train_deep_ensemble",
           "train_implicit", "train_bayesian", "trainable_count"]


@dataclass
class TrainConfig:
    """Budget shared by all methods.

    Attributes:
        epochs: passes over the training set.
        batch_size: minibatch size (per member for the deep ensemble).
        lr: Adam learning rate (cosine-decayed to zero).
        seed: seeds initialisation, minibatch order and sampled members.
        progress: show a tqdm bar.
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    progress: bool = True


def trainable_count(params) -> int:
    return sum(p.numel() for p in params if p.requires_grad)


def _adam(params, lr):
    params = list(params)
    if params and isinstance(params[0], dict):                      # parameter groups
        groups = [dict(g, params=[p for p in g["params"] if p.requires_grad]) for g in params]
        return torch.optim.Adam(groups, lr=lr, fused=True)
    return torch.optim.Adam([p for p in params if p.requires_grad], lr=lr, fused=True)


def fit(step: Callable[[Tensor], Tensor], params: list[nn.Parameter] | list[dict], num_data: int, cfg: TrainConfig,
        *, streams: int = 1, extra: Callable[[Tensor], None] | None = None, desc: str = "") -> float:
    """Run ``cfg.epochs`` epochs of Adam on ``step(index) -> loss``; returns seconds spent.

    Args:
        step: maps minibatch indices ``(B,)`` (or ``(streams, B)``) to a scalar loss.
        params: what the optimizer updates (parameters, or Adam parameter groups).
        num_data: training-set size ``N``.
        streams: independent shuffles (a deep ensemble gives every member its own data order).
        extra: called after every step with the same indices (e.g. a discriminator update).
    """
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    opt = _adam(params, cfg.lr)
    steps_per_epoch = num_data // cfg.batch_size
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.epochs * steps_per_epoch)
    bar = None
    if cfg.progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=cfg.epochs * steps_per_epoch, desc=desc, leave=False, mininterval=2.0)
    start = time.perf_counter()
    for _ in range(cfg.epochs):
        order = torch.stack([torch.randperm(num_data, generator=gen) for _ in range(streams)])
        for i in range(steps_per_epoch):
            idx = order[:, i * cfg.batch_size:(i + 1) * cfg.batch_size]
            idx = idx[0] if streams == 1 else idx
            loss = step(idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if extra is not None:
                extra(idx)
            if bar is not None:
                bar.update()
                if i % 50 == 0:
                    bar.set_postfix(loss=f"{loss.item():.3f}")
    if bar is not None:
        bar.close()
    return time.perf_counter() - start


def train_single(model: SingleNetwork, x: Tensor, y: Tensor, cfg: TrainConfig) -> float:
    """Cross-entropy training; returns seconds spent."""
    model.check_data(x, y)
    model.train()
    return fit(lambda i: F.cross_entropy(model.net(x[i]), y[i]), list(model.parameters()), len(x), cfg,
               desc="single")


def train_mc_dropout(model: MCDropout, x: Tensor, y: Tensor, cfg: TrainConfig) -> float:
    """Cross-entropy training with ordinary (one mask per sample) dropout."""
    model.check_data(x, y)
    model.train()
    return fit(lambda i: F.cross_entropy(model.net(x[i]), y[i]), list(model.parameters()), len(x), cfg,
               desc="mc-dropout")


def train_deep_ensemble(model: DeepEnsemble, x: Tensor, y: Tensor, cfg: TrainConfig) -> float:
    """All members in one vmapped step; each member its own minibatch; the loss is the *sum* of
    the members' mean losses, so every member gets exactly the gradient it would get alone."""
    n = model.fixed_members

    def step(idx):                                                   # idx: (n, B)
        logits = model._forward(x[idx])                               # (n, B, C)
        return F.cross_entropy(logits.flatten(0, 1), y[idx].flatten()) * n

    model.check_data(x, y)
    model.train()
    return fit(step, list(model.parameters()), len(x), cfg, streams=n, desc="deep-ensemble")


def train_implicit(model: ImplicitEnsemble, x: Tensor, y: Tensor, cfg: TrainConfig, *,
                   samples: int = 4, regularizer: str = "gan", beta: float = 1.0,
                   code_batch: int = 64, head_lr_scale: float = 0.1, ood_diversity: float = 0.0) -> float:
    """Expected loss over ``samples`` members per step (one batched call) + ``beta`` * diversity term
    (- ``ood_diversity`` * the members' disagreement on pixel-permuted training images).

    Args:
        regularizer: ``"gan"`` (HyperGAN's latent discriminator), ``"mmd"`` (kernel MMD of the codes
            to ``N(0, I)``) or ``"none"``.
        code_batch: codes drawn per step for the regularizer (only the mixer runs for these,
            which is cheap, so the prior match is estimated on more draws than ``samples``).
        head_lr_scale: learning-rate factor of the output head (its output layer and chunk
            embeddings). The output layer's rows are shared by every
            chunk of every layer and start at ``std ~ target_std / sqrt(d_h)`` (~2e-3 here), so an
            Adam step of ``lr = 1e-3`` rewrites all weights at once and training stalls at chance
            (measured); ``lr / 10`` on the head trains.
        ood_diversity: weight ``gamma`` of an output-space diversity term (0, the default, leaves
            training exactly as without it): every step the minibatch is also passed, pixels
            shuffled per image (:func:`permuted_pixels`), through the same ``samples`` members in
            the same batched call, and ``gamma`` * their mean mutual information
            (:func:`member_disagreement`) is subtracted from the loss. The shuffles come from their
            own generator (seeded from ``cfg.seed``), so the rest of the random stream is unchanged.
    """
    if regularizer not in ("gan", "mmd", "none"):
        raise ValueError(f"regularizer must be 'gan', 'mmd' or 'none', got {regularizer!r}")
    if not ood_diversity >= 0:
        raise ValueError(f"ood_diversity must be >= 0 (0 turns the term off), got {ood_diversity}")
    model.check_data(x, y)
    shuffle_gen = torch.Generator().manual_seed(cfg.seed + 7919)
    disc = LatentDiscriminator(model.mixer.out_dim) if regularizer == "gan" else None
    disc_opt = _adam(disc.parameters(), cfg.lr) if disc is not None else None
    state = {}

    def step(idx):
        noise = model.sample_noise(samples)
        xb = x[idx]
        if ood_diversity:                   # same members, real and shuffled images in one call
            both = model.model.ensemble(torch.cat([xb, permuted_pixels(xb, shuffle_gen)]), noise)
            logits, shuffled = both[:, :len(xb)], both[:, len(xb):]  # (K, B, C) each
        else:
            logits = model.model.ensemble(xb, noise)                  # (K, B, C)
        loss = F.cross_entropy(logits.flatten(0, 1), y[idx].repeat(samples))
        if ood_diversity:
            loss = loss - ood_diversity * member_disagreement(shuffled)
        if regularizer != "none":
            codes = model.hypernetwork.encode(model.sample_noise(code_batch))
            state["codes"] = codes
            reg = disc.mixer_loss(codes) if disc is not None else mmd_to_prior(codes)
            loss = loss + beta * reg
        return loss

    def disc_step(idx):
        d_loss = disc.loss(state["codes"])
        disc_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        disc_opt.step()

    head = list(model.hypernetwork.head.parameters())
    head_ids = {id(p) for p in head}
    groups = [{"params": head, "lr": cfg.lr * head_lr_scale},
              {"params": [p for p in model.trainable_parameters() if id(p) not in head_ids]}]
    model.train()
    return fit(step, groups, len(x), cfg,
               extra=disc_step if disc is not None else None, desc=f"implicit-{regularizer}")


def train_bayesian(model: BayesianHypernetwork, x: Tensor, y: Tensor, cfg: TrainConfig, *,
                   samples: int = 4, kl_weight: float = 1.0) -> float:
    """Negative-ELBO training (:meth:`BayesianHypernetwork.loss`) of the flow and of the target's
    directions and biases; the target's own ``scale`` parameters are generated, so not trained."""
    if not kl_weight >= 0:
        raise ValueError(f"kl_weight must be >= 0 (1 is the plain ELBO), got {kl_weight}")
    model.check_data(x, y)
    model.train()
    params = [p for n, p in model.named_parameters() if not n.endswith(".scale")]
    return fit(lambda i: model.negative_elbo(x[i], y[i], samples, len(x), kl_weight), params, len(x), cfg,
               desc="bayesian-hnet")
