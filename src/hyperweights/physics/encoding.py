"""The PDE encoding the hypernetwork is conditioned on, and its encoder.

A problem becomes one flat vector (through the core's :class:`~hyperweights.DataCondition`):

- the source ``f`` and the domain mask on the ``G x G`` nodes of ``[0, 1]^2`` (``f`` is zero
  outside the domain): ``2 G²`` values;
- the operator coefficients ``(a, b1, b2, c)``: 4 values;
- at ``M`` boundary points (``t = m / M``): the Dirichlet data ``g`` (zero on the Neumann part),
  the Neumann data ``h`` (zero on the Dirichlet part) and the Neumann indicator: ``3 M`` values.

Because the operator is linear, every problem is first divided by a *scale* ``s`` computed from
its own data (:func:`problem_scale`); a network trained on O(1) problems then predicts
``u / s``, and residual problems of the refinement (tiny in absolute terms) look like ordinary
ones. All PINNs of the benchmark, generated or trained, output ``s · F(x; θ)``.

Example:
    >>> import torch
    >>> from hyperweights.physics import PDEFamily
    >>> problems = PDEFamily().sample(3, torch.Generator().manual_seed(0))
    >>> code, scale = encode(problems, grid=8, boundary_points=16)
    >>> code.shape, PDEEncoder(8, 16, 32)(code).shape
    (torch.Size([3, 180]), torch.Size([3, 32]))
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .geometry import boundary, grid_points, inside, neumann_part

__all__ = ["encode", "encoding_size", "problem_scale", "PDEEncoder", "boundary_grid"]


def encoding_size(grid: int, boundary_points: int) -> int:
    """Length of :func:`encode`'s vector: ``2 G² + 4 + 3 M``."""
    return 2 * grid * grid + 4 + 3 * boundary_points


def boundary_grid(problems, boundary_points: int) -> tuple[Tensor, Tensor, Tensor]:
    """The ``M`` encoding boundary points: ``(points (P, M, 2), normals, neumann mask (P, M))``."""
    t = torch.arange(boundary_points, device=problems.device) / boundary_points
    points, normals = boundary(problems.geometry, t)
    return points, normals, neumann_part(problems.geometry, problems.mixed, points)


def _raw_fields(problems, grid: int, boundary_points: int):
    nodes = grid_points(grid, problems.device).expand(len(problems), -1, -1)
    mask = inside(problems.geometry, nodes).float()
    source = problems.source(nodes) * mask
    points, normals, neumann = boundary_grid(problems, boundary_points)
    g = torch.where(neumann, 0.0, problems.dirichlet(points))
    h = torch.where(neumann, problems.neumann(points, normals), 0.0)
    return source, mask, g, h, neumann.float()


def _scale(source: Tensor, g: Tensor, h: Tensor) -> Tensor:
    rms = lambda v: v.square().mean(-1).sqrt()  # noqa: E731
    return (rms(g) + rms(h) / 5 + source.abs().amax(-1) / 20).clamp_min(1e-8)


def problem_scale(problems, grid: int = 16, boundary_points: int = 32) -> Tensor:
    """Per-problem scale ``s: (P,)``: the RMS of the boundary data ``g`` plus that of ``h`` over 5
    plus the source's largest magnitude over 20 (the solution of ``-Δu = f`` is about
    ``f / |ω|²``; 20 ≈ the squared frequency of the family's typical wave), floored at ``1e-8``.
    Dividing a problem by ``s`` gives O(1) data."""
    source, _, g, h, _ = _raw_fields(problems, grid, boundary_points)
    return _scale(source, g, h)


def encode(problems, grid: int = 16, boundary_points: int = 32) -> tuple[Tensor, Tensor]:
    """The flat encoding ``(P, 2 G² + 4 + 3 M)`` of the problems divided by their scale, and the
    scale ``(P,)`` (:func:`problem_scale`), from one evaluation of the problems' fields."""
    source, mask, g, h, neumann = _raw_fields(problems, grid, boundary_points)
    scale = _scale(source, g, h)
    s = scale[:, None]
    return torch.cat([source / s, mask, problems.coeffs, g / s, h / s, neumann], -1), scale


class PDEEncoder(nn.Module):
    """A small CNN over the source/mask grid plus an MLP over coefficients and boundary data.

    Args:
        grid: ``G`` of the encoding; boundary_points: ``M``; out_dim: width of the code.

    Shapes: ``(P, 2 G² + 4 + 3 M) -> (P, out_dim)``.
    """

    def __init__(self, grid: int = 16, boundary_points: int = 32, out_dim: int = 128):
        super().__init__()
        self.grid, self.boundary_points, self.out_features = grid, boundary_points, out_dim
        self.conv = nn.Sequential(
            nn.Conv2d(2, 16, 3, padding=1), nn.GELU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.GELU(), nn.Flatten())
        conv_out = 32 * ((grid + 3) // 4) ** 2
        self.rest = nn.Sequential(nn.Linear(4 + 3 * boundary_points, 128), nn.GELU())
        self.out = nn.Sequential(nn.Linear(conv_out + 128, out_dim), nn.GELU())

    def forward(self, code: Tensor) -> Tensor:
        cells = 2 * self.grid * self.grid
        if code.ndim != 2 or code.shape[1] != encoding_size(self.grid, self.boundary_points):
            raise ValueError(f"PDEEncoder expects encodings (P, {encoding_size(self.grid, self.boundary_points)}) "
                             f"from encode(problems, {self.grid}, {self.boundary_points}); got {tuple(code.shape)}")
        image = code[:, :cells].reshape(-1, 2, self.grid, self.grid)
        return self.out(torch.cat([self.conv(image), self.rest(code[:, cells:])], -1))
