"""``hyperweights bench diffusion``: D2NWG on unseen class-subset tasks, and the zoo tools.

Tasks: every 5-class subset of a 10-class dataset (252), relabelled 0..4; ``held_out`` of them
(drawn with the seed) are never seen by the zoo, D2NWG or the hypernetwork baseline. Target: an
MLP ``D -> hidden -> 5`` (Fashion-MNIST and MNIST-5k average-pooled to 14x14; digits 8x8).

Per held-out task, test accuracy at 0, 5 and 25 fine-tuning steps (Adam, the zoo's recipe, on the
task's training images) of:

- ``generated``: D2NWG's best of ``samples`` weight sets, chosen by accuracy on a support set;
- ``random``: the target's own initialisation;
- ``nearest_zoo``: the zoo model of the nearest training task by the aligned dataset encoder;
- ``hypernetwork``: ``hw.HyperNetwork`` + ``DataCondition`` over the support set, trained end to end
  on the training tasks (the same Set Transformer as encoder).

Also: zoo training batched vs one model at a time (interleaved medians, one thread), the VAE's
reconstruction accuracy (accuracy of decoded zoo weights), and histograms of accuracies.
Goals (computed here): generated@0 >= random@0 + 0.25 and >= nearest_zoo@0; generated@5 >= random@25;
batched zoo training >= 5x faster.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F

import hyperweights as hw
from hyperweights.bench import interleaved, markdown_table, progress, write_results
from hyperweights.bench.goals import goal
from hyperweights.bench.report import result_path
from hyperweights.data import load_dataset
from hyperweights.diffusion import D2NWG, DiffusionConfig, ZooData, fit, generate_for_tasks
from hyperweights.zoo import (Zoo, ZooConfig, accuracy_after_steps, class_subset_tasks, init_members,
                              member_accuracy, save_zoo, train_one, train_zoo)

from .baselines import hypernetwork_weights, nearest_zoo_weights, train_task_hypernetwork

__all__ = ["add_arguments", "main", "StudyConfig"]

BUDGETS = (0, 5, 25)
METHODS = ("generated", "random", "nearest_zoo", "hypernetwork")


@dataclass
class StudyConfig:
    """Sizes of one run (the smoke size is in :func:`_smoke`)."""

    dataset: str = "fashion_mnist"
    hidden: int = 16
    train_per_class: int = 100
    test_per_class: int = 200
    held_out: int = 12
    max_tasks: int = 252            # tasks used (held-out ones included), from the seeded order
    members_per_task: int = 2
    zoo_steps: int = 200
    token_size: int = 128
    vae_dim: int = 64
    vae_layers: int = 1
    latent_dim: int = 4
    cond_dim: int = 64
    denoiser_width: int = 256
    vae_steps: int = 1500
    functional_weight: float = 10.0     # the VAE's functional reconstruction loss (a deviation)
    align_steps: int = 300
    diffusion_steps: int = 1500
    diffusion_batch: int = 32
    support_size: int = 50
    samples: int = 10
    sample_steps: int = 50
    guidance: float = 2.0
    guidance_sweep: tuple[float, ...] = (0.0, 1.0, 4.0)   # reported beside, never used to choose
    hnet_steps: int = 400
    timing_members: int = 32
    timing_steps: int = 20
    timing_rounds: int = 5


#: test images per class the MNIST-5k split can give every class (its rarest has 100)
MNIST5K_TEST_PER_CLASS = 80


def _smoke() -> StudyConfig:
    return StudyConfig(dataset="digits", hidden=8, train_per_class=40, test_per_class=30, held_out=4,
                       max_tasks=24, members_per_task=1, zoo_steps=40, token_size=32, latent_dim=4,
                       vae_dim=16, cond_dim=16,
                       denoiser_width=32, vae_steps=30, align_steps=10, diffusion_steps=30, diffusion_batch=16, support_size=20, samples=3,
                       sample_steps=5, hnet_steps=20, timing_members=4, timing_steps=3, timing_rounds=2)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on digits (< 60 s), for CI")
    parser.add_argument("--dataset", choices=("fashion_mnist", "mnist5k", "digits"), default=None,
                        help="source of the tasks (default fashion_mnist; smoke: digits)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="study seeds (held-out draw, zoo, models)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...)")
    parser.add_argument("--tag", default="", help="suffix of the result file name")


def _images(name: str):
    split = load_dataset(name)
    if name == "digits":
        return split
    pool = lambda x: F.avg_pool2d(x.view(-1, 1, 28, 28), 2).flatten(1)   # noqa: E731  28x28 -> 14x14
    return replace(split, x_train=pool(split.x_train), x_test=pool(split.x_test))


# ---------------------------------------------------------------------------------- zoo timing
def _zoo_timing(target, tasks, cfg: StudyConfig, device: str) -> dict:
    ids = torch.arange(cfg.timing_members) % len(tasks)
    seeds = list(range(cfg.timing_members))
    zoo_cfg = ZooConfig(steps=cfg.timing_steps, progress=False, device=device)
    x, y = tasks.train_batch(ids)
    batched = lambda: train_zoo(target, tasks, ids, seeds, zoo_cfg)[0]                       # noqa: E731
    loop = lambda: [train_one(target, x[k], y[k], seeds[k], zoo_cfg) for k in range(len(seeds))]  # noqa: E731
    together, alone = batched(), loop()
    gap = max(float((together[n][k].cpu() - p.detach().cpu()).abs().max())
              for k, net in enumerate(alone) for n, p in net.named_parameters())
    times = interleaved({"batched": batched, "loop": loop}, rounds=cfg.timing_rounds, warmup=1,
                        desc="zoo timing")
    ratio = times["loop"] / times["batched"]
    return {"members": cfg.timing_members, "steps": cfg.timing_steps, "batched_ms": round(times["batched"], 1),
            "loop_ms": round(times["loop"], 1), "speedup": round(ratio, 2), "max_abs_difference": gap,
            "goal": goal("batched zoo training >= 5x a loop over models", round(ratio, 2), 5.0,
                         at_most=False, unit="x")}


# ---------------------------------------------------------------------------------- one seed
def _one_seed(cfg: StudyConfig, seed: int, device: str, split) -> dict:
    torch.manual_seed(seed)
    tasks = class_subset_tasks(split, 5, train_per_class=cfg.train_per_class,
                               test_per_class=cfg.test_per_class, seed=seed)
    order = torch.randperm(len(tasks), generator=torch.Generator().manual_seed(seed))
    held_ids, seen_ids = order[: cfg.held_out].sort().values, order[cfg.held_out:cfg.max_tasks].sort().values
    seen, held = tasks.subset(seen_ids), tasks.subset(held_ids)
    target = hw.mlp([tasks.num_features, cfg.hidden, 5])
    out: dict = {"seed": seed, "held_out_tasks": held.ids, "train_tasks": len(seen)}

    print(f"[diffusion] seed {seed}: zoo timing", flush=True)
    out["zoo_timing"] = _zoo_timing(target, seen, cfg, device)

    print(f"[diffusion] seed {seed}: zoo of {len(seen) * cfg.members_per_task}", flush=True)
    zoo_ids = torch.arange(len(seen)).repeat(cfg.members_per_task)
    members = len(zoo_ids)
    # one shared initialisation (a different data order per member): the zoo's weights then
    # differ by what their tasks need, not by a permutation of hidden units (see docs/diffusion.md)
    shared = init_members(target, [seed] * members)
    tic = time.perf_counter()
    zoo_w, _ = train_zoo(target, seen, zoo_ids, [seed * 10_000 + k for k in range(members)],
                         ZooConfig(steps=cfg.zoo_steps, device=device), init=shared)
    zoo_seconds = time.perf_counter() - tic
    zoo_acc = member_accuracy(target, zoo_w, *[t.to(device) for t in seen.test_batch(zoo_ids)]).cpu()
    with tempfile.TemporaryDirectory() as folder:                      # the storage round trip
        save_zoo(folder, target, {n: w.cpu() for n, w in zoo_w.items()},
                 [{"dataset": seen.ids[int(t)], "seed": seed * 10_000 + k,
                   "metrics": {"test_accuracy": round(float(a), 4)}}
                  for k, (t, a) in enumerate(zip(zoo_ids, zoo_acc))], shard_size=128)
        zoo = Zoo(folder)
        zoo.check(target)
        zoo_w = {n: w.to(device) for n, w in zoo.weights().items()}
    out["zoo"] = {"members": members, "steps": cfg.zoo_steps, "seconds": round(zoo_seconds, 1),
                  "test_accuracy_mean": round(float(zoo_acc.mean()), 4),
                  "test_accuracy_min": round(float(zoo_acc.min()), 4), "params": hw.param_count(target)}

    print(f"[diffusion] seed {seed}: D2NWG", flush=True)
    model = D2NWG(target, tasks.num_features, 5, token_size=cfg.token_size, vae_dim=cfg.vae_dim,
                  vae_layers=cfg.vae_layers, latent_dim=cfg.latent_dim,
                  cond_dim=cfg.cond_dim, encoder_hidden=cfg.cond_dim, denoiser_width=cfg.denoiser_width)
    dcfg = DiffusionConfig(vae_steps=cfg.vae_steps, functional_weight=cfg.functional_weight,
                           align_steps=cfg.align_steps,
                           diffusion_steps=cfg.diffusion_steps, batch_size=cfg.diffusion_batch,
                           support_size=cfg.support_size, seed=seed, device=device)
    result = fit(model, ZooData(zoo_w, zoo_ids, seen), dcfg)
    with torch.no_grad():
        decoded = model.decode_latents(model.encode_weights(zoo_w))
    rec_acc = member_accuracy(target, decoded, *[t.to(device) for t in seen.test_batch(zoo_ids)]).cpu()
    rec_mse = float(sum(((decoded[n] - zoo_w[n]) ** 2).sum() for n in zoo_w)) / (members * hw.param_count(target))
    out["d2nwg"] = {"train_seconds": round(result.seconds, 1), "tokens": model.layout.num_tokens,
                    "latent_size": model.vae.latent_size, "params": hw.param_count(model),
                    "vae_reconstruction_accuracy": round(float(rec_acc.mean()), 4),
                    "zoo_accuracy_of_the_same_models": round(float(zoo_acc.mean()), 4),
                    "vae_reconstruction_mse": rec_mse}

    print(f"[diffusion] seed {seed}: task-conditioned hypernetwork", flush=True)
    hyper = train_task_hypernetwork(target, seen, torch.arange(len(seen)), steps=cfg.hnet_steps, dim=cfg.cond_dim,
                                    support_size=cfg.support_size, seed=seed, device=device)

    print(f"[diffusion] seed {seed}: held-out tasks", flush=True)
    best, every, support = generate_for_tasks(model, held, samples=cfg.samples, support_size=cfg.support_size,
                                              guidance=cfg.guidance, sample_steps=cfg.sample_steps, seed=seed)
    held_range = torch.arange(len(held))
    sampled_acc = member_accuracy(target, every, *[t.to(device) for t in
                                                   held.test_batch(held_range.repeat_interleave(cfg.samples))])
    nearest, nearest_task = nearest_zoo_weights(model, zoo_w, zoo_ids, zoo_acc, held, seen,
                                                cfg.support_size, seed)
    starts = {"generated": best, "random": init_members(target, range(seed * 100, seed * 100 + len(held))),
              "nearest_zoo": nearest, "hypernetwork": hypernetwork_weights(hyper, held, cfg.support_size, seed)}
    tune = ZooConfig(progress=False, device=device)
    curves = {}
    for method in progress(METHODS, desc="fine-tuning"):
        init = {n: w.to(device) for n, w in starts[method].items()}
        curves[method] = accuracy_after_steps(target, held, held_range, init, BUDGETS, tune)
    out["per_task"] = {m: {str(b): [round(float(a), 4) for a in acc] for b, acc in c.items()}
                       for m, c in curves.items()}
    out["mean"] = {m: {str(b): round(float(acc.mean()), 4) for b, acc in c.items()} for m, c in curves.items()}
    out["nearest_train_task"] = [seen.ids[int(t)] for t in nearest_task]
    out["generated_samples_accuracy"] = [round(float(a), 4) for a in sampled_acc.cpu()]
    out["generated_support_accuracy"] = round(float(support.max(1).values.mean()), 4)
    out["zoo_accuracy"] = [round(float(a), 4) for a in zoo_acc]
    sweep = {str(cfg.guidance): out["mean"]["generated"]["0"]}
    for scale in cfg.guidance_sweep:                # the effect of classifier-free guidance
        picked, _, _ = generate_for_tasks(model, held, samples=cfg.samples, support_size=cfg.support_size,
                                          guidance=scale, sample_steps=cfg.sample_steps, seed=seed)
        sweep[str(scale)] = round(float(member_accuracy(target, picked, *[t.to(device) for t in
                                                                          held.test_batch(held_range)]).mean()), 4)
    out["generated_accuracy_by_guidance"] = dict(sorted(sweep.items(), key=lambda kv: float(kv[0])))
    return out


def _goals(runs: list[dict]) -> list[dict]:
    gen0 = [r["mean"]["generated"]["0"] for r in runs]
    rand0 = [r["mean"]["random"]["0"] for r in runs]
    near0 = [r["mean"]["nearest_zoo"]["0"] for r in runs]
    gen5 = [r["mean"]["generated"]["5"] for r in runs]
    rand25 = [r["mean"]["random"]["25"] for r in runs]
    mean = lambda v: round(sum(v) / len(v), 4)                                  # noqa: E731
    far = [g - r for g, r in zip(gen0, rand0)]
    near = [g - n for g, n in zip(gen0, near0)]
    ahead = [g - r for g, r in zip(gen5, rand25)]
    speed = [r["zoo_timing"]["speedup"] for r in runs]
    return [goal("generated @0 steps >= random init @0 + 0.25 (accuracy)", mean(far), 0.25, at_most=False,
                 per_seed=far),
            goal("generated @0 steps >= nearest-zoo transfer @0", mean(near), 0.0, at_most=False, per_seed=near),
            goal("generated @5 steps >= random init @25 steps", mean(ahead), 0.0, at_most=False, per_seed=ahead),
            goal("batched zoo training >= 5x one model at a time", mean(speed), 5.0, at_most=False,
                 per_seed=speed, unit="x")]


def _plot(runs: list[dict], path) -> None:
    from hyperweights.bench.plotting import pyplot, save_figure
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    zoo = [a for r in runs for a in r["zoo_accuracy"]]
    sampled = [a for r in runs for a in r["generated_samples_accuracy"]]
    bins = [i / 40 for i in range(41)]
    axes[0].hist(zoo, bins=bins, alpha=0.6, density=True, label="zoo models (own tasks)")
    axes[0].hist(sampled, bins=bins, alpha=0.6, density=True, label="generated, every sample (unseen)")
    best = [a for r in runs for a in r["per_task"]["generated"]["0"]]
    axes[0].hist(best, bins=bins, alpha=0.6, density=True, label="generated, best of K (unseen)")
    axes[0].set_xlabel("test accuracy (0 fine-tuning steps)")
    axes[0].legend(fontsize=7)
    for method in METHODS:
        means = [sum(r["mean"][method][str(b)] for r in runs) / len(runs) for b in BUDGETS]
        axes[1].plot(BUDGETS, means, marker="o", label=method)
    axes[1].set_xlabel("fine-tuning steps")
    axes[1].set_ylabel("test accuracy, unseen tasks")
    axes[1].legend(fontsize=7)
    save_figure(fig, path)


def main(args) -> int:
    torch.set_num_threads(args.threads)
    cfg = _smoke() if args.smoke else StudyConfig()
    if args.dataset:
        cfg.dataset = args.dataset
    if cfg.dataset == "mnist5k":    # 1,000 test images (~100 per class): hold out what there is
        cfg.test_per_class = min(cfg.test_per_class, MNIST5K_TEST_PER_CLASS)
    name = ("diffusion_smoke" if args.smoke else f"diffusion_{cfg.dataset}") + args.tag
    split = _images(cfg.dataset)
    tic = time.perf_counter()
    runs = [_one_seed(cfg, seed, args.device, split) for seed in args.seeds]
    goals = _goals(runs)
    payload = {"config": asdict(cfg), "seeds": list(args.seeds), "threads": args.threads,
               "device": args.device, "runs": runs, "goals": goals,
               "seconds": round(time.perf_counter() - tic, 1)}
    path = write_results(name, payload)
    _plot(runs, result_path(f"{name}_accuracy.png"))
    rows = [{"method": m, **{f"acc@{b}": round(sum(r["mean"][m][str(b)] for r in runs) / len(runs), 4)
                             for b in BUDGETS}} for m in METHODS]
    print(markdown_table(rows))
    print(markdown_table([{"goal": g["goal"], "measured": g["measured"], "met": g["met"]} for g in goals]))
    print(f"wrote {path}")
    return 0
