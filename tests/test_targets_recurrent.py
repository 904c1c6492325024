"""Generated weights for nn.RNN / nn.GRU / nn.LSTM equal the fused kernel run one weight set at a
time, in values and gradients: per sample (W == B), ensembles (K sets), and inside larger targets."""

import pytest
import torch
from torch import nn
from torch.func import functional_call

import hyperweights as hw
from hyperweights.targets.recurrent import recurrent_ensemble, recurrent_forward

# torch warns when its own reference kernel runs an LSTM with projections on CPU
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections:UserWarning")

CASES = {
    "lstm": lambda: nn.LSTM(3, 5, batch_first=True),
    "lstm_2layer_bidir_seqfirst": lambda: nn.LSTM(3, 5, num_layers=2, bidirectional=True),
    "lstm_proj_nobias": lambda: nn.LSTM(3, 6, proj_size=2, bias=False, batch_first=True),
    "gru_2layer": lambda: nn.GRU(3, 4, num_layers=2, batch_first=True),
    "gru_bidir_seqfirst": lambda: nn.GRU(3, 4, bidirectional=True),
    "rnn_tanh": lambda: nn.RNN(3, 4, batch_first=True),
    "rnn_relu_2layer": lambda: nn.RNN(3, 4, num_layers=2, nonlinearity="relu"),
}


def _weights(module, sets, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {n: (p.detach() + 0.3 * torch.randn(sets, *p.shape, generator=g)).requires_grad_()
            for n, p in module.named_parameters()}


def _inputs(module, batch, steps=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, steps, 3, generator=g)
    return x if module.batch_first else x.transpose(0, 1).contiguous()


def _flat(out):
    output, state = out
    states = state if isinstance(state, tuple) else (state,)
    return [output, *states]


@pytest.mark.parametrize("name", sorted(CASES))
def test_per_sample_weights_equal_the_fused_kernel_sample_by_sample(name):
    torch.manual_seed(0)
    module = CASES[name]()
    batch = 4
    w = _weights(module, batch)
    x = _inputs(module, batch)
    got = _flat(hw.functional_forward(module, w, x))
    bdim = 0 if module.batch_first else 1
    for i in range(batch):
        xi = x.narrow(bdim, i, 1)
        want = _flat(functional_call(module, {n: t[i] for n, t in w.items()}, (xi,)))
        for g_, w_ in zip(got, want):
            out_dim = bdim if g_.ndim == 3 and g_ is got[0] else 1
            torch.testing.assert_close(g_.narrow(out_dim, i, 1), w_, atol=1e-5, rtol=1e-5)
    # gradients: the same loss through both paths
    loss = sum(t.square().sum() for t in got)
    grads = torch.autograd.grad(loss, list(w.values()))
    ref_loss = 0
    for i in range(batch):
        xi = x.narrow(bdim, i, 1)
        ref_loss = ref_loss + sum(t.square().sum() for t in
                                  _flat(functional_call(module, {n: t[i] for n, t in w.items()}, (xi,))))
    ref = torch.autograd.grad(ref_loss, list(w.values()))
    for a, b in zip(grads, ref):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", sorted(CASES))
def test_ensemble_weights_equal_the_fused_kernel_member_by_member(name):
    module = CASES[name]()
    members = 3
    w = _weights(module, members)
    x = _inputs(module, 5)
    got = _flat(hw.ensemble_forward(module, w, x))
    for k in range(members):
        want = _flat(functional_call(module, {n: t[k] for n, t in w.items()}, (x,)))
        for g_, w_ in zip(got, want):
            torch.testing.assert_close(g_[k], w_, atol=1e-5, rtol=1e-5)


def test_initial_states_are_used():
    module = nn.LSTM(3, 5, num_layers=2, batch_first=True)
    w = _weights(module, 2)
    x = _inputs(module, 2)
    h0, c0 = torch.randn(2, 2, 5), torch.randn(2, 2, 5)
    out, (h, c) = recurrent_forward(module, w, x, (h0, c0))
    for i in range(2):
        ref, (hr, cr) = functional_call(module, {n: t[i] for n, t in w.items()},
                                        (x[i:i + 1], (h0[:, i:i + 1], c0[:, i:i + 1])))
        torch.testing.assert_close(out[i:i + 1], ref, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(c[:, i:i + 1], cr, atol=1e-5, rtol=1e-5)


def test_unbatched_input_in_an_ensemble():
    module = nn.GRU(3, 4)
    w = _weights(module, 2)
    x = torch.randn(6, 3)
    out, h = recurrent_ensemble(module, w, x)
    ref, href = functional_call(module, {n: t[1] for n, t in w.items()}, (x,))
    torch.testing.assert_close(out[1], ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(h[1], href, atol=1e-5, rtol=1e-5)


class Tagger(nn.Module):
    """An LSTM inside a larger target: embedding-free tagger returning per-step logits."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 6, batch_first=True)
        self.out = nn.Linear(6, 2)

    def forward(self, x):
        return self.out(self.lstm(x)[0])


def test_a_recurrent_layer_inside_a_larger_target_runs_per_sample_under_vmap():
    target = Tagger()
    w = {"lstm.weight_hh_l0": _weights(target.lstm, 4)["weight_hh_l0"],
         "out.weight": torch.randn(4, 2, 6)}
    x = torch.randn(4, 5, 3)
    got = hw.functional_forward(target, w, x)
    for i in range(4):
        want = functional_call(target, {n: t[i] for n, t in w.items()}, (x[i:i + 1],))
        torch.testing.assert_close(got[i:i + 1], want, atol=1e-5, rtol=1e-5)
    assert "forward" not in target.lstm.__dict__          # restored after the call


def test_a_hypernetwork_generates_an_lstm_per_sample_end_to_end():
    target = nn.LSTM(3, 4, batch_first=True)
    hnet = hw.HyperNetwork(target, condition=hw.TaskEmbedding(8, 4))
    model = hw.HyperModel(target, hnet)
    out, (h, c) = model(torch.randn(8, 5, 3), torch.arange(8))
    assert out.shape == (8, 5, 4) and h.shape == c.shape == (1, 8, 4)
    out.sum().backward()
    assert all(p.grad is not None for p in hnet.parameters())
    assert all(p.grad is None for p in target.parameters())


def test_packed_sequences_are_refused_with_advice():
    module = nn.GRU(3, 4, batch_first=True)
    packed = nn.utils.rnn.pack_padded_sequence(torch.randn(2, 5, 3), [5, 3], batch_first=True)
    with pytest.raises(TypeError, match="pad_packed_sequence"):
        recurrent_forward(module, _weights(module, 2), packed)


def test_wrong_input_size_names_both_sizes():
    module = nn.GRU(3, 4, batch_first=True)
    with pytest.raises(ValueError, match="input_size=3.*is 7"):
        recurrent_forward(module, _weights(module, 2), torch.randn(2, 5, 7))


def test_dropout_between_layers_in_training_under_vmap_is_refused():
    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(3, 4, num_layers=2, dropout=0.5, batch_first=True)

        def forward(self, x):
            return self.rnn(x)[0]

    target = Wrap()
    w = {n: t for n, t in _weights(target.rnn, 2).items()}
    w = {f"rnn.{n}": t for n, t in w.items()}
    with pytest.raises(RuntimeError, match="dropout"):
        hw.functional_forward(target, w, torch.randn(2, 5, 3))
    target.eval()
    assert hw.functional_forward(target, w, torch.randn(2, 5, 3)).shape == (2, 5, 4)
