"""``hyperweights bench pruning``: MetaPruning on Fashion-MNIST at 50 % and 25 % of the FLOPs.

Per seed: the full CNN (:data:`~hyperweights.pruning.MAX_WIDTHS`, BatchNorm) is trained; a
PruningNet is trained on random network encodings; for each FLOPs budget the evolutionary search
picks widths by MetaPruning's score — generated weights, BatchNorm statistics recalibrated on a
few held-out training images, accuracy on other held-out images (never the test split); then,
each after the same short fine-tune:

- **searched**: the searched widths, weights from the PruningNet;
- **uniform**: uniform width scaling to the budget, weights from the PruningNet (the same start,
  so the difference is the search);
- **L1-norm**: the trained full network pruned to the uniform widths by filter L1 norm (Li et al.);
- **dynamic** (the second method, no goal): the trained full network with per-input channel
  masks from small per-layer predictors, keeping the budget's share of channels.

Ranking check: at the first budget, candidates near the budget are scored with the search's
small sets and with a larger, disjoint reference set; the Spearman correlation says whether the
small sets rank candidates as the large one does.

Search cost: scoring one candidate (generate + recalibrate + evaluate, at its own widths, and
behind masks at the maximum widths) against training that candidate from scratch with the bench's
schedule (``full_steps`` steps), on the same candidates, interleaved medians in this process (the
machine is shared: the ratio is noisy, the accuracy is not).

Goals (in ``results/pruning/pruning.json``, per-seed counts): searched >= uniform and >= L1 at
both budgets; candidate scoring >= 100x cheaper than training a candidate.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from scipy.stats import spearmanr

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

    validation: int = 5000            # training images held out (calibration, search, ranking check)
    calibration_images: int = 256     # of them, BatchNorm recalibration of every candidate
    search_images: int = 500          # of them, scored per candidate
    test_images: int | None = 5000    # None: the whole test split
    batch_size: int = 64
    lr: float = 1e-2                  # one-cycle peak (chosen on the held-out images, not the test split)
    full_steps: int = 1000
    pruningnet_steps: int = 500
    candidates: int = 2
    finetune_steps: int = 150
    finetune_lr: float = 3e-3
    population: int = 16
    generations: int = 6
    parents: int = 4
    budgets: tuple[float, ...] = (0.5, 0.25)
    rank_candidates: int = 32         # ranking check: candidates within [budget / 2, budget]
    rank_sizes: tuple[int, ...] = (100, 250, 500, 1000)   # small validation sets compared
    rank_calibration: int = 500       # the reference: this many calibration images ...
    rank_images: int = 1500           # ... and this many validation images, disjoint from the small ones
    timing_candidates: int = 8
    timing_rounds: int = 3
    hidden: tuple[int, ...] = (64,)   # the PruningNet trunk

    def held_out_needed(self) -> int:
        return self.calibration_images + max(self.search_images, *self.rank_sizes) + self.rank_calibration + \
            self.rank_images


SMOKE = PruningBench(validation=120, calibration_images=16, search_images=32, test_images=64, batch_size=16,
                     full_steps=3, pruningnet_steps=3, candidates=2, finetune_steps=2, population=4, generations=2,
                     parents=2, rank_candidates=4, rank_sizes=(8, 16), rank_calibration=16, rank_images=32,
                     timing_candidates=2, timing_rounds=2, hidden=(8,))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (< 60 s), for CI")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds (default 0 1 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...)")
    parser.add_argument("--data-dir", default=None, help="folder holding Fashion-MNIST's IDX files")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


@dataclass
class HeldOut:
    """The held-out training images: the search's calibration and validation sets, and the
    ranking check's larger reference sets (disjoint from them)."""

    x_cal: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_ref_cal: torch.Tensor
    x_ref: torch.Tensor
    y_ref: torch.Tensor


def _data(cfg: PruningBench, seed: int, data_dir, smoke: bool, device) -> tuple[Split, HeldOut]:
    if cfg.held_out_needed() > cfg.validation:
        raise ValueError(f"the held-out sets need {cfg.held_out_needed()} images, validation={cfg.validation}")
    split = load_fashion_mnist(data_dir, seed=seed)
    if smoke:
        split = split.subset(300, cfg.test_images)
    elif cfg.test_images:
        split = split.subset(None, cfg.test_images)
    n = len(split.x_train) - cfg.validation
    train = Split(split.x_train[:n], split.y_train[:n], split.x_test, split.y_test, split.name)
    x, y = split.x_train[n:].to(device), split.y_train[n:].to(device)
    c, v = cfg.calibration_images, max(cfg.search_images, *cfg.rank_sizes)
    r = c + v + cfg.rank_calibration
    return train, HeldOut(x[:c], x[c:c + v], y[c:c + v], x[c + v:r], x[r:r + cfg.rank_images],
                          y[r:r + cfg.rank_images])


