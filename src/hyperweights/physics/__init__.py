"""HyPINO-style physics-informed hypernetworks: a PDE's encoding -> the weights of a PINN solving it.

- :class:`PDEFamily`, :class:`PDEProblems`: Poisson, Helmholtz and advection–diffusion in 2-D,
  Dirichlet or mixed Dirichlet/Neumann boundaries, on the unit square or a disk; labelled problems
  by the Method of Manufactured Solutions, source-only ones with a finite-difference ground truth
  (:func:`solve_fd`).
- :class:`HyperPINN`: the hypernetwork (``DataCondition(PDEEncoder)`` over :func:`encode`),
  generating one PINN per problem in one batched call; :func:`pinn_losses`: residual losses by
  autograd plus MMS data losses (mixed supervision).
- :func:`refine`: iterative delta-PINN refinement (an ensemble of generated corrections);
  :func:`train_pinns`: fine-tuning from the prediction, and the baselines (:func:`random_member`,
  :func:`reptile_init`).
- :class:`PhysicsConfig`, :func:`fit`, :func:`evaluate` (``hyperweights bench physics``).

Example:
    >>> import torch
    >>> from hyperweights.physics import HyperPINN, PDEFamily, evaluate
    >>> problems = PDEFamily().sample(2, torch.Generator().manual_seed(0), labelled=True)
    >>> model = HyperPINN(grid=8, boundary_points=8, width=8)
    >>> sorted(evaluate(model, problems, rounds=1, grid=9))
    ['rel_l2_round0', 'rel_l2_round1']
"""

from .encoding import PDEEncoder as PDEEncoder
from .encoding import encode as encode
from .encoding import problem_scale as problem_scale
from .fd import solve_fd as solve_fd
from .finetune import PINNRun as PINNRun
from .finetune import random_member as random_member
from .finetune import reptile_init as reptile_init
from .finetune import shared_member as shared_member
from .finetune import train_pinns as train_pinns
from .geometry import GEOMETRIES as GEOMETRIES
from .geometry import grid_points as grid_points
from .losses import collocation as collocation
from .losses import pinn_losses as pinn_losses
from .model import HyperPINN as HyperPINN
from .model import Member as Member
from .model import ensemble_values as ensemble_values
from .model import pinn as pinn
from .model import pinn_values as pinn_values
from .pde import BOUNDARIES as BOUNDARIES
from .pde import OPERATORS as OPERATORS
from .pde import PDEFamily as PDEFamily
from .pde import PDEProblems as PDEProblems
from .refine import ResidualProblems as ResidualProblems
from .refine import refine as refine
from .train import PhysicsConfig as PhysicsConfig
from .train import evaluate as evaluate
from .train import evaluation_grid as evaluation_grid
from .train import fit as fit
from .train import reference_solution as reference_solution
from .train import relative_l2 as relative_l2
from .train import round_errors as round_errors

__all__ = ["BOUNDARIES", "GEOMETRIES", "OPERATORS", "HyperPINN", "Member", "PDEEncoder", "PDEFamily",
           "PDEProblems", "PINNRun", "PhysicsConfig", "ResidualProblems", "collocation", "encode",
           "ensemble_values", "evaluate", "evaluation_grid", "fit", "grid_points", "pinn",
           "pinn_losses", "pinn_values", "problem_scale", "random_member", "reference_solution",
           "refine", "relative_l2", "reptile_init", "round_errors", "shared_member", "solve_fd",
           "train_pinns"]
