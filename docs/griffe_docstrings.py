"""Griffe extension for the API reference: read the project's docstrings as they are written.

The docstrings follow Google style with two habits griffe's Markdown rendering does not know:

- a singular ``Example:`` heading over ``>>>`` blocks (run as doctests): griffe's Google parser
  only treats the plural ``Examples:`` as examples and would render the doctest lines as prose,
  i.e. as broken Markdown;
- Sphinx roles such as ``:func:`load```, which would show up verbatim.

This extension rewrites both before the docstrings are parsed: ``Example:`` becomes ``Examples:``
and a role becomes inline code of its target (``~`` prefixes dropped).
"""

from __future__ import annotations

import re

import griffe

HEADING = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)
ROLE = re.compile(r":(?:func|class|meth|attr|data|mod|obj|exc):`~?([^`]+)`")


class GoogleDocstrings(griffe.Extension):
    """Normalize every docstring griffe loads (see the module docstring)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            text = HEADING.sub(r"\1Examples:", obj.docstring.value)
            obj.docstring.value = ROLE.sub(r"`\1`", text)
