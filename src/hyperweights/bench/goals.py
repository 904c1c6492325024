"""A goal is a measured number against a threshold; benchmarks compute them and store them in JSON.

The docs never state a status by hand: :func:`goal` records what was measured, the bar and
whether it was met (with the per-seed count when the goal was measured over seeds), and
:func:`goal_status` renders that record the same way in every table.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["goal", "goal_status"]


def goal(name: str, measured: float | None, threshold: float, *, at_most: bool = True,
         per_seed: Sequence[float] | None = None, unit: str = "") -> dict:
    """One goal's record: ``measured`` against ``threshold``.

    Args:
        name: what the goal says, e.g. ``"Chunked head <= 1.0x hypnettorch ChunkedHMLP"``.
        measured: the aggregate measurement (a mean over seeds, a median time ratio), or ``None``
            when it could not be measured (a peer library missing).
        threshold: the bar.
        at_most: met when ``measured <= threshold`` (else when ``>=``).
        per_seed: the same measurement at each seed, if it was taken over seeds: the record then
            counts the seeds at which the bar holds.
        unit: appended to the numbers when rendered (``"x"``, ``" points"``).

    Returns:
        A JSON-able dict: ``goal, measured, threshold, at_most, unit, met`` (``None`` if not
        measured), and ``seeds_met, seeds`` with ``per_seed``.

    Example:
        >>> g = goal("gap <= 0.5 points", 0.2, 0.5, per_seed=[0.1, 0.9, -0.4], unit=" points")
        >>> g["met"], g["seeds_met"], g["seeds"]
        (True, 2, 3)
        >>> goal_status(g)
        'met at 2 of 3 seeds only'
    """
    def holds(value: float) -> bool:
        return value <= threshold if at_most else value >= threshold

    record = {"goal": name, "measured": measured, "threshold": threshold, "at_most": at_most,
              "unit": unit, "met": None if measured is None else holds(measured)}
    if per_seed is not None:
        record["per_seed"] = list(per_seed)
        record["seeds_met"] = sum(holds(v) for v in per_seed)
        record["seeds"] = len(per_seed)
    return record


def goal_status(record: dict) -> str:
    """``met`` / ``**not met**`` / ``not measured``, with the per-seed count where there is one.

    Example:
        >>> goal_status(goal("ratio >= 10x", 5.4, 10, at_most=False, unit="x"))
        '**not met**'
    """
    if record["met"] is None:
        return "not measured"
    seeds = record.get("seeds")
    if seeds is None:
        return "met" if record["met"] else "**not met**"
    count = f"at {record['seeds_met']} of {seeds} seeds"
    if record["seeds_met"] == seeds:
        return f"met {count}" if record["met"] else f"**not met** on average; met {count}"
    # the mean passes but some seeds do not: the count is the result, not the mean
    return f"met {count} only" if record["met"] else f"**not met**; met {count}"
