"""HNET: a task-conditioned hypernetwork protected by the output regularizer (von Oswald et al. 2020).

References:
    von Oswald, Henning, Sacramento, Grewe. Continual learning with hypernetworks. ICLR 2020,
    https://arxiv.org/abs/1906.00695
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vmap

import hyperweights as hw

from .base import ContinualMethod
from .fisher import fisher_diagonal
from .regularizer import OutputRegularizer, adam_lookahead, head_masks

__all__ = ["HNET", "paired_forward"]


def paired_forward(target: nn.Module, weights: dict[str, Tensor], x: Tensor) -> Tensor:
    """Weight set ``k`` applied to inputs ``x[k]``: ``{name: (K, ...)}``, ``(K, N, D) -> (K, N, O)``.

    One plain call when ``K == 1``, one :func:`torch.func.vmap` call otherwise.

    Example:
        >>> net = nn.Linear(3, 2)
        >>> w = {"weight": torch.randn(4, 2, 3), "bias": torch.zeros(4, 2)}
        >>> paired_forward(net, w, torch.randn(4, 5, 3)).shape
        torch.Size([4, 5, 2])
    """
    if x.shape[0] == 1:
        return hw.functional_forward(target, weights, x[0])[None]
    return vmap(lambda w, xi: functional_call(target, w, (xi,)))(weights, x)


@hw.checkpointable("continual.HNET")
class HNET(ContinualMethod):
    """Task-embedding hypernetwork + output regularizer.

    Args:
        target: the network whose weights are generated (e.g. ``hw.mlp((784, 100, 100, 10))``).
        classes: ``(T, C)`` output units of each task.
        emb_dim: task-embedding width.
        trunk, head: hypernetwork parts (default ``MLP((100, 100))`` and ``ChunkedHead(4096, 16)``).
        parametrization: ``None`` or :class:`~hyperweights.MIP` (``theta0 + delta theta(e)``).
        beta: regularizer strength (hypnettorch's ``beta``).
        targets: ``"stored"`` or ``"snapshot"`` (see :class:`OutputRegularizer`).
        subset: regularize a random subset of this many earlier tasks per step.
        lookahead: evaluate the regularizer at ``phi + dphi`` (Adam's step on the task loss alone).
        mask_heads: regularize shared weights + each task's own output units only.
        fisher: weight the regularizer by the target weights' diagonal Fisher (estimated on
            ``fisher_samples`` training images at the end of each task).
        lr: Adam learning rate.
        feature_scale: factor on the trunk's features before the head (see
            :class:`~hyperweights.HyperNetwork`); ``None`` = the core default ``1/sqrt(d_h)``,
            ``1.0`` = unscaled features. Recorded (resolved) in :meth:`config`, so a checkpoint
            written with one scale cannot be resumed with another.
        warm_start: start each new task's embedding from the previous task's (so its generated
            network starts as the previous task's solution) instead of the random initial one.
        train_past_embeddings: also let the optimizer move the earlier tasks' embeddings (through
            the regularizer's gradient). Off = the paper's method (only the current task's
            embedding is optimised); on was 0.75 points better on Permuted-10 Fashion-MNIST
            (3 of 3 seeds) and no different on Split-MNIST-5k (docs/continual.md).

    Example:
        >>> learner = HNET(hw.mlp((8, 16, 4)), [[0, 1], [2, 3]], emb_dim=8,
        ...                trunk=hw.MLP((16,)), head=hw.ChunkedHead(64, 4))
        >>> learner.begin_task(0)
        >>> learner.step(0, torch.randn(5, 8), torch.tensor([0, 1, 1, 0, 1])) > 0
        True
        >>> learner.task_logits(torch.randn(2, 5, 8), torch.tensor([0, 1])).shape
        torch.Size([2, 5, 2])
    """

    name = "hnet"

    def __init__(self, target: nn.Module, classes: Tensor, *, emb_dim: int = 32,
                 trunk: hw.Trunk | None = None, head: hw.Head | None = None, beta: float = 0.01,
                 targets: str = "stored", subset: int | None = None, lookahead: bool = False,
                 mask_heads: bool = False, fisher: bool = False, fisher_samples: int = 200,
                 parametrization: hw.MIP | None = None, lr: float = 1e-3,
                 feature_scale: float | None = None, warm_start: bool = False,
                 train_past_embeddings: bool = False):
        super().__init__(classes, lr)
        self.check_outputs(target)
        self.target = target
        self.hnet = hw.HyperNetwork(
            target, condition=hw.TaskEmbedding(self.num_tasks, emb_dim),
            trunk=trunk if trunk is not None else hw.MLP((100, 100)),
            head=head if head is not None else hw.ChunkedHead(4096, 16),
            parametrization=parametrization, feature_scale=feature_scale)
        self.beta, self.lookahead, self.fisher_samples = beta, lookahead, fisher_samples
        self._settings = {"emb_dim": emb_dim, "beta": beta, "targets": targets, "subset": subset,
                          "lookahead": lookahead, "mask_heads": mask_heads, "fisher": fisher,
                          "feature_scale": self.hnet.feature_scale, "warm_start": warm_start}
        self.warm_start = warm_start
        mask = None
        if mask_heads:
            last = [s for s in self.hnet.specs if s.layer == self.hnet.specs.layers[-1]]
            weight = next(s.name for s in last if s.is_matrix)
            bias = next((s.name for s in last if not s.is_matrix), None)
            mask = head_masks(self.hnet.specs, self.classes, weight, bias)
        self.reg = OutputRegularizer(self.hnet, self.num_tasks, mode=targets, subset=subset,
                                     mask=mask, fisher=fisher, generator=self.generator)
        self._freeze = None
        self.init_args = {"emb_dim": emb_dim, "beta": beta, "targets": targets, "subset": subset,
                          "lookahead": lookahead, "mask_heads": mask_heads, "fisher": fisher,
                          "fisher_samples": fisher_samples, "lr": lr, "feature_scale": feature_scale,
                          "warm_start": warm_start, "train_past_embeddings": train_past_embeddings}
        if train_past_embeddings:      # recorded in config() only when on: older configs stay equal
            self._settings["train_past_embeddings"] = True
        self.train_past_embeddings = train_past_embeddings
        self.init_parts = {"trunk": self.hnet.trunk, "head": self.hnet.head,
                           "parametrization": self.hnet.parametrization}

    def trainable(self, task: int) -> list[nn.Parameter]:
        return [p for p in self.hnet.parameters() if p.requires_grad]

    def begin_task(self, task: int, generator: torch.Generator | None = None) -> None:
        self.check_begin(task)
        self.reg.generator = generator if generator is not None else self.generator
        self.reg.protect(task)
        if self.warm_start and task > 0:
            with torch.no_grad():
                table = self.hnet.condition.weight
                table[task] = table[task - 1]
        self._freeze_other_embeddings(task)
        super().begin_task(task, generator)

    def _freeze_other_embeddings(self, task: int) -> None:
        """Keep only row ``task`` of the embedding table's gradient (von Oswald et al.: only the
        current task's embedding is optimised, the others "stay constant"). The regularizer's
        gradient reaches the earlier rows; with their gradient zero in a fresh Adam their moments
        stay zero, so Adam leaves them exactly unchanged."""
        if self._freeze is not None:
            self._freeze.remove()
            self._freeze = None
        if self.train_past_embeddings:
            return
        table = self.hnet.condition.weight
        keep = torch.zeros(table.shape[0], 1, dtype=table.dtype, device=table.device)
        keep[task] = 1.0
        self._freeze = table.register_hook(lambda grad: grad * keep)

    def task_logits(self, x: Tensor, tasks: Tensor) -> Tensor:
        return self._local(paired_forward(self.target, self.hnet(tasks), x), tasks)

    def all_logits(self, x: Tensor, num_tasks: int) -> Tensor:
        tasks = torch.arange(num_tasks)
        return self._local(hw.ensemble_forward(self.target, self.hnet(tasks), x), tasks)

    def loss(self, task: int, x: Tensor, y: Tensor) -> Tensor:
        tasks = torch.tensor([task])
        protect = task > 0 and self.beta > 0
        if protect and not self.lookahead:
            # the task's weights and the earlier tasks' outputs in one hypernetwork pass
            flat, reg = self.reg.with_weights(tasks)
            logits = self._local(paired_forward(self.target, self.hnet.unflatten(flat), x[None]), tasks)
            return F.cross_entropy(logits[0], y) + self.beta * reg
        loss = F.cross_entropy(self.task_logits(x[None], tasks)[0], y)
        if protect:   # look-ahead: the penalty at phi + dphi, dphi = Adam's step on the task loss
            params = dict(self.hnet.named_parameters())
            grads = torch.autograd.grad(loss, list(params.values()), retain_graph=True, allow_unused=True)
            delta = adam_lookahead(self.optimizer,
                                   {p: g for p, g in zip(params.values(), grads) if g is not None})
            shifted = {n: p + delta[p] if p in delta else p for n, p in params.items()}
            loss = loss + self.beta * self.reg(params=shifted)
        return loss

    @torch.no_grad()
    def _fisher(self, task: int, protocol) -> Tensor:
        x, y = protocol.train_set(task)
        keep = torch.randperm(len(x), generator=self.generator)[: self.fisher_samples]
        flat = self.hnet.flat(task)
        with torch.enable_grad():
            fisher = fisher_diagonal(self.target, self.hnet.unflatten(flat), x[keep], y[keep],
                                     self.classes[task])
        return self.hnet.specs.flatten({k: v[None] for k, v in fisher.items()})[0]

    def end_task(self, task: int, protocol, batch_size: int = 128) -> None:
        if self.reg.fisher is not None:
            f = self._fisher(task, protocol)
            self.reg.set_fisher(task, f / f.mean().clamp_min(1e-12))   # mean 1: beta keeps its scale

    @torch.no_grad()
    def add_tasks(self, classes: Tensor) -> None:
        """Grow the learner by ``len(classes)`` tasks (``classes: (n, C)`` their output units):
        new task embeddings, wider target/mask/Fisher tables. Earlier tasks are unchanged."""
        classes = torch.as_tensor(classes, dtype=torch.long)
        if classes.ndim != 2 or classes.shape[1] != self.classes.shape[1]:
            raise ValueError(f"classes must have shape (n, {self.classes.shape[1]}), got {tuple(classes.shape)}")
        n = classes.shape[0]
        self.hnet.condition.add_tasks(n)
        self.classes = torch.cat([self.classes, classes])
        reg, total = self.reg, self.hnet.specs.total
        if reg.mode == "stored":
            reg.targets = torch.cat([reg.targets, torch.zeros(n, total)])
        if reg.fisher is not None:
            reg.fisher = torch.cat([reg.fisher, torch.ones(n, total)])
        if reg.mask is not None:
            last = [s for s in self.hnet.specs if s.layer == self.hnet.specs.layers[-1]]
            weight = next(s.name for s in last if s.is_matrix)
            bias = next((s.name for s in last if not s.is_matrix), None)
            reg.mask = head_masks(self.hnet.specs, self.classes, weight, bias).float()

    def config(self) -> dict:
        return {"name": self.name, "lr": self.lr, **self._settings,
                "trunk": self.hnet.trunk.describe(), "head": self.hnet.head.describe(),
                "parametrization": None if self.hnet.parametrization is None
                else self.hnet.parametrization.describe()}

    def param_counts(self) -> dict:
        return {"learner": hw.param_count(self.hnet), "target": self.hnet.specs.total}
