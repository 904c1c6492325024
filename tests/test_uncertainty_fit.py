"""``fit`` / ``evaluate`` / ``hw.save`` / ``hw.load`` for every model of the package."""

import pytest
import torch

import hyperweights as hw
from hyperweights.uncertainty import (BayesianHypernetwork, DeepEnsemble, ImplicitEnsemble, MCDropout,
                                      SharedImplicitEnsemble, SingleNetwork, UncertaintyConfig, evaluate, fit)
from hyperweights.uncertainty import training

SIZES = (6, 8, 3)


def build(name):
    torch.manual_seed(0)
    return {
        "single": lambda: SingleNetwork(SIZES),
        "mc-dropout": lambda: MCDropout(SIZES, 0.3),
        "deep-ensemble": lambda: DeepEnsemble(SIZES, members=3),
        "implicit": lambda: ImplicitEnsemble(hw.mlp(SIZES), noise_dim=4, code_dim=4, mixer_hidden=(8,),
                                             trunk_hidden=(8,), chunk_size=16, chunk_embedding=4),
        "shared": lambda: SharedImplicitEnsemble(SIZES, factors="rank1", noise_dim=4, code_dim=4, mixer_hidden=(8,),
                                                 trunk_hidden=(), init_spread=0.2),
        "bayesian": lambda: BayesianHypernetwork(SIZES, couplings=2, hidden=4),
    }[name]()


NAMES = ["single", "mc-dropout", "deep-ensemble", "implicit", "shared", "bayesian"]


def data(n=96):
    g = torch.Generator().manual_seed(1)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, SIZES[0], generator=g) + 2.0 * torch.nn.functional.one_hot(y, SIZES[0]).float()
    return x, y


def config(**kw):
    return UncertaintyConfig(**{"epochs": 2, "batch_size": 16, "lr": 1e-2, "progress": False, **kw})


def params(model):
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("name", NAMES)
def test_fit_trains_every_model_and_is_seeded(name):
    x, y = data()
    model = build(name)
    before = evaluate(model, x, y, samples=None if name in ("single", "deep-ensemble") else 4)["nll"]
    result = fit(model, x, y, config(epochs=4))
    assert result.steps == 4 * (96 // 16) == len(result.losses)
    after = evaluate(model, x, y, samples=None if name in ("single", "deep-ensemble") else 4)["nll"]
    assert after < before                                           # it learned something
    again = build(name)
    fit(again, x, y, config(epochs=4))
    assert all(torch.equal(a, b) for a, b in zip(params(model), params(again)))   # same seed, same weights


@pytest.mark.parametrize("name", ["deep-ensemble", "implicit", "bayesian"])
def test_an_interrupted_run_resumed_from_its_checkpoint_ends_bit_identical(name, tmp_path, monkeypatch):
    x, y = data()
    whole = build(name)
    fit(whole, x, y, config())
    path = str(tmp_path / "run.safetensors")
    interrupted = build(name)
    calls = training._EpochBatches.__call__

    def crash_at_step_11(self, i):      # after the checkpoint of step 10, in the second epoch
        if i == 11:
            raise KeyboardInterrupt
        return calls(self, i)

    monkeypatch.setattr(training._EpochBatches, "__call__", crash_at_step_11)
    with pytest.raises(KeyboardInterrupt):
        fit(interrupted, x, y, config(checkpoint_every=5, checkpoint_path=path))
    monkeypatch.setattr(training._EpochBatches, "__call__", calls)
    resumed = build(name)              # as a fresh process would: the model as built, then the checkpoint
    torch.manual_seed(123)             # whatever the global RNG holds now, the checkpoint restores it
    result = fit(resumed, x, y, config(checkpoint_every=5, checkpoint_path=path, resume=True))
    assert result.steps == 12 and len(result.losses) == 12
    # the GAN run's discriminator and its optimizer state are in the checkpoint too
    assert all(torch.equal(a, b) for a, b in zip(params(whole), params(resumed)))


def test_gan_fit_returns_the_discriminator_and_other_regularizers_none():
    x, y = data()
    assert "discriminator" in fit(build("implicit"), x, y, config(epochs=1)).extra
    assert fit(build("implicit"), x, y, config(epochs=1, regularizer="mmd")).extra == {}


def test_head_lr_scale_sets_the_head_group_only():
    x, y = data()
    model = build("implicit")
    goal = training.objective(model, x, y, config(head_lr_scale=0.1))
    assert goal.groups[0]["lr"] == pytest.approx(1e-3) and "lr" not in goal.groups[1]
    assert {id(p) for p in goal.groups[0]["params"]} == {id(p) for p in model.hypernetwork.head.parameters()}


@pytest.mark.parametrize("name", NAMES)
def test_hw_save_and_load_round_trip_every_model(name, tmp_path):
    model = build(name)
    x, y = data()
    fit(model, x, y, config(epochs=1))
    path = tmp_path / f"{name}.safetensors"
    hw.save(model, path)
    again = hw.load(path)
    assert type(again) is type(model)
    k = None if name in ("single", "deep-ensemble") else 5
    torch.testing.assert_close(again.predict(x, samples=k, seed=3).member_logits,
                               model.predict(x, samples=k, seed=3).member_logits, rtol=0, atol=0)


def test_evaluate_reports_calibration_and_ood_detection():
    x, y = data()
    model = build("mc-dropout")
    fit(model, x, y, config(epochs=6))
    m = evaluate(model, x, y, samples=16, ood=torch.randn(50, SIZES[0]) * 6)
    assert m["accuracy"] > 0.6 and 0 <= m["ece"] <= 1 and 0 <= m["auroc_ood"] <= 1
    hot = evaluate(model, x, y, samples=16, temperature=3.0)        # a high temperature: less confident
    assert hot["accuracy"] == m["accuracy"] and hot["entropy"] == m["entropy"]
    assert hot["nll"] != m["nll"]
