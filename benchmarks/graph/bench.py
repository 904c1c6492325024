"""``hyperweights bench graph``: graph hypernetworks predicting parameters of unseen architectures.

Parts (each writes into ``results/graph/graph[_smoke].json``; goals computed here):

- ``predict``: a GHN-3-style graph hypernetwork (Graphormer + LoGAH's low-rank decoder) trained
  on the family's training architectures (MLPs, CNNs with BatchNorm and residuals, tiny ViTs),
  then, per held-out split (in distribution, wider, deeper, unseen op mix) and per architecture:
  test accuracy of the predicted parameters after 0, 10, 50 and 100 fine-tuning steps, with and
  without the diversity post-processing (arXiv 2207.10049), against PyTorch's default
  initialisation trained the same way; the zero-shot accuracy also read as "about k epochs of
  training from scratch" (GHN-2's reading) from the default initialisation's curve, and the
  same GHN's zero-shot accuracy without tiling beyond the trained sizes (``untiled@0``).
- ``decoders``: the low-rank decoder at several ranks against the tiled decoder at the same
  decoder parameter count (LoGAH's claim in miniature), zero-shot accuracy per split.
- ``scale``: every parameter of ``GPT2Config()`` (124M, random) predicted by a GHN of <= 2M
  parameters, streaming; time and peak RSS in a fresh subprocess (``benchmarks/graph/scale.py``).
- ``lm``: a GHN trained on tiny GPT-2s on BBC News text, predicted vs default init of unseen
  larger GPT-2s after k steps (``benchmarks/graph/lm.py``; ``results/graph/graph_lm.json``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field

import torch

import hyperweights as hw
from hyperweights.bench import markdown_table, write_results
from hyperweights.bench.goals import goal
from hyperweights.bench.progress import progress
from hyperweights.bench.report import result_path
from hyperweights.graph import GraphConfig, GraphHyperNetwork, family, finetune, fit, predict_parameters

__all__ = ["add_arguments", "main", "StudyConfig"]

PARTS = ("predict", "decoders", "scale", "lm")
HELD_OUT = ("in_distribution", "wider", "deeper", "unseen_ops")


@dataclass
class StudyConfig:
    """Sizes and budgets of the study (smoke: :meth:`smoke`)."""

    dataset: str = "fashion_mnist"
    hidden: int = 64
    layers: int = 3
    heads: int = 4
    rank: int = 16
    max_ck: int = 1024
    steps: int = 2500
    test_images: int | None = 2000
    meta_batch: int = 8
    batch_size: int = 64
    lr: float = 2e-3
    finetune_lr: float = 1e-3
    per_split: int = 3
    finetune_steps: tuple[int, ...] = (0, 10, 50, 100)
    scratch_steps: tuple[int, ...] = (0, 10, 50, 100, 200, 300)
    noise: float = 0.1
    decoder_ranks: tuple[int, ...] = (4, 16)
    decoder_steps: int = 400
    decoder_meta_batch: int = 4
    seeds: tuple[int, ...] = (0,)
    tiny_gpt2: bool = field(default=False)

    @classmethod
    def smoke(cls) -> StudyConfig:
        return cls(dataset="digits", hidden=16, layers=1, heads=2, rank=4, max_ck=128, steps=6, meta_batch=2,
                   batch_size=32, per_split=1, test_images=None, finetune_steps=(0, 10), scratch_steps=(0, 10, 20),
                   decoder_ranks=(2,), decoder_steps=3, decoder_meta_batch=2)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on digits (< 20 s), for CI")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=None,
                        help="parts to run (default: all; smoke: predict and decoders)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds (default 0)")
    parser.add_argument("--steps", type=int, default=None, help="GHN training steps of the predict part")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...)")
    parser.add_argument("--tag", default="", help="suffix of the result file name")


def _data(cfg: StudyConfig, seed: int):
    """The dataset; test accuracies read ``test_images`` of the (shuffled) test split."""
    data = hw.data.load_digits(seed=seed) if cfg.dataset == "digits" else hw.data.load_fashion_mnist(seed=seed)
    return data.subset(None, cfg.test_images)


def _ghn(cfg: StudyConfig, **kw) -> GraphHyperNetwork:
    return GraphHyperNetwork(**{"hidden": cfg.hidden, "layers": cfg.layers, "heads": cfg.heads,
                                "rank": cfg.rank, "max_ck": cfg.max_ck, **kw})


def _train(ghn, data, cfg: StudyConfig, seed: int, steps: int, meta_batch: int, device) -> dict:
    archs = [family.build(s, data.num_features, data.num_classes) for s in family.sample_family("train", seed=seed)]
    result = fit(ghn, data, GraphConfig(steps=steps, meta_batch=meta_batch, batch_size=cfg.batch_size,
                                        lr=cfg.lr, seed=seed, device=str(device)), archs)
    tail = result.losses[-20:] or [float("nan")]
    return {"train_s": round(result.seconds, 1), "final_loss": round(sum(tail) / len(tail), 4),
            "ghn_params": hw.param_count(ghn), "train_architectures": len(archs)}


def _epochs_equivalent(zero_shot: float, scratch: dict[int, float], batch: int, n_train: int):
    """The fewest scratch-training steps whose accuracy reaches ``zero_shot``, in epochs (None if
    the longest scratch run stays below)."""
    for step in sorted(scratch):
        if scratch[step] >= zero_shot:
            return round(step * batch / n_train, 3)
    return None


def _predict(cfg: StudyConfig, seed: int, device) -> dict:
    data = _data(cfg, seed)
    torch.manual_seed(seed)
    ghn = _ghn(cfg)
    summary = _train(ghn, data, cfg, seed, cfg.steps, cfg.meta_batch, device)
    rows = []
    specs = [(split, spec) for split in HELD_OUT for spec in family.sample_family(split, cfg.per_split, seed=seed)]
    for split, spec in progress(specs, desc="held-out architectures"):
        curves = {}
        for method in ("predicted", "predicted+noise", "default"):
            torch.manual_seed(seed)
            model = family.build(spec, data.num_features, data.num_classes).to(device)
            steps = cfg.finetune_steps
            if method != "default":
                predict_parameters(ghn, model, noise=cfg.noise if method == "predicted+noise" else 0.0, seed=seed)
            else:
                steps = tuple(sorted(set(cfg.finetune_steps) | set(cfg.scratch_steps)))
            curves[method] = finetune(model, data, steps, lr=cfg.finetune_lr, batch_size=cfg.batch_size, seed=seed,
                                      device=str(device))
        # the same GHN without tiling beyond the trained sizes (LoGAH's plain slicing), zero-shot
        ghn.tile_untrained = False
        untiled = finetune(predict_parameters(ghn, family.build(spec, data.num_features, data.num_classes).to(device)),
                           data, [0], device=str(device))[0]
        ghn.tile_untrained = True
        row = {"seed": seed, "split": split, "arch": spec.to_dict(), "params": hw.param_count(model),
               **{f"{m}@{s}": round(c[s], 4) for m, c in curves.items() for s in cfg.finetune_steps},
               "untiled@0": round(untiled, 4),
               "scratch_curve": {str(k): round(v, 4) for k, v in curves["default"].items()}}
        row["zero_shot_epochs_equivalent"] = _epochs_equivalent(
            curves["predicted"][0], curves["default"], cfg.batch_size, len(data.y_train))
        rows.append(row)
    return {"seed": seed, **summary, "rows": rows}


def _decoder_size(ghn: GraphHyperNetwork) -> int:
    return hw.param_count(ghn.decoder)


def _matched_block(cfg: StudyConfig, budget: int) -> tuple[int, int]:
    """The square tiled block whose decoder has the parameter count closest to ``budget``: the
    count is ``base + (8 hidden + 1) * P * Q`` (the MLP's last layer grows with the block)."""
    h = cfg.hidden
    base = h * 4 * h + 4 * h + 4 * h * 8 * h + 8 * h + 1          # two hidden layers and the gain
    side = max(2, round(math.sqrt(max(budget - base, 4) / (8 * h + 1))))
    return side, side


def _decoders(cfg: StudyConfig, seed: int, device) -> dict:
    data = _data(cfg, seed)
    variants = []
    for rank in cfg.decoder_ranks:
        low = {"decoder": "lowrank", "rank": rank}
        size = _decoder_size(_ghn(cfg, **low))
        variants.append(low)
        variants.append({"decoder": "tiled", "block": _matched_block(cfg, size), "matched_rank": rank})
    rows = []
    specs = {split: family.sample_family(split, cfg.per_split, seed=seed) for split in HELD_OUT}
    for variant in variants:
        torch.manual_seed(seed)
        kwargs = {k: v for k, v in variant.items() if k != "matched_rank"}
        ghn = _ghn(cfg, **kwargs)
        summary = _train(ghn, data, cfg, seed, cfg.decoder_steps, cfg.decoder_meta_batch, device)
        row = {"seed": seed, **{k: (list(v) if isinstance(v, tuple) else v) for k, v in variant.items()},
               "decoder_params": _decoder_size(ghn), **summary}
        for split, split_specs in specs.items():
            accs = []
            for spec in split_specs:
                model = family.build(spec, data.num_features, data.num_classes).to(device)
                predict_parameters(ghn, model)
                accs.append(finetune(model, data, [0], device=str(device))[0])
            row[f"zero_shot_{split}"] = round(sum(accs) / len(accs), 4)
        rows.append(row)
        print(f"  {variant}: decoder {row['decoder_params']:,} params, zero-shot "
              + ", ".join(f"{s} {row[f'zero_shot_{s}']:.3f}" for s in HELD_OUT), flush=True)
    return {"rows": rows}


def _scale(smoke: bool) -> dict:
    """Both allocations, each in a fresh process (peak RSS is per process)."""
    results = {}
    for allocation in ("empty", "hf_init"):
        out = tempfile.NamedTemporaryFile(suffix=".json", delete=False).name
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        cmd = ([sys.executable, "-m", "benchmarks.graph.scale", out] + (["--smoke"] if smoke else [])
               + (["--hf-init"] if allocation == "hf_init" else []))
        subprocess.run(cmd, check=True, env=env)
        with open(out) as f:
            results[allocation] = json.load(f)
        os.unlink(out)
    return results


def _mean(values):
    values = [v for v in values if v is not None]
    return round(sum(values) / len(values), 4) if values else None


def _summarise(cfg: StudyConfig, runs: list[dict]) -> list[dict]:
    table = []
    rows = [r for run in runs for r in run["rows"]]
    for split in HELD_OUT:
        mine = [r for r in rows if r["split"] == split]
        entry = {"split": split, "architectures": len(mine)}
        for method in ("predicted", "predicted+noise", "default"):
            for s in cfg.finetune_steps:
                entry[f"{method}@{s}"] = _mean([r[f"{method}@{s}"] for r in mine])
        entry["untiled@0"] = _mean([r.get("untiled@0") for r in mine])
        epochs = [r["zero_shot_epochs_equivalent"] for r in mine]
        entry["epochs_equivalent_median"] = (sorted(e for e in epochs if e is not None)[len([e for e in epochs if e is not None]) // 2]
                                             if any(e is not None for e in epochs) else None)
        entry["epochs_equivalent_unreached"] = sum(e is None for e in epochs)
        table.append(entry)
    return table


def _goals(cfg: StudyConfig, payload: dict) -> list[dict]:
    goals = []
    if "predict" in payload:
        table = {row["split"]: row for row in payload["predict"]["table"]}
        runs = payload["predict"]["runs"]
        last = max(cfg.finetune_steps)

        def per_seed(split, key):
            return [_mean([r[key] for r in run["rows"] if r["split"] == split]) for run in runs]
        goals.append(goal("zero-shot accuracy, in-distribution architectures >= 0.75",
                          table["in_distribution"]["predicted@0"], 0.75, at_most=False,
                          per_seed=per_seed("in_distribution", "predicted@0")))
        for split in HELD_OUT:
            gap = [a - b for a, b in zip(per_seed(split, "predicted@0"), per_seed(split, "default@0"))]
            goals.append(goal(f"zero-shot beats default init by >= 0.3 ({split})", _mean(gap), 0.3,
                              at_most=False, per_seed=gap))
            gap = [a - b for a, b in zip(per_seed(split, f"predicted@{last}"), per_seed(split, f"default@{last}"))]
            goals.append(goal(f"predicted init ahead of default after {last} fine-tuning steps ({split})",
                              _mean(gap), 0.0, at_most=False, per_seed=gap))
    if "decoders" in payload:
        rows = payload["decoders"]["rows"]
        for rank in cfg.decoder_ranks:
            low = next(r for r in rows if r["decoder"] == "lowrank" and r["rank"] == rank)
            tiled = next(r for r in rows if r["decoder"] == "tiled" and r["matched_rank"] == rank)
            gap = _mean([low[f"zero_shot_{s}"] - tiled[f"zero_shot_{s}"] for s in HELD_OUT])
            goals.append(goal(f"low-rank r={rank} >= tiled at equal decoder size (mean zero-shot over splits)",
                              gap, 0.0, at_most=False))
    if "scale" in payload:
        s = payload["scale"]["empty"]
        goals.append(goal("scale: GHN <= 2M parameters", s["ghn_params"], 2_000_000))
        goals.append(goal("scale: peak RSS over the imports <= 1.5x the target's fp32 size",
                          s["peak_over_imports_x_target"], 1.5, unit="x"))
        goals.append(goal("scale: total peak RSS <= 1.5x the target's fp32 size", s["peak_x_target"], 1.5, unit="x"))
    return goals


def _plot(cfg: StudyConfig, payload: dict, name: str) -> None:
    from hyperweights.bench.plotting import pyplot
    plt = pyplot()
    if "predict" in payload:
        table = payload["predict"]["table"]
        fig, axes = plt.subplots(1, len(table), figsize=(3.2 * len(table), 3), sharey=True)
        for ax, row in zip(axes, table):
            for method in ("predicted", "predicted+noise", "default"):
                ax.plot(cfg.finetune_steps, [row[f"{method}@{s}"] for s in cfg.finetune_steps], marker="o",
                        label=method)
            ax.set_title(row["split"])
            ax.set_xlabel("fine-tuning steps")
        axes[0].set_ylabel("test accuracy")
        axes[0].legend(fontsize=7)
        fig.suptitle(f"GHN-predicted vs default initialisation ({cfg.dataset})", fontsize=9)
        fig.tight_layout()
        fig.savefig(result_path(f"{name}_finetune.png"), dpi=120)
        plt.close(fig)
    if "decoders" in payload:
        rows = payload["decoders"]["rows"]
        fig, ax = plt.subplots(figsize=(5, 3.2))
        width = 0.8 / len(rows)
        for i, r in enumerate(rows):
            label = (f"low-rank r={r['rank']}" if r["decoder"] == "lowrank" else f"tiled {r['block'][0]}x{r['block'][1]}")
            ax.bar([j + i * width for j in range(len(HELD_OUT))], [r[f"zero_shot_{s}"] for s in HELD_OUT], width,
                   label=f"{label} ({r['decoder_params']:,})")
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(HELD_OUT))], HELD_OUT, fontsize=7)
        ax.set_ylabel("zero-shot test accuracy")
        ax.legend(fontsize=6)
        fig.tight_layout()
        fig.savefig(result_path(f"{name}_decoders.png"), dpi=120)
        plt.close(fig)


