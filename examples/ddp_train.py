"""Data-parallel training of hyperweights models with DistributedDataParallel (docs/distributed.md).

One machine, two processes (CPU, gloo)::

    OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node=2 examples/ddp_train.py --model hypermodel

Every process builds the same model (same seed; DDP also copies rank 0's parameters to the others
when it wraps the model), runs the forward *through the DDP wrapper* on its own shard of each global
batch, and DDP averages the gradients during ``backward()``: every process then takes the step one
process would take on the whole batch. Nothing hypernetwork-specific is needed: a HyperModel, a
continual learner and an implicit ensemble tell DDP to leave the target's generated (registered,
never used) parameters out of its reduction.

``--record DIR``: each process writes ``DIR/<model>.rank<r>.safetensors`` with every step's
averaged gradients and the final parameters (tests/test_ddp.py compares them with one process on
the combined batch, by calling :func:`train` of this file without DDP).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

import hyperweights as hw
from hyperweights.continual import HNET
from hyperweights.uncertainty import ImplicitEnsemble

MODELS = ("hypermodel", "continual", "ensemble")
IN, HIDDEN, OUT, TASKS, MEMBERS = 16, 32, 4, 3, 3


def build(kind: str) -> nn.Module:
    """The model to train: the same parameters in every process that calls this after
    ``torch.manual_seed`` with the same seed."""
    target = hw.mlp((IN, HIDDEN, OUT))
    if kind == "hypermodel":     # the output bias stays an ordinary (static) parameter
        hnet = hw.HyperNetwork(target, exclude=["2.bias"], condition=hw.TaskEmbedding(TASKS, 8),
                               trunk=hw.MLP((16,)), head=hw.ChunkedHead(128, 4))
        return hw.HyperModel(target, hnet)
    if kind == "continual":      # two tasks of two classes each
        return HNET(target, [[0, 1], [2, 3]], emb_dim=8, trunk=hw.MLP((16,)),
                    head=hw.ChunkedHead(128, 4))
    if kind == "ensemble":
        return ImplicitEnsemble(target, noise_dim=4, code_dim=8, mixer_hidden=(16,),
                                trunk_hidden=(16,), chunk_size=128, chunk_embedding=4)
    raise ValueError(f"--model must be one of {MODELS}, got {kind!r}")


def global_batch(step: int, size: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """Step ``step``'s whole batch (the same in every process): inputs ``(size, IN)``, classes
    ``(size,)`` in ``0..OUT-1`` and task ids ``(size,)`` in ``0..TASKS-1``."""
    g = torch.Generator().manual_seed(1000 + step)
    x = torch.randn(size, IN, generator=g)
    y = torch.randint(0, OUT, (size,), generator=g)
    tasks = torch.randint(0, TASKS, (size,), generator=g)
    return x.to(device), y.to(device), tasks.to(device)


def train(kind: str, steps: int, batch: int, *, rank: int = 0, world: int = 1,
          device: torch.device = torch.device("cpu"), wrap=lambda model: model,
          lr: float = 1e-2) -> dict[str, Tensor]:
    """Train ``build(kind)`` for ``steps`` steps on shard ``rank`` of ``world`` of each global
    batch of ``batch`` samples; ``wrap`` is the DDP wrapper (identity: one process).

    Returns ``{"<step>/grad/<name>": averaged gradient, "final/<name>": parameter}``.
    """
    torch.manual_seed(0)
    model = build(kind).to(device)
    ddp = wrap(model)   # the forward goes through the wrapper; the optimizer holds model's parameters
    record = {}
    if kind == "continual":
        model.begin_task(0)
    else:
        optimizer = hw.make_optimizer(model.trainable_parameters(), lr)
    for step in range(steps):
        x, y, tasks = (t.chunk(world)[rank] for t in global_batch(step, batch, device))
        if kind == "hypermodel":      # per-sample weights: a task id for each sample
            loss = F.cross_entropy(ddp(x, tasks), y)
        elif kind == "continual":     # the second half of the steps learns task 1 (regularized)
            task = int(step >= steps // 2)
            if task != int(model.current_task):
                model.begin_task(task)    # a fresh optimizer over the same parameters: DDP is unaffected
            optimizer = model.optimizer
            loss = ddp(task, x, y % 2)    # the learner's training loss, local labels
        else:                         # the same members in every process: one seeded noise draw per step
            noise = torch.Generator().manual_seed(step)
            logits = ddp(x, MEMBERS, noise)                         # (K, B, C)
            loss = F.cross_entropy(logits.flatten(0, 1), y.repeat(MEMBERS))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()               # DDP averages the gradients across processes here
        record.update((f"{step}/grad/{n}", p.grad.detach().clone())
                      for n, p in model.named_parameters() if p.grad is not None)
        optimizer.step()
    record.update((f"final/{n}", p.detach().clone()) for n, p in model.named_parameters())
    return record


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", nargs="+", choices=MODELS, default=["hypermodel"])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch", type=int, default=32, help="global batch (split over processes)")
    parser.add_argument("--record", type=Path, default=None, help="folder for the records")
    args = parser.parse_args(argv)

    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")   # torchrun sets RANK, WORLD_SIZE, MASTER_*
    rank, world = dist.get_rank(), dist.get_world_size()
    if args.batch % world:
        raise SystemExit(f"--batch {args.batch} must be a multiple of the {world} processes")
    local = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local) if cuda else torch.device("cpu")
    wrap = (lambda m: DistributedDataParallel(m, device_ids=[local])) if cuda else DistributedDataParallel
    try:
        for kind in args.model:
            record = train(kind, args.steps, args.batch, rank=rank, world=world, device=device, wrap=wrap)
            if args.record is not None:
                args.record.mkdir(parents=True, exist_ok=True)
                save_file({k: v.cpu().contiguous() for k, v in record.items()},
                          str(args.record / f"{kind}.rank{rank}.safetensors"))
            if rank == 0:
                print(f"{kind}: {args.steps} steps on {world} processes", flush=True)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
