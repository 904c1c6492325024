"""A synthetic Fashion-MNIST in the real IDX format, for the suite's fixture and the reader's tests.

Each class is a fixed random prototype plus noise, so the images are learnable and a smoke run's
"better than chance" check means something. Imported by ``conftest.py`` and the data tests with
``sys.path`` pointing at this folder (``tests/`` is not a package).
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

#: sizes of the synthetic Fashion-MNIST (the uncertainty smoke run uses 3,000 training images)
FIXTURE_TRAIN, FIXTURE_TEST = 3000, 500


def write_idx(path: Path, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write a uint8 ``array`` as an IDX file (gzipped when the name ends in ``.gz``).

    Written from the format's definition (magic ``00 00 08 ndim``, big-endian uint32 sizes, the
    bytes), independently of the reader under test.
    """
    array = np.ascontiguousarray(array, dtype=np.uint8)
    raw = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    compress = path.suffix == ".gz" if compress is None else compress
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def synthetic_fashion(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images ``(n, 28, 28) uint8`` of 10 classes (a prototype per class + noise), labels ``(n,)``."""
    prototypes = np.random.default_rng(12345).uniform(0, 255, size=(10, 28, 28))
    g = np.random.default_rng(seed)
    labels = g.integers(0, 10, size=n).astype(np.uint8)
    images = prototypes[labels] * 0.6 + g.uniform(0, 255 * 0.4, size=(n, 28, 28))
    return images.astype(np.uint8), labels


def write_fashion_folder(folder: Path, *, gzipped: bool, train: int = FIXTURE_TRAIN,
                         test: int = FIXTURE_TEST) -> Path:
    """The four Fashion-MNIST IDX files in ``folder`` (``.gz`` or plain)."""
    folder.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if gzipped else ""
    for part, n, seed in (("train", train, 0), ("t10k", test, 1)):
        images, labels = synthetic_fashion(n, seed)
        write_idx(folder / f"{part}-images-idx3-ubyte{ext}", images)
        write_idx(folder / f"{part}-labels-idx1-ubyte{ext}", labels)
    return folder
