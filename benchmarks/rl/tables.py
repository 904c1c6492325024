"""The reinforcement-learning rows of the generated docs tables (see :mod:`benchmarks.tables`)."""

from __future__ import annotations

from benchmarks.tables import Context, markdown_table


def _runs(data: dict) -> str:
    return markdown_table([{
        "seed": r["seed"], "policy": r["method"], "params": f"{r['params']:,}",
        **({"actor params": f"{r['actor_params']:,}"} if "actor_params" in r else {}),
        "env steps": f"{r['env_steps']:,}", "train return": r["train_return"],
        "held-out return": r["held_out_return"], "worst held-out task": r["held_out_min"]}
        for r in data["runs"]])


def rl_runs(ctx: Context) -> str:
    return _runs(ctx.load("rl/rl.json"))


def rl_pendulum_runs(ctx: Context) -> str:
    return _runs(ctx.load("rl/rl_pendulum.json"))


def rl_pendulum_held_out(ctx: Context) -> str:
    """Mean held-out return per held-out pendulum and policy (over the seeds)."""
    data = ctx.load("rl/rl_pendulum.json")
    methods = [s["method"] for s in data["summary"]]
    rows = []
    for i, (m, length) in enumerate(data["held_out_tasks"]):
        row = {"m (kg)": f"{m:.2f}", "l (m)": f"{length:.2f}"}
        for method in methods:
            scores = [r["held_out_per_task"][i] for r in data["runs"] if r["method"] == method]
            row[method] = f"{sum(scores) / len(scores):.0f}"
        rows.append(row)
    return markdown_table(rows)


def _sentence(data: dict, name: str) -> str:
    goal = data["goal_hypernetwork_best"]
    mean = {s["method"]: s["held_out_return"] for s in data["summary"]}
    return (f"{name}: hypernetwork policy **{mean['hypernetwork']:.0f}** vs parameters-as-input "
            f"{mean['input']:.0f} vs per-task {mean['per_task']:.0f} (best of the three at "
            f"{goal['seeds_met']} of {goal['seeds']} seeds)")


def headline(ctx: Context) -> str:
    return (_sentence(ctx.load("rl/rl.json"), "CartPole, held-out poles") + "; "
            + _sentence(ctx.load("rl/rl_pendulum.json"), "Pendulum, held-out (m, l)"))


HEADLINE = ("reinforcement learning", "hyperweights.rl", "docs/rl.md", headline)
TABLES: dict = {"rl-runs": rl_runs, "rl-pendulum-runs": rl_pendulum_runs,
                "rl-pendulum-held-out": rl_pendulum_held_out}
