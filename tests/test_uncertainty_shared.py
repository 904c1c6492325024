"""Shared-computation implicit ensembles and temperature scaling."""

import pytest
import torch
import torch.nn.functional as F

import hyperweights as hw
from hyperweights.uncertainty import SharedImplicitEnsemble, apply_temperature, fit_temperature, weight_norm_mlp

SIZES = (6, 16, 12, 3)


def small(factors="rank1", seed=0, spread=0.5):
    torch.manual_seed(seed)
    return SharedImplicitEnsemble(SIZES, factors=factors, noise_dim=4, code_dim=8, mixer_hidden=(16,),
                                  trunk_hidden=(16,), init_spread=spread)


def explicit_member(ens, weights, k, x):
    """Member ``k`` written out: ``W = diag(g) V/||V|| diag(r)`` per layer, plain ReLU MLP."""
    h = x
    layers = [m for m in ens.model.target if hasattr(m, "direction")]
    for i, layer in enumerate(layers):
        unit = layer.direction / layer.direction.norm(dim=1, keepdim=True)
        w = weights[f"{2 * i}.scale"][k][:, None] * unit
        if f"{2 * i}.in_scale" in weights:
            w = w * weights[f"{2 * i}.in_scale"][k][None, :]
        h = F.linear(h, w, weights[f"{2 * i}.bias"][k])
        if i < len(layers) - 1:
            h = torch.relu(h)
    return h


@pytest.mark.parametrize("factors", ["scale", "rank1"])
def test_batched_members_equal_loop_and_the_written_out_factorisation(factors):
    ens = small(factors)
    x = torch.randn(7, 6)
    noise = ens.sample_noise(5, torch.Generator().manual_seed(3))
    batched = ens.forward_noise(x, noise)
    loop = torch.cat([ens.forward_noise(x, noise[k:k + 1]) for k in range(5)])
    torch.testing.assert_close(batched, loop)
    weights = ens.weights_from_noise(noise)
    for k in range(5):
        torch.testing.assert_close(batched[k], explicit_member(ens, weights, k, x))
    # a member depends only on its own noise; members differ
    torch.testing.assert_close(ens.forward_noise(x, noise[[4, 1]]), batched[[4, 1]])
    assert not torch.allclose(batched[0], batched[1])
    # only the per-unit factors are generated; the first layer takes no input scale
    generated = set(weights)
    expected = {"0.scale", "0.bias", "2.scale", "2.bias", "4.scale", "4.bias"}
    if factors == "rank1":
        expected |= {"2.in_scale", "4.in_scale"}
    assert generated == expected


def test_init_spread_sets_how_far_apart_members_start():
    x = torch.randn(64, 6)
    spread = []
    for s in (0.0, 0.5):
        ens = small("scale", spread=s)
        scales = ens.weights_from_noise(ens.sample_noise(256, torch.Generator().manual_seed(0)))["2.scale"]
        spread.append((scales.std(0) / scales.mean(0).abs()).mean().item())
        assert ens.members(x, samples=4).shape == (4, 64, 3)
    assert spread[0] < 0.1 and 0.4 < spread[1] < 0.6


def test_seeded_members_are_reproducible_and_directions_are_shared_parameters():
    ens = small()
    x = torch.randn(4, 6)
    a, b, c = (ens.predict(x, samples=6, seed=s).member_logits for s in (11, 11, 12))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.allclose(a, c)
    ens.members(x, samples=3).sum().backward()
    target = ens.model.target
    assert target[0].direction.grad is not None and target[0].direction.grad.abs().sum() > 0
    assert target[0].scale.grad is None and target[2].in_scale.grad is None     # generated, unused
    assert all(p.grad is not None for p in ens.hypernetwork.parameters())


@pytest.mark.parametrize("factors", ["scale", "rank1"])
def test_saved_shared_ensemble_reloads_with_identical_members(tmp_path, factors):
    ens = small(factors)
    with torch.no_grad():                          # move away from the initialisation
        for p in ens.trainable_parameters():
            p.add_(0.1 * torch.randn_like(p))
    path = tmp_path / "shared.safetensors"
    hw.save(ens, path)
    x = torch.randn(5, 6)
    expected = ens.predict(x, samples=8, seed=4).member_logits
    again = hw.load(path)                                   # the variant and widths are read back
    assert isinstance(again, SharedImplicitEnsemble) and again.factors == factors and again.sizes == SIZES
    torch.testing.assert_close(again.predict(x, samples=8, seed=4).member_logits, expected, rtol=0, atol=0)
    with pytest.raises(ValueError, match="does not fit this target"):
        hw.load(path, weight_norm_mlp((6, 17, 12, 3), input_scales=factors == "rank1"))


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="factors must be one of"):
        SharedImplicitEnsemble(SIZES, factors="full")
    with pytest.raises(ValueError, match="init_spread"):
        SharedImplicitEnsemble(SIZES, init_spread=-1.0)
    ens = small()
    with pytest.raises(ValueError, match=r"shape \(B, 6\)"):
        ens.predict(torch.randn(3, 5))
    for bad in (0, -1):
        with pytest.raises(ValueError, match="samples must be >= 1"):
            ens.predict(torch.randn(3, 6), samples=bad)


def test_temperature_scaling_recovers_a_known_temperature_and_keeps_the_argmax():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 4, (4000,), generator=g)
    # with l = 2 e_y + N(0, I) and uniform classes, p(y | l) = softmax(2 l): calibrated logits
    calibrated = 2.0 * (2.0 * F.one_hot(y, 4) + torch.randn(4000, 4, generator=g))
    for true_t in (0.5, 3.0):                                  # under- and overconfident
        probs = torch.softmax(true_t * calibrated, -1)
        t = fit_temperature(probs, y)
        assert abs(t - true_t) / true_t < 0.1
        fixed = apply_temperature(probs, t)
        assert torch.equal(fixed.argmax(1), probs.argmax(1))
        assert F.nll_loss(fixed.log(), y) <= F.nll_loss(probs.log(), y) + 1e-6
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        fit_temperature(torch.rand(5), y[:5])
    with pytest.raises(ValueError, match="labels"):
        fit_temperature(torch.rand(5, 4).softmax(-1), y[:4])
    with pytest.raises(ValueError, match="positive"):
        apply_temperature(torch.rand(5, 4).softmax(-1), 0.0)
