"""The recurrence's fast paths keep the fused kernel's gradients: an ensemble on shared inputs
(each step's input projection one (N, D) @ (D, K*G) GEMM, biases folded in, LSTM gates
reordered) equals the fused kernel run member by member, for the weights and for the input."""

import pytest
import torch
from torch import nn
from torch.func import functional_call

import hyperweights as hw

# torch warns when its own reference kernel runs an LSTM with projections on CPU
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections:UserWarning")

CASES = {
    "lstm": lambda: nn.LSTM(3, 5, batch_first=True),
    "lstm_2layer_bidir_proj": lambda: nn.LSTM(3, 6, num_layers=2, bidirectional=True, proj_size=2,
                                              batch_first=True),
    "gru_nobias_seqfirst": lambda: nn.GRU(3, 4, bias=False),
    "rnn_relu": lambda: nn.RNN(3, 4, nonlinearity="relu", batch_first=True),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_ensemble_gradients_on_shared_inputs_equal_the_fused_kernel(name):
    torch.manual_seed(0)
    module = CASES[name]()
    members = 3
    w = {n: (p.detach() + 0.3 * torch.randn(members, *p.shape)).requires_grad_()
         for n, p in module.named_parameters()}
    x = torch.randn(4, 6, 3, requires_grad=True)
    x_in = x if module.batch_first else x.transpose(0, 1)
    out, _ = hw.ensemble_forward(module, w, x_in)
    loss = (out * torch.linspace(-1, 1, out.shape[-1])).sum()
    grads = torch.autograd.grad(loss, [*w.values(), x])
    ref_out = torch.stack([functional_call(module, {n: t[k] for n, t in w.items()}, (x_in,))[0]
                           for k in range(members)])
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=1e-5)
    ref_loss = (ref_out * torch.linspace(-1, 1, out.shape[-1])).sum()
    for a, b in zip(grads, torch.autograd.grad(ref_loss, [*w.values(), x])):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_an_ensemble_with_initial_states_per_member_batch():
    module = nn.LSTM(3, 5, num_layers=2, batch_first=True)
    w = {n: p.detach() + 0.3 * torch.randn(2, *p.shape) for n, p in module.named_parameters()}
    x = torch.randn(4, 6, 3)
    h0, c0 = torch.randn(2, 4, 5), torch.randn(2, 4, 5)
    out, (h, c) = hw.ensemble_forward(module, w, x, (h0, c0))
    for k in range(2):
        ref, (hr, cr) = functional_call(module, {n: t[k] for n, t in w.items()}, (x, (h0, c0)))
        torch.testing.assert_close(out[k], ref, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(c[k], cr, atol=1e-5, rtol=1e-5)
