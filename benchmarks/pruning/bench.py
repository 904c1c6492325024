"""``hyperweights bench pruning``: MetaPruning on Fashion-MNIST at 50 % and 25 % of the FLOPs.

Per seed: the full CNN (:data:`~hyperweights.pruning.MAX_WIDTHS`) is trained; a PruningNet is
trained on random network encodings; for each FLOPs budget the evolutionary search picks widths
by scoring candidates with generated weights on validation images held out of the training set
(batched); then, each after the same short fine-tune:

- **searched**: the searched widths, weights from the PruningNet;
- **uniform**: uniform width scaling to the budget, weights from the PruningNet (the same start,
  so the difference is the search);
- **L1-norm**: the trained full network pruned to the uniform widths by filter L1 norm (Li et al.);
- **dynamic** (the second method, no goal): the trained full network with per-input channel
  masks from small per-layer predictors, keeping the budget's share of channels.

Search cost: scoring one candidate against training it (the full network's steps), interleaved
medians in this process (the machine is shared: the ratio is noisy, the accuracy is not).

Goals (in ``results/pruning/pruning.json``, per-seed counts): searched >= uniform and >= L1 at
both budgets; candidate scoring >= 100x cheaper than training a candidate.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from hyperweights.bench import interleaved, markdown_table, progress, write_results
from hyperweights.bench.goals import goal
from hyperweights.bench.report import result_path
from hyperweights.data import Split, load_fashion_mnist
from hyperweights.optim import make_optimizer
from hyperweights.pruning import (MAX_WIDTHS, DynamicCNN, MaskedCNN, PruningConfig, PruningNet, dynamic_keep,
                                  evaluate, evolutionary_search, fit, flops, l1_prune, random_widths,
                                  score_widths, uniform_widths)

__all__ = ["add_arguments", "main", "PruningBench"]


@dataclass
class PruningBench:
    """Sizes and budgets of the study (the same for every method)."""

    validation: int = 5000            # training images held out for the search
    search_images: int = 300          # of them, scored per candidate
    test_images: int | None = 5000    # None: the whole test split
    batch_size: int = 64
    lr: float = 2e-3
    full_steps: int = 300
    pruningnet_steps: int = 240
    candidates: int = 3
    finetune_steps: int = 100
    finetune_lr: float = 1e-3
    population: int = 16
    generations: int = 6
    parents: int = 4
    budgets: tuple[float, ...] = (0.5, 0.25)
    timing_rounds: int = 7
    hidden: tuple[int, ...] = (64,)   # the PruningNet trunk


SMOKE = PruningBench(validation=100, search_images=32, test_images=64, batch_size=16, full_steps=3,
                     pruningnet_steps=3, candidates=2, finetune_steps=2, population=4, generations=2, parents=2,
                     timing_rounds=2, hidden=(8,))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (< 60 s), for CI")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds (default 0 1 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...)")
    parser.add_argument("--data-dir", default=None, help="folder holding Fashion-MNIST's IDX files")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _data(cfg: PruningBench, seed: int, data_dir, smoke: bool) -> tuple[Split, torch.Tensor, torch.Tensor]:
    split = load_fashion_mnist(data_dir, seed=seed)
    if smoke:
        split = split.subset(300, cfg.test_images)
    elif cfg.test_images:
        split = split.subset(None, cfg.test_images)
    n = len(split.x_train) - cfg.validation
    train = Split(split.x_train[:n], split.y_train[:n], split.x_test, split.y_test, split.name)
    return train, split.x_train[n:n + cfg.search_images], split.y_train[n:n + cfg.search_images]


def _config(cfg: PruningBench, steps: int, lr: float, seed: int, device, show: bool) -> PruningConfig:
    return PruningConfig(steps=steps, batch_size=cfg.batch_size, lr=lr, candidates=cfg.candidates, seed=seed,
                         device=str(device), progress=show)


def _finetuned(net, data: Split, cfg: PruningBench, seed: int, device, show: bool, before: bool = False) -> dict:
    row = {"widths": list(net.widths if isinstance(net, MaskedCNN) else (net.widths[0], *net.config["keep"]))}
    if before:   # the generated weights' own accuracy (PruningNet starts only)
        row["accuracy_before_finetune"] = evaluate(net, data)["accuracy"]
    fit(net, data, _config(cfg, cfg.finetune_steps, cfg.finetune_lr, seed, device, show))
    scores = evaluate(net, data)
    return {**row, "flops_fraction": round(scores["flops_fraction"], 4), "accuracy": scores["accuracy"]}


def _search_cost(pnet: PruningNet, xv, yv, data: Split, cfg: PruningBench, widths, device) -> dict:
    """Median ms to score one candidate (a chunk of 16, batched) vs one training step of a candidate."""
    candidates = random_widths(16, generator=torch.Generator().manual_seed(0))
    net = MaskedCNN(widths).to(device)
    opt = make_optimizer(net.parameters(), cfg.lr)
    x, y = data.x_train[:cfg.batch_size].to(device), data.y_train[:cfg.batch_size].to(device)

    def train_step():
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()

    times = interleaved({"score16": lambda: score_widths(pnet, xv, yv, candidates), "train_step": train_step},
                        rounds=cfg.timing_rounds, warmup=1)
    per_candidate = times["score16"] / 16
    train_candidate = times["train_step"] * cfg.full_steps
    return {"score_ms_per_candidate": per_candidate, "train_step_ms": times["train_step"],
            "train_candidate_ms": train_candidate, "ratio": train_candidate / per_candidate,
            "note": f"training a candidate = {cfg.full_steps} steps (the full network's budget)"}


def _run_seed(cfg: PruningBench, seed: int, device, data_dir, smoke: bool, show: bool) -> dict:
    data, xv, yv = _data(cfg, seed, data_dir, smoke)
    xv, yv = xv.to(device), yv.to(device)
    torch.manual_seed(seed)
    full = MaskedCNN(MAX_WIDTHS)
    fit(full, data, _config(cfg, cfg.full_steps, cfg.lr, seed, device, show))
    full_scores = evaluate(full, data)
    pnet = PruningNet(hidden=cfg.hidden, seed=seed)
    t0 = time.perf_counter()
    fit(pnet, data, _config(cfg, cfg.pruningnet_steps, cfg.lr, seed, device, show))
    pnet_seconds = time.perf_counter() - t0
    budgets = []
    for fraction in cfg.budgets:
        budget = int(flops(MAX_WIDTHS) * fraction)
        t0 = time.perf_counter()
        search = evolutionary_search(lambda w: score_widths(pnet, xv, yv, w), budget, population=cfg.population,
                                     generations=cfg.generations, parents=cfg.parents, seed=seed, progress=show)
        search_seconds = time.perf_counter() - t0
        uniform = uniform_widths(budget)
        dynamic = DynamicCNN(dynamic_keep(budget))
        dynamic.net.load_state_dict(full.state_dict())
        rows = {"searched": _finetuned(pnet.pruned(search.widths), data, cfg, seed, device, show, before=True),
                "uniform": _finetuned(pnet.pruned(uniform), data, cfg, seed, device, show, before=True),
                "l1_norm": _finetuned(l1_prune(full, uniform), data, cfg, seed, device, show),
                "dynamic": _finetuned(dynamic, data, cfg, seed, device, show)}
        print(f"  seed {seed}, {fraction:.0%} FLOPs: " + ", ".join(
            f"{k} {v['widths']} {v['accuracy']:.4f}" for k, v in rows.items()), flush=True)
        budgets.append({"fraction": fraction, "budget_flops": budget, "search_seconds": round(search_seconds, 2),
                        "search_history": search.history, "candidates_scored": search.evaluated,
                        "search_val_accuracy": search.score, **rows})
    cost = _search_cost(pnet, xv, yv, data, cfg, uniform_widths(int(flops(MAX_WIDTHS) * cfg.budgets[0])), device)
    return {"seed": seed, "full_accuracy": full_scores["accuracy"], "pruningnet_seconds": round(pnet_seconds, 1),
            "budgets": budgets, "search_cost": cost}


def _goals(runs: list[dict], cfg: PruningBench) -> list[dict]:
    goals = []
    for i, fraction in enumerate(cfg.budgets):
        for baseline in ("uniform", "l1_norm"):
            gaps = [r["budgets"][i]["searched"]["accuracy"] - r["budgets"][i][baseline]["accuracy"] for r in runs]
            goals.append(goal(f"searched >= {baseline} at {fraction:.0%} FLOPs (accuracy difference)",
                              sum(gaps) / len(gaps), 0.0, at_most=False, per_seed=gaps))
    ratios = [r["search_cost"]["ratio"] for r in runs]
    goals.append(goal("scoring a candidate >= 100x cheaper than training it", min(ratios), 100.0,
                      at_most=False, per_seed=ratios, unit="x"))
    return goals


def _plot(runs: list[dict], path) -> None:
    from hyperweights.bench.plotting import pyplot, save_figure
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for method, marker in (("searched", "o"), ("uniform", "s"), ("l1_norm", "^"), ("dynamic", "x")):
        xs = [b[method]["flops_fraction"] for r in runs for b in r["budgets"]]
        ys = [b[method]["accuracy"] for r in runs for b in r["budgets"]]
        ax.scatter(xs, ys, marker=marker, label=method, alpha=0.8)
    ax.scatter([1.0] * len(runs), [r["full_accuracy"] for r in runs], marker="*", color="k", label="full network")
    ax.set_xlabel("FLOPs (fraction of the full CNN)")
    ax.set_ylabel("test accuracy")
    ax.set_title("Fashion-MNIST, after the same short fine-tune")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def main(args) -> int:
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cfg = SMOKE if args.smoke else PruningBench()
    seeds = tuple(args.seeds or ((0,) if args.smoke else (0, 1, 2)))
    name = "pruning_smoke" if args.smoke else "pruning"
    show = not args.no_progress and not args.smoke
    tic = time.perf_counter()
    runs = []
    for seed in progress(seeds, desc="seeds", enabled=show):
        runs.append(_run_seed(cfg, seed, device, args.data_dir, args.smoke, show))
    goals = _goals(runs, cfg)
    payload = {"threads": args.threads, "device": str(device), "config": asdict(cfg), "seeds": list(seeds),
               "max_widths": list(MAX_WIDTHS), "full_flops": flops(MAX_WIDTHS), "runs": runs, "goals": goals,
               "seconds": round(time.perf_counter() - tic, 1)}
    path = write_results(name, payload)
    _plot(runs, result_path(f"{name}.png"))
    rows = [{"seed": r["seed"], "FLOPs": f"{b['fraction']:.0%}",
             **{m: b[m]["accuracy"] for m in ("searched", "uniform", "l1_norm", "dynamic")},
             "searched widths": b["searched"]["widths"], "uniform widths": b["uniform"]["widths"]}
            for r in runs for b in r["budgets"]]
    print(markdown_table(rows))
    for g in goals:
        print(f"  goal: {g['goal']}: {g['measured']:.4g} -> {'met' if g['met'] else 'NOT met'}"
              f" ({g.get('seeds_met')}/{g.get('seeds')} seeds)")
    print(f"wrote {path}")
    return 0
