"""Noise-conditioned input: z ~ N(0, I), one weight set per draw (implicit ensembles)."""

from __future__ import annotations

import torch
from torch import Tensor

from .._checks import check_int, describe
from .base import Conditioner

__all__ = ["NoiseCondition"]


class NoiseCondition(Conditioner):
    """Samples noise codes ``(K, dim)``; each code yields one member of an implicit ensemble.

    Args:
        dim: noise width.
        samples: ``K`` drawn when called with ``None``.

    Call with ``None`` (draw ``samples``), an int ``K`` (draw ``K``), or a tensor ``(K, dim)`` of
    given codes. :meth:`sample` takes a ``torch.Generator`` for reproducible members.

    Example:
        >>> cond = NoiseCondition(4, samples=3)
        >>> cond(None).shape, cond(7).shape
        (torch.Size([3, 4]), torch.Size([7, 4]))
        >>> g = torch.Generator().manual_seed(0)
        >>> torch.equal(cond.sample(2, generator=g), cond.sample(2, generator=torch.Generator().manual_seed(0)))
        True
    """

    def __init__(self, dim: int, samples: int = 1):
        super().__init__()
        check_int(dim, "dim", "NoiseCondition")
        check_int(samples, "samples", "NoiseCondition")
        self._config = {"dim": dim, "samples": samples}
        self.out_dim = dim
        self.samples = samples
        self.register_buffer("_device_anchor", torch.zeros(0), persistent=False)

    def sample(self, k: int, generator: torch.Generator | None = None) -> Tensor:
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"the number of noise samples must be a positive int, got {k!r}")
        anchor = self._device_anchor
        return torch.randn(k, self.out_dim, generator=generator, device=anchor.device,
                           dtype=anchor.dtype if anchor.is_floating_point() else torch.float32)

    def forward(self, condition=None) -> Tensor:
        if condition is None:
            return self.sample(self.samples)
        if isinstance(condition, int):
            return self.sample(condition)
        if isinstance(condition, Tensor):
            if condition.ndim != 2 or condition.shape[1] != self.out_dim or not condition.shape[0]:
                raise ValueError(
                    f"noise codes must have shape (K, {self.out_dim}) with K >= 1, got "
                    f"{tuple(condition.shape)}"
                )
            anchor = self._device_anchor
            if condition.device != anchor.device or (
                    anchor.is_floating_point() and condition.dtype != anchor.dtype):
                raise TypeError(
                    f"noise codes must be {anchor.dtype} on {anchor.device} like the hypernetwork, got "
                    f"{describe(condition)}; convert them with .to({anchor.dtype}) / .to({str(anchor.device)!r})"
                )
            return condition
        raise TypeError(f"NoiseCondition takes None, an int K or a (K, dim) tensor, got {type(condition).__name__}")

    def describe(self) -> str:
        return f"NoiseCondition(dim {self.out_dim}, {self.samples} samples)"
