"""Training and evaluation on the application contract: ``AdaptersConfig``, ``fit``, ``evaluate``.

``fit`` trains whatever in the model has ``requires_grad`` (the adapter source and the per-task
classifiers; the base is frozen) on task-balanced mixed-task minibatches: each sample's task is
drawn uniformly, then an example of that task, so small tasks are not drowned by large ones.
With cached lower-layer states (:meth:`TaskData.cached`) a step runs only the adapted blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..optim import make_optimizer
from ..training import FitResult, TrainConfig, config_field, train_loop
from .model import MultiTaskAdapterModel
from .peft_io import lora_distillation_loss

__all__ = ["AdaptersConfig", "TaskData", "distill", "evaluate", "fit"]


@dataclass
class AdaptersConfig(TrainConfig):
    """Settings of :func:`fit` (and :func:`distill`).

    Example:
        >>> AdaptersConfig(steps=0).validate()
        Traceback (most recent call last):
        ...
        ValueError: AdaptersConfig.steps must be a positive integer, got 0
    """

    batch_size: int = config_field(32, "sequences per optimizer step (mixed tasks)")
    steps: int = config_field(300, "optimizer steps")
    weight_decay: float = config_field(0.0, "Adam's L2 penalty")
    eval_batch_size: int = config_field(128, "sequences per evaluation batch")

    def validate(self) -> None:
        super().validate()
        self.positive_int("steps")
        self.positive_int("eval_batch_size")
        self._require("weight_decay", isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0,
                      "a non-negative number")


@dataclass
class TaskData:
    """Labelled sequences of several tasks (one split), sorted by task.

    Attributes:
        input_ids / attention_mask: ``(N, T)`` integer tokens and 1/0 mask.
        labels: ``(N,)`` class within the sample's task; tasks: ``(N,)`` task index.
        task_names: name of every task index.
        hidden: ``(N, T, H)`` cached states entering the model's ``start_layer`` (or None).
    """

    input_ids: Tensor
    attention_mask: Tensor
    labels: Tensor
    tasks: Tensor
    task_names: list[str]
    hidden: Tensor | None = None

    def __post_init__(self):
        n = len(self.labels)
        if any(len(t) != n for t in (self.input_ids, self.attention_mask, self.tasks)):
            raise ValueError("input_ids, attention_mask, labels and tasks must have one row per sample")
        order = torch.sort(self.tasks, stable=True).indices
        for name in ("input_ids", "attention_mask", "labels", "tasks"):
            setattr(self, name, getattr(self, name)[order])
        if self.hidden is not None:
            self.hidden = self.hidden[order]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, mask: Tensor) -> TaskData:
        """The samples where ``mask (N,)`` is True."""
        return TaskData(self.input_ids[mask], self.attention_mask[mask], self.labels[mask], self.tasks[mask],
                        self.task_names, None if self.hidden is None else self.hidden[mask])

    def cached(self, model: MultiTaskAdapterModel, batch_size: int = 128) -> TaskData:
        """A copy holding ``model.lower(...)`` states for every sample (computed once)."""
        states = [model.lower(self.input_ids[i:i + batch_size], self.attention_mask[i:i + batch_size])
                  for i in range(0, len(self), batch_size)]
        return replace(self, hidden=torch.cat(states))

    def batch(self, index: Tensor, device) -> dict:
        """The model's keyword inputs for rows ``index``."""
        out = {"input_ids": self.input_ids[index].to(device), "attention_mask": self.attention_mask[index].to(device),
               "task_ids": self.tasks[index].to(device)}
        if self.hidden is not None:
            out["hidden"] = self.hidden[index].to(device)
        return out


def _balanced_sampler(data: TaskData, batch_size: int, generator: torch.Generator):
    """Rows of a batch: a uniform task per sample, then a uniform example of that task."""
    present = torch.unique(data.tasks)
    counts = torch.stack([(data.tasks == t).sum() for t in present])
    starts = torch.cumsum(counts, 0) - counts

    def draw() -> Tensor:
        which = torch.randint(len(present), (batch_size,), generator=generator)
        offset = (torch.rand(batch_size, generator=generator) * counts[which]).long()
        return starts[which] + offset

    return draw


def fit(model: MultiTaskAdapterModel, data: TaskData, config: AdaptersConfig) -> FitResult:
    """Train the model's trainable parameters with cross-entropy on task-balanced minibatches.

    Raises:
        ValueError: a bad config, empty data, or a label outside its task's classes.
    """
    if not isinstance(config, AdaptersConfig):
        raise TypeError(f"fit takes an AdaptersConfig, got {type(config).__name__}")
    config.validate()
    if len(data) == 0:
        raise ValueError("fit got no training samples")
    if data.tasks.min() < 0 or data.tasks.max() >= model.num_tasks:
        raise ValueError(f"task indices must lie in 0..{model.num_tasks - 1} (the model's tasks), got "
                         f"{data.tasks.min().item()}..{data.tasks.max().item()}")
    limits = torch.tensor(model.num_classes)[data.tasks]
    if (data.labels < 0).any() or (data.labels >= limits).any():
        raise ValueError(f"every label must lie in 0..num_classes[task]-1 (num_classes {model.num_classes})")
    torch.manual_seed(config.seed)
    device = torch.device(config.device)
    model.to(device).train()
    generator = torch.Generator().manual_seed(config.seed)
    draw = _balanced_sampler(data, config.batch_size, generator)
    optimizer = make_optimizer(model.trainable_parameters(), config.lr, weight_decay=config.weight_decay)

    def step(i: int) -> Tensor:
        rows = draw()
        logits = model(**data.batch(rows, device))
        return F.cross_entropy(logits, data.labels[rows].to(device))

    return train_loop(step, optimizer, config, total_steps=config.steps, model=model,
                      generators=[generator], desc="adapters")


@torch.no_grad()
def evaluate(model: MultiTaskAdapterModel, data: TaskData, *, batch_size: int = 128, **forward) -> dict[str, float]:
    """Accuracy per task and their mean: ``{"accuracy": mean, "accuracy/<task>": ...}``.

    ``forward`` is passed to the model (e.g. ``condition=`` or ``weights=``).
    """
    model.eval()
    device = model.head_bias.device
    correct = []
    for start in range(0, len(data), batch_size):
        rows = torch.arange(start, min(start + batch_size, len(data)))
        logits = model(**data.batch(rows, device), **forward)
        correct.append((logits.argmax(1).cpu() == data.labels[rows]).float())
    hits = torch.cat(correct)
    out = {}
    for t in torch.unique(data.tasks).tolist():
        out[f"accuracy/{data.task_names[t]}"] = float(hits[data.tasks == t].mean())
    out["accuracy"] = sum(out.values()) / len(out)
    return out


def distill(source: nn.Module, targets: dict[str, tuple[Tensor, Tensor]], target_scaling: float,
            config: AdaptersConfig, condition=None) -> FitResult:
    """Train ``source`` (e.g. an ``AdapterGenerator``) to reproduce trained LoRAs (from
    :func:`~hyperweights.adapters.import_peft`): ``condition`` (default ``arange(W)``) must give
    one set per target set; the loss is :func:`~hyperweights.adapters.lora_distillation_loss`."""
    config.validate()
    sets = next(iter(targets.values()))[0].shape[0]
    condition = torch.arange(sets) if condition is None else condition
    optimizer = make_optimizer([p for p in source.parameters() if p.requires_grad], config.lr)

    def step(i: int) -> Tensor:
        return lora_distillation_loss(source(condition), source.scaling, targets, target_scaling)

    return train_loop(step, optimizer, config, total_steps=config.steps, model=source, desc="distill")
