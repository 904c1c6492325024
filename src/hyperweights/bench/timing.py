"""Interleaved timing: every candidate runs once per round, in rotating order."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from .progress import progress

__all__ = ["interleaved", "median_ms"]


def median_ms(samples: list[float]) -> float:
    """Median of ``samples`` (seconds) in milliseconds.

    Example:
        >>> median_ms([0.001, 0.003, 0.002])
        2.0
    """
    return statistics.median(samples) * 1e3


def interleaved(fns: dict[str, Callable[[], object]], rounds: int = 20, warmup: int = 3,
                inner: int = 1, desc: str | None = None) -> dict[str, float]:
    """Median milliseconds per call of each function, measured in alternating rounds.

    Args:
        fns: name -> zero-argument callable (one training step, one forward, ...).
        rounds: measured rounds; each round calls every function ``inner`` times.
        warmup: unmeasured rounds first (allocator, caches, lazy init).
        inner: calls per measurement (for sub-millisecond functions).
        desc: label of a progress bar over the rounds (none without it).

    Example:
        >>> times = interleaved({"a": lambda: sum(range(100)), "b": lambda: sum(range(1000))}, rounds=5)
        >>> times["a"] < times["b"]
        True
    """
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    samples: dict[str, list[float]] = {n: [] for n in names}
    for r in progress(range(rounds), desc=desc or "", enabled=desc is not None, leave=False):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            start = time.perf_counter()
            for _ in range(inner):
                fns[name]()
            samples[name].append((time.perf_counter() - start) / inner)
    return {n: median_ms(s) for n, s in samples.items()}