def _config(cfg: PruningBench, steps: int, lr: float, seed: int, device, show: bool) -> PruningConfig:
    return PruningConfig(steps=steps, batch_size=cfg.batch_size, lr=lr, candidates=cfg.candidates, seed=seed,
                         device=str(device), progress=show)


def _finetuned(net, data: Split, cfg: PruningBench, seed: int, device, show: bool) -> dict:
    row = {"widths": list(net.widths if isinstance(net, MaskedCNN) else (net.widths[0], *net.config["keep"])),
           "accuracy_before_finetune": evaluate(net, data)["accuracy"]}
    fit(net, data, _config(cfg, cfg.finetune_steps, cfg.finetune_lr, seed, device, show))
    scores = evaluate(net, data)
    return {**row, "flops_fraction": round(scores["flops_fraction"], 4), "accuracy": scores["accuracy"]}


def _near_budget(count: int, budget: int, low: float, seed: int) -> torch.Tensor:
    """``count`` distinct random widths with FLOPs in ``[low * budget, budget]``."""
    pool = random_widths(200 * count, generator=torch.Generator().manual_seed(seed)).unique(dim=0)
    cost = flops(pool)
    pool = pool[(cost <= budget) & (cost >= low * budget)]
    return pool[torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))[:count]]


def _ranking(pnet: PruningNet, held: HeldOut, cfg: PruningBench, budget: int, seed: int) -> dict:
    """Spearman correlation of the small sets' scores with the reference set's, and the reference
    accuracy lost by picking the small set's best candidate instead of the reference's best."""
    candidates = _near_budget(cfg.rank_candidates, budget, 0.5, seed)
    reference = score_widths(pnet, held.x_ref_cal, held.x_ref, held.y_ref, candidates)
    small = score_widths(pnet, held.x_cal, held.x_val, held.y_val, candidates, per_image=True).float()
    rows = []
    for size in cfg.rank_sizes:
        scores = small[:, :size].mean(-1)
        constant = len(scores.unique()) < 2 or len(reference.unique()) < 2        # rank correlation undefined
        rho = None if constant else round(float(spearmanr(scores.cpu().numpy(), reference.cpu().numpy()).statistic), 4)
        rows.append({"images": size, "spearman": rho,
                     "regret": round(float(reference.max() - reference[scores.argmax()]), 4)})
    return {"candidates": len(candidates), "calibration_images": cfg.calibration_images,
            "reference_calibration": cfg.rank_calibration, "reference_images": cfg.rank_images,
            "reference_spread": [round(float(reference.min()), 4), round(float(reference.max()), 4)], "sizes": rows}


