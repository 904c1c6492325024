"""The zero-shot rows of the generated docs tables (see :mod:`benchmarks.tables`)."""

from __future__ import annotations

from benchmarks.tables import Context, markdown_table


def zeroshot_splits(ctx: Context) -> str:
    data = ctx.load("zeroshot/zeroshot.json")
    best: dict[tuple, float] = {}          # the best harmonic mean of each split is bold
    for r in data["runs"]:
        key = tuple(r["unseen_classes"])
        best[key] = max(best.get(key, 0.0), r["harmonic"])

    def harmonic(r: dict) -> str:
        text = f"{r['harmonic']:.3f}"
        return f"**{text}**" if r["harmonic"] == best[tuple(r["unseen_classes"])] else text
    return markdown_table([{
        "unseen classes": "{" + ", ".join(map(str, r["unseen_classes"])) + "}", "method": r["method"],
        "seen": f"{r['seen']:.3f}", "unseen": f"{r['unseen']:.3f}", "H": harmonic(r),
        "ZSL (unseen only)": f"{r['zsl']:.3f}", "H uncalibrated": f"{r['harmonic_uncalibrated']:.3f}",
        "H at the best test γ (diagnostic)": f"{r['harmonic_oracle']:.3f}"}
        for r in data["runs"]])


def headline(ctx: Context) -> str:
    goal = ctx.load("zeroshot/zeroshot.json")["goal_harmonic_above_baselines"]
    return (f"Fashion-MNIST GZSL, 7 seen / 3 unseen classes, weights generated from MiniLM "
            f"descriptions: harmonic mean above DeViSE and nearest-description-embedding at "
            f"**{goal['seeds_met']} of {goal['seeds']}** splits")


HEADLINE = ("zero-shot classification", "hyperweights.zeroshot", "docs/zeroshot.md", headline)
TABLES: dict = {"zeroshot-splits": zeroshot_splits}
