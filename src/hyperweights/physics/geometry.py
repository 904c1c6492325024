"""The two domains of the PDE family, batched by a per-PDE geometry id.

``0`` is the unit square ``[0, 1]^2``; ``1`` the disk of radius 1/2 centred at ``(1/2, 1/2)``
(inscribed in the square, so both share one encoding and one evaluation grid). Every function
takes a ``(P,)`` tensor of geometry ids and returns per-PDE tensors, without a loop over PDEs.

Boundaries are parametrised by ``t`` in ``[0, 1)``: the square's perimeter counter-clockwise from
the origin, the disk's angle ``2 pi t``. On *mixed* problems the Neumann part is the left side:
the edge ``x = 0`` of the square, the arc ``x < 1/4`` of the disk; the rest is Dirichlet.

Example:
    >>> import torch
    >>> points, normals = boundary(torch.tensor([SQUARE]), torch.tensor([0.125, 0.875]))
    >>> points.tolist(), normals.tolist()
    ([[[0.5, 0.0], [0.0, 0.5]]], [[[0.0, -1.0], [-1.0, 0.0]]])
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["GEOMETRIES", "SQUARE", "DISK", "check_geometry", "sample_interior", "boundary",
           "inside", "neumann_part", "grid_points"]

SQUARE, DISK = 0, 1
GEOMETRIES = ("square", "disk")


def check_geometry(geometry: Tensor) -> Tensor:
    """Raise unless ``geometry`` is a 1-D integer tensor of ids in ``{0, 1}``; return it."""
    if not (isinstance(geometry, Tensor) and geometry.ndim == 1 and not geometry.is_floating_point()):
        raise TypeError(f"geometry must be a 1-D integer tensor of ids (0 square, 1 disk), got "
                        f"{geometry!r}")
    if geometry.numel() and (int(geometry.min()) < 0 or int(geometry.max()) >= len(GEOMETRIES)):
        raise ValueError(f"geometry ids must be 0 (square) or 1 (disk), got {geometry.unique().tolist()}")
    return geometry


def sample_interior(geometry: Tensor, n: int, generator: torch.Generator | None = None) -> Tensor:
    """``n`` uniform points inside each PDE's domain: ``(P, n, 2)``."""
    u = torch.rand(len(geometry), n, 2, generator=generator).to(geometry.device)
    radius = 0.5 * u[..., 0].sqrt()
    angle = 2 * math.pi * u[..., 1]
    disk = torch.stack([0.5 + radius * angle.cos(), 0.5 + radius * angle.sin()], -1)
    return torch.where((geometry == DISK)[:, None, None], disk, u)


def boundary(geometry: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """Boundary points and outward unit normals at parameters ``t``.

    Args:
        geometry: ``(P,)`` ids.
        t: ``(N,)`` shared or ``(P, N)`` per-PDE parameters in ``[0, 1)``.

    Returns:
        ``(points, normals)``, both ``(P, N, 2)``.
    """
    t = t.expand(len(geometry), -1) if t.ndim == 1 else t
    side = (4 * t).floor().clamp(max=3)
    s = 4 * t - side
    zero, one = torch.zeros_like(s), torch.ones_like(s)
    square = torch.stack([torch.where(side == 0, s, torch.where(side == 1, one, torch.where(side == 2, 1 - s, zero))),
                          torch.where(side == 0, zero, torch.where(side == 1, s, torch.where(side == 2, one, 1 - s)))], -1)
    normal_x = torch.where(side == 1, one, torch.where(side == 3, -one, zero))
    normal_y = torch.where(side == 0, -one, torch.where(side == 2, one, zero))
    square_normal = torch.stack([normal_x, normal_y], -1)
    angle = 2 * math.pi * t
    disk_normal = torch.stack([angle.cos(), angle.sin()], -1)
    is_disk = (geometry == DISK)[:, None, None]
    return (torch.where(is_disk, 0.5 + 0.5 * disk_normal, square),
            torch.where(is_disk, disk_normal, square_normal))


def inside(geometry: Tensor, points: Tensor) -> Tensor:
    """``(P, N)`` boolean: which of ``points: (P or 1, N, 2)`` lie in each closed domain."""
    in_square = ((points >= 0) & (points <= 1)).all(-1)
    in_disk = ((points - 0.5).square().sum(-1) <= 0.25 + 1e-9)
    return torch.where((geometry == DISK)[:, None], in_disk, in_square)


def neumann_part(geometry: Tensor, mixed: Tensor, points: Tensor) -> Tensor:
    """``(P, N)`` boolean: boundary ``points`` where a Neumann condition holds (mixed problems only)."""
    left = torch.where((geometry == DISK)[:, None], points[..., 0] < 0.25, points[..., 0] < 1e-6)
    return left & mixed[:, None]


def grid_points(n: int, device=None) -> Tensor:
    """The ``n x n`` nodes of ``[0, 1]^2`` (``x`` fastest): ``(n * n, 2)``.

    Example:
        >>> grid_points(3)[:4].tolist()
        [[0.0, 0.0], [0.5, 0.0], [1.0, 0.0], [0.0, 0.5]]
    """
    axis = torch.linspace(0, 1, n, device=device)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([x.flatten(), y.flatten()], -1)
