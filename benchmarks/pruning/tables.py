"""The pruning row of the README's applications table (see :mod:`benchmarks.tables`)."""

from __future__ import annotations

from benchmarks.tables import Context


def headline(ctx: Context) -> str:
    data = ctx.load("pruning/pruning.json")
    runs = data["runs"]

    def mean(budget: int, method: str) -> float:
        return sum(r["budgets"][budget][method]["accuracy"] for r in runs) / len(runs)
    parts = [f"{fraction:.0%} FLOPs: searched **{mean(i, 'searched'):.3f}** vs uniform "
             f"{mean(i, 'uniform'):.3f}, L1-norm {mean(i, 'l1_norm'):.3f}"
             for i, fraction in enumerate(data["config"]["budgets"])]
    ratio = min(r["search_cost"]["ratio"] for r in runs)
    return (f"MetaPruning on Fashion-MNIST ({len(runs)} seeds, mean test accuracy after the same short "
            f"fine-tune): " + "; ".join(parts) + f"; scoring a candidate ≥ {ratio:.0f}× cheaper than "
            "training it from scratch (goal 100×)")


HEADLINE = ("pruning", "hyperweights.pruning", "docs/pruning.md", headline)
TABLES: dict = {}
