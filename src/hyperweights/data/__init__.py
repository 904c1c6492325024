"""Datasets that need no download, as float32/int64 tensors, with clear errors when missing.

All loaders return a :class:`Split` (``x_train, y_train, x_test, y_test``); images are flattened to
``(N, 784)`` in [0, 1]. Loaders take ``seed`` where they shuffle and ``data_dir`` where files live on
disk. Fashion-MNIST is read from ``data_dir``, else ``$HYPERWEIGHTS_DATA/fashion-mnist``, else the
folder of Debian's ``dataset-fashion-mnist`` package (``make data`` installs it).
"""

from .idx import read_idx as read_idx
from .loaders import DATA_ENV as DATA_ENV
from .loaders import DATASETS as DATASETS
from .loaders import Split as Split
from .loaders import fashion_mnist_dirs as fashion_mnist_dirs
from .loaders import load_dataset as load_dataset
from .loaders import load_digits as load_digits
from .loaders import load_fashion_mnist as load_fashion_mnist
from .loaders import load_mnist5k as load_mnist5k

__all__ = ["DATASETS", "DATA_ENV", "Split", "fashion_mnist_dirs", "load_dataset", "load_digits",
           "load_fashion_mnist", "load_mnist5k", "read_idx"]
