"""hw.save / hw.load of fitted HyperTab estimators and of their MaskEnsemble (one file, no pickle)."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_diabetes, load_iris
from sklearn.exceptions import NotFittedError

import hyperweights as hw
from hyperweights.tabular import HyperTabClassifier, HyperTabRegressor, MaskEnsemble


@pytest.fixture
def path(tmp_path):
    return tmp_path / "model.safetensors"


def test_classifier_round_trip_keeps_predictions_labels_and_names(path):
    X, y = load_iris(return_X_y=True, as_frame=True)
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = HyperTabClassifier(n_masks=4, epochs=3, hypernet_hidden=(16, 8), random_state=0).fit(X, labels)
    hw.save(clf, path)
    again = hw.load(path)
    assert type(again) is HyperTabClassifier and again.get_params() == clf.get_params()
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(again.predict(X.iloc[:5]), clf.predict(X.iloc[:5]))
    assert list(again.feature_names_in_) == list(X.columns) and again.classes_.dtype == clf.classes_.dtype
    assert again.loss_curve_ == pytest.approx(clf.loss_curve_) and again.n_params_ == clf.n_params_
    with pytest.raises(ValueError, match="feature names"):
        again.predict(X.iloc[:, :3])


def test_regressor_round_trip_and_parameter_override(path):
    X, y = load_diabetes(return_X_y=True)
    reg = HyperTabRegressor(n_masks=4, epochs=3, hidden_dims=(5, 3), random_state=0).fit(X, y)
    hw.save(reg, path)
    again = hw.load(path, verbose=True)
    np.testing.assert_array_equal(again.predict(X), reg.predict(X))
    assert again.hidden_dims == (5, 3) and again.verbose is True and again.y_mean_ == reg.y_mean_


def test_the_module_round_trips_too(path):
    X, y = load_iris(return_X_y=True)
    model = HyperTabClassifier(n_masks=4, epochs=2, random_state=0).fit(X, y).model_
    hw.save(model, path)
    again = hw.load(path)
    assert isinstance(again, MaskEnsemble) and torch.equal(again.index, model.index)
    x = torch.randn(3, 4)
    assert torch.equal(again(x), model(x))


def test_unfitted_estimator_and_a_target_are_clear_errors(path):
    with pytest.raises(NotFittedError):
        hw.save(HyperTabClassifier(), path)
    X, y = load_iris(return_X_y=True)
    hw.save(HyperTabClassifier(n_masks=2, epochs=1, random_state=0).fit(X, y), path)
    with pytest.raises(TypeError, match="without a target"):
        hw.load(path, torch.nn.Linear(2, 2))


def test_evaluate_scores_classifiers_and_regressors():
    from hyperweights.tabular import evaluate
    X, y = load_iris(return_X_y=True)
    clf = HyperTabClassifier(n_masks=4, epochs=5, random_state=0).fit(X, y)
    scores = evaluate(clf, X, y)
    assert scores["accuracy"] == pytest.approx(clf.score(X, y)) and scores["log_loss"] > 0
    X, y = load_diabetes(return_X_y=True)
    reg = HyperTabRegressor(n_masks=4, epochs=5, random_state=0).fit(X, y)
    scores = evaluate(reg, X, y)
    assert scores["r2"] == pytest.approx(reg.score(X, y)) and scores["rmse"] > 0
