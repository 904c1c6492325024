"""``hyperweights bench continual``: every learner on the same protocols, plus the cost studies.

Sections (``--only`` picks some; each writes ``results/continual_<section>.json`` and plots):

- ``split_mnist5k``: Split-MNIST-5k CL1/CL3, 400 steps/task, batch 128 — all learners and
  hypnettorch; ours and hypnettorch repeated over ``--repeats`` seeds for the wall-time ratio.
- ``split_fashion``: Split Fashion-MNIST CL1/CL3 — HNET vs separate networks, baselines, peer.
- ``permuted_fashion``: Permuted-10 Fashion-MNIST CL1 + CL3 (entropy task inference).
- ``regcost``: regularizer step time vs the number of earlier tasks T (1, 8, 64): one batched
  forward vs hypnettorch's ``calc_fix_target_reg`` loop, same hypernetwork sizes, interleaved.
- ``subset``: accuracy and time vs the regularized subset size S (Permuted-10 MNIST-5k).
- ``permuted100``: Permuted-100 MNIST-5k with snapshot targets; peak RSS at tasks 10, 50, 100.
- ``sweep``: HNET configurations on Split-MNIST-5k over 5 seeds, on a validation split (20% of the
  training images) and then, for the validation pick and the speed variant, on the test split.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import torch

import hyperweights as hw
from hyperweights.bench import interleaved, markdown_table, write_results
from hyperweights.bench.plotting import pyplot
from hyperweights.bench.report import result_path

from .goals import section_goals

__all__ = ["add_arguments", "main", "SECTIONS"]

SECTIONS = ("split_mnist5k", "speed", "split_fashion", "permuted_fashion", "regcost", "subset",
            "permuted100", "sweep")

#: the Split-MNIST-5k sweep: label -> HNET options (the base is the split design)
SWEEP = {"base": {}, "beta0.05": {"beta": 0.05}, "beta0.001": {"beta": 0.001}, "lr5e-4": {"lr": 5e-4},
         "lr2e-3": {"lr": 2e-3}, "s1": {"subset": 1}}
#: run on the test split afterwards: the validation pick and the speed variant
SWEEP_TEST = {"lr5e-4": {"lr": 5e-4}, "lr5e-4_s1": {"lr": 5e-4, "subset": 1}, "base_s1": {"subset": 1}}


def build_learner(name: str, protocol, **opts):
    """``build_method`` plus the hypnettorch peer (``"hypnettorch"``), which is benchmark-only."""
    from hyperweights.continual.factory import build_method
    if name != "hypnettorch":
        return build_method(name, protocol, **opts)
    from benchmarks.peers.hnet import HypnettorchHNET
    return HypnettorchHNET(protocol.num_features, protocol.num_outputs, protocol.classes,
                           hidden=opts.get("hidden", (100, 100)), emb_dim=opts.get("emb_dim", 32),
                           chunk_emb=8, chunk_size=opts.get("chunk_size", 4096), layers=(100, 100),
                           beta=opts.get("beta", 0.01), lr=opts.get("lr", 1e-3))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (< 60 s)")
    parser.add_argument("--only", nargs="*", default=None, choices=SECTIONS)
    parser.add_argument("--repeats", type=int, default=2, help="seeds for the HNET vs peer timing")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="run seeds first-seed .. repeats-1 (continue an earlier run's seeds)")
    parser.add_argument("--data-dir", default=None, help="Fashion-MNIST IDX folder")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--methods", nargs="*", default=None, help="only these learners (labels)")
    parser.add_argument("--tag", default="", help="suffix of the result files")
    parser.add_argument("--steps", type=int, default=None,
                        help="steps per task for every learner of a section (default: the section's)")
    parser.add_argument("--repeat-methods", nargs="*", default=["hnet", "hypnettorch"],
                        help="labels run on every seed of --repeats (the others on seed 0 only)")
    parser.add_argument("--validation", action="store_true",
                        help="evaluate on held-out training images (model selection), not the test set")
    parser.add_argument("--p100-beta", type=float, default=None,
                        help="permuted100: HNET's beta (default: PERMUTED100_HNET's)")
    parser.add_argument("--p100-trunk", type=int, nargs="+", default=None,
                        help="permuted100: HNET's trunk widths (default: PERMUTED100_HNET's)")
    parser.add_argument("--validation-fraction", type=float, default=0.1,
                        help="share of the training images held out by --validation")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _run(name, protocol, steps, seed=0, eval_limit=None, cl3=True, **opts) -> dict:
    from hyperweights.continual import ContinualConfig, evaluate_cl1, fit
    label = opts.pop("label", None) or name
    torch.manual_seed(seed)
    method = build_learner(name, protocol, steps=steps, **opts)
    tic = time.perf_counter()
    res = fit(method, protocol, ContinualConfig(steps=steps, batch_size=128, seed=seed, lr=method.lr,
                                                eval_limit=eval_limit, cl3=cl3, progress=False))
    wall = time.perf_counter() - tic
    row = {"method": label, "seed": seed,
           **res.extra["summary"], **(res.extra["cl3"] or {}), "train_s": round(res.seconds, 2),
           "wall_s": round(wall, 2), **{f"params_{k}": v for k, v in method.param_counts().items()},
           "acc": [[None if v != v else round(float(v), 4) for v in r] for r in res.extra["acc"].tolist()],
           "config": method.config()}
    if name == "hyperinterval":
        n = protocol.num_tasks
        u = evaluate_cl1(method, protocol, n, eval_limit,
                         logits_fn=lambda x, t: method.universal_logits(x, t, n))
        lo, up, _ = method.universal_box(n)
        row["universal_acc"] = round(float(u.mean()), 4)
        row["universal_per_task"] = [round(float(v), 4) for v in u]
        row["universal_box_width_mean"] = float((up - lo).mean())
    if name == "rnn_hnet":
        row["growth"] = method.growth_log
    return row


def _protocol(kind, dataset, smoke, data_dir=None, num_tasks=None, validation=None):
    from hyperweights.data.protocols import make_protocol
    limit = 2000 if smoke else None
    if validation:                       # validation = the held-out fraction of the training images
        from hyperweights.continual.validation import validation_protocol
        return validation_protocol(kind, dataset, fraction=validation, num_tasks=num_tasks,
                                   data_dir=data_dir, train_limit=limit)
    return make_protocol(kind, dataset, num_tasks=num_tasks, data_dir=data_dir, train_limit=limit)


def _compare(section, protocol, methods, steps, args, extra=None, repeats=1, eval_limit=None) -> dict:
    rows = []
    section = section + ("_val" if args.validation else "") + args.tag
    steps = args.steps or steps          # one budget for every learner of the section
    if args.methods:
        methods = [(n, o) for n, o in methods if o.get("label", n) in args.methods]
    for rep in range(args.first_seed, repeats):   # ours and the peer alternate within every repeat
        for name, opts in methods:
            if rep > args.first_seed and opts.get("label", name) not in args.repeat_methods:
                continue
            rows.append(_run(name, protocol, steps, seed=rep, eval_limit=eval_limit, **dict(opts)))
            print(f"  {section} {rows[-1]['method']:>14} seed {rep}: final {rows[-1]['final_avg']:.4f} "
                  f"forgetting {rows[-1]['forgetting']:.4f} train {rows[-1]['train_s']:.1f} s", flush=True)
    payload = {"protocol": protocol.name, "steps_per_task": steps, "batch": 128, "rows": rows,
               "threads": torch.get_num_threads(), "evaluated_on": "validation (held-out training images)"
               if args.validation else "test", **(extra or {})}
    ours = [r["train_s"] for r in rows if r["method"] == "hnet"]
    peer = [r["train_s"] for r in rows if r["method"] == "hypnettorch"]
    if ours and peer:
        payload["time_ratio_peer_over_hnet"] = [round(p / o, 3) for o, p in zip(ours, peer)]
        payload["time_ratio_median"] = statistics.median(payload["time_ratio_peer_over_hnet"])
    payload["goals"] = section_goals(section, rows)
    write_results(f"continual_{section}", payload)
    _plot_matrices(section, rows)
    return payload


def _plot_matrices(section, rows) -> None:
    import numpy as np
    plt = pyplot()
    seen, first = set(), []
    for r in rows:
        if r["method"] not in seen:
            seen.add(r["method"]), first.append(r)
    fig, axes = plt.subplots(1, len(first) + 1, figsize=(2.3 * (len(first) + 1), 2.6), dpi=80)
    for ax, r in zip(axes, first):
        a = np.array([[np.nan if v is None else v for v in row] for row in r["acc"]])
        ax.imshow(a, vmin=0.5, vmax=1.0, cmap="viridis")
        ax.set_title(f"{r['method']}\n{r['final_avg']:.3f}", fontsize=8)
        ax.set_xticks([]), ax.set_yticks([])
    ax = axes[-1]
    for r in first:
        a = np.array([[np.nan if v is None else v for v in row] for row in r["acc"]])
        ax.plot(np.nanmean(a, axis=0), label=r["method"])
    ax.set_ylim(0.4, 1.0), ax.set_xlabel("after task"), ax.set_title("avg acc so far", fontsize=8)
    ax.legend(fontsize=5)
    fig.tight_layout()
    fig.savefig(result_path(f"continual_{section}.png"))
    plt.close(fig)


def _speed(smoke: bool, args) -> dict:
    """Lockstep: every learner takes its step on the same batch, one after the other, each step
    timed; so machine noise hits all learners alike and the time ratio is fair."""
    from hyperweights.continual.curriculum import evaluate_cl1
    from hyperweights.continual.metrics import summarize
    p = _protocol("split", "digits" if smoke else "mnist5k", smoke)
    steps = 10 if smoke else 400
    variants = {"hnet": {}, "hnet_s2": {"subset": 2}, "hnet_s1": {"subset": 1}, "hypnettorch": {}}
    learners = {}
    for label, opts in variants.items():
        torch.manual_seed(0)
        learners[label] = build_learner(label.split("_")[0], p, steps=steps, **opts)
    draws = {k: torch.Generator().manual_seed(1) for k in learners}   # each learner's own draws
    acc = {k: torch.full((5, 5), float("nan")) for k in learners}
    # wall time, and this process's CPU time: on a shared machine the CPU time is not inflated by
    # the time the process waits for a core, so it is the steadier measure of the work each does
    spent, cpu = dict.fromkeys(learners, 0.0), dict.fromkeys(learners, 0.0)
    data = torch.Generator().manual_seed(0)

    def timed(k, fn, *args):
        tic, tic_cpu = time.perf_counter(), time.process_time()
        fn(*args)
        spent[k] += time.perf_counter() - tic
        cpu[k] += time.process_time() - tic_cpu
    for task in range(p.num_tasks):
        for k, m in learners.items():
            timed(k, m.begin_task, task, draws[k])
        for _ in range(steps):
            x, y = p.sample(task, 128, data)
            for k, m in learners.items():
                timed(k, m.step, task, x, y)
        for k, m in learners.items():
            m.end_task(task, p)
            acc[k][: task + 1, task] = evaluate_cl1(m, p, task + 1)
    rows = [{"method": k, **summarize(acc[k]), "train_s": round(spent[k], 2),
             "time_ratio_peer_over_this": round(spent["hypnettorch"] / spent[k], 3),
             "train_cpu_s": round(cpu[k], 2),
             "cpu_ratio_peer_over_this": round(cpu["hypnettorch"] / cpu[k], 3),
             "params_learner": learners[k].param_counts()["learner"],
             "acc": [[None if v != v else round(float(v), 4) for v in r] for r in acc[k].tolist()]}
            for k in learners]
    for r in rows:
        print(f"  speed {r['method']:>12}: final {r['final_avg']:.4f} train {r['train_s']:.1f} s, "
              f"cpu {r['train_cpu_s']:.1f} s (hypnettorch / this: wall {r['time_ratio_peer_over_this']}, "
              f"cpu {r['cpu_ratio_peer_over_this']})", flush=True)
    payload = {"protocol": p.name, "steps_per_task": steps, "batch": 128, "rows": rows,
               "what": "lockstep: same batches, steps of the learners alternate, each step timed"}
    write_results("continual_speed" + args.tag, payload)
    return payload


# -- cost studies --------------------------------------------------------------------------------
def _regcost(smoke: bool) -> dict:
    from hyperweights.data.protocols import make_protocol
    from benchmarks.peers.hnet import HypnettorchHNET, import_hypnettorch
    _, _, _, hreg = import_hypnettorch()
    sizes = {"mnist5k_chunk4096_h100x100": dict(dataset="mnist5k", chunk=4096, layers=(100, 100)),
             "small_digits_chunk1024_h25x25": dict(dataset="digits", chunk=1024, layers=(25, 25))}
    if smoke:
        sizes.pop("mnist5k_chunk4096_h100x100")
    ts = (1, 4) if smoke else (1, 8, 64)
    rows = []
    for label, s in sizes.items():
        base = make_protocol("permuted", s["dataset"], num_tasks=max(ts) + 1)
        for t in ts:
            torch.manual_seed(0)
            ours = build_learner("hnet", base, trunk_hidden=s["layers"], chunk_size=s["chunk"], chunk_emb=8)
            peer = HypnettorchHNET(base.num_features, 10, base.classes, emb_dim=32, chunk_emb=8,
                                   chunk_size=s["chunk"], layers=s["layers"])
            for task in range(t + 1):        # tasks begin in order; T earlier tasks protected
                ours.begin_task(task)
                peer.begin_task(task)
            opt_o, opt_p = ours.optimizer, peer.optimizer

            def step_ours():
                opt_o.zero_grad(set_to_none=True)
                ours.reg().backward()
                opt_o.step()

            def step_peer():
                opt_p.zero_grad(set_to_none=True)
                hreg.calc_fix_target_reg(peer.hnet, t, targets=peer._targets).backward()
                opt_p.step()
            with torch.no_grad():
                check_o = float(ours.reg())
            times = interleaved({"batched": step_ours, "hypnettorch": step_peer},
                                rounds=3 if smoke else 15, warmup=1 if smoke else 2)
            rows.append({"size": label, "T": t, "ours_ms": round(times["batched"], 2),
                         "hypnettorch_ms": round(times["hypnettorch"], 2),
                         "speedup": round(times["hypnettorch"] / times["batched"], 2),
                         "hnet_params_ours": hw.param_count(ours.hnet),
                         "hnet_params_peer": hw.param_count(peer.hnet),
                         "reg_value_at_start": check_o})
            print(f"  regcost {label} T={t}: ours {times['batched']:.1f} ms, hypnettorch "
                  f"{times['hypnettorch']:.1f} ms ({rows[-1]['speedup']}x)", flush=True)
    payload = {"rows": rows, "what": "median ms per step: regularizer forward+backward+fused Adam step "
               "over T earlier tasks (no task loss), interleaved rounds", "threads": torch.get_num_threads()}
    write_results("continual_regcost", payload)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4, 3), dpi=80)
    for label in sizes:
        r = [x for x in rows if x["size"] == label]
        ax.plot([x["T"] for x in r], [x["ours_ms"] for x in r], "o-", label=f"batched {label[:12]}")
        ax.plot([x["T"] for x in r], [x["hypnettorch_ms"] for x in r], "s--", label=f"hypnettorch {label[:12]}")
    ax.set_xscale("log"), ax.set_yscale("log"), ax.set_xlabel("earlier tasks T"), ax.set_ylabel("ms / step")
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(result_path("continual_regcost.png"))
    plt.close(fig)
    return payload


def _subset(smoke: bool) -> dict:
    p = _protocol("permuted", "digits" if smoke else "mnist5k", smoke, num_tasks=3 if smoke else 10)
    steps = 10 if smoke else 150
    rows = []
    for s in ((1, None) if smoke else (1, 3, None)):
        r = _run("hnet", p, steps, subset=s, cl3=False, eval_limit=None)
        r["subset"] = s if s is not None else p.num_tasks - 1
        rows.append(r)
        print(f"  subset S={r['subset']}: final {r['final_avg']:.4f} train {r['train_s']:.1f} s", flush=True)
    payload = {"protocol": p.name, "steps_per_task": steps, "rows": rows}
    write_results("continual_subset", payload)
    plt = pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(6, 2.6), dpi=80)
    ax[0].plot([r["subset"] for r in rows], [r["final_avg"] for r in rows], "o-")
    ax[0].set_xlabel("S (tasks regularized per step)"), ax[0].set_ylabel("final avg acc")
    ax[1].plot([r["subset"] for r in rows], [r["train_s"] for r in rows], "o-")
    ax[1].set_xlabel("S"), ax[1].set_ylabel("train s")
    fig.tight_layout()
    fig.savefig(result_path("continual_subset.png"))
    plt.close(fig)
    return payload


def _sparse_summary(acc) -> dict:
    """Metrics of an accuracy matrix evaluated only every k-th task (NaN columns elsewhere):
    final average; forgetting over the tasks evaluated before the end (best earlier minus final);
    and the mean accuracy of each such task at its first evaluation."""
    final = acc[:, -1]
    early = acc[:-1, :-1]
    seen = (~early.isnan()).any(dim=1)
    best = early.nan_to_num(-1.0).max(dim=1).values
    first = early.gather(1, (~early.isnan()).float().argmax(dim=1, keepdim=True))[:, 0]  # first evaluation
    values = {"final_avg": final.nanmean(), "forgetting_evaluated": (best - final[:-1])[seen].mean(),
              "first_eval_avg": first[seen].mean()}
    return {**{k: round(float(v), 6) for k, v in values.items()}, "tasks_evaluated_early": int(seen.sum())}


#: Permuted-100's HNET: selected on Permuted-100's validation split (--validation) among trunks
#: (100, 100) / (200, 200) and beta 0.05 / 0.15 / 0.5 (see docs/continual.md)
PERMUTED100_HNET = {"feature_scale": None, "trunk_hidden": (200, 200), "beta": 0.15}


def _permuted100(smoke: bool, args) -> dict:
    """HNET with snapshot targets (S = 8) first, memory probed at tasks 10, 50, 100 (the process's
    peak RSS is monotone, so the baselines run afterwards), then the baselines at the same budget."""
    from hyperweights.continual import ContinualConfig, fit
    n = 10 if smoke else 100
    steps = args.steps or (3 if smoke else 100)
    val = args.validation and args.validation_fraction
    p = _protocol("permuted", "digits" if smoke else "mnist5k", smoke, num_tasks=n, validation=val)
    probes = {}
    marks = {10, 50, 100, n}

    def probe(task, result):
        if task + 1 in marks:
            probes[task + 1] = {"peak_rss_mb": round(_peak_rss_mb(), 1),
                                "current_rss_mb": round(_current_rss_mb(), 1),
                                "train_s": round(result.seconds, 1)}
            print(f"  permuted{n} after task {task + 1}: {probes[task + 1]}", flush=True)
    rows, payload = [], {}
    names = ["hnet", "separate", "finetune"]
    for name in names if args.methods is None else [m for m in names if m in args.methods]:
        torch.manual_seed(0)
        opts = dict(PERMUTED100_HNET, targets="snapshot", subset=8) if name == "hnet" else {}
        if name == "hnet" and args.p100_beta is not None:
            opts["beta"] = args.p100_beta
        if name == "hnet" and args.p100_trunk is not None:
            opts["trunk_hidden"] = tuple(args.p100_trunk)
        method = build_learner(name, p, steps=steps, **opts)
        config = ContinualConfig(steps=steps, batch_size=128, seed=0, lr=method.lr, progress=False,
                                 eval_every=10 if not smoke else 5, eval_limit=200)
        res = fit(method, p, config, on_task_end=probe if name == "hnet" else None)
        acc = res.extra["acc"]
        rows.append({"method": name, **_sparse_summary(acc),
                     "train_s": round(res.seconds, 1), "param_counts": method.param_counts(),
                     "acc_final_column": [round(float(v), 4) for v in acc[:, -1]],
                     "config": method.config()})
        print(f"  permuted{n} {name}: final {rows[-1]['final_avg']:.4f} train {rows[-1]['train_s']} s", flush=True)
        if name == "hnet":
            payload = {"targets": "snapshot", "subset": 8, "rss": probes, **rows[-1],
                       "embedding_bytes_per_task": method.hnet.condition.out_dim * 4,
                       "stored_targets_bytes_per_task": method.hnet.specs.total * 4}
    payload = {"protocol": p.name, "steps_per_task": steps, "eval_limit": 200, **payload, "rows": rows}
    write_results("continual_permuted100" + ("_val" if val else "") + args.tag, payload)
    return payload


def _sweep(smoke: bool) -> dict:
    """Seed-to-seed spread vs configuration differences on Split-MNIST-5k (5 seeds each)."""
    seeds = range(2 if smoke else 5)
    steps = 5 if smoke else 400
    dataset = "digits" if smoke else "mnist5k"
    splits = {"validation": (_protocol("split", dataset, smoke, validation=0.2), SWEEP),
              "test": (_protocol("split", dataset, smoke), SWEEP_TEST)}
    payload = {"protocol": f"split_{dataset}", "steps_per_task": steps, "batch": 128, "seeds": list(seeds)}
    for split, (p, configs) in splits.items():
        rows = [{**_run("hnet", p, steps, seed=seed, cl3=False, **opts), "label": label}
                for label, opts in configs.items() for seed in seeds]
        per = {label: [r["final_avg"] for r in rows if r["label"] == label] for label in configs}
        payload[split] = {label: {"per_seed": v, "mean": round(statistics.mean(v), 5),
                                  "sd": round(statistics.stdev(v), 5)} for label, v in per.items()}
        payload[f"{split}_rows"] = rows
        for label, v in payload[split].items():
            print(f"  sweep {split} {label:>10}: {v['per_seed']} mean {v['mean']}", flush=True)
    write_results("continual_split_mnist5k_sweep", payload)
    return payload


def main(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    sections = args.only or list(SECTIONS)
    smoke = args.smoke
    if smoke and args.only is None:
        sections = ["split_mnist5k", "regcost", "subset", "permuted100"]
    out = {}
    val = args.validation and args.validation_fraction      # held-out share, or False: the test set
    ours = {}       # the core default feature_scale (benchmarks/continual/defaults.py measured it)
    mnist_methods = [("hnet", ours), ("hypnettorch", {}), ("finetune", {}), ("ewc", {}), ("separate", {}),
                     ("joint", {}), ("hyperinterval", ours), ("rnn_hnet", ours)]
    if "split_mnist5k" in sections:
        p = _protocol("split", "digits" if smoke else "mnist5k", smoke, validation=val)
        steps = 10 if smoke else 400
        methods = mnist_methods if not smoke else [("hnet", ours), ("hypnettorch", {}), ("finetune", {}),
                                                   ("separate", {}), ("hyperinterval", ours)]
        out["split_mnist5k"] = _compare("split_mnist5k", p, methods, steps, args,
                                        repeats=1 if smoke else args.repeats)
    if "speed" in sections:
        out["speed"] = _speed(smoke, args)
    if "split_fashion" in sections:
        p = _protocol("split", "fashion_mnist", smoke, data_dir=args.data_dir, validation=val)
        steps = 20 if smoke else 500
        methods = [("hnet", ours), ("hypnettorch", {}), ("separate", {}), ("finetune", {}), ("ewc", {}),
                   ("joint", {}), ("hyperinterval", ours),
                   ("hyperinterval", {**ours, "nesting": True, "label": "hyperinterval_nested"})]
        out["split_fashion"] = _compare("split_fashion", p, methods, steps, args, eval_limit=None,
                                        repeats=1 if smoke else args.repeats)
    if "permuted_fashion" in sections:
        p = _protocol("permuted", "fashion_mnist", smoke, data_dir=args.data_dir, validation=val)
        steps = 20 if smoke else 300
        # Permuted: a stronger regularizer (von Oswald et al. use 0.05-0.1 on PermutedMNIST).
        # "hnet" is the configuration selected on the validation split (--validation: held-out
        # training images) among the hnet_* rows below; EWC's lambda likewise among ewc*.
        auto = {"feature_scale": None}                       # core default 1/sqrt(d_h)
        wide = {**auto, "trunk_hidden": (100, 100)}
        methods = [("hnet", {"beta": 0.05, **wide}),
                   ("hnet", {"beta": 0.05, **auto, "label": "hnet_auto_h32"}),
                   ("hnet", {"beta": 0.05, "feature_scale": 1.0, "label": "hnet_fs1"}),   # earlier default
                   ("hnet", {"beta": 0.01, **wide, "label": "hnet_beta0.01"}),
                   ("hnet", {"beta": 0.02, **wide, "label": "hnet_beta0.02"}),
                   ("hnet", {"beta": 0.1, **wide, "label": "hnet_beta0.1"}),
                   ("hnet", {"beta": 0.05, **wide, "emb_dim": 64, "chunk_emb": 64, "label": "hnet_e64"}),
                   ("hnet", {"beta": 0.05, **auto, "trunk_hidden": (200, 200), "label": "hnet_h200"}),
                   ("separate", {}), ("finetune", {}), ("joint", {}),
                   ("ewc", {"ewc_lambda": 10.0}), ("ewc", {"ewc_lambda": 1e2, "label": "ewc_l100"}),
                   ("ewc", {"ewc_lambda": 1e3, "label": "ewc_l1000"}),
                   ("ewc", {"ewc_lambda": 1e4, "label": "ewc_l10000"})]
        out["permuted_fashion"] = _compare("permuted_fashion", p, methods, steps, args, eval_limit=2000,
                                           repeats=1 if smoke else args.repeats)
    if "regcost" in sections:
        out["regcost"] = _regcost(smoke)
    if "subset" in sections:
        out["subset"] = _subset(smoke)
    if "permuted100" in sections:
        out["permuted100"] = _permuted100(smoke, args)
    if "sweep" in sections:
        out["sweep"] = _sweep(smoke)
    for name, payload in out.items():
        if "rows" in payload and "size" not in payload["rows"][0]:
            cols = [c for c in ("method", "seed", "final_avg", "bwt", "forgetting", "cl3_acc",
                                "universal_acc", "train_s", "params_learner") if any(c in r for r in payload["rows"])]
            print(f"\n{name}\n" + markdown_table(payload["rows"], cols))
        elif "rows" in payload:
            print(f"\n{name}\n" + markdown_table(payload["rows"], ["size", "T", "ours_ms", "hypnettorch_ms", "speedup"]))
    return 0
