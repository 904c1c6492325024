"""Training a zoo: ``K`` small networks of one architecture, each on its own task, in one batched call.

Member ``k`` is the target initialised under ``torch.manual_seed(seeds[k])`` (or given initial
weights) and trained with Adam on minibatches of its task drawn by a generator seeded with
``seeds[k]``; :func:`train_zoo` runs all members together: the weights are ``(K, *shape)`` tensors,
each step gathers a ``(K, b, D)`` batch (every member from its own task) and runs the target once
with per-sample weight sets (the core's ``W == B`` rule, :func:`hyperweights.functional_forward`,
which runs an MLP target as one ``baddbmm`` per layer), and the loss is the sum of the members'
mean losses, so each member's gradient is its own; one fused Adam updates the stacked weights.
:func:`train_one` is the same recipe for a single plain ``nn.Module`` (the one-at-a-time
reference: equal results for equal seeds, up to float rounding).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..optim import make_optimizer
from ..targets import functional_forward
from ..training import FitResult, TrainConfig, config_field, train_loop
from .tasks import TaskSet
from .vectorize import spec_table

__all__ = ["ZooConfig", "init_members", "batch_schedule", "train_zoo", "train_one", "member_accuracy",
           "accuracy_after_steps"]


@dataclass
class ZooConfig(TrainConfig):
    """Training of every zoo member (Adam, constant learning rate)."""

    lr: float = config_field(1e-2, "learning rate of every member's Adam")
    batch_size: int = config_field(64, "images per member per step")
    steps: int = config_field(200, "optimizer steps per member")
    eval_chunk: int = config_field(128, "members scored per batched call in member_accuracy")

    def validate(self) -> None:
        super().validate()
        self.positive_int("steps", allow_zero=True)
        self.positive_int("eval_chunk")


def init_members(target: nn.Module, seeds) -> dict[str, Tensor]:
    """``{name: (K, *shape)}``: the target's own initialisation under each seed.

    The global RNG is left as it was. This is one ``reset_parameters`` pass per member over a
    single copy of the target (setup, not training), because the target's ``reset_parameters``
    define its initialisation.

    Example:
        >>> w = init_members(nn.Linear(3, 2), [0, 1, 0])
        >>> w["weight"].shape, torch.equal(w["weight"][0], w["weight"][2])
        (torch.Size([3, 2, 3]), True)
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("init_members needs at least one seed")
    names = spec_table(target).names
    clone = copy.deepcopy(target)
    params = dict(clone.named_parameters())
    resets = [m.reset_parameters for m in clone.modules() if hasattr(m, "reset_parameters")]
    on_cpu = all(p.device.type == "cpu" for p in params.values())
    # the CPU generator alone is what a CPU target's reset_parameters draws from (torch.manual_seed
    # also seeds every accelerator, a cost that dominated this loop)
    seed_all = torch.random.default_generator.manual_seed if on_cpu else torch.manual_seed
    members = []
    with torch.random.fork_rng(devices=[]):
        for seed in seeds:
            seed_all(seed)
            for reset in resets:
                reset()
            members.append([params[n].detach().clone() for n in names])
    return {n: torch.stack([m[i] for m in members]) for i, n in enumerate(names)}


def batch_schedule(seeds, rows: int, steps: int, batch_size: int) -> Tensor:
    """``(K, steps, b)`` minibatch positions: member ``k``'s from a generator seeded ``seeds[k]``,
    so a member draws the same batches alone or in a zoo (one draw per member, at setup)."""
    return torch.stack([torch.randint(0, rows, (steps, batch_size),
                                      generator=torch.Generator().manual_seed(int(s)))
                        for s in seeds])


class _Members(nn.Module):
    """The zoo's ``(K, *shape)`` weight tensors as parameters (what the optimizer and the
    checkpoint of :func:`train_loop` see)."""

    def __init__(self, names: list[str], weights: dict[str, Tensor]):
        super().__init__()
        self.names = names
        self.tensors = nn.ParameterList([nn.Parameter(weights[n].detach().clone()) for n in names])

    def as_dict(self) -> dict[str, Tensor]:
        return dict(zip(self.names, self.tensors))


