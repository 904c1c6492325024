"""PINN training for many problems at once: fine-tuning from a prediction, and the baselines.

:func:`train_pinns` takes one PINN per problem (a :class:`~hyperweights.physics.model.Member`)
and minimises each problem's physics-informed loss (residual + boundary, no labels) with Adam, all
problems in one batched call per step (their losses are summed, so each PINN receives exactly
its own gradient). It starts from whatever it is given:

- a generated PINN: *fine-tuning from the prediction* (HyPINO);
- :func:`random_member`: a PINN from PyTorch's default ``nn.Linear`` initialisation per problem;
- :func:`reptile_init`: one initialisation meta-learned by Reptile (Nichol et al., 2018) over
  training problems, copied to every problem.

Example:
    >>> import torch
    >>> from hyperweights.physics import PDEFamily, pinn
    >>> target = pinn(features=4, width=8)
    >>> problems = PDEFamily().sample(2, torch.Generator().manual_seed(0))
    >>> start = random_member(target, problems, torch.Generator().manual_seed(0))
    >>> run = train_pinns(target, start, problems, steps=5, lr=1e-2)
    >>> len(run.losses), run.member.weights["1.weight"].shape
    (5, torch.Size([2, 8, 8]))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ..optim import make_optimizer
from ..training import TrainConfig, train_loop
from .encoding import problem_scale
from .losses import collocation, pinn_losses
from .model import Member, pinn_values

__all__ = ["PINNRun", "train_pinns", "random_member", "reptile_init", "shared_member"]


class _Weights(nn.Module):
    """The per-problem weight tensors as trainable parameters (what the optimizer updates)."""

    def __init__(self, weights: dict[str, Tensor]):
        super().__init__()
        self.names = list(weights)
        self.tensors = nn.ParameterList([nn.Parameter(w.detach().clone()) for w in weights.values()])

    def as_dict(self) -> dict[str, Tensor]:
        return dict(zip(self.names, self.tensors))


@dataclass
class PINNRun:
    """The trained PINNs, the summed loss per step, and ``curve``: ``(step, value)`` pairs of
    the ``monitor`` callback (e.g. the per-problem error) at ``0, every, 2 every, ..., steps``."""

    member: Member
    losses: list[float]
    curve: list[tuple[int, object]] = field(default_factory=list)


def train_pinns(target: nn.Module, start: Member, problems, *, steps: int, lr: float = 1e-3,
                interior: int = 256, boundary_points: int = 64, boundary_weight: float = 10.0,
                seed: int = 0, monitor: Callable[[Member], object] | None = None,
                every: int = 0) -> PINNRun:
    """``steps`` Adam steps on every problem's physics loss, from ``start`` (batched over problems).

    Args:
        target: the PINN module; start: one PINN per problem; problems: ``P`` problems.
        steps: optimizer steps; lr: Adam's learning rate.
        interior, boundary_points: fresh collocation points per problem and step.
        boundary_weight: weight of the boundary loss against the residual loss.
        seed: seeds the collocation points.
        monitor: called with the current PINNs (no grad) at step 0 and every ``every`` steps.
    """
    weights = _Weights(start.weights)
    scale = start.scale.detach()
    gen = torch.Generator().manual_seed(seed)
    curve: list[tuple[int, object]] = []

    def current() -> Member:
        return Member({k: v.detach() for k, v in weights.as_dict().items()}, scale)

    def step(i: int) -> Tensor:
        points = collocation(problems, interior, boundary_points, gen)
        member = Member(weights.as_dict(), scale)
        losses = pinn_losses(lambda x: pinn_values(target, member, x), problems, scale, points)
        return (losses["residual"] + boundary_weight * losses["boundary"]).sum()

    def after(i: int) -> None:
        if monitor is not None and every and (i + 1) % every == 0:
            with torch.no_grad():
                curve.append((i + 1, monitor(current())))

    if monitor is not None:
        with torch.no_grad():
            curve.append((0, monitor(current())))
    result = train_loop(step, make_optimizer(weights.parameters(), lr), TrainConfig(progress=False),
                        total_steps=steps, model=weights, after_step=after, generators=[gen],
                        desc="PINNs")
    return PINNRun(current(), result.losses, curve)


def random_member(target: nn.Module, problems, generator: torch.Generator | None = None) -> Member:
    """One independently initialised PINN per problem, as PyTorch initialises ``nn.Linear``
    (weights and biases uniform in ``±1/sqrt(fan_in)``)."""
    count = len(problems)
    weights = {}
    for name, param in target.named_parameters():
        owner = target.get_submodule(name.rsplit(".", 1)[0]) if "." in name else target
        fan_in = owner.in_features if isinstance(owner, nn.Linear) else param.shape[-1]
        bound = fan_in ** -0.5
        weights[name] = (2 * torch.rand(count, *param.shape, generator=generator) - 1).to(param.device) * bound
    return Member(weights, problem_scale(problems))


def shared_member(weights: dict[str, Tensor], problems) -> Member:
    """One weight set ``{name: param.shape}`` (e.g. Reptile's) copied to every problem."""
    return Member({k: v.expand(len(problems), *v.shape).clone() for k, v in weights.items()},
                  problem_scale(problems))


def reptile_init(target: nn.Module, family, *, meta_steps: int, inner_steps: int, tasks: int = 8,
                 lr: float = 1e-3, meta_lr: float = 0.5, seed: int = 0, interior: int = 256,
                 boundary_points: int = 64, progress: bool = False) -> dict[str, Tensor]:
    """Reptile's meta-learned initialisation ``{name: shape}`` over problems from ``family``.

    Each meta-step adapts copies of the initialisation to ``tasks`` fresh problems with
    ``inner_steps`` steps of :func:`train_pinns` (batched), then moves the initialisation
    ``meta_lr`` of the way to the adapted weights' mean.
    """
    from ..bench.progress import progress as bar

    gen = torch.Generator().manual_seed(seed)
    init = {k: v.detach().clone() for k, v in target.named_parameters()}
    for m in bar(range(meta_steps), desc="Reptile", enabled=progress):
        problems = family.sample(tasks, gen)
        adapted = train_pinns(target, shared_member(init, problems), problems, steps=inner_steps, lr=lr, interior=interior,
                              boundary_points=boundary_points, seed=seed * 100_003 + m).member
        init = {k: v + meta_lr * (adapted.weights[k].mean(0) - v) for k, v in init.items()}
    return init
