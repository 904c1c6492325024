"""Training and evaluation of a :class:`~hyperweights.physics.HyperPINN` (the recipe's contract).

:func:`fit` trains the hypernetwork on problems drawn fresh every step from a
:class:`~hyperweights.physics.PDEFamily`, with mixed supervision (HyPINO): the data loss on
labelled MMS problems plus the physics-informed residual and boundary losses on all problems,
labelled or not. A share of every batch (``residual_fraction``) is presented as the residual
problem of the model's own current zero-shot prediction, so the hypernetwork also learns the
problems the refinement will give it (labels: ``u - u_0``, known for MMS problems).

:func:`evaluate` reports the relative L2 error on a grid, zero-shot and after each refinement
round, against the analytic solution (MMS) or a finite-difference one (source-only problems on
the square).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..optim import make_optimizer
from ..training import FitResult, TrainConfig, config_field, train_loop
from .fd import solve_fd
from .geometry import grid_points, inside
from .losses import collocation, pinn_losses
from .model import HyperPINN, Member, ensemble_values, pinn_values
from .pde import PDEFamily, PDEProblems
from .refine import ResidualProblems, refine

__all__ = ["PhysicsConfig", "fit", "evaluate", "reference_solution", "relative_l2", "evaluation_grid"]


@dataclass
class PhysicsConfig(TrainConfig):
    """Training of a :class:`HyperPINN` (``batch_size`` = problems per step)."""

    batch_size: int = config_field(8, "problems per optimizer step")
    steps: int = config_field(2000, "optimizer steps")
    interior_points: int = config_field(128, "interior collocation points per problem and step")
    boundary_points: int = config_field(32, "boundary collocation points per problem and step")
    data_weight: float = config_field(1.0, "weight of the MMS data loss (labelled problems)")
    residual_weight: float = config_field(1.0, "weight of the PDE residual loss")
    boundary_weight: float = config_field(10.0, "weight of the boundary-condition loss")
    residual_fraction: float = config_field(
        0.25, "share of each batch presented as the residual problem of the current prediction")
    clip: float = config_field(1.0, "gradient-norm clipping (0: off)")

    def validate(self) -> None:
        super().validate()
        self.positive_int("steps", allow_zero=True)
        self.positive_int("interior_points")
        self.positive_int("boundary_points")
        for name in ("data_weight", "residual_weight", "boundary_weight", "clip"):
            value = getattr(self, name)
            self._require(name, isinstance(value, (int, float)) and value >= 0, "a number >= 0")
        self._require("residual_fraction", isinstance(self.residual_fraction, (int, float))
                      and 0 <= self.residual_fraction < 1, "in [0, 1)")


def _loss(model: HyperPINN, problems, config: PhysicsConfig, gen: torch.Generator) -> Tensor:
    member = model.generate(problems)
    points = collocation(problems, config.interior_points, config.boundary_points, gen)
    losses = pinn_losses(lambda x: pinn_values(model.target, member, x), problems, member.scale, points)
    total = (config.residual_weight * losses["residual"] + config.boundary_weight * losses["boundary"]
             + config.data_weight * losses["data"])
    return total.sum()


def fit(model: HyperPINN, family: PDEFamily, config: PhysicsConfig) -> FitResult:
    """Train ``model`` on problems sampled from ``family`` (fresh ones every step).

    Example:
        >>> model = HyperPINN(grid=8, boundary_points=8, width=8, hidden=(32,))
        >>> cfg = PhysicsConfig(steps=3, batch_size=4, interior_points=16, boundary_points=8,
        ...                     progress=False)
        >>> fit(model, PDEFamily(), cfg).steps
        3
    """
    config.validate()
    if not isinstance(model, HyperPINN):
        raise TypeError(f"fit trains a HyperPINN, got {type(model).__name__}")
    if not isinstance(family, PDEFamily):
        raise TypeError(f"fit samples its problems from a PDEFamily, got {type(family).__name__}")
    family.validate()
    device = torch.device(config.device)
    model.to(device).train()
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    residual_count = round(config.batch_size * config.residual_fraction)

    def step(i: int) -> Tensor:
        problems = family.sample(config.batch_size - residual_count, gen).to(device)
        loss = _loss(model, problems, config, gen)
        if residual_count:
            base = family.sample(residual_count, gen).to(device)
            with torch.no_grad():
                residual = ResidualProblems(base, model.target, [model.generate(base)])
            loss = loss + _loss(model, residual, config, gen)
        return loss / config.batch_size

    optimizer = make_optimizer(model.parameters(), config.lr)
    return train_loop(step, optimizer, config, total_steps=config.steps, model=model, generators=[gen],
                      clip_grad_norm=config.clip or None,
                      settings={**config.settings(), "model": model.config, "family": repr(family)},
                      desc="HyperPINN")


def evaluation_grid(problems, n: int = 33) -> tuple[Tensor, Tensor]:
    """The ``n x n`` grid nodes, per problem, and which lie in its domain: ``(P, n², 2)``, ``(P, n²)``."""
    nodes = grid_points(n, problems.device).expand(len(problems), -1, -1)
    return nodes, inside(problems.geometry, nodes)


def reference_solution(problems: PDEProblems, n: int = 33) -> Tensor:
    """The true solution on :func:`evaluation_grid` ``(n)``: analytic for labelled (MMS) problems,
    finite differences (:func:`~hyperweights.physics.fd.solve_fd`) for the others, which must then
    be on the square: ``(P, n²)``."""
    nodes, _ = evaluation_grid(problems, n)
    reference = problems.solution(nodes)
    unlabelled = ~problems.labelled
    if bool(unlabelled.any()):
        reference[unlabelled] = solve_fd(problems.index(unlabelled), n)
    return reference


def relative_l2(values: Tensor, reference: Tensor, mask: Tensor) -> Tensor:
    """Per-problem ``||u - u*|| / ||u*||`` over the masked nodes: ``(P,)``."""
    mask = mask.float()
    return ((values - reference).square() * mask).sum(-1).sqrt() / (reference.square() * mask).sum(-1).sqrt()


def evaluate(model: HyperPINN, problems: PDEProblems, *, rounds: int = 3, grid: int = 33,
             reference: Tensor | None = None) -> dict[str, float]:
    """Mean relative L2 error zero-shot (``rel_l2_round0``) and after each refinement round.

    Args:
        model: a trained :class:`HyperPINN`; problems: held-out problems.
        rounds: delta-PINN refinement rounds; grid: nodes per side of the evaluation grid.
        reference: ``(P, grid²)`` true solution (default :func:`reference_solution`).

    Example:
        >>> problems = PDEFamily().sample(2, torch.Generator().manual_seed(0), labelled=True)
        >>> scores = evaluate(HyperPINN(grid=8, boundary_points=8, width=8), problems, rounds=1, grid=9)
        >>> sorted(scores)
        ['rel_l2_round0', 'rel_l2_round1']
    """
    if not isinstance(problems, PDEProblems):
        raise TypeError(f"evaluate takes PDEProblems, got {type(problems).__name__}")
    nodes, mask = evaluation_grid(problems, grid)
    reference = reference_solution(problems, grid) if reference is None else reference
    if reference.shape != mask.shape:
        raise ValueError(f"reference must be (P, grid²) = {tuple(mask.shape)}, got {tuple(reference.shape)}")
    was_training = model.training
    model.eval()
    try:
        members = refine(model, problems, rounds)
        errors = round_errors(model.target, members, nodes, reference, mask)
    finally:
        model.train(was_training)
    return {f"rel_l2_round{r}": float(e.mean()) for r, e in enumerate(errors)}


@torch.no_grad()
def round_errors(target, members: list[Member], nodes: Tensor, reference: Tensor, mask: Tensor) -> list[Tensor]:
    """Per-problem relative L2 error ``(P,)`` of the ensemble of the first ``r + 1`` members, for each ``r``."""
    return [relative_l2(ensemble_values(target, members[:r + 1], nodes), reference, mask)
            for r in range(len(members))]
