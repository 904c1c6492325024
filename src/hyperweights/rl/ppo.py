"""PPO (Schulman et al., 2017) for :class:`TaskPolicy` on batched environments, and its evaluation.

One loop for discrete (CartPole) and continuous (Pendulum) actions: the policy supplies the action
distribution (:meth:`TaskPolicy.distribution`: categorical, or a diagonal Gaussian whose unclipped
sample is what PPO's ratio is computed on, while the environment clips it to its torque range, as
CleanRL's continuous PPO does).

One iteration collects ``rollout_steps`` steps of all ``num_envs`` environments (environment ``i``
runs training task ``i mod K``; every step is one policy call for all environments, each with its
own task's weights), computes GAE(lambda) advantages, then takes ``epochs x minibatches``
clipped-surrogate steps. Every method sees the same environment steps; the ``per_task`` policies
each learn from their own task's environments.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..optim import make_optimizer
from ..training import FitResult, TrainConfig, config_field, train_loop
from .envs import ENVIRONMENTS, make_env
from .policies import TaskPolicy

__all__ = ["RLConfig", "fit", "evaluate"]


@dataclass
class RLConfig(TrainConfig):
    """PPO's settings: CleanRL's CartPole defaults, except a 10x learning rate (for short budgets),
    no annealing and no value-loss clipping. :meth:`pendulum` gives the Pendulum settings."""

    env: str = config_field("cartpole", "the batched environment (a key of hyperweights.rl.ENVIRONMENTS)")
    lr: float = config_field(2.5e-3, "Adam's learning rate")
    env_steps: int = config_field(200_000, "environment steps over all environments (the budget)")
    num_envs: int = config_field(32, "parallel environments (spread evenly over the training tasks)")
    rollout_steps: int = config_field(128, "steps per environment per PPO iteration")
    epochs: int = config_field(4, "passes over each rollout")
    minibatches: int = config_field(4, "minibatches per pass")
    gamma: float = config_field(0.99, "discount")
    gae_lambda: float = config_field(0.95, "GAE's lambda")
    clip: float = config_field(0.2, "PPO's ratio clip")
    entropy_coef: float = config_field(0.01, "entropy bonus")
    value_coef: float = config_field(0.5, "value-loss weight")
    max_grad_norm: float = config_field(0.5, "gradient-norm clip")
    reward_scale: float = config_field(1.0, "rewards are multiplied by this for learning (not in the curves)")

    @classmethod
    def pendulum(cls, **overrides) -> RLConfig:
        """Pendulum's settings: rl-baselines3-zoo's tuned PPO for ``Pendulum-v1`` (gamma 0.9,
        learning rate 1e-3, 10 epochs, no entropy bonus; without its state-dependent exploration),
        minibatches of ~256 rather than 64, and rewards scaled by 0.1 (costs up to 16.3 per step).

        Example:
            >>> RLConfig.pendulum(env_steps=1000).gamma
            0.9
        """
        settings = dict(env="pendulum", lr=1e-3, gamma=0.9, gae_lambda=0.95, epochs=10, minibatches=16,
                        rollout_steps=200, entropy_coef=0.0, reward_scale=0.1)
        return cls(**{**settings, **overrides})

    def validate(self) -> None:
        super().validate()
        if self.env not in ENVIRONMENTS:
            raise ValueError(f"RLConfig.env must be one of {sorted(ENVIRONMENTS)}, got {self.env!r}")
        self._require("reward_scale", isinstance(self.reward_scale, (int, float)) and self.reward_scale > 0,
                      "a positive number")
        for name in ("env_steps", "num_envs", "rollout_steps", "epochs", "minibatches"):
            self.positive_int(name)
        for name in ("gamma", "gae_lambda", "clip"):
            value = getattr(self, name)
            self._require(name, isinstance(value, (int, float)) and 0 < value <= 1, "in (0, 1]")
        if (self.num_envs * self.rollout_steps) % self.minibatches:
            raise ValueError(f"RLConfig: num_envs * rollout_steps = {self.num_envs * self.rollout_steps} "
                             f"must divide into minibatches={self.minibatches} equal parts")

    @property
    def iterations(self) -> int:
        return max(1, self.env_steps // (self.num_envs * self.rollout_steps))


def _gae(rewards: Tensor, values: Tensor, dones: Tensor, last_value: Tensor, gamma: float,
         lam: float) -> Tensor:
    """GAE advantages ``(T, N)``; ``dones[t]`` ends the episode after step ``t``."""
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(last_value)
    for t in reversed(range(len(rewards))):       # a scan over time (not over environments)
        next_value = last_value if t == len(rewards) - 1 else values[t + 1]
        keep = 1.0 - dones[t]
        delta = rewards[t] + gamma * next_value * keep - values[t]
        running = delta + gamma * lam * keep * running
        advantages[t] = running
    return advantages


def _check_policy_fits(model: TaskPolicy, env: str) -> None:
    """A clear error when ``model`` was sized for another environment than ``env``."""
    if not isinstance(model, TaskPolicy):
        raise TypeError(f"expected a TaskPolicy, got {type(model).__name__}")
    spec, cfg = ENVIRONMENTS[env], model.config
    want = (spec.obs_dim, spec.action_dim, len(spec.PARAMETERS), "gaussian" if spec.continuous else "discrete")
    have = (cfg["obs_dim"], cfg["num_actions"], cfg["num_params"], cfg.get("action", "discrete"))
    if want != have:
        raise ValueError(f"this TaskPolicy (obs, action, params, action kind = {have}) does not fit {env!r}, "
                         f"which needs {want}; build it with TaskPolicy.for_env({env!r}, ...)")


def fit(model: TaskPolicy, config: RLConfig) -> FitResult:
    """Train ``model`` with PPO on its training tasks (``model.train_params``) of ``config.env``.

    Returns a :class:`FitResult` whose ``extra["curve"]`` lists ``(env_steps, mean return of the
    episodes finished in that iteration)`` per iteration.

    Example:
        >>> policy = TaskPolicy(4, 2, 2, "hypernetwork", [[0.5, 0.1], [1.0, 0.3]], hidden=8, hyper_hidden=(8,))
        >>> cfg = RLConfig(env_steps=256, num_envs=4, rollout_steps=32, epochs=1, minibatches=2, progress=False)
        >>> result = fit(policy, cfg)
        >>> result.steps, len(result.extra["curve"])
        (4, 2)
    """
    config.validate()
    _check_policy_fits(model, config.env)
    tasks = len(model.train_params)
    if config.num_envs % tasks:
        raise ValueError(f"RLConfig.num_envs={config.num_envs} must be a multiple of the {tasks} training "
                         "tasks (each task gets the same number of environments)")
    device = torch.device(config.device)
    model.to(device).train()
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    params = model.train_params[torch.arange(config.num_envs, device=device) % tasks]   # (N, P)
    envs = make_env(config.env, params, generator=gen, device=device)
    state = {"obs": envs.reset()}
    per_update = config.epochs * config.minibatches
    batch = config.num_envs * config.rollout_steps
    rollout: dict[str, Tensor] = {}
    curve: list[tuple[int, float]] = []

    @torch.no_grad()
    def collect(iteration: int) -> None:
        obs_t, act_t, logp_t, val_t, rew_t, done_t, finished = [], [], [], [], [], [], []
        obs = state["obs"]
        for _ in range(config.rollout_steps):
            out, value = model(obs, params)
            dist = model.distribution(out)
            action = dist.sample()
            next_obs, reward, terminated, truncated = envs.step(action)
            reward = reward * config.reward_scale
            if truncated.any():   # a time-limit truncation is not a failure: bootstrap it
                reward = reward + config.gamma * truncated.float() * model(envs.final_obs, params)[1]
            obs_t.append(obs), act_t.append(action), logp_t.append(dist.log_prob(action))
            val_t.append(value), rew_t.append(reward), done_t.append((terminated | truncated).float())
            finished.append(envs.episode_returns)
            obs = next_obs
        state["obs"] = obs
        values = torch.stack(val_t)
        advantages = _gae(torch.stack(rew_t), values, torch.stack(done_t), model(obs, params)[1],
                          config.gamma, config.gae_lambda)
        flat = lambda xs: torch.stack(xs).flatten(0, 1)  # noqa: E731
        rollout.update(obs=flat(obs_t), params=params.repeat(config.rollout_steps, 1), actions=flat(act_t),
                       logp=flat(logp_t), advantages=advantages.flatten(), returns=(advantages + values).flatten())
        done = torch.cat(finished)
        if len(done):
            curve.append(((iteration + 1) * batch, done.mean().item()))

    def step(i: int) -> Tensor:
        iteration, inner = divmod(i, per_update)
        if inner == 0 or not rollout:     # a run resumed mid-iteration collects afresh
            collect(iteration)
        if inner % config.minibatches == 0:          # a new pass: a new shuffle
            rollout["order"] = torch.randperm(batch, generator=gen)
        size = batch // config.minibatches
        idx = rollout["order"][(inner % config.minibatches) * size:][:size].to(device)
        out, value = model(rollout["obs"][idx], rollout["params"][idx])
        dist = model.distribution(out)
        ratio = (dist.log_prob(rollout["actions"][idx]) - rollout["logp"][idx]).exp()
        adv = rollout["advantages"][idx]
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        policy_loss = -torch.min(ratio * adv, ratio.clamp(1 - config.clip, 1 + config.clip) * adv).mean()
        value_loss = (value - rollout["returns"][idx]).pow(2).mean()
        return policy_loss + config.value_coef * value_loss - config.entropy_coef * dist.entropy().mean()

    optimizer = make_optimizer(model.parameters(), config.lr, betas=(0.9, 0.999))
    result = train_loop(step, optimizer, config, total_steps=config.iterations * per_update, model=model,
                        generators=[gen], clip_grad_norm=config.max_grad_norm,
                        settings={**config.settings(), "model": model.config}, desc=f"PPO {model.method}")
    result.extra["curve"] = curve
    return result


@torch.no_grad()
def evaluate(model: TaskPolicy, params, *, env: str = "cartpole", episodes: int = 10, seed: int = 0,
             greedy: bool = True, max_steps: int | None = None) -> dict[str, float]:
    """Mean return over ``episodes`` episodes of ``env`` at each parameter row of ``params: (T, P)``,
    all ``T x episodes`` episodes run at once (one policy call per time step), each at most
    ``max_steps`` long (the environment's time limit by default: CartPole-v1's 500, Pendulum-v1's
    200). ``greedy``: the most likely action (a Gaussian's mean), else a sample.

    Returns:
        ``{"return": mean over tasks, "min_task_return": worst task's mean, "task_<i>": ...}``.

    Example:
        >>> policy = TaskPolicy(4, 2, 2, "input", [[0.5, 0.1]], hidden=8)
        >>> out = evaluate(policy, [[0.5, 0.1], [0.9, 0.2]], episodes=2)
        >>> sorted(out)
        ['min_task_return', 'return', 'task_0', 'task_1']
    """
    if env not in ENVIRONMENTS:
        raise ValueError(f"unknown environment {env!r}; choose one of {sorted(ENVIRONMENTS)}")
    _check_policy_fits(model, env)
    max_steps = ENVIRONMENTS[env].max_steps if max_steps is None else max_steps
    params = torch.as_tensor(params, dtype=torch.float32)
    if params.ndim != 2 or params.shape[1] != model.config["num_params"] or episodes < 1:
        raise ValueError(f"evaluate needs params of shape (T, {model.config['num_params']}) and episodes >= 1; "
                         f"got {tuple(params.shape)}, episodes={episodes}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        rows = params.repeat_interleave(episodes, 0).to(device)
        envs = make_env(env, rows, generator=torch.Generator().manual_seed(seed), device=device)
        obs, alive = envs.reset(), torch.ones(len(rows), dtype=torch.bool, device=device)
        total = torch.zeros(len(rows), device=device)
        for _ in range(max_steps):
            out, _ = model(obs, rows)
            action = model.greedy(out) if greedy else model.distribution(out).sample()
            obs, reward, terminated, truncated = envs.step(action)
            total += reward * alive
            alive &= ~(terminated | truncated)
            if not alive.any():
                break
    finally:
        model.train(was_training)
    per_task = total.view(len(params), episodes).mean(1).cpu()
    return {"return": per_task.mean().item(), "min_task_return": per_task.min().item(),
            **{f"task_{i}": v for i, v in enumerate(per_task.tolist())}}
