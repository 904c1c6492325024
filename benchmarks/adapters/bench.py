"""``hyperweights bench adapters``: generated adapters for a frozen all-MiniLM-L6-v2, five tasks.

One run trains every method on the same five tasks (``benchmarks/adapters/data.py``) with the same
frozen encoder, the same cached lower blocks, steps, batch and learning rate, and writes
``results/adapters/adapters.json`` with its goals:

- accuracy (mean over tasks, test split) of the generated LoRAs >= one LoRA per task at every seed
  (paired: same seed, data order and classifier start), with adapter parameters <= half of all the
  per-task LoRAs together, and >= one shared LoRA;
- a mixed-task batch of 64 sequences (one gather-and-bmm call) <= 1.2x a single-task batch of 64,
  and >= 3x faster than a loop over the tasks; materialised ``W0 + ΔW`` per sample timed beside it
  (interleaved medians, one process, one thread);
- every task's generated LoRA exported as a peft folder gives the hypernetwork's outputs to 1e-5
  through ``PeftModel.from_pretrained``.

``--smoke`` uses a tiny randomly initialised BERT (``transformers.BertConfig``) and a hashing word
tokenizer, so it needs neither the 84 MB model nor much time; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

import hyperweights as hw
from hyperweights.adapters import (AdaptersConfig, AdapterGenerator, DescriptionCondition, LoRATable,
                                   MultiTaskAdapterModel, TaskData, adapted, evaluate, export_peft, fit,
                                   select_modules)
from hyperweights.bench import interleaved, markdown_table, progress, result_path, write_results
from hyperweights.bench.goals import goal

from .data import DESCRIPTIONS, load_tasks

__all__ = ["BenchConfig", "add_arguments", "main"]


@dataclass
class BenchConfig:
    """Sizes and budget (the same for every method)."""

    train_per_task: int = 240
    test_per_task: int = 150
    max_length: int = 32
    start_layer: int = 5            # adapters on blocks >= start_layer; lower blocks cached
    rank: int = 8
    alpha: float = 16.0
    steps: int = 100
    batch_size: int = 16
    lr: float = 3e-3
    hidden: int = 16                # generator projector width
    task_dim: int = 8               # task / description condition width
    decompose_rank: int = 2         # Polyhistor decomposed heads
    scaling_kernel: int = 4         # Polyhistor layer-wise scaling kernels
    bottleneck: int = 16
    seeds: tuple[int, ...] = (0, 1, 2)
    one_seed_methods: tuple[str, ...] = ("probe", "hyperformer_bottleneck", "polyhistor_kernels",
                                         "description_lora")
    held_out: str = "sentiment"     # leave-one-task-out zero-shot row
    timing_rounds: int = 7
    smoke: bool = False
    extra: dict = field(default_factory=dict)


SMOKE = dict(train_per_task=24, test_per_task=16, max_length=12, steps=4, batch_size=8, seeds=(0,),
             timing_rounds=2, smoke=True)

METHODS = ("probe", "lora_per_task", "lora_shared", "hyperformer_lora", "hyperformer_bottleneck",
           "polyhistor_decomposed", "polyhistor_kernels", "description_lora")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--smoke", action="store_true", help="tiny random BERT and sizes (< 60 s), for CI")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds of the paired methods")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps per method")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=None,
                        help="run only these methods (goals that need a missing one are skipped)")
    parser.add_argument("--no-timing", action="store_true",
                        help="skip the timing and peft-export parts (and their goals)")
    parser.add_argument("--tag", default="", help="suffix of the result file name (e.g. _steps300)")


# ---------------------------------------------------------------------------------- model and data
class _HashTokenizer:
    """Smoke only: words -> ids by a stable hash (no vocabulary file needed)."""

    def __init__(self, vocab: int):
        self.vocab = vocab

    def __call__(self, texts, max_length):
        rows = [[1] + [2 + int(hashlib.md5(w.lower().encode()).hexdigest(), 16) % (self.vocab - 2)
                       for w in t.split()][:max_length - 1] for t in texts]
        ids = torch.zeros(len(rows), max_length, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, row in enumerate(rows):
            ids[i, :len(row)], mask[i, :len(row)] = torch.tensor(row), 1
        return ids, mask


def _base_and_tokenizer(smoke: bool):
    import transformers
    if smoke:
        torch.manual_seed(0)
        config = transformers.BertConfig(vocab_size=500, hidden_size=32, num_hidden_layers=6,
                                         num_attention_heads=2, intermediate_size=64)
        return transformers.BertModel(config).eval(), _HashTokenizer(500), "tiny random BERT"
    from hyperweights.data.text import minilm_dir
    folder = minilm_dir()
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)

    def tokenize(texts, max_length):
        out = tokenizer(list(texts), padding="max_length", truncation=True, max_length=max_length,
                        return_tensors="pt")
        return out["input_ids"], out["attention_mask"]

    return (transformers.AutoModel.from_pretrained(folder, local_files_only=True).eval(), tokenize,
            "sentence-transformers/all-MiniLM-L6-v2")


def _task_data(tasks, split: str, tokenize, max_length: int) -> TaskData:
    texts, labels, ids = [], [], []
    for t, task in enumerate(tasks):
        x, y = task.splits[split]
        texts += x
        labels += y
        ids += [t] * len(x)
    tokens, mask = tokenize(texts, max_length)
    return TaskData(tokens, mask, torch.tensor(labels), torch.tensor(ids), [t.name for t in tasks])


def _descriptions(tasks, smoke: bool) -> torch.Tensor:
    texts = [DESCRIPTIONS[t.name] for t in tasks]
    if smoke:                       # deterministic stand-in for the sentence encoder
        return torch.stack([torch.randn(384, generator=torch.Generator().manual_seed(len(t) + i))
                            for i, t in enumerate(texts)])
    from hyperweights.data.text import SentenceEncoder
    return SentenceEncoder().encode(texts)


def _source(method: str, mods, cfg: BenchConfig, num_tasks: int, descriptions: torch.Tensor):
    common = dict(rank=cfg.rank, alpha=cfg.alpha, hidden=cfg.hidden)
    if method == "probe":
        return None
    if method == "lora_per_task":
        return LoRATable(mods, num_tasks, rank=cfg.rank, alpha=cfg.alpha)
    if method == "lora_shared":
        return LoRATable(mods, 1, rank=cfg.rank, alpha=cfg.alpha)
    if method == "description_lora":
        cond = DescriptionCondition(num_tasks, descriptions.shape[1], cfg.task_dim)
        cond.set_descriptions(descriptions)
        return AdapterGenerator(mods, cond, **common)
    task = hw.TaskEmbedding(num_tasks, cfg.task_dim)
    if method == "hyperformer_lora":
        return AdapterGenerator(mods, task, **common)
    if method == "hyperformer_bottleneck":
        return AdapterGenerator(mods, task, kind="bottleneck", bottleneck=cfg.bottleneck, hidden=cfg.hidden)
    if method == "polyhistor_decomposed":
        return AdapterGenerator(mods, task, decompose_rank=cfg.decompose_rank, **common)
    if method == "polyhistor_kernels":
        return AdapterGenerator(mods, task, scaling_kernel=cfg.scaling_kernel, **common)
    raise ValueError(method)


def _train_config(cfg: BenchConfig, seed: int, device) -> AdaptersConfig:
    return AdaptersConfig(steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, seed=seed,
                          progress=False, device=str(device))


# ---------------------------------------------------------------------------------- parts
def _run_method(method, seed, base, mods, cfg, tasks, train, test, descriptions, device):
    torch.manual_seed(seed)
    source = _source(method, mods, cfg, len(tasks), descriptions)
    model = MultiTaskAdapterModel(base, source, [len(t.classes) for t in tasks], start_layer=cfg.start_layer)
    result = fit(model, train, _train_config(cfg, seed, device))
    scores = evaluate(model, test)
    adapter_params = hw.param_count(source) if source is not None else 0
    return model, {
        "method": method, "seed": seed, "accuracy": scores["accuracy"],
        "per_task": {k.split("/", 1)[1]: v for k, v in scores.items() if "/" in k},
        "adapter_params": adapter_params, "classifier_params": model.head_weight.numel() + model.head_bias.numel(),
        "train_seconds": round(result.seconds, 1), "final_loss": sum(result.losses[-10:]) / len(result.losses[-10:]),
    }


def _zero_shot(base, mods, cfg, tasks, train, test, descriptions, device) -> dict:
    """Leave one task out: train the description-conditioned generator on the other tasks, then
    generate the held-out task's LoRA from its description alone and fit only that task's
    classifier (the adapter frozen), against the linear probe of that task with the same budget."""
    held = [t.name for t in tasks].index(cfg.held_out)
    others = train.subset(train.tasks != held)
    source = _source("description_lora", mods, cfg, len(tasks), descriptions)
    model = MultiTaskAdapterModel(base, source, [len(t.classes) for t in tasks], start_layer=cfg.start_layer)
    fit(model, others, _train_config(cfg, 0, device))
    source.requires_grad_(False)
    fit(model, train.subset(train.tasks == held), _train_config(cfg, 0, device))
    zero_shot = evaluate(model, test.subset(test.tasks == held))["accuracy"]
    probe = MultiTaskAdapterModel(base, None, [len(t.classes) for t in tasks], start_layer=cfg.start_layer)
    fit(probe, train.subset(train.tasks == held), _train_config(cfg, 0, device))
    return {"held_out": cfg.held_out, "zero_shot_adapter_accuracy": zero_shot,
            "probe_accuracy": evaluate(probe, test.subset(test.tasks == held))["accuracy"],
            "protocol": "generator trained on the 4 other tasks; the held-out task's LoRA generated "
                        "from its description only (frozen), its classifier fitted alone; one fold"}


def _timing(model: MultiTaskAdapterModel, test: TaskData, cfg: BenchConfig, device) -> dict:
    """Full-model forward (tokens -> logits) of 64 sequences, no gradients, interleaved medians."""
    batch = 64
    rows = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[:batch]
    if len(rows) < batch:
        rows = rows.repeat(batch // len(rows) + 1)[:batch]
    ids, mask, tasks = (test.input_ids[rows].to(device), test.attention_mask[rows].to(device),
                        test.tasks[rows].to(device))
    one_task = torch.zeros_like(tasks)
    source, base = model.adapters, model.base
    mods = source.adapted_modules

    @torch.no_grad()
    def mixed():
        return model(ids, mask, tasks)

    @torch.no_grad()
    def single():
        return model(ids, mask, one_task, condition=torch.tensor([0], device=device))

    @torch.no_grad()
    def loop():
        return [model(ids[tasks == t], mask[tasks == t], tasks[tasks == t],
                      condition=torch.tensor([t], device=device)) for t in torch.unique(tasks).tolist()]

    @torch.no_grad()
    def materialised():
        with adapted(base, mods, source(torch.arange(source.num_tasks, device=device)),
                     scaling=source.scaling, index=tasks, materialise=True):
            return base(input_ids=ids, attention_mask=mask).last_hidden_state

    with torch.no_grad():
        ref = model.base
        with adapted(ref, mods, source(torch.arange(source.num_tasks, device=device)), scaling=source.scaling,
                     index=tasks):
            fast = ref(input_ids=ids, attention_mask=mask).last_hidden_state
        same = float((fast - materialised()).abs().max())
    model.start_layer, saved = None, model.start_layer          # time from tokens: the whole model
    try:
        ms = interleaved({"mixed": mixed, "single_task": single, "loop_over_tasks": loop,
                          "materialised": materialised}, rounds=cfg.timing_rounds, warmup=1,
                          desc="timing")
    finally:
        model.start_layer = saved
    return {"batch": batch, "tasks_in_batch": int(torch.unique(tasks).numel()), "ms": ms,
            "mixed_over_single": ms["mixed"] / ms["single_task"],
            "loop_over_mixed": ms["loop_over_tasks"] / ms["mixed"],
            "materialised_over_mixed": ms["materialised"] / ms["mixed"],
            "factored_vs_materialised_max_abs": same}


def _peft_check(model: MultiTaskAdapterModel, test: TaskData, cfg: BenchConfig, folder) -> dict:
    """Export every task's generated LoRA and reload it with peft on a copy of the base."""
    import peft
    source = model.adapters
    worst = effect = 0.0
    for t in range(2 if cfg.smoke else source.num_tasks):
        rows = (test.tasks == t).nonzero()[:16, 0]
        ids, mask = test.input_ids[rows], test.attention_mask[rows]
        with torch.no_grad():
            weights = source(torch.tensor([t]))
            with adapted(model.base, source.adapted_modules, weights, scaling=source.scaling):
                ours = model.base(input_ids=ids, attention_mask=mask).last_hidden_state
            export_peft(folder / f"task{t}", source.adapted_modules, weights, rank=cfg.rank, alpha=cfg.alpha)
            with warnings.catch_warnings():   # peft / transformers FutureWarnings about their own APIs
                warnings.simplefilter("ignore", FutureWarning)
                theirs = peft.PeftModel.from_pretrained(copy.deepcopy(model.base), str(folder / f"task{t}"))
                theirs = theirs(input_ids=ids, attention_mask=mask).last_hidden_state
            plain = model.base(input_ids=ids, attention_mask=mask).last_hidden_state
        worst = max(worst, float((ours - theirs).abs().max()))
        effect = max(effect, float((ours - plain).abs().max()))
    return {"tasks": 2 if cfg.smoke else source.num_tasks, "max_abs_difference": worst,
            "adapter_effect_max_abs": effect}     # > 0: the check compares adapted outputs


