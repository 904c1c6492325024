"""The contract's evaluation verb for the tabular application."""

from __future__ import annotations

import numpy as np

__all__ = ["evaluate"]


def evaluate(model, X, y) -> dict[str, float]:
    """Scores of a fitted HyperTab estimator (or any fitted scikit-learn model) on ``(X, y)``.

    Args:
        model: a fitted classifier (has ``classes_``) or regressor.
        X: ``(n_samples, n_features)`` array-like or DataFrame.
        y: ``(n_samples,)`` true labels or targets.

    Returns:
        ``{"accuracy", "balanced_accuracy"}`` (plus ``"log_loss"`` when the model has
        ``predict_proba``) for a classifier; ``{"r2", "rmse"}`` for a regressor.

    Example:
        >>> from sklearn.datasets import load_iris
        >>> from hyperweights.tabular import HyperTabClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = HyperTabClassifier(n_masks=8, epochs=20, random_state=0).fit(X, y)
        >>> sorted(evaluate(clf, X, y))
        ['accuracy', 'balanced_accuracy', 'log_loss']
    """
    from sklearn import metrics
    pred = model.predict(X)
    if hasattr(model, "classes_"):
        out = {"accuracy": metrics.accuracy_score(y, pred),
               "balanced_accuracy": metrics.balanced_accuracy_score(y, pred)}
        if hasattr(model, "predict_proba"):
            out["log_loss"] = metrics.log_loss(y, model.predict_proba(X), labels=model.classes_)
        return {k: float(v) for k, v in out.items()}
    return {"r2": float(metrics.r2_score(y, pred)),
            "rmse": float(np.sqrt(metrics.mean_squared_error(y, pred)))}
