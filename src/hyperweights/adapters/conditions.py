"""Conditions for generated adapters beyond a learned task embedding.

- :class:`DescriptionCondition` (Text-to-LoRA style): each task is a natural-language description
  embedded once by the frozen :class:`~hyperweights.data.text.SentenceEncoder`; a learned linear
  map turns the embedding into the condition. An unseen task needs only its description
  (zero-shot): pass its embedding instead of a task id.
- :class:`SupportSetEncoder` (HyperTuning style): few-shot examples ``(K, N, F)`` (K support sets
  of N feature vectors, e.g. pooled frozen-model states concatenated with one-hot labels) -> one
  code per set, wrapped by the core's :class:`~hyperweights.DataCondition`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .._checks import check_int
from ..conditioning import Conditioner, DataCondition
from ..targets.build import mlp

__all__ = ["DescriptionCondition", "SupportSetEncoder", "support_set_condition"]


class DescriptionCondition(Conditioner):
    """Task ids (or description embeddings) -> ``(W, dim)`` through a learned projection.

    Args:
        num_tasks: rows of the description table (fill it with :meth:`set_descriptions`).
        embedding_dim: width of a description embedding (384 for all-MiniLM-L6-v2).
        dim: width of the condition.

    ``forward`` takes task ids (an int, or ``(W,)`` integers: rows of the table) or a float
    ``(W, embedding_dim)`` tensor of description embeddings (an unseen task).

    Example:
        >>> cond = DescriptionCondition(3, 8, 4)
        >>> cond.set_descriptions(torch.randn(3, 8))
        >>> cond(torch.tensor([0, 2])).shape, cond(torch.randn(1, 8)).shape
        (torch.Size([2, 4]), torch.Size([1, 4]))
    """

    def __init__(self, num_tasks: int, embedding_dim: int, dim: int):
        super().__init__()
        for value, name in ((num_tasks, "num_tasks"), (embedding_dim, "embedding_dim"), (dim, "dim")):
            check_int(value, name, "DescriptionCondition")
        self._config = {"num_tasks": num_tasks, "embedding_dim": embedding_dim, "dim": dim}
        self.out_dim = dim
        self.register_buffer("descriptions", torch.zeros(num_tasks, embedding_dim))
        self.project = nn.Linear(embedding_dim, dim)

    @property
    def num_tasks(self) -> int:
        return self.descriptions.shape[0]

    def set_descriptions(self, embeddings: Tensor) -> None:
        """Store the ``(num_tasks, embedding_dim)`` description embeddings (frozen)."""
        if not isinstance(embeddings, Tensor) or tuple(embeddings.shape) != tuple(self.descriptions.shape):
            raise ValueError(f"expected description embeddings of shape {tuple(self.descriptions.shape)}, "
                             f"got {getattr(embeddings, 'shape', type(embeddings).__name__)}")
        with torch.no_grad():
            self.descriptions.copy_(embeddings)

    def forward(self, condition) -> Tensor:
        if isinstance(condition, Tensor) and condition.is_floating_point():
            if condition.ndim != 2 or condition.shape[1] != self.descriptions.shape[1]:
                raise ValueError(f"description embeddings must be (W, {self.descriptions.shape[1]}), "
                                 f"got {tuple(condition.shape)}")
            return self.project(condition)
        ids = torch.as_tensor(condition, device=self.descriptions.device).reshape(-1)
        if ids.is_floating_point() or ids.numel() == 0 or ids.min() < 0 or ids.max() >= self.num_tasks:
            raise IndexError(f"task ids must be integers in 0..{self.num_tasks - 1} (or pass a float "
                             f"(W, {self.descriptions.shape[1]}) tensor of description embeddings); "
                             f"got {condition!r}")
        return self.project(self.descriptions[ids])


class SupportSetEncoder(nn.Module):
    """``(K, N, F)`` support sets -> ``(K, dim)``: an MLP on every example, then the mean over N
    (a permutation-invariant set encoder, as HyperTuning reads few-shot examples).

    Example:
        >>> SupportSetEncoder(6, 4)(torch.randn(2, 5, 6)).shape
        torch.Size([2, 4])
    """

    def __init__(self, in_features: int, dim: int, hidden: int = 64):
        super().__init__()
        self.net = mlp((in_features, hidden, dim))
        self.out_features = dim

    def forward(self, support: Tensor) -> Tensor:
        if support.ndim != 3:
            raise ValueError(f"support sets must be (K, N, features), got {tuple(support.shape)}")
        return self.net(support).mean(1)


def support_set_condition(in_features: int, dim: int, hidden: int = 64) -> DataCondition:
    """The core's :class:`~hyperweights.DataCondition` over a :class:`SupportSetEncoder`.

    Example:
        >>> support_set_condition(6, 4)(torch.randn(3, 5, 6)).shape
        torch.Size([3, 4])
    """
    return DataCondition(SupportSetEncoder(in_features, dim, hidden), dim=dim)
