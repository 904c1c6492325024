"""``hyperweights bench tabular --only dev``: HyperTab's defaults, chosen on the development half.

Variants of ``HyperTabClassifier`` / ``HyperTabRegressor`` against the current setting, on the
development half only (:func:`benchmarks.tabular.datasets.split_half`), on the benchmark's folds:

- the reference package's optimisation (``schedule="per_view"``: ``K`` Adam steps per minibatch,
  one per view, at its lr 3e-4) against ours (one step on the mean loss of all views, lr 3e-3);
- the reference's hypernetwork trunk without the ReLU before the output layer (its last hidden
  ``Linear(64, 64)`` has no activation, so it composes with the output layer into one linear map:
  the function class of ``hypernet_hidden=(128, 64)``);
- the core default ``feature_scale`` (``1/sqrt(64)``) against the pinned 1.0.

The rule that decides (in :func:`_decide`, written before the runs): a variant is adopted when,
paired with the current setting on the same folds, it has a higher mean score on more development
data sets than it has a lower one, and its mean paired difference is positive. The per-view schedule
costs ``K`` sequential steps per minibatch (about 30x our fit time), so on the shared 2-core
machine it runs on the first ``per_view_folds`` folds of the development sets with at most
``per_view_max_rows`` rows only; its pairs are on exactly those folds.
"""

from __future__ import annotations

import numpy as np

from benchmarks.tabular.datasets import collection, load_dataset, split_half
from benchmarks.tabular.protocol import OURS, Protocol, folds, run_fold

__all__ = ["VARIANTS", "CURRENT", "run_dev_study"]

CURRENT = "current"
VARIANTS: dict[str, dict] = {
    CURRENT: {},
    "core feature_scale": {"feature_scale": None},
    "no ReLU before output (128, 64)": {"hypernet_hidden": (128, 64)},
    "per-view steps, lr 3e-4 (reference)": {"schedule": "per_view", "lr": 3e-4},
}
_COSTLY = {"per-view steps, lr 3e-4 (reference)"}


def _metric(task: str) -> str:
    return "accuracy" if task == "classification" else "r2"


def _decide(runs: dict[str, dict[str, list[dict]]]) -> dict:
    """Pair every variant with :data:`CURRENT` on the folds both ran; the adoption rule."""
    out = {}
    for variant in VARIANTS:
        if variant == CURRENT:
            continue
        diffs, time_ratio = {}, []
        for name, by_variant in runs.items():
            if variant not in by_variant:
                continue
            metric = _metric(load_dataset(name).task)
            ran = {r["fold"]: r for r in by_variant[variant]}
            base = [r for r in by_variant[CURRENT] if r["fold"] in ran]
            diffs[name] = float(np.mean([ran[r["fold"]][metric] - r[metric] for r in base]))
            time_ratio += [ran[r["fold"]]["fit_s"] / r["fit_s"] for r in base]
        wins = sum(d > 0 for d in diffs.values())
        losses = sum(d < 0 for d in diffs.values())
        mean = float(np.mean(list(diffs.values()))) if diffs else 0.0
        out[variant] = {"settings": VARIANTS[variant], "per_dataset_diff": diffs,
                        "wins": wins, "losses": losses, "ties": len(diffs) - wins - losses,
                        "mean_diff": mean,
                        "median_fit_time_ratio": float(np.median(time_ratio)) if time_ratio else None,
                        "adopted": wins > losses and mean > 0}
    return out


def run_dev_study(protocol: Protocol, per_view_folds: int = 1, per_view_max_rows: int = 400,
                  names: list[str] | None = None, progress: bool = True) -> dict:
    """Run every variant on the development half; returns the JSON-able payload."""
    from tqdm import tqdm
    names = names or [n for n in collection() if split_half(n) == "development"]
    jobs = []
    for name in names:
        data = load_dataset(name)
        costly_ok = data.n_rows <= per_view_max_rows
        for f, (train, test) in enumerate(folds(data, protocol)):
            for variant in VARIANTS:
                if variant not in _COSTLY or (costly_ok and f < per_view_folds):
                    jobs.append((name, f, train, test, variant))
    name, _, train, test, _ = jobs[0]          # untimed warm-up: imports, first-call setup
    run_fold(OURS, load_dataset(name), protocol, 0, train, test, {"epochs": 1})
    runs: dict[str, dict[str, list[dict]]] = {n: {} for n in names}
    for name, f, train, test, variant in tqdm(jobs, desc="tabular dev study", disable=not progress):
        result = run_fold(OURS, load_dataset(name), protocol, f, train, test, VARIANTS[variant])
        runs[name].setdefault(variant, []).append(result)
    metric_means = {n: {v: float(np.mean([r[_metric(load_dataset(n).task)] for r in rs]))
                        for v, rs in by.items()} for n, by in runs.items()}
    return {"datasets": names, "per_view_folds": per_view_folds, "per_view_max_rows": per_view_max_rows,
            "variants": VARIANTS,
            "decision": _decide(runs), "mean_scores": metric_means, "folds": runs}


def report(payload: dict) -> str:
    """Markdown: every variant paired with the current setting, and the per-data-set differences."""
    from hyperweights.bench import markdown_table
    decision = payload["decision"]
    rows = [{"variant": v, "data sets": d["wins"] + d["losses"] + d["ties"],
             "better / worse / tied": f"{d['wins']} / {d['losses']} / {d['ties']}",
             "mean difference": f"{d['mean_diff']:+.4f}",
             "fit time ratio": "" if d["median_fit_time_ratio"] is None else f"{d['median_fit_time_ratio']:.2g}",
             "adopted": "yes" if d["adopted"] else "no"} for v, d in decision.items()]
    per = [{"data set": n, **{v: f"{d['per_dataset_diff'][n]:+.3f}" if n in d["per_dataset_diff"] else ""
                              for v, d in decision.items()}} for n in payload["datasets"]]
    return "\n".join([markdown_table(rows), "", "per data set (variant minus current, accuracy or R²)", "",
                      markdown_table(per)])
