"""The physics README row and docs tables (see :mod:`benchmarks.tables`)."""

from __future__ import annotations

from benchmarks.tables import Context, goals_table, markdown_table

#: the fine-tuning steps shown in the docs table
STEPS = (0, 20, 40, 100, 200)
STARTS = {"hypernetwork": "generated PINN (fine-tuning from the prediction)",
          "random_init": "PyTorch default init", "reptile_init": "Reptile init"}


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def _cell(values) -> str:
    """Mean over seeds, with the range when there is more than one seed."""
    values = list(values)
    text = f"{_mean(values):.3f}"
    return text if len(values) == 1 else f"{text} ({min(values):.3f}–{max(values):.3f})"


def physics_rounds(ctx: Context) -> str:
    """Mean relative L2 per held-out set, zero-shot and after each delta-PINN round."""
    runs = ctx.load("physics/physics.json")["runs"]
    sets = {"MMS (analytic)": lambda r, i: r["labelled"][i],
            "source-only, square (FD)": lambda r, i: not r["labelled"][i],
            "all": lambda r, i: True}
    rows = []
    for name, member in sets.items():
        per_seed = [[_mean(e for i, e in enumerate(errors) if member(r, i)) for errors in r["round_errors"]]
                    for r in runs]
        row = {"held-out set": name, "PDEs": sum(member(runs[0], i) for i in range(len(runs[0]["labelled"])))}
        for k in range(len(per_seed[0])):
            row["zero-shot" if k == 0 else f"round {k}"] = _cell(s[k] for s in per_seed)
        rows.append(row)
    return markdown_table(rows)


def physics_finetune(ctx: Context) -> str:
    """Mean relative L2 after k PINN steps from each start (mean over seeds, range)."""
    runs = ctx.load("physics/physics.json")["runs"]
    rows = []
    for key, label in STARTS.items():
        curves = [dict(map(tuple, r["mean_curves"][key])) for r in runs]
        rows.append({"start": label, **{f"k = {k}": _cell(c[k] for c in curves) for k in STEPS if k in curves[0]}})
    rows.append({"start": "steps from the prediction to the random-init PINN's final error",
                 **{"k = 0": ", ".join(str(r["steps_to_random_final"]) for r in runs) + " (per seed)"}})
    return markdown_table(rows)


def physics_goals(ctx: Context) -> str:
    return goals_table(ctx.load("physics/physics.json")["goals"])


def headline(ctx: Context) -> str:
    data = ctx.load("physics/physics.json")
    rounds, runs = data["round_means"], data["runs"]
    final = runs[0]["mean_curves"]["random_init"][-1][0]
    reach = next(g for g in data["goals"] if "fine-tuning" in g["goal"])
    return (f"held-out 2-D PDEs (Poisson, Helmholtz, advection–diffusion; square and disk): zero-shot "
            f"relative L2 **{_mean(r[0] for r in rounds):.3f}**, {_mean(r[-1] for r in rounds):.3f} "
            f"after {len(rounds[0]) - 1} delta-PINN rounds; fine-tuning from the prediction reaches the "
            f"random-init PINN's {final}-step error in "
            f"{'/'.join(str(r['steps_to_random_final']) for r in runs)} steps (goal ≤ 1/5 met at "
            f"{reach['seeds_met']} of {reach['seeds']} seeds)")


HEADLINE = ("physics-informed PDE solving", "hyperweights.physics", "docs/physics.md", headline)
TABLES: dict = {"physics-rounds": physics_rounds, "physics-finetune": physics_finetune,
                "physics-goals": physics_goals}
