"""What every generated docs table is built from: the :class:`Context` and a few formatters.

Each benchmark area may ship ``benchmarks/<area>/tables.py`` with

- ``HEADLINE = (application, module, document, headline_fn)``: its row of the README's
  applications table (``headline_fn(ctx) -> str``, one sentence of measured numbers), and
- ``TABLES = {name: fn}``: the tables its pages mark with ``<!-- table:name -->``.

:mod:`benchmarks.readme` collects them (``make readme``); nothing between the markers is hand-written.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from hyperweights.bench.goals import goal_status
from hyperweights.bench.report import markdown_table

__all__ = ["ROOT", "Context", "goals_table", "markdown_table", "times"]

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Context:
    """What a table generator needs: where the results are and where the table is written."""

    results: Path
    document: Path

    def load(self, relative: str) -> dict:
        path = self.results / relative
        if not path.is_file():
            raise FileNotFoundError(f"{self.document.name}: a generated table needs {path}, which is "
                                    "missing; run the benchmark that writes it (results/README.md)")
        return json.loads(path.read_text())

    def link(self, relative_to_root: str) -> str:
        """``relative_to_root`` as a link from the document's folder."""
        return Path(os.path.relpath(ROOT / relative_to_root, self.document.parent)).as_posix()


def times(value: float | None) -> str:
    """A ratio with two decimals, or empty when it was not measured.

    Example:
        >>> times(1.234), times(None)
        ('1.23', '')
    """
    return "" if value is None else f"{value:.2f}"


def goals_table(records: list[dict]) -> str:
    """The goal records of a result file (:func:`hyperweights.bench.goals.goal`) as a table."""
    def measured(g):
        return "—" if g["measured"] is None else f"{g['measured']:.3g}{g['unit']}"
    return markdown_table([{"goal": g["goal"], "measured": measured(g), "status": goal_status(g)}
                           for g in records])
