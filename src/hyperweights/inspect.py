"""``hyperweights inspect MODULE:ATTR``: which parameters a selection would generate."""

from __future__ import annotations

import importlib

from .targets.select import inspect_targets
from .targets.spec import SpecTable


def add_arguments(parser) -> None:
    parser.add_argument("model", help="'package.module:factory' returning an nn.Module (called with no args)")
    parser.add_argument("--generate", default=None, help="regex (full match) of names to generate")


def main(args) -> int:
    module_name, _, attr = args.model.partition(":")
    if not attr:
        raise SystemExit("expected MODULE:ATTR, e.g. torchvision.models:resnet18")
    obj = getattr(importlib.import_module(module_name), attr)
    model = obj() if callable(obj) else obj
    found = inspect_targets(model, args.generate)
    table = SpecTable.from_parameters((n, p) for n, p in model.named_parameters() if n in found["matched"])
    for s in table:
        print(f"generate  {s.name:<40} {str(s.shape):<20} fan_in={s.fan_in}")
    for name in found["unmatched"]:
        print(f"static    {name}")
    print(f"{len(table)} generated tensors, {table.total} scalars; {len(found['unmatched'])} static")
    return 0
