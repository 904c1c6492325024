"""The sequence rows of the generated docs tables (see :mod:`benchmarks.tables`)."""

from __future__ import annotations

from benchmarks.tables import Context, markdown_table


def headline(ctx: Context) -> str:
    data = ctx.load("sequence/sequence.json")
    per_sample = {r["target"].split("(")[0]: r["speedup_vs_loop"] for r in data["recurrent"]
                  if r["form"] == "per-sample"}
    text = (f"per-sample weights for `nn.GRU` / `nn.LSTM` targets {per_sample['nn.GRU']:.1f}× / "
            f"{per_sample['nn.LSTM']:.1f}× a loop of fused calls; HyperLSTM training step "
            f"**{data['step']['hyperlstm_over_layernorm_lstm']:.2f}×** the LayerNorm-LSTM's")
    runs = sorted(ctx.results.glob("sequence/sequence_lm_seed[0-9].json"))
    if runs:
        lm = [ctx.load(f"sequence/{p.name}")["lm"] for p in runs]
        met = sum(x["goal_hyperlstm_best"]["seeds_met"] for x in lm)
        text += (f"; char-LM, HyperLSTM below both baselines' test BPC at {met} of {len(lm)} seeds "
                 "(1,000 steps each)")
    return text


def sequence_lm(ctx: Context) -> str:
    rows = []
    for path in sorted(ctx.results.glob("sequence/sequence_lm_seed[0-9].json")):
        lm = ctx.load(f"sequence/{path.name}")["lm"]
        for r in lm["runs"]:
            rows.append({"seed": r["seed"], "model": r["cell"], "hidden": r["hidden"],
                         "params": f"{r['params']:,}", "test BPC": f"{r['test_bpc']:.3f}",
                         "ms / step": r["ms_per_step"]})
    return markdown_table(rows)


HEADLINE = ("sequence models", "hyperweights.sequence", "docs/sequence.md", headline)
TABLES: dict = {"sequence-lm": sequence_lm}
