"""Plain (not generated) LoRA adapters: one per task, or one shared by all tasks.

The baselines of the hypernetwork: a table of ``num_sets`` independent LoRAs, initialised as peft
initialises LoRA (``A`` kaiming-uniform with ``a = sqrt(5)``, ``B = 0``). With ``num_sets == 1``
it is one LoRA shared by every task. It returns weights in the same layout as
:class:`~hyperweights.adapters.AdapterGenerator`, so both run through the same application path
and export to peft the same way.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .._checks import check_int
from .select import AdaptedModule

__all__ = ["LoRATable"]


class LoRATable(nn.Module):
    """``num_sets`` LoRA adapters of rank ``rank`` on ``modules``.

    Example:
        >>> from hyperweights.adapters import AdaptedModule
        >>> table = LoRATable([AdaptedModule("q", 6, 4, 0, "q")], num_sets=3, rank=2)
        >>> a, b = table(torch.tensor([2, 0]))["q"]
        >>> a.shape, b.shape
        (torch.Size([2, 2, 6]), torch.Size([2, 4, 2]))
    """

    kind = "lora"

    def __init__(self, modules: list[AdaptedModule], num_sets: int = 1, *, rank: int = 8,
                 alpha: float = 16.0):
        super().__init__()
        check_int(num_sets, "num_sets", "LoRATable")
        check_int(rank, "rank", "LoRATable")
        self.modules_ = list(modules)
        self.rank, self.alpha = rank, float(alpha)
        self.config = {"num_sets": num_sets, "rank": rank, "alpha": float(alpha)}
        self.first = nn.ParameterList()
        self.second = nn.ParameterList()
        for m in modules:
            bound = 1.0 / math.sqrt(m.in_features)
            self.first.append(nn.Parameter(torch.empty(num_sets, rank, m.in_features).uniform_(-bound, bound)))
            self.second.append(nn.Parameter(torch.zeros(num_sets, m.out_features, rank)))

    @property
    def adapted_modules(self) -> list[AdaptedModule]:
        return self.modules_

    @property
    def scaling(self) -> float:
        return self.alpha / self.rank

    @property
    def num_tasks(self) -> int:
        return self.first[0].shape[0]

    def forward(self, sets) -> dict[str, tuple[Tensor, Tensor]]:
        """``sets``: ``(W,)`` integer rows -> ``{module: (A (W, r, in), B (W, out, r))}``."""
        ids = torch.as_tensor(sets, device=self.first[0].device).reshape(-1)
        if ids.is_floating_point() or ids.numel() == 0 or ids.min() < 0 or ids.max() >= self.num_tasks:
            raise IndexError(f"adapter ids must be integers in 0..{self.num_tasks - 1}, got {sets!r}")
        return {m.name: (a[ids], b[ids]) for m, a, b in zip(self.modules_, self.first, self.second)}
