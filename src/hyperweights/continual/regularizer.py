"""The hypernetwork output regularizer of von Oswald et al. (2020), as one batched forward.

When learning task ``T`` the hypernetwork ``h(e; phi)`` must keep producing the weights it produced
for every earlier task ``j < T``::

    R = 1/|S| * sum_{j in S} sum_k F_jk * M_jk * (theta*_jk - h(e_j; phi + dphi)_k)^2

``S`` is all earlier tasks or a random subset of them, ``theta*_j`` the weights generated for task
``j`` before task ``T`` started, ``F`` optional Fisher weights, ``M`` an optional mask (regularize the
shared weights and task ``j``'s own output head only), ``dphi`` the optional look-ahead step. This is
the math of hypnettorch's ``calc_fix_target_reg``, but instead of one hypernetwork call per earlier
task the ``|S|`` earlier embeddings go through the hypernetwork as one condition batch:
``hnet.flat(ids) -> (|S|, P)``. With a linear head (``ChunkedHead``, ``FullHead``) the penalty is
fused with the head's matmul (:mod:`~hyperweights.continual.fused_penalty`).

Targets are kept in one of two ways:

- ``"stored"``: one ``(T, P)`` buffer (memory ``O(T * P)``, no extra compute);
- ``"snapshot"``: a detached copy of the hypernetwork's parameters; targets are recomputed under
  ``no_grad`` by :func:`torch.func.functional_call` (memory ``O(|phi| + T * d_e)``, for 100+ tasks).

References:
    von Oswald, Henning, Sacramento, Grewe. Continual learning with hypernetworks. ICLR 2020,
    https://arxiv.org/abs/1906.00695
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.func import functional_call

from .fused_penalty import flat_and_penalty, fused_output_penalty, supports_fused

__all__ = ["OutputRegularizer", "output_penalty", "head_masks", "adam_lookahead"]


def output_penalty(current: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
    """``1/S * sum_j sum_k weight_jk (target_jk - current_jk)^2`` for ``(..., S, P)`` tensors.

    Leading dimensions (e.g. HyperInterval's three bounds) are averaged like ``S``.

    Example:
        >>> output_penalty(torch.zeros(2, 3), torch.ones(2, 3))
        tensor(3.)
    """
    diff = (target - current).square()
    if weight is not None:
        diff = diff * weight
    return diff.sum(-1).mean()


def head_masks(specs, classes: Tensor, weight: str, bias: str | None = None) -> Tensor:
    """``(T, P)`` masks: True on every generated scalar except the output rows of other tasks.

    Args:
        specs: the hypernetwork's :class:`~hyperweights.SpecTable`.
        classes: ``(T, C)`` output units of each task.
        weight, bias: names of the output layer's parameters (rows = output units).

    Example:
        >>> from torch import nn
        >>> import hyperweights as hw
        >>> specs = hw.SpecTable.from_parameters(nn.Linear(2, 4).named_parameters())
        >>> head_masks(specs, torch.tensor([[0, 1], [2, 3]]), "weight", "bias")[1].int().tolist()
        [0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1]
    """
    num_tasks = classes.shape[0]
    mask = torch.ones(num_tasks, specs.total, dtype=torch.bool)
    for name in (weight, bias):
        if name is None:
            continue
        if name not in specs:
            raise KeyError(f"{name!r} is not a generated parameter; generated: {specs.names}")
        s = specs[name]
        row = s.numel // s.shape[0]
        mine = torch.zeros(num_tasks, s.shape[0], dtype=torch.bool)
        mine.scatter_(1, classes, True)
        mask[:, s.offset:s.offset + s.numel] = mine.repeat_interleave(row, dim=1)
    return mask


@torch.no_grad()
def adam_lookahead(optimizer: torch.optim.Optimizer, grads: dict[nn.Parameter, Tensor]) -> dict:
    """The step ``dphi`` Adam would take from ``grads`` alone (detached), without taking it.

    Reads the optimizer's moments; on the first step (no state yet) Adam's update is
    ``-lr * g / (|g| + eps)``. Used for the paper's optional look-ahead (``phi + dphi``).
    """
    deltas = {}
    for group in optimizer.param_groups:
        lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
        for p in group["params"]:
            g = grads.get(p)
            if g is None:
                continue
            state = optimizer.state.get(p, {})
            step = float(state["step"]) + 1 if "step" in state else 1.0
            m = state["exp_avg"] * b1 + (1 - b1) * g if "exp_avg" in state else (1 - b1) * g
            v = state["exp_avg_sq"] * b2 + (1 - b2) * g * g if "exp_avg_sq" in state else (1 - b2) * g * g
            m_hat, v_hat = m / (1 - b1 ** step), v / (1 - b2 ** step)
            deltas[p] = -lr * m_hat / (v_hat.sqrt() + eps)
    return deltas


class _Flat(nn.Module):
    """``hnet.flat`` as a module's forward, so :func:`functional_call` can swap its parameters."""

    def __init__(self, hnet):
        super().__init__()
        self.hnet = hnet

    def forward(self, ids):
        return self.hnet.flat(ids)


class OutputRegularizer(nn.Module):
    """Keeps a hypernetwork's outputs for earlier tasks fixed (batched over tasks).

    Args:
        hnet: a :class:`~hyperweights.HyperNetwork` conditioned on task ids. It is referenced, not
            owned (it does not appear in this module's ``state_dict``).
        num_tasks: capacity of the target table (rows of the task-embedding table).
        mode: ``"stored"`` (a ``(T, P)`` target buffer) or ``"snapshot"`` (a frozen parameter copy).
        subset: regularize a random subset of this many earlier tasks per call (``None``: all).
        mask: optional ``(T, P)`` bool, e.g. :func:`head_masks`.
        fisher: keep a ``(T, P)`` Fisher-weight buffer (filled with :meth:`set_fisher`).

    Call :meth:`protect` when task ``T`` begins (records targets for tasks ``0..T-1``), then
    ``reg(num_prev=T)`` every step.

    Example:
        >>> from torch import nn
        >>> import hyperweights as hw
        >>> torch.manual_seed(0) and None
        >>> hnet = hw.HyperNetwork(nn.Linear(3, 2), condition=hw.TaskEmbedding(4, 8))
        >>> reg = OutputRegularizer(hnet, num_tasks=4)
        >>> reg.protect(2)                 # starting task 2: tasks 0 and 1 are protected
        >>> reg().item()                   # nothing has changed yet
        0.0
    """

    def __init__(self, hnet, num_tasks: int, *, mode: str = "stored", subset: int | None = None,
                 mask: Tensor | None = None, fisher: bool = False,
                 generator: torch.Generator | None = None):
        super().__init__()
        if mode not in ("stored", "snapshot"):
            raise ValueError(f"mode must be 'stored' or 'snapshot', got {mode!r}")
        if subset is not None and subset < 1:
            raise ValueError(f"subset must be a positive number of tasks or None, got {subset}")
        total = hnet.specs.total
        if mask is not None and tuple(mask.shape) != (num_tasks, total):
            raise ValueError(f"mask must have shape (num_tasks, P) = {(num_tasks, total)}, got {tuple(mask.shape)}")
        self._net = [_Flat(hnet)]              # a list: referenced, not registered
        self.mode, self.subset, self.generator = mode, subset, generator
        self.register_buffer("num_prev", torch.zeros((), dtype=torch.long))
        self.register_buffer("mask", None if mask is None else mask.float())
        self.register_buffer("fisher", torch.ones(num_tasks, total) if fisher else None)
        if mode == "stored":
            self.register_buffer("targets", torch.zeros(num_tasks, total))
        else:
            self._names = [n for n, _ in hnet.named_parameters()]
            for i, (_, p) in enumerate(hnet.named_parameters()):
                self.register_buffer(f"snap{i}", p.detach().clone())

    @property
    def hnet(self):
        return self._net[0].hnet

    def _snapshot_params(self) -> dict[str, Tensor]:
        return {f"hnet.{n}": getattr(self, f"snap{i}") for i, n in enumerate(self._names)}

    @torch.no_grad()
    def protect(self, num_prev: int) -> None:
        """Record the current outputs for tasks ``0..num_prev-1`` as targets (start of a task)."""
        rows = self.targets.shape[0] if self.mode == "stored" else self.hnet.condition.num_tasks
        if not 0 <= num_prev <= rows:
            raise IndexError(f"cannot protect {num_prev} tasks: the regularizer holds {rows}")
        self.num_prev.fill_(num_prev)
        if self.mode == "stored":
            if num_prev:
                was = self.hnet.training
                self.hnet.eval()
                try:
                    self.targets[:num_prev] = self.hnet.flat(torch.arange(num_prev))
                finally:
                    self.hnet.train(was)
        else:
            for i, (_, p) in enumerate(self.hnet.named_parameters()):
                setattr(self, f"snap{i}", p.detach().clone())   # shapes may have grown (add_tasks)

    def set_fisher(self, task: int, values: Tensor) -> None:
        """Store the ``(P,)`` Fisher weights of ``task`` (see :func:`~hyperweights.continual.fisher_diagonal`)."""
        if self.fisher is None:
            raise RuntimeError("this regularizer was built with fisher=False")
        self.fisher[task] = values.detach()

    def targets_for(self, ids: Tensor) -> Tensor:
        """Targets ``(S, P)`` of the given earlier tasks."""
        if self.mode == "stored":
            return self.targets[ids]
        with torch.no_grad():
            return functional_call(self._net[0], self._snapshot_params(), (ids,))

    def sample_ids(self) -> Tensor:
        """The earlier tasks regularized at this call: all, or a random subset of ``subset``."""
        n = int(self.num_prev)
        if self.subset is None or self.subset >= n:
            return torch.arange(n)
        return torch.randperm(n, generator=self.generator)[: self.subset]

    def _targets_and_weights(self, ids: Tensor) -> tuple[Tensor, Tensor | None]:
        # every earlier task, in order: read the buffers as views instead of gathering copies
        rows = slice(0, len(ids)) if torch.equal(ids, torch.arange(len(ids))) else ids
        weight = None
        if self.mask is not None:
            weight = self.mask[rows]
        if self.fisher is not None:
            weight = self.fisher[rows] if weight is None else weight * self.fisher[rows]
        target = self.targets[rows] if self.mode == "stored" else self.targets_for(ids)
        return target, weight

    def forward(self, ids: Tensor | None = None, params: dict[str, Tensor] | None = None) -> Tensor:
        """The penalty ``R`` (a scalar; 0 before the second task).

        Args:
            ids: earlier tasks to regularize (default: :meth:`sample_ids`).
            params: ``{name: tensor}`` overriding the hypernetwork's parameters (the look-ahead
                ``phi + dphi``); default: its current parameters.
        """
        ids = self.sample_ids() if ids is None else ids
        if ids.numel() == 0:
            return torch.zeros(())
        target, weight = self._targets_and_weights(ids)
        if params is None and supports_fused(self.hnet):
            return fused_output_penalty(self.hnet, ids, target, weight)
        if params is None:
            current = self.hnet.flat(ids)
        else:
            current = functional_call(self._net[0], {f"hnet.{k}": v for k, v in params.items()}, (ids,))
        return output_penalty(current, target, weight)

    def with_weights(self, current) -> tuple[Tensor, Tensor]:
        """``(hnet.flat(current), self())``: the weights being trained and the penalty, from one
        hypernetwork pass when the head allows it (see :func:`~.fused_penalty.flat_and_penalty`).

        Example:
            >>> from torch import nn
            >>> import hyperweights as hw
            >>> hnet = hw.HyperNetwork(nn.Linear(3, 2), condition=hw.TaskEmbedding(4, 8),
            ...                        head=hw.ChunkedHead(4, 4))
            >>> reg = OutputRegularizer(hnet, num_tasks=4)
            >>> reg.protect(2)
            >>> flat, penalty = reg.with_weights(torch.tensor([2]))
            >>> flat.shape, round(penalty.item(), 6)     # nothing has changed yet (up to rounding)
            (torch.Size([1, 8]), 0.0)
        """
        ids = self.sample_ids()
        if ids.numel() == 0 or not supports_fused(self.hnet):
            return self.hnet.flat(current), self(ids)
        target, weight = self._targets_and_weights(ids)
        return flat_and_penalty(self.hnet, current, ids, target, weight)
