"""Mean ± standard deviation over seeds of ``bench uncertainty`` result files.

``python -m benchmarks.uncertainty.summary results/uncertainty_e30_*seed?.json`` prints one
markdown row per configuration (a method plus the options its runs varied, such as the initial
spread or the KL weight, in order of first appearance) with the mean and sample standard deviation
of each metric over the runs, and the per-run values of the OOD AUROC in seed order.

``--goals`` prints instead, per hypernetwork configuration, how each of the benchmark's goals fares
seed by seed: OOD AUROC against the deep ensemble of the same seed and protocol, and ECE against
half the single network's (with accuracy within 1 point). The reference rows may come from another
file of the same seed and protocol (a run that trained only the hypernetworks reuses them; the
bench trains every method from the same seeded stream, so the references are identical).
"""

from __future__ import annotations

import argparse
import json
import statistics

from benchmarks.uncertainty.goals import auroc_goal_met, ece_goal_met, parameter_budget

__all__ = ["goals_over_seeds", "main", "summarize"]

METRICS = ("accuracy", "nll", "brier", "ece", "ece_cal", "auroc_mnist", "auroc_noise", "auroc_rotated",
           "mi_mnist", "speedup_b16", "speedup_b512")


def _fmt(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def summarize(runs: list[list[dict]], metrics: tuple[str, ...] = METRICS) -> str:
    """Markdown table of ``mean ± sd`` per method over ``runs`` (each a result file's ``rows``).

    Example:
        >>> runs = [[{"method": "a", "accuracy": 0.8, "auroc_mnist": 0.7}],
        ...         [{"method": "a", "accuracy": 0.9, "auroc_mnist": 0.9}]]
        >>> print(summarize(runs, ("accuracy",)))
        | method | runs | accuracy | AUROC MNIST per run |
        |---|---|---|---|
        | a | 2 | 0.8500 ± 0.0707 | 0.7000, 0.9000 |
    """
    by: dict[str, list[dict]] = {}
    for rows in runs:
        for row in rows:
            by.setdefault(row["method"], []).append(row)
    present = [m for m in metrics if any(m in r for rows in by.values() for r in rows)]
    lines = ["| method | runs | " + " | ".join(present) + " | AUROC MNIST per run |",
             "|---|---|" + "---|" * len(present) + "---|"]
    for method, rows in by.items():
        cells = [_fmt([r[m] for r in rows if m in r]) if any(m in r for r in rows) else "" for m in present]
        per_run = ", ".join(f"{r['auroc_mnist']:.4f}" for r in rows if "auroc_mnist" in r)
        lines.append(f"| {method} | {len(rows)} | " + " | ".join(cells) + f" | {per_run} |")
    return "\n".join(lines)


# Options that change what a hypernetwork row measures: (label, value left out of the label, methods
# it affects; ``None``: always shown); the protocol keys decide which single network / deep ensemble
# a row is compared with.
def _shared(method: str) -> bool:
    return method.startswith("implicit-") and method.count("-") == 2


def _hypernetwork(method: str) -> bool:
    return method.startswith("implicit") or method == "bayesian-hnet"


_VARIANT = {"init_spread": ("spread", None, _shared), "ood_diversity": ("gamma", 0.0, _shared),
            "shared_hidden": ("width", 176, _shared), "shared_trunk_hidden": ("trunk", 0, _shared),
            "hnet_batch_size": ("batch", 256, _hypernetwork),
            "kl_weight": ("KL weight", 1.0, lambda m: m == "bayesian-hnet"),
            "bayesian_hidden": ("width", 0, lambda m: m == "bayesian-hnet"),
            "flow_hidden": ("flow hidden", 32, lambda m: m == "bayesian-hnet")}
_PROTOCOL = ("seed", "epochs", "val_size", "hidden", "lr", "batch_size")


def _protocol(config: dict) -> tuple:
    """Runs with equal protocol keys share their single network and deep ensemble."""
    return tuple(config.get(k) for k in _PROTOCOL)


def _label(method: str, config: dict, epochs: bool = True) -> str:
    extra = [f"{name} {config[key]:g}" for key, (name, default, affects) in _VARIANT.items()
             if affects(method) and key in config and config[key] != default]
    if epochs:
        extra.insert(0, f"{config.get('epochs', '?')} epochs")
    return ", ".join([method, *extra])


def goals_over_seeds(files: list[dict]) -> str:
    """Markdown table: per hypernetwork configuration, the AUROC and ECE goals seed by seed.

    ``files`` are parsed result files (``config`` and ``rows``). Every hypernetwork row is compared
    with the single network and the deep ensemble of the same seed and protocol (any file).

    Example:
        >>> ref = {"config": {"seed": 0, "epochs": 30}, "rows": [
        ...     {"method": "single", "accuracy": 0.90, "ece": 0.04, "auroc_mnist": 0.75},
        ...     {"method": "deep-ensemble", "params": 996050, "accuracy": 0.90, "ece": 0.02,
        ...      "auroc_mnist": 0.84}]}
        >>> run = {"config": {"seed": 0, "epochs": 30, "init_spread": 0.1}, "rows": [
        ...     {"method": "implicit-scale-gan", "params": 198804, "accuracy": 0.895, "ece": 0.015,
        ...      "auroc_mnist": 0.85}]}
        >>> print(goals_over_seeds([ref, run]))
        | configuration | seeds | AUROC − deep ensemble (per seed) | AUROC goal | ECE ÷ single's (per seed) | accuracy − single, points | ECE goal |
        |---|---|---|---|---|---|---|
        | implicit-scale-gan, 30 epochs, spread 0.1 | 0 | +0.0100 | 1 of 1 | 0.38 | −0.5 | 1 of 1 |
    """
    refs: dict[tuple, dict[str, dict]] = {}
    for f in files:
        key = _protocol(f["config"])
        for row in f["rows"]:
            if row["method"] in ("single", "deep-ensemble"):
                refs.setdefault(key, {}).setdefault(row["method"], row)
    by: dict[str, list[tuple]] = {}                   # label -> [(seed, row, references)]
    for f in files:
        key = _protocol(f["config"])
        ref = refs.get(key, {})
        if "single" not in ref or "deep-ensemble" not in ref:
            continue
        for row in f["rows"]:
            if _hypernetwork(row["method"]):
                by.setdefault(_label(row["method"], f["config"]), []).append((f["config"].get("seed"), row, ref))
    lines = ["| configuration | seeds | AUROC − deep ensemble (per seed) | AUROC goal "
             "| ECE ÷ single's (per seed) | accuracy − single, points | ECE goal |",
             "|---|---|---|---|---|---|---|"]
    for label, seeded in by.items():
        seeded.sort(key=lambda item: item[0] if item[0] is not None else -1)
        seeds = ", ".join(str(item[0]) for item in seeded)
        items = [item[1:] for item in seeded]
        gaps = [r["auroc_mnist"] - ref["deep-ensemble"]["auroc_mnist"] for r, ref in items]
        auroc_met = sum(auroc_goal_met(r, ref["deep-ensemble"]) for r, ref in items)
        ratios = [r["ece"] / ref["single"]["ece"] for r, ref in items]
        acc = [100 * (r["accuracy"] - ref["single"]["accuracy"]) for r, ref in items]
        ece_met = sum(ece_goal_met(r, ref["single"]) for r, ref in items)
        over = ("" if all(r["params"] <= parameter_budget(ref["deep-ensemble"]) for r, ref in items)
                else " (over the parameter budget)")
        lines.append(f"| {label} | {seeds} | " + ", ".join(f"{g:+.4f}".replace("-", "−") for g in gaps)
                     + f" | {auroc_met} of {len(items)}{over} | " + ", ".join(f"{q:.2f}" for q in ratios)
                     + " | " + ", ".join(f"{a:+.1f}".replace("-", "−") for a in acc)
                     + f" | {ece_met} of {len(items)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.uncertainty.summary",
                                     description="Summaries over seeds of `bench uncertainty` result files.")
    parser.add_argument("files", nargs="+", help="results/uncertainty_*.json files")
    parser.add_argument("--goals", action="store_true",
                        help="per configuration, the AUROC and ECE goals seed by seed")
    args = parser.parse_args(argv)
    files = []
    for path in args.files:
        with open(path) as f:
            data = json.load(f)
        if "rows" not in data:
            raise ValueError(f"{path} is not a `bench uncertainty` result file (no 'rows'); "
                             "pass files written by `hyperweights bench uncertainty`")
        files.append(data)
    files.sort(key=lambda f: f["config"].get("seed") or 0)             # per-run values in seed order
    if args.goals:
        print(goals_over_seeds(files))
        return 0
    # one line per configuration (the method and what varies its runs); a baseline that several
    # files of one seed and protocol share (identical runs) is counted once
    runs, seen = [], set()
    for f in files:
        key = _protocol(f["config"])
        rows = []
        for row in f["rows"]:
            label = _label(row["method"], f["config"], epochs=False)
            if not _hypernetwork(row["method"]):
                if (label, key) in seen:
                    continue
                seen.add((label, key))
            rows.append({**row, "method": label})
        runs.append(rows)
    print(summarize(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
