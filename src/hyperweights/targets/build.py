"""The one MLP builder for target networks (the benchmarks' and recipes' plain MLPs)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from .._parts import get_activation

__all__ = ["mlp"]


def mlp(sizes: Sequence[int], activation: str = "relu", *, dropout: float = 0.0) -> nn.Sequential:
    """``Linear -> activation [-> Dropout] -> ... -> Linear`` through ``sizes`` (input first).

    Args:
        sizes: layer widths, input and output included, e.g. ``(784, 100, 100, 10)``.
        activation: name of the activation between layers (``relu``, ``tanh``, ``gelu``, ...).
        dropout: dropout probability after each hidden activation (0: no Dropout modules).

    Returns:
        An ``nn.Sequential`` whose parameter names are ``"0.weight"``, ``"0.bias"``, ``"2.weight"``,
        … (indices shift by one per hidden layer when ``dropout > 0``).

    Example:
        >>> mlp((4, 8, 3))
        Sequential(
          (0): Linear(in_features=4, out_features=8, bias=True)
          (1): ReLU()
          (2): Linear(in_features=8, out_features=3, bias=True)
        )
    """
    sizes = tuple(sizes) if not isinstance(sizes, (str, bytes)) else sizes
    if (isinstance(sizes, (str, bytes)) or len(sizes) < 2
            or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes)):
        raise ValueError(f"mlp needs at least two positive integer widths (input and output), "
                         f"e.g. (784, 100, 10); got {sizes!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    layers: list[nn.Module] = []
    for i, (width_in, width_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(width_in, width_out))
        if i < len(sizes) - 2:
            layers.append(get_activation(activation))
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)
