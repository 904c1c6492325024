"""Mean ranks, Friedman's test, the Nemenyi critical difference and its diagram (Demsar 2006)."""

from __future__ import annotations

import numpy as np

__all__ = ["critical_difference", "friedman_p", "mean_ranks", "plot_cd"]

# Studentized range / sqrt(2) at alpha = 0.05 (Demsar 2006, table 5a), by number of methods.
_Q05 = {2: 1.960, 3: 2.343, 4: 2.569, 5: 2.728, 6: 2.850, 7: 2.949, 8: 3.031, 9: 3.102, 10: 3.164}


def mean_ranks(table: dict[str, dict[str, float]], methods: list[str]) -> tuple[dict, dict]:
    """Rank the methods on every data set (1 = highest score, ties averaged).

    Args:
        table: ``{dataset: {method: score}}``.
        methods: the methods to rank (each must be in every row).

    Returns:
        ``(mean rank per method, {dataset: {method: rank}})``.

    Example:
        >>> mean_ranks({"a": {"x": 0.9, "y": 0.8}, "b": {"x": 0.7, "y": 0.7}}, ["x", "y"])[0]
        {'x': 1.25, 'y': 1.75}
    """
    from scipy.stats import rankdata
    per = {name: dict(zip(methods, rankdata([-row[m] for m in methods]).tolist()))
           for name, row in table.items()}
    mean = {m: float(np.mean([per[d][m] for d in per])) for m in methods} if per else {}
    return mean, per


def friedman_p(table: dict[str, dict[str, float]], methods: list[str]) -> float | None:
    """Friedman's test of "all methods equal"; None below 3 data sets or 3 methods."""
    from scipy.stats import friedmanchisquare
    if len(table) < 3 or len(methods) < 3:
        return None
    return float(friedmanchisquare(*[[table[d][m] for d in table] for m in methods]).pvalue)


def critical_difference(k: int, n: int) -> float:
    """Nemenyi critical difference of mean ranks at alpha = 0.05 for ``k`` methods, ``n`` data sets.

    Example:
        >>> round(critical_difference(5, 14), 2)        # Demsar (2006), section 3.2.2
        1.63
    """
    if k not in _Q05:
        raise ValueError(f"the Nemenyi table here covers 2..10 methods, got {k}")
    return _Q05[k] * (k * (k + 1) / (6.0 * n)) ** 0.5


def _cliques(order: list[str], ranks: dict, cd: float) -> list[tuple[int, int]]:
    """Maximal runs ``[i, j]`` of the rank-sorted methods whose ranks differ by at most ``cd``."""
    spans = []
    for i in range(len(order)):
        j = i
        while j + 1 < len(order) and ranks[order[j + 1]] - ranks[order[i]] <= cd:
            j += 1
        if j > i and not any(a <= i and j <= b for a, b in spans):
            spans.append((i, j))
    return spans


def plot_cd(path, ranks: dict[str, float], cd: float, n: int, title: str, highlight: str = "") -> None:
    """A critical-difference diagram: methods on the mean-rank axis; a bar joins methods whose
    mean ranks differ by less than the critical difference (not significantly different)."""
    try:
        from hyperweights.bench.plotting import pyplot
    except ImportError:  # before the core's plotting helper
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    else:
        plt = pyplot()
    order = sorted(ranks, key=ranks.get)
    k = len(order)
    fig, ax = plt.subplots(figsize=(8, 1.6 + 0.32 * k))
    ax.set_xlim(k + 0.3, 0.7)                        # rank 1 on the right, as in Demsar (2006)
    ax.set_ylim(-0.55 * ((k + 1) // 2) - 0.3, 1.6)
    ax.hlines(0, 1, k, color="k", lw=1)
    for r in range(1, k + 1):
        ax.vlines(r, 0, 0.15, color="k", lw=1)
        ax.text(r, 0.3, str(r), ha="center", fontsize=9)
    half = (k + 1) // 2
    for i, m in enumerate(order):
        right = i < half                             # the better half is labelled on the right
        y = -0.5 - (i if right else k - 1 - i) * 0.55
        x_end = 0.75 if right else k + 0.25
        color = "C0" if m == highlight else "k"
        ax.plot([ranks[m], ranks[m], x_end], [0, y, y], color=color, lw=1)
        ax.text(x_end + (0.05 if not right else -0.05), y, f"{m} ({ranks[m]:.2f})", va="center",
                ha="right" if not right else "left", fontsize=9, color=color)
    for depth, (i, j) in enumerate(_cliques(order, ranks, cd)):
        y = -0.25 - 0.12 * depth
        ax.plot([ranks[order[i]] - 0.03, ranks[order[j]] + 0.03], [y, y], color="C3", lw=3)
    best = ranks[order[0]]
    ax.plot([best, best + cd], [1.2, 1.2], color="C3", lw=2)
    ax.text(best + cd / 2, 1.35, f"CD = {cd:.2f} (Nemenyi, a = 0.05, N = {n})", ha="center",
            fontsize=8, color="C3")
    ax.set_title(title, fontsize=10)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
