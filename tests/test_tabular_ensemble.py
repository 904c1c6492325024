"""The mask ensemble: masks, and batched-vs-loop equality of all K views."""

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

import hyperweights as hw
from hyperweights.tabular.ensemble import MaskEnsemble, views
from hyperweights.tabular.masks import feature_masks, subset_size


def _model(d=9, k=6, n_out=3, hidden=(5,), seed=0):
    index, mask = feature_masks(d, k, 0.5, generator=torch.Generator().manual_seed(seed))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MaskEnsemble(index, mask, n_out, hidden=hidden, hypernet_hidden=(16, 8))


def test_masks_have_distinct_sorted_features_and_match_index():
    index, mask = feature_masks(10, 50, 0.3, generator=torch.Generator().manual_seed(1))
    assert index.shape == (50, 3) and mask.shape == (50, 10)
    assert (index[:, 1:] > index[:, :-1]).all()                     # sorted, hence distinct
    assert torch.equal(mask.nonzero()[:, 1].view(50, 3), index)
    again, _ = feature_masks(10, 50, 0.3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(index, again)
    assert len({tuple(r) for r in index.tolist()}) > 1              # not all the same subset
    assert subset_size(1, 0.5) == 1 and subset_size(30, 0.5) == 15


@pytest.mark.parametrize("bad", [dict(subsample=0.0), dict(subsample=1.5), dict(n_masks=0)])
def test_mask_arguments_are_checked(bad):
    kwargs = dict(n_features=5, n_masks=3, subsample=0.5) | bad
    with pytest.raises(ValueError, match="subsample|n_masks"):
        feature_masks(**kwargs)


@pytest.mark.parametrize("hidden", [(5,), (4, 3)])
def test_batched_forward_equals_a_loop_over_masks(hidden):
    model = _model(hidden=hidden)
    x = torch.randn(11, 9)
    batched = model(x)                                              # (K, n_out, B)
    weights = model.generate()
    target = model.target()
    for k in range(model.n_masks):
        own = {name: w[k] for name, w in weights.items()}
        expected = functional_call(target, own, (x[:, model.index[k]],))
        torch.testing.assert_close(batched[k].T, expected, rtol=1e-5, atol=1e-6)


def test_views_gather_each_mask_columns():
    model = _model()
    x = torch.randn(4, 9)
    v = views(x, model.index)
    for k in range(model.n_masks):
        torch.testing.assert_close(v[k], x[:, model.index[k]].T)


def test_batched_loss_and_gradients_equal_the_loop():
    """One batched step = the mean of the K per-mask losses (what a loop would compute)."""
    model = _model()
    x, y = torch.randn(7, 9), torch.randint(0, 3, (7,))
    loss = F.cross_entropy(model(x), y.expand(model.n_masks, -1))
    grads = torch.autograd.grad(loss, list(model.parameters()))
    weights = model.generate()
    target = model.target()
    looped = sum(F.cross_entropy(functional_call(target, {n: w[k] for n, w in weights.items()},
                                                 (x[:, model.index[k]],)), y)
                 for k in range(model.n_masks)) / model.n_masks
    loop_grads = torch.autograd.grad(looped, list(model.parameters()))
    torch.testing.assert_close(loss, looped)
    for a, b in zip(grads, loop_grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_library_ensemble_forward_on_zero_padded_weights_agrees():
    """Scattering each view's first layer into a full-width (h, d) matrix, zero off the mask, turns
    the ensemble into the core's ensemble_forward over shared inputs: same outputs."""
    model = _model()
    x = torch.randn(5, 9)
    w = model.generate()
    k, h, s = w["0.weight"].shape
    full = torch.zeros(k, h, 9).scatter(2, model.index.unsqueeze(1).expand(k, h, s), w["0.weight"])
    target = torch.nn.Sequential(torch.nn.Linear(9, h), torch.nn.ReLU(), torch.nn.Linear(h, 3))
    out = hw.ensemble_forward(target, {**w, "0.weight": full}, x)     # (K, B, n_out)
    torch.testing.assert_close(out.transpose(1, 2), model(x), rtol=1e-5, atol=1e-6)


def test_ensemble_input_shapes_are_checked():
    with pytest.raises(ValueError, match="same K"):
        MaskEnsemble(torch.zeros(3, 2, dtype=torch.long), torch.zeros(4, 5), n_out=2)
