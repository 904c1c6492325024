"""``hyperweights bench tabular``: HyperTab against trees, linear models, an MLP and the reference
package on a collection that cannot be chosen (issue 20).

The collection, its one preprocessing and its development/report split are fixed in
:mod:`benchmarks.tabular.datasets`; the methods and folds in :mod:`benchmarks.tabular.protocol`.

- ``--only dev``: the development-half study that chooses HyperTab's defaults
  (:mod:`benchmarks.tabular.dev_study`) -> ``results/tabular/tabular_dev_study.json``.
- ``--only full`` (default): every method on every fold of both halves -> ``results/tabular/tabular_bench.json``
  (``bench_<half>.json`` with ``--half``) and one critical-difference diagram per half
  (``results/tabular/tabular_cd_<half>.png``). The goal
  statuses (HyperTab's mean rank against every tree ensemble's, per half) are computed here.
- ``--table PATH``: print the Markdown tables of a written JSON (the docs' tables come from it).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
from pathlib import Path

import numpy as np
import torch

from benchmarks.tabular.datasets import PAPER_SETS, collection, load_dataset, split_half
from benchmarks.tabular.protocol import BASELINES, OURS, REF, Protocol, folds, run_fold
from benchmarks.tabular.stats import critical_difference, friedman_p, mean_ranks, plot_cd
from hyperweights.bench import markdown_table, write_results

__all__ = ["add_arguments", "main", "report", "METHODS", "TREES"]

METHODS = [OURS, *BASELINES]                     # ranked; the reference runs on a subset (paired)
TREES = ["random forest", "extra trees", "xgboost", "lightgbm"]
HALVES = ("development", "report")
_ABBREV = {OURS: "ours", REF: "ref", "random forest": "RF", "extra trees": "ET", "xgboost": "XGB",
           "lightgbm": "LGBM", "logistic / ridge": "LR/ridge", "mlp": "MLP"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--only", choices=("full", "dev"), default="full",
                        help="full: every method on both halves; dev: the defaults study (development half)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (< 60 s), writes *_smoke files")
    parser.add_argument("--half", choices=("both", *HALVES), default="both")
    parser.add_argument("--datasets", default=None, help="comma-separated subset of the collection")
    parser.add_argument("--n-splits", type=int, default=3, help="folds of each CV repetition")
    parser.add_argument("--repeats", type=int, default=2, help="repetitions of the stratified CV")
    parser.add_argument("--n-masks", type=int, default=50, help="K, for ours and the reference")
    parser.add_argument("--epochs", type=int, default=50, help="epochs, for ours and the reference")
    parser.add_argument("--reference", default="paper",
                        help="where the reference package runs: 'paper' (the sets the HyperTab paper "
                        "reports), 'report' (the report half), 'none', or data set names")
    parser.add_argument("--reference-folds", type=int, default=1, help="its folds (the first ones)")
    parser.add_argument("--per-view-folds", type=int, default=1,
                        help="--only dev: folds on which the (costly) per-view schedule runs")
    parser.add_argument("--per-view-max-rows", type=int, default=400,
                        help="--only dev: the per-view schedule runs on sets with at most this many rows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--table", default=None, help="print the tables of this JSON and exit")


def _protocol(args) -> Protocol:
    p = Protocol(n_splits=args.n_splits, repeats=args.repeats, seed=args.seed)
    p.hypertab.update(n_masks=args.n_masks, epochs=args.epochs)
    if args.smoke:
        p.repeats, p.n_splits, p.n_trees = 1, 2, 20
        p.hypertab.update(n_masks=8, epochs=5)
    return p


def _names(args) -> list[str]:
    names = collection()
    if args.datasets:
        wanted = [n.strip() for n in args.datasets.split(",")]
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            raise SystemExit(f"unknown datasets {unknown}; the collection is: {', '.join(names)}")
        names = [n for n in names if n in wanted]
    elif args.smoke:
        names = ["iris", "tae", "star98", "autompg"]
    return [n for n in names if args.half == "both" or split_half(n) == args.half]


def _reference_sets(args, names: list[str]) -> list[str]:
    classification = [n for n in names if load_dataset(n).task == "classification"]
    if args.reference == "none":
        ref = []
    elif args.reference == "report":
        ref = [n for n in classification if split_half(n) == "report"]
    elif args.reference == "paper":
        ref = [n for n in classification if n in PAPER_SETS]
    else:
        ref = [n for n in args.reference.split(",") if n.strip() in classification]
    if ref and importlib.util.find_spec("hypertab") is None:
        print("note: the reference package is not installed (pip install --no-deps hypertab==0.6.2)")
        return []
    return ref


def _run_all(names, ref_sets, protocol, args) -> dict[str, dict[str, list[dict]]]:
    """Every method on every fold, method order rotated per fold; the reference on its subset."""
    from tqdm import tqdm
    jobs = []
    for name in names:
        for f, (train, test) in enumerate(folds(load_dataset(name), protocol)):
            methods = METHODS + ([REF] if name in ref_sets and f < args.reference_folds else [])
            jobs.append((name, f, train, test, methods))
    warm = dataclasses.replace(protocol, hypertab={**protocol.hypertab, "epochs": 1})
    name, _, train, test, _ = jobs[0]             # untimed warm-up: imports, first-call setup
    for m in sorted({m for job in jobs for m in job[4]}):
        run_fold(m, load_dataset(name), warm, 0, train, test)
    runs: dict[str, dict[str, list[dict]]] = {n: {} for n in names}
    for i, (name, f, train, test, methods) in enumerate(tqdm(jobs, desc="tabular folds")):
        rot = i % len(methods)
        for m in methods[rot:] + methods[:rot]:
            runs[name].setdefault(m, []).append(run_fold(m, load_dataset(name), protocol, f, train, test))
    return runs


def _summaries(names, runs) -> dict:
    out = {}
    for name in names:
        d = load_dataset(name)
        keys = ["accuracy", "balanced_accuracy"] if d.task == "classification" else ["r2"]
        out[name] = {
            "task": d.task, "half": split_half(name), "source": d.source, "n_rows": d.n_rows,
            "n_columns": d.X.shape[1], "n_categorical": len(d.categorical),
            "methods": {m: {**{k: float(np.mean([r[k] for r in rs])) for k in keys},
                            **{f"{k}_std": float(np.std([r[k] for r in rs])) for k in keys},
                            "median_fit_s": float(np.median([r["fit_s"] for r in rs])),
                            "mean_predict_s": float(np.mean([r["predict_s"] for r in rs])),
                            "n_folds": len(rs)}
                        for m, rs in runs[name].items()}}
    return out


def _ranks(results: dict) -> dict:
    groups = {"classification_accuracy": ("classification", "accuracy"),
              "classification_balanced_accuracy": ("classification", "balanced_accuracy"),
              "regression_r2": ("regression", "r2")}
    out = {}
    for half in HALVES:
        out[half] = {}
        for label, (task, metric) in groups.items():
            table = {n: {m: r["methods"][m][metric] for m in METHODS} for n, r in results.items()
                     if r["half"] == half and r["task"] == task}
            if not table:
                continue
            mean, per = mean_ranks(table, METHODS)
            out[half][label] = {"datasets": list(table), "mean_rank": mean, "per_dataset": per,
                                "friedman_p": friedman_p(table, METHODS),
                                "nemenyi_cd": critical_difference(len(METHODS), len(table))}
    return out


def _reference_pairs(runs) -> dict | None:
    pairs = []
    for name, by in runs.items():
        ours = {r["fold"]: r for r in by[OURS]}
        for r in by.get(REF, []):
            o = ours[r["fold"]]
            pairs.append({"dataset": name, "fold": r["fold"], "ours_accuracy": o["accuracy"],
                          "reference_accuracy": r["accuracy"], "ours_fit_s": o["fit_s"],
                          "reference_fit_s": r["fit_s"]})
    if not pairs:
        return None
    ours_s, ref_s = sum(p["ours_fit_s"] for p in pairs), sum(p["reference_fit_s"] for p in pairs)
    return {"pairs": pairs, "mean_accuracy_ours": float(np.mean([p["ours_accuracy"] for p in pairs])),
            "mean_accuracy_reference": float(np.mean([p["reference_accuracy"] for p in pairs])),
            "wins": sum(p["ours_accuracy"] > p["reference_accuracy"] for p in pairs),
            "losses": sum(p["ours_accuracy"] < p["reference_accuracy"] for p in pairs),
            "fit_time_ratio": ours_s / ref_s}


def _fit_time_ratios(results: dict) -> dict:
    """Geometric mean over data sets of (ours' median fit time / the method's)."""
    out = {}
    for m in METHODS[1:]:
        ratios = [r["methods"][OURS]["median_fit_s"] / r["methods"][m]["median_fit_s"]
                  for r in results.values()]
        out[m] = float(np.exp(np.mean(np.log(ratios))))
    return out


def _goals(ranks: dict) -> dict:
    """Issue 20: HyperTab's mean rank at or above every tree ensemble's (accuracy; R2), per half."""
    goals = {}
    for half, groups in ranks.items():
        for label in ("classification_accuracy", "regression_r2"):
            if label not in groups:
                continue
            mean = groups[label]["mean_rank"]
            best_tree = min(TREES, key=mean.get)
            goals[f"{half}_{label}"] = {
                "ours_mean_rank": mean[OURS], "best_tree": best_tree, "best_tree_mean_rank": mean[best_tree],
                "gap": mean[OURS] - mean[best_tree], "met": mean[OURS] <= mean[best_tree],
                "best_of_all": mean[OURS] == min(mean.values()),
                "datasets": len(groups[label]["datasets"])}
    return goals


def main(args) -> int:
    torch.set_num_threads(1)                        # one thread for every method; in the JSON
    if args.table:
        payload = json.loads(Path(args.table).read_text())
        if "decision" in payload:
            from benchmarks.tabular.dev_study import report as dev_report
            print(dev_report(payload))
        else:
            print(report(payload))
        return 0
    protocol, suffix = _protocol(args), "_smoke" if args.smoke else ""
    names = _names(args)
    if args.only == "dev":
        from benchmarks.tabular.dev_study import run_dev_study
        dev = [n for n in names if split_half(n) == "development"]
        out = run_dev_study(protocol, per_view_folds=args.per_view_folds,
                            per_view_max_rows=args.per_view_max_rows, names=dev)
        path = write_results(f"tabular_dev_study{suffix}", {"protocol": dataclasses.asdict(protocol), **out})
        print(json.dumps({v: {k: d[k] for k in ("wins", "losses", "mean_diff", "adopted")}
                          for v, d in out["decision"].items()}, indent=1))
        print(f"wrote {path}")
        return 0
    ref_sets = _reference_sets(args, names)
    runs = _run_all(names, ref_sets, protocol, args)
    results = _summaries(names, runs)
    ranks = _ranks(results)
    payload = {"protocol": {**dataclasses.asdict(protocol), "torch_threads": 1, "n_jobs": 1,
                            "reference_datasets": ref_sets, "reference_folds": args.reference_folds,
                            "smoke": args.smoke},
               "results": results, "ranks": ranks, "reference": _reference_pairs(runs),
               "fit_time_ratio_ours_over": _fit_time_ratios(results), "goals": _goals(ranks),
               "folds": runs}
    part = "" if args.half == "both" else f"_{args.half}"
    path = write_results(f"tabular_bench{part}{suffix}", payload)
    for half, groups in ranks.items():
        if "classification_accuracy" in groups:
            g = groups["classification_accuracy"]
            plot_cd(path.with_name(f"tabular_cd_{half}{suffix}.png"), {_ABBREV[m]: v for m, v in g["mean_rank"].items()},
                    g["nemenyi_cd"], len(g["datasets"]), f"{half} half: mean rank of accuracy "
                    f"({len(g['datasets'])} data sets, {protocol.repeats}x{protocol.n_splits}-fold CV)",
                    highlight=_ABBREV[OURS])
    print(report(payload))
    print(f"wrote {path}")
    return 0


def _fmt_best(values: dict[str, float], m: str) -> str:
    return f"**{values[m]:.3f}**" if values[m] == max(values.values()) else f"{values[m]:.3f}"


def report(payload: dict) -> str:
    """The Markdown tables of a written payload: per data set (per half), ranks, goals, times."""
    res, lines = payload["results"], []
    for half in HALVES:
        rows = []
        for name, r in res.items():
            if r["half"] != half:
                continue
            metric = "accuracy" if r["task"] == "classification" else "r2"
            vals = {m: r["methods"][m][metric] for m in METHODS}
            rows.append({"data set": name, "rows x cols": f"{r['n_rows']} x {r['n_columns']}", "metric": metric,
                         **{_ABBREV[m]: _fmt_best(vals, m) for m in METHODS},
                         "fit s ours": f"{r['methods'][OURS]['median_fit_s']:.2f}",
                         "fit s RF": f"{r['methods']['random forest']['median_fit_s']:.2f}"})
        if rows:
            lines += [f"\n{half} half\n", markdown_table(rows)]
    rank_rows = []
    for half, groups in payload["ranks"].items():
        for label, g in groups.items():
            rank_rows.append({"half": half, "group": f"{label} ({len(g['datasets'])})",
                              **{_ABBREV[m]: f"{g['mean_rank'][m]:.2f}" for m in METHODS},
                              "Friedman p": "" if g["friedman_p"] is None else f"{g['friedman_p']:.2g}",
                              "CD": f"{g['nemenyi_cd']:.2f}"})
    if rank_rows:
        lines += ["\nmean ranks (1 = best)\n", markdown_table(rank_rows)]
    goal_rows = [{"goal": k, "ours": f"{g['ours_mean_rank']:.2f}",
                  "best tree": f"{_ABBREV[g['best_tree']]} {g['best_tree_mean_rank']:.2f}",
                  "gap": f"{g['gap']:+.2f}", "met": "yes" if g["met"] else "no",
                  "best of all": "yes" if g["best_of_all"] else "no"} for k, g in payload["goals"].items()]
    if goal_rows:
        lines += ["\ngoal: ours' mean rank at or above every tree ensemble's\n", markdown_table(goal_rows)]
    t = payload["fit_time_ratio_ours_over"]
    lines += ["\nfit time of ours / the method's (geometric mean over data sets of the median per fold)\n",
              markdown_table([{_ABBREV[m]: f"{v:.3g}" for m, v in t.items()}])]
    ref = payload.get("reference")
    if ref:
        lines += ["\nours vs the reference package, paired folds\n", markdown_table([
            {"data set": p["dataset"], "fold": p["fold"], "acc ours": f"{p['ours_accuracy']:.3f}",
             "acc ref": f"{p['reference_accuracy']:.3f}", "fit s ours": f"{p['ours_fit_s']:.2f}",
             "fit s ref": f"{p['reference_fit_s']:.1f}"} for p in ref["pairs"]]),
            f"\nmean accuracy {ref['mean_accuracy_ours']:.3f} (ours) vs {ref['mean_accuracy_reference']:.3f}"
            f" (reference), {ref['wins']} wins / {ref['losses']} losses; fit time ratio {ref['fit_time_ratio']:.3f}"]
    return "\n".join(lines)
