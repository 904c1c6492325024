"""Mixed supervision: physics-informed residual losses by autograd plus MMS data losses.

For PINNs ``u`` of ``P`` problems at once (a :class:`~hyperweights.physics.model.Member`, an
ensemble, any callable ``x (P, N, 2) -> (P, N)``), :func:`pinn_losses` returns per-problem
losses, each divided by the problem's scale ``s`` squared (so an O(1) problem and a tiny residual
problem weigh alike):

- ``residual``: ``mean((L u - f)²) / s² / (mean((f / s)²) + 1)`` at interior points (the
  relative residual for strong sources, the absolute one for weak);
- ``boundary``: ``mean((u - g)²)`` on the Dirichlet part, ``mean((∂u/∂n - h)²)`` on the Neumann
  part, over ``s²``;
- ``data``: ``mean((u - u*)²) / s²`` at the interior points of labelled problems (0 elsewhere).

Example:
    >>> import torch
    >>> from hyperweights.physics import PDEFamily
    >>> problems = PDEFamily().sample(2, torch.Generator().manual_seed(0), labelled=True)
    >>> points = collocation(problems, 64, 16, torch.Generator().manual_seed(1))
    >>> exact = pinn_losses(problems.solution, problems, torch.ones(2), points)
    >>> all(bool(v.max() < 1e-10) for v in exact.values())    # the exact solution has no loss
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from .geometry import boundary, neumann_part, sample_interior
from .pde import apply_operator, derivatives

__all__ = ["Collocation", "collocation", "pinn_losses"]


@dataclass
class Collocation:
    """Points where the losses are evaluated, per problem.

    Attributes:
        interior: ``(P, N, 2)``; boundary, normals: ``(P, M, 2)``; neumann: ``(P, M)`` bool.
    """

    interior: Tensor
    boundary: Tensor
    normals: Tensor
    neumann: Tensor


def collocation(problems, interior: int, boundary_points: int,
                generator: torch.Generator | None = None) -> Collocation:
    """Uniform random interior and boundary points for each problem's domain."""
    inner = sample_interior(problems.geometry, interior, generator)
    t = torch.rand(len(problems), boundary_points, generator=generator).to(problems.device)
    points, normals = boundary(problems.geometry, t)
    return Collocation(inner.to(problems.device), points, normals,
                       neumann_part(problems.geometry, problems.mixed, points))


def pinn_losses(u: Callable[[Tensor], Tensor], problems, scale: Tensor, points: Collocation) -> dict[str, Tensor]:
    """Per-problem ``{"residual", "boundary", "data"}``, each ``(P,)`` (see the module docstring).

    Args:
        u: the PINNs, ``x (P, N, 2) -> (P, N)`` (differentiable in ``x``).
        problems: the ``P`` problems (:class:`~hyperweights.physics.PDEProblems` or a residual
            problem of the refinement).
        scale: ``(P,)`` problem scales.
        points: from :func:`collocation`.
    """
    s2 = scale.square()
    x = points.interior.detach().requires_grad_(True)
    with torch.enable_grad():
        values = u(x)
        grad, lap = derivatives(values, x)
    source = problems.source(points.interior)
    res = (apply_operator(problems.coeffs, values, grad, lap) - source).square().mean(-1)
    residual = res / s2 / ((source.square().mean(-1) / s2) + 1)

    xb = points.boundary.detach().requires_grad_(True)
    with torch.enable_grad():
        on_boundary = u(xb)
        normal_derivative = (torch.autograd.grad(on_boundary.sum(), xb, create_graph=True)[0]
                             * points.normals).sum(-1)
    dirichlet_error = on_boundary - problems.dirichlet(points.boundary)
    neumann_error = normal_derivative - problems.neumann(points.boundary, points.normals)
    bnd = torch.where(points.neumann, neumann_error, dirichlet_error).square().mean(-1) / s2

    data = (values - problems.solution(points.interior)).square().mean(-1) / s2
    data = torch.where(problems.labelled, data, torch.zeros_like(data))
    return {"residual": residual, "boundary": bnd, "data": data}
