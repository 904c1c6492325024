"""A zoo's training step (per-sample weight sets, each on a ``(n, in)`` batch of its own) runs
an MLP target as batched GEMMs, with the vmapped functional call's values and gradients."""

import pytest
import torch
from torch import nn
from torch.func import functional_call, vmap

import hyperweights as hw
from hyperweights.targets import functional


def _mlp():
    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))


def _weights(target, k, names=None):
    g = torch.Generator().manual_seed(0)
    return {n: torch.randn(k, *p.shape, generator=g, requires_grad=True)
            for n, p in target.named_parameters() if names is None or n in names}


@pytest.mark.parametrize("rows", [(7,), (2, 3), (0,)], ids=["matrix", "two-dims", "empty"])
@pytest.mark.parametrize("names", [None, ["2.weight", "0.bias"]], ids=["all", "mixed"])
def test_per_sample_rows_equal_vmap_with_gradients(rows, names):
    target = _mlp()
    x = torch.randn(4, *rows, 6)
    w1, w2 = _weights(target, 4, names), _weights(target, 4, names)
    got = hw.functional_forward(target, w1, x)
    want = vmap(lambda p, xi: functional_call(target, p, (xi,)))(w2, x)
    assert got.shape == (4, *rows, 3)
    torch.testing.assert_close(got, want)
    if got.numel():
        got.square().sum().backward()
        want.square().sum().backward()
        for n in w1:
            torch.testing.assert_close(w1[n].grad, w2[n].grad)


def test_per_sample_rows_of_an_mlp_do_not_take_vmap(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the MLP fast path should have been taken")

    monkeypatch.setattr(functional, "vmap", refuse)
    out = hw.functional_forward(_mlp(), _weights(_mlp(), 4), torch.randn(4, 5, 6))
    assert out.shape == (4, 5, 3)


def test_per_sample_rows_with_a_wrong_width_are_explained():
    with pytest.raises(ValueError, match="in_features=6"):
        hw.functional_forward(_mlp(), _weights(_mlp(), 4), torch.randn(4, 5, 7))
