"""STN vs grid search and random search on Fashion-MNIST, with the same budget.

Tuned hyperparameters (as in the STN paper's CNN experiments, scaled down): input dropout, the
dropout of each of two hidden layers, and the cutout length. The network is an MLP
``196 -> h -> h -> 10`` on 2x2 average-pooled images (14x14, to fit a shared CPU); the STN
version uses :class:`StnLinear` layers, the baselines plain
``Linear`` layers with fixed hyperparameters. All methods train on the same training subset for
the same number of training steps, select (baselines) on the same validation subset, and are
scored on the full Fashion-MNIST test set.

Budget. The STN run's wall-clock time is measured; the baselines' trials are trained as vmapped
stacks (:class:`ModelStack`), whose time per trial is the stack's time divided by its size. A
search "at the STN budget" keeps as many trials as fit in the STN's time: the first ``N`` random
trials, and for the grid the largest full grid (``m`` points per axis, ``m ** 4 <= N``; with
``m = 1`` it is the centre of the space). The 16-trial searches are reported too, with their
cost in STN runs.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

import hyperweights as hw
from hyperweights.hyperparams import (DropoutMLP, Hyperparameter, HyperparameterSpace, HyperparamsConfig,
                                      ModelStack, StnMLP, StnModel, cutout, fit)

__all__ = ["StnConfig", "run_stn_study", "stn_space"]

NAMES = ("dropout_in", "dropout_h1", "dropout_h2", "cutout")


def pool_images(x: Tensor, factor: int) -> Tensor:
    """``(N, 784)`` 28x28 images -> ``(N, (28 // factor) ** 2)`` by average pooling."""
    if factor == 1:
        return x
    side = int(round(x.shape[1] ** 0.5))
    return F.avg_pool2d(x.reshape(-1, 1, side, side), factor).flatten(1)


def stn_space(max_cutout: float = 10.0) -> HyperparameterSpace:
    """The tuned hyperparameters, their ranges and scales."""
    return HyperparameterSpace([
        Hyperparameter("dropout_in", 0.01, 0.9, scale="logit"),
        Hyperparameter("dropout_h1", 0.01, 0.9, scale="logit"),
        Hyperparameter("dropout_h2", 0.01, 0.9, scale="logit"),
        Hyperparameter("cutout", 0.0, max_cutout),
    ])


@dataclass
class StnConfig:
    hidden: int = 64
    steps: int = 1500               # training steps of every network (STN: phi steps)
    warmup: int = 100               # STN steps on phi only, before tuning starts
    pool: int = 2                   # average-pool the 28x28 images by this factor (CPU budget)
    batch: int = 128
    lr: float = 1e-3
    hyper_lr: float = 1e-2          # paper: 3e-3 over ~70x more steps
    entropy_weight: float = 1e-3
    init_scale: float = 0.5
    grid_per_axis: int = 2          # the reference grid: 2 ** 4 = 16 points (+ the centre)
    random_trials: int = 16
    block: int = 100
    seed: int = 0


def _batches(x: Tensor, y: Tensor, batch: int, gen: torch.Generator):
    while True:
        idx = torch.randint(0, x.shape[0], (batch,), generator=gen)
        yield x[idx], y[idx]


def _score(logits: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """``(K, N, C)`` -> per-member loss and accuracy ``(K,)``."""
    k = logits.shape[0]
    loss = F.cross_entropy(logits.flatten(0, 1), y.repeat(k), reduction="none").view(k, -1).mean(1)
    return loss, (logits.argmax(-1) == y).float().mean(1)


def _train_stack(values: Tensor, cfg: StnConfig, data: dict, sizes, seed: int, progress=None,
                 label: str = "") -> dict:
    """Train one plain network per row of ``values`` ``(K, 4)`` as one vmapped stack."""
    k = values.shape[0]
    torch.manual_seed(seed)
    stack = ModelStack(lambda: DropoutMLP(sizes, cutout=True), k)
    opt = hw.make_optimizer(stack.parameters(), cfg.lr)
    gen = torch.Generator().manual_seed(seed)
    batches = _batches(data["x_train"], data["y_train"], cfg.batch, gen)
    rates = values.to(torch.float32).unsqueeze(1).expand(k, cfg.batch, values.shape[1])
    stack.train()
    start = time.perf_counter()
    for step in range(cfg.steps):
        if progress is not None and step % 100 == 0:
            progress.set_postfix_str(f"{label} step {step}/{cfg.steps}")
        x, y = next(batches)
        out = stack(x, rates)
        loss = F.cross_entropy(out.flatten(0, 1), y.repeat(k), reduction="none").view(k, -1).mean(1).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - start
    stack.eval()
    with torch.no_grad():
        zeros = torch.zeros(k, data["x_val"].shape[0], values.shape[1])
        val_loss, val_acc = _score(stack(data["x_val"], zeros), data["y_val"])
        zeros = torch.zeros(k, data["x_test"].shape[0], values.shape[1])
        test_loss, test_acc = _score(stack(data["x_test"], zeros), data["y_test"])
    return {"values": values.tolist(), "val_loss": val_loss.tolist(), "val_acc": val_acc.tolist(),
            "test_loss": test_loss.tolist(), "test_acc": test_acc.tolist(), "seconds": seconds,
            "seconds_per_trial": seconds / k}


def _select(res: dict, members: list[int]) -> dict:
    best = min(members, key=lambda i: res["val_loss"][i])
    return {"trials": len(members), "chosen": dict(zip(NAMES, res["values"][best])),
            "val_loss": res["val_loss"][best], "test_loss": res["test_loss"][best],
            "test_acc": res["test_acc"][best], "seconds": res["seconds_per_trial"] * len(members)}


def _run_stn(cfg: StnConfig, data: dict, sizes, space, init: dict, tune: bool, progress=None) -> dict:
    """One STN run from ``init`` through :func:`hyperweights.hyperparams.fit` (``tune=False``:
    the same network and perturbations, training steps only, lambda stays at ``init``)."""
    torch.manual_seed(cfg.seed)
    network = StnMLP(sizes, num_hparams=len(space), input_dropout="dropout_in",
                     hidden_dropout=("dropout_h1", "dropout_h2"))
    model = StnModel(network, space, init, init_scale=cfg.init_scale)
    config = HyperparamsConfig(steps=cfg.steps, warmup=cfg.warmup if tune else cfg.steps,
                               batch_size=cfg.batch, lr=cfg.lr, hyper_lr=cfg.hyper_lr,
                               entropy_weight=cfg.entropy_weight, seed=cfg.seed,
                               progress=progress is not None)
    result = fit(model, (data["x_train"], data["y_train"]), config, val_data=(data["x_val"], data["y_val"]),
                 augment=lambda x, v: cutout(x, v["cutout"]))
    model.eval()
    with torch.no_grad():
        val = _score(model(data["x_val"]).unsqueeze(0), data["y_val"])
        test = _score(model(data["x_test"]).unsqueeze(0), data["y_test"])
    schedule = result.extra["schedule"]
    return {"init": init, "final": model.hparams.current(), "val_loss": val[0].item(),
            "test_loss": test[0].item(), "test_acc": test[1].item(), "seconds": result.seconds,
            "train_steps": result.steps, "val_steps": len(schedule) - 1, "schedule": schedule if tune else None}


def run_stn_study(cfg: StnConfig, data: dict[str, Tensor], progress=None) -> dict:
    """STN run, grid stack, random stack; returns the comparison and the STN schedule."""
    space = stn_space(max_cutout=20.0 / cfg.pool)      # up to 20 px of the 28x28 image
    data = {k: pool_images(v, cfg.pool) if k.startswith("x_") else v for k, v in data.items()}
    d_in, classes = data["x_train"].shape[1], int(data["y_train"].max()) + 1
    sizes = (d_in, cfg.hidden, cfg.hidden, classes)

    # ---------------------------------------------------------------- STN runs
    # from the paper's initial values and from a poor start (heavy regularisation); each also
    # trained with lambda fixed at its start (training steps only): the gated layers have twice
    # the weights of the plain net, and this ablation separates tuning from architecture
    paper = {"dropout_in": 0.05, "dropout_h1": 0.05, "dropout_h2": 0.05, "cutout": 4.0 / cfg.pool}
    poor = {"dropout_in": 0.5, "dropout_h1": 0.5, "dropout_h2": 0.5, "cutout": 12.0 / cfg.pool}
    stn = _run_stn(cfg, data, sizes, space, paper, tune=True, progress=progress)
    fixed = _run_stn(cfg, data, sizes, space, paper, tune=False)
    stn_poor = _run_stn(cfg, data, sizes, space, poor, tune=True, progress=progress)
    fixed_poor = _run_stn(cfg, data, sizes, space, poor, tune=False)
    stn_seconds = stn["seconds"]
    if progress is not None:
        progress.update(1)

    # ---------------------------------------------------------------- grid (+ centre) and random
    m = cfg.grid_per_axis
    axis = [(i + 0.5) / m for i in range(m)]
    grid_unit = torch.tensor(list(itertools.product(axis, repeat=len(space))) + [[0.5] * len(space)])
    grid = _train_stack(space.from_unit(grid_unit), cfg, data, sizes, cfg.seed + 1, progress, "grid")
    if progress is not None:
        progress.update(1)
    rgen = torch.Generator().manual_seed(cfg.seed + 2)
    rand = _train_stack(space.sample(cfg.random_trials, rgen), cfg, data, sizes, cfg.seed + 2, progress,
                        "random")
    if progress is not None:
        progress.update(1)

    per_trial = 0.5 * (grid["seconds_per_trial"] + rand["seconds_per_trial"])
    n_budget = max(1, int(stn_seconds // per_trial))
    m_budget = max(1, int(math.floor(n_budget ** (1 / len(space)) + 1e-9)))
    full_grid = list(range(len(grid_unit) - 1))

    def stn_row(label, r):
        return {"method": label, "trials": 1, "test_loss": r["test_loss"], "test_acc": r["test_acc"],
                "val_loss": r["val_loss"], "seconds": r["seconds"], "chosen": r["final"]}

    rows = [stn_row("STN (1 run), paper's init", stn),
            stn_row("STN layers, lambda fixed at paper's init (ablation)", fixed),
            stn_row("STN (1 run), poor init (dropout 0.5, cutout 6)", stn_poor),
            stn_row("STN layers, lambda fixed at poor init (ablation)", fixed_poor)]
    same_grid = _select(grid, full_grid if m_budget >= m else [len(grid_unit) - 1])
    same_rand = _select(rand, list(range(min(n_budget, cfg.random_trials))))
    full_rand = _select(rand, list(range(cfg.random_trials)))
    full = _select(grid, full_grid)
    for label, r in ((f"grid search, STN budget ({same_grid['trials']} trial)", same_grid),
                     (f"random search, STN budget ({same_rand['trials']} trials)", same_rand),
                     (f"grid search ({len(full_grid)} trials)", full),
                     (f"random search ({cfg.random_trials} trials)", full_rand)):
        rows.append({"method": label, **r})
    for r in rows:
        r["cost_in_stn_runs"] = r["seconds"] / stn_seconds
    schedule = stn.pop("schedule")                     # stored once, at the top level
    return {"config": cfg.__dict__, "space": space.to_dict(), "stn": stn, "schedule": schedule,
            "stn_poor_init": stn_poor, "fixed_paper_init": fixed, "fixed_poor_init": fixed_poor,
            "grid": grid, "random": rand, "trials_in_stn_budget": n_budget, "rows": rows,
            "stn_beats_same_budget_searches": stn["test_loss"] < min(same_grid["test_loss"], same_rand["test_loss"])}
