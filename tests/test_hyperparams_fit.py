"""The application contract: fit / evaluate / checkpoints for conditioned models and STNs."""

import pytest
import torch
from torch import nn

import hyperweights as hw
from hyperweights.hyperparams import (ConditionedModel, Hyperparameter, HyperparameterSpace,
                                      HyperparamsConfig, StnMLP, StnModel, cutout, evaluate, fit,
                                      weight_decay_objective)
from hyperweights.training import TrainConfig


def _data(n=96, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    return x, (x[:, :3].argmax(1))


def _conditioned():
    torch.manual_seed(0)
    space = HyperparameterSpace([Hyperparameter("weight_decay", 1e-5, 1e-1, scale="log")])
    return ConditionedModel(hw.mlp((16, 12, 3)), space, trunk=hw.MLP((16,)))


def _stn():
    torch.manual_seed(0)
    space = HyperparameterSpace([Hyperparameter("dropout", 0.01, 0.9, scale="logit"),
                                 Hyperparameter("cutout", 0.0, 3.0)])
    return StnModel(StnMLP((16, 12, 3), 2, hidden_dropout=("dropout",)), space,
                    {"dropout": 0.3, "cutout": 1.0})


def _crash_after(calls, loss):
    """``loss``, raising on its ``calls + 1``-th call: a run killed midway."""
    count = [0]

    def wrapped(*args):
        count[0] += 1
        if count[0] > calls:
            raise KeyboardInterrupt
        return loss(*args)
    return wrapped


def _cfg(**kw):
    return HyperparamsConfig(**{"steps": 30, "batch_size": 16, "lr": 1e-2, "progress": False, **kw})


def test_fit_trains_a_conditioned_model_and_evaluate_sweeps():
    model, data = _conditioned(), _data()
    before = evaluate(model, data, {"weight_decay": 1e-4})["loss"]
    result = fit(model, data, _cfg(steps=60))
    assert result.steps == 60 and len(result.losses) == 60
    assert evaluate(model, data, {"weight_decay": 1e-4})["loss"] < before
    many = evaluate(model, data, {"weight_decay": [1e-5, 1e-3, 1e-1]})
    assert set(many) == {f"{k}_{i}" for k in ("loss", "accuracy") for i in range(3)}


def test_fit_resumes_a_conditioned_run_bit_identically(tmp_path):
    path = str(tmp_path / "run.safetensors")
    full = _conditioned()
    fit(full, _data(), _cfg(steps=20))
    with pytest.raises(KeyboardInterrupt):
        fit(_conditioned(), _data(), _cfg(steps=20, checkpoint_path=path, checkpoint_every=10),
            loss=_crash_after(15, weight_decay_objective))
    with pytest.raises(ValueError, match="other settings"):
        fit(_conditioned(), _data(), _cfg(steps=20, lr=3e-2, checkpoint_path=path, resume=True))
    cont = _conditioned()
    result = fit(cont, _data(), _cfg(steps=20, checkpoint_path=path, resume=True))
    assert result.steps == 20
    for a, b in zip(full.trainable_parameters(), cont.trainable_parameters()):
        assert torch.equal(a, b)


def test_fit_trains_an_stn_and_tunes_its_hyperparameters(tmp_path):
    model, data, val = _stn(), _data(), _data(seed=1)
    start = model.hparams.current()
    result = fit(model, data, _cfg(steps=40, warmup=10, hyper_lr=0.1), val_data=val,
                 augment=lambda x, v: cutout(x, v["cutout"]))
    # 30 tuned steps, one validation step after every second training step: 15 records + start
    assert len(result.extra["schedule"]) == 16 and result.extra["schedule"][0]["step"] == 0
    assert model.hparams.current() != start
    assert set(evaluate(model, val)) == {"loss", "accuracy"}
    path = tmp_path / "stn.safetensors"
    hw.save(model, path)
    again = hw.load(path, network=StnMLP((16, 12, 3), 2, hidden_dropout=("dropout",)))
    assert again.hparams.current() == pytest.approx(model.hparams.current())
    with pytest.raises(TypeError, match="pass a freshly built one"):
        hw.load(path)


def test_fit_resumes_an_stn_run_bit_identically(tmp_path):
    path = str(tmp_path / "stn_run.safetensors")
    data, val = _data(), _data(seed=1)
    full = _stn()
    fit(full, data, _cfg(steps=24, warmup=4, hyper_lr=0.1), val_data=val)
    with pytest.raises(KeyboardInterrupt):
        fit(_stn(), data, _cfg(steps=24, warmup=4, hyper_lr=0.1, checkpoint_path=path, checkpoint_every=12),
            val_data=val, loss=_crash_after(26, nn.functional.cross_entropy))   # after the step-12 checkpoint
    cont = _stn()
    fit(cont, data, _cfg(steps=24, warmup=4, hyper_lr=0.1, checkpoint_path=path, resume=True), val_data=val)
    for (name, a), b in zip(full.state_dict().items(), cont.state_dict().values()):
        assert torch.equal(a, b), name


def test_fit_needs_the_right_model_data_and_config():
    with pytest.raises(ValueError, match="val_data"):
        fit(_stn(), _data(), _cfg())
    with pytest.raises(TypeError, match="ConditionedModel or an StnModel"):
        fit(nn.Linear(3, 2), _data(), _cfg())
    with pytest.raises(TypeError, match="HyperparamsConfig"):
        fit(_conditioned(), _data(), TrainConfig())
    with pytest.raises(ValueError, match="must divide batch_size"):
        fit(_conditioned(), _data(), _cfg(groups=5))
    with pytest.raises(ValueError, match="steps must be a non-negative integer"):
        fit(_conditioned(), _data(), _cfg(steps=-1))
    with pytest.raises(TypeError, match="pair of tensors"):
        fit(_conditioned(), _data()[0], _cfg())
    with pytest.raises(ValueError, match="give the hyperparameter values"):
        evaluate(_conditioned(), _data())
