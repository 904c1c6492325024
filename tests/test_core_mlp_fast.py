"""The batched-matmul path for MLP targets equals the vmapped functional call, and is only taken
where it is exact."""

import pytest
import torch
from torch import nn
from torch.func import functional_call, vmap

import hyperweights as hw
from hyperweights.targets.mlp_fast import linear_stack, single_forward, stack_forward


def _mlp(*extra):
    return nn.Sequential(nn.Linear(6, 5), nn.GELU(), *extra, nn.Linear(5, 3, bias=False), nn.Tanh())


def _weights(target, k, names=None):
    g = torch.Generator().manual_seed(0)
    return {n: torch.randn(k, *p.shape, generator=g, requires_grad=True)
            for n, p in target.named_parameters() if names is None or n in names}


@pytest.mark.parametrize("names", [None, ["0.weight"], ["2.weight", "0.bias"]], ids=["all", "one", "mixed"])
def test_ensemble_and_per_sample_equal_vmap(names):
    target = _mlp().eval()
    x = torch.randn(4, 6)
    w = _weights(target, 4, names)
    ens = vmap(lambda p: functional_call(target, p, (x,)))(w)
    torch.testing.assert_close(stack_forward(target, w, x, shared=True), ens)
    per = vmap(lambda p, xi: functional_call(target, p, (xi.unsqueeze(0),)).squeeze(0))(w, x)
    torch.testing.assert_close(stack_forward(target, w, x, shared=False), per)


def test_gradients_equal_vmap():
    target = _mlp()
    x = torch.randn(3, 6)
    w1, w2 = _weights(target, 5), _weights(target, 5)
    stack_forward(target, w1, x, shared=True).square().sum().backward()
    vmap(lambda p: functional_call(target, p, (x,)))(w2).square().sum().backward()
    for n in w1:
        torch.testing.assert_close(w1[n].grad, w2[n].grad)


@pytest.mark.parametrize("names", [None, ["0.weight"], ["2.weight", "0.bias"]], ids=["all", "one", "mixed"])
def test_single_weight_set_equals_functional_call_with_gradients(names):
    target = _mlp()
    x = torch.randn(7, 6)
    w1, w2 = _weights(target, 1, names), _weights(target, 1, names)
    got = single_forward(target, w1, x)
    want = functional_call(target, {n: v[0] for n, v in w2.items()}, (x,))
    torch.testing.assert_close(got, want)
    got.square().sum().backward()
    want.square().sum().backward()
    for n in w1:
        torch.testing.assert_close(w1[n].grad, w2[n].grad)
    # the public entry point takes it for W == 1 and gives the same answer
    torch.testing.assert_close(hw.functional_forward(target, w1, x), want)


class Custom(nn.Sequential):
    def forward(self, x):
        return super().forward(x) * 2


@pytest.mark.parametrize("target, expected", [
    (_mlp(), True),
    (_mlp(nn.Dropout(0.0)), True),
    (_mlp(nn.Dropout(0.5)).eval(), True),
    (_mlp(nn.Dropout(0.5)), False),          # training-mode dropout draws per call
    (_mlp(nn.LayerNorm(5)), False),          # has parameters of its own shape semantics
    (Custom(nn.Linear(6, 3)), False),        # a subclass may change forward
    (nn.Linear(6, 3), False),
])
def test_only_exact_cases_take_the_fast_path(target, expected):
    assert linear_stack(target) is expected


def test_hooks_disable_the_fast_path():
    target = _mlp()
    target[0].register_forward_hook(lambda m, i, o: o + 1)
    assert not linear_stack(target)
    x = torch.randn(2, 6)
    w = _weights(target, 2)
    expected = torch.stack([functional_call(target, {n: v[i] for n, v in w.items()}, (x[i:i + 1],))[0]
                            for i in range(2)])
    torch.testing.assert_close(hw.functional_forward(target, w, x), expected)
