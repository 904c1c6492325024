"""The benchmark's two quality goals as predicates on result rows (``bench uncertainty`` JSON rows).

Shared by the bench, which checks them within one run, and by the summary, which pairs runs with
the single network and deep ensemble of the same seed from other files.

Example:
    >>> single = {"accuracy": 0.90, "ece": 0.04}
    >>> deep_ensemble = {"params": 1000, "auroc_mnist": 0.83}
    >>> row = {"params": 200, "accuracy": 0.892, "ece": 0.015, "auroc_mnist": 0.85}
    >>> auroc_goal_met(row, deep_ensemble), ece_goal_met(row, single)
    (True, True)
"""

from __future__ import annotations

__all__ = ["ACCURACY_BOUND", "auroc_goal_met", "ece_goal_met", "parameter_budget"]

#: the ECE goal's accuracy bound: at most this far below the single network (1 point)
ACCURACY_BOUND = 0.01


def parameter_budget(deep_ensemble: dict) -> float:
    """A fifth of the deep ensemble's trainable parameters."""
    return deep_ensemble["params"] / 5


def auroc_goal_met(row: dict, deep_ensemble: dict) -> bool:
    """OOD AUROC (MNIST) at least the deep ensemble's, with at most a fifth of its parameters."""
    return row["auroc_mnist"] >= deep_ensemble["auroc_mnist"] and row["params"] <= parameter_budget(deep_ensemble)


def ece_goal_met(row: dict, single: dict, key: str = "ece") -> bool:
    """ECE (``key``: ``"ece"`` raw or ``"ece_cal"`` temperature-scaled) at most half the single
    network's, with accuracy at most 1 point below it (exactly 1 point counts as within)."""
    return (row[key] <= single[key] / 2
            and row["accuracy"] >= single["accuracy"] - ACCURACY_BOUND - 1e-9)