def main(args) -> int:
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cfg = StudyConfig.smoke() if args.smoke else StudyConfig()
    if args.seeds:
        cfg.seeds = tuple(args.seeds)
    if args.steps:
        cfg.steps = args.steps
    parts = args.parts or (["predict", "decoders"] if args.smoke else list(PARTS))
    if "lm" in parts:                   # tiny GPT-2s on BBC text: its own study and file (lm.py)
        from benchmarks.graph import lm as lm_part
        lm_part.main(args)
        parts = [p for p in parts if p != "lm"]
        if not parts:
            return 0
    name = ("graph_smoke" if args.smoke else "graph") + args.tag
    payload: dict = {"config": asdict(cfg), "threads": args.threads, "device": str(device)}
    tic = time.perf_counter()
    if "predict" in parts:
        print(f"[graph] predict: {len(cfg.seeds)} seed(s), GHN {cfg.steps} steps on {cfg.dataset}", flush=True)
        runs = [_predict(cfg, seed, device) for seed in cfg.seeds]
        payload["predict"] = {"runs": runs, "table": _summarise(cfg, runs)}
    if "decoders" in parts:
        print(f"[graph] decoders at equal size: ranks {cfg.decoder_ranks} vs tiled", flush=True)
        payload["decoders"] = _decoders(cfg, cfg.seeds[0], device)
    if "scale" in parts:
        print("[graph] scale: GPT2Config() predicted by a <= 2M-parameter GHN (subprocess)", flush=True)
        payload["scale"] = _scale(args.smoke)
    payload["goals"] = _goals(cfg, payload)
    payload["seconds"] = round(time.perf_counter() - tic, 1)
    path = write_results(name, payload)
    _plot(cfg, payload, name)
    if "predict" in payload:
        print(markdown_table(payload["predict"]["table"]))
    if "decoders" in payload:
        print(markdown_table(payload["decoders"]["rows"], ["decoder", "rank", "block", "decoder_params"]
                             + [f"zero_shot_{s}" for s in HELD_OUT]))
    if "scale" in payload:
        print(json.dumps(payload["scale"], indent=1))
    for g in payload["goals"]:
        print(f"  goal: {g['goal']}: measured {g['measured']} -> {'met' if g['met'] else 'NOT met'}")
    print(f"wrote {path}")
    return 0
