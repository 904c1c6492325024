"""The adapters rows of the generated docs tables (see :mod:`benchmarks.tables`), from
``results/adapters/adapters.json`` and the 300-step study."""

from __future__ import annotations

from hyperweights.bench.goals import goal_status
from hyperweights.bench.report import markdown_table


RESULT = "adapters/adapters.json"
STEPS300 = "adapters/adapters_steps300_seed0.json"


def adapters_methods(ctx, relative: str = RESULT) -> str:
    data = ctx.load(relative)
    tasks = list(data["tasks"])
    rows = []
    for row in data["summary"]:
        cells = {"method": row["method"], "seeds": row["seeds"],
                 "mean accuracy": f"{100 * row['accuracy']:.1f} ({100 * row['min']:.1f}–{100 * row['max']:.1f})",
                 "adapter params": f"{row['adapter_params']:,}"}
        cells.update({task: f"{100 * row[task]:.1f}" for task in tasks})
        cells["train s"] = f"{row['train_seconds']:.0f}"
        rows.append(cells)
    zero = data["zero_shot"]
    if zero is None:
        return markdown_table(rows)
    rows.append({"method": f"description_lora, zero-shot on held-out {zero['held_out']} (probe: "
                           f"{100 * zero['probe_accuracy']:.1f})", "seeds": 1,
                 "mean accuracy": f"{100 * zero['zero_shot_adapter_accuracy']:.1f} ({zero['held_out']} only)",
                 "adapter params": "", **{task: "" for task in tasks}, "train s": ""})
    return markdown_table(rows)


def adapters_steps300(ctx) -> str:
    """The 300-step, one-seed study (``--steps 300 --seeds 0 --methods ... --tag _steps300_seed0``)."""
    return adapters_methods(ctx, STEPS300)


def adapters_goals(ctx, relative: str = RESULT) -> str:
    data = ctx.load(relative)
    rows = []
    for g in data["goals"]:
        per_seed = ", ".join(f"{v:.1f}" for v in g.get("per_seed", []))
        rows.append({"goal": g["goal"], "measured": f"{g['measured']:.3g}{g['unit']}",
                     "per seed": per_seed, "status": goal_status(g)})
    return markdown_table(rows)


def adapters_timing(ctx) -> str:
    timing = ctx.load(RESULT)["timing"]
    ms = timing["ms"]
    return markdown_table([{"call (64 sequences, no gradients)": name.replace("_", " "),
                            "median ms": f"{value:.0f}", "× mixed": f"{value / ms['mixed']:.2f}"}
                           for name, value in ms.items()])


def adapters_headline(ctx) -> str:
    data = ctx.load(RESULT)
    rows = {r["method"]: r for r in data["summary"]}
    ours, per_task = rows["polyhistor_decomposed"], rows["lora_per_task"]
    return (f"generated LoRA (Polyhistor-decomposed) {100 * ours['accuracy']:.1f} % mean accuracy with "
            f"{ours['adapter_params']:,} adapter parameters vs one LoRA per task {100 * per_task['accuracy']:.1f} % "
            f"with {per_task['adapter_params']:,}; exported peft adapters match to "
            f"{data['peft']['max_abs_difference']:.1g}")


HEADLINE = ("adapters for a frozen transformer (peft)", "hyperweights.adapters", "docs/adapters.md",
            adapters_headline)
TABLES: dict = {"adapters-methods": adapters_methods, "adapters-goals": adapters_goals,
                "adapters-timing": adapters_timing, "adapters-steps300": adapters_steps300,
                "adapters-steps300-goals": lambda ctx: adapters_goals(ctx, STEPS300)}
