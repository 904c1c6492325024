"""A finite-difference solver on the unit square: the ground truth where no analytic solution exists.

Second-order central differences on the ``n x n`` nodes of ``[0, 1]^2`` (:func:`grid_points`):
the five-point Laplacian and central first derivatives in every interior row, ``u = g`` in the
Dirichlet boundary rows, and on mixed problems the Neumann edge ``x = 0`` closed by a ghost node
``u_{-1} = u_1 + 2 h ∂u/∂n`` (second order too). The corners stay Dirichlet. The dense systems of
a chunk of PDEs are solved in one batched ``torch.linalg.solve`` (float64).

Example:
    >>> import torch
    >>> from hyperweights.physics import PDEFamily, grid_points
    >>> problems = PDEFamily(geometries=("square",)).sample(2, torch.Generator().manual_seed(0), labelled=True)
    >>> u = solve_fd(problems, 17)
    >>> exact = problems.solution(grid_points(17).expand(2, -1, -1))
    >>> bool(((u - exact).norm(dim=1) / exact.norm(dim=1)).max() < 0.05)
    True
"""

from __future__ import annotations

import torch
from torch import Tensor

from .geometry import SQUARE, grid_points
from .pde import PDEProblems

__all__ = ["solve_fd"]


def _stencils(n: int, mixed: bool) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """``(laplacian, d/dx, d/dy, identity on equation rows, identity on Dirichlet rows)``, each
    ``(n², n²)`` float64, with the Neumann edge folded in when ``mixed``."""
    h = 1.0 / (n - 1)
    size = n * n
    lap, dx, dy = (torch.zeros(size, size, dtype=torch.float64) for _ in range(3))
    ij = torch.arange(size)
    i, j = ij % n, ij // n
    interior = (i > 0) & (i < n - 1) & (j > 0) & (j < n - 1)
    edge = (i == 0) & (j > 0) & (j < n - 1) & mixed            # Neumann rows
    rows = ij[interior]
    lap[rows, rows] = -4 / h**2
    for step in (1, -1, n, -n):
        lap[rows, rows + step] = 1 / h**2
    dx[rows, rows + 1], dx[rows, rows - 1] = 1 / (2 * h), -1 / (2 * h)
    dy[rows, rows + n], dy[rows, rows - n] = 1 / (2 * h), -1 / (2 * h)
    rows = ij[edge]
    lap[rows, rows] = -4 / h**2
    lap[rows, rows + 1] = 2 / h**2                              # u_1 + ghost u_{-1} = 2 u_1 + const
    lap[rows, rows + n] = lap[rows, rows - n] = 1 / h**2
    dy[rows, rows + n], dy[rows, rows - n] = 1 / (2 * h), -1 / (2 * h)
    equation = (interior | edge).double()
    return lap, dx, dy, torch.diag(equation), torch.diag(1 - equation)


def solve_fd(problems: PDEProblems, n: int = 33, *, chunk: int = 8) -> Tensor:
    """Solve each problem on the ``n x n`` grid of the unit square.

    Args:
        problems: ``P`` problems, all on the square geometry.
        n: nodes per side (``h = 1/(n-1)``).
        chunk: PDEs solved per batched dense solve (memory: ``chunk * n⁴ * 8`` bytes per matrix).

    Returns:
        ``(P, n * n)`` float32 values at :func:`grid_points` ``(n)``.

    Raises:
        ValueError: a problem on another geometry, or ``n < 3``.
    """
    if not isinstance(problems, PDEProblems):
        raise TypeError(f"solve_fd takes PDEProblems, got {type(problems).__name__}")
    if not (isinstance(n, int) and n >= 3):
        raise ValueError(f"n must be an integer >= 3 (nodes per side), got {n!r}")
    if bool((problems.geometry != SQUARE).any()):
        raise ValueError("the finite-difference solver covers the unit square only; the problems "
                         f"include geometry ids {problems.geometry.unique().tolist()} (0 = square)")
    device = problems.device
    problems = problems.to("cpu")
    h = 1.0 / (n - 1)
    nodes = grid_points(n).expand(len(problems), -1, -1)
    left_normal = torch.tensor([-1.0, 0.0]).expand_as(nodes)
    f = problems.source(nodes).double()
    g = problems.dirichlet(nodes).double()
    h_n = problems.neumann(nodes, left_normal).double()
    parts = {flag: _stencils(n, flag) for flag in (False, True)}
    a, b1, b2, c = problems.coeffs.double().unbind(-1)
    i = torch.arange(n * n) % n
    on_edge = (parts[True][3].diagonal() > 0) & (i == 0)        # Neumann rows of a mixed problem
    out = []
    for start in range(0, len(problems), chunk):
        sl = slice(start, start + chunk)
        mixed = problems.mixed[sl][:, None, None]
        lap, dx, dy, eq, bc = (torch.where(mixed, m, d) for m, d in zip(parts[True], parts[False]))
        matrix = (-a[sl, None, None] * lap + b1[sl, None, None] * dx + b2[sl, None, None] * dy
                  + c[sl, None, None] * eq + bc)
        eq_rows, bc_rows = eq.diagonal(dim1=1, dim2=2), bc.diagonal(dim1=1, dim2=2)
        # the ghost node's constant part moves to the right-hand side (see the module docstring)
        ghost = on_edge & problems.mixed[sl, None]
        rhs = eq_rows * f[sl] + bc_rows * g[sl] + ghost * (2 * a[sl, None] / h + b1[sl, None]) * h_n[sl]
        out.append(torch.linalg.solve(matrix, rhs))
    return torch.cat(out).float().to(device)
