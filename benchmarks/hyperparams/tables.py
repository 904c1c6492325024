"""The hyperparams rows of the generated docs tables (see :mod:`benchmarks.tables`)."""

from __future__ import annotations

from benchmarks.tables import Context


def headline(ctx: Context) -> str:
    first = ctx.load("hyperparams/hyperparams.json")["sweep"]
    runs = [r for r in ctx.load("hyperparams/hyperparams_sweep_feature_scale.json")["runs"]
            if r["feature_scale"] == 1.0]          # the configuration ConditionedModel uses
    within = sum(r["goals"]["best_lambda_within_one_grid_step"] for r in runs)
    return (f"train once, sweep weight decay: best λ within one grid step of a 20-run grid at "
            f"{within} of {len(runs)} seeds, for **{first['compute_ratio_flops']:.3f}×** the grid's FLOPs")


HEADLINE = ("hyperparameters", "hyperweights.hyperparams", "docs/hyperparams.md", headline)
TABLES: dict = {}
