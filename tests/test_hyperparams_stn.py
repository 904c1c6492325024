"""Self-Tuning Networks: gated layers, perturbation, the alternating optimizer, regularizers."""

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from hyperweights.hyperparams import (DropoutMLP, Hyperparameter, HyperparameterSpace, ModelStack, StnConv2d,
                                      StnConvNet, StnHyperparameters, StnLinear, StnMLP, StnTrainer, cutout,
                                      dropout)


def _space():
    return HyperparameterSpace([Hyperparameter("dropout_in", 0.01, 0.9, scale="logit"),
                                Hyperparameter("dropout_h", 0.01, 0.9, scale="logit")])


def test_linear_with_closed_gate_equals_an_ordinary_linear():
    torch.manual_seed(0)
    layer = StnLinear(5, 4, num_hparams=3)
    layer.close_gate()
    ref = nn.Linear(5, 4)
    ref.load_state_dict(layer.elem.state_dict())
    x, h = torch.randn(7, 5), torch.randn(7, 3)
    torch.testing.assert_close(layer(x, h), ref(x))
    layer.gate.weight.data.normal_()                 # an open gate changes the output per example
    assert not torch.allclose(layer(x, h), ref(x))


def test_conv_with_closed_gate_equals_an_ordinary_conv():
    torch.manual_seed(0)
    layer = StnConv2d(2, 3, 3, num_hparams=2, stride=2, padding=1)
    layer.close_gate()
    ref = nn.Conv2d(2, 3, 3, stride=2, padding=1)
    ref.load_state_dict(layer.elem.state_dict())
    x = torch.randn(4, 2, 9, 9)
    torch.testing.assert_close(layer(x, torch.randn(4, 2)), ref(x))


def test_gated_layer_matches_its_closed_form():
    torch.manual_seed(0)
    layer = StnLinear(5, 4, num_hparams=2)
    x, h = torch.randn(3, 5), torch.randn(3, 2)
    e, f = (h @ layer.gate.weight.T).chunk(2, dim=1)
    expected = torch.stack([
        x[i] @ (layer.scale * layer.elem.weight + e[i, :, None] * layer.hyper_weight).T
        + layer.scale * layer.elem.bias + f[i] * layer.hyper_bias for i in range(3)])
    torch.testing.assert_close(layer(x, h), expected, atol=1e-5, rtol=1e-5)
    # a shared (h,) vector equals the same row repeated
    torch.testing.assert_close(layer(x, h[0]), layer(x, h[0].expand(3, 2)))
    with pytest.raises(ValueError, match=r"shape \(B, 2\)"):
        layer(x, torch.randn(2, 2))


def test_hyperparameters_init_perturbation_and_entropy():
    hp = StnHyperparameters(_space(), {"dropout_in": 0.05}, init_scale=0.5)
    assert abs(hp.current()["dropout_in"] - 0.05) < 1e-4
    torch.testing.assert_close(hp.scale, torch.full((2,), 0.5))
    t = hp.perturb(4000, torch.Generator().manual_seed(0))
    assert t.shape == (4000, 2)
    assert abs((t - hp.raw).std(0).mean().item() - 0.5) < 0.03
    torch.testing.assert_close(hp.entropy(), torch.tensor(2 * math.log(0.5 * math.sqrt(2 * math.pi * math.e))))
    shared = hp.perturb(5, torch.Generator().manual_seed(0), per_example=False)
    assert torch.equal(shared, shared[:1].expand(5, -1)) and not torch.equal(shared[0], hp.raw)
    with pytest.raises(ValueError, match="declared range"):
        StnHyperparameters(_space(), {"dropout_in": 0.99})
    with pytest.raises(KeyError, match="undeclared"):
        StnHyperparameters(_space(), {"lr": 0.1})


def _trainer(tune_scales=True):
    torch.manual_seed(0)
    model = StnMLP((6, 8, 3), num_hparams=2, input_dropout="dropout_in", hidden_dropout=("dropout_h",))
    hp = StnHyperparameters(_space(), {"dropout_in": 0.2, "dropout_h": 0.2})
    return model, hp, StnTrainer(model, hp, tune_scales=tune_scales, generator=torch.Generator().manual_seed(0))


def _snapshot(params):
    return [p.detach().clone() for p in params]


