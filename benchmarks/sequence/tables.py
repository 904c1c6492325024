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
    fixed = sorted(ctx.results.glob("sequence/sequence_lm_fixed_seed[0-9].json"))
    if fixed:
        lm = [ctx.load(f"sequence/{p.name}")["lm"] for p in fixed]
        met = sum(x["goal_hyperlstm_best"]["seeds_met"] for x in lm)
        bpc = {cell: sum(r["test_bpc"] for x in lm for r in x["runs"] if r["cell"] == cell) / len(lm)
               for cell in ("lstm", "layernorm_lstm", "hyperlstm")}
        text += (f"; char-LM at equal parameters (1,000 steps, mean of {len(lm)} seeds): HyperLSTM "
                 f"{bpc['hyperlstm']:.3f} BPC vs LayerNorm-LSTM {bpc['layernorm_lstm']:.3f} and LSTM "
                 f"{bpc['lstm']:.3f}, below both at {met} of {len(lm)} seeds")
    return text


def _lm_table(ctx: Context, pattern: str) -> str:
    rows = []
    for path in sorted(ctx.results.glob(f"sequence/{pattern}")):
        lm = ctx.load(f"sequence/{path.name}")["lm"]
        for r in lm["runs"]:
            rows.append({"seed": r["seed"], "model": r["cell"], "hidden": r["hidden"],
                         "params": f"{r['params']:,}", "test BPC": f"{r['test_bpc']:.3f}",
                         "ms / step": r["ms_per_step"]})
    return markdown_table(rows)


def sequence_lm(ctx: Context) -> str:
    """The first study (cells before the fidelity fixes)."""
    return _lm_table(ctx, "sequence_lm_seed[0-9].json")


def sequence_lm_fixed(ctx: Context) -> str:
    """The study after the fidelity fixes (``--tag _lm_fixed_seedS``)."""
    return _lm_table(ctx, "sequence_lm_fixed_seed[0-9].json")


def _met(flag: bool) -> str:
    return "met" if flag else "not met"


def _weights(r: dict) -> str:
    return f"per sample, W = {r['sets']}" if r["form"] == "per-sample" else f"ensemble, K = {r['sets']}"


def sequence_recurrent(ctx: Context) -> str:
    return markdown_table([{
        "target": f"`{r['target']}`", "weights": _weights(r),
        "library path": f"{r['ours_ms']:.0f} ms", "loop of fused calls": f"{r['loop_ms']:.0f} ms",
        "hand-written recurrence": f"{r['hand_written_ms']:.0f} ms",
        "× loop (goal ≥ 10×)": f"{r['speedup_vs_loop']}×: {_met(r['goal_10x_loop'])}",
        "× hand-written (goal ≤ 1.5×)": f"{r['x_hand_written']}: {_met(r['goal_within_1_5x_hand_written'])}"}
        for r in ctx.load("sequence/sequence.json")["recurrent"]])


def sequence_attention(ctx: Context) -> str:
    return markdown_table([{
        "target": f"`{r['target']}`", "weights": _weights(r),
        "library path": f"{r['ours_ms']:.1f} ms", "loop of fused calls": f"{r['loop_ms']:.0f} ms",
        "`vmap` with torch's fallback": f"{r['vmap_fallback_ms']:.1f} ms",
        "`vmap` over the composite path": (f"{r['vmap_composite_ms']:.1f} ms" if "vmap_composite_ms" in r
                                           else "–"),
        "speed-up vs loop": f"{r['speedup_vs_loop']:.2f}×",
        "time × fallback's": f"{r['x_vmap_fallback']:.2f}"}
        for r in ctx.load("sequence/sequence_attention.json")["attention"]])


HEADLINE = ("sequence models", "hyperweights.sequence", "docs/sequence.md", headline)
TABLES: dict = {"sequence-lm": sequence_lm, "sequence-lm-fixed": sequence_lm_fixed, "sequence-recurrent": sequence_recurrent,
                 "sequence-attention": sequence_attention}
