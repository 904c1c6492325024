"""Train a learner through a protocol's tasks (:func:`fit`) and evaluate it (:func:`evaluate`).

:func:`fit` runs the tasks in order: ``begin_task``, ``config.steps`` optimizer steps on the core
:func:`~hyperweights.training.train_loop`, ``end_task``, then the CL1 accuracy of the tasks so far
into column ``task`` of the accuracy matrix. With ``config.checkpoint_path`` it writes, after
every task, one atomic checkpoint: the learner as ``hw.save`` writes it (so ``hw.load(path)``
returns the learner mid-curriculum) plus the accuracy matrix and the RNG states. A run stopped
after any task and resumed (``config.resume=True``) ends with the same accuracy matrix as an
uninterrupted one; so does ``fit`` on a learner loaded with ``hw.load``, which continues with the
task after the last one it began (with its stored data generator).

Example:
    >>> import hyperweights as hw
    >>> from hyperweights.data.protocols import make_protocol
    >>> from hyperweights.continual import HNET, ContinualConfig, fit, evaluate
    >>> torch.manual_seed(0) and None
    >>> protocol = make_protocol("split", "digits")
    >>> learner = HNET(hw.mlp((64, 32, 10)), protocol.classes, emb_dim=8, trunk=hw.MLP((16,)),
    ...                head=hw.ChunkedHead(512, 8))
    >>> result = fit(learner, protocol, ContinualConfig(steps=5, batch_size=16, progress=False))
    >>> result.extra["acc"].shape, result.steps
    (torch.Size([5, 5]), 25)
    >>> sorted(evaluate(learner, protocol))[:2]
    ['cl1_acc', 'cl1_task0']
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from .._files import load_tensors, save_tensors
from ..training import FitResult, TrainConfig, config_field, train_loop
from .base import ContinualMethod
from .inference import predict_cl3
from .metrics import summarize

__all__ = ["ContinualConfig", "fit", "evaluate", "evaluate_cl1", "evaluate_cl3"]

#: checkpoint tensors that belong to the curriculum, not to the learner
_PREFIX = "curriculum."


@dataclass
class ContinualConfig(TrainConfig):
    """Settings of :func:`fit` (the core :class:`~hyperweights.training.TrainConfig` + these).

    ``checkpoint_path`` gets a checkpoint after every task (a task boundary needs no optimizer
    state: each task starts a fresh one), so ``checkpoint_every`` must stay 0.
    """

    steps: int = config_field(400, "optimizer steps per task")
    eval_limit: int | None = config_field(None, "test images per task in the accuracy matrix (None: all)")
    eval_every: int = config_field(1, "evaluate after every k-th task (and the last); other columns stay NaN")
    cl3: bool = config_field(False, "also report class-incremental accuracy (entropy task inference) at the end")
    stop_after: int | None = config_field(None, "return after training this task (an interrupted run)")

    def validate(self) -> None:
        super().validate()
        self.positive_int("steps")
        self.positive_int("eval_every")
        if self.eval_limit is not None:
            self.positive_int("eval_limit")
        if self.stop_after is not None:
            self.positive_int("stop_after", allow_zero=True)
        if self.checkpoint_every:
            raise ValueError(f"ContinualConfig.checkpoint_every must be 0, got {self.checkpoint_every}: "
                             "a continual checkpoint is written after every task whenever "
                             "checkpoint_path is set")


def _padded(protocol, tasks: list[int], limit: int | None):
    parts = [protocol.test_set(t, limit) for t in tasks]
    n = max(len(p[1]) for p in parts)
    d = parts[0][0].shape[1]
    x = torch.zeros(len(tasks), n, d)
    y = torch.full((len(tasks), n), -1, dtype=torch.long)
    for k, (xi, yi, _) in enumerate(parts):   # copies into one padded tensor, no model calls
        x[k, : len(yi)], y[k, : len(yi)] = xi, yi
    return x, y


class _evaluating:
    """``with _evaluating(learner):`` eval mode and no gradients inside, the mode restored after."""

    def __init__(self, learner):
        self.learner, self.was = learner, learner.training

    def __enter__(self):
        self.grad = torch.is_grad_enabled()
        torch.set_grad_enabled(False)
        self.learner.eval()

    def __exit__(self, *exc):
        self.learner.train(self.was)
        torch.set_grad_enabled(self.grad)


def evaluate_cl1(learner: ContinualMethod, protocol, upto: int, limit: int | None = None,
                 block: int = 10, logits_fn=None) -> Tensor:
    """CL1 accuracy ``(upto,)`` of tasks ``0..upto-1``: blocks of tasks, each one paired call.

    ``logits_fn(x, tasks)`` replaces ``learner.task_logits`` (e.g. HyperInterval's universal
    network). The learner's training mode is restored afterwards.
    """
    logits_fn = logits_fn or learner.task_logits
    out = []
    with _evaluating(learner):
        for start in range(0, upto, block):
            tasks = list(range(start, min(upto, start + block)))
            x, y = _padded(protocol, tasks, limit)
            pred = logits_fn(x, torch.tensor(tasks)).argmax(-1)
            valid = y >= 0
            out.append(((pred == y) & valid).sum(1).float() / valid.sum(1).clamp_min(1))
    return torch.cat(out)


def evaluate_cl3(learner: ContinualMethod, protocol, num_tasks: int, limit: int | None = None,
                 chunk: int = 1000) -> dict:
    """CL3 (task inferred by lowest entropy): accuracy on the union of tasks' test sets, and how
    often the inferred task is right. The learner's training mode is restored afterwards."""
    parts = [protocol.test_set(t, limit) for t in range(num_tasks)]
    x = torch.cat([p[0] for p in parts])
    y = torch.cat([p[2] for p in parts])
    t = torch.cat([torch.full_like(p[2], k) for k, p in enumerate(parts)])
    right = task_right = 0
    with _evaluating(learner):
        for s in range(0, len(y), chunk):     # blocks of samples, all tasks in one ensemble call each
            task, cls = predict_cl3(learner.all_logits(x[s:s + chunk], num_tasks), learner.classes)
            right += int((cls == y[s:s + chunk]).sum())
            task_right += int((task == t[s:s + chunk]).sum())
    return {"cl3_acc": right / len(y), "task_inference_acc": task_right / len(y)}


def evaluate(learner: ContinualMethod, protocol, *, num_tasks: int | None = None,
             limit: int | None = None, cl3: bool = False) -> dict[str, float]:
    """CL1 accuracy (task id given) of tasks ``0..num_tasks-1``, and optionally CL3.

    Returns:
        ``{"cl1_acc": mean, "cl1_task<i>": per task, ...}`` plus ``cl3_acc`` and
        ``task_inference_acc`` when ``cl3``.
    """
    n = protocol.num_tasks if num_tasks is None else int(num_tasks)
    _check_protocol(learner, protocol)
    if not 1 <= n <= protocol.num_tasks:
        raise ValueError(f"num_tasks must be in 1..{protocol.num_tasks} (the protocol's tasks), got {n}")
    acc = evaluate_cl1(learner, protocol, n, limit)
    out = {"cl1_acc": float(acc.mean()), **{f"cl1_task{i}": float(a) for i, a in enumerate(acc)}}
    if cl3:
        out.update(evaluate_cl3(learner, protocol, n, limit))
    return out


def _check_protocol(learner, protocol) -> None:
    if not isinstance(learner, ContinualMethod):
        raise TypeError(f"learner must be a hyperweights.continual learner (HNET, HyperInterval, "
                        f"FineTune, ...), got {type(learner).__name__}")
    n = protocol.num_tasks
    if n > learner.num_tasks:
        raise ValueError(f"{protocol.name} has {n} tasks but the learner was built for "
                         f"{learner.num_tasks}; build it with num_tasks >= the protocol's tasks "
                         "(or call add_tasks on it first)")
    if not torch.equal(learner.classes[:n], protocol.classes):
        raise ValueError("the learner's task classes differ from the protocol's; build it with "
                         "classes=protocol.classes")


def _settings(learner, protocol, config: ContinualConfig) -> dict:
    """What a resumed run must share with the run it continues (stop_after and cl3, which only
    decide when to stop and what to report at the end, may differ)."""
    run = {k: v for k, v in config.settings().items() if k not in ("stop_after", "cl3")}
    return {"learner": learner.config(), "protocol": protocol.config, **run}


def _resume(learner, path: Path, settings: dict, generator: torch.Generator):
    if not path.is_file():
        raise FileNotFoundError(f"resume=True but there is no checkpoint at {path}; start without "
                                "resume, or point checkpoint_path at the file of the run to continue")
    tensors, meta = load_tensors(path)
    state = meta.get("curriculum")
    if state is None:
        raise ValueError(f"{path} is not a continual checkpoint written by fit (no curriculum state)")
    if state["settings"] != settings:
        raise ValueError(f"{path} was written with different settings:\n  stored {state['settings']}"
                         f"\n  now    {settings}\nresume with the same arguments or start afresh")
    learner.load_state_dict({k: v for k, v in tensors.items() if not k.startswith((_PREFIX, "rng."))})
    generator.set_state(tensors["rng.generator"])
    torch.set_rng_state(tensors["rng.torch"])
    return tensors[_PREFIX + "acc"].clone(), state


def _checkpoint(learner, path: Path, acc: Tensor, state: dict) -> None:
    tensors, config = learner.checkpoint_state()
    tensors = {**tensors, _PREFIX + "acc": acc}
    save_tensors(path, tensors, {"kind": type(learner).checkpoint_kind, "config": config,
                                 "curriculum": state})