def _check(target: nn.Module, tasks: TaskSet, task_ids: Tensor, seeds) -> None:
    if not isinstance(target, nn.Module):
        raise TypeError(f"train_zoo needs the target nn.Module, got {type(target).__name__}")
    if not isinstance(tasks, TaskSet):
        raise TypeError(f"train_zoo needs a zoo.TaskSet (see zoo.class_subset_tasks), got "
                        f"{type(tasks).__name__}")
    if len(seeds) != len(task_ids):
        raise ValueError(f"one seed per member: {len(task_ids)} task ids but {len(seeds)} seeds")


def train_zoo(target: nn.Module, tasks: TaskSet, task_ids, seeds, config: ZooConfig, *,
              init: dict[str, Tensor] | None = None) -> tuple[dict[str, Tensor], FitResult]:
    """Train ``K = len(task_ids)`` members at once, member ``k`` on task ``task_ids[k]``.

    Args:
        target: the architecture (an ``nn.Module``; not modified). Its output width must be the
            tasks' number of classes.
        tasks: the tasks (:func:`class_subset_tasks`).
        task_ids: ``K`` task indices (repeat one to train several seeds on it).
        seeds: ``K`` integers: initialisation (unless ``init``) and data order of each member.
        config: steps, learning rate, batch size, device.
        init: ``{name: (K, *shape)}`` starting weights (e.g. generated ones to fine-tune).

    Returns:
        ``(weights {name: (K, *shape)}, FitResult)``; the loss per step is the sum over members.

    Example:
        >>> from hyperweights.data import Split
        >>> from hyperweights.zoo import class_subset_tasks
        >>> split = Split(torch.randn(90, 4), torch.arange(90) % 3, torch.randn(30, 4), torch.arange(30) % 3)
        >>> tasks = class_subset_tasks(split, 2, train_per_class=10, test_per_class=5)
        >>> cfg = ZooConfig(steps=5, batch_size=8, progress=False)
        >>> weights, _ = train_zoo(nn.Linear(4, 2), tasks, [0, 1, 2], [0, 0, 1], cfg)
        >>> weights["weight"].shape
        torch.Size([3, 2, 4])
    """
    config.validate()
    task_ids = torch.as_tensor(task_ids, dtype=torch.long).reshape(-1)
    seeds = [int(s) for s in seeds]
    _check(target, tasks, task_ids, seeds)
    device = torch.device(config.device)
    names = spec_table(target).names
    start = init_members(target, seeds) if init is None else init
    members = _Members(names, start).to(device)
    target = copy.deepcopy(target).to(device)        # its non-generated state stays untouched
    x_all, y_all = tasks.train_batch(task_ids)       # (K, n, D), (K, n)
    x_all, y_all = x_all.to(device), y_all.to(device)
    k, n = y_all.shape
    schedule = batch_schedule(seeds, n, config.steps, config.batch_size).to(device)
    # positions in the flattened (K * n) rows: one index_select per step gathers every member's
    # batch (several times cheaper on CPU than advanced indexing with two index tensors)
    schedule += torch.arange(k, device=device)[:, None, None] * n
    x_flat, y_flat = x_all.reshape(k * n, -1), y_all.reshape(-1)

    def step(i: int) -> Tensor:
        rows = schedule[:, i].reshape(-1)                                 # (K * b,)
        x = x_flat.index_select(0, rows).view(k, config.batch_size, -1)   # (K, b, D)
        logits = functional_forward(target, members.as_dict(), x)         # (K, b, C)
        # the sum over members of each member's mean loss
        return F.cross_entropy(logits.flatten(0, 1), y_flat.index_select(0, rows),
                               reduction="sum") / config.batch_size

    result = train_loop(step, make_optimizer(members.parameters(), config.lr), config,
                        total_steps=config.steps, model=members,
                        settings={**config.settings(), "members": len(seeds)},
                        desc=f"zoo of {len(seeds)}")
    return {n: t.detach() for n, t in members.as_dict().items()}, result


