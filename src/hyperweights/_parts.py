"""Shared plumbing for the composable parts (conditioners, trunks, heads, parametrizations).

Every part is an ``nn.Module`` that can describe itself as JSON (:meth:`Part.get_config`) and is
registered by class name, so a checkpoint can rebuild the exact design without pickle.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["Part", "PART_REGISTRY", "build_part", "get_activation", "is_traced", "fmt_count"]

PART_REGISTRY: dict[str, type[Part]] = {}


class Part(nn.Module):
    """Base of every registered part. Subclasses store their constructor arguments in
    ``self._config`` (JSON-serialisable) so that ``type(self)(**self.get_config())`` rebuilds them.
    """

    serializable: bool = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            PART_REGISTRY[cls.__name__] = cls

    def get_config(self) -> dict[str, Any]:
        return dict(getattr(self, "_config", {}))

    def describe(self) -> str:
        """One-line description used by ``HyperNetwork.__repr__``."""
        args = ", ".join(f"{k}={v}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def build_part(spec: dict[str, Any]) -> Part:
    """Rebuild a part from ``{"class": name, "config": {...}}``."""
    name = spec.get("class")
    if name not in PART_REGISTRY:
        raise ValueError(
            f"unknown part {name!r} in the checkpoint config; known parts: {sorted(PART_REGISTRY)}. "
            "If it is your own Part subclass, import its module before loading."
        )
    return PART_REGISTRY[name](**spec.get("config", {}))


_ACTIVATIONS = {
    "relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "gelu": nn.GELU,
    "tanh": nn.Tanh, "silu": nn.SiLU, "sigmoid": nn.Sigmoid, "identity": nn.Identity,
}


def get_activation(name: str) -> nn.Module:
    """An activation module from its name (``relu``, ``leaky_relu``, ``elu``, ``gelu``, ...)."""
    try:
        return _ACTIVATIONS[name.lower()]()
    except (KeyError, AttributeError):
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(_ACTIVATIONS)}") from None


def activation_gain(name: str) -> float:
    """Gain that keeps the second moment through a layer followed by this activation."""
    name = name.lower()
    if name in ("relu", "elu", "gelu", "silu"):
        return math.sqrt(2.0)
    if name == "leaky_relu":
        return nn.init.calculate_gain("leaky_relu", 0.01)
    return 1.0


def is_traced(t: Tensor) -> bool:
    """True inside ``torch.compile`` or ``torch.func`` transforms, where data-dependent checks
    (``.item()``, ``.any()``) must be skipped."""
    if torch.compiler.is_compiling():
        return True
    return torch._C._functorch.is_functorch_wrapped_tensor(t)


def fmt_count(n: int) -> str:
    """``12345 -> '12.3k'``."""
    for unit, div in (("M", 1e6), ("k", 1e3)):
        if n >= div:
            return f"{n / div:.1f}{unit}"
    return str(n)
