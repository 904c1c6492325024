"""``hyperweights bench sequence``: recurrent targets with generated weights, and the HyperLSTM.

Three parts, each with its goals computed here and written into ``results/sequence.json``:

- ``recurrent``: per-sample weights (``W == B``, B = 64) and ensembles (K = 32) for ``nn.GRU`` and
  ``nn.LSTM`` targets, against a Python loop over weight sets calling the fused kernel, and against a
  hand-written batched recurrence of the same math (interleaved medians, one process).
  Goals: >= 10x the loop, within 1.5x of the hand-written recurrence.
- ``attention``: per-sample and ensemble weights for an ``nn.TransformerEncoderLayer`` target
  (the composite path, no batching fallback) against a Python loop of fused calls and against
  ``vmap`` with torch's fused fast path left on (which falls back to a per-sample loop and warns),
  and for the ensemble (the explicit path) against ``vmap`` over the composite path, the path it
  replaced; outputs checked equal, times measured (no goal).
- ``step``: HyperLSTM training-step time over the LayerNorm-LSTM's at equal hidden size (goal <= 2x).
- ``compile``: the HyperLSTM training step with the cell's ``step`` under ``torch.compile``: compile
  seconds and the speed ratio over eager (measured, no goal; not in the default parts).
- ``lm``: character-level language modelling on the BBC News text (``benchmarks/sequence/data.py``),
  LSTM, LayerNorm-LSTM and HyperLSTM at equal parameter counts (within 3 %), bits per character on
  the test split. Goal: the HyperLSTM beats both baselines at every seed.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.func import functional_call

import hyperweights as hw
from hyperweights.bench import interleaved, markdown_table, write_results
from hyperweights.bench.report import result_path
from hyperweights.sequence import CharLM, SequenceConfig, evaluate, fit

__all__ = ["add_arguments", "main", "LMConfig"]

PARTS = ("recurrent", "attention", "step", "compile", "lm")


@dataclass
class LMConfig:
    """The char-LM study: sizes, budget and seeds (the same for every model)."""

    reference_hidden: int = 128      # the LSTM's width; the others are sized to its parameter count
    # the hyper cell at the paper's proportion (N_h / H = 128 / 1000 on PTB) and the paper code's
    # N_z = 4: at a 96k budget N_h = 64 would take 59 % of the parameters (main width 72, not 113)
    hyper_size: int = 16
    embedding_size: int = 4
    embedding_dim: int = 32
    steps: int = 1000
    seq_len: int = 100
    batch_size: int = 32
    lr: float = 2e-3
    seeds: tuple[int, ...] = (0, 1, 2)
    eval_chars: int | None = 100_000   # test characters scored (None: the whole split)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (< 60 s), for CI")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=[p for p in PARTS if p != "compile"],
                        help="default: all but compile (minutes of compilation)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="char-LM seeds (default 0 1 2)")
    parser.add_argument("--steps", type=int, default=None, help="char-LM optimizer steps per model")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...)")
    parser.add_argument("--tag", default="", help="suffix of the result file name (e.g. _lm_seed1)")


# ---------------------------------------------------------------------------------- recurrent
def _hand_written(mode: str, w: dict, x: torch.Tensor) -> torch.Tensor:
    """The reference: the same recurrence written directly for this one layout (batch-first,
    one layer, biases), ``x: (S, N, T, D)``."""
    s, (_, n, steps, _) = w["weight_ih_l0"].shape[0], x.shape
    hidden = w["weight_hh_l0"].shape[-1]
    xp = torch.matmul(x, w["weight_ih_l0"].transpose(1, 2).unsqueeze(1)) + w["bias_ih_l0"][:, None, None]
    h = x.new_zeros(s, n, hidden)
    c = x.new_zeros(s, n, hidden)
    w_hh = w["weight_hh_l0"].transpose(1, 2)
    outs = []
    for t in range(steps):
        gh = torch.baddbmm(w["bias_hh_l0"][:, None], h, w_hh)
        if mode == "lstm":
            i, f, g, o = (xp[:, :, t] + gh).chunk(4, -1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        else:
            xr, xz, xn = xp[:, :, t].chunk(3, -1)
            hr, hz, hn = gh.chunk(3, -1)
            r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
            h = (1 - z) * torch.tanh(xn + r * hn) + z * h
        outs.append(h)
    return torch.stack(outs, 2)


def _recurrent(smoke: bool, device: torch.device) -> list[dict]:
    batch, members, steps, d, hidden = (8, 4, 5, 8, 16) if smoke else (64, 32, 50, 32, 64)
    rows = []
    for mode, build in (("gru", nn.GRU), ("lstm", nn.LSTM)):
        module = build(d, hidden, batch_first=True).to(device)
        for form, sets in (("per-sample", batch), ("ensemble", members)):
            w = {n: p.detach() + 0.1 * torch.randn(sets, *p.shape, device=device)
                 for n, p in module.named_parameters()}
            x = torch.randn(batch, steps, d, device=device)
            if form == "per-sample":
                ours = lambda: hw.functional_forward(module, w, x)[0]                 # noqa: E731
                loop = lambda: torch.cat([functional_call(module, {n: t[i] for n, t in w.items()},  # noqa: E731
                                                          (x[i:i + 1],))[0] for i in range(batch)])
                manual = lambda: _hand_written(mode, w, x[:, None])[:, 0]           # noqa: E731
            else:
                ours = lambda: hw.ensemble_forward(module, w, x)[0]                   # noqa: E731
                loop = lambda: torch.stack([functional_call(module, {n: t[k] for n, t in w.items()},  # noqa: E731
                                                            (x,))[0] for k in range(members)])
                manual = lambda: _hand_written(mode, w, x[None])                     # noqa: E731
            torch.testing.assert_close(ours(), loop(), atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(ours(), manual(), atol=1e-5, rtol=1e-5)
            times = interleaved({"ours": ours, "loop": loop, "manual": manual},
                                rounds=3 if smoke else 15, warmup=1 if smoke else 3)
            row = {"target": f"nn.{build.__name__}({d}, {hidden})", "form": form, "sets": sets,
                   "batch": batch, "steps": steps, "ours_ms": round(times["ours"], 3),
                   "loop_ms": round(times["loop"], 3), "hand_written_ms": round(times["manual"], 3),
                   "speedup_vs_loop": round(times["loop"] / times["ours"], 2),
                   "x_hand_written": round(times["ours"] / times["manual"], 3)}
            row["goal_10x_loop"] = row["speedup_vs_loop"] >= 10
            row["goal_within_1_5x_hand_written"] = row["x_hand_written"] <= 1.5
            rows.append(row)
            print(f"  {row['target']} {form}: {row['speedup_vs_loop']}x the loop, "
                  f"{row['x_hand_written']}x the hand-written recurrence", flush=True)
    return rows


# ---------------------------------------------------------------------------------- attention
def _attention(smoke: bool, device: torch.device) -> list[dict]:
    import warnings

    from torch.func import vmap

    from hyperweights.targets.attention import vmappable_attention
    batch, members, steps, width = (4, 3, 5, 16) if smoke else (64, 32, 20, 64)
    layer = nn.TransformerEncoderLayer(width, 4, 2 * width, dropout=0.0, batch_first=True).to(device).eval()
    x = torch.randn(batch, steps, width, device=device)
    rows = []
    for form, sets in (("per-sample", batch), ("ensemble", members)):
        w = {n: p.detach() + 0.02 * torch.randn(sets, *p.shape, device=device)
             for n, p in layer.named_parameters()}
        if form == "per-sample":
            ours = lambda: hw.functional_forward(layer, w, x)                          # noqa: E731
            loop = lambda: torch.cat([functional_call(layer, {n: t[i] for n, t in w.items()},  # noqa: E731
                                                      (x[i:i + 1],)) for i in range(batch)])
            fallback_call = lambda: vmap(lambda p, xi: functional_call(layer, p, (xi,)))(w, x[:, None])[:, 0]  # noqa: E731
        else:
            ours = lambda: hw.ensemble_forward(layer, w, x)                            # noqa: E731
            loop = lambda: torch.stack([functional_call(layer, {n: t[k] for n, t in w.items()},  # noqa: E731
                                                        (x,)) for k in range(members)])
            fallback_call = lambda: vmap(lambda p: functional_call(layer, p, (x,)))(w)  # noqa: E731

            def composite():                  # the path the explicit ensemble path replaced
                with vmappable_attention(layer):
                    return fallback_call()

        def fallback(call=fallback_call):
            with warnings.catch_warnings():   # torch's "performance drop ... batching rule" warning:
                warnings.simplefilter("ignore")   # this reference is the fallback it announces
                return call()

        calls = {"ours": ours, "loop": loop, "fallback": fallback}
        if form == "ensemble":
            calls["composite"] = composite
        with torch.no_grad():
            for name, call in calls.items():
                if name != "ours":
                    torch.testing.assert_close(ours(), call(), atol=1e-4, rtol=1e-4)
            times = interleaved(calls, rounds=3 if smoke else 15, warmup=1 if smoke else 3)
        row = {"target": f"nn.TransformerEncoderLayer({width}, 4, {2 * width})", "form": form,
               "sets": sets, "batch": batch, "steps": steps, "ours_ms": round(times["ours"], 3),
               "loop_ms": round(times["loop"], 3), "vmap_fallback_ms": round(times["fallback"], 3),
               "speedup_vs_loop": round(times["loop"] / times["ours"], 2),
               "x_vmap_fallback": round(times["ours"] / times["fallback"], 3)}
        if "composite" in times:              # vmap over the composite path: the earlier library path
            row["vmap_composite_ms"] = round(times["composite"], 3)
            row["x_vmap_composite"] = round(times["ours"] / times["composite"], 3)
        rows.append(row)
        print(f"  {row['target']} {form}: {row['speedup_vs_loop']}x the loop, "
              f"{row['x_vmap_fallback']}x torch's vmap fallback", flush=True)
    return rows


# ---------------------------------------------------------------------------------- step time
def _step_time(smoke: bool, device: torch.device) -> dict:
    hidden, steps, batch = (16, 10, 4) if smoke else (256, 100, 32)
    vocab = 84
    tokens = torch.randint(0, vocab, (batch, steps + 1), device=device)
    models = {cell: CharLM(vocab, cell=cell, hidden_size=hidden, hyper_size=64, embedding_size=8).to(device)
              for cell in ("layernorm_lstm", "hyperlstm", "lstm")}
    opts = {c: hw.make_optimizer(m.parameters(), 1e-3) for c, m in models.items()}

    def train_step(cell):
        def run():
            logits, _ = models[cell](tokens[:, :-1])
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten())
            opts[cell].zero_grad()
            loss.backward()
            opts[cell].step()
        return run

    times = interleaved({c: train_step(c) for c in models}, rounds=3 if smoke else 10, warmup=1)
    ratio = times["hyperlstm"] / times["layernorm_lstm"]
    return {"hidden": hidden, "seq_len": steps, "batch": batch,
            "ms": {c: round(t, 2) for c, t in times.items()},
            "hyperlstm_over_layernorm_lstm": round(ratio, 3), "goal_at_most_2x": ratio <= 2.0}


# ---------------------------------------------------------------------------------- compile
def _compile(smoke: bool, device: torch.device) -> dict:
    """Eager vs ``torch.compile`` of every HyperLSTM cell's ``step`` (the time loop stays Python;
    the compiled step fuses the gate, scaling and layer-norm math), forward and backward."""
    hidden, steps, batch = (16, 5, 4) if smoke else (256, 100, 32)
    vocab = 84
    tokens = torch.randint(0, vocab, (batch, steps + 1), device=device)
    torch.manual_seed(0)
    eager = CharLM(vocab, cell="hyperlstm", hidden_size=hidden, hyper_size=64, embedding_size=8).to(device)
    compiled = CharLM(vocab, cell="hyperlstm", hidden_size=hidden, hyper_size=64, embedding_size=8).to(device)
    compiled.load_state_dict(eager.state_dict())
    for cell in compiled.rnn.cells:
        cell.step = torch.compile(cell.step, dynamic=False)

    def train_step(model):
        def run():
            logits, _ = model(tokens[:, :-1])
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten())
            model.zero_grad()
            loss.backward()
            return loss
        return run

    tic = time.perf_counter()
    loss_compiled = train_step(compiled)()
    compile_s = time.perf_counter() - tic
    loss_eager = train_step(eager)()
    torch.testing.assert_close(loss_compiled, loss_eager, atol=1e-4, rtol=1e-4)
    times = interleaved({"eager": train_step(eager), "compiled": train_step(compiled)},
                        rounds=3 if smoke else 7, warmup=1)
    return {"hidden": hidden, "seq_len": steps, "batch": batch, "compile_s": round(compile_s, 1),
            "ms": {k: round(v, 2) for k, v in times.items()},
            "compiled_speedup": round(times["eager"] / times["compiled"], 3),
            "torch_jit_script": _jit_status()}


def _jit_status() -> str:
    """Whether ``torch.jit.script`` takes the HyperLSTM cell (measured, not assumed)."""
    from hyperweights.sequence import HyperLSTMCell
    try:
        torch.jit.script(HyperLSTMCell(4, 8, hyper_size=4, embedding_size=2))
    except Exception as error:           # noqa: BLE001 - any failure is the finding we report
        return f"fails: {type(error).__name__}: {str(error).strip().splitlines()[0][:120]}"
    return "scripts"


# ---------------------------------------------------------------------------------- char LM
def _matched_hidden(cell: str, vocab: int, cfg: LMConfig, budget: int) -> int:
    """The width whose parameter count is closest to ``budget`` (the reference LSTM's); the count
    grows with the width, so a bisection finds it."""
    def count(h):
        return hw.param_count(CharLM(vocab, cell=cell, hidden_size=h, hyper_size=cfg.hyper_size,
                                     embedding_size=cfg.embedding_size, embedding_dim=cfg.embedding_dim))
    lo, hi = 1, 2 * cfg.reference_hidden
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if count(mid) <= budget else (lo, mid)
    return min((lo, hi), key=lambda h: abs(count(h) - budget))


def _lm(cfg: LMConfig, smoke: bool, device: torch.device) -> dict:
    from benchmarks.sequence.data import load_bbc_news
    corpus = load_bbc_news(limit_chars=20_000 if smoke else None)
    test = corpus.test if cfg.eval_chars is None else corpus.test[: cfg.eval_chars]
    vocab = corpus.vocab_size
    reference = CharLM(vocab, cell="lstm", hidden_size=cfg.reference_hidden,
                       embedding_dim=cfg.embedding_dim)
    budget = hw.param_count(reference)
    widths = {cell: _matched_hidden(cell, vocab, cfg, budget) if cell != "lstm" else cfg.reference_hidden
              for cell in ("lstm", "layernorm_lstm", "hyperlstm")}
    runs = []
    for seed in cfg.seeds:
        for cell, width in widths.items():
            torch.manual_seed(seed)
            model = CharLM(vocab, cell=cell, hidden_size=width, hyper_size=cfg.hyper_size,
                           embedding_size=cfg.embedding_size, embedding_dim=cfg.embedding_dim)
            train_cfg = SequenceConfig(steps=cfg.steps, seq_len=cfg.seq_len, batch_size=cfg.batch_size,
                                       lr=cfg.lr, seed=seed, device=str(device))
            result = fit(model, corpus.train, train_cfg)
            scores = evaluate(model, test, seq_len=cfg.seq_len)
            runs.append({"seed": seed, "cell": cell, "hidden": width, "params": hw.param_count(model),
                         "test_bpc": round(scores["bpc"], 4), "train_s": round(result.seconds, 1),
                         "ms_per_step": round(1000 * result.seconds / max(cfg.steps, 1), 1),
                         "tokens_per_s": round(cfg.steps * cfg.batch_size * cfg.seq_len / result.seconds),
                         "final_train_loss": round(sum(result.losses[-50:]) / len(result.losses[-50:]), 4)})
            print(f"  seed {seed} {cell} (H={width}, {runs[-1]['params']:,} params): test "
                  f"{runs[-1]['test_bpc']} BPC, {runs[-1]['ms_per_step']} ms/step", flush=True)
    wins = 0
    for seed in cfg.seeds:
        bpc = {r["cell"]: r["test_bpc"] for r in runs if r["seed"] == seed}
        wins += bpc["hyperlstm"] < min(bpc["lstm"], bpc["layernorm_lstm"])
    return {"config": asdict(cfg), "vocab": vocab, "budget_params": budget, "widths": widths,
            "runs": runs, "goal_hyperlstm_best": {"seeds_met": wins, "seeds": len(cfg.seeds),
                                                  "met": wins == len(cfg.seeds)}}


def _plot(lm: dict, path) -> None:
    from hyperweights.bench.plotting import pyplot
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    cells = list(lm["widths"])
    for i, cell in enumerate(cells):
        values = [r["test_bpc"] for r in lm["runs"] if r["cell"] == cell]
        ax.scatter([i] * len(values), values, label=cell)
    ax.set_xticks(range(len(cells)), cells)
    ax.set_ylabel("test bits per character")
    ax.set_title(f"char-LM, BBC News, {lm['budget_params']:,} params each")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(args) -> int:
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = ("sequence_smoke" if args.smoke else "sequence") + args.tag
    payload: dict = {"threads": args.threads, "device": str(device)}
    tic = time.perf_counter()
    if "recurrent" in args.parts:
        print("[sequence] recurrent targets: per-sample and ensemble weights", flush=True)
        payload["recurrent"] = _recurrent(args.smoke, device)
    if "attention" in args.parts:
        print("[sequence] attention targets: per-sample and ensemble weights", flush=True)
        payload["attention"] = _attention(args.smoke, device)
    if "step" in args.parts:
        print("[sequence] HyperLSTM vs LayerNorm-LSTM training step", flush=True)
        payload["step"] = _step_time(args.smoke, device)
    if "compile" in args.parts:
        print("[sequence] HyperLSTM step: torch.compile vs eager", flush=True)
        payload["compile"] = _compile(args.smoke, device)
    if "lm" in args.parts:
        cfg = LMConfig(reference_hidden=16, hyper_size=8, embedding_size=4, embedding_dim=8, steps=20,
                       seq_len=20, batch_size=4, seeds=(0,), eval_chars=2000) if args.smoke else LMConfig()
        if args.seeds:
            cfg.seeds = tuple(args.seeds)
        if args.steps:
            cfg.steps = args.steps
        print(f"[sequence] char-LM: {len(cfg.seeds)} seeds x 3 models x {cfg.steps} steps", flush=True)
        payload["lm"] = _lm(cfg, args.smoke, device)
        _plot(payload["lm"], result_path(f"{name}_lm.png"))
    payload["seconds"] = round(time.perf_counter() - tic, 1)
    path = write_results(name, payload)
    if "recurrent" in payload:
        print(markdown_table(payload["recurrent"], ["target", "form", "sets", "ours_ms", "loop_ms",
                                                    "hand_written_ms", "speedup_vs_loop", "x_hand_written"]))
    if "attention" in payload:
        print(markdown_table(payload["attention"], ["target", "form", "sets", "ours_ms", "loop_ms",
                                                    "vmap_fallback_ms", "speedup_vs_loop", "x_vmap_fallback"]))
    if "lm" in payload:
        print(markdown_table(payload["lm"]["runs"], ["seed", "cell", "hidden", "params", "test_bpc",
                                                     "ms_per_step", "tokens_per_s"]))
    print(f"wrote {path}")
    return 0
