"""Datasets that need no download, as float32/int64 tensors, with clear errors when missing.

All loaders return a :class:`Split` (``x_train, y_train, x_test, y_test``); images are flattened to
``(N, 784)`` in [0, 1]. Loaders take ``seed`` where they shuffle and ``data_dir`` where files live on
disk.
"""

from .loaders import Split as Split
from .loaders import load_digits as load_digits
from .loaders import load_fashion_mnist as load_fashion_mnist
from .loaders import load_mnist5k as load_mnist5k
from .loaders import load_dataset as load_dataset
from .loaders import DATASETS as DATASETS

__all__ = ["DATASETS", "Split", "load_dataset", "load_digits", "load_fashion_mnist", "load_mnist5k"]
