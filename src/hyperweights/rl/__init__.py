"""Task-conditioned policies: a hypernetwork generates the policy from the environment's physics.

- :class:`CartPoleBatch`, :func:`gym_cartpole`: CartPole-v1 with per-environment pole length and
  mass; :class:`PendulumBatch`, :func:`gym_pendulum`: Pendulum-v1 with per-environment mass and
  length (batched torch copies of gymnasium's dynamics, and gymnasium's own envs with the
  parameters set); :data:`ENVIRONMENTS`, :func:`make_env`: the batched environments by name.
- :class:`TaskPolicy`: the hypernetwork policy, the parameters-as-input policy and one policy per
  training task, with a shared critic; discrete (categorical) or continuous (Gaussian) actions.
- :class:`RLConfig`, :func:`fit` (PPO), :func:`evaluate` (``hyperweights bench rl``).

Example:
    >>> import torch
    >>> from hyperweights.rl import TaskPolicy, evaluate
    >>> policy = TaskPolicy(4, 2, 2, "hypernetwork", [[0.5, 0.1], [1.0, 0.3]], hidden=8, hyper_hidden=(8,))
    >>> evaluate(policy, [[0.75, 0.2]], episodes=2)["return"] > 0      # an unseen pole
    True
    >>> swing = TaskPolicy.for_env("pendulum", "hypernetwork", [[1.0, 1.0], [1.3, 0.7]], hidden=8)
    >>> evaluate(swing, [[1.6, 1.2]], env="pendulum", episodes=2)["return"] < 0   # costs: negative
    True
"""

from .batch_env import BatchEnv as BatchEnv
from .envs import ENVIRONMENTS as ENVIRONMENTS
from .envs import PARAMETERS as PARAMETERS
from .envs import CartPoleBatch as CartPoleBatch
from .envs import gym_cartpole as gym_cartpole
from .envs import make_env as make_env
from .pendulum import PENDULUM_PARAMETERS as PENDULUM_PARAMETERS
from .pendulum import PendulumBatch as PendulumBatch
from .pendulum import gym_pendulum as gym_pendulum
from .policies import POLICY_METHODS as POLICY_METHODS
from .policies import TaskPolicy as TaskPolicy
from .ppo import RLConfig as RLConfig
from .ppo import evaluate as evaluate
from .ppo import fit as fit

__all__ = ["ENVIRONMENTS", "PARAMETERS", "PENDULUM_PARAMETERS", "POLICY_METHODS", "BatchEnv", "CartPoleBatch",
           "PendulumBatch", "RLConfig", "TaskPolicy", "evaluate", "fit", "gym_cartpole", "gym_pendulum",
           "make_env"]