def _search_cost(pnet: PruningNet, held: HeldOut, data: Split, cfg: PruningBench, budget: int, seed: int,
                 device) -> dict:
    """Median ms to score one candidate (sliced and masked) vs one training step of the same
    candidates; training a candidate from scratch = ``full_steps`` such steps."""
    candidates = _near_budget(cfg.timing_candidates, budget, 0.75, seed + 1)
    nets = [MaskedCNN(row).to(device) for row in candidates.tolist()]
    optimizers = [make_optimizer(net.parameters(), cfg.lr) for net in nets]
    x, y = data.x_train[:cfg.batch_size].to(device), data.y_train[:cfg.batch_size].to(device)
    masked = candidates[:max(1, len(candidates) // 2)]     # the slow path: fewer candidates timed

    def train_steps():
        for net, opt in zip(nets, optimizers):
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()

    def score(widths, mode):
        return lambda: score_widths(pnet, held.x_cal, held.x_val[:cfg.search_images],
                                    held.y_val[:cfg.search_images], widths, mode=mode)

    times = interleaved({"score_sliced": score(candidates, "sliced"), "score_masked": score(masked, "masked"),
                         "train_steps": train_steps}, rounds=cfg.timing_rounds, warmup=1)
    sliced, masked_ms = times["score_sliced"] / len(candidates), times["score_masked"] / len(masked)
    step = times["train_steps"] / len(candidates)
    train_candidate = step * cfg.full_steps
    return {"candidates": len(candidates), "mean_flops_fraction": round(float(flops(candidates).float().mean()) /
                                                                        flops(MAX_WIDTHS), 4),
            "score_ms_per_candidate": sliced, "score_masked_ms_per_candidate": masked_ms, "train_step_ms": step,
            "train_candidate_ms": train_candidate, "ratio": train_candidate / sliced,
            "ratio_masked": train_candidate / masked_ms,
            "note": f"scoring = generate + BN recalibration on {cfg.calibration_images} images + accuracy on "
                    f"{cfg.search_images}; training a candidate = {cfg.full_steps} steps of {cfg.batch_size} "
                    "images from scratch (the full network's schedule)"}


def _run_seed(cfg: PruningBench, seed: int, device, data_dir, smoke: bool, show: bool) -> dict:
    data, held = _data(cfg, seed, data_dir, smoke, device)
    x_val, y_val = held.x_val[:cfg.search_images], held.y_val[:cfg.search_images]
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
        search = evolutionary_search(lambda w: score_widths(pnet, held.x_cal, x_val, y_val, w), budget,
                                     population=cfg.population, generations=cfg.generations, parents=cfg.parents,
                                     seed=seed, progress=show)
        search_seconds = time.perf_counter() - t0
        uniform = uniform_widths(budget)
        dynamic = DynamicCNN(dynamic_keep(budget))
        dynamic.net.load_state_dict(full.state_dict())
        rows = {"searched": _finetuned(pnet.pruned(search.widths, held.x_cal), data, cfg, seed, device, show),
                "uniform": _finetuned(pnet.pruned(uniform, held.x_cal), data, cfg, seed, device, show),
                "l1_norm": _finetuned(l1_prune(full, uniform), data, cfg, seed, device, show),
                "dynamic": _finetuned(dynamic, data, cfg, seed, device, show)}
        print(f"  seed {seed}, {fraction:.0%} FLOPs: " + ", ".join(
            f"{k} {v['widths']} {v['accuracy']:.4f}" for k, v in rows.items()), flush=True)
        budgets.append({"fraction": fraction, "budget_flops": budget, "search_seconds": round(search_seconds, 2),
                        "search_history": search.history, "candidates_scored": search.evaluated,
                        "candidates_visited": cfg.population * cfg.generations,
                        "search_val_accuracy": search.score, **rows})
    first = int(flops(MAX_WIDTHS) * cfg.budgets[0])
    return {"seed": seed, "full_accuracy": full_scores["accuracy"], "pruningnet_seconds": round(pnet_seconds, 1),
            "budgets": budgets, "ranking": _ranking(pnet, held, cfg, first, seed),
            "search_cost": _search_cost(pnet, held, data, cfg, first, seed, device)}


def _goals(runs: list[dict], cfg: PruningBench) -> list[dict]:
    goals = []
    for i, fraction in enumerate(cfg.budgets):
        for baseline in ("uniform", "l1_norm"):
            gaps = [r["budgets"][i]["searched"]["accuracy"] - r["budgets"][i][baseline]["accuracy"] for r in runs]
            goals.append(goal(f"searched >= {baseline} at {fraction:.0%} FLOPs (accuracy difference)",
                              sum(gaps) / len(gaps), 0.0, at_most=False, per_seed=gaps))
    ratios = [r["search_cost"]["ratio"] for r in runs]
    goals.append(goal("scoring a candidate >= 100x cheaper than training it from scratch", min(ratios), 100.0,
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
    for r in runs:
        print(f"  seed {r['seed']}: full CNN {r['full_accuracy']:.4f}; ranking vs the reference: " + ", ".join(
            f"{row['images']} images rho {row['spearman']}" for row in r["ranking"]["sizes"]) +
            f"; scoring {r['search_cost']['ratio']:.0f}x (masked {r['search_cost']['ratio_masked']:.0f}x) cheaper")
    for g in goals:
        print(f"  goal: {g['goal']}: {g['measured']:.4g} -> {'met' if g['met'] else 'NOT met'}"
              f" ({g.get('seeds_met')}/{g.get('seeds')} seeds)")
    print(f"wrote {path}")
    return 0
