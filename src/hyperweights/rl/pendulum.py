"""Pendulum with its mass and length per environment: gymnasium's, and a batched torch copy.

:func:`gym_pendulum` builds gymnasium's ``Pendulum-v1`` and sets ``env.unwrapped.m`` and ``.l``
(the env reads both in every ``step``; nothing is derived from them in ``__init__``).

:class:`PendulumBatch` runs ``N`` pendulums at once as tensors, each with its own ``(m, l)``:
gymnasium 1.x's ``PendulumEnv`` equations (tested transition by transition)::

    u      = clip(action, -2, 2)
    cost   = angle_normalize(th)^2 + 0.1 thdot^2 + 0.001 u^2       (reward = -cost, from the old state)
    thdot' = clip(thdot + (3 g / (2 l) sin th + 3 / (m l^2) u) dt, -8, 8)
    th'    = th + thdot' dt                                            (g = 10, dt = 0.05)

with the observation ``(cos th, sin th, thdot)``, the reset ``th ~ U(-pi, pi)``,
``thdot ~ U(-1, 1)``, no termination and ``Pendulum-v1``'s 200-step time limit.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .batch_env import BatchEnv, check_params

__all__ = ["PendulumBatch", "gym_pendulum", "PENDULUM_PARAMETERS"]

#: the varied physical parameters, in condition order (gymnasium's defaults are both 1.0)
PENDULUM_PARAMETERS = ("m", "l")
GRAVITY, DT, MAX_SPEED, MAX_TORQUE, PENDULUM_STEPS = 10.0, 0.05, 8.0, 2.0, 200


def gym_pendulum(m: float = 1.0, l: float = 1.0, **kwargs):  # noqa: E741  (gymnasium's names)
    """gymnasium's ``Pendulum-v1`` with the pendulum's mass ``m`` (kg) and length ``l`` (m) set.

    Example:
        >>> env = gym_pendulum(m=1.5, l=0.8)
        >>> env.unwrapped.m, env.unwrapped.l
        (1.5, 0.8)
    """
    import gymnasium
    check_params([[m, l]], PENDULUM_PARAMETERS)
    env = gymnasium.make("Pendulum-v1", **kwargs)
    env.unwrapped.m, env.unwrapped.l = float(m), float(l)
    return env


def angle_normalize(theta: Tensor) -> Tensor:
    """``theta`` wrapped into ``[-pi, pi)``, as gymnasium's ``angle_normalize``."""
    return torch.remainder(theta + math.pi, 2 * math.pi) - math.pi


class PendulumBatch(BatchEnv):
    """``N`` Pendulum-v1 environments as tensors, environment ``i`` with ``(m, l) = params[i]``.

    Args:
        params: ``(N, 2)`` rows of ``(m, l)``: mass in kg, length in m.
        generator: the random source of the resets.
        device: where the state lives.

    ``reset() -> obs (N, 3)``; ``step(actions (N, 1) torques) -> (obs, reward, terminated,
    truncated)``, each ``(N,)``; torques outside ``[-2, 2]`` are clipped (as gymnasium does),
    ``terminated`` is always false and every episode is truncated after 200 steps, then reset in
    the same call (see :class:`~hyperweights.rl.batch_env.BatchEnv`).

    Example:
        >>> envs = PendulumBatch([[1.0, 1.0], [2.0, 0.5]], generator=torch.Generator().manual_seed(0))
        >>> envs.reset().shape
        torch.Size([2, 3])
        >>> obs, reward, terminated, truncated = envs.step(torch.tensor([[5.0], [-1.0]]))
        >>> bool((reward <= 0).all()), terminated.tolist()
        (True, [False, False])
    """

    PARAMETERS = PENDULUM_PARAMETERS
    obs_dim, action_dim, continuous, max_steps, state_dim = 3, 1, True, PENDULUM_STEPS, 2

    def draw(self, n: int) -> Tensor:
        return self.uniform(n, torch.tensor([math.pi, 1.0], dtype=torch.float64))

    def observe(self, state: Tensor) -> Tensor:
        theta, theta_dot = state.unbind(1)
        return torch.stack([torch.cos(theta), torch.sin(theta), theta_dot], 1).float()

    def transition(self, actions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        m, length = self.params.unbind(1)
        theta, theta_dot = self.state.unbind(1)
        u = actions.reshape(self.num).to(torch.float64).clamp(-MAX_TORQUE, MAX_TORQUE)
        cost = angle_normalize(theta) ** 2 + 0.1 * theta_dot ** 2 + 0.001 * u ** 2
        theta_dot = theta_dot + (3 * GRAVITY / (2 * length) * torch.sin(theta) + 3.0 / (m * length ** 2) * u) * DT
        theta_dot = theta_dot.clamp(-MAX_SPEED, MAX_SPEED)
        state = torch.stack([theta + theta_dot * DT, theta_dot], 1)
        return state, -cost, torch.zeros(self.num, dtype=torch.bool, device=self.device)
