"""hypnettorch's HNET as a learner of this package, for side-by-side runs on identical data.

Uses hypnettorch 0.0.4's own parts unchanged: ``mnets.MLP`` (the same 784-100-100-10 target),
``hnets.ChunkedHMLP`` and ``utils.hnet_regularizer`` (``get_current_targets`` at each task start,
``calc_fix_target_reg`` every step, which calls the hypernetwork once per earlier task). The
optimizer of a task holds the shared weights and that task's embedding only. Data,
sampling, step budget, optimizer (fused Adam) and evaluation are the runner's, shared with every
other learner. Install with ``pip install --no-deps hypnettorch==0.0.4`` (it imports matplotlib).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

import hyperweights as hw
from hyperweights.continual.base import ContinualMethod

__all__ = ["HypnettorchHNET", "import_hypnettorch"]


def import_hypnettorch():
    """``(ChunkedHMLP, HMLP, MLP, hnet_regularizer)`` or a clear ImportError."""
    try:
        from hypnettorch.hnets import HMLP, ChunkedHMLP
        from hypnettorch.mnets import MLP
        from hypnettorch.utils import hnet_regularizer
    except ImportError as err:
        raise ImportError("the peer column needs hypnettorch: pip install --no-deps hypnettorch==0.0.4 "
                          f"matplotlib ({err})") from err
    return ChunkedHMLP, HMLP, MLP, hnet_regularizer


class HypnettorchHNET(ContinualMethod):
    """hypnettorch ``ChunkedHMLP`` (or full ``HMLP`` with ``chunk_size=None``) + ``calc_fix_target_reg``.

    Args:
        in_features, out_features, hidden: the target MLP (built as ``hypnettorch.mnets.MLP``).
        classes: ``(T, C)`` output units of each task.
        emb_dim: task-embedding width (``cond_in_size``); chunk_emb: chunk-embedding width.
        chunk_size: scalars per chunk (None: the full-head ``HMLP``); layers: hidden widths.
        beta: regularizer strength.
    """

    name = "hypnettorch"

    def __init__(self, in_features: int, out_features: int, classes: Tensor, *, hidden=(100, 100),
                 emb_dim: int = 32, chunk_emb: int = 8, chunk_size: int | None = 4096,
                 layers=(100, 100), beta: float = 0.01, lr: float = 1e-3):
        super().__init__(classes, lr)
        ChunkedHMLP, HMLP, MLP, self._reg = import_hypnettorch()
        self.mnet = MLP(n_in=in_features, n_out=out_features, hidden_layers=tuple(hidden),
                        no_weights=True, verbose=False)
        common = dict(cond_in_size=emb_dim, layers=tuple(layers), num_cond_embs=self.num_tasks,
                      verbose=False)
        if chunk_size is None:
            self.hnet = HMLP(self.mnet.param_shapes, **common)
        else:
            self.hnet = ChunkedHMLP(self.mnet.param_shapes, chunk_size=chunk_size,
                                    chunk_emb_size=chunk_emb, **common)
        self.beta = beta
        self._targets = None
        self._settings = {"emb_dim": emb_dim, "chunk_emb": chunk_emb, "chunk_size": chunk_size,
                          "layers": list(layers), "beta": beta}

    def trainable(self, task: int) -> list:
        # as in hypnettorch's HNET training (chrhenning/hypercl): the shared weights and the
        # current task's embedding only; earlier embeddings stay constant
        return [*self.hnet.unconditional_params, self.hnet.conditional_params[task]]

    def begin_task(self, task: int, generator: torch.Generator | None = None) -> None:
        self.check_begin(task)
        self._targets = self._reg.get_current_targets(task, self.hnet) if task > 0 else None
        super().begin_task(task, generator)

    def loss(self, task: int, x: Tensor, y: Tensor) -> Tensor:
        weights = self.hnet.forward(cond_id=task)
        logits = self.mnet.forward(x, weights=weights)[:, self.classes[task]]
        loss = F.cross_entropy(logits, y)
        if task > 0 and self.beta > 0:
            loss = loss + self.beta * self._reg.calc_fix_target_reg(self.hnet, task, targets=self._targets)
        return loss

    def task_logits(self, x: Tensor, tasks: Tensor) -> Tensor:
        # hypnettorch evaluates one task id per call: the peer's own API, kept as it is
        outs = [self.mnet.forward(x[k], weights=self.hnet.forward(cond_id=int(t)))
                for k, t in enumerate(tasks)]
        return self._local(torch.stack(outs), tasks)

    def config(self) -> dict:
        return {"name": self.name, "lr": self.lr, **self._settings}

    def param_counts(self) -> dict:
        return {"learner": hw.param_count(self.hnet),
                "target": sum(int(torch.tensor(s).prod()) for s in self.mnet.param_shapes)}
