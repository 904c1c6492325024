"""``hyperweights demo``: a tour of the design axes on scikit-learn's digits, in under two minutes.

The 10 digit classes are split into 5 two-class tasks (0/1, 2/3, ...). Every configuration learns
all five tasks jointly (each step draws one task) and is evaluated on each task's test rows:

- task-conditioned hypernetworks with each output strategy (Full, Chunked, PerLayer, LowRank),
  MIP on and off, and a recurrent (dependency-preserving) trunk;
- a data-conditioned model whose per-sample weights come from an encoder of the image (no task id);
- a noise-conditioned implicit ensemble (task embedding + noise, K members in one call);
- next to plain MLPs of the target's architecture, one per task.

Writes ``results/demo.json`` and ``results/demo.png``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

import hyperweights as hw

from .bench import interleaved, markdown_table, write_results
from .bench.report import result_path
from .cli import positive_int

NUM_TASKS = 5
HIDDEN = 64


def add_arguments(parser) -> None:
    parser.add_argument("--steps", type=positive_int, default=300, help="training steps per configuration")
    parser.add_argument("--batch", type=positive_int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="a few steps only (for tests)")


def target_mlp(features: int) -> nn.Sequential:
    return hw.mlp((features, HIDDEN, 2))


@dataclass
class Config:
    """One row of the demo: how to build it and how it maps (x, task) to logits."""

    name: str
    params: int
    target_params: int
    logits: object                 # (x, task) -> (B, 2) logits (members averaged in probability)
    loss: object                   # (x, y, task) -> scalar
    parameters: list = field(default_factory=list)


def _hyper(name, features, condition, *, head=None, trunk=None, mip=False) -> Config:
    target = target_mlp(features)
    hnet = hw.HyperNetwork(target, condition=condition, head=head, trunk=trunk,
                           parametrization=hw.MIP() if mip else None)
    model = hw.HyperModel(target, hnet)
    logits = lambda x, t: model(x, t)  # noqa: E731
    return Config(name, hw.param_count(hnet), hnet.specs.total, logits,
                  lambda x, y, t: F.cross_entropy(logits(x, t), y), model.trainable_parameters())


def _data_conditioned(features) -> Config:
    target = target_mlp(features)
    encoder = nn.Sequential(nn.Linear(features, 32), nn.ReLU(), nn.Linear(32, 16))
    hnet = hw.HyperNetwork(target, condition=hw.DataCondition(encoder), head=hw.ChunkedHead(512))
    model = hw.HyperModel(target, hnet)
    logits = lambda x, t: model(x, x)  # noqa: E731  # per-sample weights from the image itself
    return Config("data-conditioned, per-sample weights (no task id)",
                  hw.param_count(hnet), hnet.specs.total, logits,
                  lambda x, y, t: F.cross_entropy(logits(x, t), y), model.trainable_parameters())


def _noise_ensemble(features, members=8) -> Config:
    target = target_mlp(features)
    condition = hw.Concat(hw.TaskEmbedding(NUM_TASKS, 16), hw.NoiseCondition(8))
    hnet = hw.HyperNetwork(target, condition=condition, head=hw.ChunkedHead(512))
    model = hw.HyperModel(target, hnet)

    def member_logits(x, t):                      # (K, B, 2): one vmapped call for all members
        return model.ensemble(x, (t, members))

    def logits(x, t):
        return member_logits(x, t).softmax(-1).mean(0).log()

    def loss(x, y, t):                            # expected loss over the sampled members
        out = member_logits(x, t)
        return F.cross_entropy(out.reshape(-1, 2), y.repeat(members))

    return Config(f"noise-conditioned ensemble (K={members}, one call)",
                  hw.param_count(hnet), hnet.specs.total, logits, loss,
                  model.trainable_parameters())


def _plain(features) -> Config:
    nets = nn.ModuleList(target_mlp(features) for _ in range(NUM_TASKS))
    logits = lambda x, t: nets[t](x)  # noqa: E731
    return Config("plain MLP, one per task", hw.param_count(nets),
                  hw.param_count(nets[0]), logits,
                  lambda x, y, t: F.cross_entropy(logits(x, t), y), list(nets.parameters()))


def build_configs(features: int) -> list[Config]:
    task = lambda: hw.TaskEmbedding(NUM_TASKS, 16)  # noqa: E731
    return [
        _plain(features),
        _hyper("task -> MLP -> FullHead", features, task(), head=hw.FullHead()),
        _hyper("task -> MLP -> ChunkedHead(512)", features, task(), head=hw.ChunkedHead(512)),
        _hyper("task -> MLP -> ChunkedHead(512) + MIP", features, task(), head=hw.ChunkedHead(512), mip=True),
        _hyper("task -> MLP -> PerLayerHead", features, task(), head=hw.PerLayerHead()),
        _hyper("task -> MLP -> LowRankHead(4)", features, task(), head=hw.LowRankHead(4)),
        _hyper("task -> MLP -> LowRankHead(4) + MIP", features, task(), head=hw.LowRankHead(4), mip=True),
        _hyper("task -> RNNTrunk(GRU) -> ChunkedHead(512)", features, task(),
               head=hw.ChunkedHead(512), trunk=hw.RNNTrunk(64)),
        _data_conditioned(features),
        _noise_ensemble(features),
    ]


def split_tasks(split):
    """Digits -> 5 tasks of 2 classes with labels 0/1: ``[(x_tr, y_tr, x_te, y_te), ...]``."""
    tasks = []
    for t in range(NUM_TASKS):
        tr = (split.y_train // 2) == t
        te = (split.y_test // 2) == t
        tasks.append((split.x_train[tr], split.y_train[tr] % 2, split.x_test[te], split.y_test[te] % 2))
    return tasks


class _Trainer:
    def __init__(self, config: Config, tasks, batch: int, seed: int):
        self.c, self.tasks, self.batch = config, tasks, batch
        self.opt = hw.make_optimizer(config.parameters, lr=3e-3)
        self.g = torch.Generator().manual_seed(seed)

    def step(self) -> None:
        t = int(torch.randint(NUM_TASKS, (1,), generator=self.g))
        x, y = self.tasks[t][0], self.tasks[t][1]
        idx = torch.randint(len(x), (self.batch,), generator=self.g)
        self.opt.zero_grad()
        self.c.loss(x[idx], y[idx], t).backward()
        self.opt.step()

    @torch.no_grad()
    def accuracy(self) -> float:
        accs = [(self.c.logits(x, t).argmax(1) == y).float().mean().item()
                for t, (_, _, x, y) in enumerate(self.tasks)]
        return sum(accs) / len(accs)


def _plot(rows, path) -> None:
    from .bench.plotting import pyplot
    plt = pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    names = [r["config"] for r in rows]
    colors = ["#888888"] + ["#4c72b0"] * (len(rows) - 1)
    a1.barh(names, [r["accuracy"] for r in rows], color=colors)
    a1.set_xlim(min(r["accuracy"] for r in rows) - 0.05, 1.0)
    a1.set_xlabel("mean test accuracy over the 5 tasks")
    a2.barh(names, [r["step_x_plain"] for r in rows], color=colors)
    a2.set_xlabel("training step time / plain MLP step")
    a1.invert_yaxis()
    fig.suptitle("hyperweights demo: scikit-learn digits as 5 two-class tasks")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(args) -> int:
    from tqdm import tqdm

    from .data import load_digits
    if args.smoke:
        args.steps = min(args.steps, 5)
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    tasks = split_tasks(load_digits(seed=args.seed))
    configs = build_configs(tasks[0][0].shape[1])
    trainers = [_Trainer(c, tasks, args.batch, args.seed) for c in configs]
    for trainer in tqdm(trainers, desc="configurations", unit="config"):
        for _ in tqdm(range(args.steps), desc=trainer.c.name[:40], leave=False, disable=None):
            trainer.step()
    times = interleaved({t.c.name: t.step for t in trainers}, rounds=5 if args.smoke else 20, warmup=2)
    plain_ms = times[configs[0].name]
    rows = [{"config": t.c.name, "hypernet_params": t.c.params, "target_params": t.c.target_params,
             "accuracy": t.accuracy(), "step_ms": times[t.c.name],
             "step_x_plain": times[t.c.name] / plain_ms} for t in trainers]
    rows[0]["hypernet_params"] = 0
    print(markdown_table(rows))
    path = write_results("demo_smoke" if args.smoke else "demo",
                         {"steps": args.steps, "batch": args.batch, "seed": args.seed, "rows": rows,
                          "wall_s": time.perf_counter() - start})
    png = result_path("demo_smoke.png" if args.smoke else "demo.png")
    _plot(rows, png)
    print(f"wrote {path} and {png} in {time.perf_counter() - start:.0f} s")
    return 0
