"""matplotlib for benchmarks and recipes: one place that picks the file-only backend.

Benchmarks run on machines without a display, so plots go to files through the ``Agg`` backend;
:func:`pyplot` selects it once (before ``pyplot`` is first imported) and returns the module.
"""

from __future__ import annotations

__all__ = ["pyplot", "save_figure"]


def pyplot():
    """``matplotlib.pyplot`` on the ``Agg`` backend (matplotlib is in the ``bench`` extra).

    Example:
        >>> plt = pyplot()
        >>> plt.get_backend().lower()
        'agg'
    """
    try:
        import matplotlib
    except ImportError as err:
        raise ImportError("plots need matplotlib: pip install 'hyperweights[bench]'") from err
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path, *, dpi: int = 120) -> None:
    """Lay out ``fig``, write it to ``path`` and close it (an open figure keeps its memory).

    Example:
        >>> import tempfile, pathlib
        >>> fig, ax = pyplot().subplots()
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     save_figure(fig, pathlib.Path(folder) / "plot.png")
        ...     (pathlib.Path(folder) / "plot.png").stat().st_size > 0
        True
    """
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
