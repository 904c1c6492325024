"""K independent networks trained as one vmapped batch (the baselines' "grid of separate runs").

A grid or random search trains one network per hyperparameter setting. Running them one after
the other wastes the batching the hypernetwork enjoys, so the baselines here stack the ``K``
networks' parameters (:func:`torch.func.stack_module_state`) and run them with one
``vmap(functional_call)``: every member has its own initialisation, its own hyperparameters and
its own Adam state (Adam is elementwise, so one optimizer over stacked tensors equals ``K``
optimizers). Members see the same minibatches (common random numbers), with their own dropout
masks (``randomness="different"``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch  # noqa: F401  (the doctest uses it)
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

__all__ = ["ModelStack"]


class ModelStack(nn.Module):
    """``K`` copies of a module with independent parameters, called in one vmapped batch.

    Args:
        make: ``make() -> nn.Module``, called ``K`` times (under the caller's seed) for the
            members' initialisations.
        k: number of members.

    ``stack(x, *member_args)`` runs every member on the same ``x``; each extra argument carries a
    leading ``K`` dimension (e.g. per-member dropout rates ``(K, B)``). Returns ``(K, B, ...)``.

    Example:
        >>> stack = ModelStack(lambda: nn.Linear(3, 2), k=4)
        >>> stack(torch.randn(5, 3)).shape
        torch.Size([4, 5, 2])
        >>> stack.params["weight"].shape
        torch.Size([4, 2, 3])
    """

    def __init__(self, make: Callable[[], nn.Module], k: int):
        super().__init__()
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"a ModelStack needs k >= 1 members, got {k!r}")
        if isinstance(make, nn.Module) or not callable(make):
            raise TypeError(f"make must be a function returning a fresh module (e.g. lambda: nn.Linear(3, 2)), "
                            f"got {type(make).__name__}")
        members = [make() for _ in range(k)]
        if not all(isinstance(m, nn.Module) for m in members):
            raise TypeError(f"make() must return an nn.Module, got {type(members[0]).__name__}")
        params, buffers = stack_module_state(members)
        if buffers:
            raise ValueError(f"ModelStack members must not hold buffers (got {sorted(buffers)}); "
                             "use normalisation without running statistics")
        self.k = k
        self.params = nn.ParameterDict({n.replace(".", "__"): nn.Parameter(p) for n, p in params.items()})
        self._names = {n.replace(".", "__"): n for n in params}
        # a stateless skeleton: its own parameters are never used
        self.base = copy.deepcopy(members[0]).to("meta")

    def member_params(self) -> dict[str, Tensor]:
        """``{target name: (K, *shape)}``."""
        return {self._names[k]: v for k, v in self.params.items()}

    def forward(self, x: Tensor, *member_args: Tensor) -> Tensor:
        params = self.member_params()
        base = self.base
        base.train(self.training)

        def one(p, *args):
            return functional_call(base, p, (x, *args))

        try:
            return vmap(one, in_dims=(0, *[0] * len(member_args)), randomness="different")(params, *member_args)
        except RuntimeError as err:     # the members' own error names no input: say which failed
            raise ValueError(f"the stacked {type(base).__name__} members failed on x of shape "
                             f"{tuple(x.shape)} (extra arguments: "
                             f"{[tuple(a.shape) for a in member_args]}, each with a leading K={self.k}): "
                             f"{err}") from err
