"""The baselines HNET is compared with, on the same target, data and budget.

- :class:`FineTune`: one multi-head network trained task after task, no protection.
- :class:`OnlineEWC`: fine-tuning + a quadratic penalty weighted by a running (decayed) sum of
  diagonal Fisher matrices (Schwarz et al. 2018, "Progress & Compress"; Kirkpatrick et al. 2017).
- :class:`SeparateNetworks`: a fresh network per task; all trained networks live stacked as
  ``(T, *shape)`` tensors and are evaluated together with one :func:`torch.func.vmap` call.
- :class:`Joint`: multi-task training on all tasks at once (an upper bound, not continual).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import hyperweights as hw

from .base import ContinualMethod
from .fisher import fisher_diagonal
from .hnet import paired_forward

__all__ = ["FineTune", "OnlineEWC", "SeparateNetworks", "Joint"]


@hw.checkpointable("continual.FineTune")
class FineTune(ContinualMethod):
    """One shared network (task ``t`` reads its own output units); no protection.

    Example:
        >>> ft = FineTune(hw.mlp((8, 16, 4)), [[0, 1], [2, 3]])
        >>> ft.begin_task(0)
        >>> ft.step(0, torch.randn(5, 8), torch.tensor([0, 1, 1, 0, 1])) > 0
        True
    """

    name = "finetune"

    def __init__(self, target: nn.Module, classes: Tensor, lr: float = 1e-3):
        super().__init__(classes, lr)
        self.check_outputs(target)
        self.target = target

    def task_logits(self, x: Tensor, tasks: Tensor) -> Tensor:
        k, n = x.shape[:2]
        out = self.target(x.reshape(k * n, -1)).reshape(k, n, -1)
        return self._local(out, tasks)

    def all_logits(self, x: Tensor, num_tasks: int) -> Tensor:
        out = self.target(x)
        return self._local(out[None].expand(num_tasks, *out.shape), torch.arange(num_tasks))

    def param_counts(self) -> dict:
        n = hw.param_count(self.target)
        return {"learner": n, "target": n}


@hw.checkpointable("continual.OnlineEWC")
class OnlineEWC(FineTune):
    """Fine-tuning + ``lam/2 * sum_k F_k (theta_k - theta*_k)^2`` with the online Fisher
    ``F <- gamma * F + F_task`` and ``theta*`` the weights after the last task.

    Args:
        lam: penalty strength; gamma: decay of earlier Fisher terms; fisher_samples: training
            images used to estimate each task's Fisher.
    """

    name = "ewc"

    def __init__(self, target: nn.Module, classes: Tensor, *, lam: float = 100.0, gamma: float = 1.0,
                 fisher_samples: int = 500, lr: float = 1e-3):
        super().__init__(target, classes, lr)
        self.lam, self.gamma, self.fisher_samples = lam, gamma, fisher_samples
        self.init_args = {"lam": lam, "gamma": gamma, "fisher_samples": fisher_samples, "lr": lr}
        self._names = [n for n, _ in target.named_parameters()]
        for i, (_, p) in enumerate(target.named_parameters()):
            self.register_buffer(f"fisher{i}", torch.zeros_like(p))
            self.register_buffer(f"anchor{i}", p.detach().clone())

    def loss(self, task: int, x: Tensor, y: Tensor) -> Tensor:
        loss = super().loss(task, x, y)
        if task == 0:
            return loss
        penalty = sum((getattr(self, f"fisher{i}") * (p - getattr(self, f"anchor{i}")).square()).sum()
                      for i, p in enumerate(self.target.parameters()))
        return loss + 0.5 * self.lam * penalty

    def end_task(self, task: int, protocol, batch_size: int = 128) -> None:
        x, y = protocol.train_set(task)
        keep = torch.randperm(len(x), generator=self.generator)[: self.fisher_samples]
        params = dict(self.target.named_parameters())
        fisher = fisher_diagonal(self.target, params, x[keep], y[keep], self.classes[task])
        with torch.no_grad():
            for i, n in enumerate(self._names):
                f = getattr(self, f"fisher{i}")
                f.mul_(self.gamma).add_(fisher[n])
                getattr(self, f"anchor{i}").copy_(params[n])

    def config(self) -> dict:
        return {"name": self.name, "lr": self.lr, "lam": self.lam, "gamma": self.gamma}


@hw.checkpointable("continual.SeparateNetworks")
class SeparateNetworks(ContinualMethod):
    """A fresh network per task (nothing shared, nothing forgotten): the reference HNET aims at.

    The trained networks are kept as stacked ``(T, *shape)`` buffers; evaluation runs them all
    in one vmapped call (:func:`hyperweights.ensemble_forward` for CL3).
    """

    name = "separate"

    def __init__(self, target: nn.Module, classes: Tensor, lr: float = 1e-3):
        super().__init__(classes, lr)
        self.check_outputs(target)
        self.target = target
        self._names = [n for n, _ in target.named_parameters()]
        for i, (_, p) in enumerate(target.named_parameters()):
            self.register_buffer(f"bank{i}", p.detach()[None].repeat(self.num_tasks, *[1] * p.ndim))
        self.current = None

    def _bank(self, tasks: Tensor) -> dict[str, Tensor]:
        return {n: getattr(self, f"bank{i}")[tasks] for i, n in enumerate(self._names)}

    def trainable(self, task: int) -> list[nn.Parameter]:
        return list(self.current.parameters())

    def begin_task(self, task: int, generator: torch.Generator | None = None) -> None:
        self.check_begin(task)
        self.current = copy.deepcopy(self.target)
        for m in self.current.modules():      # fresh initialisation from the global RNG
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
        super().begin_task(task, generator)

    def loss(self, task: int, x: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(self.current(x)[:, self.classes[task]], y)

    @torch.no_grad()
    def end_task(self, task: int, protocol, batch_size: int = 128) -> None:
        for i, p in enumerate(self.current.parameters()):
            getattr(self, f"bank{i}")[task] = p
        self.current = None           # stored in the bank; the learner's state is the bank alone

    def task_logits(self, x: Tensor, tasks: Tensor) -> Tensor:
        return self._local(paired_forward(self.target, self._bank(tasks), x), tasks)

    def all_logits(self, x: Tensor, num_tasks: int) -> Tensor:
        tasks = torch.arange(num_tasks)
        return self._local(hw.ensemble_forward(self.target, self._bank(tasks), x), tasks)

    def param_counts(self) -> dict:
        n = hw.param_count(self.target)
        return {"learner": n * self.num_tasks, "target": n}


@hw.checkpointable("continual.Joint")
class Joint(FineTune):
    """Multi-task training: every step draws an equal share of the batch from every task seen so
    far (with the full curriculum, this is joint training on all tasks — an upper bound)."""

    name = "joint"

    def __init__(self, target: nn.Module, classes: Tensor, protocol=None, lr: float = 1e-3):
        super().__init__(target, classes, lr)
        if protocol is None:
            raise TypeError("Joint needs the protocol it draws every task's batches from: "
                            "Joint(target, classes, protocol) (hw.load(path, protocol=...))")
        self._protocol = [protocol]

    def loss(self, task: int, x: Tensor, y: Tensor) -> Tensor:
        protocol = self._protocol[0]
        share = max(1, x.shape[0] // (task + 1))
        # one batch per task seen so far, then a single forward over all of them
        batches = [protocol.sample(t, share, self.generator) for t in range(task + 1)]
        xs = torch.stack([b[0] for b in batches])
        ys = torch.stack([b[1] for b in batches])
        logits = self.task_logits(xs, torch.arange(task + 1))
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ys.reshape(-1))
