"""Task-conditioned input: a learned embedding per task (von Oswald et al. 2020)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .._checks import check_int, check_real
from .._parts import is_traced
from .base import Conditioner

__all__ = ["TaskEmbedding"]


class TaskEmbedding(Conditioner):
    """A learned embedding table: task ids ``(W,)`` -> ``(W, dim)``.

    Args:
        num_tasks: rows of the table; :meth:`add_tasks` grows it.
        dim: embedding width.
        init_std: standard deviation of the normal initialisation.

    Example:
        >>> emb = TaskEmbedding(5, 8)
        >>> emb(torch.tensor([0, 3])).shape
        torch.Size([2, 8])
        >>> emb(2).shape          # an int is one task
        torch.Size([1, 8])
    """

    def __init__(self, num_tasks: int, dim: int, init_std: float = 1.0):
        super().__init__()
        check_int(num_tasks, "num_tasks", "TaskEmbedding")
        check_int(dim, "dim", "TaskEmbedding")
        check_real(init_std, "init_std", "TaskEmbedding")
        self._config = {"num_tasks": num_tasks, "dim": dim, "init_std": init_std}
        self.out_dim = dim
        self.init_std = init_std
        self.weight = nn.Parameter(torch.randn(num_tasks, dim) * init_std)

    @property
    def num_tasks(self) -> int:
        return self.weight.shape[0]

    def forward(self, task) -> Tensor:
        ids = self._ids(task)
        if not is_traced(ids) and (ids.min() < 0 or ids.max() >= self.num_tasks):
            bad = ids[(ids < 0) | (ids >= self.num_tasks)].unique().tolist()
            raise IndexError(
                f"task id(s) {bad} out of range: this TaskEmbedding has {self.num_tasks} tasks "
                f"(ids 0..{self.num_tasks - 1}). Grow it with add_tasks(n) before training a new task."
            )
        return self.weight[ids]

    def _ids(self, task) -> Tensor:
        """Task ids as a non-empty 1-D integer tensor on the table's device."""
        expected = "TaskEmbedding expects an int or a 1-D integer tensor (or list) of task ids"
        if isinstance(task, (bool, str, bytes)) or task is None:
            raise TypeError(f"{expected}, got {type(task).__name__} {task!r}")
        if isinstance(task, int) and not -2 ** 63 <= task < 2 ** 63:     # no int64 holds it
            raise IndexError(f"task id {task!r} out of range: this TaskEmbedding has {self.num_tasks} "
                             f"tasks (ids 0..{self.num_tasks - 1})")
        try:
            ids = torch.as_tensor(task, device=self.weight.device)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"{expected}, got {type(task).__name__}") from None
        if ids.ndim == 0:
            ids = ids.reshape(1)
        if ids.ndim != 1 or ids.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
            raise TypeError(f"{expected}, got a {ids.dtype} tensor of shape {tuple(ids.shape)}")
        if ids.numel() == 0:
            raise ValueError(f"{expected}; got an empty one: pass at least one task id")
        return ids

    @torch.no_grad()
    def add_tasks(self, n: int = 1) -> None:
        """Append ``n >= 1`` freshly initialised task embeddings (rebuild the optimizer afterwards)."""
        check_int(n, "n", "TaskEmbedding.add_tasks")
        new = torch.randn(n, self.out_dim, device=self.weight.device, dtype=self.weight.dtype)
        self.weight = nn.Parameter(torch.cat([self.weight.detach(), new * self.init_std]))
        self._config["num_tasks"] = self.num_tasks

    def describe(self) -> str:
        return f"TaskEmbedding({self.num_tasks} tasks, dim {self.out_dim})"