# ---------------------------------------------------------------------------------- report
def _summary(runs: list[dict]) -> list[dict]:
    rows = []
    for method in METHODS:
        mine = [r for r in runs if r["method"] == method]
        if not mine:
            continue
        accs = [r["accuracy"] for r in mine]
        tasks = mine[0]["per_task"]
        row = {"method": method, "seeds": len(mine), "accuracy": sum(accs) / len(accs),
               "min": min(accs), "max": max(accs), "adapter_params": mine[0]["adapter_params"],
               "adapter_params_per_task": mine[0]["adapter_params"] / len(tasks) if method != "lora_shared"
               else mine[0]["adapter_params"],
               "train_seconds": sum(r["train_seconds"] for r in mine) / len(mine)}
        for task in tasks:
            row[task] = sum(r["per_task"][task] for r in mine) / len(mine)
        rows.append(row)
    return rows


def _goals(runs, timing, peft_check) -> list[dict]:
    def accs(method):
        return {r["seed"]: r["accuracy"] for r in runs if r["method"] == method}

    per_task, shared = accs("lora_per_task"), accs("lora_shared")
    out = []
    for method in ("hyperformer_lora", "polyhistor_decomposed"):
        mine = accs(method)
        if not (mine and per_task and shared):
            continue
        lora_params = next(r["adapter_params"] for r in runs if r["method"] == "lora_per_task")
        seeds = sorted(set(mine) & set(per_task))
        gaps = [mine[s] - per_task[s] for s in seeds]
        out.append(goal(f"{method}: accuracy >= one LoRA per task (paired, points)",
                        100 * sum(gaps) / len(gaps), 0.0, at_most=False,
                        per_seed=[100 * g for g in gaps], unit=" points"))
        gaps = [mine[s] - shared[s] for s in seeds]
        out.append(goal(f"{method}: accuracy >= one shared LoRA (paired, points)",
                        100 * sum(gaps) / len(gaps), 0.0, at_most=False,
                        per_seed=[100 * g for g in gaps], unit=" points"))
        params = next(r["adapter_params"] for r in runs if r["method"] == method)
        out.append(goal(f"{method}: adapter parameters <= half of all per-task LoRAs (ratio)",
                        params / lora_params, 0.5, unit="x"))
    if timing is None:
        return out
    out.append(goal("mixed-task batch of 64 <= 1.2x a single-task batch", timing["mixed_over_single"], 1.2,
                    unit="x"))
    out.append(goal("mixed-task batch >= 3x faster than a loop over tasks", timing["loop_over_mixed"], 3.0,
                    at_most=False, unit="x"))
    out.append(goal("exported peft adapters reproduce the outputs (max abs difference)",
                    peft_check["max_abs_difference"], 1e-5))
    return out


