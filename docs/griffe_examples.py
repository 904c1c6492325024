"""Griffe extension for the API reference: the project's ``Example:`` sections are examples.

The docstrings follow Google style with a singular ``Example:`` heading over ``>>>`` blocks (run
as doctests). Griffe's Google parser knows only the plural ``Examples:`` as an examples section and
would render the singular one as prose, so the doctest lines would turn into broken Markdown. This
extension renames the heading before the docstrings are parsed.
"""

from __future__ import annotations

import re

import griffe

HEADING = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    """Rename ``Example:`` to ``Examples:`` in every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = HEADING.sub(r"\1Examples:", obj.docstring.value)
