"""Prediction API: scores, input and sample-count validation, metrics, regularizers."""

import math

import pytest
import torch

import hyperweights as hw

from hyperweights.uncertainty import (BayesianHypernetwork, DeepEnsemble, ImplicitEnsemble, LatentDiscriminator,
                                      MCDropout, NoiseMixer, SharedImplicitEnsemble, SingleNetwork,
                                      mmd_to_prior, uncertainty_scores)
from hyperweights.uncertainty.metrics import (classification_metrics, gaussian_noise, ood_auroc,
                                              predict_in_chunks, reliability_bins, rotate)
from hyperweights.uncertainty.predict import MAX_SAMPLES


def models():
    torch.manual_seed(0)
    return {
        "implicit": ImplicitEnsemble(hw.mlp((6, 8, 3)), noise_dim=4, code_dim=4, mixer_hidden=(8,),
                                     trunk_hidden=(8,), chunk_size=16, chunk_embedding=4),
        "bayesian": BayesianHypernetwork((6, 8, 3), couplings=1, hidden=4),
        "shared": SharedImplicitEnsemble((6, 8, 3), factors="rank1", noise_dim=4, code_dim=4,
                                         mixer_hidden=(8,), trunk_hidden=(8,)),
        "mc-dropout": MCDropout((6, 8, 3)),
        "deep-ensemble": DeepEnsemble((6, 8, 3), members=5),
        "single": SingleNetwork((6, 8, 3)),
    }


def test_scores_are_the_textbook_definitions():
    logits = torch.randn(7, 4, 5)
    p = uncertainty_scores(logits)
    probs = logits.softmax(-1)
    mean = probs.mean(0)
    entropy = -(mean * mean.log()).sum(-1)
    aleatoric = -(probs * probs.log()).sum(-1).mean(0)
    torch.testing.assert_close(p.probs, mean)
    torch.testing.assert_close(p.entropy, entropy)
    torch.testing.assert_close(p.mutual_information, entropy - aleatoric)
    torch.testing.assert_close(p.variance, probs.var(0, unbiased=False).mean(-1))
    assert torch.all(p.mutual_information >= -1e-6)
    uniform = uncertainty_scores(torch.zeros(3, 2, 5))
    torch.testing.assert_close(uniform.entropy, torch.full((2,), math.log(5)))
    with pytest.raises(ValueError, match=r"\(K, B, C\)"):
        uncertainty_scores(torch.zeros(2, 5))


@pytest.mark.parametrize("name", ["implicit", "bayesian", "shared", "mc-dropout", "deep-ensemble", "single"])
def test_predict_shapes_and_bad_inputs(name):
    model = models()[name]
    k = {"deep-ensemble": 5, "single": 1}.get(name, 9)
    p = model.predict(torch.randn(4, 6), samples=k, seed=0)
    assert p.member_probs.shape == (k, 4, 3) and p.probs.shape == (4, 3)
    torch.testing.assert_close(p.probs.sum(-1), torch.ones(4))
    for bad in (0, -3):
        with pytest.raises(ValueError, match="samples must be >= 1"):
            model.predict(torch.randn(4, 6), samples=bad)
    with pytest.raises(ValueError, match="exceeds the limit"):
        model.predict(torch.randn(4, 6), samples=MAX_SAMPLES + 1)
    with pytest.raises(TypeError, match="samples must be an int"):
        model.predict(torch.randn(4, 6), samples=2.0)
    with pytest.raises(TypeError, match="samples must be an int"):
        model.predict(torch.randn(4, 6), samples=True)
    with pytest.raises(ValueError, match=r"shape \(B, 6\)"):
        model.predict(torch.randn(4, 7))
    with pytest.raises(ValueError, match="flatten"):
        model.predict(torch.randn(4, 2, 3))
    with pytest.raises(ValueError, match=r"B >= 1"):
        model.predict(torch.randn(0, 6))
    with pytest.raises(TypeError, match="floating-point"):
        model.predict(torch.ones(4, 6, dtype=torch.long))
    with pytest.raises(TypeError, match="tensor"):
        model.predict([[0.0] * 6])


def test_fixed_ensembles_refuse_more_members_than_they_have():
    m = models()
    with pytest.raises(ValueError, match="5 fixed member"):
        m["deep-ensemble"].predict(torch.randn(2, 6), samples=6)
    with pytest.raises(ValueError, match="1 fixed member"):
        m["single"].predict(torch.randn(2, 6), samples=2)
    assert m["deep-ensemble"].predict(torch.randn(2, 6)).member_probs.shape[0] == 5


def test_predict_restores_training_mode_and_chunks_keep_members():
    model = models()["implicit"]
    model.train()
    x = torch.randn(10, 6)
    whole = model.predict(x, samples=4, seed=2)
    assert model.training
    chunked = predict_in_chunks(model, x, 4, seed=2, chunk=3)
    torch.testing.assert_close(chunked.member_logits, whole.member_logits)
    torch.testing.assert_close(chunked.entropy, whole.entropy)


def test_mixer_input_validation():
    mixer = NoiseMixer(noise_dim=3, code_dim=5, hidden=(4,))
    with pytest.raises(ValueError, match=r"\(K, 3\)"):
        mixer(torch.randn(2, 4))
    with pytest.raises(ValueError, match="positive int"):
        mixer.sample(0)
    with pytest.raises(TypeError, match="NoiseMixer takes"):
        mixer("two")
    with pytest.raises(ValueError, match="positive"):
        NoiseMixer(noise_dim=0)


def test_metrics():
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    labels = torch.tensor([0, 1, 1])
    m = classification_metrics(probs, labels)
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["nll"] == pytest.approx(-(math.log(0.9) + math.log(0.8) + math.log(0.4)) / 3, rel=1e-5)
    assert m["brier"] == pytest.approx((0.02 + 0.08 + 0.72) / 3, rel=1e-5)
    # confidences 0.9, 0.8, 0.6 in three bins with accuracies 1, 1, 0
    assert m["ece"] == pytest.approx((0.1 + 0.2 + 0.6) / 3, rel=1e-5)
    bins = reliability_bins(probs, labels, n_bins=10)
    assert sum(bins["count"]) == 3
    assert ood_auroc(torch.tensor([0.1, 0.2]), torch.tensor([0.3, 0.4])) == 1.0
    assert ood_auroc(torch.tensor([0.3, 0.4]), torch.tensor([0.1, 0.2])) == 0.0


def test_shifts():
    x = torch.rand(3, 784)
    torch.testing.assert_close(rotate(x, 0.0), x, atol=1e-5, rtol=0)
    img = torch.zeros(1, 784)
    img[0, 14 * 28 + 20] = 1.0
    assert rotate(img, 90.0).reshape(28, 28).argmax() != img.reshape(28, 28).argmax()
    noisy = gaussian_noise(x, 0.5, seed=1)
    assert noisy.min() >= 0 and noisy.max() <= 1
    torch.testing.assert_close(noisy, gaussian_noise(x, 0.5, seed=1))


def test_regularizers_prefer_spread_codes():
    torch.manual_seed(0)
    spread, collapsed = torch.randn(128, 8), 0.01 * torch.randn(128, 8)
    assert mmd_to_prior(spread) < mmd_to_prior(collapsed)
    d = LatentDiscriminator(8, hidden=(16,))
    opt = torch.optim.Adam(d.parameters(), lr=1e-2)
    for _ in range(100):                                    # the discriminator learns to spot collapse
        opt.zero_grad()
        d.loss(collapsed).backward()
        opt.step()
    assert d.mixer_loss(collapsed) > d.mixer_loss(spread)
