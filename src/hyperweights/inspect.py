"""``hyperweights inspect MODULE:ATTR``: which parameters a selection would generate."""

from __future__ import annotations

import difflib
import importlib

from torch import nn

from .targets.select import inspect_targets
from .targets.spec import SpecTable

EXAMPLE = "e.g. torchvision.models:resnet18 or mypackage.models:build_net"


def add_arguments(parser) -> None:
    parser.add_argument("model", help="'package.module:factory' returning an nn.Module (called with no args)")
    parser.add_argument("--generate", default=None, help="regex (full match) of names to generate")


def load_model(spec: str) -> nn.Module:
    """The module named by ``'package.module:attr'``: ``attr`` itself if it is an ``nn.Module``
    instance, else what calling it with no arguments returns."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"expected MODULE:ATTR, {EXAMPLE}; got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"cannot import {module_name!r} ({err}); check the spelling and that the "
                         "package providing it is installed") from None
    if not hasattr(module, attr):
        close = difflib.get_close_matches(attr, [n for n in dir(module) if not n.startswith("_")], n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"module {module_name!r} has no attribute {attr!r}{hint}")
    obj = getattr(module, attr)
    if isinstance(obj, nn.Module) or not callable(obj):
        model = obj
    else:
        try:
            model = obj()
        except TypeError as err:
            raise ValueError(
                f"{spec} could not be built with no arguments ({err}). `inspect` calls ATTR with no "
                f"arguments: point it at a factory or an instance, {EXAMPLE}") from None
    if not isinstance(model, nn.Module):
        raise ValueError(f"{spec} gave {type(model).__name__}, not an nn.Module; point it at a "
                         f"factory or an instance, {EXAMPLE}")
    return model


def main(args) -> int:
    model = load_model(args.model)
    found = inspect_targets(model, args.generate)
    table = SpecTable.from_parameters((n, p) for n, p in model.named_parameters() if n in found["matched"])
    for s in table:
        print(f"generate  {s.name:<40} {str(s.shape):<20} fan_in={s.fan_in}")
    for name in found["unmatched"]:
        print(f"static    {name}")
    print(f"{len(table)} generated tensors, {table.total} scalars; {len(found['unmatched'])} static")
    return 0
