"""The baselines: a single network, MC dropout, and a deep ensemble trained as one batched model."""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from ..io import checkpointable
from ..targets.build import mlp
from .predict import Predictive

__all__ = ["SingleNetwork", "MCDropout", "DeepEnsemble"]


@checkpointable("uncertainty.SingleNetwork")
class SingleNetwork(Predictive):
    """One deterministic network: one member.

    Example:
        >>> net = SingleNetwork((4, 8, 3))
        >>> net.predict(torch.randn(2, 4)).member_probs.shape
        torch.Size([1, 2, 3])
    """

    fixed_members = 1

    def __init__(self, sizes: tuple[int, ...]):
        super().__init__()
        self.net = mlp(sizes)
        self.sizes = tuple(sizes)
        self.in_features, self.num_classes = sizes[0], sizes[-1]

    def checkpoint_config(self) -> dict:
        return {"sizes": list(self.sizes)}

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, C)`` for ``x: (B, in_features)``."""
        return self.net(self.check_input(x))

    def _members(self, x, samples, generator):
        return self.net(x).unsqueeze(0)


@checkpointable("uncertainty.MCDropout")
class MCDropout(Predictive):
    """MC dropout (Gal & Ghahramani 2016): dropout stays on at test time, each mask is a member.

    Training uses ordinary dropout (:meth:`forward` in train mode). :meth:`members` draws ``K``
    masks per hidden layer from ``generator`` and runs all members at once: the first layer is
    shared by all members (dropout acts after it), so it is computed once.

    Args:
        sizes: MLP widths (input, hidden..., classes).
        p: dropout probability after every hidden layer.

    Example:
        >>> m = MCDropout((4, 8, 3), p=0.5)
        >>> m.members(torch.randn(2, 4), samples=6).shape
        torch.Size([6, 2, 3])

    References:
        https://arxiv.org/abs/1506.02142
    """

    def __init__(self, sizes: tuple[int, ...], p: float = 0.2):
        super().__init__()
        if not 0.0 < p < 1.0:
            raise ValueError(f"dropout probability must be in (0, 1), got {p}")
        self.net = mlp(sizes, dropout=p)
        self.linears = [m for m in self.net if isinstance(m, nn.Linear)]
        self.p, self.sizes = p, tuple(sizes)
        self.in_features, self.num_classes = sizes[0], sizes[-1]

    def checkpoint_config(self) -> dict:
        return {"sizes": list(self.sizes), "p": self.p}

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, C)`` for ``x: (B, in_features)``, with one dropout mask per input in
        training mode (none in eval mode; :meth:`members` samples masks)."""
        return self.net(self.check_input(x))

    def _members(self, x, samples, generator):
        keep = 1.0 - self.p
        h = self.linears[0](x).expand(samples, -1, -1)                # (K, B, h): shared first layer
        for layer in self.linears[1:]:
            mask = torch.rand(h.shape, generator=generator, device=generator.device if generator else h.device)
            h = layer(torch.relu(h) * (mask.to(h.device) < keep) / keep)
        return h


@checkpointable("uncertainty.DeepEnsemble")
class DeepEnsemble(Predictive):
    """``n`` independently initialised networks (Lakshminarayanan et al. 2017), stored stacked.

    The members' parameters are stacked with :func:`torch.func.stack_module_state` into
    ``(n, *shape)`` parameters; :meth:`forward` runs all members with one ``vmap``. During training
    each member gets its own minibatch (``x: (n, B, D)``), so members differ in initialisation and
    data order exactly as independently trained networks do, without a loop over members.

    Example:
        >>> ens = DeepEnsemble((4, 8, 3), members=5)
        >>> ens(torch.randn(5, 2, 4)).shape          # one minibatch per member
        torch.Size([5, 2, 3])
        >>> ens.predict(torch.randn(2, 4)).member_probs.shape
        torch.Size([5, 2, 3])

    References:
        https://arxiv.org/abs/1612.01474
    """

    def __init__(self, sizes: tuple[int, ...], members: int = 5):
        super().__init__()
        if members < 1:
            raise ValueError(f"a deep ensemble needs members >= 1, got {members}")
        nets = [mlp(sizes) for _ in range(members)]
        params, _ = stack_module_state(nets)
        self.names = list(params)
        # nn.ParameterDict keys cannot contain dots
        self.stacked = nn.ParameterDict({n.replace(".", "__"): nn.Parameter(p) for n, p in params.items()})
        # the architecture only (on the meta device, outside the module tree so that its
        # placeholder parameters are neither counted nor trained)
        self.__dict__["base"] = copy.deepcopy(nets[0]).to("meta")
        self.fixed_members, self.sizes = members, tuple(sizes)
        self.in_features, self.num_classes = sizes[0], sizes[-1]

    def checkpoint_config(self) -> dict:
        return {"sizes": list(self.sizes), "members": self.fixed_members}

    def stacked_params(self) -> dict[str, Tensor]:
        return {n: self.stacked[n.replace(".", "__")] for n in self.names}

    def forward(self, x: Tensor) -> Tensor:
        """``x: (n, B, D)`` (a minibatch per member) or ``(B, D)`` (shared) -> ``(n, B, C)``."""
        if isinstance(x, Tensor) and x.ndim == 3:
            if x.shape[0] != self.fixed_members:
                raise ValueError(f"a per-member batch must be (n={self.fixed_members}, B, {self.in_features}), "
                                 f"got {tuple(x.shape)}; pass (B, {self.in_features}) to give every member the same inputs")
            self.check_input(x.flatten(0, 1))
        else:
            self.check_input(x)
        return self._forward(x)

    def _forward(self, x: Tensor) -> Tensor:
        params = self.stacked_params()
        in_dim = 0 if x.ndim == 3 else None
        return vmap(lambda p, xb: functional_call(self.base, p, (xb,)), in_dims=(0, in_dim))(params, x)

    def member(self, i: int) -> dict[str, Tensor]:
        """Parameters of member ``i`` (for a loop over members, e.g. a timing baseline)."""
        return {n: p[i] for n, p in self.stacked_params().items()}

    def _members(self, x, samples, generator):
        out = self._forward(x)
        return out[:samples]
