"""Task-conditioned policies: the policy's weights generated from the environment's physics.

:class:`TaskPolicy` maps observations and each environment's physical parameters to the action
distribution's parameters and a value, by one of three methods that share the policy network
``obs -> hidden (x depth) -> out``:

- ``"hypernetwork"``: a :class:`~hyperweights.HyperNetwork` generates the whole policy network's
  weights from the (normalised) parameters; every environment gets its own task's weights, and a
  batch of environments runs in one call through the core's per-sample path (``W == B``).
- ``"input"``: one policy network that takes ``[obs ; parameters]`` (the parameters as input).
- ``"per_task"``: an independent policy network per training task (a table of ``K`` weight sets,
  run per sample the same way); an unseen parameter value uses the nearest training task's policy.

The critic is the same for all three: an MLP of ``[obs ; parameters]`` (the comparison is about
the policy).

The action distribution (:meth:`TaskPolicy.distribution`) is ``"discrete"`` (a categorical over
the network's logits: CartPole) or ``"gaussian"`` (a diagonal Gaussian whose mean is the network's
output and whose log standard deviation is one learned vector, the same in every state and task:
Pendulum). The state-independent log-std is PPO's own choice for continuous control (Schulman et
al., 2017, and CleanRL's and Stable-Baselines3's default); sharing it across the three methods
keeps the comparison about the mean policy, which is what the three methods generate differently.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.distributions import Categorical, Distribution, Independent, Normal

from ..conditioning import DataCondition
from ..heads import FullHead
from ..hypernetwork import HyperNetwork
from ..io import checkpointable
from ..model import HyperModel
from ..targets import functional_forward, mlp
from ..trunks import MLP
from .envs import ENVIRONMENTS

__all__ = ["TaskPolicy", "POLICY_METHODS", "ACTION_KINDS"]

POLICY_METHODS = ("hypernetwork", "input", "per_task")
ACTION_KINDS = ("discrete", "gaussian")


@checkpointable("rl.TaskPolicy")
class TaskPolicy(nn.Module):
    """Actor (one of :data:`POLICY_METHODS`) and critic for environments with physical parameters.

    Args:
        obs_dim, num_actions, num_params: widths of the observation, the action (the number of
            discrete actions, or the continuous action's dimension) and the parameter vector.
        method: ``"hypernetwork"``, ``"input"`` or ``"per_task"``.
        train_params: ``(K, num_params)`` the training tasks' parameters; they set the
            normalisation (centre and spread of each parameter) and ``per_task``'s table.
        hidden: hidden width of the policy network; depth: its number of hidden layers;
        hyper_hidden: widths of the hypernetwork's trunk; critic_hidden: of the critic.
        action: ``"discrete"`` (categorical over logits) or ``"gaussian"`` (diagonal Gaussian, the
            network's output is the mean; a learned state-independent log-std, initially
            ``log_std``).

    Shapes: ``forward(obs: (N, obs_dim), params: (N, num_params)) -> (out (N, A), value (N,))``,
    ``out`` the logits or the Gaussian's mean (:meth:`distribution` turns it into the distribution).
    :meth:`for_env` sizes a policy for one of :data:`~hyperweights.rl.envs.ENVIRONMENTS`.

    Example:
        >>> tasks = torch.tensor([[0.5, 0.1], [1.0, 0.3]])
        >>> policy = TaskPolicy(4, 2, 2, "hypernetwork", tasks, hidden=8, hyper_hidden=(16,))
        >>> logits, value = policy(torch.randn(6, 4), tasks[[0, 1, 1, 0, 1, 0]])
        >>> logits.shape, value.shape
        (torch.Size([6, 2]), torch.Size([6]))
        >>> policy.policy_weights(tasks)["0.weight"].shape     # one weight set per task
        torch.Size([2, 8, 4])
        >>> pendulum = TaskPolicy.for_env("pendulum", "per_task", [[1.0, 1.0], [1.3, 0.7]], hidden=8)
        >>> mean, value = pendulum(torch.randn(6, 3), torch.tensor([[1.0, 1.0]] * 6))
        >>> pendulum.distribution(mean).sample().shape        # one torque per environment
        torch.Size([6, 1])
    """

    def __init__(self, obs_dim: int, num_actions: int, num_params: int, method: str, train_params,
                 *, hidden: int = 32, depth: int = 1, hyper_hidden: tuple[int, ...] = (64,),
                 critic_hidden: int = 64, action: str = "discrete", log_std: float = 0.0):
        super().__init__()
        if method not in POLICY_METHODS:
            raise ValueError(f"method must be one of {POLICY_METHODS}, got {method!r}")
        if action not in ACTION_KINDS:
            raise ValueError(f"action must be one of {ACTION_KINDS}, got {action!r}")
        if not (isinstance(depth, int) and depth >= 1):
            raise ValueError(f"depth (hidden layers of the policy network) must be an int >= 1, got {depth!r}")
        train_params = torch.as_tensor(train_params, dtype=torch.float32)
        if train_params.ndim != 2 or train_params.shape[1] != num_params or not len(train_params):
            raise ValueError(f"train_params must be (K, {num_params}), one row per training task; "
                             f"got {tuple(train_params.shape)}")
        self.config = {"obs_dim": obs_dim, "num_actions": num_actions, "num_params": num_params,
                       "method": method, "train_params": train_params.tolist(), "hidden": hidden,
                       "depth": depth, "hyper_hidden": list(hyper_hidden), "critic_hidden": critic_hidden,
                       "action": action, "log_std": log_std}
        self.method = method
        if action == "gaussian":      # state-independent, shared by the three methods (see the module)
            self.log_std = nn.Parameter(torch.full((num_actions,), float(log_std)))
        self.register_buffer("train_params", train_params)
        spread = train_params.std(0) if len(train_params) > 1 else torch.ones(num_params)
        self.register_buffer("center", train_params.mean(0))
        self.register_buffer("scale", torch.where(spread > 0, spread, torch.ones_like(spread)))
        self.critic = mlp((obs_dim + num_params, critic_hidden, critic_hidden, 1), "tanh")
        widths = (hidden,) * depth
        if method == "input":
            self.actor = mlp((obs_dim + num_params, *widths, num_actions), "tanh")
            return
        self.actor = mlp((obs_dim, *widths, num_actions), "tanh")        # the target network
        if method == "hypernetwork":
            condition = DataCondition(nn.Identity(), dim=num_params)
            self.net = HyperModel(self.actor, HyperNetwork(self.actor, condition=condition,
                                                           trunk=MLP(hidden=tuple(hyper_hidden)), head=FullHead()))
        else:   # per_task: K independent weight sets, initialised like K fresh policy networks
            sets = [mlp((obs_dim, *widths, num_actions), "tanh") for _ in range(len(train_params))]
            self.table = nn.ParameterDict({name.replace(".", "_"): nn.Parameter(torch.stack(
                [dict(s.named_parameters())[name].detach() for s in sets])) for name, _ in self.actor.named_parameters()})

    @classmethod
    def for_env(cls, env: str, method: str, train_params, **kwargs) -> TaskPolicy:
        """A policy sized for the batched environment ``env`` (``"cartpole"``, ``"pendulum"``):
        its observation, action and parameter widths, and its action distribution."""
        if env not in ENVIRONMENTS:
            raise ValueError(f"unknown environment {env!r}; choose one of {sorted(ENVIRONMENTS)}")
        spec = ENVIRONMENTS[env]
        return cls(spec.obs_dim, spec.action_dim, len(spec.PARAMETERS), method, train_params,
                   action="gaussian" if spec.continuous else "discrete", **kwargs)

    def distribution(self, out: Tensor) -> Distribution:
        """The action distribution of each row of ``out`` (from :meth:`forward`); its
        ``log_prob`` and ``entropy`` are ``(N,)`` (summed over a Gaussian's action dimensions)."""
        if self.config["action"] == "discrete":
            return Categorical(logits=out)
        return Independent(Normal(out, self.log_std.exp().expand_as(out)), 1)

    def greedy(self, out: Tensor) -> Tensor:
        """The most likely action per row: the arg-max logit, or the Gaussian's mean."""
        return out.argmax(1) if self.config["action"] == "discrete" else out

    def policy_parameter_count(self) -> int:
        """The actor's parameters as used: the hypernetwork (``"hypernetwork"``), the table of
        weight sets (``"per_task"``) or the policy network (``"input"``), plus a Gaussian's log-std;
        neither the critic nor the unused target template of the first two is counted."""
        used = {"hypernetwork": lambda: self.net.trainable_parameters(),
                "per_task": lambda: self.table.parameters(), "input": lambda: self.actor.parameters()}
        own = [self.log_std] if self.config["action"] == "gaussian" else []
        return sum(p.numel() for p in [*used[self.method](), *own])

    def normalise(self, params: Tensor) -> Tensor:
        """Parameters in units of the training tasks' spread around their mean."""
        return (params - self.center) / self.scale

    def task_index(self, params: Tensor) -> Tensor:
        """Index of the nearest training task (normalised distance) per row of ``params: (N, P)``."""
        return torch.cdist(self.normalise(params), self.normalise(self.train_params)).argmin(1)

    def policy_weights(self, params: Tensor) -> dict[str, Tensor]:
        """The policy network's weights for each row of ``params``: ``{name: (N, *shape)}``
        (``"hypernetwork"``: generated; ``"per_task"``: the nearest training task's)."""
        self._check(None, params)
        if self.method == "hypernetwork":
            return self.net.generate(self.normalise(params))
        if self.method == "per_task":
            index = self.task_index(params)
            return {name: self.table[name.replace(".", "_")][index] for name, _ in self.actor.named_parameters()}
        raise ValueError("policy_weights exists for 'hypernetwork' and 'per_task'; the 'input' policy "
                         "has one weight set for every task")

    def _check(self, obs, params) -> None:
        cfg = self.config
        if obs is not None and not (isinstance(obs, Tensor) and obs.ndim == 2 and obs.shape[1] == cfg["obs_dim"]):
            raise ValueError(f"obs must be (N, {cfg['obs_dim']}), got "
                             f"{tuple(obs.shape) if isinstance(obs, Tensor) else type(obs).__name__}")
        if not (isinstance(params, Tensor) and params.ndim == 2 and params.shape[1] == cfg["num_params"]
                and (obs is None or len(params) == len(obs))):
            raise ValueError(f"params must be (N, {cfg['num_params']}) with one row per observation, got "
                             f"{tuple(params.shape) if isinstance(params, Tensor) else type(params).__name__}")

    def forward(self, obs: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        self._check(obs, params)
        both = torch.cat([obs, self.normalise(params)], 1)
        value = self.critic(both).squeeze(-1)
        if self.method == "input":
            return self.actor(both), value
        if self.method == "hypernetwork":     # one call: each environment with its task's weights
            return self.net(obs, self.normalise(params)), value
        return functional_forward(self.actor, self.policy_weights(params), obs), value

    def checkpoint_state(self):
        return dict(self.state_dict()), dict(self.config)

    @classmethod
    def from_checkpoint(cls, tensors, config, **overrides):
        cfg = {**config, **overrides}
        model = cls(cfg["obs_dim"], cfg["num_actions"], cfg["num_params"], cfg["method"], cfg["train_params"],
                    hidden=cfg["hidden"], depth=cfg.get("depth", 1), hyper_hidden=tuple(cfg["hyper_hidden"]),
                    critic_hidden=cfg["critic_hidden"], action=cfg.get("action", "discrete"),
                    log_std=cfg.get("log_std", 0.0))
        model.load_state_dict(tensors)
        return model
