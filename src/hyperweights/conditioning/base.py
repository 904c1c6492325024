"""Base class of conditioners: inputs of any kind -> a ``(W, dim)`` condition batch."""

from __future__ import annotations

from torch import Tensor

from .._parts import Part

__all__ = ["Conditioner"]


class Conditioner(Part):
    """Maps a condition (task ids, data, noise, hyperparameters, ...) to ``(W, out_dim)``.

    Attributes:
        out_dim: the width of the condition vector it produces.
        magnitude_invariant: True when every output has the same L2 norm by construction
            (e.g. the cos|sin encoding), so MIP's input normalisation is not applied again.
    """

    out_dim: int
    magnitude_invariant: bool = False

    def forward(self, condition) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError
