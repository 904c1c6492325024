"""Run a learner through a protocol's tasks, with a checkpoint after every task and ``resume``.

After task ``j`` the runner evaluates tasks ``0..j`` (CL1, task id given) into column ``j`` of the
accuracy matrix and atomically writes one safetensors checkpoint (learner state, accuracy matrix,
both RNG states; JSON metadata with the settings). A run stopped after any task and resumed from
its checkpoint ends with the same accuracy matrix as an uninterrupted run with the same seed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from ..io import load_tensors, save_tensors
from .base import ContinualMethod
from .inference import predict_cl3
from .metrics import summarize

__all__ = ["CurriculumResult", "run_curriculum", "evaluate_cl1", "evaluate_cl3"]

CHECKPOINT = "curriculum.safetensors"


@dataclass
class CurriculumResult:
    """What a run produced. ``acc[i, j]``: CL1 accuracy on task ``i`` after training task ``j``."""

    acc: Tensor
    train_seconds: list[float]
    eval_seconds: float
    losses: list[float]
    completed: int
    cl3: dict | None = None
    extra: dict = field(default_factory=dict)

    def summary(self) -> dict:
        return summarize(self.acc[: self.completed, : self.completed])


def _padded(protocol, tasks: list[int], limit: int | None):
    parts = [protocol.test_set(t, limit) for t in tasks]
    n = max(len(p[1]) for p in parts)
    d = parts[0][0].shape[1]
    x = torch.zeros(len(tasks), n, d)
    y = torch.full((len(tasks), n), -1, dtype=torch.long)
    for k, (xi, yi, _) in enumerate(parts):   # copies into one padded tensor, no model calls
        x[k, : len(yi)], y[k, : len(yi)] = xi, yi
    return x, y


@torch.no_grad()
def evaluate_cl1(method: ContinualMethod, protocol, upto: int, limit: int | None = None,
                 block: int = 10, logits_fn=None) -> Tensor:
    """CL1 accuracy ``(upto,)`` of tasks ``0..upto-1``: blocks of tasks, each one paired call.

    ``logits_fn(x, tasks)`` replaces ``method.task_logits`` (e.g. HyperInterval's universal network).
    """
    logits_fn = logits_fn or method.task_logits
    method.eval()
    out = []
    for start in range(0, upto, block):
        tasks = list(range(start, min(upto, start + block)))
        x, y = _padded(protocol, tasks, limit)
        pred = logits_fn(x, torch.tensor(tasks)).argmax(-1)
        valid = y >= 0
        out.append(((pred == y) & valid).sum(1).float() / valid.sum(1).clamp_min(1))
    method.train()
    return torch.cat(out)


@torch.no_grad()
def evaluate_cl3(method: ContinualMethod, protocol, num_tasks: int, limit: int | None = None,
                 chunk: int = 1000) -> dict:
    """CL3 (task inferred by lowest entropy): accuracy on the union of tasks' test sets, and how
    often the inferred task is right."""
    method.eval()
    xs, ys, ts = [], [], []
    for t in range(num_tasks):
        x, _, y = protocol.test_set(t, limit)
        xs.append(x), ys.append(y), ts.append(torch.full_like(y, t))
    x, y, t = torch.cat(xs), torch.cat(ys), torch.cat(ts)
    right = task_right = 0
    for s in range(0, len(y), chunk):     # blocks of samples, all tasks in one ensemble call each
        task, cls = predict_cl3(method.all_logits(x[s:s + chunk], num_tasks), method.classes)
        right += int((cls == y[s:s + chunk]).sum())
        task_right += int((task == t[s:s + chunk]).sum())
    method.train()
    return {"cl3_acc": right / len(y), "task_inference_acc": task_right / len(y)}


def _rng_tensors(generator: torch.Generator) -> dict[str, Tensor]:
    return {"rng.torch": torch.get_rng_state(), "rng.data": generator.get_state()}


def run_curriculum(method: ContinualMethod, protocol, *, steps: int, batch: int = 128, seed: int = 0,
                   checkpoint_dir: str | Path | None = None, resume: bool = False,
                   stop_after: int | None = None, eval_limit: int | None = None,
                   eval_every: int = 1, cl3: bool = False, progress: bool = False,
                   on_task_end=None) -> CurriculumResult:
    """Train ``method`` on every task of ``protocol`` in order.

    Args:
        method: a :class:`ContinualMethod` built for at least ``protocol.num_tasks`` tasks.
        steps: optimizer steps per task; batch: samples per step.
        seed: seeds the data sampler (and torch's global RNG when not resuming).
        checkpoint_dir: write ``curriculum.safetensors`` there after every task.
        resume: continue from the checkpoint in ``checkpoint_dir`` (same settings required).
        stop_after: return after training this task (simulates an interrupted run).
        eval_limit: test images per task (None: all); eval_every: evaluate every k-th task (and
            the last); skipped columns stay NaN.
        cl3: also report class-incremental accuracy with entropy task inference at the end.
        on_task_end: ``callback(task, result)`` after each task (e.g. memory probes).

    Raises:
        ValueError: the protocol has more tasks than the learner, or a checkpoint from different
            settings.
    """
    num_tasks = protocol.num_tasks
    if num_tasks > method.num_tasks:
        raise ValueError(
            f"{protocol.name} has {num_tasks} tasks but the learner was built for {method.num_tasks}; "
            "build it with num_tasks >= the protocol's tasks (or call add_tasks on it first)"
        )
    if not torch.equal(method.classes[:num_tasks], protocol.classes):
        raise ValueError("the learner's task classes differ from the protocol's; build it with "
                         "classes=protocol.classes")
    if method.classes.shape[1] > protocol.num_outputs:
        raise ValueError(f"labels outside the head: tasks have {method.classes.shape[1]} classes, "
                         f"the target has {protocol.num_outputs} outputs")
    settings = {"method": method.config(), "protocol": protocol.config, "steps": steps,
                "batch": batch, "seed": seed}
    generator = torch.Generator().manual_seed(seed)
    acc = torch.full((num_tasks, num_tasks), math.nan)
    times, losses, start = [], [], 0
    path = Path(checkpoint_dir) / CHECKPOINT if checkpoint_dir is not None else None
    if resume:
        if path is None or not path.is_file():
            raise FileNotFoundError(f"--resume needs a checkpoint; none at {path}")
        tensors, meta = load_tensors(path)
        if meta.get("settings") != settings:
            raise ValueError(f"{path} was written with different settings:\n  stored {meta.get('settings')}"
                             f"\n  now    {settings}\nresume with the same arguments or start afresh")
        method.load_state_dict({k[7:]: v for k, v in tensors.items() if k.startswith("method.")})
        acc = tensors["acc"].clone()
        torch.set_rng_state(tensors["rng.torch"])
        generator.set_state(tensors["rng.data"])
        start, times, losses = meta["next_task"], meta["train_seconds"], meta["losses"]
    else:
        torch.manual_seed(seed)
    method.generator, method.batch_size = generator, batch
    eval_time = 0.0
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=(num_tasks - start) * steps, desc=f"{method.name} {protocol.name}", leave=False)
    result = CurriculumResult(acc, times, eval_time, losses, start)
    for task in range(start, num_tasks):
        method.train()
        tic = time.perf_counter()
        method.begin_task(task)
        loss = math.nan
        for _ in range(steps):
            x, y = protocol.sample(task, batch, generator)
            loss = method.step(task, x, y)
            if bar is not None:
                bar.update()
        method.end_task(task, protocol)
        times.append(time.perf_counter() - tic)
        losses.append(loss)
        tic = time.perf_counter()
        if (task + 1) % eval_every == 0 or task == num_tasks - 1:
            acc[: task + 1, task] = evaluate_cl1(method, protocol, task + 1, eval_limit)
        eval_time += time.perf_counter() - tic
        result.completed, result.eval_seconds = task + 1, eval_time
        if path is not None:
            tensors = {f"method.{k}": v for k, v in method.state_dict().items()}
            tensors.update(_rng_tensors(generator), acc=acc)
            save_tensors(path, tensors, {"settings": settings, "next_task": task + 1,
                                         "train_seconds": times, "losses": losses})
        if on_task_end is not None:
            on_task_end(task, result)
        if stop_after is not None and task >= stop_after:
            break
    if bar is not None:
        bar.close()
    if cl3 and result.completed == num_tasks:
        result.cl3 = evaluate_cl3(method, protocol, num_tasks, eval_limit)
    return result
