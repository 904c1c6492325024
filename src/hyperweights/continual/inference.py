"""Task inference for class-incremental learning (CL3): HNET+ENT of von Oswald et al. (2020).

Every trained task's network predicts the same inputs (one ensemble call, ``(T, B, C)`` logits);
the task whose prediction has the lowest entropy is chosen per sample, and its head's most likely
unit is the predicted global class.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["infer_task", "predict_cl3"]


def infer_task(logits: Tensor) -> Tensor:
    """``(T, B, C)`` local logits -> ``(B,)`` index of the task with the lowest predictive entropy.

    Example:
        >>> confident = torch.tensor([[[5.0, -5.0]], [[0.1, 0.0]]])   # task 0 is sure, task 1 is not
        >>> infer_task(confident).tolist()
        [0]
    """
    logp = logits.log_softmax(-1)
    entropy = -(logp.exp() * logp).sum(-1)          # (T, B)
    return entropy.argmin(0)


def predict_cl3(logits: Tensor, classes: Tensor) -> tuple[Tensor, Tensor]:
    """Inferred task ``(B,)`` and global class ``(B,)`` from ``(T, B, C)`` logits and ``(T, C)``
    class table.

    Example:
        >>> logits = torch.tensor([[[5.0, -5.0]], [[0.1, 0.0]]])
        >>> predict_cl3(logits, torch.tensor([[0, 1], [2, 3]]))
        (tensor([0]), tensor([0]))
    """
    task = infer_task(logits)
    batch = torch.arange(logits.shape[1])
    local = logits[task, batch].argmax(-1)
    return task, classes[task, local]
