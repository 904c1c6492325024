"""Hyperparameter-conditioned input with MIP's magnitude-invariant encodings."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .._checks import check_int, describe
from .._parts import is_traced
from .base import Conditioner

__all__ = ["HyperparameterCondition", "encode"]

ENCODINGS = ("cos|sin", "z|1-z", None)


def encode(values: Tensor, encoding: str | None) -> Tensor:
    """Encode values in [0, 1]: ``cos|sin`` -> ``[cos(pi z / 2), sin(pi z / 2)]`` (constant L2
    norm, Gonzalez Ortiz et al. 2024); ``z|1-z`` -> ``[z, 1 - z]`` (constant L1 norm); ``None`` -> z.

    Example:
        >>> z = torch.tensor([[0.0, 1.0]])
        >>> encode(z, "cos|sin").norm(dim=1)
        tensor([1.4142])
    """
    if encoding == "cos|sin":
        angle = values * (math.pi / 2)
        return torch.cat([torch.cos(angle), torch.sin(angle)], dim=-1)
    if encoding == "z|1-z":
        return torch.cat([values, 1 - values], dim=-1)
    if encoding is None:
        return values
    raise ValueError(f"unknown encoding {encoding!r}; choose one of {ENCODINGS}")


class HyperparameterCondition(Conditioner):
    """Hyperparameters ``lambda in [0, 1]^num`` -> encoded condition ``(W, 2 num)`` (or ``num``).

    Args:
        num: number of hyperparameters.
        encoding: ``"cos|sin"`` (MIP, default), ``"z|1-z"`` or ``None``.

    Values outside [0, 1] raise (checked outside ``vmap``/``torch.compile``, so tracing works).

    Example:
        >>> cond = HyperparameterCondition(2)
        >>> cond(torch.tensor([[0.1, 0.9], [0.5, 0.5]])).shape
        torch.Size([2, 4])
    """

    def __init__(self, num: int, encoding: str | None = "cos|sin"):
        super().__init__()
        check_int(num, "num", "HyperparameterCondition")
        if encoding not in ENCODINGS:
            raise ValueError(f"unknown encoding {encoding!r}; choose one of {ENCODINGS}")
        self._config = {"num": num, "encoding": encoding}
        self.num = num
        self.encoding = encoding
        self.out_dim = num * (1 if encoding is None else 2)
        self.magnitude_invariant = encoding == "cos|sin"
        # no parameters of its own: this empty buffer follows .to()/.double() so the values do too
        self.register_buffer("_anchor", torch.zeros(0), persistent=False)

    def forward(self, values) -> Tensor:
        if isinstance(values, (str, bytes, bool)) or values is None:
            raise TypeError(f"HyperparameterCondition expects values in [0, 1] as a (W, {self.num}) "
                            f"tensor (or a list), got {describe(values)}")
        try:
            values = torch.as_tensor(values, dtype=self._anchor.dtype, device=self._anchor.device)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"HyperparameterCondition expects values in [0, 1] as a (W, {self.num}) "
                            f"tensor (or a list), got {describe(values)} ({err})") from None
        if values.ndim == 1 and values.shape[0] == self.num:
            values = values.unsqueeze(0)
        if values.ndim != 2 or values.shape[1] != self.num or not values.shape[0]:
            raise ValueError(
                f"expected hyperparameters of shape (W, {self.num}) with W >= 1 (or ({self.num},)), got "
                f"{tuple(values.shape)}"
            )
        # written as "not inside" so that NaN (which fails every comparison) is rejected too
        if not is_traced(values) and not ((values >= 0) & (values <= 1)).all():
            raise ValueError(
                f"hyperparameters must lie in [0, 1] (normalise them first); got values in "
                f"[{values.min().item():.4g}, {values.max().item():.4g}]"
            )
        return encode(values, self.encoding)

    def describe(self) -> str:
        return f"HyperparameterCondition({self.num}, encoding={self.encoding})"
