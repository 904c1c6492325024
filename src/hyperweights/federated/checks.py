"""Server-side checks of client updates: a malformed update is rejected with a reason, never averaged.

Example:
    >>> import torch
    >>> expected = {"w": (2, 3)}
    >>> check_update({"w": torch.zeros(2, 3)}, expected) is None
    True
    >>> check_update({"w": torch.zeros(3, 2)}, expected)
    "array 'w' has shape (3, 2), expected (2, 3)"
    >>> check_update({"w": torch.full((2, 3), float("nan"))}, expected)
    "array 'w' holds 6 non-finite values (NaN/inf)"
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor

__all__ = ["check_update", "finite_clients"]


def check_update(update: Mapping, expected: Mapping[str, tuple[int, ...]]) -> str | None:
    """``None`` when ``update`` (``{name: tensor or ndarray}``) has exactly the ``expected`` names
    and shapes and only finite floating values; otherwise the reason it is rejected."""
    missing = sorted(set(expected) - set(update))
    unexpected = sorted(set(update) - set(expected))
    if missing or unexpected:
        return f"wrong array names: missing {missing[:5]}, unexpected {unexpected[:5]}"
    for name, shape in expected.items():
        value = update[name]
        value = value if isinstance(value, Tensor) else torch.as_tensor(np.asarray(value))
        if tuple(value.shape) != tuple(shape):
            return f"array {name!r} has shape {tuple(value.shape)}, expected {tuple(shape)}"
        if not value.is_floating_point():
            return f"array {name!r} has dtype {value.dtype}, expected a floating type"
        bad = int((~torch.isfinite(value)).sum())
        if bad:
            return f"array {name!r} holds {bad} non-finite values (NaN/inf)"
    return None


def finite_clients(uploads: dict[str, Tensor], clients: int) -> Tensor:
    """``(C,)`` True where every uploaded array of that client is finite (stacked uploads).

    One fused reduction per array: the max-norm of a row is NaN or inf exactly when the row holds
    a NaN or an inf (``isfinite`` + ``all`` makes three passes over a 800 MB upload stack).
    """
    if not uploads:
        return torch.ones(clients, dtype=torch.bool)
    return torch.stack([torch.linalg.vector_norm(v.flatten(1), ord=float("inf"), dim=1).isfinite()
                        for v in uploads.values()]).all(0)