def fit(learner: ContinualMethod, protocol, config: ContinualConfig | None = None, *,
        on_task_end=None) -> FitResult:
    """Train ``learner`` on every task of ``protocol`` in order.

    Args:
        learner: a learner of this package built for at least ``protocol.num_tasks`` tasks, fresh
            or loaded mid-curriculum with ``hw.load`` (it continues with its next task).
        protocol: the task sequence (:func:`~hyperweights.data.protocols.make_protocol`).
        config: steps per task, batch, seed, evaluation and checkpoint settings.
        on_task_end: ``callback(task, result)`` after each task (e.g. memory probes).

    Returns:
        :class:`~hyperweights.training.FitResult`: ``losses`` of every step, ``seconds`` of
        training, ``steps``; ``extra`` holds ``acc`` (``acc[i, j]``: CL1 accuracy on task ``i``
        after training task ``j``), ``summary`` (final average, BWT, forgetting), ``completed``
        tasks, ``task_seconds``, ``eval_seconds`` and ``cl3`` (or None).

    Raises:
        ValueError: a bad config value, a protocol with more tasks than the learner, or a
            checkpoint from different settings.
    """
    config = ContinualConfig() if config is None else config
    if not isinstance(config, ContinualConfig):
        raise TypeError(f"config must be a ContinualConfig, got {type(config).__name__}")
    config.validate()
    _check_protocol(learner, protocol)
    if torch.device(config.device).type != "cpu":
        raise ValueError(f"ContinualConfig.device={config.device!r}: fit runs on the CPU for now (the "
                         "protocols keep their images there); use device='cpu'")
    if config.lr != learner.lr:
        raise ValueError(f"ContinualConfig.lr={config.lr} but the learner was built with lr={learner.lr} "
                         "(it builds a fresh optimizer at every task start); pass the same value")
    num_tasks = protocol.num_tasks
    settings = _settings(learner, protocol, config)
    path = Path(config.checkpoint_path) if config.checkpoint_path is not None else None
    generator = torch.Generator().manual_seed(config.seed)
    acc = torch.full((num_tasks, num_tasks), math.nan)
    state = {"settings": settings, "next_task": 0, "task_seconds": [], "losses": [], "eval_seconds": 0.0}
    if config.resume:
        acc, state = _resume(learner, path, settings, generator)
    elif int(learner.current_task) >= 0:       # loaded mid-curriculum: its random streams continue
        generator, state["next_task"] = learner.generator, int(learner.current_task) + 1
        if learner.saved_torch_rng is not None:
            torch.set_rng_state(learner.saved_torch_rng)
            learner.saved_torch_rng = None
    else:
        torch.manual_seed(config.seed)
    per_task = dataclasses.replace(config, checkpoint_path=None, checkpoint_every=0, resume=False)
    result = FitResult(state["losses"], sum(state["task_seconds"]), 0, {"acc": acc})
    for task in range(state["next_task"], num_tasks):
        learner.train()
        tic = time.perf_counter()
        learner.begin_task(task, generator)

        def step(i, task=task):
            x, y = protocol.sample(task, config.batch_size, generator)
            return learner.loss(task, x, y)
        run = train_loop(step, learner.optimizer, per_task, total_steps=config.steps, model=learner,
                         desc=f"{learner.name} task {task}/{num_tasks}")
        learner.end_task(task, protocol, config.batch_size)
        state["task_seconds"].append(time.perf_counter() - tic)
        state["losses"].extend(run.losses)
        tic = time.perf_counter()
        if (task + 1) % config.eval_every == 0 or task == num_tasks - 1:
            acc[: task + 1, task] = evaluate_cl1(learner, protocol, task + 1, config.eval_limit)
        state["eval_seconds"] += time.perf_counter() - tic
        state["next_task"] = task + 1
        if path is not None:
            _checkpoint(learner, path, acc, state)
        result = _result(acc, state, config)
        if on_task_end is not None:
            on_task_end(task, result)
        if config.stop_after is not None and task >= config.stop_after:
            break
    result = _result(acc, state, config)
    if config.cl3 and state["next_task"] == num_tasks:
        result.extra["cl3"] = evaluate_cl3(learner, protocol, num_tasks, config.eval_limit)
    return result


def _result(acc: Tensor, state: dict, config: ContinualConfig) -> FitResult:
    done = state["next_task"]
    return FitResult(losses=list(state["losses"]), seconds=sum(state["task_seconds"]),
                     steps=done * config.steps,
                     extra={"acc": acc, "summary": summarize(acc[:done, :done]), "completed": done,
                            "task_seconds": list(state["task_seconds"]),
                            "eval_seconds": state["eval_seconds"], "cl3": None})