def train_one(target: nn.Module, x: Tensor, y: Tensor, seed: int, config: ZooConfig, *,
              init: dict[str, Tensor] | None = None) -> nn.Module:
    """The one-at-a-time reference: a copy of ``target`` initialised under ``seed`` (or from
    ``init``, one weight set ``{name: (1, *shape)}``), trained on ``x: (n, D)``, ``y: (n,)`` with
    the batches :func:`batch_schedule` gives ``seed``; returns the trained copy."""
    config.validate()
    start = init_members(target, [seed]) if init is None else init
    net = copy.deepcopy(target).to(config.device)
    with torch.no_grad():
        for name, param in net.named_parameters():
            if name in start:
                param.copy_(start[name][0])
    x, y = x.to(config.device), y.to(config.device)
    schedule = batch_schedule([seed], len(x), config.steps, config.batch_size)[0].to(config.device)
    optimizer = make_optimizer(net.parameters(), config.lr)
    for i in range(config.steps):
        rows = schedule[i]
        loss = F.cross_entropy(net(x[rows]), y[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return net


@torch.no_grad()
def member_accuracy(target: nn.Module, weights: dict[str, Tensor], x: Tensor, y: Tensor,
                    chunk: int = 128) -> Tensor:
    """``(K,)`` accuracy of member ``k`` on its own data ``x[k]: (m, D)``, ``y[k]: (m,)``.

    Members are scored ``chunk`` at a time (one batched call each) to bound memory.

    Example:
        >>> w = init_members(nn.Linear(4, 2), [0, 1])
        >>> member_accuracy(nn.Linear(4, 2), w, torch.randn(2, 6, 4), torch.zeros(2, 6, dtype=torch.long)).shape
        torch.Size([2])
    """
    if x.ndim < 3 or y.shape != x.shape[:2]:
        raise ValueError(f"member_accuracy takes x (K, m, D) and y (K, m); got {tuple(x.shape)}, "
                         f"{tuple(y.shape)}")
    scores = []
    for lo in range(0, x.shape[0], chunk):            # chunks bound memory; each is one call
        part = {n: w[lo:lo + chunk] for n, w in weights.items()}
        logits = functional_forward(target, part, x[lo:lo + chunk])
        scores.append((logits.argmax(-1) == y[lo:lo + chunk]).float().mean(1))
    return torch.cat(scores)


def accuracy_after_steps(target: nn.Module, tasks: TaskSet, task_ids, init: dict[str, Tensor],
                         steps=(0, 5, 25), config: ZooConfig | None = None, seeds=None) -> dict[int, Tensor]:
    """Test accuracy of starting weights after each fine-tuning budget, all members at once.

    Args:
        target, tasks: as for :func:`train_zoo`; task_ids: ``K`` tasks, one per starting set.
        init: ``{name: (K, *shape)}`` starting weights (generated, transferred or random).
        steps: fine-tuning budgets; ``0`` scores ``init`` as it is.
        config: the fine-tuning recipe (``steps`` is replaced by each budget); default ZooConfig().
        seeds: data order per member (default ``0..K-1``).

    Returns:
        ``{budget: (K,) test accuracy}``.

    Example:
        >>> from hyperweights.data import Split
        >>> from hyperweights.zoo import class_subset_tasks
        >>> split = Split(torch.randn(60, 4), torch.arange(60) % 2, torch.randn(20, 4), torch.arange(20) % 2)
        >>> tasks = class_subset_tasks(split, 2, train_per_class=10, test_per_class=5)
        >>> start = init_members(nn.Linear(4, 2), [0])
        >>> sorted(accuracy_after_steps(nn.Linear(4, 2), tasks, [0], start, (0, 3),
        ...                             ZooConfig(progress=False)))
        [0, 3]
    """
    config = ZooConfig(progress=False) if config is None else config
    task_ids = torch.as_tensor(task_ids, dtype=torch.long).reshape(-1)
    seeds = list(range(len(task_ids))) if seeds is None else list(seeds)
    x_test, y_test = tasks.test_batch(task_ids)
    x_test, y_test = x_test.to(config.device), y_test.to(config.device)
    out = {}
    for budget in steps:
        weights = init
        if budget:
            cfg = dataclasses.replace(config, steps=int(budget))
            weights, _ = train_zoo(target, tasks, task_ids, seeds, cfg, init=init)
        out[int(budget)] = member_accuracy(target, {n: w.to(config.device) for n, w in weights.items()},
                                           x_test, y_test, config.eval_chunk).cpu()
    return out
