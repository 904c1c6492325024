"""CartPole with physical parameters per environment (gymnasium's, and a batched torch copy), and
the registry of the batched environments (:data:`ENVIRONMENTS`: CartPole, Pendulum).

:func:`gym_cartpole` builds gymnasium's ``CartPole-v1`` and sets its pole's half-length and mass
(``env.unwrapped.length``, ``masspole``) together with the quantities gymnasium derives from them
once in ``__init__`` (``total_mass``, ``polemass_length``), which a plain attribute assignment
would leave stale.

:class:`CartPoleBatch` runs ``N`` CartPoles at once as tensors, each with its own
``(length, masspole)``: the same equations, constants, termination and reset distribution as
gymnasium 1.x's ``CartPoleEnv`` (tested transition by transition), with the time limit of
``CartPole-v1`` (500 steps) and automatic reset. One step of all ``N`` is a handful of tensor
operations, where gymnasium's ``SyncVectorEnv`` steps ``N`` Python objects (the benchmark
measures both).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .batch_env import BatchEnv, check_params
from .pendulum import PendulumBatch

__all__ = ["CartPoleBatch", "gym_cartpole", "PARAMETERS", "DEFAULT_PARAMETERS", "ENVIRONMENTS", "make_env"]

#: the varied physical parameters, in condition order
PARAMETERS = ("length", "masspole")
#: gymnasium's defaults (half the pole's length in m, the pole's mass in kg)
DEFAULT_PARAMETERS = (0.5, 0.1)
GRAVITY, MASSCART, FORCE_MAG, TAU = 9.8, 1.0, 10.0, 0.02
THETA_LIMIT, X_LIMIT, MAX_STEPS = 12 * 2 * math.pi / 360, 2.4, 500


def gym_cartpole(length: float = 0.5, masspole: float = 0.1, **kwargs):
    """gymnasium's ``CartPole-v1`` with the pole's half-length and mass set (derived terms too).

    Example:
        >>> env = gym_cartpole(length=0.8, masspole=0.3)
        >>> round(env.unwrapped.polemass_length, 4), round(env.unwrapped.total_mass, 4)
        (0.24, 1.3)
    """
    import gymnasium
    check_params([[length, masspole]], PARAMETERS)
    env = gymnasium.make("CartPole-v1", **kwargs)
    core = env.unwrapped
    core.length, core.masspole = float(length), float(masspole)
    core.total_mass = core.masspole + core.masscart          # derived once in __init__: refresh them
    core.polemass_length = core.masspole * core.length
    return env


class CartPoleBatch(BatchEnv):
    """``N`` CartPole-v1 environments as tensors, environment ``i`` with pole ``params[i]``.

    Args:
        params: ``(N, 2)`` rows of ``(length, masspole)``.
        generator: the random source of the resets.
        device: where the state lives.

    ``reset() -> obs (N, 4)``; ``step(actions (N,) in {0, 1}) -> (obs, reward, terminated,
    truncated)``, each ``(N,)``; an environment that ends is reset in the same call (its ``obs``
    is the new episode's first, :attr:`final_obs` the last one of every environment before the
    reset), and :attr:`episode_returns` lists the returns of the episodes that ended in that step.

    Example:
        >>> envs = CartPoleBatch([[0.5, 0.1], [1.0, 0.5]], generator=torch.Generator().manual_seed(0))
        >>> envs.reset().shape
        torch.Size([2, 4])
        >>> obs, reward, terminated, truncated = envs.step(torch.tensor([0, 1]))
        >>> reward.tolist(), terminated.tolist()
        ([1.0, 1.0], [False, False])
    """

    PARAMETERS = PARAMETERS
    obs_dim, action_dim, continuous, max_steps, state_dim = 4, 2, False, MAX_STEPS, 4

    def draw(self, n: int) -> Tensor:
        return (torch.rand(n, 4, generator=self.generator, dtype=torch.float64) * 0.1 - 0.05).to(self.device)

    def observe(self, state: Tensor) -> Tensor:
        return state.float()

    def transition(self, actions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        length, masspole = self.params.unbind(1)
        x, x_dot, theta, theta_dot = self.state.unbind(1)
        force = torch.where(actions == 1, FORCE_MAG, -FORCE_MAG)
        total_mass = masspole + MASSCART
        polemass_length = masspole * length
        cos, sin = torch.cos(theta), torch.sin(theta)
        temp = (force + polemass_length * theta_dot ** 2 * sin) / total_mass
        theta_acc = (GRAVITY * sin - cos * temp) / (length * (4.0 / 3.0 - masspole * cos ** 2 / total_mass))
        x_acc = temp - polemass_length * theta_acc * cos / total_mass
        state = torch.stack([x + TAU * x_dot, x_dot + TAU * x_acc,          # explicit Euler,
                             theta + TAU * theta_dot, theta_dot + TAU * theta_acc], 1)  # as gym
        terminated = (state[:, 0].abs() > X_LIMIT) | (state[:, 2].abs() > THETA_LIMIT)
        return state, torch.ones(self.num, dtype=torch.float64, device=self.device), terminated


#: the batched environments by name (``RLConfig.env``, ``evaluate(..., env=)``)
ENVIRONMENTS: dict[str, type[BatchEnv]] = {"cartpole": CartPoleBatch, "pendulum": PendulumBatch}


def make_env(name: str, params, generator: torch.Generator | None = None,
             device: str | torch.device = "cpu") -> BatchEnv:
    """The batched environment ``name`` (a key of :data:`ENVIRONMENTS`) with one row of ``params``
    per environment.

    Example:
        >>> make_env("pendulum", [[1.0, 1.0], [1.5, 0.8]]).reset().shape
        torch.Size([2, 3])
    """
    if name not in ENVIRONMENTS:
        raise ValueError(f"unknown environment {name!r}; choose one of {sorted(ENVIRONMENTS)}")
    return ENVIRONMENTS[name](params, generator=generator, device=device)
