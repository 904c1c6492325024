"""Training a graph hypernetwork on a family of architectures, and reading its predictions.

:func:`fit` trains a :class:`GraphHyperNetwork` by back-propagating the task loss through the
predicted parameters of a meta-batch of architectures per step (GHN-2's training): one batched
graph-network call for the meta-batch, one decoder call per parameter shape, then each
architecture's forward pass with its predicted parameters on the same data batch.
:func:`evaluate` scores the zero-shot predictions; :func:`finetune` trains a model from its
initialisation and records the accuracy after given numbers of steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from ..data import Split
from ..optim import make_optimizer
from ..training import FitResult, TrainConfig, config_field, train_loop
from .ghn import GraphHyperNetwork, predict_parameters
from .graph import model_graph

__all__ = ["GraphConfig", "fit", "evaluate", "finetune", "accuracy", "calibrate_batchnorm"]


@dataclass
class GraphConfig(TrainConfig):
    """Training of a graph hypernetwork on a family of architectures."""

    steps: int = config_field(1000, "optimizer steps")
    meta_batch: int = config_field(8, "architectures per step (GHN-3's m)")
    clip: float = config_field(5.0, "gradient-norm clipping (0: off)")
    weight_decay: float = config_field(0.0, "L2 penalty of the optimizer")

    def validate(self) -> None:
        super().validate()
        self.positive_int("steps", allow_zero=True)
        self.positive_int("meta_batch")
        self._require("clip", isinstance(self.clip, (int, float)) and self.clip >= 0, ">= 0")
        self._require("weight_decay", isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0,
                      ">= 0")


def _check(ghn, data, architectures) -> None:
    if not isinstance(ghn, GraphHyperNetwork):
        raise TypeError(f"expected a GraphHyperNetwork, got {type(ghn).__name__}")
    if not isinstance(data, Split):
        raise TypeError(f"data must be a hyperweights.data.Split, got {type(data).__name__}")
    if not architectures or not all(isinstance(a, nn.Module) for a in architectures):
        raise ValueError("architectures must be a non-empty list of nn.Modules (e.g. "
                         "[family.build(s, features, classes) for s in family.sample_family('train')])")


def fit(ghn: GraphHyperNetwork, data: Split, config: GraphConfig, architectures: Sequence[nn.Module],
        example_input=None) -> FitResult:
    """Train ``ghn`` to predict good parameters for every model in ``architectures`` on ``data``.

    Args:
        ghn: the graph hypernetwork (trained in place).
        data: a :class:`~hyperweights.data.Split` the architectures read (``x: (N, D)``).
        config: steps, meta-batch, learning rate, batch size, ...
        architectures: the training family (their parameters are never used, only their graphs
            and forward passes; BatchNorm running statistics of these models do update).
        example_input: for models torch.fx cannot trace.

    Example:
        >>> from hyperweights.data import load_digits
        >>> from hyperweights.graph import GraphHyperNetwork, family
        >>> data = load_digits()
        >>> archs = [family.build(s, 64, 10) for s in family.sample_family("train", 4)]
        >>> ghn = GraphHyperNetwork(hidden=16, layers=1, heads=2, rank=4, max_ck=128)
        >>> result = fit(ghn, data, GraphConfig(steps=3, meta_batch=2, progress=False), archs)
        >>> result.steps
        3
    """
    config.validate()
    _check(ghn, data, architectures)
    device = torch.device(config.device)
    ghn.to(device).train()
    models = [a.to(device).train() for a in architectures]
    graphs = [model_graph(m, example_input, cutoff=ghn.cutoff) for m in models]
    x, y = data.x_train.to(device), data.y_train.to(device)
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    meta = min(config.meta_batch, len(models))

    def step(i: int) -> Tensor:
        chosen = torch.randperm(len(models), generator=gen)[:meta].tolist()
        idx = torch.randint(0, len(x), (config.batch_size,), generator=gen).to(device)
        predicted = ghn([graphs[c] for c in chosen])
        losses = [F.cross_entropy(functional_call(models[c], p, (x[idx],)), y[idx])
                  for c, p in zip(chosen, predicted)]        # one forward per architecture
        return torch.stack(losses).mean()

    optimizer = make_optimizer(ghn.parameters(), config.lr, weight_decay=config.weight_decay)
    return train_loop(step, optimizer, config, total_steps=config.steps, model=ghn, generators=[gen],
                      clip_grad_norm=config.clip or None,
                      settings={**config.settings(), "ghn": ghn.config, "architectures": len(models)},
                      desc="graph hypernetwork")


@torch.no_grad()
def calibrate_batchnorm(model: nn.Module, x: Tensor, batch: int = 512) -> None:
    """Recompute the running statistics of every BatchNorm of ``model`` from the inputs ``x``
    (a cumulative average over batches), so that evaluation mode uses the statistics of these
    parameters rather than of the ones the model was built with. Restores the training flag."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    was_training = model.training
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    try:
        for start in range(0, len(x), batch):
            model(x[start:start + batch])
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        model.train(was_training)


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch: int = 2048) -> float:
    """Top-1 accuracy of ``model`` in evaluation mode (the training flag is restored)."""
    was_training = model.training
    model.eval()
    try:
        correct = sum(int((model(x[s:s + batch]).argmax(1) == y[s:s + batch]).sum()) for s in range(0, len(x), batch))
    finally:
        model.train(was_training)
    return correct / len(x)


