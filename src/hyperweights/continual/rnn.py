"""Dependency-preserving RNN hypernetwork with capacity growth (after Chandra et al., WACV 2023).

The paper's abstract (the only verifiable source; no code was published) describes a recurrent
hypernetwork that generates the target step by step, so that later layers' weights depend on
earlier ones, plus a regulariser and network growth for continual learning. What is implemented
here, and every choice we had to make:

- Generator: the core :class:`~hyperweights.RNNTrunk` (GRU) runs over the head's tokens
  (:class:`~hyperweights.ChunkedHead` chunk embeddings or :class:`~hyperweights.PerLayerHead` layer
  embeddings) with input ``[task embedding ; token_i]``; token ``i``'s weights come from state ``h_i``.
- Regulariser: the HNET output regulariser (:class:`OutputRegularizer`, stored targets), batched
  over earlier tasks — the RNN runs the earlier tasks as its batch dimension.
- Growth (our rule): when a task's budget is spent, compare the mean training loss of the last
  ``window`` steps with the window before. If it is above ``threshold`` and improved by less than
  ``plateau`` (relative), add ``units`` hidden units and train ``extra_steps`` more on the task;
  at most ``max_growth`` times per task. New units are a parallel GRU block with its own LayerNorm
  whose features reach the head through zero-initialised columns, so growing changes no output
  (earlier tasks keep their weights exactly) and the regulariser's stored targets stay valid.

References:
    Chandra, Varshney, Srijith, Gupta. Continual Learning with Dependency Preserving
    Hypernetworks. WACV 2023, https://arxiv.org/abs/2209.07712
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

import hyperweights as hw
from hyperweights.trunks.base import join_tokens

from .hnet import HNET

__all__ = ["GrowingRNNTrunk", "RNNHNET"]


class GrowingRNNTrunk(hw.RNNTrunk):
    """:class:`~hyperweights.RNNTrunk` whose width can grow without changing its outputs' use.

    Args:
        hidden, cell, layers: as for :class:`~hyperweights.RNNTrunk` (the base block).
        growth: widths of blocks already added (for rebuilding a grown trunk from its config).

    Example:
        >>> trunk = GrowingRNNTrunk(hidden=8)
        >>> trunk.bind(cond_dim=4, token_dim=3, num_tokens=5)
        >>> trunk.grow(4)
        >>> trunk(torch.randn(2, 4), torch.randn(5, 3)).shape
        torch.Size([2, 5, 12])
    """

    def __init__(self, hidden: int = 64, cell: str = "gru", layers: int = 1, growth=()):
        super().__init__(hidden, cell, layers)
        self._config["growth"] = list(growth)
        self.out_dim = hidden + sum(growth)

    def bind(self, cond_dim: int, token_dim: int, num_tokens: int) -> None:
        super().bind(cond_dim, token_dim, num_tokens)
        self._in = cond_dim + token_dim
        self.blocks = nn.ModuleList(self._block(u) for u in self._config["growth"])

    def _block(self, units: int) -> nn.ModuleDict:
        rnn = nn.GRU if self.cell == "gru" else nn.LSTM
        return nn.ModuleDict({"rnn": rnn(self._in, units, num_layers=self.layers, batch_first=True),
                              "norm": nn.LayerNorm(units)})

    def grow(self, units: int) -> None:
        """Append a block of ``units`` hidden units (the head must be widened to match)."""
        self.blocks.append(self._block(units))
        self._config["growth"].append(units)
        self.out_dim += units

    def forward(self, cond: Tensor, tokens: Tensor | None = None) -> Tensor:
        seq = join_tokens(cond, tokens)
        out, _ = self.rnn(seq)
        feats = [self.norm(out)]
        for block in self.blocks:
            h, _ = block["rnn"](seq)
            feats.append(block["norm"](h))
        return torch.cat(feats, dim=-1) if len(feats) > 1 else feats[0]

    def describe(self) -> str:
        extra = f" + grown {self._config['growth']}" if self._config["growth"] else ""
        return f"GrowingRNNTrunk({self.cell.upper()} {self.hidden} x {self.layers}{extra})"


@torch.no_grad()
def _widen(linear: nn.Linear, extra: int) -> nn.Linear:
    """``Linear(in, out) -> Linear(in + extra, out)`` with the new input columns zero."""
    wider = nn.Linear(linear.in_features + extra, linear.out_features)
    wider.weight.zero_()
    wider.weight[:, : linear.in_features] = linear.weight
    wider.bias.copy_(linear.bias)
    return wider


@hw.checkpointable("continual.RNNHNET")
class RNNHNET(HNET):
    """HNET whose hypernetwork is a (growing) recurrent generator.

    Args:
        target, classes: as for :class:`HNET`.
        hidden: GRU width; head: ``ChunkedHead`` (default ``ChunkedHead(4096, 16)``) or ``PerLayerHead``.
        threshold, plateau, window, units, extra_steps, max_growth: the growth rule (module doc);
            ``max_growth=0`` disables growth.
        **kwargs: the rest of :class:`HNET`'s options (``beta``, ``subset``, ...); targets are
            always stored (a snapshot of a trunk that later grows would not fit it).

    Example:
        >>> learner = RNNHNET(hw.mlp((8, 16, 4)), [[0, 1], [2, 3]], emb_dim=8,
        ...                   hidden=8, head=hw.ChunkedHead(64, 4))
        >>> learner.begin_task(0)
        >>> learner.step(0, torch.randn(5, 8), torch.tensor([0, 1, 1, 0, 1])) > 0
        True
    """

    name = "rnn_hnet"

    def __init__(self, target: nn.Module, classes: Tensor, *, hidden: int = 64,
                 head: hw.Head | None = None, threshold: float = 0.05, plateau: float = 0.1,
                 window: int = 50, units: int = 16, extra_steps: int = 100, max_growth: int = 1,
                 **kwargs):
        kwargs.pop("targets", None)
        super().__init__(target, classes, trunk=GrowingRNNTrunk(hidden), head=head,
                         targets="stored", **kwargs)
        self.rule = {"threshold": threshold, "plateau": plateau, "window": window, "units": units,
                     "extra_steps": extra_steps, "max_growth": max_growth}
        self._losses: list[float] = []
        self.growth_log: list[dict] = []
        self.init_args = {**{k: v for k, v in self.init_args.items() if k != "targets"},
                          "hidden": hidden, **self.rule}
        self.init_parts = {"head": self.hnet.head}

    def begin_task(self, task: int, generator: torch.Generator | None = None) -> None:
        super().begin_task(task, generator)
        self._losses = []

    def loss(self, task: int, x: Tensor, y: Tensor) -> Tensor:
        loss = super().loss(task, x, y)
        self._losses.append(loss.item())
        return loss

    def plateaued(self) -> bool:
        """The growth test on the losses recorded in this task (see the module doc)."""
        w = self.rule["window"]
        if len(self._losses) < 2 * w:
            return False
        last = sum(self._losses[-w:]) / w
        before = sum(self._losses[-2 * w:-w]) / w
        return last > self.rule["threshold"] and (before - last) / max(before, 1e-12) < self.rule["plateau"]

    def grow(self, units: int) -> None:
        """Add ``units`` hidden units to the generator; outputs are unchanged."""
        self.hnet.trunk.grow(units)
        self.hnet.head.out = _widen(self.hnet.head.out, units)

    def end_task(self, task: int, protocol, batch_size: int = 128) -> None:
        for _ in range(self.rule["max_growth"]):
            if not self.plateaued():
                break
            self.grow(self.rule["units"])
            self.growth_log.append({"task": task, "loss": self._losses[-1], "units": self.rule["units"]})
            self.optimizer = hw.make_optimizer(self.trainable(task), self.lr)
            for _ in range(self.rule["extra_steps"]):
                x, y = protocol.sample(task, batch_size, self.generator)
                self.step(task, x, y)
        super().end_task(task, protocol, batch_size)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Grow to the checkpoint's width first, then load."""
        have = len(self.hnet.trunk.blocks)
        keys = sorted({k.split(".")[3] for k in state_dict if k.startswith("hnet.trunk.blocks.")}, key=int)
        for k in keys[have:]:
            self.grow(state_dict[f"hnet.trunk.blocks.{k}.norm.weight"].shape[0])
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def config(self) -> dict:
        return {**super().config(), "rule": self.rule}
