"""HyperTabClassifier / HyperTabRegressor as scikit-learn estimators."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.compose import make_column_transformer
from sklearn.datasets import load_diabetes, load_iris, load_wine
from sklearn.impute import SimpleImputer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from hyperweights.tabular import HyperTabClassifier, HyperTabRegressor

FAST = dict(n_masks=8, epochs=20, hypernet_hidden=(32, 16))
# check_estimator fits ~100 models: a small, quickly converging configuration (a regressor must
# reach R^2 > 0.5 and a classifier 83% accuracy on scikit-learn's toy problems).
CHECK = dict(n_masks=8, epochs=30, lr=1e-2, hypernet_hidden=(32, 16))


@pytest.mark.parametrize("est", [HyperTabClassifier(**CHECK, random_state=0),
                                 HyperTabRegressor(**CHECK, random_state=0)],
                         ids=["classifier", "regressor"])
def test_check_estimator(est):
    # Raises on the first failing check; no check is expected to fail.
    results = check_estimator(est, on_skip=None)
    failed = [r["check_name"] for r in results if r["status"] == "failed"]
    assert not failed and len(results) > 40


def test_same_random_state_same_model_other_state_other_model():
    X, y = load_wine(return_X_y=True)
    a = HyperTabClassifier(**FAST, random_state=3).fit(X, y).predict_proba(X)
    b = HyperTabClassifier(**FAST, random_state=3).fit(X, y).predict_proba(X)
    c = HyperTabClassifier(**FAST, random_state=4).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    np.testing.assert_allclose(a.sum(1), 1.0)


def test_fit_leaves_global_torch_state_alone():
    X, y = load_iris(return_X_y=True)
    before_rng = torch.get_rng_state()
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)          # a user's global choice must survive fit
    try:
        clf = HyperTabClassifier(**FAST, random_state=0).fit(X, y)
        assert torch.get_default_dtype() == torch.float64
        assert clf.model_.mask.dtype == torch.float32
        assert all(p.dtype == torch.float32 for p in clf.model_.parameters())
        assert clf.score(X, y) > 0.8
    finally:
        torch.set_default_dtype(old)
    assert torch.equal(before_rng, torch.get_rng_state())


def test_importing_hyperweights_tabular_changes_nothing_global():
    code = ("import torch; torch.set_default_dtype(torch.float64); import sys; "
            "import hyperweights.tabular; assert torch.get_default_dtype() == torch.float64; "
            "assert 'torchvision' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_dataframe_input_and_feature_names():
    data = load_wine(as_frame=True)
    X, y = data.data, data.target
    clf = HyperTabClassifier(**FAST, random_state=0).fit(X, y)
    assert list(clf.feature_names_in_) == list(X.columns)
    np.testing.assert_allclose(clf.predict_proba(X), HyperTabClassifier(**FAST, random_state=0)
                               .fit(X.to_numpy(), y.to_numpy()).predict_proba(X.to_numpy()))
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(X[X.columns[::-1]])


def test_string_labels_and_categorical_columns_through_a_pipeline():
    rng = np.random.default_rng(0)
    n = 120
    colour = rng.choice(["red", "green", "blue"], n)
    size = rng.normal(size=n)
    frame = pd.DataFrame({"colour": colour, "size": size})
    y = np.where((colour == "red") ^ (size > 0), "yes", "no")
    with pytest.raises(ValueError, match="could not convert|string"):
        HyperTabClassifier(**FAST).fit(frame, y)     # categorical columns need encoding first
    pipe = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["colour"]), remainder=StandardScaler()),
        HyperTabClassifier(n_masks=16, epochs=60, subsample=0.75, random_state=0))
    pipe.fit(frame, y)
    assert set(pipe.predict(frame)) <= {"yes", "no"}
    assert pipe.score(frame, y) > 0.8


def test_missing_values_raise_a_clear_error_and_an_imputer_fixes_it():
    X, y = load_iris(return_X_y=True)
    X = X.copy()
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN.*SimpleImputer"):
        HyperTabClassifier(**FAST).fit(X, y)
    fitted = HyperTabClassifier(**FAST, random_state=0).fit(load_iris().data, y)
    with pytest.raises(ValueError, match="NaN"):
        fitted.predict(X)
    make_pipeline(SimpleImputer(), HyperTabClassifier(**FAST, random_state=0)).fit(X, y)


@pytest.mark.parametrize("bad, match", [(dict(n_masks=0), "n_masks"), (dict(subsample=0), "subsample"),
                                        (dict(hidden_dims=(0,)), "hidden_dims"), (dict(lr=-1.0), "lr")])
def test_bad_parameters_are_clear_errors(bad, match):
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match=match):
        HyperTabClassifier(**{**FAST, **bad}).fit(X, y)


def test_one_class_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 2 classes"):
        HyperTabClassifier(**FAST).fit(np.random.rand(10, 3), np.zeros(10))


def test_grid_search_over_hypertab_parameters():
    X, y = load_iris(return_X_y=True)
    grid = GridSearchCV(HyperTabClassifier(**FAST, random_state=0),
                        {"subsample": [0.5, 1.0]}, cv=2).fit(X, y)
    assert grid.best_params_["subsample"] in (0.5, 1.0)
    assert grid.best_score_ > 0.7


def test_early_stopping_keeps_the_best_epoch_and_stops():
    X, y = load_iris(return_X_y=True)
    clf = HyperTabClassifier(n_masks=8, epochs=400, lr=1e-2, early_stopping=True,
                             n_iter_no_change=5, validation_fraction=0.2, random_state=0).fit(X, y)
    assert clf.n_iter_ < 400
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.score(X, y) > 0.85


def test_regressor_learns_diabetes_and_scales_targets():
    X, y = load_diabetes(return_X_y=True)
    reg = HyperTabRegressor(n_masks=8, epochs=30, random_state=0).fit(X[:300], y[:300])
    assert reg.score(X[300:], y[300:]) > 0.3
    assert abs(reg.predict(X).mean() - y.mean()) < 0.2 * y.std()


def test_reference_import_contains_its_side_effects():
    pytest.importorskip("sklearn")
    code = ("import importlib.util, sys, torch; torch.set_default_dtype(torch.float64)\n"
            "if importlib.util.find_spec('hypertab') is None: sys.exit(0)\n"
            "from benchmarks.peers.hypertab import import_reference\n"
            "m = import_reference(); assert hasattr(m, 'HyperTabClassifier')\n"
            "assert torch.get_default_dtype() == torch.float64, torch.get_default_dtype()\n"
            "assert 'torchvision' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
