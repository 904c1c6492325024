"""Choosing which parameters of a target a hypernetwork generates.

A selection is one of:

- ``None``: every parameter;
- a ``str``: a regular expression that must match the *whole* name (``re.fullmatch``);
- a list/tuple of strings: exact names or dotted suffixes (``"weight"`` matches ``"fc1.weight"``);
- a predicate ``(name, parameter) -> bool``.

Parameters that are not selected stay ordinary parameters of the target.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from torch import nn

__all__ = ["Selection", "select_parameters", "inspect_targets"]

Selection = str | Sequence[str] | Callable[[str, nn.Parameter], bool] | None


def _matches(name: str, param: nn.Parameter, selection: Selection) -> bool:
    if selection is None:
        return True
    if isinstance(selection, str):
        return re.fullmatch(selection, name) is not None
    if callable(selection):
        return bool(selection(name, param))
    return any(name == key or name.endswith("." + key) for key in selection)


def select_parameters(target: nn.Module, generate: Selection = None,
                      exclude: Selection = ()) -> list[tuple[str, nn.Parameter]]:
    """Return the ``(name, parameter)`` pairs of ``target`` that ``generate`` selects.

    Args:
        target: any module.
        generate: the selection (see the module docstring).
        exclude: names removed from the selection; checked first (same forms as ``generate``).

    Raises:
        ValueError: if nothing is selected; the message lists the available names.
        TypeError: if ``generate`` is not one of the accepted forms.

    Example:
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
        >>> [n for n, _ in select_parameters(net, r"0\\..*")]
        ['0.weight', '0.bias']
        >>> [n for n, _ in select_parameters(net, ["weight"])]
        ['0.weight', '2.weight']
    """
    for label, sel in (("generate", generate), ("exclude", exclude)):
        if not (sel is None or isinstance(sel, str) or callable(sel)
                or (isinstance(sel, Sequence) and all(isinstance(k, str) for k in sel))):
            raise TypeError(
                f"`{label}` must be None, a regex string, a list of names/suffixes or a predicate "
                f"(name, param) -> bool; got {type(sel).__name__}"
            )
        if isinstance(sel, str):
            try:
                re.compile(sel)
            except re.error as err:
                raise ValueError(
                    f"`{label}`={sel!r} is not a valid regular expression: {err}") from None
    named = list(target.named_parameters())
    if not named:
        raise ValueError(f"{type(target).__name__} has no parameters to generate")
    exclude_all = exclude if exclude else ()
    chosen = [(n, p) for n, p in named
              if not (exclude_all and _matches(n, p, exclude_all)) and _matches(n, p, generate)]
    if not chosen:
        available = ", ".join(n for n, _ in named)
        raise ValueError(
            f"the selection generate={generate!r} matched no parameter of "
            f"{type(target).__name__}. Available names: {available}. A string is a regex that must "
            f"match the whole name (e.g. r'.*\\.weight'); a list matches exact names or suffixes."
        )
    return chosen


def inspect_targets(target: nn.Module, generate: Selection = None,
                    exclude: Selection = ()) -> dict[str, list[str]]:
    """Which names a selection generates and which stay ordinary parameters.

    Example:
        >>> from torch import nn
        >>> inspect_targets(nn.Linear(2, 2), ["bias"])
        {'matched': ['bias'], 'unmatched': ['weight']}
    """
    matched = [n for n, _ in select_parameters(target, generate, exclude)]
    unmatched = [n for n, _ in target.named_parameters() if n not in set(matched)]
    return {"matched": matched, "unmatched": unmatched}
