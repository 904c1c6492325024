"""The continual rows of the generated docs tables (see :mod:`benchmarks.tables`)."""

from __future__ import annotations

from benchmarks.tables import Context


def headline(ctx: Context) -> str:
    # the learners on the core defaults (the November table below it used feature scale 1.0)
    run = ctx.load("continual/continual_split_mnist5k_core_default.json")
    finals = [r["final_avg"] for r in run["rows"] if r["method"] == "hnet"]
    goal = next(g for g in run["goals"] if g["goal"].startswith("HNET CL1"))
    return (f"Split-MNIST-5k (task id given): HNET final accuracy **{sum(finals) / len(finals):.3f}** "
            f"over {len(finals)} seeds on the core defaults; goal ≥ 0.99 met at {goal['met_seeds']} seeds")


HEADLINE = ("continual learning", "hyperweights.continual", "docs/continual.md", headline)
TABLES: dict = {}
