"""The tabular benchmark's protocol: the methods, the folds, one timed fold.

Every method is ``make_pipeline(preprocessor(dataset), estimator)`` (the one preprocessing of
:mod:`benchmarks.tabular.datasets`), sees the same folds (repeated stratified k-fold; repeated
k-fold for regression) and is timed per fold in the same process at one thread.
"""

from __future__ import annotations

import importlib
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from benchmarks.tabular.datasets import Dataset, preprocessor

__all__ = ["BASELINES", "OURS", "REF", "Protocol", "folds", "make_method", "run_fold"]

OURS, REF = "hypertab (ours)", "hypertab (reference)"
BASELINES = ["random forest", "extra trees", "xgboost", "lightgbm", "logistic / ridge", "mlp"]


@dataclass
class Protocol:
    """What every run of the benchmark shares (written into its JSON)."""
    n_splits: int = 3
    repeats: int = 2
    seed: int = 0
    n_trees: int = 100
    # HyperTab's settings, for ours and the reference package alike.
    hypertab: dict = field(default_factory=lambda: {"n_masks": 50, "epochs": 50, "hidden_dims": 10,
                                                    "subsample": 0.5, "batch_size": 128})


def _require(module: str, package: str):
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(f"the tabular benchmark compares against {module}: pip install "
                                  f"{package} (or pip install 'hyperweights[bench]')") from err


def _estimator(method: str, task: str, protocol: Protocol, seed: int, ours: dict):
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.ensemble import (ExtraTreesClassifier, ExtraTreesRegressor, RandomForestClassifier,
                                  RandomForestRegressor)
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.preprocessing import StandardScaler

    from hyperweights.tabular import HyperTabClassifier, HyperTabRegressor

    clf, trees = task == "classification", protocol.n_trees
    if method == OURS:
        return (HyperTabClassifier if clf else HyperTabRegressor)(
            **{**protocol.hypertab, **ours}, random_state=seed)
    if method == REF:
        if not clf:
            raise ValueError("the reference hypertab package has no regressor")
        from benchmarks.peers.hypertab import ReferenceHyperTab
        h = protocol.hypertab
        return ReferenceHyperTab(test_nodes=h["n_masks"], epochs=h["epochs"], subsample=h["subsample"],
                                 hidden_dims=h["hidden_dims"], batch_size=h["batch_size"],
                                 random_state=seed)
    if method == "random forest":
        return (RandomForestClassifier if clf else RandomForestRegressor)(
            n_estimators=trees, n_jobs=1, random_state=seed)
    if method == "extra trees":
        return (ExtraTreesClassifier if clf else ExtraTreesRegressor)(
            n_estimators=trees, n_jobs=1, random_state=seed)
    if method == "xgboost":
        xgb = _require("xgboost", "xgboost-cpu")
        return (xgb.XGBClassifier if clf else xgb.XGBRegressor)(
            n_estimators=trees, n_jobs=1, random_state=seed, tree_method="hist", verbosity=0)
    if method == "lightgbm":
        lgb = _require("lightgbm", "lightgbm")
        return (lgb.LGBMClassifier if clf else lgb.LGBMRegressor)(
            n_estimators=trees, n_jobs=1, random_state=seed, verbose=-1)
    if method == "logistic / ridge":
        return LogisticRegression(max_iter=5000) if clf else RidgeCV(alphas=np.logspace(-3, 3, 13))
    if method == "mlp":
        if clf:
            return MLPClassifier(max_iter=500, random_state=seed)
        return TransformedTargetRegressor(MLPRegressor(max_iter=500, random_state=seed),
                                          transformer=StandardScaler())
    raise ValueError(f"unknown method {method!r}; known: {[OURS, REF, *BASELINES]}")


def make_method(method: str, dataset: Dataset, protocol: Protocol, seed: int, ours: dict | None = None):
    """The pipeline ``preprocessing -> estimator`` of one method; ``ours`` overrides HyperTab's
    parameters (a variant of the development study).

    Example:
        >>> from benchmarks.tabular.datasets import load_dataset
        >>> make_method("extra trees", load_dataset("wine"), Protocol(), seed=0).steps[-1][0]
        'extratreesclassifier'
    """
    from sklearn.pipeline import make_pipeline
    return make_pipeline(preprocessor(dataset), _estimator(method, dataset.task, protocol, seed, ours or {}))


def folds(dataset: Dataset, protocol: Protocol) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n_splits``-fold CV repeated ``repeats`` times (stratified for classification).

    Example:
        >>> from benchmarks.tabular.datasets import load_dataset
        >>> len(folds(load_dataset("iris"), Protocol(n_splits=3, repeats=2)))
        6
    """
    from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold
    cv = RepeatedStratifiedKFold if dataset.task == "classification" else RepeatedKFold
    return list(cv(n_splits=protocol.n_splits, n_repeats=protocol.repeats,
                   random_state=protocol.seed).split(dataset.X, dataset.y))


def _scores(task: str, y_true, y_pred) -> dict:
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, r2_score
    if task == "classification":
        return {"accuracy": float(accuracy_score(y_true, y_pred)),
                "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred))}
    return {"r2": float(r2_score(y_true, y_pred))}


def run_fold(method: str, dataset: Dataset, protocol: Protocol, fold: int, train, test,
             ours: dict | None = None) -> dict:
    """Fit on ``train``, score on ``test``; returns the scores with ``fit_s`` and ``predict_s``."""
    from sklearn.exceptions import ConvergenceWarning
    model = make_method(method, dataset, protocol, protocol.seed + fold, ours)
    X, y = dataset.X, dataset.y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X.iloc[train], y[train])
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        pred = model.predict(X.iloc[test])
        predict_s = time.perf_counter() - start
    return {"fold": fold, **_scores(dataset.task, y[test], pred), "fit_s": fit_s, "predict_s": predict_s}
