"""Result files and tables.

Result files live in ``results/<area>/`` (``core``, ``demo``, ``continual``, ``uncertainty``,
``hyperparams``, ``tabular``, ...), the area being the first word of the file's name.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
from pathlib import Path

import torch

__all__ = ["area_of", "machine_info", "write_results", "markdown_table", "result_path", "results_dir"]

#: the environment variable that redirects every result file into one folder (tests, scratch runs)
RESULTS_ENV = "HYPERWEIGHTS_RESULTS"


def area_of(name: str) -> str:
    """The results area of a benchmark or file name: its first ``_``-separated word.

    ``bench_core`` is the core benchmark's historical name, so a leading ``bench_`` is dropped.

    Example:
        >>> [area_of(n) for n in ("bench_core", "uncertainty_e30_seed0", "demo.png", "tabular")]
        ['core', 'uncertainty', 'demo', 'tabular']
    """
    stem = name.removeprefix("bench_").split(".")[0]
    area = stem.split("_")[0]
    if not area:
        raise ValueError(f"cannot tell the results area of {name!r}: expected a name like "
                         "'continual_split_mnist5k' (area 'continual') or 'bench_core' (area 'core')")
    return area


def results_dir(area: str | None = None) -> Path:
    """The folder result files go to, created if missing.

    ``./results/<area>`` (``./results`` without an area), or ``$HYPERWEIGHTS_RESULTS`` when set:
    then every file goes flat into that one folder, whatever its area.

    Example:
        >>> import os, tempfile
        >>> from unittest import mock
        >>> with mock.patch.dict(os.environ, {"HYPERWEIGHTS_RESULTS": tempfile.mkdtemp()}):
        ...     results_dir("core") == results_dir("uncertainty")
        True
    """
    if os.environ.get(RESULTS_ENV):
        path = Path(os.environ[RESULTS_ENV])
    else:
        path = Path("results") / area if area else Path("results")
    path.mkdir(parents=True, exist_ok=True)
    return path


def result_path(filename: str, area: str | None = None) -> Path:
    """Where a result file (a plot, a table) named ``filename`` goes: ``results/<area>/filename``.

    Args:
        filename: e.g. ``"bench_core.png"``; its first word names the area unless ``area`` is given.
        area: the results area (``core``, ``continual``, ``uncertainty``, ...).

    Example:
        >>> import os, tempfile
        >>> from unittest import mock
        >>> with mock.patch.dict(os.environ, {"HYPERWEIGHTS_RESULTS": tempfile.mkdtemp()}):
        ...     result_path("bench_core.png").name
        'bench_core.png'
    """
    return results_dir(area or area_of(filename)) / filename


def machine_info() -> dict:
    """Date, Python, torch, CPU, cores, torch threads and the 1-minute load average at the end of
    the run (timings on a shared machine are only comparable at similar load): stored with every
    result file."""
    return {
        "date": _dt.date.today().isoformat(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def write_results(name: str, payload: dict, *, area: str | None = None) -> Path:
    """Write ``results/<area>/<name>.json`` (payload + ``machine``), atomically; returns the path.

    Args:
        name: the benchmark's result name, e.g. ``"continual_split_mnist5k"``.
        payload: JSON-able measurements (floats, ints, strings, lists, dicts), goal statuses included.
        area: the results area; by default :func:`area_of` ``(name)``.
    """
    path = result_path(f"{name}.json", area)
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
    if not rows and not columns:
        raise ValueError("markdown_table needs at least one row, or the columns of an empty table")
    columns = columns or list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)
