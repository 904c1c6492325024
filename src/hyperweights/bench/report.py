"""Result files and tables."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
from pathlib import Path

import torch

__all__ = ["machine_info", "write_results", "markdown_table", "results_dir"]


def results_dir() -> Path:
    """``$HYPERWEIGHTS_RESULTS`` or ``./results``."""
    path = Path(os.environ.get("HYPERWEIGHTS_RESULTS", "results"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def machine_info() -> dict:
    return {
        "date": _dt.date.today().isoformat(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }


def write_results(name: str, payload: dict) -> Path:
    """Write ``results/<name>.json`` (payload + ``machine``), atomically; returns the path."""
    path = results_dir() / f"{name}.json"
    data = {"benchmark": name, "machine": machine_info(), **payload}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=float) + "\n")
    os.replace(tmp, path)
    return path


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and abs(value) >= 10000:
        return f"{value:,}"
    return str(value)


def markdown_table(rows: list[dict], columns: list[str] | None = None) -> str:
    """Render ``rows`` (dicts) as a Markdown table.

    Example:
        >>> print(markdown_table([{"model": "a", "acc": 0.91234}]))
        | model | acc |
        |---|---|
        | a | 0.912 |
    """
    columns = columns or list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)
