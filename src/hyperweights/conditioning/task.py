"""Task-conditioned input: a learned embedding per task (von Oswald et al. 2020)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

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
        if num_tasks < 1 or dim < 1:
            raise ValueError(f"TaskEmbedding needs num_tasks >= 1 and dim >= 1, got {num_tasks}, {dim}")
        self._config = {"num_tasks": num_tasks, "dim": dim, "init_std": init_std}
        self.out_dim = dim
        self.init_std = init_std
        self.weight = nn.Parameter(torch.randn(num_tasks, dim) * init_std)

    @property
    def num_tasks(self) -> int:
        return self.weight.shape[0]

    def forward(self, task) -> Tensor:
        ids = torch.as_tensor(task, device=self.weight.device)
        if ids.ndim == 0:
            ids = ids.reshape(1)
        if ids.ndim != 1 or ids.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
            raise TypeError(
                f"TaskEmbedding expects an int or a 1-D integer tensor of task ids, got "
                f"{'a ' + str(ids.dtype) + ' tensor of shape ' + str(tuple(ids.shape))}"
            )
        if not is_traced(ids) and ids.numel() and (ids.min() < 0 or ids.max() >= self.num_tasks):
            bad = ids[(ids < 0) | (ids >= self.num_tasks)].unique().tolist()
            raise IndexError(
                f"task id(s) {bad} out of range: this TaskEmbedding has {self.num_tasks} tasks "
                f"(ids 0..{self.num_tasks - 1}). Grow it with add_tasks(n) before training a new task."
            )
        return self.weight[ids]

    @torch.no_grad()
    def add_tasks(self, n: int = 1) -> None:
        """Append ``n`` freshly initialised task embeddings (rebuild the optimizer afterwards)."""
        new = torch.randn(n, self.out_dim, device=self.weight.device, dtype=self.weight.dtype)
        self.weight = nn.Parameter(torch.cat([self.weight.detach(), new * self.init_std]))
        self._config["num_tasks"] = self.num_tasks

    def describe(self) -> str:
        return f"TaskEmbedding({self.num_tasks} tasks, dim {self.out_dim})"
