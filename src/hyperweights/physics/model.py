"""The target PINN and the HyPINO-style hypernetwork that generates it from a PDE's encoding.

:func:`pinn` builds the target: fixed random Fourier features of ``(x, y)`` (a buffer, shared by
every generated PINN) followed by a tanh MLP with a scalar output. :class:`HyperPINN` is a
:class:`~hyperweights.HyperNetwork` over that target whose condition is
``DataCondition(PDEEncoder)``: one call generates one PINN per problem, ``{name: (P, *shape)}``,
and :func:`pinn_values` evaluates all of them at their own points in one per-sample call of the
core (``W == B == P``), never a loop over PDEs.

Example:
    >>> import torch
    >>> from hyperweights.physics import PDEFamily
    >>> model = HyperPINN(grid=8, boundary_points=8, width=16)
    >>> problems = PDEFamily().sample(3, torch.Generator().manual_seed(0))
    >>> member = model.generate(problems)
    >>> pinn_values(model.target, member, torch.rand(3, 50, 2)).shape
    torch.Size([3, 50])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..conditioning import DataCondition
from ..hypernetwork import HyperNetwork
from ..io import checkpointable
from ..targets.functional import run_shared
from ..trunks import MLP
from .encoding import PDEEncoder, encode, problem_scale

__all__ = ["FourierFeatures", "pinn", "HyperPINN", "Member", "pinn_values", "ensemble_values"]


class FourierFeatures(nn.Module):
    """``x (..., 2) -> [sin 2π xBᵀ, cos 2π xBᵀ] (..., 2 m)`` with a fixed Gaussian ``B (m, 2)``.

    Example:
        >>> FourierFeatures(4)(torch.zeros(5, 2)).shape
        torch.Size([5, 8])
    """

    def __init__(self, count: int, sigma: float = 1.0, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer("frequencies", sigma * torch.randn(count, 2, generator=gen))

    def forward(self, x: Tensor) -> Tensor:
        arg = 2 * math.pi * x @ self.frequencies.T
        return torch.cat([arg.sin(), arg.cos()], -1)


def pinn(features: int = 16, width: int = 32, depth: int = 2, sigma: float = 1.0, seed: int = 0) -> nn.Sequential:
    """The target PINN: ``FourierFeatures(features) -> [Linear, Tanh] x depth -> Linear(width, 1)``.

    Example:
        >>> net = pinn(features=4, width=8)
        >>> net(torch.rand(10, 2)).shape
        torch.Size([10, 1])
    """
    layers: list[nn.Module] = [FourierFeatures(features, sigma, seed)]
    width_in = 2 * features
    for _ in range(depth):
        layers += [nn.Linear(width_in, width), nn.Tanh()]
        width_in = width
    layers.append(nn.Linear(width_in, 1))
    return nn.Sequential(*layers)


@dataclass
class Member:
    """One PINN per problem: ``u_p(x) = scale_p · F(x; weights_p)``.

    Attributes:
        weights: ``{name: (P, *shape)}`` of the target's parameters.
        scale: ``(P,)`` the problems' :func:`~hyperweights.physics.encoding.problem_scale`.
    """

    weights: dict[str, Tensor]
    scale: Tensor

    def detach(self) -> Member:
        return Member({k: v.detach() for k, v in self.weights.items()}, self.scale.detach())


def pinn_values(target: nn.Module, member: Member, x: Tensor) -> Tensor:
    """``u_p`` of every problem at its own points ``x: (P, N, 2)``: ``(P, N)``, one batched call."""
    return member.scale[:, None] * run_shared(target, member.weights, (x,), {})[..., 0]


def ensemble_values(target: nn.Module, members: list[Member], x: Tensor) -> Tensor:
    """The sum of the members' PINNs at ``x: (P, N, 2)`` (the refinement's ensemble): ``(P, N)``."""
    return sum(pinn_values(target, m, x) for m in members)


@checkpointable("physics.HyperPINN")
class HyperPINN(nn.Module):
    """HyPINO-style hypernetwork: PDE encoding -> weights of a PINN that solves it.

    Args:
        grid: ``G`` of the encoding grid; boundary_points: ``M`` boundary samples encoded.
        features, width, depth, sigma: of the target :func:`pinn`.
        code_dim: width of :class:`PDEEncoder`'s code; hidden: the hypernetwork trunk's widths.
        seed: seeds the target's Fourier features and the initialisation.

    Shapes: ``generate(problems)`` -> :class:`Member` with weights ``{name: (P, *shape)}``.
    """

    def __init__(self, grid: int = 16, boundary_points: int = 32, features: int = 16, width: int = 32,
                 depth: int = 2, sigma: float = 1.0, code_dim: int = 128, hidden: tuple[int, ...] = (256, 256),
                 seed: int = 0):
        super().__init__()
        for name, value in (("grid", grid), ("boundary_points", boundary_points), ("features", features),
                            ("width", width), ("depth", depth), ("code_dim", code_dim)):
            if not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
                raise ValueError(f"HyperPINN: {name} must be a positive integer, got {value!r}")
        self.config = {"grid": grid, "boundary_points": boundary_points, "features": features,
                       "width": width, "depth": depth, "sigma": sigma, "code_dim": code_dim,
                       "hidden": list(hidden), "seed": seed}
        torch.manual_seed(seed)
        self.target = pinn(features, width, depth, sigma, seed)
        self.encoder = PDEEncoder(grid, boundary_points, code_dim)
        self.hypernetwork = HyperNetwork(self.target, condition=DataCondition(self.encoder, dim=code_dim),
                                         trunk=MLP(hidden=tuple(hidden)))

    def scale(self, problems) -> Tensor:
        """:func:`problem_scale` at this model's encoding resolution: ``(P,)``."""
        return problem_scale(problems, self.config["grid"], self.config["boundary_points"])

    def generate(self, problems) -> Member:
        """One PINN per problem (batched): weights ``{name: (P, *shape)}`` and scales ``(P,)``."""
        code, scale = encode(problems, self.config["grid"], self.config["boundary_points"])
        return Member(self.hypernetwork(code), scale)

    def forward(self, x: Tensor, problems) -> Tensor:
        """``u_p(x_p)`` for points ``x: (P, N, 2)``: ``(P, N)``."""
        return pinn_values(self.target, self.generate(problems), x)

    def checkpoint_state(self):
        return dict(self.state_dict()), dict(self.config)

    @classmethod
    def from_checkpoint(cls, tensors, config, **overrides):
        config = {**config, **overrides}
        model = cls(**{**config, "hidden": tuple(config["hidden"])})
        model.load_state_dict(tensors)
        return model
