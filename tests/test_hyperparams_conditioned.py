"""Train once, sweep later: encodings, batching, range checks under vmap/compile, checkpoints."""

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import hyperweights as hw
from hyperweights.conditioning.hyperparams import encode
from hyperweights.hyperparams import (ConditionedModel, Hyperparameter, HyperparameterSpace, expand_groups,
                                      grouped_forward, l2_penalty)


def _space():
    return HyperparameterSpace([Hyperparameter("weight_decay", 1e-5, 1e-1, scale="log"),
                                Hyperparameter("smoothing", 0.0, 0.3)])


def _model(seed=0):
    torch.manual_seed(seed)
    target = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    return ConditionedModel(target, _space(), trunk=hw.MLP((16,)))


def test_cos_sin_encoding_has_constant_norm_and_z_1mz_constant_l1():
    z = torch.rand(50, 3)
    assert torch.allclose(encode(z, "cos|sin").norm(dim=1), torch.full((50,), math.sqrt(3)))
    assert torch.allclose(encode(z, "z|1-z").sum(dim=1), torch.full((50,), 3.0))
    enc = encode(torch.tensor([[0.0], [1.0]]), "cos|sin")
    torch.testing.assert_close(enc, torch.tensor([[1.0, 0.0], [0.0, 1.0]]), atol=1e-6, rtol=0)


def test_sweep_is_one_batched_call_matching_individual_calls():
    model = _model()
    x = torch.randn(5, 6)
    values = {"weight_decay": [1e-4, 1e-3, 1e-2], "smoothing": [0.0, 0.1, 0.2]}
    swept = model.sweep(x, values)
    assert swept.shape == (3, 5, 3)
    for k in range(3):
        one = model(x, {"weight_decay": values["weight_decay"][k], "smoothing": values["smoothing"][k]})
        torch.testing.assert_close(swept[k], one, atol=1e-5, rtol=1e-5)


def test_per_example_and_grouped_values_match_shared_calls():
    model = _model()
    x = torch.randn(6, 6)
    lam = model.space.sample(6, torch.Generator().manual_seed(1))
    per_example = model(x, lam)                                      # W == B (vmap)
    rows = torch.stack([model(x[i:i + 1], lam[i:i + 1])[0] for i in range(6)])
    torch.testing.assert_close(per_example, rows, atol=1e-5, rtol=1e-5)
    grouped = model(x, lam[[0, 3]])                                  # W = 2 groups of 3
    torch.testing.assert_close(grouped[:3], model(x[:3], lam[0:1]), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grouped[3:], model(x[3:], lam[3:4]), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="do not divide the batch"):
        model(x, lam[:4])


def test_out_of_range_values_raise_before_the_hypernetwork_runs():
    model = _model()
    with pytest.raises(ValueError, match="weight_decay must lie in the declared range"):
        model(torch.randn(2, 6), {"weight_decay": 1.0, "smoothing": 0.1})
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        model.forward_unit(torch.randn(2, 6), torch.tensor([[1.5, 0.0]]))


def test_range_check_does_not_break_vmap_or_compile():
    model = _model()
    x = torch.randn(4, 6)
    unit = torch.rand(3, 2)
    # vmap over hyperparameter values: the data-dependent check is skipped while tracing
    out = torch.func.vmap(lambda u: model.forward_unit(x, u.unsqueeze(0))[0])(unit)
    torch.testing.assert_close(out, model.model.ensemble(x, unit), atol=1e-5, rtol=1e-5)
    compiled = torch.compile(lambda u: model.forward_unit(x, u)[0], backend="eager", fullgraph=False)
    torch.testing.assert_close(compiled(unit[:1]), model.forward_unit(x, unit[:1])[0])


def test_step_loss_trains_and_depends_on_lambda():
    model = _model()
    x, y = torch.randn(16, 6), torch.randint(0, 3, (16,))

    def loss_fn(out, y, lam, weights):
        smooth = expand_groups(lam["smoothing"], out.shape[0])
        logp = F.log_softmax(out, dim=1)
        nll = -logp.gather(1, y[:, None]).squeeze(1)
        ce = ((1 - smooth) * nll - smooth * logp.mean(1)).mean()   # per-example label smoothing
        return ce + l2_penalty(weights, lam["weight_decay"], names=["0.weight", "2.weight"])

    opt = torch.optim.Adam(model.trainable_parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(30):
        loss = model.step_loss(x, y, loss_fn, groups="example", generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    # after training, heavier weight decay yields smaller generated weights
    w = model.weights({"weight_decay": [1e-5, 1e-1], "smoothing": [0.1, 0.1]})
    assert w["0.weight"][1].norm() < w["0.weight"][0].norm()
    with pytest.raises(ValueError, match="positive int or 'example'"):
        model.step_loss(x, y, loss_fn, groups=0)


def test_per_example_needs_per_example_hyperparameters():
    space = HyperparameterSpace([Hyperparameter("lr_like", 0.1, 1.0, per_example=False)])
    model = ConditionedModel(nn.Linear(3, 2), space)
    with pytest.raises(ValueError, match="per_example=False"):
        model.step_loss(torch.randn(4, 3), torch.zeros(4, dtype=torch.long), lambda *a: a[0].sum(),
                        groups="example")


def test_grouped_forward_extremes_use_the_core_batch_rule():
    net = nn.Linear(3, 2)
    x = torch.randn(4, 3)
    w = {"weight": torch.randn(4, 2, 3), "bias": torch.randn(4, 2)}
    torch.testing.assert_close(grouped_forward(net, w, x), hw.functional_forward(net, w, x))


def test_save_and_load_keep_declarations_and_outputs(tmp_path):
    model = _model()
    path = tmp_path / "cond.safetensors"
    model.save(path)
    fresh = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    again = ConditionedModel.load(path, fresh)
    assert again.space == model.space
    x = torch.randn(3, 6)
    values = {"weight_decay": 1e-3, "smoothing": 0.1}
    torch.testing.assert_close(again(x, values), model(x, values))
    with pytest.raises(ValueError, match="weight_decay must lie"):
        again(x, {"weight_decay": 2.0, "smoothing": 0.1})
    hw.save(model.model, tmp_path / "plain.safetensors")
    with pytest.raises(ValueError, match="holds a HyperModel, not a ConditionedModel"):
        ConditionedModel.load(tmp_path / "plain.safetensors", fresh)
    with pytest.raises(ValueError, match="does not fit this target"):
        ConditionedModel.load(path, nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3)))


def test_hypernetwork_must_match_the_space():
    target = nn.Linear(3, 2)
    hnet = hw.HyperNetwork(target, condition=hw.HyperparameterCondition(3))
    with pytest.raises(ValueError, match=r"HyperparameterCondition\(2\)"):
        ConditionedModel(target, _space(), hypernetwork=hnet)
    with pytest.raises(TypeError, match="HyperparameterSpace"):
        ConditionedModel(target, {"wd": (0, 1)})


def test_hw_save_and_load_a_conditioned_model_as_one_file(tmp_path):
    """The core protocol: one write, the space inside it, found again by its kind."""
    model = _model()
    path = tmp_path / "cond.safetensors"
    hw.save(model, path)
    assert [p.name for p in tmp_path.iterdir()] == ["cond.safetensors"]     # no temp file left behind
    again = hw.load(path, nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)))
    assert isinstance(again, ConditionedModel) and again.space == model.space
    x, values = torch.randn(3, 6), {"weight_decay": 1e-2, "smoothing": 0.2}
    torch.testing.assert_close(again(x, values), model(x, values))
    with pytest.raises(TypeError, match=r"hw.load\(path, target\)"):
        hw.load(path)
