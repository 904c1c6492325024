"""MIP's initialisation is HyperLight's: zero generated biases, Kaiming theta0, fan-out trunk."""

import math

import pytest
import torch
from torch import nn

import hyperweights as hw


def _target() -> nn.Sequential:
    return nn.Sequential(nn.Linear(200, 64), nn.ReLU(), nn.Linear(64, 10))


def _mip(**kw) -> hw.HyperNetwork:
    torch.manual_seed(0)
    return hw.HyperNetwork(_target(), condition=hw.HyperparameterCondition(1), head=hw.FullHead(),
                           parametrization=hw.MIP(**kw))


def test_generated_biases_start_at_zero_under_mip():
    hnet = _mip()
    with torch.no_grad():
        weights = hnet(torch.rand(5, 1))
    for name in ("0.bias", "2.bias"):
        assert weights[name].abs().max().item() == 0.0, name
    assert weights["0.weight"].std().item() > 0


def test_theta0_is_kaiming_normal_with_zero_biases():
    theta0 = _mip().specs.split(_mip().parametrization.theta0.detach()[None])
    assert theta0["0.weight"].std().item() == pytest.approx(math.sqrt(2 / 200), rel=0.05)
    assert theta0["2.weight"].std().item() == pytest.approx(math.sqrt(2 / 64), rel=0.1)
    assert theta0["0.bias"].abs().max().item() == 0.0
    # the target's own values are the named option
    target = _target()
    copy = hw.HyperNetwork(target, condition=hw.HyperparameterCondition(1),
                           parametrization=hw.MIP(theta0="target"))
    assert torch.equal(copy.parametrization.theta0[:12800], target[0].weight.detach().reshape(-1))
    with pytest.raises(ValueError, match="'kaiming'"):
        hw.MIP(theta0="pytorch")


def test_delta_starts_small_against_theta0():
    """HyperLight's rule: per-tensor fan-out rows; on the study's 2-D input Delta theta is a
    fraction of theta0 (issue 19: 0.2-0.4x), not several times it."""
    hnet = _mip()
    with torch.no_grad():
        delta = hnet.specs.split(hnet.head(hnet.features(hnet.encode(torch.rand(64, 1)))))
    theta0 = hnet.specs.split(hnet.parametrization.theta0.detach()[None])
    for name in ("0.weight", "2.weight"):
        ratio = delta[name].std().item() / theta0[name].std().item()
        assert 0.02 < ratio < 0.6, (name, ratio)


def test_default_trunk_under_mip_is_hyperlights():
    hnet = _mip()
    trunk = hnet.trunk
    assert trunk.activation == "leaky_relu" and trunk.init == "fan_out"
    # fan-out Kaiming: std sqrt(2 / out_features), even on the 2-D cos|sin input
    assert trunk.first_cond.weight.std().item() == pytest.approx(math.sqrt(2 / 100), rel=0.15)
    assert trunk.first_cond.bias.abs().max().item() == 0.0
    plain = hw.HyperNetwork(_target(), condition=hw.HyperparameterCondition(1))
    assert plain.trunk.init == "fan_in" and plain.trunk.activation == "relu"
    with pytest.raises(ValueError, match="'fan_in' or 'fan_out'"):
        hw.MLP((8,), init="xavier")


def test_mip_initialisation_survives_a_checkpoint(tmp_path):
    hnet = _mip(theta0="kaiming")
    hw.save(hnet, tmp_path / "mip.safetensors")
    again = hw.load(tmp_path / "mip.safetensors", _target())
    c = torch.rand(3, 1)
    torch.testing.assert_close(again(c)["2.weight"], hnet(c)["2.weight"])
    assert again.parametrization.theta0_init == "kaiming" and again.trunk.init == "fan_out"
