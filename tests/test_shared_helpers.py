"""The helpers every application shares: the MLP builder, the optimizer factory, parameter counts."""

import pytest
import torch
from torch import nn

import hyperweights as hw


def test_mlp_layout_and_names():
    net = hw.mlp((6, 5, 4, 3), activation="tanh")
    assert [n for n, _ in net.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias",
                                                      "4.weight", "4.bias"]
    assert isinstance(net[1], nn.Tanh) and net(torch.randn(2, 6)).shape == (2, 3)
    with_dropout = hw.mlp((6, 5, 3), dropout=0.5)
    assert isinstance(with_dropout[2], nn.Dropout)


@pytest.mark.parametrize("sizes", [(5,), (), (5, 0, 3), (5, 2.5, 3), "784,10", (True, 3)])
def test_mlp_rejects_bad_widths(sizes):
    with pytest.raises(ValueError, match="at least two positive integer widths"):
        hw.mlp(sizes)


def test_mlp_rejects_unknown_activation_and_bad_dropout():
    with pytest.raises(ValueError, match="nope"):
        hw.mlp((3, 4, 2), activation="nope")
    with pytest.raises(ValueError, match="dropout"):
        hw.mlp((3, 4, 2), dropout=1.0)


def test_make_optimizer_is_fused_and_drops_frozen():
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    net[0].weight.requires_grad_(False)
    opt = hw.make_optimizer(net.parameters(), 1e-3, weight_decay=1e-4)
    assert opt.defaults["fused"] is True
    assert len(opt.param_groups[0]["params"]) == 3 and opt.defaults["weight_decay"] == 1e-4
    groups = hw.make_optimizer([{"params": net[0].parameters(), "lr": 1e-4},
                                {"params": net[1].parameters()}], 1e-3)
    assert [g["lr"] for g in groups.param_groups] == [1e-4, 1e-3]


@pytest.mark.parametrize("args, phrase", [
    (([], 1e-3), "no parameters"),
    (([nn.Parameter(torch.ones(1), requires_grad=False)], 1e-3), "no trainable parameter"),
    (([nn.Parameter(torch.ones(1))], 0.0), "lr must be a positive number"),
    (([{"lr": 1e-3}], 1e-3), "has no 'params' key"),
])
def test_make_optimizer_errors(args, phrase):
    with pytest.raises(ValueError, match=phrase):
        hw.make_optimizer(*args)


def test_make_optimizer_rejects_a_module():
    with pytest.raises(TypeError, match="expects tensors"):
        hw.make_optimizer([nn.Linear(2, 2)], 1e-3)


def test_param_count_counts_shared_tensors_once():
    lin = nn.Linear(3, 2)
    tied = nn.Sequential(lin, lin)
    assert hw.param_count(tied) == 8
    assert hw.param_count([lin.weight, lin.weight, lin.bias]) == 8
    lin.bias.requires_grad_(False)
    assert hw.param_count(lin) == 6 and hw.param_count(lin, trainable_only=False) == 8
