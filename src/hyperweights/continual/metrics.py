"""Continual-learning metrics from the accuracy matrix ``A[i, j]`` = accuracy on task ``i`` after
training task ``j`` (NaN where ``i > j``: not yet trained).

Example:
    >>> import math, torch
    >>> A = torch.tensor([[0.9, 0.8], [math.nan, 1.0]])
    >>> summarize(A)
    {'final_avg': 0.9, 'bwt': -0.1, 'forgetting': 0.1, 'during_avg': 0.95}
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["summarize", "final_average", "backward_transfer", "forgetting"]


def final_average(acc: Tensor) -> float:
    """Mean accuracy over all tasks after the last task (the last column)."""
    return float(acc[:, -1].nanmean())


def backward_transfer(acc: Tensor) -> float:
    """BWT (Lopez-Paz & Ranzato 2017): mean of ``A[i, T-1] - A[i, i]`` over ``i < T-1``;
    negative means forgetting."""
    t = acc.shape[0]
    if t < 2:
        return 0.0
    return float((acc[:-1, -1] - acc.diagonal()[:-1]).mean())


def forgetting(acc: Tensor) -> float:
    """Average forgetting (Chaudhry et al. 2018): mean over ``i < T-1`` of the best earlier accuracy
    on task ``i`` minus its final accuracy."""
    t = acc.shape[0]
    if t < 2:
        return 0.0
    best = acc[:-1, :-1].nan_to_num(-1.0).max(dim=1).values
    return float((best - acc[:-1, -1]).mean())


def summarize(acc: Tensor) -> dict:
    """Final average accuracy, BWT, forgetting and the mean just-trained accuracy (diagonal)."""
    r = lambda v: round(v, 6)  # noqa: E731
    return {"final_avg": r(final_average(acc)), "bwt": r(backward_transfer(acc)),
            "forgetting": r(forgetting(acc)), "during_avg": r(float(acc.diagonal().mean()))}
