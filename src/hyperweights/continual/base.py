"""What every continual learner in this package shares: the target, task heads, one training step.

A learner sees tasks one after the other (:meth:`ContinualMethod.begin_task`, many
:meth:`~ContinualMethod.step` calls, :meth:`~ContinualMethod.end_task`) and answers two questions:

- :meth:`~ContinualMethod.task_logits`: paired evaluation, ``K`` tasks each with its own inputs
  ``(K, N, D) -> (K, N, C)`` (CL1: the task id is given);
- :meth:`~ContinualMethod.all_logits`: every trained task's prediction for the same inputs
  ``(B, D) -> (T, B, C)`` (CL3: the task is inferred from these, see
  :func:`~hyperweights.continual.infer_task`).

Logits are *local*: column ``c`` of task ``t`` is output unit ``classes[t, c]`` of the target.
All state lives in ``state_dict()`` (fixed shapes), so a learner rebuilt with the same arguments
loads a checkpoint; ``hw.save(learner, path)`` / ``hw.load(path)`` store and rebuild any learner
of this package (also mid-curriculum: it continues with the next task).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import hyperweights as hw
from hyperweights._parts import build_part
from hyperweights.model import IGNORED_BY_DDP

__all__ = ["ContinualMethod", "target_spec", "build_target"]


def target_spec(target: nn.Module) -> dict | None:
    """The JSON that rebuilds ``target`` with :func:`build_target`: ``{"mlp": sizes}`` for a plain
    ``hw.mlp`` ReLU MLP, None for anything else (then ``hw.load`` needs ``target=``).

    Example:
        >>> target_spec(hw.mlp((8, 16, 4)))
        {'mlp': [8, 16, 4]}
    """
    if not isinstance(target, nn.Sequential) or len(target) % 2 != 1:
        return None
    linears = list(target)[0::2]
    if not all(type(m) is nn.Linear and m.bias is not None for m in linears) or not all(
            type(m) is nn.ReLU for m in list(target)[1::2]):
        return None
    return {"mlp": [linears[0].in_features] + [m.out_features for m in linears]}


def build_target(spec: dict | None, override: nn.Module | None = None) -> nn.Module:
    """``override`` if given, else the target ``spec`` describes (see :func:`target_spec`)."""
    if override is not None:
        return override
    if spec is None:
        raise ValueError("this checkpoint's target is not a plain MLP and was not stored; pass the "
                         "target it was trained with: hw.load(path, target=...)")
    return hw.mlp(spec["mlp"])


def _part(spec: dict | None):
    return None if spec is None else build_part(spec)


def _describe(part) -> dict | None:
    return None if part is None else {"class": type(part).__name__, "config": part.get_config()}


def _as_classes(classes) -> Tensor:
    """``(T, C)`` output units as an int64 tensor (a nested list is accepted), checked."""
    if isinstance(classes, Tensor):
        if classes.is_floating_point() or classes.is_complex() or classes.dtype == torch.bool:
            raise TypeError(f"classes must hold integer output-unit ids, got dtype {classes.dtype}")
        table = classes.detach().to(torch.long).clone()
    else:
        try:
            table = torch.as_tensor(classes, dtype=torch.long)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError("classes must be a (T, C) tensor or nested list of integer output-unit "
                            f"ids (e.g. [[0, 1], [2, 3]]), got {classes!r}") from err
    if table.ndim != 2 or table.numel() == 0:
        raise ValueError(f"classes must have shape (T, C) with T, C >= 1 (row t: the output units "
                         f"of task t), got shape {tuple(table.shape)}")
    if int(table.min()) < 0:
        raise ValueError(f"classes must be non-negative output-unit ids, got {int(table.min())}")
    return table


def _last_linear(module: nn.Module) -> nn.Linear | None:
    return next((m for m in reversed(list(module.modules())) if isinstance(m, nn.Linear)), None)


class ContinualMethod(nn.Module):
    """Base class: task heads, the per-task optimizer and the default training step.

    Args:
        classes: ``(T, C)`` output units of each task (from the protocol).
        lr: Adam learning rate; a fresh optimizer is built at every task start (as in hypnettorch's
            HNET), so a checkpoint at a task boundary needs no optimizer state.
    """

    name = "method"
    # DistributedDataParallel(learner) leaves the target's generated parameters out of its
    # gradient reduction (they are never used; see hyperweights.model.IGNORED_BY_DDP)
    _ddp_params_and_buffers_to_ignore = IGNORED_BY_DDP

    def __init__(self, classes: Tensor, lr: float = 1e-3):
        super().__init__()
        self.register_buffer("classes", _as_classes(classes))
        if not lr > 0:
            raise ValueError(f"lr must be a positive learning rate, got {lr!r}")
        self.lr = lr
        self.optimizer: torch.optim.Optimizer | None = None
        # the task being learned (-1: none yet); tasks are learned in order 0, 1, 2, ...
        self.register_buffer("current_task", torch.tensor(-1))
        # random draws of the task being learned (subsets, Fisher samples, Joint's batches);
        # begin_task(task, generator) replaces it
        self.generator = torch.Generator().manual_seed(0)
        #: JSON constructor arguments and parts (``{"trunk": part, ...}``) for checkpoint_state
        self.init_args: dict = {"lr": lr}
        self.init_parts: dict = {}
        #: torch's RNG state stored with a checkpoint (set by from_checkpoint, used by fit)
        self.saved_torch_rng: Tensor | None = None

    @property
    def num_tasks(self) -> int:
        return self.classes.shape[0]

    def check_task(self, task: int) -> None:
        if not 0 <= int(task) < self.num_tasks:
            raise IndexError(
                f"task id {task} out of range: {type(self).__name__} was built for {self.num_tasks} "
                f"tasks (ids 0..{self.num_tasks - 1}); build it with more tasks or call add_tasks()"
            )

    def check_outputs(self, target: nn.Module) -> None:
        """Every task's output units must exist in ``target``'s last ``nn.Linear`` layer."""
        last = _last_linear(target)
        if last is not None and int(self.classes.max()) >= last.out_features:
            raise ValueError(
                f"classes name output unit {int(self.classes.max())} but the target has "
                f"{last.out_features} outputs (units 0..{last.out_features - 1}); build the target "
                f"with at least {int(self.classes.max()) + 1} outputs or renumber the classes")

    def check_begin(self, task: int) -> None:
        """``task`` may begin: in range, and the next task (or the current one, restarted).

        Raises:
            IndexError: ``task`` is not a task of this learner.
            ValueError: tasks out of order (e.g. ``begin_task(0)`` after task 1: the outputs of
                task 1 would not be protected).
        """
        self.check_task(task)
        current = int(self.current_task)
        if int(task) not in (current, current + 1):
            raise ValueError(
                f"tasks are learned in order: after task {current} the next is {current + 1}, "
                f"got begin_task({task}); a learner cannot go back to an earlier task (its "
                "outputs for later tasks would not be protected) or skip one")

    def check_step(self, task: int, x: Tensor, y: Tensor) -> None:
        """The batch of a training step: ``x (B, D)`` floating on the learner's device, ``y (B,)``
        local labels, ``task`` the task begun last.

        Raises:
            RuntimeError: no task begun, or ``task`` is not the task being learned.
            TypeError: ``x`` or ``y`` is not a tensor of the right dtype or device.
            ValueError: wrong shapes or labels outside the task's output units.
        """
        current = int(self.current_task)
        if current < 0 or self.optimizer is None:
            raise RuntimeError(f"step({task}, ...) before begin_task: call begin_task({max(current + 1, 0)}) "
                               "first (it protects the earlier tasks and builds the optimizer)")
        if int(task) != current:
            raise RuntimeError(f"step({task}, ...) but the task being learned is {current}: call "
                               f"begin_task({task}) first, or step({current}, ...)")
        ref = self.classes                        # a buffer: on the learner's device
        dtype = next((p.dtype for p in self.parameters()), torch.get_default_dtype())
        for name, value in (("x", x), ("y", y)):
            if not isinstance(value, Tensor):
                raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}; "
                                f"convert it with torch.as_tensor({name})")
            if value.device != ref.device:
                raise TypeError(f"{name} is on device {value.device} but the learner is on "
                                f"{ref.device}; move it with {name}.to({str(ref.device)!r})")
        if x.dtype != dtype:
            raise TypeError(f"x must have the learner's dtype {dtype}, got {x.dtype}; convert it "
                            f"with x.to({dtype})")
        features = self.in_features
        if x.ndim != 2 or (features is not None and x.shape[1] != features):
            want = f"(B, {features})" if features is not None else "(B, D)"
            raise ValueError(f"x must have shape {want} (a batch of flat inputs), got {tuple(x.shape)}")
        if y.dtype != torch.long or y.shape != x.shape[:1]:
            raise ValueError(f"y must be int64 local labels of shape ({x.shape[0]},), got "
                             f"{y.dtype} {tuple(y.shape)}")
        self.check_labels(task, y)

    @property
    def in_features(self) -> int | None:
        """Input width of the target (its first ``nn.Linear``), or None if it has none."""
        target = getattr(self, "target", None)
        first = None if target is None else next((m for m in target.modules() if isinstance(m, nn.Linear)), None)
        return None if first is None else first.in_features

    def check_labels(self, task: int, y: Tensor) -> None:
        c = self.classes.shape[1]
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= c):
            raise ValueError(
                f"labels of task {task} must be local class indices in 0..{c - 1} (the task's "
                f"{c} output units), got values in {int(y.min())}..{int(y.max())}; map global "
                "labels with Protocol.local_of"
            )

    # -- hooks ---------------------------------------------------------------------------------
    def trainable(self, task: int) -> list[nn.Parameter]:
        """Parameters the optimizer of ``task`` updates."""
        return [p for p in self.parameters() if p.requires_grad]

    def begin_task(self, task: int, generator: torch.Generator | None = None) -> None:
        """Start learning ``task`` (the next one in order): a fresh optimizer.

        Args:
            task: the task id (``0`` first, then ``1``, ...).
            generator: the random draws of this task (regularized subsets, Fisher samples,
                Joint's batches); default: the learner's own generator.
        """
        self.check_begin(task)
        if generator is not None:
            if not isinstance(generator, torch.Generator):
                raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
            self.generator = generator
        self.current_task.fill_(int(task))
        self.optimizer = hw.make_optimizer(self.trainable(task), self.lr)

    def end_task(self, task: int, protocol, batch_size: int = 128) -> None:
        """Called once a task's steps are done (consolidation, snapshots, Fisher, growth);
        ``batch_size`` is the batch of any extra training steps it takes."""

    def loss(self, task: int, x: Tensor, y: Tensor) -> Tensor:
        """The training objective of one batch (task loss + any regularizer)."""
        return F.cross_entropy(self.task_logits(x[None], torch.tensor([task]))[0], y)

    def forward(self, task: int, x: Tensor, y: Tensor) -> Tensor:
        """The training loss of one batch (checked as :meth:`step` checks it): what a
        ``DistributedDataParallel(learner)`` wrapper runs, ``ddp(task, x, y).backward()`` followed by
        ``learner.optimizer.step()`` (docs/distributed.md)."""
        self.check_step(task, x, y)
        return self.loss(task, x, y)

    def step(self, task: int, x: Tensor, y: Tensor) -> float:
        """One optimizer step on ``x (B, D)``, local labels ``y (B,)``; returns the loss.
        (Learners define :meth:`loss`; :func:`~hyperweights.continual.fit` takes the same steps.)"""
        self.check_step(task, x, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(task, x, y)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    # -- prediction ----------------------------------------------------------------------------
    def _local(self, logits: Tensor, tasks: Tensor) -> Tensor:
        """Full logits ``(K, N, O)`` -> the tasks' own units ``(K, N, C)``."""
        idx = self.classes[tasks][:, None, :].expand(-1, logits.shape[1], -1)
        return logits.gather(2, idx)

    def task_logits(self, x: Tensor, tasks: Tensor) -> Tensor:  # pragma: no cover - abstract
        """``x: (K, N, D)``, ``tasks: (K,)`` -> local logits ``(K, N, C)``."""
        raise NotImplementedError

    def all_logits(self, x: Tensor, num_tasks: int) -> Tensor:
        """Local logits of tasks ``0..num_tasks-1`` on the same inputs: ``(T, B, C)``."""
        tasks = torch.arange(num_tasks)
        return self.task_logits(x[None].expand(num_tasks, *x.shape), tasks)

    def config(self) -> dict:
        """JSON description (recorded in checkpoints and results)."""
        return {"name": self.name, "lr": self.lr}

    def param_counts(self) -> dict:
        """Trainable scalars: ``{"learner": ..., "target": ...}``."""
        return {"learner": hw.param_count(self)}

    # -- checkpoints (hw.save / hw.load) -------------------------------------------------------
    def checkpoint_state(self) -> tuple[dict[str, Tensor], dict]:
        """Tensors (``state_dict`` + the generator's state) and the JSON that rebuilds the learner."""
        tensors = dict(self.state_dict())
        # the random streams a continued curriculum needs: the task draws and torch's global RNG
        # (which e.g. SeparateNetworks initialises each new network from); fit restores both
        tensors["rng.generator"] = self.generator.get_state()
        tensors["rng.torch"] = torch.get_rng_state()
        config = {"args": self.init_args, "parts": {k: _describe(v) for k, v in self.init_parts.items()},
                  "target": target_spec(self.target) if hasattr(self, "target") else None}
        return tensors, config

    @classmethod
    def from_checkpoint(cls, tensors: dict[str, Tensor], config: dict, *, target: nn.Module | None = None,
                        **overrides):
        """Rebuild the learner ``checkpoint_state`` described and load its tensors.

        Args:
            tensors, config: what :meth:`checkpoint_state` returned (via ``hw.load``).
            target: the target network, if it is not a plain MLP (those are rebuilt).
            overrides: constructor arguments to use instead of the stored ones (e.g. ``protocol``
                for :class:`~hyperweights.continual.Joint`).
        """
        parts = {k: _part(v) for k, v in config["parts"].items()}
        kwargs = {**config["args"], **parts, **overrides}
        learner = cls(build_target(config["target"], target), tensors["classes"], **kwargs)
        learner.load_state_dict({k: v for k, v in tensors.items()        # curriculum.*: fit's own
                                 if not k.startswith(("rng.", "curriculum."))})
        learner.generator.set_state(tensors["rng.generator"])
        learner.saved_torch_rng = tensors.get("rng.torch")    # fit continues from it
        return learner
