"""The graph-hypernetwork rows of the generated docs tables (see :mod:`benchmarks.tables`), from
``results/graph/*.json``."""

from __future__ import annotations

from hyperweights.bench.goals import goal_status
from hyperweights.bench.report import markdown_table

SPLITS = ("in_distribution", "wider", "deeper", "unseen_ops")


def _pct(v) -> str:
    return "" if v is None else f"{100 * v:.1f}"


def graph_predict(ctx) -> str:
    data = ctx.load("graph/graph_predict.json")
    steps = data["config"]["finetune_steps"]
    rows = []
    for row in data["predict"]["table"]:
        for method in ("predicted", "predicted+noise", "default"):
            entry = {"split": row["split"].replace("_", " "), "init": method}
            entry.update({f"{s} steps": _pct(row[f"{method}@{s}"]) for s in steps})
            if method == "predicted":
                epochs = row["epochs_equivalent_median"]
                entry["zero-shot ≈ epochs from scratch"] = (
                    "" if epochs is None else f"{epochs:.2f}") + (
                    f" ({row['epochs_equivalent_unreached']} not reached)" if row["epochs_equivalent_unreached"] else "")
            else:
                entry["zero-shot ≈ epochs from scratch"] = ""
            rows.append(entry)
            if method == "predicted" and row.get("untiled@0") is not None:
                rows.append({"split": entry["split"], "init": "predicted, untiled (LoGAH's slicing)",
                             **{f"{s} steps": _pct(row["untiled@0"]) if s == 0 else "" for s in steps},
                             "zero-shot ≈ epochs from scratch": ""})
    return markdown_table(rows)


def graph_predict_archs(ctx) -> str:
    """Per held-out architecture: zero-shot with and without tiling, and after the longest fine-tuning."""
    data = ctx.load("graph/graph_predict.json")
    last = max(data["config"]["finetune_steps"])
    rows = []
    for run in data["predict"]["runs"]:
        for r in run["rows"]:
            a = r["arch"]
            ops = ", ".join(o for o, on in (("residual", a["residual"]), ("dense", a["dense"]),
                                            ("LayerNorm", a["layer_norm"])) if on)
            rows.append({"seed": r["seed"], "split": r["split"].replace("_", " "),
                         "architecture": f"{a['kind']} {a['depth']}×{a['width']}" + (f" ({ops})" if ops else ""),
                         "predicted": _pct(r["predicted@0"]), "untiled": _pct(r.get("untiled@0")),
                         "default": _pct(r["default@0"]), f"predicted @{last}": _pct(r[f"predicted@{last}"]),
                         f"default @{last}": _pct(r[f"default@{last}"])})
    return markdown_table(rows)


def graph_decoders(ctx) -> str:
    data = ctx.load("graph/graph_decoders.json")
    rows = []
    for r in data["decoders"]["rows"]:
        name = f"low-rank r={r['rank']}" if r["decoder"] == "lowrank" else f"tiled {r['block'][0]}×{r['block'][1]}"
        rows.append({"decoder": name, "decoder params": f"{r['decoder_params']:,}",
                     **{s.replace("_", " "): _pct(r[f"zero_shot_{s}"]) for s in SPLITS},
                     "GHN train s": r["train_s"]})
    return markdown_table(rows)


def graph_scale(ctx) -> str:
    data = ctx.load("graph/graph_scale.json")["scale"]
    rows = []
    for allocation, s in data.items():
        rows.append({"target allocation": "uninitialised (to_empty)" if allocation == "empty" else "transformers' init",
                     "target params": f"{s['target_params']:,}", "fp32 MB": s["target_fp32_mb"],
                     "GHN params": f"{s['ghn_params']:,}", "graph s": s["graph_s"], "predict s": s["predict_s"],
                     "RSS after imports MB": s["rss_after_imports_mb"], "peak RSS MB": s["peak_rss_mb"],
                     "(peak − imports) / fp32": f"{s['peak_over_imports_x_target']:.2f}×",
                     "peak / fp32": f"{s['peak_x_target']:.2f}×"})
    return markdown_table(rows)


