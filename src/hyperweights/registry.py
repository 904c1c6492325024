"""Registries of the parts: build a conditioner, trunk, head or parametrization by name.

Every :class:`~hyperweights.Conditioner`, :class:`~hyperweights.Trunk`,
:class:`~hyperweights.Head` and :class:`~hyperweights.Parametrization` subclass is registered under
its class name when it is defined (a name already taken by another class is an error), so a user's
own part is created, listed and rebuilt from a checkpoint exactly like a built-in one.

Example:
    >>> import hyperweights as hw
    >>> hw.list_heads("Per*Head")
    ['PerLayerHead', 'PerTensorHead']
    >>> hw.create_head("ChunkedHead", chunk_size=512, embedding_dim=None).get_config()
    {'chunk_size': 512, 'embedding_dim': 16}
"""

from __future__ import annotations

import difflib
import fnmatch
from typing import Any

from ._parts import PART_REGISTRY, Part
from .conditioning.base import Conditioner
from .heads.base import Head
from .parametrize.base import Parametrization
from .trunks.base import Trunk

__all__ = ["create_conditioner", "create_head", "create_parametrization", "create_trunk",
           "list_conditioners", "list_heads", "list_parametrizations", "list_trunks"]


def _names(base: type[Part], pattern: str) -> list[str]:
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be a glob string such as '*Head', got {type(pattern).__name__}")
    return sorted(name for name, cls in PART_REGISTRY.items()
                  if issubclass(cls, base) and cls is not base and fnmatch.fnmatchcase(name, pattern))


def _create(base: type[Part], kind: str, name: str, kwargs: dict[str, Any]) -> Part:
    if not isinstance(name, str):
        raise TypeError(f"create_{kind} takes the {kind}'s registered name (a str), got "
                        f"{type(name).__name__}; list them with hw.list_{kind}s()")
    known = _names(base, "*")
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"no {kind} named {name!r}; registered {kind}s: {known}.{hint} A subclass of "
                         f"{base.__name__} is registered when its module is imported.")
    # None means "the part's default" (timm's convention), so CLI flags left unset do not override
    return PART_REGISTRY[name](**{k: v for k, v in kwargs.items() if v is not None})


def create_conditioner(name: str, **kwargs) -> Conditioner:
    """Build a registered conditioner by name; ``None`` keyword arguments are dropped.

    Example:
        >>> create_conditioner("TaskEmbedding", num_tasks=3, dim=8).out_dim
        8
    """
    return _create(Conditioner, "conditioner", name, kwargs)


def create_trunk(name: str, **kwargs) -> Trunk:
    """Build a registered trunk by name; ``None`` keyword arguments are dropped.

    Example:
        >>> create_trunk("MLP", hidden=(32,), activation=None).get_config()
        {'hidden': [32], 'activation': 'relu', 'init': 'fan_in'}
    """
    return _create(Trunk, "trunk", name, kwargs)


def create_head(name: str, **kwargs) -> Head:
    """Build a registered head by name; ``None`` keyword arguments are dropped.

    Example:
        >>> create_head("LowRankHead", rank=4).rank
        4
    """
    return _create(Head, "head", name, kwargs)


def create_parametrization(name: str, **kwargs) -> Parametrization:
    """Build a registered parametrization by name; ``None`` keyword arguments are dropped.

    Example:
        >>> create_parametrization("MIP", freeze_theta0=True).freeze_theta0
        True
    """
    return _create(Parametrization, "parametrization", name, kwargs)


def list_conditioners(pattern: str = "*") -> list[str]:
    """Sorted names of the registered conditioners matching the glob ``pattern`` (fnmatch).

    Example:
        >>> "TaskEmbedding" in list_conditioners("*Embedding")
        True
    """
    return _names(Conditioner, pattern)


def list_trunks(pattern: str = "*") -> list[str]:
    """Sorted names of the registered trunks matching the glob ``pattern`` (fnmatch).

    Example:
        >>> list_trunks("RNN*")
        ['RNNTrunk']
    """
    return _names(Trunk, pattern)


def list_heads(pattern: str = "*") -> list[str]:
    """Sorted names of the registered heads matching the glob ``pattern`` (fnmatch).

    Example:
        >>> list_heads("Per*")
        ['PerLayerHead', 'PerTensorHead']
    """
    return _names(Head, pattern)


def list_parametrizations(pattern: str = "*") -> list[str]:
    """Sorted names of the registered parametrizations matching the glob ``pattern`` (fnmatch).

    Example:
        >>> list_parametrizations("MI*")
        ['MIP']
    """
    return _names(Parametrization, pattern)
