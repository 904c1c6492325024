"""The uncertainty rows of the generated docs tables (see :mod:`benchmarks.tables`)."""

from __future__ import annotations

import json
import re
import statistics

from benchmarks.tables import Context


def headline(ctx: Context) -> str:
    from benchmarks.uncertainty.goals import auroc_goal_met

    # the selected configuration (shared ensemble, scales, spread 0.15, 30 epochs): seeds 0-2 ran in
    # the spread study, seeds 3-9 with the references; each is paired with its seed's deep ensemble
    runs: dict[int, dict] = {}
    references: dict[int, dict] = {}
    for path in sorted(ctx.results.glob("uncertainty/uncertainty_e30_*seed[0-9].json")):
        if not re.fullmatch(r"uncertainty_e30_(spread015_)?seed\d", path.stem):
            continue
        data = json.loads(path.read_text())
        seed, rows = data["config"]["seed"], {r["method"]: r for r in data["rows"]}
        if "deep-ensemble" in rows:
            references[seed] = rows["deep-ensemble"]
        if data["config"]["init_spread"] == 0.15 and "implicit-scale-gan" in rows:
            runs[seed] = rows["implicit-scale-gan"]
    seeds = sorted(set(runs) & set(references))
    if not seeds:
        raise FileNotFoundError(f"{ctx.document.name}: no uncertainty_e30 runs of the selected "
                                f"configuration with their references under {ctx.results}")
    met = sum(auroc_goal_met(runs[s], references[s]) for s in seeds)
    ours = statistics.mean(runs[s]["auroc_mnist"] for s in seeds)
    theirs = statistics.mean(references[s]["auroc_mnist"] for s in seeds)
    return (f"Fashion-MNIST → MNIST detection: one hypernetwork with 1/5 of a deep ensemble's "
            f"parameters, AUROC **{ours:.3f}** vs the ensemble's {theirs:.3f} (mean); at least the "
            f"ensemble's at {met} of {len(seeds)} seeds")


HEADLINE = ("uncertainty", "hyperweights.uncertainty", "docs/uncertainty.md", headline)
TABLES: dict = {}
