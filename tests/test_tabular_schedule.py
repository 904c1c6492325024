"""The reference package's optimisation (``schedule="per_view"``) next to ours (``"joint"``)."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_wine

from hyperweights.tabular import HyperTabClassifier, MaskEnsemble, feature_masks
from hyperweights.tabular.ensemble import views

X, Y = load_wine(return_X_y=True)


def test_forward_view_is_one_slice_of_the_batched_forward():
    index, mask = feature_masks(6, n_masks=5, subsample=0.5, generator=torch.Generator().manual_seed(0))
    model = MaskEnsemble(index, mask, n_out=3)
    x = torch.randn(9, 6)
    for k in (0, 3):
        assert torch.allclose(model.forward_view(views(x, index), k), model(x)[k:k + 1], atol=1e-6)


def test_per_view_takes_one_step_per_view_and_minibatch():
    kw = dict(epochs=2, batch_size=64, random_state=0)        # 178 rows: 3 minibatches per epoch
    joint = HyperTabClassifier(n_masks=4, **kw).fit(X, Y)
    per_view = HyperTabClassifier(n_masks=4, schedule="per_view", **kw).fit(X, Y)
    assert joint.n_steps_ == 2 * 3 and per_view.n_steps_ == 2 * 3 * 4
    assert not np.allclose(joint.predict_proba(X), per_view.predict_proba(X))
    assert len(per_view.loss_curve_) == 2 and per_view.loss_curve_[1] < per_view.loss_curve_[0]


def test_with_one_mask_both_schedules_are_the_same_algorithm():
    a = HyperTabClassifier(n_masks=1, epochs=3, random_state=0).fit(X, Y)
    b = HyperTabClassifier(n_masks=1, epochs=3, random_state=0, schedule="per_view").fit(X, Y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_per_view_learns_wine_at_the_reference_learning_rate():
    clf = HyperTabClassifier(n_masks=4, epochs=10, lr=3e-4, schedule="per_view", random_state=0)
    assert clf.fit(X, Y).score(X, Y) > 0.9


def test_unknown_schedule_names_both_choices():
    with pytest.raises(ValueError, match="'joint'.*'per_view'"):
        HyperTabClassifier(schedule="sequential").fit(X, Y)
