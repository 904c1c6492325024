"""The reinforcement-learning rows of the generated docs tables (see :mod:`benchmarks.tables`)."""

from __future__ import annotations

from benchmarks.tables import Context, markdown_table


def rl_runs(ctx: Context) -> str:
    return markdown_table([{
        "seed": r["seed"], "policy": r["method"], "params": f"{r['params']:,}",
        "env steps": f"{r['env_steps']:,}", "train return": r["train_return"],
        "held-out return": r["held_out_return"], "worst held-out task": r["held_out_min"]}
        for r in ctx.load("rl/rl.json")["runs"]])


def headline(ctx: Context) -> str:
    data = ctx.load("rl/rl.json")
    goal = data["goal_hypernetwork_best"]
    mean = {s["method"]: s["held_out_return"] for s in data["summary"]}
    return (f"CartPole, held-out poles: hypernetwork policy **{mean['hypernetwork']:.0f}** vs "
            f"parameters-as-input {mean['input']:.0f} vs per-task {mean['per_task']:.0f} (best of "
            f"the three at {goal['seeds_met']} of {goal['seeds']} seeds)")


HEADLINE = ("reinforcement learning", "hyperweights.rl", "docs/rl.md", headline)
TABLES: dict = {"rl-runs": rl_runs}
