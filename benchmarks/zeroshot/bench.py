"""``hyperweights bench zeroshot``: generalised zero-shot Fashion-MNIST, 7 seen and 3 unseen classes.

Five fixed splits (:data:`SPLITS`; every class is unseen in at least one). Per split and method
(the hypernetwork, DeViSE, nearest description embedding; same image encoder, optimizer, steps
and batch), the protocol is:

1. train on all 7 seen classes, with 20 % of their training images held out
   (:meth:`~hyperweights.zeroshot.ZeroShotData.calibration_split`);
2. calibrated stacking on that same model: ``gamma`` sends 3/10 (the unseen share of the
   classes) of the held-out seen images to unseen classes (:func:`select_calibration`); no
   unseen-class image and no test image takes part;
3. score every test image against all 10 descriptions: seen, unseen, harmonic mean (per-class
   mean accuracies), with ``gamma`` (the goal) and without; and, as a diagnostic only, the best
   ``H`` any ``gamma`` reaches on the test set (``harmonic_oracle``, an upper bound for
   calibrated stacking that no method may use) and ``H`` at other shares (``harmonic_by_rate``).

Class descriptions: :data:`hyperweights.zeroshot.FASHION_MNIST`, embedded by the frozen
all-MiniLM-L6-v2. Goal: the hypernetwork's harmonic mean above both baselines' on every split, at
every seed (``--seeds``: each (seed, split) pair is one replicate, counted in the goal).
``--smoke`` runs scikit-learn's digits (with :data:`~hyperweights.zeroshot.DIGITS`), one split.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass, replace

import torch

from hyperweights.bench import markdown_table, write_results
from hyperweights.bench.goals import goal
from hyperweights.bench.progress import progress
from hyperweights.bench.report import result_path
from hyperweights.zeroshot import (DIGITS, FASHION_MNIST, METHODS, ZeroShotClassifier, ZeroShotConfig,
                                   ZeroShotData, embed_classes, evaluate, fit, oracle_harmonic,
                                   select_calibration)

__all__ = ["add_arguments", "main", "SPLITS", "StudyConfig"]

#: the unseen classes of each split (labels: 0 t-shirt, 1 trouser, 2 pullover, 3 dress, 4 coat,
#: 5 sandal, 6 shirt, 7 sneaker, 8 bag, 9 ankle boot)
SPLITS = ((0, 5, 8), (1, 4, 7), (2, 3, 9), (6, 8, 9), (0, 3, 7))
#: diagnostic sweep of the share of held-out seen images sent to unseen classes (the goal uses 3/10)
SWEEP_RATES = (0.1, 0.2, 0.3, 0.4, 0.5)


@dataclass
class StudyConfig:
    """Sizes and budget (the same for every method)."""

    steps: int = 300
    batch_size: int = 256
    lr: float = 1e-3
    hidden: tuple[int, ...] = (256,)
    feature_dim: int = 128
    hyper_hidden: tuple[int, ...] = (256,)
    seed: int = 0
    splits: tuple[tuple[int, ...], ...] = SPLITS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--smoke", action="store_true", help="digits, one split, tiny sizes (< 60 s), for CI")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="seeds (each seed runs every split; default 0)")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps per model")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...)")
    parser.add_argument("--data-dir", default=None, help="folder of the Fashion-MNIST IDX files")


def _train(method: str, data: ZeroShotData, cfg: StudyConfig, device: torch.device) -> ZeroShotClassifier:
    torch.manual_seed(cfg.seed)
    model = ZeroShotClassifier(data.x_train.shape[1], data.class_embeddings.shape[1], method,
                               hidden=cfg.hidden, feature_dim=cfg.feature_dim, hyper_hidden=cfg.hyper_hidden)
    fit(model, data, ZeroShotConfig(steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed,
                                    device=str(device), progress=False))
    return model


def _run_split(method: str, data: ZeroShotData, cfg: StudyConfig, device: torch.device) -> dict:
    tic = time.perf_counter()
    train, held_out = data.calibration_split(0.2, seed=cfg.seed)
    model = _train(method, train, cfg, device)
    gamma = select_calibration(model, data, held_out)
    plain, calibrated = evaluate(model, data), evaluate(model, data, calibration=gamma)
    r = lambda v: round(v, 4)  # noqa: E731
    return {"method": method, "unseen_classes": list(data.unseen), "seen": r(calibrated["seen"]),
            "unseen": r(calibrated["unseen"]), "harmonic": r(calibrated["harmonic"]),
            "zsl": r(calibrated["zsl"]), "gamma": r(gamma), "seen_uncalibrated": r(plain["seen"]),
            "unseen_uncalibrated": r(plain["unseen"]), "harmonic_uncalibrated": r(plain["harmonic"]),
            "harmonic_oracle": r(oracle_harmonic(model, data)),
            "harmonic_by_rate": {str(rate): r(evaluate(model, data, calibration=select_calibration(
                model, data, held_out, rate))["harmonic"]) for rate in SWEEP_RATES},
            "seconds": round(time.perf_counter() - tic, 1)}


def _plot(rows: list[dict], path) -> None:
    """Harmonic mean per split and method: bars are means over seeds, whiskers their range."""
    from hyperweights.bench.plotting import pyplot, save_figure
    plt = pyplot()
    splits = sorted({tuple(r["unseen_classes"]) for r in rows})
    fig, ax = plt.subplots(figsize=(6, 3.2))
    width = 0.8 / len(METHODS)
    for i, method in enumerate(METHODS):
        values = [[r["harmonic"] for r in rows if r["method"] == method and tuple(r["unseen_classes"]) == s]
                  for s in splits]
        means = [sum(v) / len(v) for v in values]
        spread = [[m - min(v) for m, v in zip(means, values)], [max(v) - m for m, v in zip(means, values)]]
        ax.bar([j + i * width for j in range(len(splits))], means, width, yerr=spread, capsize=2,
               label=method)
    ax.set_xticks([j + width for j in range(len(splits))], ["/".join(map(str, s)) for s in splits])
    ax.set_xlabel("unseen classes")
    ax.set_ylabel("GZSL harmonic mean")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def main(args) -> int:
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    tic = time.perf_counter()
    if args.smoke:
        from hyperweights.data import load_digits
        split, classes = load_digits(), DIGITS
        cfg = StudyConfig(steps=25, batch_size=64, lr=3e-3, hidden=(32,), feature_dim=16,
                          hyper_hidden=(32,), splits=((0, 3, 7),))
    else:
        from hyperweights.data import load_fashion_mnist
        split, classes = load_fashion_mnist(args.data_dir), FASHION_MNIST
        cfg = StudyConfig()
    if args.steps:
        cfg.steps = args.steps
    seeds = tuple(args.seeds or (cfg.seed,))
    embeddings = embed_classes(classes)
    rows = []
    bar = progress(total=len(seeds) * len(cfg.splits) * len(METHODS), desc="zeroshot")
    for seed in seeds:
        run_cfg = replace(cfg, seed=seed)
        for unseen in cfg.splits:
            data = ZeroShotData.from_split(split, embeddings, unseen)
            for method in METHODS:
                rows.append({"seed": seed, **_run_split(method, data, run_cfg, device)})
                bar.update()
                bar.set_postfix_str(f"seed {seed} {method} {unseen}: H={rows[-1]['harmonic']}")
    bar.close()

    margins = []   # per (seed, split): the hypernetwork's H minus the best baseline's
    for seed in seeds:
        for unseen in cfg.splits:
            h = {r["method"]: r["harmonic"] for r in rows
                 if r["seed"] == seed and tuple(r["unseen_classes"]) == tuple(unseen)}
            margins.append(round(h["hypernetwork"] - max(h["devise"], h["nearest_embedding"]), 4))
    target = goal("hypernetwork harmonic mean above both baselines on every split and seed",
                  min(margins), 0.0, at_most=False, per_seed=margins)
    target["met"] = all(m > 0 for m in margins)
    target["seeds_met"] = sum(m > 0 for m in margins)
    name = "zeroshot_smoke" if args.smoke else "zeroshot"
    pairs = [{"seed": seed, "unseen_classes": list(unseen)} for seed in seeds for unseen in cfg.splits]
    payload = {"dataset": split.name, "config": asdict(cfg), "seeds": list(seeds), "threads": args.threads,
               "device": str(device), "descriptions": [f"{n}: {d}" for n, d in classes], "runs": rows,
               "harmonic_margins": [{**p, "margin": m} for p, m in zip(pairs, margins)],
               "goal_harmonic_above_baselines": target,
               "seconds": round(time.perf_counter() - tic, 1)}
    _plot(rows, result_path(f"{name}.png", "zeroshot"))
    path = write_results(name, payload)
    print(markdown_table(rows, ["seed", "unseen_classes", "method", "seen", "unseen", "harmonic", "zsl", "gamma",
                                "harmonic_uncalibrated"]))
    print(f"goal (H above both baselines on every split and seed): met at {target['seeds_met']} of "
          f"{len(margins)} (seed, split) pairs; margins {margins}")
    print(f"wrote {path}")
    return 0
