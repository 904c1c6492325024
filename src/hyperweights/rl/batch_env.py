"""The bookkeeping every batched environment shares: parameters, resets, episode returns.

A :class:`BatchEnv` subclass describes one physical system as tensors (its initial-state
distribution, one transition, its observation); this base class runs ``N`` copies at once, each
with its own row of physical parameters, counts steps, truncates at the time limit, resets the
environments whose episode ended inside the same :meth:`~BatchEnv.step` call, and reports the
returns of the episodes that ended.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["BatchEnv", "check_params"]


def check_params(params, names: tuple[str, ...]) -> Tensor:
    """``params`` as a float64 ``(N, len(names))`` tensor of positive finite numbers, or a
    ``ValueError`` that says what was expected.

    Example:
        >>> check_params([[1.0, 0.5]], ("m", "l")).dtype
        torch.float64
    """
    params = torch.as_tensor(params, dtype=torch.float64)
    if params.ndim != 2 or params.shape[1] != len(names) or not len(params):
        raise ValueError(f"params must be (N, {len(names)}): one ({', '.join(names)}) row per "
                         f"environment; got shape {tuple(params.shape)}")
    if not (torch.isfinite(params).all() and (params > 0).all()):
        raise ValueError(f"every {' and '.join(names)} must be a positive finite number; got "
                         f"{params.min().item():.4g}..{params.max().item():.4g}")
    return params


class BatchEnv:
    """``N`` copies of one environment as tensors, copy ``i`` with physical parameters ``params[i]``.

    Subclasses set the class attributes (``PARAMETERS``, ``obs_dim``, ``action_dim``, ``continuous``,
    ``max_steps``, ``state_dim``) and implement :meth:`draw` (``n`` initial states, float64),
    :meth:`transition` (``actions -> (next_state, reward, terminated)``) and :meth:`observe`.

    ``reset() -> obs (N, obs_dim)``; ``step(actions) -> (obs, reward, terminated, truncated)``, the
    last three ``(N,)``. An environment whose episode ends is reset in the same call: its ``obs`` is
    the new episode's first, :attr:`final_obs` holds every environment's observation before the
    reset (what a time-limit truncation bootstraps from), and :attr:`episode_returns` the returns of
    the episodes that ended in that step.
    """

    PARAMETERS: tuple[str, ...] = ()
    obs_dim: int
    action_dim: int                  # the number of discrete actions, or the continuous action's width
    continuous: bool
    max_steps: int
    state_dim: int

    def __init__(self, params, generator: torch.Generator | None = None, device: str | torch.device = "cpu"):
        self.params = check_params(params, self.PARAMETERS).to(device)
        self.device = torch.device(device)
        self.generator = generator if generator is not None else torch.Generator()
        self.num = len(self.params)
        self.state = torch.zeros(self.num, self.state_dim, dtype=torch.float64, device=self.device)
        self.steps = torch.zeros(self.num, dtype=torch.long, device=self.device)
        self.returns = torch.zeros(self.num, dtype=torch.float64, device=self.device)
        self.episode_returns: Tensor = torch.zeros(0)

    def uniform(self, n: int, high: Tensor) -> Tensor:
        """``n`` draws of U(-high, high) (``high: (D,)``) from :attr:`generator`, on the device."""
        unit = torch.rand(n, len(high), generator=self.generator, dtype=torch.float64)
        return ((unit * 2 - 1) * high).to(self.device)

    def draw(self, n: int) -> Tensor:
        raise NotImplementedError

    def transition(self, actions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        raise NotImplementedError

    def observe(self, state: Tensor) -> Tensor:
        raise NotImplementedError

    def reset(self) -> Tensor:
        self.state = self.draw(self.num)
        self.steps.zero_()
        self.returns.zero_()
        return self.observe(self.state)

    def step(self, actions: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        self.state, reward, terminated = self.transition(actions.to(self.device))
        self.steps += 1
        truncated = (self.steps >= self.max_steps) & ~terminated
        self.returns += reward
        done = terminated | truncated
        self.final_obs = self.observe(self.state)   # before the reset: what truncation bootstraps from
        self.episode_returns = self.returns[done].float().cpu()
        if done.any():               # automatic reset of the environments whose episode ended
            self.state = torch.where(done[:, None], self.draw(self.num), self.state)
            self.steps = torch.where(done, 0, self.steps)
            self.returns = torch.where(done, 0.0, self.returns)
        return self.observe(self.state), reward.float(), terminated, truncated

    def state_dict(self) -> dict:
        """What a resumed run needs (for ``train_loop``'s ``extra_state``)."""
        return {"state": self.state, "steps": self.steps, "returns": self.returns,
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.state, self.steps, self.returns = state["state"], state["steps"], state["returns"]
        self.generator.set_state(state["generator"])
