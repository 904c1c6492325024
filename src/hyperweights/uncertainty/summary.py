"""Mean ± standard deviation over seeds of ``bench uncertainty`` result files.

``python -m hyperweights.uncertainty.summary results/uncertainty_shared_seed*.json`` prints one
markdown row per method (the methods found in the files, in order of first appearance) with the mean
and sample standard deviation of each metric over the files that contain the method, and the
per-file values of the OOD AUROC.
"""

from __future__ import annotations

import json
import statistics
import sys

__all__ = ["main", "summarize"]

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


def main(argv: list[str] | None = None) -> int:
    paths = sys.argv[1:] if argv is None else argv
    if not paths:
        print("usage: python -m hyperweights.uncertainty.summary RESULT.json [RESULT.json ...]", file=sys.stderr)
        return 2
    runs = []
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        if "rows" not in data:
            raise ValueError(f"{path} is not a `bench uncertainty` result file (no 'rows')")
        runs.append(data["rows"])
    print(summarize(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
