"""The zero-shot rows of the generated docs tables (see :mod:`benchmarks.tables`)."""

from __future__ import annotations

from benchmarks.tables import Context, markdown_table


def zeroshot_splits(ctx: Context) -> str:
    """Per split and method, means over the seeds (the best harmonic mean of each split bold)."""
    data = ctx.load("zeroshot/zeroshot.json")
    groups: dict[tuple, list[dict]] = {}
    for r in data["runs"]:
        groups.setdefault((tuple(r["unseen_classes"]), r["method"]), []).append(r)

    def mean(rows: list[dict], key: str) -> float:
        return sum(r[key] for r in rows) / len(rows)
    best: dict[tuple, float] = {}
    for (split, _), rows in groups.items():
        best[split] = max(best.get(split, 0.0), mean(rows, "harmonic"))

    def harmonic(split: tuple, rows: list[dict]) -> str:
        text = f"{mean(rows, 'harmonic'):.3f}"
        if len(rows) > 1:
            text += f" ({min(r['harmonic'] for r in rows):.3f}–{max(r['harmonic'] for r in rows):.3f})"
        return f"**{text}**" if mean(rows, "harmonic") == best[split] else text
    return markdown_table([{
        "unseen classes": "{" + ", ".join(map(str, split)) + "}", "method": method, "seeds": len(rows),
        "seen": f"{mean(rows, 'seen'):.3f}", "unseen": f"{mean(rows, 'unseen'):.3f}",
        "H (range over seeds)": harmonic(split, rows), "ZSL (unseen only)": f"{mean(rows, 'zsl'):.3f}",
        "H uncalibrated": f"{mean(rows, 'harmonic_uncalibrated'):.3f}",
        "H at the best test γ (diagnostic)": f"{mean(rows, 'harmonic_oracle'):.3f}"}
        for (split, method), rows in groups.items()])


def zeroshot_margins(ctx: Context) -> str:
    """The hypernetwork's H minus the better baseline's, per split (columns) and seed (rows)."""
    data = ctx.load("zeroshot/zeroshot.json")
    table: dict[int, dict] = {}
    for m in data["harmonic_margins"]:
        row = table.setdefault(m["seed"], {"seed": m["seed"]})
        row["{" + ", ".join(map(str, m["unseen_classes"])) + "}"] = f"{m['margin']:+.3f}"
    return markdown_table(list(table.values()))


def headline(ctx: Context) -> str:
    data = ctx.load("zeroshot/zeroshot.json")
    goal, seeds = data["goal_harmonic_above_baselines"], len(data["seeds"])
    return (f"Fashion-MNIST GZSL, 7 seen / 3 unseen classes, weights generated from MiniLM "
            f"descriptions: harmonic mean above DeViSE and nearest-description-embedding at "
            f"**{goal['seeds_met']} of {goal['seeds']}** (split, seed) pairs "
            f"({len(data['config']['splits'])} splits × {seeds} seed{'s' * (seeds > 1)})")


HEADLINE = ("zero-shot classification", "hyperweights.zeroshot", "docs/zeroshot.md", headline)
TABLES: dict = {"zeroshot-splits": zeroshot_splits, "zeroshot-margins": zeroshot_margins}
