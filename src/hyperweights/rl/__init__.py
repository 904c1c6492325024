"""Task-conditioned policies: a hypernetwork generates the policy from the environment's physics.

- :class:`CartPoleBatch`, :func:`gym_cartpole`: CartPole-v1 with per-environment pole length and
  mass (a batched torch copy of gymnasium's dynamics, and gymnasium's own env with the
  parameters set).
- :class:`TaskPolicy`: the hypernetwork policy, the parameters-as-input policy and one policy per
  training task, with a shared critic.
- :class:`RLConfig`, :func:`fit` (PPO), :func:`evaluate` (``hyperweights bench rl``).

Example:
    >>> import torch
    >>> from hyperweights.rl import TaskPolicy, evaluate
    >>> policy = TaskPolicy(4, 2, 2, "hypernetwork", [[0.5, 0.1], [1.0, 0.3]], hidden=8, hyper_hidden=(8,))
    >>> evaluate(policy, [[0.75, 0.2]], episodes=2)["return"] > 0      # an unseen pole
    True
"""

from .envs import PARAMETERS as PARAMETERS
from .envs import CartPoleBatch as CartPoleBatch
from .envs import gym_cartpole as gym_cartpole
from .policies import POLICY_METHODS as POLICY_METHODS
from .policies import TaskPolicy as TaskPolicy
from .ppo import RLConfig as RLConfig
from .ppo import evaluate as evaluate
from .ppo import fit as fit

__all__ = ["PARAMETERS", "POLICY_METHODS", "CartPoleBatch", "RLConfig", "TaskPolicy", "evaluate", "fit",
           "gym_cartpole"]
