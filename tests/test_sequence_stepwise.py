"""Per-time-step generated weights for recurrent targets: the batched recurrence equals a
hand-written loop that runs the fused kernel one (sample, step) at a time with that pair's
weights, in values and gradients; StepwiseModel's shapes, gradient flow and bad input."""

import pytest
import torch
from torch import nn
from torch.func import functional_call

import hyperweights as hw
from hyperweights.sequence import SequenceCondition, StepwiseModel
from hyperweights.targets.recurrent import stepwise_forward

# torch warns when its own reference kernel runs an LSTM with projections on CPU
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections:UserWarning")

CASES = {
    "lstm_2layer": lambda: nn.LSTM(3, 5, num_layers=2, batch_first=True),
    "gru_2layer": lambda: nn.GRU(3, 4, num_layers=2, batch_first=True),
    "rnn_seq_first": lambda: nn.RNN(3, 4),
    "lstm_proj_nobias": lambda: nn.LSTM(3, 6, proj_size=2, bias=False, batch_first=True),
}


def _per_step(module, batch, steps, names=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {n: (p.detach() + 0.3 * torch.randn(batch, steps, *p.shape, generator=g)).requires_grad_()
            for n, p in module.named_parameters() if names is None or n in names}


def _hand_loop(module, w, x):
    """Sample by sample, step by step, the fused kernel with that (sample, step)'s weights."""
    first = module.batch_first
    batch, steps = (x.shape[0], x.shape[1]) if first else (x.shape[1], x.shape[0])
    outputs = []
    for i in range(batch):
        hx, row = None, []
        for t in range(steps):
            xi = x[i:i + 1, t:t + 1] if first else x[t:t + 1, i:i + 1]
            out, hx = functional_call(module, {n: v[i, t] for n, v in w.items()}, (xi, hx))
            row.append(out)
        outputs.append(torch.cat(row, 1 if first else 0))
    return torch.cat(outputs, 0 if first else 1)


@pytest.mark.parametrize("name", sorted(CASES))
def test_per_step_weights_equal_a_hand_written_loop_values_and_gradients(name):
    torch.manual_seed(0)
    module = CASES[name]()
    batch, steps = 2, 4
    w = _per_step(module, batch, steps)
    x = torch.randn(batch, steps, 3) if module.batch_first else torch.randn(steps, batch, 3)
    got, _ = stepwise_forward(module, w, x)
    want = _hand_loop(module, w, x)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    grads = torch.autograd.grad(got.square().sum(), list(w.values()))
    ref = torch.autograd.grad(want.square().sum(), list(w.values()))
    for a, b in zip(grads, ref):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_weights_constant_over_time_equal_the_ordinary_per_sample_path_bidirectional_too():
    module = nn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    per_sample = {n: p.detach() + 0.3 * torch.randn(3, *p.shape) for n, p in module.named_parameters()}
    per_step = {n: v[:, None].expand(3, 5, *v.shape[1:]) for n, v in per_sample.items()}
    x = torch.randn(3, 5, 3)
    got, h = stepwise_forward(module, per_step, x)
    want, h_want = hw.functional_forward(module, per_sample, x)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(h, h_want, atol=1e-5, rtol=1e-5)


def test_stepwise_model_shapes_gradients_and_the_target_is_untouched():
    target = nn.LSTM(3, 6, batch_first=True)
    before = {n: p.detach().clone() for n, p in target.named_parameters()}
    hnet = hw.HyperNetwork(target, condition=SequenceCondition(3, dim=8),
                           generate=["bias_ih_l0", "weight_hh_l0"])
    model = StepwiseModel(target, hnet)
    x = torch.randn(4, 7, 3)
    w = model.weights(x)
    assert w["weight_hh_l0"].shape == (4, 7, 24, 6) and w["bias_ih_l0"].shape == (4, 7, 24)
    out, (h, c) = model(x)
    assert out.shape == (4, 7, 6) and h.shape == c.shape == (1, 4, 6)
    # the model's output is the recurrence run with exactly these generated weights
    torch.testing.assert_close(out, _hand_loop(target, {**w, **{
        n: p.expand(4, 7, *p.shape) for n, p in target.named_parameters() if n not in w}}, x),
        atol=1e-5, rtol=1e-5)
    out.square().mean().backward()
    assert all(p.grad is not None for p in hnet.parameters())          # reader, trunk and head
    assert hnet.condition.reader.weight_hh_l0.grad.abs().sum() > 0
    assert target.weight_hh_l0.grad is None and target.weight_ih_l0.grad is not None
    for n, p in target.named_parameters():
        assert torch.equal(p.detach(), before[n])


def test_the_condition_at_step_t_depends_only_on_steps_up_to_t():
    cond = SequenceCondition(3, dim=5)
    x = torch.randn(2, 6, 3)
    y = x.clone()
    y[:, 4:] += 1.0                                                     # change the future
    a, b = cond(x).view(2, 6, 5), cond(y).view(2, 6, 5)
    torch.testing.assert_close(a[:, :4], b[:, :4])
    assert not torch.allclose(a[:, 4:], b[:, 4:])


def test_bad_inputs_are_clear_errors():
    gru = nn.GRU(3, 4, batch_first=True)
    x = torch.randn(2, 5, 3)
    with pytest.raises(ValueError, match=r"\(B, T, \*param.shape\) = \(2, 5, 12\)"):
        stepwise_forward(gru, {"bias_hh_l0": torch.randn(2, 12)}, x)
    with pytest.raises(ValueError, match="not a parameter of GRU"):
        stepwise_forward(gru, {"bias": torch.randn(2, 5, 12)}, x)
    with pytest.raises(ValueError, match=r"batch-first sequence \(B, T, 3\)"):
        SequenceCondition(3)(torch.randn(2, 5, 4))
    with pytest.raises(TypeError, match="nn.RNN, nn.GRU or nn.LSTM"):
        StepwiseModel(nn.Linear(3, 3), hw.HyperNetwork(nn.Linear(3, 3), condition=SequenceCondition(3)))
    other = nn.GRU(3, 4, num_layers=2, batch_first=True)
    hnet = hw.HyperNetwork(other, condition=SequenceCondition(3), generate="bias_hh_l1")
    with pytest.raises(ValueError, match="not parameters of this GRU"):
        StepwiseModel(gru, hnet)


def _trained_like(model):
    """Move every parameter off its initial value, so a load that re-initialised would show."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("make", [lambda: nn.LSTM(3, 6, num_layers=2, proj_size=2, batch_first=True),
                                  lambda: nn.RNN(3, 4, nonlinearity="relu", bias=False)],
                         ids=["lstm_proj_2layer", "rnn_relu_seq_first"])
def test_hw_save_and_load_round_trip_gives_equal_outputs(tmp_path, make):
    torch.manual_seed(0)
    target = make()
    generate = ["weight_hh_l0"] if isinstance(target, nn.RNN) else ["bias_ih_l1", "weight_hh_l0"]
    model = _trained_like(StepwiseModel(target, hw.HyperNetwork(
        target, condition=SequenceCondition(3, dim=5), generate=generate)))
    path = tmp_path / "stepwise.safetensors"
    hw.save(model, path)
    again = hw.load(path)                                       # target rebuilt from the file
    assert isinstance(again, StepwiseModel) and type(again.target) is type(target)
    x = torch.randn(2, 5, 3)
    for a, b in zip(torch.utils._pytree.tree_leaves(model(x)), torch.utils._pytree.tree_leaves(again(x))):
        assert torch.equal(a, b)
    generated = {f"target.{n}" for n in generate}               # unused by the model, not stored
    for name, value in model.state_dict().items():             # the non-generated target weights too
        if name not in generated:
            assert torch.equal(again.state_dict()[name], value), name


def test_load_of_a_subclassed_target_needs_the_target(tmp_path):
    class MyGRU(nn.GRU):
        pass

    target = MyGRU(3, 4, batch_first=True)
    model = _trained_like(StepwiseModel(target, hw.HyperNetwork(
        target, condition=SequenceCondition(3, dim=5), generate="bias_hh_l0")))
    path = tmp_path / "stepwise.safetensors"
    hw.save(model, path)
    with pytest.raises(TypeError, match="pass a freshly built one"):
        hw.load(path)
    again = hw.load(path, MyGRU(3, 4, batch_first=True))
    x = torch.randn(2, 5, 3)
    assert torch.equal(again(x)[0], model(x)[0])
    with pytest.raises(ValueError, match="does not fit this target"):
        hw.load(path, nn.GRU(3, 5, batch_first=True))
