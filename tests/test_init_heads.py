"""Head initialisation: per-tensor statistics, Chang et al.'s hyperfan variances, the rename."""

import math

import pytest
import torch
from torch import nn

import hyperweights as hw
from hyperweights.parametrize.init import pooled_stats, tensor_stats


def _mnist_mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 10))


def _generated(head, init, feature_scale=None):
    target = _mnist_mlp()
    hnet = hw.HyperNetwork(target, condition=hw.TaskEmbedding(3, 8), trunk=hw.MLP((64,)), head=head,
                           init=init, feature_scale=feature_scale)
    with torch.no_grad():
        return target, hnet(torch.arange(3))


@pytest.mark.parametrize("head", [hw.FullHead, hw.PerTensorHead], ids=["full", "per_tensor"])
@pytest.mark.parametrize("feature_scale", [None, 1.0], ids=["scaled", "unscaled"])
def test_per_tensor_heads_start_each_tensor_at_its_own_std(head, feature_scale):
    """The first layer (std 0.021) and the later ones (0.058) each start near their own spread."""
    target, weights = _generated(head(), "target_stats", feature_scale)
    for name, p in target.named_parameters():
        if p.ndim == 2:
            ratio = weights[name].std().item() / p.std().item()
            assert 0.75 < ratio < 1.33, (name, ratio)


def test_shared_row_heads_pool_the_statistics_as_documented():
    """ChunkedHead's rows emit several tensors, so every tensor gets the pooled spread: the
    first layer starts above its own std and the later ones below (docs/hyperparams.md)."""
    target, weights = _generated(hw.ChunkedHead(4096, 16), "target_stats")
    own = {n: p.std().item() for n, p in target.named_parameters()}
    _, pooled = pooled_stats(hw.HyperNetwork(target, condition=hw.TaskEmbedding(3, 8)).specs,
                             "target_stats", 100, 4096)
    assert own["0.weight"] < pooled < own["2.weight"]
    assert weights["0.weight"].std().item() > own["0.weight"]
    assert weights["2.weight"].std().item() < own["2.weight"]


def test_hyperfan_in_and_out_follow_chang_et_al():
    target, weights = _generated(hw.FullHead(), "hyperfan_in")
    # a weight shares the output variance with its layer's bias: Var = 2 / (2 fan_in); a bias: 1
    assert weights["0.weight"].var().item() == pytest.approx(1 / 784, rel=0.2)
    assert weights["2.weight"].var().item() == pytest.approx(1 / 100, rel=0.2)
    assert weights["0.bias"].var().item() == pytest.approx(1.0, rel=0.5)
    _, out = _generated(hw.FullHead(), "hyperfan_out")
    assert out["0.weight"].var().item() == pytest.approx(2 / 100, rel=0.2)     # 2 / fan_out
    assert out["4.weight"].var().item() == pytest.approx(2 / 10, rel=0.3)
    # the bias variance 2 (1 - fan_in / fan_out) is negative for 784 -> 100: clipped to zero
    assert out["0.bias"].abs().max().item() == 0.0
    specs = hw.HyperNetwork(target, condition=hw.TaskEmbedding(3, 8)).specs
    assert tensor_stats(specs["4.bias"], specs, "hyperfan_out", 100)[1] == 0.0
    layer_norm = hw.HyperNetwork(nn.LayerNorm(4), condition=hw.TaskEmbedding(3, 8)).specs
    assert tensor_stats(layer_norm["weight"], layer_norm, "hyperfan_in", 100) == (1.0, 0.0)


def test_fan_out_is_hyperlights_rule_whatever_the_feature_scale():
    """Row std sqrt(2 / numel) on unscaled features; bias rows zero; the feature scale is undone."""
    target = _mnist_mlp()
    rows = {}
    for scale in (None, 1.0):
        hnet = hw.HyperNetwork(target, condition=hw.HyperparameterCondition(1), trunk=hw.MLP((32,)),
                               head=hw.FullHead(), init="fan_out", feature_scale=scale)
        w = hnet.head.out.weight
        rows[scale] = w[:78400].std().item() * hnet.feature_scale
        assert w[78400:78500].abs().max().item() == 0.0            # 0.bias rows
        assert hnet.head.out.bias.abs().max().item() == 0.0
    assert rows[1.0] == pytest.approx(math.sqrt(2 / 78400), rel=0.02)
    assert rows[None] == pytest.approx(rows[1.0], rel=0.02)


def test_init_names_are_checked_and_hyperfan_is_renamed():
    with pytest.raises(ValueError, match="renamed init='target_stats'"):
        hw.HyperNetwork(nn.Linear(3, 2), condition=hw.TaskEmbedding(2, 4), init="hyperfan")
    with pytest.raises(ValueError, match="init must be one of"):
        hw.HyperNetwork(nn.Linear(3, 2), condition=hw.TaskEmbedding(2, 4), init="xavier")
