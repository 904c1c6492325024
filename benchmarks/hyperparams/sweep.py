"""Sweep fidelity: one hyperparameter-conditioned model vs a grid of separately trained networks.

The hyperparameter is the L2 weight-decay coefficient ``lambda`` (log scale) of a small MLP on
Fashion-MNIST: the loss is ``CE + lambda * sum ||W||^2`` over the weight matrices. The grid trains
one network per grid value, all ``K`` of them as one vmapped batch (:class:`ModelStack`); the
conditioned model trains once with ``lambda`` sampled per group of examples, then evaluates the
whole grid in one :meth:`ConditionedModel.sweep` call. Training time of both is measured in the
same process, in interleaved blocks of steps, so machine load hits both alike.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

import hyperweights as hw
from hyperweights.heads import ChunkedHead, FullHead, LowRankHead
from hyperweights.trunks import MLP
from hyperweights.hyperparams import (ConditionedModel, Hyperparameter, HyperparameterSpace, ModelStack,
                                      squared_norms)

__all__ = ["SweepConfig", "run_sweep"]


@dataclass
class SweepConfig:
    hidden: int = 64
    grid_points: int = 20
    wd_low: float = 1e-5
    wd_high: float = 1e-1
    grid_steps: int = 1500          # steps of every separately trained network
    cond_steps: int = 1500          # steps of the conditioned model
    groups: int = 1                 # lambda values per conditioned step (batch split in groups)
    batch: int = 128
    lr: float = 1e-3
    trunk: tuple[int, ...] = (64,)
    head: str = "chunked"          # "chunked" (ChunkedHead(chunk, 16)), "full" or "lowrankR"
    chunk: int = 4096
    cond_lr: float | None = None    # default: lr
    block: int = 100                # steps per timing block (interleaving)
    balance: str = "log"            # per-lambda loss scaling of the conditioned objective
    schedule: str = "constant"      # learning rate of both trainings: "constant" or "cosine" decay
    feature_scale: float | None = 1.0    # ConditionedModel's default; None: the core's 1/sqrt(d_h)
    seed: int = 0


def _head(cfg: SweepConfig):
    if cfg.head == "chunked":
        return ChunkedHead(cfg.chunk, 16)
    if cfg.head == "full":
        return FullHead()
    if cfg.head.startswith("lowrank"):
        return LowRankHead(int(cfg.head[len("lowrank"):] or 8))
    raise ValueError(f"unknown head {cfg.head!r}; use 'chunked', 'full' or 'lowrankR'")


def run_sweep(cfg: SweepConfig, data: dict[str, Tensor], progress=None) -> dict:
    """Train the grid and the conditioned model; return curves, the goal checks and timings.

    Args:
        data: ``x_train, y_train, x_val, y_val`` tensors.
    """
    xtr, ytr, xva, yva = data["x_train"], data["y_train"], data["x_val"], data["y_val"]
    d_in, classes = xtr.shape[1], int(ytr.max()) + 1
    space = HyperparameterSpace([Hyperparameter("weight_decay", cfg.wd_low, cfg.wd_high, scale="log")])
    grid = space.grid(cfg.grid_points)                        # (K, 1) real values
    lam = grid[:, 0]

    torch.manual_seed(cfg.seed)
    sizes = (d_in, cfg.hidden, classes)
    stack = ModelStack(lambda: hw.mlp(sizes), cfg.grid_points)
    torch.manual_seed(cfg.seed)
    cond = ConditionedModel(hw.mlp(sizes), space, trunk=MLP(cfg.trunk), head=_head(cfg),
                            feature_scale=cfg.feature_scale)
    opt_grid = hw.make_optimizer(stack.parameters(), cfg.lr)
    opt_cond = hw.make_optimizer(cond.trainable_parameters(), cfg.cond_lr or cfg.lr)
    if cfg.schedule not in ("constant", "cosine"):
        raise ValueError(f"schedule must be 'constant' or 'cosine', got {cfg.schedule!r}")
    cosine = cfg.schedule == "cosine"
    sched_grid = torch.optim.lr_scheduler.CosineAnnealingLR(opt_grid, cfg.grid_steps) if cosine else None
    sched_cond = torch.optim.lr_scheduler.CosineAnnealingLR(opt_cond, cfg.cond_steps) if cosine else None
    gen = torch.Generator().manual_seed(cfg.seed)
    cgen = torch.Generator().manual_seed(cfg.seed + 1)
    n = xtr.shape[0]

    def grid_step():
        idx = torch.randint(0, n, (cfg.batch,), generator=gen)
        out = stack(xtr[idx])                                  # (K, B, C)
        ce = F.cross_entropy(out.flatten(0, 1), ytr[idx].repeat(cfg.grid_points), reduction="none")
        ce = ce.view(cfg.grid_points, -1).mean(1)
        loss = (ce + lam * squared_norms(stack.member_params())).sum()   # members are independent
        opt_grid.zero_grad(set_to_none=True)
        loss.backward()
        opt_grid.step()
        if sched_grid is not None:
            sched_grid.step()

    ref_sq = squared_norms({n: p.detach()[None] for n, p in cond.target.named_parameters()}).item()

    def cond_loss(out, y, lam_g, weights):
        wd = lam_g["weight_decay"]
        ce = F.cross_entropy(out, y, reduction="none").view(wd.shape[0], -1).mean(1)
        obj = ce + wd * squared_norms(weights)
        # Scaling each lambda's objective by a positive c(lambda) keeps its minimiser (the best
        # response) but balances gradient sizes across lambda, which share one Adam state.
        if cfg.balance == "log":
            obj = torch.log(obj)
        elif cfg.balance == "init_norm":
            obj = obj / (1 + wd * ref_sq)
        return obj.mean()

    def cond_step():
        idx = torch.randint(0, n, (cfg.batch,), generator=cgen)
        loss = cond.step_loss(xtr[idx], ytr[idx], cond_loss, groups=cfg.groups, generator=cgen)
        opt_cond.zero_grad(set_to_none=True)
        loss.backward()
        opt_cond.step()
        if sched_cond is not None:
            sched_cond.step()

    # matmul FLOPs of one training step (forward + backward, counted by torch's FlopCounterMode;
    # elementwise ops and the optimizer are not counted): the machine-independent compute measure
    flops = {}
    for key, fn in (("grid", grid_step), ("conditioned", cond_step)):
        with FlopCounterMode(display=False) as counter:
            fn()
        flops[key] = counter.get_total_flops()

    # interleaved blocks: both trainings share the machine's ups and downs
    times = {"grid": 0.0, "conditioned": 0.0}
    done = {"grid": 0, "conditioned": 0}
    total = {"grid": cfg.grid_steps, "conditioned": cfg.cond_steps}
    steps = {"grid": grid_step, "conditioned": cond_step}
    while any(done[k] < total[k] for k in done):
        for key in ("grid", "conditioned"):
            todo = min(cfg.block, total[key] - done[key])
            if todo <= 0:
                continue
            start = time.perf_counter()
            for _ in range(todo):
                steps[key]()
            times[key] += time.perf_counter() - start
            done[key] += todo
            if progress is not None:
                progress.update(todo)

    with torch.no_grad():
        stack.eval()
        out = stack(xva)
        grid_val = F.cross_entropy(out.flatten(0, 1), yva.repeat(cfg.grid_points), reduction="none")
        grid_val = grid_val.view(cfg.grid_points, -1).mean(1)
        grid_acc = (out.argmax(-1) == yva).float().mean(1)
        # a fine sweep of the conditioned model: the grid points plus 5x denser points, one call
        fine = space.grid(5 * (cfg.grid_points - 1) + 1)
        cout = cond.sweep(xva, fine)                            # (F, B, C)
        fine_val = F.cross_entropy(cout.flatten(0, 1), yva.repeat(fine.shape[0]), reduction="none")
        fine_val = fine_val.view(fine.shape[0], -1).mean(1)
        fine_acc = (cout.argmax(-1) == yva).float().mean(1)
        # training loss (CE) on the first 2000 training rows, to tell overfitting from underfitting
        xt, yt = xtr[:2000], ytr[:2000]
        k = cfg.grid_points
        grid_train = F.cross_entropy(stack(xt).flatten(0, 1), yt.repeat(k), reduction="none").view(k, -1).mean(1)
        cond_train = F.cross_entropy(cond.sweep(xt, grid).flatten(0, 1), yt.repeat(k), reduction="none")
        cond_train = cond_train.view(k, -1).mean(1)
    cond_val = fine_val[::5]                                    # at the grid points
    cond_acc = fine_acc[::5]
    g_best = int(grid_val.argmin())
    c_best = int(cond_val.argmin())
    # the conditioned model's choice, judged by the separately trained network at that value
    rel_at_choice = (cond_val[c_best] / grid_val[c_best]).item() - 1
    rel_best = (cond_val[c_best] / grid_val[g_best]).item() - 1
    # what choosing lambda from the sweep costs, judged by the separately trained networks
    regret = (grid_val[c_best] / grid_val[g_best]).item() - 1
    grid_examples = cfg.grid_points * cfg.grid_steps * cfg.batch
    cond_examples = cfg.cond_steps * cfg.batch
    compute_ratio = times["conditioned"] / times["grid"]
    flop_ratio = flops["conditioned"] * cfg.cond_steps / (flops["grid"] * cfg.grid_steps)
    return {
        "config": cfg.__dict__ | {"trunk": list(cfg.trunk)},
        "lambda_grid": lam.tolist(),
        "grid_val_loss": grid_val.tolist(), "grid_val_acc": grid_acc.tolist(),
        "cond_val_loss": cond_val.tolist(), "cond_val_acc": cond_acc.tolist(),
        "grid_train_loss": grid_train.tolist(), "cond_train_loss": cond_train.tolist(),
        "lambda_fine": fine[:, 0].tolist(), "cond_fine_val_loss": fine_val.tolist(),
        "grid_best_lambda": lam[g_best].item(), "cond_best_lambda": lam[c_best].item(),
        "grid_steps_apart": abs(g_best - c_best),
        "cond_loss_at_choice_vs_separate": rel_at_choice,
        "cond_best_vs_grid_best": rel_best,
        "grid_regret_at_cond_choice": regret,
        "train_seconds": times, "compute_ratio_time": compute_ratio,
        "flops_per_step": flops, "compute_ratio_flops": flop_ratio,
        "compute_ratio_examples": cond_examples / grid_examples,
        "goals": {
            "best_lambda_within_one_grid_step": abs(g_best - c_best) <= 1,
            "loss_within_2pct": abs(rel_at_choice) <= 0.02 and rel_best <= 0.02,
            "compute_at_most_one_fifth_flops": flop_ratio <= 0.2,
            "compute_at_most_one_fifth_time": compute_ratio <= 0.2,
        },
    }
