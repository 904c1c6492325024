"""The pruning row of the README's applications table and the tables of docs/pruning.md
(see :mod:`benchmarks.tables`)."""

from __future__ import annotations

from benchmarks.tables import Context, markdown_table

METHODS = {"searched": "searched", "uniform": "uniform", "l1_norm": "L1-norm", "dynamic": "dynamic"}


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def headline(ctx: Context) -> str:
    data = ctx.load("pruning/pruning.json")
    runs = data["runs"]

    def mean(budget: int, method: str) -> float:
        return _mean(r["budgets"][budget][method]["accuracy"] for r in runs)
    parts = [f"{fraction:.0%} FLOPs: searched **{mean(i, 'searched'):.3f}** vs uniform "
             f"{mean(i, 'uniform'):.3f}, L1-norm {mean(i, 'l1_norm'):.3f}"
             for i, fraction in enumerate(data["config"]["budgets"])]
    ratio = min(r["search_cost"]["ratio"] for r in runs)
    return (f"MetaPruning on Fashion-MNIST ({len(runs)} seeds, mean test accuracy after the same short "
            f"fine-tune; full CNN {_mean(r['full_accuracy'] for r in runs):.3f}): " + "; ".join(parts) +
            f"; scoring a candidate ≥ {ratio:.0f}× cheaper than training it from scratch (goal 100×)")


def pruning_accuracy(ctx: Context) -> str:
    runs = ctx.load("pruning/pruning.json")["runs"]
    rows = []
    for i, first in enumerate(runs[0]["budgets"]):
        for method, label in METHODS.items():
            cells = [r["budgets"][i][method] for r in runs]
            widths = {tuple(c["widths"]) for c in cells}
            suffix = " per input" if method == "dynamic" else ""
            used = sorted(c["flops_fraction"] for c in cells)
            rows.append({
                "FLOPs budget": f"{first['fraction']:.0%}", "method": label,
                "widths (per seed)": ("; ".join(str(tuple(c["widths"])) for c in cells) if len(widths) > 1
                                      else str(tuple(cells[0]["widths"])) + suffix),
                "FLOPs used": (f"{used[0]:.0%}" if used[0] == used[-1] else f"{used[0]:.0%}–{used[-1]:.0%}"),
                "before fine-tune (per seed)": ", ".join(f"{c['accuracy_before_finetune']:.3f}" for c in cells),
                "after fine-tune (per seed)": ", ".join(f"{c['accuracy']:.4f}" for c in cells),
                "mean": f"{_mean(c['accuracy'] for c in cells):.4f}"})
    return markdown_table(rows)


def pruning_goals(ctx: Context) -> str:
    data = ctx.load("pruning/pruning.json")
    rows = []
    for g in data["goals"]:
        per_seed = ", ".join(f"{v:+.4f}" if not g["unit"] else f"{v:.0f}{g['unit']}" for v in g["per_seed"])
        status = "met" if g["met"] else "**not met**"
        rows.append({"goal": g["goal"],
                     "measured (mean or min; per seed)": f"{g['measured']:.4g}{g['unit']}; {per_seed}",
                     "status": f"{status} ({g['seeds_met']} of {g['seeds']} seeds)"})
    return markdown_table(rows)


def pruning_cost(ctx: Context) -> str:
    runs = ctx.load("pruning/pruning.json")["runs"]
    return markdown_table([{
        "seed": r["seed"], "candidates timed (mean FLOPs)": f"{c['candidates']} ({c['mean_flops_fraction']:.0%})",
        "score, sliced (ms / candidate)": f"{c['score_ms_per_candidate']:.0f}",
        "score, masked (ms / candidate)": f"{c['score_masked_ms_per_candidate']:.0f}",
        "train step (ms)": f"{c['train_step_ms']:.0f}",
        "train from scratch (s)": f"{c['train_candidate_ms'] / 1000:.0f}",
        "ratio, sliced": f"{c['ratio']:.0f}×", "ratio, masked": f"{c['ratio_masked']:.0f}×"}
        for r in runs for c in [r["search_cost"]]])


def pruning_ranking(ctx: Context) -> str:
    runs = ctx.load("pruning/pruning.json")["runs"]
    sizes = [row["images"] for row in runs[0]["ranking"]["sizes"]]
    rows = []
    for r in runs:
        rank = r["ranking"]
        row = {"seed": r["seed"], "reference accuracy range": "–".join(f"{v:.3f}" for v in rank["reference_spread"])}
        for size, cell in zip(sizes, rank["sizes"]):
            rho = "undefined" if cell["spearman"] is None else f"{cell['spearman']:.2f}"
            row[f"{size} images: ρ (regret)"] = f"{rho} ({cell['regret']:.3f})"
        rows.append(row)
    return markdown_table(rows)


def pruning_search(ctx: Context) -> str:
    runs = ctx.load("pruning/pruning.json")["runs"]
    return markdown_table([{
        "seed": r["seed"], "FLOPs budget": f"{b['fraction']:.0%}",
        "candidates visited": b["candidates_visited"], "distinct candidates scored": b["candidates_scored"],
        "search (s)": f"{b['search_seconds']:.0f}", "best validation accuracy": f"{b['search_val_accuracy']:.3f}"}
        for r in runs for b in r["budgets"]])


HEADLINE = ("pruning", "hyperweights.pruning", "docs/pruning.md", headline)
TABLES: dict = {"pruning-accuracy": pruning_accuracy, "pruning-goals": pruning_goals, "pruning-cost": pruning_cost,
                "pruning-ranking": pruning_ranking, "pruning-search": pruning_search}
