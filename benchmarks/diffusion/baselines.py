"""The baselines D2NWG is compared with on unseen tasks.

- random initialisation (the target's own, ``zoo.init_members``);
- the zoo model of the nearest training dataset by the (aligned) dataset encoder, transferred
  as it is (the best member of that task by its test accuracy in the zoo);
- a task-conditioned hypernetwork of the core trained end to end on the same training tasks:
  ``hw.HyperNetwork`` with a ``DataCondition`` over the support set (the same Set Transformer
  as D2NWG's encoder), so it takes an unseen dataset; per-sample weight sets (one per task).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import hyperweights as hw
from hyperweights.diffusion import D2NWG, DatasetEncoder, support_sets
from hyperweights.training import TrainConfig, train_loop
from hyperweights.zoo import TaskSet

__all__ = ["SupportSetEncoder", "pack_support", "train_task_hypernetwork", "hypernetwork_weights",
           "nearest_zoo_weights"]


def pack_support(x: Tensor, y: Tensor) -> Tensor:
    """Support sets ``(T, N, D)``, ``(T, N)`` as one tensor ``(T, N, D + 1)`` (label last), the
    single data tensor a ``DataCondition`` passes to its encoder."""
    return torch.cat([x, y[..., None].to(x.dtype)], dim=-1)


class SupportSetEncoder(nn.Module):
    """``(T, N, D + 1)`` packed support sets -> ``(T, dim)`` through a :class:`DatasetEncoder`."""

    def __init__(self, num_features: int, num_classes: int, dim: int, hidden: int):
        super().__init__()
        self.encoder = DatasetEncoder(num_features, num_classes, dim=dim, hidden=hidden)
        self.out_features = dim

    def forward(self, packed: Tensor) -> Tensor:
        return self.encoder(packed[..., :-1], packed[..., -1].long())


def train_task_hypernetwork(target: nn.Module, tasks: TaskSet, task_ids: Tensor, *, steps: int,
                            tasks_per_step: int = 32, support_size: int = 50, query_size: int = 64,
                            lr: float = 1e-3, seed: int = 0, dim: int = 64, device: str = "cpu",
                            progress: bool = True) -> hw.HyperModel:
    """Train ``HyperModel(target, HyperNetwork(DataCondition(support-set encoder)))`` end to end:
    each step, ``tasks_per_step`` training tasks, a support set and a query batch of each."""
    torch.manual_seed(seed)
    condition = hw.DataCondition(SupportSetEncoder(tasks.num_features, tasks.num_classes, dim, dim))
    model = hw.HyperModel(target, hw.HyperNetwork(target, condition=condition)).to(device)
    gen = torch.Generator().manual_seed(seed)
    config = TrainConfig(lr=lr, seed=seed, progress=progress, device=device)

    def step(i: int) -> Tensor:
        picked = task_ids[torch.randint(0, len(task_ids), (tasks_per_step,), generator=gen)]
        support = pack_support(*support_sets(tasks, picked, support_size, gen)).to(device)
        x, y = support_sets(tasks, picked, query_size, gen)
        logits = model(x.to(device), support)                        # per-task weight sets
        return F.cross_entropy(logits.flatten(0, 1), y.to(device).flatten())

    train_loop(step, hw.make_optimizer(model.parameters(), lr), config, total_steps=steps, model=model,
               generators=[gen], desc="task-conditioned hypernetwork")
    return model


@torch.no_grad()
def hypernetwork_weights(model: hw.HyperModel, tasks: TaskSet, support_size: int, seed: int) -> dict[str, Tensor]:
    """One weight set per task of ``tasks`` from its support set: ``{name: (T, *shape)}``."""
    gen = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    support = pack_support(*support_sets(tasks, torch.arange(len(tasks)), support_size, gen)).to(device)
    return {n: w.detach() for n, w in model.hypernetwork(support).items()}


@torch.no_grad()
def nearest_zoo_weights(model: D2NWG, zoo_weights: dict[str, Tensor], zoo_task_ids: Tensor,
                        zoo_accuracy: Tensor, tasks: TaskSet, seen: TaskSet, support_size: int,
                        seed: int) -> tuple[dict[str, Tensor], Tensor]:
    """For every task of ``tasks``: the best zoo member (by its own test accuracy) of the training
    task of ``seen`` whose support-set embedding is nearest (cosine) to the task's.

    Returns:
        ``({name: (T, *shape)}, (T,) index of the nearest training task)``.
    """
    gen = torch.Generator().manual_seed(seed)
    device = model.weight_mean.device
    model.eval()
    query = model.dataset_embedding(*[t.to(device) for t in
                                      support_sets(tasks, torch.arange(len(tasks)), support_size, gen)])
    keys = model.dataset_embedding(*[t.to(device) for t in
                                     support_sets(seen, torch.arange(len(seen)), support_size, gen)])
    nearest = (F.normalize(query, dim=-1) @ F.normalize(keys, dim=-1).T).argmax(1).cpu()
    # best member per training task: highest accuracy among members with that task id
    same = zoo_task_ids[None, :] == nearest[:, None]                     # (T, M)
    score = torch.where(same, zoo_accuracy[None, :], torch.full_like(same, -1.0, dtype=zoo_accuracy.dtype))
    member = score.argmax(1)
    return {n: w[member] for n, w in zoo_weights.items()}, nearest
