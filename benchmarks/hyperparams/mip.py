"""The MIP ablation: the same hyperparameter-conditioned task with and without each part of MIP.

Task: a hypernetwork conditioned on the weight-decay coefficient ``lambda`` (log scale, one unit
coordinate ``z in [0, 1]``) generates a small MLP for Fashion-MNIST; the objective is
``CE + lambda * sum ||W||^2`` with ``lambda`` sampled every step (Gonzalez Ortiz et al. study
exactly this family: hyperparameter- and loss-conditioned hypernetworks). Four variants:

- ``MIP``: cos|sin encoding of ``z`` and the residual form ``theta = theta0 + delta(z)``;
- ``encoding only``: cos|sin, no ``theta0`` (the head emits ``theta``);
- ``residual only``: raw ``z`` as input, with ``theta0``;
- ``neither``: raw ``z``, no ``theta0`` (a plain hypernetwork).

The hypernetwork is HyperLight's: an MLP trunk and one output layer emitting every generated
scalar (:class:`FullHead`). ``init="hyperlight"`` (default) initialises it as the paper's code does
(:mod:`hyperweights.parametrize.mip`): a fan-out LeakyReLU trunk, per-tensor fan-out head rows with
zero rows for biases, and a Kaiming ``theta0`` with zero biases; the variants without ``theta0`` use
the head init ``"target_stats"``. ``init="previous"`` is this library's earlier MIP
initialisation, kept to measure the difference: a fan-in ReLU trunk, fan-out rows for biases too,
and ``theta0`` copied from PyTorch's default initialisation of the target.

Every variant runs for each learning rate and seed. The training loss is evaluated every
``eval_every`` steps on a fixed training subset at fixed ``lambda`` values; we report the steps to
reach a target loss and the spread across seeds. The target is fixed by a rule stated up front:
``target_factor`` times the median final loss over all runs.

Reference: Gonzalez Ortiz, Guttag, Dalca, "Magnitude Invariant Parametrizations Improve
Hypernetwork Learning", ICLR 2024, arXiv 2304.07645.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

import torch
from torch import Tensor
from torch.nn import functional as F

import hyperweights as hw
from hyperweights.conditioning import HyperparameterCondition
from hyperweights.heads import ChunkedHead, FullHead
from hyperweights.hypernetwork import HyperNetwork
from hyperweights.parametrize import MIP
from hyperweights.trunks import MLP
from hyperweights.hyperparams import ConditionedModel, Hyperparameter, HyperparameterSpace, squared_norms

__all__ = ["MipConfig", "SETTINGS", "VARIANTS", "run_mip_settings", "run_mip_study"]

#: name -> (encoding, residual)
VARIANTS = {"MIP": (True, True), "encoding only": (True, False), "residual only": (False, True),
            "neither": (False, False)}


@dataclass
class MipConfig:
    hidden: int = 32
    trunk: tuple[int, ...] = (32,)
    # "full": HyperLight's architecture (one output layer, per-tensor fan-out init); "chunked"
    # shares rows across chunks, so MIP's fan-out init sees the chunk size, not the tensor size
    head: str = "full"
    init: str = "hyperlight"                  # or "previous" (see the module docstring)
    feature_scale: float | None = 1.0         # HyperLight does not scale features; None: the core default
    lrs: tuple[float, ...] = (3e-4, 1e-3, 3e-3)
    seeds: tuple[int, ...] = (0, 1, 2)
    steps: int = 500
    eval_every: int = 20
    batch: int = 128
    eval_examples: int = 1000
    eval_lambdas: int = 5
    wd_low: float = 1e-5
    wd_high: float = 1e-2
    target_factor: float = 1.1
    variants: tuple[str, ...] = field(default_factory=lambda: tuple(VARIANTS))


#: initialisation settings run side by side: name -> MipConfig overrides
SETTINGS = {"hyperlight": {}, "previous": {"init": "previous"},
            "hyperlight, core feature scale": {"feature_scale": None}}


def run_mip_settings(cfg: MipConfig, data: dict[str, Tensor], progress=None) -> dict:
    """:func:`run_mip_study` under every entry of :data:`SETTINGS` (``cfg`` plus its overrides).

    The headline is ``"hyperlight"`` (the paper's initialisation); ``comparison`` gives, per
    setting, the goal and the median final objective of every variant, so the initialisations can
    be compared on one scale (each study's own target is 1.1x its own median final objective)."""
    out = {name: run_mip_study(MipConfig(**{**cfg.__dict__, **over}), data, progress)
           for name, over in SETTINGS.items()}
    comparison = {name: {"goal_mip_wins_everywhere": r["goal_mip_wins_everywhere"],
                         "mip_fewest_steps_per_lr": r["mip_fewest_steps_per_lr"],
                         "initial_delta_over_theta0": r["initial_delta_over_theta0"],
                         "final_loss_median": {v: statistics.median(x["curve"][-1] for x in r["runs"]
                                                                    if x["variant"] == v)
                                               for v in r["config"]["variants"]}}
                  for name, r in out.items()}
    return {**out["hyperlight"], "settings": {k: v for k, v in out.items() if k != "hyperlight"},
            "comparison": comparison}


def build(variant: str, d_in: int, classes: int, cfg: MipConfig, space: HyperparameterSpace) -> ConditionedModel:
    """The conditioned model of one ablation variant."""
    encoding, residual = VARIANTS[variant]
    paper = cfg.init == "hyperlight"
    target = hw.mlp((d_in, cfg.hidden, classes))
    hnet = HyperNetwork(
        target, condition=HyperparameterCondition(len(space), encoding="cos|sin" if encoding else None),
        trunk=MIP.default_trunk(cfg.trunk) if paper else MLP(cfg.trunk),
        head=FullHead() if cfg.head == "full" else ChunkedHead(4096, 16),
        parametrization=(MIP(encoding=encoding, residual=True, theta0="kaiming" if paper else "target")
                         if residual else None),
        feature_scale=cfg.feature_scale)
    if residual and not paper and cfg.head == "full":
        _previous_bias_rows(hnet)
    return ConditionedModel(target, space, hypernetwork=hnet)


@torch.no_grad()
def _previous_bias_rows(hnet: HyperNetwork) -> None:
    """The earlier rule drew the rows of every tensor, biases included, with the fan-out std."""
    for s in hnet.specs:
        if s.name.endswith("bias"):
            hnet.head.out.weight[s.offset:s.offset + s.numel].normal_(0.0, (2.0 / 1.0001 / s.numel) ** 0.5)


def _objective(out, y, lam, weights):
    k = lam["weight_decay"].shape[0]
    ce = F.cross_entropy(out, y, reduction="none").view(k, -1).mean(1)
    return (ce + lam["weight_decay"] * squared_norms(weights)).mean()


def train_curve(model: ConditionedModel, data: dict[str, Tensor], lr: float, seed: int,
                cfg: MipConfig) -> list[float]:
    """Training-objective curve (one value every ``eval_every`` steps, step 0 included)."""
    xtr, ytr = data["x_train"], data["y_train"]
    xe, ye = xtr[: cfg.eval_examples], ytr[: cfg.eval_examples]
    space = model.space
    lam_eval = space.grid(cfg.eval_lambdas)
    unit_eval = space.to_unit(lam_eval)
    opt = hw.make_optimizer(model.trainable_parameters(), lr)
    gen = torch.Generator().manual_seed(1000 + seed)

    def evaluate() -> float:
        with torch.no_grad():
            weights = model.model.generate(unit_eval)
            out = model.model.ensemble(xe, unit_eval)                 # (K, N, C)
            ce = F.cross_entropy(out.flatten(0, 1), ye.repeat(len(lam_eval)), reduction="none")
            ce = ce.view(len(lam_eval), -1).mean(1)
            value = (ce + lam_eval[:, 0] * squared_norms(weights)).mean().item()
        return value if math.isfinite(value) else float("inf")

    curve = [evaluate()]
    for step in range(1, cfg.steps + 1):
        idx = torch.randint(0, xtr.shape[0], (cfg.batch,), generator=gen)
        loss = model.step_loss(xtr[idx], ytr[idx], _objective, groups=1, generator=gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % cfg.eval_every == 0:
            curve.append(evaluate())
    return curve


def run_mip_study(cfg: MipConfig, data: dict[str, Tensor], progress=None) -> dict:
    """All variants x learning rates x seeds; returns curves, steps to target and a table."""
    d_in, classes = data["x_train"].shape[1], int(data["y_train"].max()) + 1
    space = HyperparameterSpace([Hyperparameter("weight_decay", cfg.wd_low, cfg.wd_high, scale="log")])
    runs = []
    for variant in cfg.variants:
        for lr in cfg.lrs:
            for seed in cfg.seeds:
                torch.manual_seed(seed)
                model = build(variant, d_in, classes, cfg, space)
                curve = train_curve(model, data, lr, seed, cfg)
                runs.append({"variant": variant, "lr": lr, "seed": seed, "curve": curve})
                if progress is not None:
                    progress.update(1)
    finals = [r["curve"][-1] for r in runs if math.isfinite(r["curve"][-1])]
    target = cfg.target_factor * statistics.median(finals)
    for r in runs:
        hit = next((i for i, v in enumerate(r["curve"]) if v <= target), None)
        r["steps_to_target"] = None if hit is None else hit * cfg.eval_every
    table = []
    for lr in cfg.lrs:
        row = {"lr": lr}
        for variant in cfg.variants:
            steps = [r["steps_to_target"] for r in runs if r["variant"] == variant and r["lr"] == lr]
            reached = [s for s in steps if s is not None]
            finals_v = [r["curve"][-1] for r in runs if r["variant"] == variant and r["lr"] == lr]
            row[variant] = {
                "steps_median": statistics.median(reached) if len(reached) == len(steps) else None,
                "steps": steps,
                "steps_spread": (max(reached) - min(reached)) if len(reached) == len(steps) else None,
                "reached": f"{len(reached)}/{len(steps)}",
                "final_loss_mean": statistics.fmean(finals_v),
                "final_loss_std": statistics.pstdev(finals_v),
            }
        table.append(row)

    def steps_or_inf(v):
        return math.inf if v is None else v

    mip_wins = {}
    for row in table:
        mine = steps_or_inf(row["MIP"]["steps_median"]) if "MIP" in row else math.inf
        others = [steps_or_inf(row[v]["steps_median"]) for v in cfg.variants if v != "MIP"]
        mip_wins[str(row["lr"])] = bool(others) and all(mine < o for o in others)
    return {"config": cfg.__dict__ | {"trunk": list(cfg.trunk), "lrs": list(cfg.lrs),
                                      "seeds": list(cfg.seeds), "variants": list(cfg.variants)},
            "initial_delta_over_theta0": initial_delta_ratio(cfg, data), "target_loss": target, "runs": runs, "table": table, "mip_fewest_steps_per_lr": mip_wins,
            "goal_mip_wins_everywhere": all(mip_wins.values())}


def initial_delta_ratio(cfg: MipConfig, data: dict[str, Tensor]) -> dict[str, float]:
    """``std(delta theta) / std(theta0)`` per generated tensor at initialisation (MIP variant,
    seed 0, over the study's evaluation ``lambda`` values): how far the summed network starts from
    ``theta0``. Generated biases report ``std(delta)`` (``theta0`` is zero for them)."""
    space = HyperparameterSpace([Hyperparameter("weight_decay", cfg.wd_low, cfg.wd_high, scale="log")])
    torch.manual_seed(0)
    model = build("MIP", data["x_train"].shape[1], int(data["y_train"].max()) + 1, cfg, space)
    hnet = model.hypernetwork
    with torch.no_grad():
        flat = hnet.head(hnet.features(hnet.encode(space.to_unit(space.grid(cfg.eval_lambdas)))))
        delta, theta0 = hnet.specs.split(flat), hnet.specs.split(hnet.parametrization.theta0[None])
    return {n: round(delta[n].std().item() / (theta0[n].std().item() if theta0[n].std() > 0 else 1.0), 4)
            for n in hnet.specs.names}
