"""Base class of heads, the review's "outputs": how the generated weights are emitted."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .._parts import Part
from ..targets.spec import SpecTable

__all__ = ["Head"]


class Head(Part):
    """Maps trunk features ``(W, N, d_h)`` to the flat generated weights ``(W, P)``.

    Lifecycle: :meth:`prepare` reads the target's :class:`~hyperweights.targets.spec.SpecTable` and
    decides the tokens (``N`` learned embeddings of width ``token_dim``, e.g. one per chunk or per
    layer; none for heads that emit everything from one feature vector); :meth:`bind` builds the
    output layers once the trunk's width ``d_h`` is known and initialises them (see
    :mod:`hyperweights.parametrize.init`).
    """

    token_dim: int = 0

    def __init__(self):
        super().__init__()
        #: learned token embeddings ``(N, token_dim)``, or None for single-token heads
        self.register_parameter("tokens", None)

    @property
    def num_tokens(self) -> int:
        return 1 if self.tokens is None else self.tokens.shape[0]

    def prepare(self, specs: SpecTable) -> None:
        self.specs = specs

    def bind(self, in_dim: int, init: str, feature_norm: float = 1.0) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, features: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def linear_layout(self) -> tuple[nn.Linear, int] | None:
        """``(layer, size)`` if this head is one ``Linear(d_h, size)`` applied to every token's
        features, its ``(W, N, size)`` outputs flattened row-major and trimmed to ``P``; else None.

        Lets a loss on the generated weights be fused with the head's last matmul (e.g. the
        continual-learning output regularizer) without changing what the head computes.
        """
        return None

    def _make_tokens(self, n: int, dim: int) -> None:
        self.token_dim = dim
        self.tokens = nn.Parameter(torch.randn(n, dim))

    def _single(self, features: Tensor) -> Tensor:
        if features.shape[1] != 1:
            raise ValueError(f"{type(self).__name__} expects one feature vector per condition, got N={features.shape[1]}")
        return features[:, 0]
