"""The application's verbs: ``fit(model, data, config)`` and ``evaluate(model, data)``.

``fit`` trains either model of this application on the core loop
(:func:`hyperweights.training.train_loop`: progress bar, seed, periodic checkpoint, bit-identical
resume):

- a :class:`~hyperweights.hyperparams.ConditionedModel` ("train once, sweep later"): every step
  samples ``lambda`` (``config.groups`` values per batch) and minimises ``loss(out, y, lam,
  weights)``; the default loss is ``log(CE + weight_decay * sum ||W||^2)`` per ``lambda`` (the
  benchmark's objective; a ``weight_decay`` hyperparameter must then be declared);
- a :class:`~hyperweights.hyperparams.StnModel` (Self-Tuning Network): :class:`StnTrainer`'s
  alternation, ``config.steps`` training steps on the weights with, after ``config.warmup`` of them,
  ``config.val_steps`` validation steps on ``lambda`` after every ``config.train_steps``.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from hyperweights.hyperparams import (ConditionedModel, Hyperparameter, HyperparameterSpace,
    ...                                       HyperparamsConfig, evaluate, fit)
    >>> space = HyperparameterSpace([Hyperparameter("weight_decay", 1e-5, 1e-1, scale="log")])
    >>> model = ConditionedModel(nn.Linear(4, 3), space)
    >>> x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
    >>> result = fit(model, (x, y), HyperparamsConfig(steps=20, batch_size=16, progress=False))
    >>> result.steps, sorted(evaluate(model, (x, y), {"weight_decay": 1e-3}))
    (20, ['accuracy', 'loss'])
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

from ..optim import make_optimizer
from ..training import FitResult, TrainConfig, config_field, train_loop
from .conditioned import ConditionedModel
from .regularizers import squared_norms
from .stn import StnModel, StnTrainer

__all__ = ["HyperparamsConfig", "fit", "evaluate", "weight_decay_objective"]


@dataclass
class HyperparamsConfig(TrainConfig):
    """Training of a conditioned model or a Self-Tuning Network (the ``stn``-marked fields are
    read for :class:`StnModel` only)."""

    steps: int = config_field(1000, "optimizer steps on the weights")
    groups: int | str = config_field(1, "lambda values per batch: 1, an integer dividing batch_size, "
                                  "or 'example' (conditioned models)")
    warmup: int = config_field(100, "stn: training steps before lambda is tuned")
    train_steps: int = config_field(2, "stn: training steps per round (the paper's 2)")
    val_steps: int = config_field(1, "stn: validation steps on lambda per round (the paper's 1)")
    hyper_lr: float = config_field(3e-3, "stn: Adam learning rate of lambda and its scale (the paper's 3e-3)")
    entropy_weight: float = config_field(1e-3, "stn: weight tau of the perturbation entropy bonus")
    tune_scales: bool = config_field(True, "stn: also learn the perturbation scale")
    per_example: bool = config_field(True, "stn: one perturbation per example (the paper) or per batch")

    def validate(self) -> None:
        super().validate()
        self.positive_int("steps", allow_zero=True)
        for name in ("warmup",):
            self.positive_int(name, allow_zero=True)
        for name in ("train_steps", "val_steps"):
            self.positive_int(name)
        if self.groups != "example":
            self.positive_int("groups")
            if self.batch_size % self.groups:
                raise ValueError(f"HyperparamsConfig.groups={self.groups} must divide batch_size="
                                 f"{self.batch_size} (or be 1 or 'example')")
        self._require("hyper_lr", isinstance(self.hyper_lr, (int, float)) and self.hyper_lr > 0
                      and math.isfinite(self.hyper_lr), "a positive finite number")
        self._require("entropy_weight", isinstance(self.entropy_weight, (int, float))
                      and self.entropy_weight >= 0, "a number >= 0")


def weight_decay_objective(out: Tensor, y: Tensor, lam: dict[str, Tensor], weights: dict[str, Tensor]) -> Tensor:
    """``mean_k log(CE_k + weight_decay_k * sum ||W_k||^2)``: one term per ``lambda`` group.

    A positive rescaling of each ``lambda``'s objective keeps its minimiser (the best response);
    the log balances the gradient sizes of the ``lambda`` values that share one Adam state
    (measured in docs/hyperparams.md). Expects a hyperparameter named ``weight_decay``.
    """
    if "weight_decay" not in lam:
        raise KeyError(f"the default objective needs a hyperparameter named 'weight_decay' (declared: "
                       f"{sorted(lam)}); pass your own loss=loss(out, y, lam, weights) to fit")
    wd = lam["weight_decay"]
    ce = F.cross_entropy(out, y, reduction="none").view(wd.shape[0], -1).mean(1)
    return torch.log(ce + wd * squared_norms(weights)).mean()


def _check_data(data, names=("x", "y")) -> tuple[Tensor, Tensor]:
    if not (isinstance(data, (tuple, list)) and len(data) == 2
            and all(isinstance(t, Tensor) for t in data)):
        raise TypeError(f"data must be a pair of tensors ({names[0]} (N, ...), {names[1]} (N,)), "
                        f"got {type(data).__name__}")
    x, y = data
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(f"{names[0]} and {names[1]} need the same, non-zero number of rows, got "
                         f"{x.shape[0]} and {y.shape[0]}")
    return x, y


def fit(model, data, config: HyperparamsConfig, *, loss: Callable | None = None,
        val_data=None, augment: Callable[[Tensor, dict], Tensor] | None = None) -> FitResult:
    """Train ``model`` on ``data = (x, y)``.

    Args:
        model: a :class:`ConditionedModel` or a :class:`StnModel`.
        data: training tensors ``(x: (N, ...), y: (N,))``.
        config: :class:`HyperparamsConfig`.
        loss: conditioned models: ``loss(out, y, lam {name: (K,)}, weights {name: (K, *shape)})``
            (default :func:`weight_decay_objective`); STN: ``loss(logits, y)`` (default
            cross-entropy).
        val_data: STN only, the validation tensors ``lambda`` is tuned on (required).
        augment: STN only, ``augment(x, values) -> x`` on training batches (e.g. cutout). Draw its
            randomness from the global generator, which checkpoints save and restore.

    Returns:
        :class:`~hyperweights.training.FitResult`; for an STN, ``extra["schedule"]`` lists the
        tuned values after every validation step (since the start of this call).
    """
    if not isinstance(config, HyperparamsConfig):
        raise TypeError(f"config must be a HyperparamsConfig, got {type(config).__name__}")
    config.validate()
    x, y = _check_data(data)
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    if isinstance(model, ConditionedModel):
        if val_data is not None or augment is not None:
            raise TypeError("val_data and augment are for StnModel; a ConditionedModel trains on "
                            "data alone (put augmentation into loss or the data)")
        return _fit_conditioned(model, x, y, config, loss or weight_decay_objective, gen)
    if isinstance(model, StnModel):
        if val_data is None:
            raise ValueError("an StnModel tunes lambda on validation data: pass val_data=(x_val, y_val)")
        return _fit_stn(model, x, y, _check_data(val_data, ("x_val", "y_val")), config, loss, augment, gen)
    raise TypeError(f"fit trains a ConditionedModel or an StnModel, got {type(model).__name__}")


def _fit_conditioned(model: ConditionedModel, x, y, config, loss, gen) -> FitResult:
    groups = config.groups

    def step(i: int) -> Tensor:
        idx = torch.randint(0, x.shape[0], (config.batch_size,), generator=gen)
        return model.step_loss(x[idx], y[idx], loss, groups=groups, generator=gen)

    optimizer = make_optimizer(model.trainable_parameters(), config.lr)
    settings = dict(config.settings(), model=model.checkpoint_state()[1])
    return train_loop(step, optimizer, config, total_steps=config.steps, model=model,
                      generators=[gen], settings=settings, desc="conditioned model")


def _fit_stn(model: StnModel, x, y, val, config, loss, augment, gen) -> FitResult:
    trainer = StnTrainer(model.network, model.hparams, augment=augment, lr=config.lr,
                         hyper_lr=config.hyper_lr, entropy_weight=config.entropy_weight,
                         train_steps=config.train_steps, val_steps=config.val_steps,
                         tune_scales=config.tune_scales, per_example=config.per_example,
                         generator=gen, **({"loss": loss} if loss is not None else {}))
    xv, yv = val

    def batch(xs, ys):
        idx = torch.randint(0, xs.shape[0], (config.batch_size,), generator=gen)
        return xs[idx], ys[idx]

    def step(i: int) -> Tensor:
        return trainer.train_loss(*batch(x, y))

    def after_step(i: int) -> None:
        trainer.step_count = i + 1
        done = i + 1 - config.warmup
        if done > 0 and done % config.train_steps == 0:
            for _ in range(config.val_steps):
                trainer.val_step(*batch(xv, yv))

    trainer.record()
    result = train_loop(step, trainer.optimizer, config, total_steps=config.steps, model=model,
                        after_step=after_step, generators=[gen],
                        settings=dict(config.settings(), model=model.checkpoint_state()[1]), desc="STN")
    result.extra["schedule"] = trainer.schedule
    return result


@torch.no_grad()
def evaluate(model, data, values=None) -> dict[str, float]:
    """Cross-entropy ``loss`` and ``accuracy`` of ``model`` on ``data = (x, y)``.

    Args:
        model: a :class:`ConditionedModel` (then ``values``: the hyperparameters to evaluate, one
            set as a dict or ``(1, k)``; or ``K`` sets, which return ``loss_i`` / ``accuracy_i`` per
            set from one vmapped sweep) or an :class:`StnModel` (at its current ``lambda``).
    """
    x, y = _check_data(data)
    was = model.training
    model.eval()
    try:
        if isinstance(model, ConditionedModel):
            if values is None:
                raise ValueError(f"evaluate(ConditionedModel, data, values): give the hyperparameter "
                                 f"values to evaluate, e.g. {{name: value}} for {model.space.names}")
            logits = model.sweep(x, values)                                  # (K, N, C)
        elif isinstance(model, StnModel):
            logits = model(x).unsqueeze(0)
        else:
            raise TypeError(f"evaluate takes a ConditionedModel or an StnModel, got {type(model).__name__}")
    finally:
        model.train(was)
    k = logits.shape[0]
    losses = F.cross_entropy(logits.flatten(0, 1), y.repeat(k), reduction="none").view(k, -1).mean(1)
    accs = (logits.argmax(-1) == y).float().mean(1)
    if k == 1:
        return {"loss": losses.item(), "accuracy": accs.item()}
    return {**{f"loss_{i}": v for i, v in enumerate(losses.tolist())},
            **{f"accuracy_{i}": v for i, v in enumerate(accs.tolist())}}
