"""What every continual learner in this package shares: the target, task heads, one training step.

A learner sees tasks one after the other (:meth:`ContinualMethod.begin_task`, many
:meth:`~ContinualMethod.step` calls, :meth:`~ContinualMethod.end_task`) and answers two questions:

- :meth:`~ContinualMethod.task_logits`: paired evaluation, ``K`` tasks each with its own inputs
  ``(K, N, D) -> (K, N, C)`` (CL1: the task id is given);
- :meth:`~ContinualMethod.all_logits`: every trained task's prediction for the same inputs
  ``(B, D) -> (T, B, C)`` (CL3: the task is inferred from these, see
  :func:`~hyperweights.continual.infer_task`).

Logits are *local*: column ``c`` of task ``t`` is output unit ``classes[t, c]`` of the target.
All state lives in ``state_dict()`` (fixed shapes), so a learner rebuilt with the same arguments
loads a checkpoint.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ContinualMethod", "make_target", "fused_adam"]


def make_target(in_features: int, out_features: int = 10, hidden=(100, 100)) -> nn.Sequential:
    """The MLP target of the Split/Permuted benchmarks: ``in -> hidden... -> out`` with ReLU.

    Example:
        >>> make_target(784, 10)
        Sequential(
          (0): Linear(in_features=784, out_features=100, bias=True)
          (1): ReLU()
          (2): Linear(in_features=100, out_features=100, bias=True)
          (3): ReLU()
          (4): Linear(in_features=100, out_features=10, bias=True)
        )
    """
    layers, width = [], in_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)


def fused_adam(params, lr: float) -> torch.optim.Adam:
    """Adam with the fused CPU kernel (several times faster than the default per step)."""
    params = [p for p in params if p.requires_grad]
    return torch.optim.Adam(params, lr=lr, fused=True)


class ContinualMethod(nn.Module):
    """Base class: task heads, the per-task optimizer and the default training step.

    Args:
        classes: ``(T, C)`` output units of each task (from the protocol).
        lr: Adam learning rate; a fresh optimizer is built at every task start (as in hypnettorch's
            HNET), so a checkpoint at a task boundary needs no optimizer state.
    """

    name = "method"

    def __init__(self, classes: Tensor, lr: float = 1e-3):
        super().__init__()
        self.register_buffer("classes", classes.clone())
        self.lr = lr
        self.optimizer: torch.optim.Optimizer | None = None
        self.generator = torch.Generator().manual_seed(0)   # replaced by the curriculum runner
        self.batch_size = 128                               # set by the curriculum runner

    @property
    def num_tasks(self) -> int:
        return self.classes.shape[0]

    def check_task(self, task: int) -> None:
        if not 0 <= int(task) < self.num_tasks:
            raise IndexError(
                f"task id {task} out of range: {type(self).__name__} was built for {self.num_tasks} "
                f"tasks (ids 0..{self.num_tasks - 1}); build it with more tasks or call add_tasks()"
            )

    def check_labels(self, task: int, y: Tensor) -> None:
        c = self.classes.shape[1]
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= c):
            raise ValueError(
                f"labels of task {task} must be local class indices in 0..{c - 1} (the task's "
                f"{c} output units), got values in {int(y.min())}..{int(y.max())}; map global "
                "labels with Protocol.local_of"
            )

    # -- hooks ---------------------------------------------------------------------------------
    def trainable(self, task: int) -> list[nn.Parameter]:
        """Parameters the optimizer of ``task`` updates."""
        return [p for p in self.parameters() if p.requires_grad]

    def begin_task(self, task: int) -> None:
        self.check_task(task)
        self.optimizer = fused_adam(self.trainable(task), self.lr)

    def end_task(self, task: int, protocol) -> None:
        """Called once a task's steps are done (consolidation, snapshots, Fisher)."""

    def loss(self, task: int, x: Tensor, y: Tensor) -> Tensor:
        """The training objective of one batch (task loss + any regularizer)."""
        return F.cross_entropy(self.task_logits(x[None], torch.tensor([task]))[0], y)

    def step(self, task: int, x: Tensor, y: Tensor) -> float:
        """One optimizer step; returns the loss."""
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(task, x, y)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    # -- prediction ----------------------------------------------------------------------------
    def _local(self, logits: Tensor, tasks: Tensor) -> Tensor:
        """Full logits ``(K, N, O)`` -> the tasks' own units ``(K, N, C)``."""
        idx = self.classes[tasks][:, None, :].expand(-1, logits.shape[1], -1)
        return logits.gather(2, idx)

    def task_logits(self, x: Tensor, tasks: Tensor) -> Tensor:  # pragma: no cover - abstract
        """``x: (K, N, D)``, ``tasks: (K,)`` -> local logits ``(K, N, C)``."""
        raise NotImplementedError

    def all_logits(self, x: Tensor, num_tasks: int) -> Tensor:
        """Local logits of tasks ``0..num_tasks-1`` on the same inputs: ``(T, B, C)``."""
        tasks = torch.arange(num_tasks)
        return self.task_logits(x[None].expand(num_tasks, *x.shape), tasks)

    def config(self) -> dict:
        """JSON description (recorded in checkpoints and results)."""
        return {"name": self.name, "lr": self.lr}

    def param_counts(self) -> dict:
        """Trainable scalars: ``{"learner": ..., "target": ...}``."""
        return {"learner": sum(p.numel() for p in self.parameters() if p.requires_grad)}
