"""MLP trunk: applied to ``[condition ; token]`` for every token independently."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .._parts import activation_gain, get_activation
from .._checks import check_int
from .base import Trunk, join_tokens

__all__ = ["DEFAULT_HIDDEN", "MLP"]

#: hidden widths of the default trunk (``MLP()``, what a HyperNetwork uses when given no trunk)
DEFAULT_HIDDEN = (100,)


class MLP(Trunk):
    """Fully connected trunk.

    Args:
        hidden: widths of the hidden layers; ``()`` passes ``[condition ; token]`` straight to the
            head (hypnettorch's ``hnet_arch=''``). Default :data:`DEFAULT_HIDDEN`, ``(100,)``.
        activation: activation after every hidden layer.

    The first layer is split into a condition part and a token part, so with ``N`` tokens it costs
    ``W + N`` rows rather than ``W * N``. Layers use Kaiming-normal (fan-in) initialisation so the
    features keep the second moment of the condition, which the heads' initialisation assumes.

    Example:
        >>> trunk = MLP(hidden=(16, 16))
        >>> trunk.bind(cond_dim=4, token_dim=3, num_tokens=5)
        >>> trunk(torch.randn(2, 4), torch.randn(5, 3)).shape
        torch.Size([2, 5, 16])
    """

    def __init__(self, hidden: tuple[int, ...] | list[int] = DEFAULT_HIDDEN, activation: str = "relu"):
        super().__init__()
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, (tuple, list)):
            raise TypeError(f"MLP needs hidden as a tuple of layer widths, e.g. MLP(hidden=(100,)) for one "
                            f"layer of 100 or () for none; got {type(hidden).__name__} {hidden!r}")
        hidden = tuple(check_int(h, "every hidden width", "MLP") for h in hidden)
        get_activation(activation)
        self._config = {"hidden": list(hidden), "activation": activation}
        self.hidden = hidden
        self.activation = activation

    def bind(self, cond_dim: int, token_dim: int, num_tokens: int) -> None:
        self.cond_dim, self.token_dim = cond_dim, token_dim
        if not self.hidden:
            self.out_dim = cond_dim + token_dim
            return
        gain = activation_gain(self.activation)
        self.first_cond = nn.Linear(cond_dim, self.hidden[0])
        self.first_token = nn.Linear(token_dim, self.hidden[0], bias=False) if token_dim else None
        self.rest = nn.ModuleList(nn.Linear(a, b) for a, b in zip(self.hidden, self.hidden[1:]))
        self.act = get_activation(self.activation)
        fan_in = cond_dim + token_dim
        for layer in (self.first_cond, self.first_token):
            if layer is not None:
                nn.init.normal_(layer.weight, std=gain / fan_in ** 0.5)
        nn.init.zeros_(self.first_cond.bias)
        for layer in self.rest:
            nn.init.normal_(layer.weight, std=gain / layer.in_features ** 0.5)
            nn.init.zeros_(layer.bias)
        self.out_dim = self.hidden[-1]

    def forward(self, cond: Tensor, tokens: Tensor | None = None) -> Tensor:
        if not self.hidden:
            return join_tokens(cond, tokens)
        h = self.first_cond(cond).unsqueeze(1)                 # (W, 1, h0)
        if tokens is not None and self.first_token is not None:
            h = h + self.first_token(tokens).unsqueeze(0)      # (W, N, h0)
        h = self.act(h)
        for layer in self.rest:
            h = self.act(layer(h))
        return h

    def describe(self) -> str:
        widths = " -> ".join(str(h) for h in self.hidden) or "identity"
        return f"MLP({widths}, {self.activation})"
