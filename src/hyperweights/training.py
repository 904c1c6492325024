"""The one training loop and the config every application's training extends.

Every application exposes ``fit(model, data, config) -> FitResult`` where ``config`` is a dataclass
subclassing :class:`TrainConfig` (its fields carry help text, so a CLI and the docs read them), and
builds it on :func:`train_loop`: optimizer steps, a progress bar, a checkpoint every
``checkpoint_every`` steps, and ``resume`` from it with the optimizer, scheduler and RNG states, so
a resumed run takes exactly the steps an uninterrupted one would have taken.

Example:
    >>> import torch, torch.nn.functional as F
    >>> import hyperweights as hw
    >>> from hyperweights.training import TrainConfig, train_loop
    >>> net = torch.nn.Linear(3, 2)
    >>> x, y = torch.randn(64, 3), torch.randint(0, 2, (64,))
    >>> cfg = TrainConfig(lr=1e-2, batch_size=16, progress=False)
    >>> gen = torch.Generator().manual_seed(cfg.seed)
    >>> def step(i):
    ...     idx = torch.randint(0, 64, (cfg.batch_size,), generator=gen)
    ...     return F.cross_entropy(net(x[idx]), y[idx])
    >>> result = train_loop(step, hw.make_optimizer(net.parameters(), cfg.lr), cfg,
    ...                     total_steps=20, model=net, generators=[gen])
    >>> result.steps, len(result.losses)
    (20, 20)
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ._files import load_tensors, pack_state, save_tensors, unpack_state

__all__ = ["TrainConfig", "FitResult", "train_loop", "config_field"]

#: ``kind`` of a training checkpoint written by :func:`train_loop`
TRAINING_KIND = "training.Checkpoint"
#: fields that may differ between a run and its resumption
_RUNTIME_FIELDS = {"progress", "resume", "checkpoint_every", "checkpoint_path", "device"}


def config_field(default: Any, help: str, **kwargs) -> Any:
    """A dataclass field with help text (shown by ``--help`` and in the docs)."""
    if isinstance(default, (list, dict, set)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help}, **kwargs)
    return field(default=default, metadata={"help": help}, **kwargs)


@dataclass
class TrainConfig:
    """What every application's training shares; applications subclass it and add their fields.

    Call :meth:`validate` (``fit`` does) to turn a bad value into a clear error before any work.

    Example:
        >>> TrainConfig(lr=3e-3).validate()
        >>> TrainConfig(batch_size=0).validate()
        Traceback (most recent call last):
        ...
        ValueError: TrainConfig.batch_size must be a positive integer, got 0
    """

    lr: float = config_field(1e-3, "learning rate of the optimizer (Adam)")
    batch_size: int = config_field(128, "samples per optimizer step")
    seed: int = config_field(0, "seeds initialisation, data order and sampled noise")
    progress: bool = config_field(True, "show a progress bar")
    device: str = config_field("cpu", "device to train on (cpu, cuda, cuda:1, mps)")
    checkpoint_every: int = config_field(
        0, "write a checkpoint every N optimizer steps (0: only at the end, if checkpoint_path)")
    checkpoint_path: str | None = config_field(
        None, "file of the training checkpoint (safetensors); None: no checkpoint")
    resume: bool = config_field(False, "continue from checkpoint_path (same settings required)")

    # -- validation ---------------------------------------------------------------------------
    def _require(self, name: str, ok: bool, expected: str) -> None:
        if not ok:
            raise ValueError(f"{type(self).__name__}.{name} must be {expected}, got "
                             f"{getattr(self, name)!r}")

    def positive_int(self, name: str, allow_zero: bool = False) -> None:
        """Raise unless field ``name`` is a positive (or, with ``allow_zero``, >= 0) integer."""
        value = getattr(self, name)
        ok = isinstance(value, int) and not isinstance(value, bool) and (value > 0 or allow_zero and value == 0)
        self._require(name, ok, "a non-negative integer" if allow_zero else "a positive integer")

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first field whose value cannot work."""
        self._require("lr", isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0,
                      "a positive finite number")
        self.positive_int("batch_size")
        self._require("seed", isinstance(self.seed, int) and not isinstance(self.seed, bool), "an integer")
        self.positive_int("checkpoint_every", allow_zero=True)
        if self.checkpoint_every and self.checkpoint_path is None:
            raise ValueError(f"{type(self).__name__}.checkpoint_every={self.checkpoint_every} needs a "
                             "checkpoint_path to write to")
        if self.resume and self.checkpoint_path is None:
            raise ValueError(f"{type(self).__name__}.resume=True needs the checkpoint_path to resume from")
        try:
            torch.device(self.device)
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"{type(self).__name__}.device: {self.device!r} is not a torch device "
                             "(cpu, cuda, cuda:0, mps)") from err

    # -- round trips --------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def settings(self) -> dict:
        """The fields a resumed run must share with the run it continues."""
        return {k: v for k, v in self.to_dict().items() if k not in _RUNTIME_FIELDS}

    @classmethod
    def from_dict(cls, data: dict):
        """Build from a dict (JSON); an unknown key is an error that lists the known ones."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"{cls.__name__} has no field(s) {unknown}; known: {sorted(names)}")
        return cls(**data)

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Add ``--field-name`` options for every field, with the fields' help text."""
        for f in dataclasses.fields(cls):
            flag = "--" + f.name.replace("_", "-")
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            text = f.metadata.get("help", "")
            if isinstance(default, bool):
                parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=text)
            elif isinstance(default, (list, tuple)):
                kind = type(default[0]) if default else str
                parser.add_argument(flag, nargs="*", type=kind, default=default, help=text)
            else:
                kind = type(default) if default is not None else str
                parser.add_argument(flag, type=kind, default=default, help=f"{text} (default: {default})")

    @classmethod
    def from_args(cls, args: argparse.Namespace):
        """The config from parsed :meth:`add_arguments` options."""
        return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})


