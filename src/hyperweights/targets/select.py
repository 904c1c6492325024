"""Choosing which parameters of a target a hypernetwork generates.

A selection is one of:

- ``None``: every parameter;
- a ``str``: a regular expression that must match the *whole* name (``re.fullmatch``);
- a list/tuple of strings: exact names or dotted suffixes (``"weight"`` matches ``"fc1.weight"``);
  every entry must match at least one name (a misspelt entry is an error, not a silent no-op);
- a predicate ``(name, parameter) -> bool``.

Parameters that are not selected stay ordinary parameters of the target.
"""

from __future__ import annotations

import difflib
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


def _check_module(target, caller: str) -> None:
    if not isinstance(target, nn.Module):
        hint = (f" Build the model first, e.g. torchvision.models.{target}(), or on the command line "
                f"run `hyperweights inspect PACKAGE.MODULE:{target}`." if isinstance(target, str) else "")
        raise TypeError(f"{caller} expects an nn.Module, got {type(target).__name__} {target!r}.{hint}")


def _check_list_entries(target: nn.Module, named: list, label: str, selection: Selection) -> None:
    """Every entry of a list selection must match some name: a misspelt entry would otherwise
    silently leave its parameter out of (or in) the generated set."""
    if selection is None or isinstance(selection, str) or callable(selection):
        return
    names = [n for n, _ in named]
    for key in selection:
        if not any(name == key or name.endswith("." + key) for name in names):
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"the {label} entry {key!r} matches no parameter of {type(target).__name__}.{hint} "
                f"Available names: {', '.join(names)} (an entry is an exact name or a dotted suffix)."
            )


def select_parameters(target: nn.Module, generate: Selection = None,
                      exclude: Selection = ()) -> list[tuple[str, nn.Parameter]]:
    """Return the ``(name, parameter)`` pairs of ``target`` that ``generate`` selects.

    Args:
        target: any module.
        generate: the selection (see the module docstring).
        exclude: names removed from the selection; checked first (same forms as ``generate``).

    Raises:
        ValueError: if nothing is selected, or an entry of a list matches no name; the message
            lists the available names.
        TypeError: if ``target`` is not a module or ``generate`` is not one of the accepted forms.

    Example:
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
        >>> [n for n, _ in select_parameters(net, r"0\\..*")]
        ['0.weight', '0.bias']
        >>> [n for n, _ in select_parameters(net, ["weight"])]
        ['0.weight', '2.weight']
    """
    _check_module(target, "select_parameters")
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
    available = ", ".join(n for n, _ in named)
    for label, sel in (("generate", generate), ("exclude", exclude)):
        _check_list_entries(target, named, label, sel)
    exclude_all = exclude if exclude else ()
    chosen = [(n, p) for n, p in named
              if not (exclude_all and _matches(n, p, exclude_all)) and _matches(n, p, generate)]
    if not chosen and any(_matches(n, p, generate) for n, p in named):
        raise ValueError(
            f"exclude={exclude!r} removed every parameter that generate={generate!r} selects in "
            f"{type(target).__name__} ({available}), so nothing is left to generate. Narrow the "
            "exclusion, or do not use a hypernetwork for this target."
        )
    if not chosen:
        raise ValueError(
            f"the selection generate={generate!r} matched no parameter of "
            f"{type(target).__name__}. Available names: {available}. A string is a regex that must "
            f"match the whole name (e.g. r'.*\\.weight'); a list matches exact names or suffixes."
        )
    return chosen


def inspect_targets(target: nn.Module, generate: Selection = None,
                    exclude: Selection = ()) -> dict[str, list[str]]:
    """Which names a selection generates and which stay ordinary parameters (same arguments and
    errors as :func:`select_parameters`).

    Example:
        >>> from torch import nn
        >>> inspect_targets(nn.Linear(2, 2), ["bias"])
        {'matched': ['bias'], 'unmatched': ['weight']}
    """
    _check_module(target, "inspect_targets")
    matched = [n for n, _ in select_parameters(target, generate, exclude)]
    unmatched = [n for n, _ in target.named_parameters() if n not in set(matched)]
    return {"matched": matched, "unmatched": unmatched}
