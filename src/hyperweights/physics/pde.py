"""The PDE family: ``-a Δu + b·∇u + c u = f`` in 2-D, with manufactured and source-only problems.

One linear operator covers the three equations of the recipe, by its coefficients
``coeffs = (a, b1, b2, c)`` per PDE:

- Poisson: ``a = 1, b = 0, c = 0``;
- Helmholtz ``-Δu - k² u = f``: ``a = 1, b = 0, c = -k²``;
- advection–diffusion ``-a Δu + b·∇u = f``: ``c = 0``.

Boundary conditions: Dirichlet ``u = g`` everywhere, or *mixed*: Neumann ``∂u/∂n = h`` on the
left part of the boundary (:func:`~hyperweights.physics.geometry.neumann_part`), Dirichlet on the
rest. Domains: the unit square or the inscribed disk (:mod:`~hyperweights.physics.geometry`).

:class:`PDEProblems` holds a batch of ``P`` problems as tensors. A *labelled* problem comes from
the Method of Manufactured Solutions (MMS): its solution is picked first, a sum of plane waves
``u = Σ_j A_j sin(ω_j·x + φ_j)``, and ``f``, ``g``, ``h`` are derived from it in closed form (tested
against autograd). An *unlabelled* problem has a source of Gaussian bumps and zero boundary
data; its solution is unknown (a finite-difference solve gives it on the square,
:mod:`~hyperweights.physics.fd`). Its fields are evaluated at any points ``x: (P, N, 2)``.

Example:
    >>> import torch
    >>> family = PDEFamily()
    >>> problems = family.sample(4, torch.Generator().manual_seed(0))
    >>> x = torch.rand(4, 10, 2)
    >>> problems.source(x).shape, problems.labelled.tolist()
    (torch.Size([4, 10]), [True, True, True, False])
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
from torch import Tensor

from .geometry import GEOMETRIES, check_geometry

__all__ = ["OPERATORS", "BOUNDARIES", "PDEProblems", "PDEFamily", "apply_operator", "derivatives"]

OPERATORS = ("poisson", "helmholtz", "advection_diffusion")
BOUNDARIES = ("dirichlet", "mixed")


def derivatives(u: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
    """First derivatives and the Laplacian of ``u: (P, N)`` at ``x: (P, N, 2)`` by autograd.

    ``u`` must have been computed from ``x`` (with ``x.requires_grad``), each point depending
    only on its own coordinates; the graph is kept so losses on the result train what made ``u``.

    Returns:
        ``(grad (P, N, 2), laplacian (P, N))``.
    """
    grad = torch.autograd.grad(u.sum(), x, create_graph=True)[0]
    u_xx = torch.autograd.grad(grad[..., 0].sum(), x, create_graph=True)[0][..., 0]
    u_yy = torch.autograd.grad(grad[..., 1].sum(), x, create_graph=True)[0][..., 1]
    return grad, u_xx + u_yy


def apply_operator(coeffs: Tensor, u: Tensor, grad: Tensor, laplacian: Tensor) -> Tensor:
    """``-a Δu + b·∇u + c u``: ``coeffs (P, 4)``, ``u, laplacian (P, N)``, ``grad (P, N, 2)``."""
    a, b, c = coeffs[:, 0:1], coeffs[:, None, 1:3], coeffs[:, 3:4]
    return -a * laplacian + (b * grad).sum(-1) + c * u


@dataclass
class PDEProblems:
    """A batch of ``P`` problems of the family, as tensors (see the module docstring).

    Attributes:
        coeffs: ``(P, 4)`` operator coefficients ``(a, b1, b2, c)``.
        operator: ``(P,)`` index into :data:`OPERATORS` (for reporting).
        geometry: ``(P,)`` 0 square, 1 disk.
        mixed: ``(P,)`` bool, Neumann on the left part of the boundary.
        labelled: ``(P,)`` bool, MMS problem with a known solution.
        amplitude, wavevector, phase: ``(P, J)``, ``(P, J, 2)``, ``(P, J)``: the manufactured
            solution (zero amplitude on unlabelled problems).
        bump_amplitude, bump_centre, bump_width: ``(P, K)``, ``(P, K, 2)``, ``(P, K)``: the
            Gaussian-bump source of unlabelled problems (zero amplitude on labelled ones).
    """

    coeffs: Tensor
    operator: Tensor
    geometry: Tensor
    mixed: Tensor
    labelled: Tensor
    amplitude: Tensor
    wavevector: Tensor
    phase: Tensor
    bump_amplitude: Tensor
    bump_centre: Tensor
    bump_width: Tensor

    def __post_init__(self):
        check_geometry(self.geometry)
        count = len(self.coeffs)
        if self.coeffs.ndim != 2 or self.coeffs.shape[1] != 4:
            raise ValueError(f"coeffs must be (P, 4) = (a, b1, b2, c) per PDE, got {tuple(self.coeffs.shape)}")
        wrong = [f.name for f in fields(self) if len(getattr(self, f.name)) != count]
        if wrong:
            raise ValueError(f"every field of PDEProblems needs the same number of PDEs ({count}); "
                             f"{wrong} differ")

    def __len__(self) -> int:
        return len(self.coeffs)

    def index(self, idx) -> PDEProblems:
        """The problems at ``idx`` (a slice, index tensor or boolean mask)."""
        return PDEProblems(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def to(self, device) -> PDEProblems:
        return PDEProblems(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    @property
    def device(self) -> torch.device:
        return self.coeffs.device

    # -- the manufactured solution, in closed form --------------------------------------------
    def _waves(self, x: Tensor) -> tuple[Tensor, Tensor]:
        arg = torch.einsum("pnd,pjd->pnj", x, self.wavevector) + self.phase[:, None]
        return arg.sin() * self.amplitude[:, None], arg.cos() * self.amplitude[:, None]

    def solution(self, x: Tensor) -> Tensor:
        """The manufactured solution ``u(x)``: ``(P, N)`` (zero on unlabelled problems)."""
        return self._waves(x)[0].sum(-1)

    def solution_grad(self, x: Tensor) -> Tensor:
        """``∇u(x)``: ``(P, N, 2)``."""
        return torch.einsum("pnj,pjd->pnd", self._waves(x)[1], self.wavevector)

    def source(self, x: Tensor) -> Tensor:
        """``f(x)``: ``(P, N)``; for a plane wave ``Δu = -|ω|² u`` and ``∇u = ω cos(·)``, so
        ``f = Σ_j A_j [(a |ω_j|² + c) sin(·) + (b·ω_j) cos(·)]``, plus the bumps."""
        sines, cosines = self._waves(x)
        a, b, c = self.coeffs[:, 0:1], self.coeffs[:, 1:3], self.coeffs[:, 3:4]
        sq = self.wavevector.square().sum(-1)                                        # (P, J)
        drift = torch.einsum("pd,pjd->pj", b, self.wavevector)
        waves = (sines * (a * sq + c)[:, None] + cosines * drift[:, None]).sum(-1)
        dist = (x[:, :, None] - self.bump_centre[:, None]).square().sum(-1)           # (P, N, K)
        bumps = (self.bump_amplitude[:, None] * torch.exp(-dist / (2 * self.bump_width[:, None] ** 2))).sum(-1)
        return waves + bumps

    def dirichlet(self, x: Tensor) -> Tensor:
        """``g(x)`` on the Dirichlet boundary: ``(P, N)``."""
        return self.solution(x)

    def neumann(self, x: Tensor, normals: Tensor) -> Tensor:
        """``h(x) = ∂u/∂n`` on the Neumann boundary: ``(P, N)``."""
        return (self.solution_grad(x) * normals).sum(-1)


@dataclass
class PDEFamily:
    """The distribution problems are drawn from (training and held-out alike).

    Attributes:
        operators: names from :data:`OPERATORS`.
        geometries: names from ``("square", "disk")``.
        boundaries: names from :data:`BOUNDARIES`.
        waves: plane waves per manufactured solution.
        max_frequency: wave-vector components are uniform in ``π·[-max, max]``.
        bumps: Gaussian bumps per unlabelled source.
        labelled_fraction: share of MMS (labelled) problems; the rest are source-only.
        helmholtz_k: range of the Helmholtz wavenumber ``k`` (``c = -k²``; below the first
            eigenvalue of every domain and boundary type, so each problem is well posed).
        diffusion: range of ``a`` for advection–diffusion; drift: bound on ``|b_i|``.
    """

    operators: tuple[str, ...] = OPERATORS
    geometries: tuple[str, ...] = GEOMETRIES
    boundaries: tuple[str, ...] = BOUNDARIES
    waves: int = 3
    max_frequency: float = 1.5
    bumps: int = 2
    labelled_fraction: float = 0.75
    helmholtz_k: tuple[float, float] = (0.5, 3.0)
    diffusion: tuple[float, float] = (0.3, 1.0)
    drift: float = 2.0

    def validate(self) -> None:
        for name, allowed in (("operators", OPERATORS), ("geometries", GEOMETRIES), ("boundaries", BOUNDARIES)):
            chosen = getattr(self, name)
            if not chosen or any(c not in allowed for c in chosen):
                raise ValueError(f"PDEFamily.{name} must be a non-empty subset of {allowed}, got {chosen!r}")
        if not 0.0 <= self.labelled_fraction <= 1.0:
            raise ValueError(f"PDEFamily.labelled_fraction must be in [0, 1], got {self.labelled_fraction!r}")
        if self.helmholtz_k[1] > 3.0:
            raise ValueError("PDEFamily.helmholtz_k above 3 reaches the first eigenvalue of the mixed "
                             f"square problem (k² = 1.25 π² ≈ 12.3); got {self.helmholtz_k}")

    def sample(self, count: int, generator: torch.Generator | None = None, *,
               labelled: bool | None = None) -> PDEProblems:
        """``count`` problems; ``labelled=True/False`` forces all MMS / all source-only.

        The first ``round(count * labelled_fraction)`` are labelled (the order carries no meaning).
        """
        self.validate()
        if not (isinstance(count, int) and count > 0):
            raise ValueError(f"count must be a positive integer, got {count!r}")
        gen = generator

        def uniform(low, high, *shape):
            return low + (high - low) * torch.rand(*shape, generator=gen)

        def pick(names, allowed):
            ids = torch.tensor([allowed.index(n) for n in names])
            return ids[torch.randint(len(ids), (count,), generator=gen)]

        operator = pick(self.operators, OPERATORS)
        geometry = pick(self.geometries, GEOMETRIES)
        mixed = pick(self.boundaries, BOUNDARIES) == 1
        k = uniform(*self.helmholtz_k, count)
        diff = uniform(*self.diffusion, count)
        drift = uniform(-self.drift, self.drift, count, 2)
        is_adv = operator == 2
        coeffs = torch.stack([torch.where(is_adv, diff, torch.ones(count)),
                              torch.where(is_adv, drift[:, 0], 0.0), torch.where(is_adv, drift[:, 1], 0.0),
                              torch.where(operator == 1, -k.square(), 0.0)], -1)
        n_labelled = round(count * self.labelled_fraction) if labelled is None else count * bool(labelled)
        has_label = torch.arange(count) < n_labelled
        amplitude = torch.randn(count, self.waves, generator=gen) / math.sqrt(self.waves)
        wavevector = math.pi * uniform(-self.max_frequency, self.max_frequency, count, self.waves, 2)
        phase = uniform(0, 2 * math.pi, count, self.waves)
        bump_amplitude = 20 * torch.randn(count, self.bumps, generator=gen)
        bump_centre = uniform(0.25, 0.75, count, self.bumps, 2)
        bump_width = uniform(0.08, 0.2, count, self.bumps)
        return PDEProblems(coeffs=coeffs, operator=operator, geometry=geometry, mixed=mixed,
                           labelled=has_label, amplitude=amplitude * has_label[:, None],
                           wavevector=wavevector, phase=phase,
                           bump_amplitude=bump_amplitude * ~has_label[:, None],
                           bump_centre=bump_centre, bump_width=bump_width)
