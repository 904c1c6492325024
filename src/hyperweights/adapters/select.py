"""Which modules of a pretrained model get an adapter: peft-style ``target_modules``.

A ``str`` is a regular expression that must match the whole module name; a list names modules
exactly or by dotted suffix (``"query"`` matches ``encoder.layer.0.attention.self.query``), the
rules of peft's ``target_modules``. Adapted modules must be ``nn.Linear`` or GPT-2's ``Conv1D``
(``y = x @ W + b`` with ``W: (in, out)``, peft's ``fan_in_fan_out``); anything else is refused
with the module's type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from torch import nn

__all__ = ["AdaptedModule", "select_modules"]


@dataclass(frozen=True)
class AdaptedModule:
    """One module that receives an adapter.

    Attributes:
        name: its dotted name in the model.
        in_features / out_features: widths of its input and output.
        layer: the transformer block it sits in (the first integer in ``name``; 0 if none).
        kind: the module type, its last name component (``"query"``, ``"value"``, ``"c_attn"``).
        fan_in_fan_out: True for ``Conv1D`` (weight stored ``(in, out)``), as peft calls it.
    """

    name: str
    in_features: int
    out_features: int
    layer: int
    kind: str
    fan_in_fan_out: bool = False


def _matches(name: str, target_modules) -> bool:
    if isinstance(target_modules, str):
        return re.fullmatch(target_modules, name) is not None
    return any(name == t or name.endswith("." + t) for t in target_modules)


def _widths(name: str, module: nn.Module) -> tuple[int, int, bool]:
    if isinstance(module, nn.Linear):
        return module.in_features, module.out_features, False
    if type(module).__name__ == "Conv1D" and getattr(module, "weight", None) is not None \
            and module.weight.ndim == 2:
        rows, cols = module.weight.shape                 # GPT-2's Conv1D: x @ W, W (in, out)
        return int(rows), int(cols), True
    raise TypeError(
        f"target module {name!r} is a {type(module).__name__}; adapters apply to nn.Linear layers "
        "and GPT-2's Conv1D only. Narrow target_modules to the Linear layers (e.g. ['query', "
        "'value'] for BERT, ['c_attn'] for GPT-2).")


def select_modules(model: nn.Module, target_modules: str | list[str] | tuple[str, ...], *,
                   exclude: str | list[str] | tuple[str, ...] = (),
                   layers: list[int] | tuple[int, ...] | None = None) -> list[AdaptedModule]:
    """The modules of ``model`` that ``target_modules`` selects, in model order.

    Args:
        model: any ``nn.Module`` (e.g. a ``transformers`` model); it is only read.
        target_modules: a regex (full match) or a list of exact names / dotted suffixes.
        exclude: names never adapted (same forms), checked first.
        layers: keep only modules of these blocks (peft's ``layers_to_transform``).

    Raises:
        ValueError: nothing matched (the message lists candidate Linear names).
        TypeError: a matched module is neither ``nn.Linear`` nor ``Conv1D``.

    Example:
        >>> net = nn.ModuleDict({"block": nn.ModuleList([nn.ModuleDict({"query": nn.Linear(4, 4),
        ...                                                               "key": nn.Linear(4, 4)})])})
        >>> [m.name for m in select_modules(net, ["query"])]
        ['block.0.query']
    """
    if not isinstance(target_modules, (str, list, tuple)) or not target_modules:
        raise TypeError("target_modules must be a regex string or a non-empty list of module names "
                        f"or suffixes, e.g. ['query', 'value']; got {target_modules!r}")
    selected = []
    for name, module in model.named_modules():
        if not name or (exclude and _matches(name, exclude)) or not _matches(name, target_modules):
            continue
        numbers = re.findall(r"(?:^|\.)(\d+)(?:\.|$)", name)
        layer = int(numbers[0]) if numbers else 0
        if layers is not None and layer not in layers:
            continue
        fan_in, fan_out, transposed = _widths(name, module)
        selected.append(AdaptedModule(name, fan_in, fan_out, layer, name.rpartition(".")[2], transposed))
    if not selected:
        linear = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
        raise ValueError(f"target_modules={target_modules!r} (layers={layers}) matched no module of "
                         f"{type(model).__name__}. Linear modules: {', '.join(linear[:12])}"
                         + (" ..." if len(linear) > 12 else ""))
    return selected
