"""``hyperweights bench tabular``: HyperTab vs the reference package, trees, linear models and an
MLP on small real datasets, with repeated (stratified) 2-fold cross-validation.

Every method sees the same folds; fit and predict are timed per fold in the same process, with the
order of the methods rotated from fold to fold. The reference ``hypertab`` package takes one Adam
step per mask per batch, so it runs on a documented subset of datasets and folds (``--reference``,
``--reference-folds``) at the same K, epochs and network sizes as ours.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
import warnings

import numpy as np
import torch

from hyperweights.bench import markdown_table, write_results
from benchmarks.tabular.datasets import DATASETS, load_dataset

__all__ = ["add_arguments", "main", "METHODS"]

METHODS = ["hypertab (ours)", "hypertab (reference)", "random forest", "xgboost", "lightgbm",
           "logistic / ridge", "mlp"]
OURS, REF = METHODS[0], METHODS[1]
SMALL = 1000   # the paper's "small data" threshold (rows)
# Studentized range / sqrt(2) at alpha = 0.05 for the Nemenyi test, by number of methods.
_Q05 = {2: 1.960, 3: 2.343, 4: 2.569, 5: 2.728, 6: 2.850, 7: 2.949, 8: 3.031, 9: 3.102, 10: 3.164}
_DEFAULT_REFERENCE = "sonar,heart,ionosphere,libras,breast_cancer"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (< 60 s), writes tabular_smoke*")
    parser.add_argument("--datasets", default=None, help="comma-separated subset of: " + ",".join(DATASETS))
    parser.add_argument("--repeats", type=int, default=5, help="repetitions of 2-fold CV (5x2 CV)")
    parser.add_argument("--n-masks", type=int, default=100, help="K, for ours and the reference")
    parser.add_argument("--epochs", type=int, default=50, help="epochs, for ours and the reference")
    parser.add_argument("--hidden", type=int, default=10, help="target-network width, both HyperTabs")
    parser.add_argument("--reference", default=_DEFAULT_REFERENCE,
                        help="datasets on which the reference package runs ('all', 'none' or a list)")
    parser.add_argument("--reference-folds", type=int, default=1,
                        help="folds (the first ones) on which the reference package runs")
    parser.add_argument("--seed", type=int, default=0)


# ---------------------------------------------------------------------------------- methods
def _require(module: str, package: str):
    import importlib
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            f"the tabular benchmark compares against {module}: pip install {package} "
            "(or pip install 'hyperweights[bench]')") from err


def _make(method: str, task: str, args, seed: int):
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from hyperweights.tabular.classifier import HyperTabClassifier
    from benchmarks.peers.hypertab import ReferenceHyperTab
    from hyperweights.tabular.regressor import HyperTabRegressor

    clf = task == "classification"
    if method == OURS:
        cls = HyperTabClassifier if clf else HyperTabRegressor
        return cls(n_masks=args.n_masks, epochs=args.epochs, hidden_dims=args.hidden, random_state=seed)
    if method == REF:
        return make_pipeline(StandardScaler(), ReferenceHyperTab(
            test_nodes=args.n_masks, epochs=args.epochs, hidden_dims=args.hidden, random_state=seed))
    if method == "random forest":
        cls = RandomForestClassifier if clf else RandomForestRegressor
        return cls(n_estimators=100 if not args.smoke else 20, n_jobs=1, random_state=seed)
    if method == "xgboost":
        xgboost = _require("xgboost", "xgboost-cpu")
        cls = xgboost.XGBClassifier if clf else xgboost.XGBRegressor
        return cls(n_estimators=100 if not args.smoke else 20, n_jobs=1, random_state=seed,
                   tree_method="hist", verbosity=0)
    if method == "lightgbm":
        lightgbm = _require("lightgbm", "lightgbm")
        cls = lightgbm.LGBMClassifier if clf else lightgbm.LGBMRegressor
        return cls(n_estimators=100 if not args.smoke else 20, n_jobs=1, random_state=seed, verbose=-1)
    if method == "logistic / ridge":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000) if clf
                             else RidgeCV(alphas=np.logspace(-3, 3, 13)))
    if method == "mlp":
        if clf:
            return make_pipeline(StandardScaler(), MLPClassifier(max_iter=500, random_state=seed))
        return TransformedTargetRegressor(
            make_pipeline(StandardScaler(), MLPRegressor(max_iter=500, random_state=seed)),
            transformer=StandardScaler())
    raise ValueError(f"unknown method {method!r}")


def _score(task: str, y_true, y_pred) -> dict:
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, r2_score
    if task == "classification":
        return {"accuracy": accuracy_score(y_true, y_pred),
                "balanced_accuracy": balanced_accuracy_score(y_true, y_pred)}
    return {"r2": r2_score(y_true, y_pred)}


def _folds(task: str, X, y, repeats: int, seed: int):
    from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold
    cv = (RepeatedStratifiedKFold if task == "classification" else RepeatedKFold)(
        n_splits=2, n_repeats=repeats, random_state=seed)
    return list(cv.split(X, y))


def _run_fold(method, task, args, seed, X, y, train, test) -> dict:
    from sklearn.exceptions import ConvergenceWarning
    model = _make(method, task, args, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X[train], y[train])
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        pred = model.predict(X[test])
        predict_s = time.perf_counter() - start
    return {**_score(task, y[test], pred), "fit_s": fit_s, "predict_s": predict_s}


# ---------------------------------------------------------------------------------- statistics
def _mean_ranks(table: dict[str, dict[str, float]], methods: list[str]) -> tuple[dict, dict]:
    """Rank methods per dataset (1 = best, ties averaged); returns (mean ranks, per-dataset ranks)."""
    from scipy.stats import rankdata
    per = {}
    for name, scores in table.items():
        ranks = rankdata([-scores[m] for m in methods], method="average")
        per[name] = dict(zip(methods, ranks.tolist()))
    mean = {m: float(np.mean([per[d][m] for d in per])) for m in methods} if per else {}
    return mean, per


def _friedman(table, methods) -> float | None:
    from scipy.stats import friedmanchisquare
    if len(table) < 3 or len(methods) < 3:
        return None
    return float(friedmanchisquare(*[[table[d][m] for d in table] for m in methods]).pvalue)


def critical_difference(k: int, n: int) -> float:
    """Nemenyi critical difference of mean ranks at alpha = 0.05 (Demsar 2006).

    Example:
        >>> round(critical_difference(6, 11), 2)
        2.27
    """
    return _Q05[k] * (k * (k + 1) / (6.0 * n)) ** 0.5


def _plot(path, ranks: dict, cd: float, n: int, times: dict, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    order = sorted(ranks, key=ranks.get)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [3, 2]})
    ypos = np.arange(len(order))[::-1]
    best = ranks[order[0]]
    for y, m in zip(ypos, order):
        tied = ranks[m] - best <= cd
        ax.plot([ranks[m]], [y], "o", color="C0" if m == OURS else "C7", ms=8)
        ax.text(ranks[m] + 0.08, y + 0.15, f"{ranks[m]:.2f}", fontsize=8)
        if tied:
            ax.plot([best, ranks[m]], [y, y], color="C3", lw=1, alpha=0.5)
    ax.plot([best, best + cd], [len(order) - 0.4] * 2, color="C3", lw=3)
    ax.text(best, len(order) - 0.25, f"CD = {cd:.2f} (Nemenyi, a=0.05, N={n})", fontsize=8, color="C3")
    ax.set_yticks(ypos, order)
    ax.set_xlabel("mean rank of accuracy (1 = best)")
    ax.set_ylim(-0.7, len(order) + 0.2)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    tm = sorted(times, key=times.get, reverse=True)
    bx.barh(np.arange(len(tm))[::-1], [times[m] for m in tm],
            color=["C0" if m == OURS else ("C1" if m == REF else "C7") for m in tm])
    bx.set_yticks(np.arange(len(tm))[::-1], tm)
    bx.set_xscale("log")
    for y, m in zip(np.arange(len(tm))[::-1], tm):
        bx.text(times[m], y, f" {times[m]:.2g}", va="center", fontsize=8)
    bx.set_xlabel("median fit time per fold [s] (log)")
    bx.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# ---------------------------------------------------------------------------------- main
def _config(args):
    if args.smoke:
        args.datasets = args.datasets or "iris,wine,diabetes"
        args.repeats, args.n_masks, args.epochs = 1, 8, 5
        args.reference, args.reference_folds = "iris", 1
    names = list(DATASETS) if not args.datasets else [n.strip() for n in args.datasets.split(",")]
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        raise SystemExit(f"unknown datasets {unknown}; available: {', '.join(DATASETS)}")
    if args.reference == "all":
        ref = [n for n in names if DATASETS[n].task == "classification"]
    elif args.reference == "none":
        ref = []
    else:
        ref = [n.strip() for n in args.reference.split(",") if n.strip() in names]
    if ref and importlib.util.find_spec("hypertab") is None:
        print("note: the reference package is not installed (pip install --no-deps hypertab==0.6.2); "
              "running without it")
        ref = []
    return names, ref


def main(args) -> int:
    from tqdm import tqdm
    torch.set_num_threads(1)      # stable ratios on a shared machine; stated in the JSON
    names, ref_sets = _config(args)
    suffix = "_smoke" if args.smoke else ""

    data = {n: load_dataset(n) for n in names}
    jobs = []
    for n in names:
        task = DATASETS[n].task
        X, y = data[n]
        for f, (train, test) in enumerate(_folds(task, X, y, args.repeats, args.seed)):
            methods = [m for m in METHODS if m != REF or (n in ref_sets and f < args.reference_folds)]
            if task == "regression":
                methods = [m for m in methods if m != REF]
            jobs.append((n, f, train, test, methods))

    # Untimed warm-up of every method (imports, first-call kernel setup) on a slice of the data.
    warm = argparse.Namespace(**{**vars(args), "epochs": 1})
    for n in names[:1]:
        X, y = data[n]
        task = DATASETS[n].task
        train, test = _folds(task, X, y, 1, args.seed)[0]
        for m in sorted({m for job in jobs for m in job[4]}):
            _run_fold(m, task, warm, args.seed, X, y, train, test)

    runs: dict[str, dict[str, list[dict]]] = {n: {} for n in names}
    for i, (n, f, train, test, methods) in enumerate(tqdm(jobs, desc="tabular folds")):
        rot = i % len(methods)
        for m in methods[rot:] + methods[:rot]:
            X, y = data[n]
            out = _run_fold(m, DATASETS[n].task, args, args.seed + f, X, y, train, test)
            runs[n].setdefault(m, []).append({"fold": f, **out})

    # --------------------------------------------------------------- aggregate
    results = {}
    for n in names:
        task = DATASETS[n].task
        keys = ["accuracy", "balanced_accuracy"] if task == "classification" else ["r2"]
        results[n] = {
            "task": task, "n_samples": len(data[n][1]), "n_features": data[n][0].shape[1],
            "source": DATASETS[n].source, "note": DATASETS[n].note,
            "methods": {m: {**{k: float(np.mean([r[k] for r in rs])) for k in keys},
                            **{f"{k}_std": float(np.std([r[k] for r in rs])) for k in keys},
                            "fit_s": float(np.mean([r["fit_s"] for r in rs])),
                            "predict_s": float(np.mean([r["predict_s"] for r in rs])),
                            "folds": rs}
                        for m, rs in runs[n].items()},
        }

    main_methods = [m for m in METHODS if m != REF]
    def table(metric, pred):
        return {n: {m: results[n]["methods"][m][metric] for m in main_methods}
                for n in names if pred(results[n])}
    small = table("accuracy", lambda r: r["task"] == "classification" and r["n_samples"] < SMALL)
    small_bal = table("balanced_accuracy", lambda r: r["task"] == "classification" and r["n_samples"] < SMALL)
    allc = table("accuracy", lambda r: r["task"] == "classification")
    reg = table("r2", lambda r: r["task"] == "regression")
    ranks = {}
    for label, tab in [("classification_small", small), ("classification_small_balanced", small_bal),
                       ("classification_all", allc), ("regression", reg)]:
        mean, per = _mean_ranks(tab, main_methods)
        ranks[label] = {"datasets": list(tab), "mean_rank": mean, "per_dataset": per,
                        "friedman_p": _friedman(tab, main_methods),
                        "nemenyi_cd": critical_difference(len(main_methods), len(tab)) if tab else None}

    # --------------------------------------------------------------- ours vs the reference
    pairs = []
    for n in names:
        ref_runs = runs[n].get(REF, [])
        ours = {r["fold"]: r for r in runs[n][OURS]}
        for r in ref_runs:
            o = ours[r["fold"]]
            pairs.append({"dataset": n, "fold": r["fold"], "ours_accuracy": o["accuracy"],
                          "reference_accuracy": r["accuracy"], "ours_fit_s": o["fit_s"],
                          "reference_fit_s": r["fit_s"], "fit_ratio": o["fit_s"] / r["fit_s"],
                          "ours_predict_s": o["predict_s"], "reference_predict_s": r["predict_s"]})
    reference = None
    if pairs:
        reference = {
            "datasets": sorted({p["dataset"] for p in pairs}), "folds_per_dataset": args.reference_folds,
            "pairs": pairs,
            "mean_accuracy_ours": float(np.mean([p["ours_accuracy"] for p in pairs])),
            "mean_accuracy_reference": float(np.mean([p["reference_accuracy"] for p in pairs])),
            "total_fit_s_ours": float(sum(p["ours_fit_s"] for p in pairs)),
            "total_fit_s_reference": float(sum(p["reference_fit_s"] for p in pairs)),
        }
        reference["fit_time_ratio"] = reference["total_fit_s_ours"] / reference["total_fit_s_reference"]
        reference["max_fit_ratio"] = float(max(p["fit_ratio"] for p in pairs))

    fit_median = {m: float(np.median([r["fit_s"] for n in names for r in runs[n].get(m, [])]))
                  for m in METHODS if any(m in runs[n] for n in names)}
    goals = {
        "best_mean_rank_small": (bool(small) and min(ranks["classification_small"]["mean_rank"],
                                 key=ranks["classification_small"]["mean_rank"].get) == OURS),
        "fit_time_ratio_vs_reference": reference and reference["fit_time_ratio"],
        "fit_time_ratio_goal_met": bool(reference and reference["fit_time_ratio"] <= 0.05),
        "accuracy_ge_reference": bool(reference and reference["mean_accuracy_ours"]
                                      >= reference["mean_accuracy_reference"]),
    }
    payload = {
        "config": {"datasets": names, "cv": f"{args.repeats}x2 (repeated stratified 2-fold; KFold for regression)",
                   "seed": args.seed, "n_masks": args.n_masks, "epochs": args.epochs,
                   "hidden_dims": args.hidden, "subsample": 0.5, "batch_size": 128,
                   "lr_ours": 3e-3, "lr_reference": 3e-4, "reference_datasets": ref_sets,
                   "reference_folds": args.reference_folds, "torch_threads": 1, "n_jobs": 1,
                   "smoke": args.smoke},
        "results": {n: {**r, "methods": {m: {k: v for k, v in d.items() if k != "folds"}
                                         for m, d in r["methods"].items()}} for n, r in results.items()},
        "folds": {n: {m: d["folds"] for m, d in r["methods"].items()} for n, r in results.items()},
        "ranks": ranks, "reference": reference, "median_fit_s": fit_median, "goals": goals,
    }
    path = write_results(f"tabular{suffix}", payload)
    if small:
        _plot(path.with_name(f"tabular{suffix}_ranks.png"), ranks["classification_small"]["mean_rank"],
              ranks["classification_small"]["nemenyi_cd"], len(small), fit_median,
              f"classification, < {SMALL} rows ({len(small)} datasets, {args.repeats}x2 CV)")
    print(report(payload))
    print(f"wrote {path}")
    return 0


def report(payload: dict) -> str:
    """Markdown tables of a results payload (per dataset, ranks, reference comparison)."""
    res, lines = payload["results"], []
    abbrev = {OURS: "ours", REF: "ref", "random forest": "RF", "xgboost": "XGB", "lightgbm": "LGBM",
              "logistic / ridge": "LR/ridge", "mlp": "MLP"}
    rows = []
    for n, r in res.items():
        metric = "accuracy" if r["task"] == "classification" else "r2"
        row = {"dataset": n, "n x d": f"{r['n_samples']} x {r['n_features']}", "metric": metric}
        best = max(d[metric] for d in r["methods"].values())
        for m in METHODS:
            if m in r["methods"]:
                v = r["methods"][m][metric]
                row[abbrev[m]] = f"**{v:.3f}**" if v == best else f"{v:.3f}"
        rows.append(row)
    lines.append(markdown_table(rows, ["dataset", "n x d", "metric", *abbrev.values()]))
    rank_rows = []
    for label, rk in payload["ranks"].items():
        if rk["mean_rank"]:
            rank_rows.append({"mean rank": f"{label} ({len(rk['datasets'])})",
                              **{abbrev[m]: f"{v:.2f}" for m, v in rk["mean_rank"].items()},
                              "Friedman p": "" if rk["friedman_p"] is None else f"{rk['friedman_p']:.2g}"})
    if rank_rows:
        lines += ["", markdown_table(rank_rows)]
    t = payload["median_fit_s"]
    lines += ["", markdown_table([{"median fit s/fold": "", **{abbrev[m]: f"{v:.3g}" for m, v in t.items()}}])]
    ref = payload["reference"]
    if ref:
        lines += ["", markdown_table([
            {"dataset": p["dataset"], "fold": p["fold"], "acc ours": f"{p['ours_accuracy']:.3f}",
             "acc ref": f"{p['reference_accuracy']:.3f}", "fit s ours": f"{p['ours_fit_s']:.2f}",
             "fit s ref": f"{p['reference_fit_s']:.1f}", "ratio": f"{p['fit_ratio']:.3f}"}
            for p in ref["pairs"]])]
        lines.append(f"\nours vs reference on {len(ref['pairs'])} folds: accuracy "
                     f"{ref['mean_accuracy_ours']:.4f} vs {ref['mean_accuracy_reference']:.4f}; "
                     f"total fit time ratio {ref['fit_time_ratio']:.4f}")
    return "\n".join(lines)