def _plot(rows: list[dict], path) -> None:
    """Accuracy (mean, min-max over seeds) against adapter parameters, one point per method."""
    from hyperweights.bench.plotting import pyplot, save_figure
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.8))
    for row in rows:
        x = max(row["adapter_params"], 1)
        ax.errorbar([x], [100 * row["accuracy"]], yerr=[[100 * (row["accuracy"] - row["min"])],
                                                        [100 * (row["max"] - row["accuracy"])]],
                    fmt="o", capsize=3, label=f"{row['method']} ({row['seeds']} seed{'s' * (row['seeds'] > 1)})")
    ax.set_xscale("log")
    ax.set_xlabel("adapter trainable parameters (probe plotted at 1)")
    ax.set_ylabel("mean test accuracy over 5 tasks (%)")
    ax.set_title("adapters on the last block of a frozen encoder, 5 tasks")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    save_figure(fig, path)


def main(args) -> int:
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cfg = BenchConfig(**SMOKE) if args.smoke else BenchConfig()
    if args.seeds:
        cfg = replace(cfg, seeds=tuple(args.seeds))
    if args.steps:
        cfg = replace(cfg, steps=args.steps)
    name = ("adapters_smoke" if args.smoke else "adapters") + getattr(args, "tag", "")
    methods = getattr(args, "methods", None) or METHODS
    tic = time.perf_counter()
    base, tokenize, model_name = _base_and_tokenizer(cfg.smoke)
    base.to(device)
    tasks = load_tasks(cfg.train_per_task, cfg.test_per_task)
    train = _task_data(tasks, "train", tokenize, cfg.max_length)
    test = _task_data(tasks, "test", tokenize, cfg.max_length)
    descriptions = _descriptions(tasks, cfg.smoke).to(device)
    mods = select_modules(base, ["query", "value"], layers=list(range(cfg.start_layer, base.config.num_hidden_layers)))
    probe = MultiTaskAdapterModel(base, None, [len(t.classes) for t in tasks], start_layer=cfg.start_layer)
    cache_tic = time.perf_counter()
    train, test = train.cached(probe), test.cached(probe)
    cache_seconds = time.perf_counter() - cache_tic
    plan = [(m, s) for m in METHODS if m in methods
            for s in (cfg.seeds[:1] if m in cfg.one_seed_methods else cfg.seeds)]
    print(f"[adapters] {model_name}: {len(tasks)} tasks, {len(train)} train / {len(test)} test sequences, "
          f"{len(plan)} runs of {cfg.steps} steps", flush=True)
    runs, trained = [], {}
    for method, seed in progress(plan, desc="adapters"):
        model, record = _run_method(method, seed, base, mods, cfg, tasks, train, test, descriptions, device)
        runs.append(record)
        if seed == cfg.seeds[0]:
            trained[method] = model
    zero_shot = (_zero_shot(base, mods, cfg, tasks, train, test, descriptions, device)
                 if "description_lora" in methods else None)
    generated = next(m for m in ("hyperformer_lora", "polyhistor_decomposed", "polyhistor_kernels",
                                 "description_lora", "lora_per_task") if m in trained)
    timing = peft_check = None
    if not getattr(args, "no_timing", False):
        timing = _timing(trained[generated], test, cfg, device)
        with tempfile.TemporaryDirectory() as folder:
            peft_check = _peft_check(trained[generated], test, cfg, Path(folder))
        timing["method"] = peft_check["method"] = generated
    rows = _summary(runs)
    payload = {"model": model_name, "config": {k: v for k, v in asdict(cfg).items() if k != "extra"},
               "tasks": {t.name: {"classes": t.classes, "train": len(t.splits["train"][0]),
                                  "test": len(t.splits["test"][0])} for t in tasks},
               "target_modules": [m.name for m in mods], "threads": args.threads, "device": str(device),
               "cache_seconds": round(cache_seconds, 1), "summary": rows, "runs": runs,
               "zero_shot": zero_shot, "timing": timing, "peft": peft_check,
               "goals": _goals(runs, timing, peft_check), "seconds": round(time.perf_counter() - tic, 1)}
    path = write_results(name, payload)
    _plot(rows, result_path(f"{name}.png"))
    print(markdown_table(rows, ["method", "seeds", "accuracy", "adapter_params", "train_seconds"]))
    print(markdown_table([{"goal": g["goal"], "measured": g["measured"], "met": g["met"]} for g in payload["goals"]]))
    print(f"wrote {path}")
    return 0
