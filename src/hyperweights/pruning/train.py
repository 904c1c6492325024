"""Training and evaluation for the pruning recipe (the application contract).

:func:`fit` trains either a :class:`~hyperweights.pruning.PruningNet` — every step draws
``candidates`` random network encodings (MetaPruning's stochastic training), generates their
weights and trains on the same minibatch through all of them in one ensemble call — or a plain
:class:`~hyperweights.pruning.MaskedCNN` (the full network, or a pruned one being fine-tuned), or a
:class:`~hyperweights.pruning.DynamicCNN` (cross-entropy plus its gates' loss).
:func:`evaluate` reports accuracy and FLOPs; :func:`score_widths` scores many candidate widths
after MetaPruning's protocol — generate the weights, recalibrate the BatchNorm statistics on a
few training images, evaluate on validation images — what the evolutionary search calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from ..data import Split
from ..optim import make_optimizer
from ..training import FitResult, TrainConfig, config_field, train_loop
from .cnn import MAX_WIDTHS, MaskedCNN, check_widths, flops
from .dynamic import DynamicCNN
from .pruningnet import PruningNet
from .search import random_widths

__all__ = ["PruningConfig", "fit", "evaluate", "score_widths"]


@dataclass
class PruningConfig(TrainConfig):
    """Training of a :class:`PruningNet` or of a :class:`MaskedCNN`."""

    steps: int = config_field(2000, "optimizer steps")
    candidates: int = config_field(4, "random network encodings per PruningNet step")
    min_fraction: float = config_field(0.125, "smallest width sampled, as a fraction of each layer's maximum")
    gate_weight: float = config_field(1.0, "weight of a DynamicCNN's gate loss (BCE to the top-k channels)")
    schedule: str = config_field("onecycle", "learning-rate schedule: 'onecycle' (warm-up to lr over 30 % of "
                                 "the steps, then cosine decay) or 'constant'")

    def validate(self) -> None:
        super().validate()
        self.positive_int("steps", allow_zero=True)
        self.positive_int("candidates")
        self._require("min_fraction", isinstance(self.min_fraction, (int, float)) and 0 < self.min_fraction <= 1,
                      "in (0, 1]")
        self._require("schedule", self.schedule in ("onecycle", "constant"), "'onecycle' or 'constant'")


def _check_split(data) -> None:
    if not isinstance(data, Split):
        raise TypeError(f"the data is a hyperweights.data.Split (x_train (N, 784), y_train, ...), got "
                        f"{type(data).__name__}")
    if data.x_train.ndim != 2 or data.x_train.shape[1] != 784:
        raise ValueError(f"the pruning CNN takes 28x28 images flattened to (N, 784); got x_train "
                         f"{tuple(data.x_train.shape)}")


def fit(model: nn.Module, data: Split, config: PruningConfig) -> FitResult:
    """Train a :class:`PruningNet` (random encodings per step) or a :class:`MaskedCNN` on ``data.x_train``.

    Example:
        >>> from hyperweights.data import Split
        >>> x, y = torch.rand(64, 784), torch.randint(0, 10, (64,))
        >>> data = Split(x, y, x, y)
        >>> cfg = PruningConfig(steps=3, batch_size=16, candidates=2, progress=False)
        >>> fit(PruningNet(hidden=(8,)), data, cfg).steps
        3
    """
    config.validate()
    _check_split(data)
    if not isinstance(model, (PruningNet, MaskedCNN, DynamicCNN)):
        raise TypeError(f"fit trains a PruningNet, a MaskedCNN or a DynamicCNN, got {type(model).__name__}")
    device = torch.device(config.device)
    model.to(device).train()
    x, y = data.x_train.to(device), data.y_train.to(device)
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    is_pruningnet = isinstance(model, PruningNet)
    max_widths = model.config["max_widths"] if is_pruningnet else None

    def step(i: int) -> Tensor:
        idx = torch.randint(0, len(x), (config.batch_size,), generator=gen).to(device)
        if isinstance(model, DynamicCNN):
            logits, gate_loss = model(x[idx], gate_loss=True)
            return F.cross_entropy(logits, y[idx]) + config.gate_weight * gate_loss
        if not is_pruningnet:
            return F.cross_entropy(model(x[idx]), y[idx])
        widths = random_widths(config.candidates, max_widths, config.min_fraction, gen)
        logits = model(x[idx], widths)                                           # (K, B, classes)
        return F.cross_entropy(logits.flatten(0, 1), y[idx].repeat(config.candidates))

    optimizer = make_optimizer(model.parameters(), config.lr)
    scheduler = (torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=config.steps)
                 if config.schedule == "onecycle" and config.steps > 0 else None)
    return train_loop(step, optimizer, config, total_steps=config.steps, model=model, scheduler=scheduler,
                      generators=[gen], settings={**config.settings(), "model": model.config},
                      desc=type(model).__name__)


@torch.no_grad()
def score_widths(model: PruningNet, x_cal: Tensor, x: Tensor, y: Tensor, widths, *, mode: str = "sliced",
                 chunk: int = 16, per_image: bool = False) -> Tensor:
    """Validation accuracy ``(K,)`` of each candidate's generated network, MetaPruning's score:
    generate its weights, recalibrate its BatchNorms on ``x_cal: (M, 784)``, evaluate on
    ``x: (N, 784)``, ``y: (N,)``. Equal candidates are scored once.

    Args:
        mode: ``"sliced"`` runs each candidate at its own widths (plain convolutions, ``chunk``
            candidates' weights from one hypernetwork call); ``"masked"`` runs ``chunk`` candidates
            in one ensemble call at the maximum widths behind channel masks (the same numbers;
            which one is cheaper is measured in ``hyperweights bench pruning``).
        per_image: return the ``(K, N)`` correctness instead of its mean.

    Example:
        >>> net = PruningNet(hidden=(8,))
        >>> x, y = torch.rand(20, 784), torch.randint(0, 10, (20,))
        >>> widths = torch.tensor([[8, 16, 16], [16, 32, 32], [8, 16, 16]])
        >>> sliced = score_widths(net, x[:8], x[8:], y[8:], widths)
        >>> torch.equal(sliced, score_widths(net, x[:8], x[8:], y[8:], widths, mode="masked"))
        True
    """
    if mode not in ("sliced", "masked"):
        raise ValueError(f"mode is 'sliced' or 'masked', got {mode!r}")
    if x_cal.ndim != 2 or len(x_cal) < 2:
        raise ValueError(f"x_cal holds the (M >= 2, 784) images the BatchNorms are recalibrated on, got "
                         f"{tuple(x_cal.shape)}")
    unique, inverse = check_widths(widths, model.config["max_widths"]).unique(dim=0, return_inverse=True)
    inputs, n = torch.cat([x_cal, x]), len(x_cal)
    was_training = model.training
    model.eval()
    try:
        correct = []
        for part in unique.split(chunk):
            if mode == "masked":
                correct.append(model(inputs, part, calibration=n)[:, n:].argmax(-1) == y)
                continue
            for row, weights in zip(part.tolist(), model.generate_sliced(part)):
                ones = {f"mask{l}": inputs.new_ones(c) for l, c in enumerate(row)}
                logits = functional_call(model.target, {**weights, **ones}, (inputs,), {"calibration": n})
                correct.append((logits[n:].argmax(-1) == y)[None])
    finally:
        model.train(was_training)
    correct = torch.cat(correct)[inverse]
    return correct if per_image else correct.float().mean(-1)


@torch.no_grad()
def evaluate(model: nn.Module, data: Split, *, widths=None, calibration: int = 256,
             batch: int = 2000) -> dict[str, float]:
    """Test accuracy and FLOPs of a :class:`MaskedCNN`, or of a :class:`PruningNet`'s network of
    ``widths`` (generated weights, BatchNorms recalibrated on the first ``calibration`` training
    images).

    Returns:
        ``{"accuracy": ..., "flops": ..., "flops_fraction": ... of the unpruned network}``.
    """
    _check_split(data)
    if isinstance(model, PruningNet):
        if widths is None:
            raise ValueError("evaluating a PruningNet needs the widths of the network to generate")
        net, full = model.pruned(widths, data.x_train[:calibration]), model.config["max_widths"]
    elif isinstance(model, (MaskedCNN, DynamicCNN)):
        net, full = model, None
    else:
        raise TypeError(f"evaluate takes a PruningNet or a MaskedCNN, got {type(model).__name__}")
    was_training = net.training
    net.eval()
    device = next(net.parameters()).device
    try:
        correct = sum(int((net(xb.to(device)).argmax(-1) == yb.to(device)).sum())
                      for xb, yb in zip(data.x_test.split(batch), data.y_test.split(batch)))
    finally:
        net.train(was_training)
    cost = net.flops() if isinstance(net, DynamicCNN) else flops(net.widths)
    return {"accuracy": correct / len(data.y_test), "flops": float(cost),
            "flops_fraction": cost / flops(full or MAX_WIDTHS)}
