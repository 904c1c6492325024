"""Mean ± standard deviation over seeds of ``bench uncertainty`` result files.

``python -m benchmarks.uncertainty.summary results/uncertainty/uncertainty_e30_*seed?.json`` prints one
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

__all__ = ["goal_counts", "goals_over_seeds", "main", "summarize"]

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


def _hypergan(method: str) -> bool:
    return method.startswith("implicit-") and method.count("-") == 1


# the HyperGAN-style runs before the bench had these options used feature scale 1 and head lr x 0.1
# (0 or None: the core's default feature scale 1/sqrt(trunk width))
_VARIANT = {"feature_scale": ("feature scale", 1.0, _hypergan), "head_lr_scale": ("head lr ×", 0.1, _hypergan),
            "init_spread": ("spread", None, _shared), "ood_diversity": ("gamma", 0.0, _shared),
            "shared_hidden": ("width", 176, _shared), "shared_trunk_hidden": ("trunk", 0, _shared),
            "hnet_batch_size": ("batch", 256, _hypernetwork),
            "kl_weight": ("KL weight", 1.0, lambda m: m == "bayesian-hnet"),
            "bayesian_hidden": ("width", 0, lambda m: m == "bayesian-hnet"),
            "flow_hidden": ("flow hidden", 32, lambda m: m == "bayesian-hnet")}
_PROTOCOL = ("seed", "epochs", "val_size", "hidden", "lr", "batch_size")


def _protocol(config: dict) -> tuple:
    """Runs with equal protocol keys share their single network and deep ensemble."""
    return tuple(config.get(k) for k in _PROTOCOL)


def _value(name: str, value) -> str:
    return "core feature scale" if name == "feature scale" and not value else f"{name} {value:g}"


def _label(method: str, config: dict, epochs: bool = True) -> str:
    extra = [_value(name, config[key]) for key, (name, default, affects) in _VARIANT.items()
             if affects(method) and key in config and config[key] != default]
    if epochs:
        extra.insert(0, f"{config.get('epochs', '?')} epochs")
    return ", ".join([method, *extra])


def goal_counts(files: list[dict]) -> list[dict]:
    """Per hypernetwork configuration, the AUROC and ECE goals seed by seed, as JSON-able dicts.

    ``files`` are parsed result files (``config`` and ``rows``). Every hypernetwork row is compared
    with the single network and the deep ensemble of the same seed and protocol (any file). Each
    entry holds the ``seeds``, per-seed ``auroc_gap`` (minus the deep ensemble's), ``ece_ratio``
    (over the single network's), ``accuracy_gap`` (points), and the counts ``auroc_met`` /
    ``ece_met`` out of ``runs`` (a goal met at some seeds only is reported as such).
    """
    refs: dict[tuple, dict[str, dict]] = {}
    for f in files:
        key = _protocol(f["config"])
        for row in f["rows"]:
            if row["method"] in ("single", "deep-ensemble"):
                refs.setdefault(key, {}).setdefault(row["method"], row)
    by: dict[str, list[tuple]] = {}                   # label -> [(seed, row, references)]
    for f in files:
        ref = refs.get(_protocol(f["config"]), {})
        if "single" not in ref or "deep-ensemble" not in ref:
            continue
        for row in f["rows"]:
            if _hypernetwork(row["method"]):
                by.setdefault(_label(row["method"], f["config"]), []).append((f["config"].get("seed"), row, ref))
    out = []
    for label, seeded in by.items():
        seeded.sort(key=lambda item: item[0] if item[0] is not None else -1)
        items = [item[1:] for item in seeded]
        out.append({
            "configuration": label, "seeds": [item[0] for item in seeded], "runs": len(items),
            "auroc_gap": [r["auroc_mnist"] - ref["deep-ensemble"]["auroc_mnist"] for r, ref in items],
            "auroc_met": sum(auroc_goal_met(r, ref["deep-ensemble"]) for r, ref in items),
            "within_budget": all(r["params"] <= parameter_budget(ref["deep-ensemble"]) for r, ref in items),
            "ece_ratio": [r["ece"] / ref["single"]["ece"] for r, ref in items],
            "accuracy_gap": [100 * (r["accuracy"] - ref["single"]["accuracy"]) for r, ref in items],
            "ece_met": sum(ece_goal_met(r, ref["single"]) for r, ref in items),
        })
    return out


def _signed(values: list[float], digits: int) -> str:
    return ", ".join(f"{v:+.{digits}f}".replace("-", "−") for v in values)


def goals_over_seeds(files: list[dict]) -> str:
    """Markdown table of :func:`goal_counts`.

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
    lines = ["| configuration | seeds | AUROC − deep ensemble (per seed) | AUROC goal "
             "| ECE ÷ single's (per seed) | accuracy − single, points | ECE goal |",
             "|---|---|---|---|---|---|---|"]
    for c in goal_counts(files):
        over = "" if c["within_budget"] else " (over the parameter budget)"
        lines.append(f"| {c['configuration']} | {', '.join(str(s) for s in c['seeds'])} | "
                     f"{_signed(c['auroc_gap'], 4)} | {c['auroc_met']} of {c['runs']}{over} | "
                     + ", ".join(f"{q:.2f}" for q in c["ece_ratio"])
                     + f" | {_signed(c['accuracy_gap'], 1)} | {c['ece_met']} of {c['runs']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.uncertainty.summary",
                                     description="Summaries over seeds of `bench uncertainty` result files.")
    parser.add_argument("files", nargs="+", help="results/uncertainty/uncertainty_*.json files")
    parser.add_argument("--goals", action="store_true",
                        help="per configuration, the AUROC and ECE goals seed by seed")
    parser.add_argument("--metrics", default=",".join(METRICS),
                        help="comma-separated row keys to average (e.g. val_accuracy,val_nll,accuracy)")
    parser.add_argument("--json", default=None,
                        help="with --goals: also write the per-seed goal counts to this JSON file")
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
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"files": sorted(args.files), "goals": goal_counts(files)}, f, indent=2)
                f.write("\n")
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
    print(summarize(runs, tuple(m for m in args.metrics.split(",") if m)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
