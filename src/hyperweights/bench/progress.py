"""Progress bars for long benchmarks: tqdm when it is installed and wanted, silence otherwise."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["progress"]


class _Silent:
    """The part of tqdm's interface the benchmarks use, doing nothing."""

    def __init__(self, iterable: Iterable | None = None):
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable if self.iterable is not None else ())

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str = "", refresh: bool = True) -> None:
        pass

    def set_description_str(self, text: str = "", refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass


def progress(iterable: Iterable | None = None, *, total: int | None = None, desc: str = "",
             enabled: bool = True, leave: bool = True):
    """A tqdm bar (to stderr, refreshed at most every 2 s, also when stderr is a log file).

    A benchmark that runs for minutes shows where it is; tqdm is in the ``bench`` extra, and
    without it (or with ``enabled=False``) a silent stand-in with the same methods is returned.

    Args:
        iterable: what to iterate over, or ``None`` for a bar advanced with ``update(n)``.
        total: number of steps (default: ``len(iterable)``).
        desc: the bar's label.
        enabled: ``False`` for no output (``--no-progress``).
        leave: keep the finished bar on screen.

    Example:
        >>> sum(progress(range(4), desc="rows", enabled=False))
        6
        >>> with progress(total=3, enabled=False) as bar:
        ...     bar.update(3)
    """
    if enabled:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            pass
        else:
            return tqdm(iterable, total=total, desc=desc, leave=leave, mininterval=2.0,
                        dynamic_ncols=True)
    return _Silent(iterable)
