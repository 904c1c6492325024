"""Shared plumbing for the composable parts (conditioners, trunks, heads, parametrizations).

Every part is an ``nn.Module`` that can describe itself as JSON (:meth:`Part.get_config`) and is
registered by class name, so a checkpoint can rebuild the exact design without pickle. The
registry (:data:`PART_REGISTRY`) is what :mod:`hyperweights.registry`'s ``create_*``/``list_*``
read; a name belongs to one class only.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import weakref
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["Part", "PART_REGISTRY", "build_part", "get_activation", "is_traced", "fmt_count"]

PART_REGISTRY: dict[str, type[Part]] = {}
# parts already built into a hypernetwork (weak: a part that is garbage-collected leaves the set,
# and a copy of a part is a new object that is not in it)
_CLAIMED: weakref.WeakSet = weakref.WeakSet()


def _register(cls: type[Part]) -> None:
    """Add ``cls`` under its class name; a name taken by another class is an error. The same
    class defined again (a module imported twice, a class defined in a function called twice)
    replaces its earlier definition."""
    name = cls.__name__
    old = PART_REGISTRY.get(name)
    if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(
            f"a part named {name!r} is already registered ({old.__module__}.{old.__qualname__}); "
            f"{cls.__module__}.{cls.__qualname__} cannot take the name. Part names are what "
            "checkpoints store, so each must be unique: rename your class (or prefix it with '_' "
            "to keep it out of the registry)."
        )
    PART_REGISTRY[name] = cls


def _json_normal(value: Any) -> Any:
    """``value`` as it comes back from JSON (tuples become lists); raises TypeError if it has no
    JSON form."""
    return json.loads(json.dumps(value))


def _check_round_trip(part: Part, init, args: tuple, kwargs: dict) -> None:
    """Raise if ``type(part)(**part.get_config())`` would not call ``init`` with the arguments it
    was just called with: the checkpoint would silently rebuild a different part."""
    cls = type(part)
    signature = inspect.signature(init)
    called = signature.bind(part, *args, **kwargs)
    called.apply_defaults()
    config = part.get_config()
    try:
        rebuilt = signature.bind(part, **config)
    except TypeError as err:
        raise TypeError(
            f"{cls.__name__}.get_config() returned {config}, which {cls.__name__}.__init__ does not "
            f"accept ({err}). Store exactly the constructor arguments in self._config."
        ) from None
    rebuilt.apply_defaults()
    try:
        stored = _json_normal(config)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"{cls.__name__}'s config {config} is not JSON-serialisable ({err}); a checkpoint could "
            "not store it. Keep only numbers, strings, booleans, None, lists and dicts in "
            "self._config, or set `serializable = False` on the class for a part wrapping user code."
        ) from None
    for name, value in called.arguments.items():
        if name == next(iter(signature.parameters)):
            continue                                          # self
        try:
            same = _json_normal(value) == _json_normal(rebuilt.arguments[name])
        except (TypeError, ValueError):
            same = False
        if not same:
            raise ValueError(
                f"{cls.__name__} was built with {name}={value!r} but its config rebuilds it with "
                f"{name}={rebuilt.arguments[name]!r} (config {stored}), so a checkpoint would load a "
                f"different part. Store every constructor argument in self._config (e.g. "
                f"self._config = {{'{name}': {name}, ...}})."
            )


def _checking_round_trip(init):
    """Wrap a part's ``__init__`` so the outermost constructor call checks the config."""
    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        init(self, *args, **kwargs)
        cls = type(self)
        if cls.__init__ is wrapper and PART_REGISTRY.get(cls.__name__) is cls and cls.serializable:
            _check_round_trip(self, init, args, kwargs)
    return wrapper


class Part(nn.Module):
    """Base of every registered part. Subclasses store their constructor arguments in
    ``self._config`` (JSON-serialisable) so that ``type(self)(**self.get_config())`` rebuilds them;
    this is checked when the part is built (a mismatch raises). Class names starting with ``_``
    are not registered (and not checked). Parts that wrap user code (an encoder module) set the
    class attribute ``serializable = False``: a checkpoint then asks for the part again on load.
    """

    serializable: bool = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _checking_round_trip(cls.__dict__["__init__"])
        if not cls.__name__.startswith("_"):
            _register(cls)

    def get_config(self) -> dict[str, Any]:
        return dict(getattr(self, "_config", {}))

    def describe(self) -> str:
        """One-line description used by ``HyperNetwork.__repr__``."""
        args = ", ".join(f"{k}={v}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def ensure_unclaimed(self, role: str) -> None:
        """Raise if this part is already built into a hypernetwork (see :meth:`claim`): binding
        builds and initialises its layers for one target, which would overwrite the first
        hypernetwork's weights."""
        if self in _CLAIMED:
            raise ValueError(
                f"this {type(self).__name__} ({role}) already belongs to another HyperNetwork, whose "
                f"weights building it again would overwrite. Pass a new part, e.g. "
                f"hw.create_{role}({type(self).__name__!r}, **part.get_config())."
            )

    def claim(self) -> None:
        """Mark this part as built into a hypernetwork."""
        _CLAIMED.add(self)


def build_part(spec: dict[str, Any]) -> Part:
    """Rebuild a part from ``{"class": name, "config": {...}}``.

    Raises:
        ValueError: the class name is not registered.
        TypeError: the config is not a dict, or has keys the class's constructor does not take.
    """
    name = spec.get("class")
    if name not in PART_REGISTRY:
        raise ValueError(
            f"unknown part {name!r} in the checkpoint config; known parts: {sorted(PART_REGISTRY)}. "
            "If it is your own Part subclass, import its module before loading."
        )
    cls, config = PART_REGISTRY[name], spec.get("config", {})
    if not isinstance(config, dict):
        raise TypeError(f"the checkpoint's config of {name} is {type(config).__name__}, not a dict")
    parameters = inspect.signature(cls.__init__).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        accepted = [n for n, p in parameters.items() if n != "self"
                    and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        unknown = sorted(set(config) - set(accepted))
        if unknown:
            raise TypeError(
                f"the checkpoint's config of {name} has key(s) {unknown} that {name}() does not take "
                f"(it takes {accepted}); the file was written by another version of {name}"
            )
    return cls(**config)


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