def graph_goals(ctx) -> str:
    rows = []
    for name in ("graph_predict", "graph_decoders", "graph_scale"):
        try:
            data = ctx.load(f"graph/{name}.json")
        except FileNotFoundError:
            continue
        for g in data["goals"]:
            measured = g["measured"]
            rows.append({"goal": g["goal"], "measured": "" if measured is None else
                         (f"{measured:,}" if isinstance(measured, int) else f"{measured:.3f}{g['unit']}"),
                         "status": goal_status(g)})
    return markdown_table(rows)


def headline(ctx) -> str:
    table = {r["split"]: r for r in ctx.load("graph/graph_predict.json")["predict"]["table"]}
    scale = ctx.load("graph/graph_scale.json")["scale"]["empty"]
    return (f"zero-shot Fashion-MNIST accuracy of predicted parameters on unseen architectures "
            f"**{100 * table['in_distribution']['predicted@0']:.1f} %** (in distribution) / "
            f"{100 * table['wider']['predicted@0']:.1f} % (wider) vs "
            f"{100 * table['in_distribution']['default@0']:.1f} % for default init; every parameter of "
            f"GPT-2 small ({scale['target_params'] / 1e6:.0f}M) predicted by a "
            f"{scale['ghn_params'] / 1e6:.1f}M GHN in {scale['predict_s']:.1f} s, peak RSS "
            f"{scale['peak_over_imports_x_target']:.2f}× its fp32 size over the imports; "
            + _lm_headline(ctx.load("graph/graph_lm.json")))


def _lm_headline(data: dict) -> str:
    """One clause on the tiny-GPT-2 study: held-out models' zero-shot loss, predicted vs default."""
    rows = data["table"]
    zero = next(g for g in data["goals"] if "after 0 steps" in g["goal"])
    return (f"unseen tiny GPT-2s on BBC text predicted at {min(r['predicted@0'] for r in rows):.2f}–"
            f"{max(r['predicted@0'] for r in rows):.2f} nats/char zero-shot vs "
            f"{min(r['default@0'] for r in rows):.2f} for default init (below it at "
            f"{zero['seeds_met']} of {zero['seeds']} seeds)")


HEADLINE = ("graph hypernetworks (unseen architectures)", "hyperweights.graph", "docs/graph.md", headline)
TABLES: dict = {"graph-predict": graph_predict, "graph-decoders": graph_decoders,
                "graph-predict-archs": graph_predict_archs,
                "graph-scale": graph_scale, "graph-goals": graph_goals}


def graph_lm(ctx, path: str = "graph/graph_lm.json") -> str:
    """Tiny GPT-2s on BBC text: test loss of predicted vs default init per held-out model and k,
    then the goals (with the count of held-out models, over seeds, where the goal holds)."""
    data = ctx.load(path)
    steps = data["config"]["finetune_steps"]
    methods = [m for m in ("predicted", "predicted+noise", "default") if f"{m}@0" in data["table"][0]]
    rows = []
    for row in data["table"]:
        arch = row["arch"]
        for method in methods:
            entry = {"held out": row["split"], "GPT-2": f"{arch['n_layer']}×{arch['n_embd']}, {arch['n_head']} heads",
                     "init": method}
            entry.update({f"{k} steps": f"{row[f'{method}@{k}']:.3f}" for k in steps})
            reached, unreached = row["steps_equivalent_median"], row["steps_equivalent_unreached"]
            worse = " (worse than default init)" if row["predicted@0"] > row["default@0"] else ""
            entry["zero-shot ≈ steps from scratch"] = "" if method != "predicted" else (
                ("" if reached is None else str(reached)) + worse
                + (f" ({unreached} not reached)" if unreached else ""))
            rows.append(entry)
    goals = [{"goal": g["goal"], "measured": f"{g['measured']:.3f}{g['unit']}", "status": goal_status(g),
              "held-out models where predicted < default": f"{g['models_met']} of {g['models']}"}
             for g in data["goals"]]
    return markdown_table(rows) + "\n\n" + markdown_table(goals)


def graph_lm_untiled(ctx) -> str:
    """The same study with LoGAH's plain slicing (``--no-tile``)."""
    return graph_lm(ctx, "graph/graph_lm_untiled.json")


TABLES["graph-lm"] = graph_lm
TABLES["graph-lm-untiled"] = graph_lm_untiled
