"""The reference ``hypertab`` package (0.6.2, PyPI), wrapped so that it can run next to ours.

Its side effects are contained here:

- it imports ``torchvision`` (for an MNIST helper it never uses on tabular data): a stub module is
  put in ``sys.modules`` for the import and removed afterwards;
- it calls ``torch.set_default_dtype(torch.float32)`` at import: the caller's default is restored;
- its default device is ``cuda:0``: we pass ``device="cpu"``;
- it draws masks from NumPy's and shuffles with torch's *global* RNGs: :class:`ReferenceHyperTab`
  seeds both for every fit and restores their previous state afterwards;
- it needs labels ``0 .. C-1`` and float32 arrays, and its ``fit`` returns None.

Install with ``pip install --no-deps hypertab==0.6.2``.
"""

from __future__ import annotations

import importlib
import sys
import types

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin

__all__ = ["import_reference", "ReferenceHyperTab"]


def import_reference():
    """Import ``hypertab`` without leaving a torchvision stub or a changed default dtype behind.

    Returns:
        the ``hypertab`` module.
    """
    saved_dtype = torch.get_default_dtype()
    stubs = {}
    if importlib.util.find_spec("torchvision") is None:
        tv = types.ModuleType("torchvision")
        for sub in ("transforms", "datasets"):
            mod = types.ModuleType(f"torchvision.{sub}")
            setattr(tv, sub, mod)
            stubs[f"torchvision.{sub}"] = mod
        stubs["torchvision"] = tv
    added = [name for name in stubs if name not in sys.modules]
    sys.modules.update({name: stubs[name] for name in added})
    try:
        return importlib.import_module("hypertab")
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            "the reference HyperTab package is not installed: pip install --no-deps hypertab==0.6.2"
        ) from err
    finally:
        for name in added:
            sys.modules.pop(name, None)
        torch.set_default_dtype(saved_dtype)


class ReferenceHyperTab(ClassifierMixin, BaseEstimator):
    """``hypertab.HyperTabClassifier`` as a well-behaved scikit-learn classifier (CPU, seeded,
    labels encoded, float32 input). Parameters keep the reference's names and defaults.
    """

    def __init__(self, subsample=0.5, hidden_dims=10, test_nodes=100, epochs=50, lr=3e-4,
                 batch_size=128, random_state=0):
        self.subsample = subsample
        self.hidden_dims = hidden_dims
        self.test_nodes = test_nodes
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.random_state = random_state

    def fit(self, X, y):
        hypertab = import_reference()
        self.classes_, encoded = np.unique(np.asarray(y), return_inverse=True)
        self.model_ = hypertab.HyperTabClassifier(
            subsample=self.subsample, device="cpu", hidden_dims=self.hidden_dims,
            test_nodes=self.test_nodes, epochs=self.epochs, lr=self.lr,
            batch_size=self.batch_size)
        np_state = np.random.get_state()
        try:
            with torch.random.fork_rng(devices=[]):
                np.random.seed(self.random_state)
                torch.manual_seed(self.random_state)
                self.model_.fit(np.asarray(X, dtype=np.float32), encoded.astype(np.int64))
        finally:
            np.random.set_state(np_state)
        return self

    def predict(self, X):
        return self.classes_[self.model_.predict(np.asarray(X, dtype=np.float32))]
