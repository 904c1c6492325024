"""The optional output-space diversity term of implicit-ensemble training (``ood_diversity``)."""

import math

import pytest
import torch

from hyperweights.uncertainty import SharedImplicitEnsemble
from hyperweights.uncertainty.regularizers import member_disagreement, permuted_pixels
from hyperweights.uncertainty import UncertaintyConfig, fit

SIZES = (12, 16, 16, 3)


def small(seed=0):
    torch.manual_seed(seed)
    return SharedImplicitEnsemble(SIZES, factors="scale", noise_dim=4, code_dim=8, mixer_hidden=(16,),
                                  trunk_hidden=(), init_spread=0.1)


def data(n=256):
    """Class ``c`` lights features ``4c..4c+3``: spatial structure that shuffling destroys."""
    g = torch.Generator().manual_seed(5)
    y = torch.randint(0, 3, (n,), generator=g)
    x = 0.1 * torch.rand(n, SIZES[0], generator=g)
    x[torch.arange(n)[:, None], 4 * y[:, None] + torch.arange(4)] += 1.0
    return x, y


def trained(**kw):
    ens = small()
    x, y = data()
    torch.manual_seed(0)
    fit(ens, x, y, UncertaintyConfig(epochs=6, batch_size=32, lr=1e-2, progress=False, samples=4,
                                     regularizer="gan", head_lr_scale=1.0, **kw))
    return ens


def test_disagreement_is_finite_bounded_and_differentiable():
    logits = (torch.randn(4, 10, 5) * 30).requires_grad_()           # very confident members
    mi = member_disagreement(logits)
    assert torch.isfinite(mi) and 0 <= mi.item() <= math.log(4) + 1e-6
    (grad,) = torch.autograd.grad(mi, logits)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    same = torch.randn(1, 10, 5).expand(4, 10, 5)
    assert member_disagreement(same).abs().item() < 1e-6                # identical members: 0
    with pytest.raises(ValueError, match=r"\(K, B, C\)"):
        member_disagreement(torch.randn(10, 5))


def test_permuted_pixels_shuffles_each_row_independently():
    x = torch.randn(64, 30)
    xp = permuted_pixels(x, torch.Generator().manual_seed(1))
    torch.testing.assert_close(xp.sort(1).values, x.sort(1).values)     # same values per row
    order = (xp[:, :, None] == x[:, None, :]).float().argmax(-1)        # where each value came from
    assert len({tuple(o.tolist()) for o in order}) > 60                 # rows get their own permutation


def test_term_reaches_the_generator_through_the_shuffled_inputs():
    ens = small()
    x, _ = data(32)
    noise = ens.sample_noise(4, torch.Generator().manual_seed(0))
    mi = member_disagreement(ens.forward_noise(permuted_pixels(x, torch.Generator().manual_seed(0)), noise))
    head = ens.hypernetwork.head.out.weight
    (grad,) = torch.autograd.grad(mi, head)
    assert torch.isfinite(mi) and grad.abs().sum() > 0


def test_off_by_default_gives_identical_training_and_on_makes_members_disagree_off_data():
    default, off, on = trained(), trained(ood_diversity=0.0), trained(ood_diversity=5.0)
    for a, b in zip(default.trainable_parameters(), off.trainable_parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert any(not torch.equal(a, b) for a, b in zip(default.trainable_parameters(), on.trainable_parameters()))
    x, _ = data(512)
    shuffled = permuted_pixels(x, torch.Generator().manual_seed(9))
    noise = default.sample_noise(16, torch.Generator().manual_seed(3))
    with torch.no_grad():
        mi_off = member_disagreement(default.forward_noise(shuffled, noise))
        mi_on = member_disagreement(on.forward_noise(shuffled, noise))
    assert mi_on > 2 * mi_off                                          # measured: 0.45 vs 0.08


def test_negative_weight_is_refused():
    x, y = data(64)
    with pytest.raises(ValueError, match="ood_diversity must be a finite number >= 0"):
        fit(small(), x, y, UncertaintyConfig(epochs=1, batch_size=32, progress=False, ood_diversity=-1.0))