@dataclass
class FitResult:
    """What a training run produced: the per-step losses, seconds spent training, optimizer steps
    taken (including those before a resume) and anything application-specific in ``extra``."""

    losses: list[float]
    seconds: float
    steps: int
    extra: dict = field(default_factory=dict)


def _progress(total: int, initial: int, desc: str, enabled: bool):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional in the core; no bar without it
        return None
    return tqdm(total=total, initial=initial, desc=desc, leave=False, mininterval=1.0)


def _write_checkpoint(path: Path, step: int, model: nn.Module, optimizer, scheduler, generators,
                      extra: dict, losses: list[float], seconds: float, settings: dict) -> None:
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    opt_tensors, opt_skeleton = pack_state(optimizer.state_dict(), "optim")
    tensors.update(opt_tensors)
    extra_tensors, extra_skeleton = pack_state({k: v.state_dict() for k, v in extra.items()}, "extra")
    tensors.update(extra_tensors)
    sched_skeleton = None
    if scheduler is not None:
        sched_tensors, sched_skeleton = pack_state(scheduler.state_dict(), "sched")
        tensors.update(sched_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    for i, gen in enumerate(generators):
        tensors[f"rng.generator.{i}"] = gen.get_state()
    tensors["losses"] = torch.tensor(losses, dtype=torch.float64)
    save_tensors(path, tensors, {"kind": TRAINING_KIND, "step": step, "seconds": seconds,
                                 "settings": settings, "optim": opt_skeleton, "sched": sched_skeleton,
                                 "extra": extra_skeleton, "generators": len(generators)})


def _read_checkpoint(path: Path, model: nn.Module, optimizer, scheduler, generators, extra: dict,
                     settings: dict) -> tuple[int, list[float], float]:
    if not path.is_file():
        raise FileNotFoundError(f"resume=True but there is no checkpoint at {path}; start without "
                                "resume, or point checkpoint_path at the file of the run to continue")
    tensors, meta = load_tensors(path)
    if meta.get("kind") != TRAINING_KIND:
        raise ValueError(f"{path} is not a training checkpoint (kind {meta.get('kind')!r})")
    if meta["settings"] != settings:
        diff = {k: (meta["settings"].get(k), settings.get(k))
                for k in set(meta["settings"]) | set(settings) if meta["settings"].get(k) != settings.get(k)}
        raise ValueError(f"{path} was written with other settings ({{field: (stored, now)}}: {diff}); "
                         "resume with the same settings or start afresh")
    if meta["generators"] != len(generators):
        raise ValueError(f"{path} stored {meta['generators']} generator states, this run has {len(generators)}")
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    optimizer.load_state_dict(unpack_state(tensors, meta["optim"]))
    if scheduler is not None and meta["sched"] is not None:
        scheduler.load_state_dict(unpack_state(tensors, meta["sched"]))
    stored_extra = unpack_state(tensors, meta.get("extra", {"__dict__": []}))
    if set(stored_extra) != set(extra):
        raise ValueError(f"{path} stored extra state {sorted(stored_extra)}, this run has {sorted(extra)}")
    for name, obj in extra.items():
        obj.load_state_dict(stored_extra[name])
    torch.set_rng_state(tensors["rng.torch"])
    for i, gen in enumerate(generators):
        gen.set_state(tensors[f"rng.generator.{i}"])
    return meta["step"], tensors["losses"].tolist(), meta["seconds"]


def train_loop(step: Callable[[int], Tensor], optimizer: torch.optim.Optimizer, config: TrainConfig, *,
               total_steps: int, model: nn.Module, scheduler=None,
               after_step: Callable[[int], bool | None] | None = None,
               generators: Sequence[torch.Generator] = (), extra_state: dict | None = None,
               settings: dict | None = None,
               clip_grad_norm: float | None = None, desc: str = "training") -> FitResult:
    """Take ``total_steps`` optimizer steps of ``step(i) -> loss``, with progress, checkpoints, resume.

    Args:
        step: computes the scalar loss of global step ``i`` (``0 <= i < total_steps``); it draws its
            own minibatch, from a generator listed in ``generators`` so that a resumed run draws
            the same batches.
        optimizer: updates what trains (build it with :func:`hyperweights.make_optimizer`).
        config: ``checkpoint_every``, ``checkpoint_path``, ``resume``, ``progress`` are read here.
        total_steps: optimizer steps of the whole run.
        model: the module whose ``state_dict()`` is checkpointed (everything that trains).
        scheduler: an LR scheduler stepped after every optimizer step (checkpointed too).
        after_step: called after every optimizer step with ``i`` (e.g. a discriminator update);
            returning ``True`` ends the run there (early stopping; ``FitResult.steps`` says where).
        generators: random generators whose states are checkpointed and restored.
        extra_state: more objects with ``state_dict`` / ``load_state_dict`` that a resumed run
            needs, by name (e.g. a discriminator's optimizer stepped in ``after_step``).
        settings: JSON that must match on resume (default ``config.settings()``); add the model's
            config to it.
        clip_grad_norm: clip the gradient norm of ``model``'s parameters to this value before each
            step (``None``: no clipping).
        desc: progress-bar label.

    Returns:
        :class:`FitResult` with every step's loss (including those before a resume).

    Raises:
        ValueError: a negative ``total_steps``, a non-finite loss (the step is named), or a
            checkpoint written with other settings.
    """
    if not (isinstance(total_steps, int) and total_steps >= 0):
        raise ValueError(f"total_steps must be a non-negative integer, got {total_steps!r}")
    settings = dict(config.settings() if settings is None else settings, total_steps=total_steps)
    path = Path(config.checkpoint_path) if config.checkpoint_path is not None else None
    extra = dict(extra_state or {})
    start, losses, before = 0, [], 0.0
    if config.resume:
        start, losses, before = _read_checkpoint(path, model, optimizer, scheduler, generators, extra,
                                                 settings)
    bar = _progress(total_steps, start, desc, config.progress)
    pending: list[Tensor] = []          # losses stay on the device until a checkpoint or the end
    tic = time.perf_counter()

    def flush() -> None:
        values = torch.stack(pending).tolist() if pending else []
        bad = next((i for i, v in enumerate(values) if not math.isfinite(v)), None)
        if bad is not None:
            raise ValueError(f"the loss became {values[bad]} at step {len(losses) + bad}; lower the "
                             "learning rate or check the data for NaN/inf values")
        losses.extend(values)
        pending.clear()

    for i in range(start, total_steps):
        loss = step(i)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        stop = after_step is not None and after_step(i) is True
        pending.append(loss.detach())
        if len(pending) >= 100:           # one device sync per 100 steps catches a NaN early
            flush()
        if bar is not None:
            bar.update()
            if i % 50 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}")
        done = i + 1
        last = stop or done == total_steps
        if path is not None and (last or config.checkpoint_every and done % config.checkpoint_every == 0):
            flush()
            _write_checkpoint(path, done, model, optimizer, scheduler, generators, extra, losses,
                              before + time.perf_counter() - tic, settings)
        if stop:
            break
    flush()
    if bar is not None:
        bar.close()
    return FitResult(losses=losses, seconds=before + time.perf_counter() - tic, steps=len(losses))
