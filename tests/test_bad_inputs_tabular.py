"""Bad input to HyperTab raises a clear error at the public boundary: one row per case
(callable, exception type, a phrase of the message that says what was expected or how to fix it)."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

import hyperweights as hw
from hyperweights.tabular import HyperTabClassifier, HyperTabRegressor, MaskEnsemble, feature_masks

sys.path.insert(0, str(Path(__file__).parent))
from bad_input_table import assert_clear_error, table  # noqa: E402

RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 4))
Y = np.arange(40) % 2
FAST = dict(n_masks=2, epochs=1)


def fitted():
    return HyperTabClassifier(**FAST, random_state=0).fit(X, Y)


def with_nan(a, value=np.nan):
    a = a.copy()
    a[3, 1] = value
    return a


def fit(**params):
    return lambda: HyperTabClassifier(**{**FAST, **params}).fit(X, Y)


def save_then_load_with_target(tmp_path):
    path = tmp_path / "clf.safetensors"
    hw.save(fitted(), path)
    return hw.load(path, torch.nn.Linear(4, 2))


CASES = [
    # (id, callable, exception, phrase)
    ("nan X at fit", lambda: HyperTabClassifier(**FAST).fit(with_nan(X), Y), ValueError, "impute missing values"),
    ("inf X at predict", lambda: fitted().predict(with_nan(X, np.inf)), ValueError, "NaN or infinity"),
    ("wrong n_features at predict", lambda: fitted().predict(X[:, :3]), ValueError, "expecting 4 features"),
    ("predict before fit", lambda: HyperTabClassifier().predict(X), NotFittedError, "not fitted yet"),
    ("single class", lambda: HyperTabClassifier(**FAST).fit(X, np.zeros(40)), ValueError, "at least 2 classes"),
    ("continuous labels", lambda: HyperTabClassifier(**FAST).fit(X, X[:, 0]), ValueError, "Unknown label type"),
    ("string column not encoded", lambda: HyperTabClassifier(**FAST).fit(np.array([["a"]] * 40), Y),
     ValueError, "could not convert string"),
    ("rows of X and y differ", lambda: HyperTabRegressor(**FAST).fit(X, Y[:30]), ValueError,
     "inconsistent numbers of samples"),
    ("no rows", lambda: HyperTabRegressor(**FAST).fit(X[:0], Y[:0]), ValueError, "minimum of 1 is required"),
    ("n_masks 0", fit(n_masks=0), ValueError, "n_masks must be a positive integer, got 0"),
    ("n_masks bool", fit(n_masks=True), ValueError, "n_masks must be a positive integer, got True"),
    ("epochs 0", fit(epochs=0), ValueError, "epochs must be a positive integer"),
    ("batch_size 0", fit(batch_size=0), ValueError, "batch_size must be a positive integer"),
    ("subsample 0", fit(subsample=0.0), ValueError, "subsample must be in (0, 1]"),
    ("subsample above 1", fit(subsample=1.5), ValueError, "subsample must be in (0, 1], got 1.5"),
    ("negative lr", fit(lr=-1e-3), ValueError, "lr must be a positive number"),
    ("negative weight decay", fit(weight_decay=-1.0), ValueError, "weight_decay must be >= 0"),
    ("empty hidden_dims", fit(hidden_dims=()), ValueError, "hidden_dims must be a positive int or a non-empty tuple"),
    ("zero hypernet width", fit(hypernet_hidden=(64, 0)), ValueError, "hypernet_hidden must be a positive int"),
    ("validation_fraction 1", fit(validation_fraction=1.0), ValueError, "validation_fraction must be in (0, 1)"),
    ("n_iter_no_change 0", fit(n_iter_no_change=0), ValueError, "n_iter_no_change must be a positive integer"),
    ("unknown schedule", fit(schedule="sequential"), ValueError, "schedule must be one of"),
    ("feature_scale 0", fit(feature_scale=0.0), ValueError, "feature_scale must be a positive number or None"),
    ("unknown device", fit(device="quantum"), ValueError, "device must name a torch device"),
    ("save before fit", lambda: hw.save(HyperTabRegressor(), "unused.safetensors"), NotFittedError, "not fitted"),
    ("masks of other K", lambda: MaskEnsemble(torch.zeros(3, 2, dtype=torch.int64), torch.zeros(4, 5), 2),
     ValueError, "same K"),
    ("mask subsample 0", lambda: feature_masks(5, 3, 0.0), ValueError, "subsample must be in (0, 1]"),
]


@table(CASES)
def test_bad_input_raises_a_clear_error(call, error, phrase):
    assert_clear_error(call, error, phrase)


def test_load_with_a_target_is_a_clear_error(tmp_path):
    with pytest.raises(TypeError, match="without a target"):
        save_then_load_with_target(tmp_path)
