"""Iterative delta-PINN refinement: generate a PINN for the residual problem, add it, repeat.

The operator is linear, so if ``u_r`` is the current ensemble, the correction ``δ = u - u_r``
solves the *residual problem* ``L δ = f - L u_r``, ``δ = g - u_r`` (Dirichlet),
``∂δ/∂n = h - ∂u_r/∂n`` (Neumann). :class:`ResidualProblems` presents that problem with the
same interface as :class:`~hyperweights.physics.PDEProblems` (``L u_r`` by autograd), so the
hypernetwork encodes and solves it like any other; :func:`refine` sums the generated "delta
PINNs" into an ensemble, one round per generated member, all problems batched in every round.

Example:
    >>> import torch
    >>> from hyperweights.physics import HyperPINN, PDEFamily
    >>> model = HyperPINN(grid=8, boundary_points=8, width=16)
    >>> problems = PDEFamily().sample(2, torch.Generator().manual_seed(0))
    >>> members = refine(model, problems, rounds=2)
    >>> len(members), members[1].weights["1.weight"].shape
    (3, torch.Size([2, 16, 32]))
"""

from __future__ import annotations

import torch
from torch import Tensor

from .model import HyperPINN, Member, ensemble_values
from .pde import apply_operator, derivatives

__all__ = ["ResidualProblems", "refine"]


class ResidualProblems:
    """The problem whose solution is ``u - Σ members`` (see the module docstring).

    Args:
        base: the original problems.
        target: the PINN module the members' weights belong to.
        members: the current ensemble (detached: the residual problem is data, not a graph).
    """

    def __init__(self, base, target, members: list[Member]):
        self.base, self.target = base, target
        self.members = [m.detach() for m in members]
        self.coeffs, self.geometry, self.mixed = base.coeffs, base.geometry, base.mixed
        self.labelled = base.labelled

    def __len__(self) -> int:
        return len(self.base)

    @property
    def device(self) -> torch.device:
        return self.base.device

    def _current(self, x: Tensor) -> Tensor:
        return ensemble_values(self.target, self.members, x)   # weights detached; x may carry grad

    def source(self, x: Tensor) -> Tensor:
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            values = ensemble_values(self.target, self.members, x)
            grad, lap = derivatives(values, x)
            applied = apply_operator(self.coeffs, values, grad, lap)
        return self.base.source(x.detach()) - applied.detach()

    def dirichlet(self, x: Tensor) -> Tensor:
        return self.base.dirichlet(x) - self._current(x)

    def neumann(self, x: Tensor, normals: Tensor) -> Tensor:
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            grad = torch.autograd.grad(ensemble_values(self.target, self.members, x).sum(), x)[0]
        return self.base.neumann(x.detach(), normals) - (grad * normals).sum(-1)

    def solution(self, x: Tensor) -> Tensor:
        return self.base.solution(x) - self._current(x)


@torch.no_grad()
def refine(model: HyperPINN, problems, rounds: int, members: list[Member] | None = None) -> list[Member]:
    """The zero-shot PINN plus ``rounds`` delta PINNs: ``rounds + 1`` members (sum them with
    :func:`~hyperweights.physics.model.ensemble_values`). Pass ``members`` to continue."""
    if not (isinstance(rounds, int) and rounds >= 0):
        raise ValueError(f"rounds must be a non-negative integer, got {rounds!r}")
    members = list(members) if members else [model.generate(problems)]
    for _ in range(rounds):
        members.append(model.generate(ResidualProblems(problems, model.target, members)))
    return members