def test_train_step_updates_only_the_best_response_parameters():
    model, hp, trainer = _trainer()
    phi, hyper = _snapshot(model.parameters()), _snapshot(hp.parameters())
    trainer.train_step(torch.randn(16, 6), torch.randint(0, 3, (16,)))
    assert all(not torch.equal(a, b) for a, b in zip(phi, model.parameters()) if b.grad is not None)
    assert any(not torch.equal(a, b) for a, b in zip(phi, model.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(hyper, hp.parameters()))
    assert hp.raw.grad is None and hp.raw_scale.grad is None


def test_val_step_updates_only_the_hyperparameters_and_scales():
    model, hp, trainer = _trainer()
    phi, hyper = _snapshot(model.parameters()), _snapshot(hp.parameters())
    trainer.val_step(torch.randn(16, 6), torch.randint(0, 3, (16,)))
    assert all(torch.equal(a, b) for a, b in zip(phi, model.parameters()))
    assert not torch.equal(hyper[0], hp.raw) and not torch.equal(hyper[1], hp.raw_scale)
    assert model.training                              # the eval-mode switch is undone
    assert trainer.schedule[-1]["step"] == 0 and "scale_dropout_h" in trainer.schedule[-1]


def test_without_tuned_scales_sigma_stays_fixed():
    model, hp, trainer = _trainer(tune_scales=False)
    before = hp.raw_scale.detach().clone()
    trainer.val_step(torch.randn(16, 6), torch.randint(0, 3, (16,)))
    assert torch.equal(before, hp.raw_scale)


def test_alternation_counts_and_validation_reaches_lambda_through_the_gates():
    model, hp, trainer = _trainer()
    x, y = torch.randn(64, 6), torch.randint(0, 3, (64,))
    batches = iter(lambda: (x, y), None)
    for _ in range(5):
        trainer.step(batches, batches)
    assert trainer.step_count == 10 and len(trainer.schedule) == 5
    # closing every gate cuts the validation loss off from lambda: its gradient is zero
    for layer in model.layers:
        layer.close_gate()
    model.eval()
    t = hp.raw.unsqueeze(0).expand(8, -1)
    loss = F.cross_entropy(model(x[:8], t, hp.values(t)), y[:8])
    (grad,) = torch.autograd.grad(loss, hp.raw, allow_unused=True, materialize_grads=True)
    assert torch.count_nonzero(grad) == 0


def test_trainer_rejects_models_holding_the_hyperparameters():
    model, hp, _ = _trainer()
    model.hp = hp
    with pytest.raises(ValueError, match="must not hold"):
        StnTrainer(model, hp)


def test_conv_stn_network_trains():
    torch.manual_seed(0)
    space = HyperparameterSpace([Hyperparameter("d", 0.01, 0.9, scale="logit")])
    net = StnConvNet(num_hparams=1, channels=(4, 4), conv_dropout=("d", "d"))
    hp = StnHyperparameters(space, {"d": 0.1})
    trainer = StnTrainer(net, hp, lr=3e-3)
    x, y = torch.rand(32, 784), torch.randint(0, 10, (32,))
    first = trainer.train_step(x, y)
    for _ in range(15):
        last = trainer.train_step(x, y)
    trainer.val_step(x, y)
    assert last < first


def test_per_example_dropout_and_cutout():
    torch.manual_seed(0)
    x = torch.ones(3, 4000)
    y = dropout(x, torch.tensor([0.0, 0.3, 0.8]))
    assert torch.equal(y[0], x[0])
    assert abs((y[1] == 0).float().mean().item() - 0.3) < 0.03
    assert abs(y[2].mean().item() - 1.0) < 0.1                       # inverted scaling keeps the mean
    assert torch.equal(dropout(x, torch.tensor([0.5, 0.5, 0.5]), training=False), x)
    imgs = torch.ones(4, 784)
    out = cutout(imgs, torch.tensor([0.0, 6.0, 6.0, 28.0]))
    zeros = (out == 0).sum(1)
    assert zeros[0] == 0 and 0 < zeros[1] <= 36 and zeros[3] > 0
    with pytest.raises(ValueError, match=r"shape \(B,\)"):
        dropout(x, torch.tensor([0.1, 0.2]))


def test_model_stack_members_are_independent_and_batched():
    torch.manual_seed(0)
    stack = ModelStack(lambda: DropoutMLP((6, 5, 3)), k=3)
    stack.eval()
    x = torch.randn(4, 6)
    out = stack(x, torch.zeros(3, 4, 2))
    assert out.shape == (3, 4, 3)
    params = stack.member_params()
    ref = DropoutMLP((6, 5, 3)).eval()
    ref.load_state_dict({n: p[1] for n, p in params.items()})
    torch.testing.assert_close(out[1], ref(x, torch.zeros(4, 2)))
    loss = out[0].sum()
    loss.backward()
    grads = stack.params["layers__0__weight"].grad
    assert grads[0].abs().sum() > 0 and grads[1].abs().sum() == 0     # member 0 only


@pytest.mark.parametrize("length", [1, 2, 3, 4, 5, 6, 4.7])
def test_cutout_cuts_exactly_the_reference_square(length):
    """The reference's Cutout zeroes rows int(clip(cy - L/2)) .. int(clip(cy + L/2)) (and the same
    columns): L x L pixels away from the border, clipped at it. Fractional lengths are floored."""
    b, h = 64, 16
    out = cutout(torch.ones(b, 1, h, h), torch.full((b,), float(length)),
                 generator=torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(0)                      # the same centres as cutout draws
    cy = torch.randint(0, h, (b, 1, 1), generator=gen).flatten().tolist()
    cx = torch.randint(0, h, (b, 1, 1), generator=gen).flatten().tolist()
    side = int(length)
    for i in range(b):
        expected = torch.ones(h, h)
        y1, y2 = (int(min(max(cy[i] + s * side / 2, 0), h)) for s in (-1, 1))
        x1, x2 = (int(min(max(cx[i] + s * side / 2, 0), h)) for s in (-1, 1))
        expected[y1:y2, x1:x2] = 0
        assert torch.equal(out[i, 0], expected), (i, cy[i], cx[i])
    interior = [i for i in range(b) if side <= cy[i] < h - side and side <= cx[i] < h - side]
    assert interior and all(int((out[i] == 0).sum()) == side * side for i in interior)
