"""Local training of many clients at once: SGD on stacked ``(C, ...)`` parameters.

One call trains ``C`` clients side by side: the per-client loss is ``torch.func.vmap``-ed over the
client dimension (every client has its own parameters and data), and the optimizer update is plain
tensor arithmetic on the stacks. The update is exactly ``torch.optim.SGD`` (weight decay added to
the gradient, momentum buffer starting at the first gradient) after ``clip_grad_norm_`` per client,
so one client trained alone or inside a batch takes the same steps.

Minibatches come from :func:`batch_order`: a generator seeded by ``(seed, round)`` draws one random
key per (client, epoch, sample) for *all* clients of the federation, and each client keeps its own
row, so a client draws the same batches whether it trains in the in-process loop or alone in a
Flower ClientApp.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.func import grad_and_value, vmap

__all__ = ["SGDSpec", "batch_order", "sgd", "round_generator"]


@dataclass(frozen=True)
class SGDSpec:
    """One local optimisation: ``steps`` minibatches of ``batch_size`` with SGD."""

    steps: int
    batch_size: int
    lr: float
    momentum: float = 0.0
    weight_decay: float = 0.0
    clip: float | None = None


def round_generator(seed: int, server_round: int, stream: int = 0) -> torch.Generator:
    """The generator of round ``server_round`` (and sub-stream ``stream``) of a run seeded ``seed``."""
    return torch.Generator().manual_seed(((seed * 1_000_003) + server_round * 7_919 + stream) % (2 ** 63))


def batch_order(client_ids: Tensor, total_clients: int, samples: int, steps: int, batch_size: int,
                generator: torch.Generator) -> Tensor:
    """Sample indices ``(C, steps, batch_size)``: consecutive epochs of per-client permutations.

    Example:
        >>> g = round_generator(0, 1)
        >>> batch_order(torch.tensor([1]), 3, 10, 4, 5, g).shape
        torch.Size([1, 4, 5])
    """
    epochs = -(-steps * batch_size // samples)
    keys = torch.rand(total_clients, epochs, samples, generator=generator)[client_ids]
    order = keys.argsort(-1).flatten(1)[:, : steps * batch_size]
    return order.reshape(len(client_ids), steps, batch_size)


def _gather(data: Tensor, index: Tensor) -> Tensor:
    """``data: (C, N, ...)``, ``index: (C, b)`` -> ``(C, b, ...)``."""
    flat = index.reshape(*index.shape, *([1] * (data.ndim - 2))).expand(*index.shape, *data.shape[2:])
    return torch.gather(data, 1, flat)


def sgd(loss: Callable[..., Tensor], trainable: dict[str, Tensor], fixed: dict[str, Tensor],
        x: Tensor, y: Tensor, order: Tensor, spec: SGDSpec) -> tuple[dict[str, Tensor], Tensor]:
    """Train ``C`` clients' ``trainable`` parameters; return them and each client's mean loss ``(C,)``.

    Args:
        loss: ``loss(trainable_one, fixed_one, xb, yb) -> scalar`` for one client.
        trainable: ``{name: (C, ...)}`` what trains; ``fixed``: ``{name: (C, ...)}`` what does not.
        x, y: ``(C, N, ...)``, ``(C, N)`` the clients' data; ``order``: ``(C, steps, batch)`` from
            :func:`batch_order`.

    Example:
        >>> lin = lambda p, f, xb, yb: ((xb @ p["w"] - yb) ** 2).mean()
        >>> p = {"w": torch.zeros(2, 3)}
        >>> x, y = torch.randn(2, 8, 3), torch.randn(2, 8)
        >>> order = torch.arange(8).repeat(2, 4, 1)
        >>> new, losses = sgd(lin, p, {}, x, y, order, SGDSpec(steps=4, batch_size=8, lr=0.1))
        >>> new["w"].shape, losses.shape
        (torch.Size([2, 3]), torch.Size([2]))
    """
    step = vmap(grad_and_value(loss))
    params = {k: v.detach().clone() for k, v in trainable.items()}
    buffers: dict[str, Tensor] = {}
    total = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    for t in range(order.shape[1]):
        index = order[:, t]
        grads, value = step(params, fixed, _gather(x, index), _gather(y, index))
        total = total + value.detach()
        # in place on the fresh gradients and the clones: a hypernetwork's output heads are large,
        # and a new (C, ...) tensor per operation costs more in page faults than the arithmetic
        with torch.no_grad():
            if spec.clip is not None:   # torch.nn.utils.clip_grad_norm_ per client: a norm of norms
                norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.flatten(1), dim=1)
                                                             for g in grads.values()]), dim=0)
                scale = (spec.clip / (norm + 1e-6)).clamp(max=1.0)
                for g in grads.values():
                    g.mul_(scale.reshape(-1, *([1] * (g.ndim - 1))))
            for k, g in grads.items():
                if spec.weight_decay:
                    g.add_(params[k], alpha=spec.weight_decay)
                if spec.momentum:
                    g = buffers[k].mul_(spec.momentum).add_(g) if k in buffers else buffers.setdefault(k, g)
                params[k].sub_(g, alpha=spec.lr)
    return params, total / order.shape[1]