def finetune(model: nn.Module, data: Split, checkpoints: Sequence[int], *, lr: float = 1e-3,
             batch_size: int = 64, seed: int = 0, optimizer: str = "adam", calibrate: int = 2048,
             device: str = "cpu") -> dict[int, float]:
    """Train ``model`` (in place) from its current parameters; test accuracy after each number of
    steps in ``checkpoints`` (``0`` = as initialised). BatchNorm statistics are recalibrated on
    ``calibrate`` training images before every evaluation.

    Example:
        >>> from hyperweights.data import load_digits
        >>> net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
        >>> curve = finetune(net, load_digits(), [0, 100])
        >>> curve[100] > curve[0]
        True
    """
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    device = torch.device(device)
    model.to(device)
    x, y = data.x_train.to(device), data.y_train.to(device)
    xt, yt = data.x_test.to(device), data.y_test.to(device)
    gen = torch.Generator().manual_seed(seed)
    opt = (make_optimizer(model.parameters(), lr) if optimizer == "adam"
           else torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9))
    curve: dict[int, float] = {}
    done = 0
    for target in sorted(set(checkpoints)):
        model.train()
        while done < target:
            idx = torch.randint(0, len(x), (batch_size,), generator=gen).to(device)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
        calibrate_batchnorm(model, x[:calibrate])
        curve[target] = accuracy(model, xt, yt)
    return curve


def evaluate(ghn: GraphHyperNetwork, data: Split, architectures: Sequence[nn.Module], *,
             example_input=None, calibrate: int = 2048) -> dict[str, float]:
    """Zero-shot test accuracy of the parameters ``ghn`` predicts for each architecture (BatchNorm
    statistics calibrated on ``calibrate`` training images). The given models are not modified:
    predictions go into copies.

    Returns:
        ``{"accuracy": mean, "accuracy_min": ..., "accuracy_max": ..., "architectures": count}``.
    """
    import copy
    _check(ghn, data, architectures)
    device = next(ghn.parameters()).device
    scores = []
    for arch in architectures:
        model = predict_parameters(ghn, copy.deepcopy(arch).to(device), example_input)
        calibrate_batchnorm(model, data.x_train[:calibrate].to(device))
        scores.append(accuracy(model, data.x_test.to(device), data.y_test.to(device)))
    return {"accuracy": sum(scores) / len(scores), "accuracy_min": min(scores), "accuracy_max": max(scores),
            "architectures": len(scores)}
