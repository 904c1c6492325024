"""Behaviour of the individual parts that the invariant tables do not pin: dtype handling of every
conditioner, MIP's variants, task growth, noise sampling, Concat broadcasting and the repr."""

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
import models as zoo  # noqa: E402
from models import one_thread  # noqa: E402, F401  (autouse fixture)

import hyperweights as hw  # noqa: E402

CONDITIONS = pytest.mark.parametrize("cond", zoo.CONDITIONS, ids=[c.name for c in zoo.CONDITIONS])


def as_double(c):
    if isinstance(c, tuple):
        return tuple(as_double(v) for v in c)
    return c.double() if isinstance(c, torch.Tensor) and c.is_floating_point() else c


@CONDITIONS
@pytest.mark.parametrize("mip", [False, True], ids=["plain", "mip"])
def test_float64_end_to_end(cond, mip):
    """model.double() works for every conditioner (conditions follow the module's dtype)."""
    target = zoo.TARGET_BY_NAME["mlp"].build().double()
    hnet = hw.HyperNetwork(target, condition=cond.factory(),
                           parametrization=hw.MIP() if mip else None)
    model = hw.HyperModel(target, hnet).double()
    x = zoo.TARGET_BY_NAME["mlp"].x().double()
    out = model(x, as_double(cond.one()))
    assert out.dtype == torch.float64
    assert all(w.dtype == torch.float64 for w in hnet(as_double(cond.one())).values())


def test_hyperparameters_follow_the_module_dtype_whatever_they_are_given_as():
    cond = hw.HyperparameterCondition(2).double()
    assert cond([0.1, 0.2]).dtype == torch.float64
    assert cond(torch.tensor([[0.1, 0.2]], dtype=torch.float32)).dtype == torch.float64


def test_mip_theta0_is_the_target_and_learns_independently():
    target = zoo.MLP()
    hnet = hw.HyperNetwork(target, condition=hw.TaskEmbedding(3, 4), parametrization=hw.MIP(theta0="target"))
    flat = torch.cat([p.detach().reshape(-1) for p in target.parameters()])
    assert torch.equal(hnet.parametrization.theta0, flat)
    assert hnet.parametrization.theta0.data_ptr() != target.net[0].weight.data_ptr()
    assert hnet.init == "fan_out"
    hw.HyperModel(target, hnet)(torch.randn(2, 6), 1).sum().backward()
    assert hnet.parametrization.theta0.grad is not None


def test_mip_frozen_theta0_and_pretrained_load():
    target = zoo.MLP()
    hnet = hw.HyperNetwork(target, condition=hw.TaskEmbedding(3, 4),
                           parametrization=hw.MIP(freeze_theta0=True))
    assert not hnet.parametrization.theta0.requires_grad
    pretrained = zoo.MLP()
    hnet.parametrization.load_theta0(hnet.specs, pretrained.state_dict())
    first = pretrained.net[0].weight.reshape(-1).detach()
    assert torch.equal(hnet.parametrization.theta0[:48], first)
    with pytest.raises(KeyError, match="lacks generated parameter"):
        hnet.parametrization.load_theta0(hnet.specs, {"net.0.weight": torch.zeros(8, 6)})


def test_mip_without_residual_or_encoding():
    target = zoo.MLP()
    no_residual = hw.HyperNetwork(target, condition=hw.TaskEmbedding(3, 4),
                                  parametrization=hw.MIP(residual=False))
    assert not hasattr(no_residual.parametrization, "theta0") and no_residual.init == "target_stats"
    with pytest.raises(ValueError, match="residual=False"):
        no_residual.parametrization.load_theta0(no_residual.specs, target.state_dict())
    with_enc = hw.HyperNetwork(target, condition=hw.TaskEmbedding(3, 4), parametrization=hw.MIP())
    no_enc = hw.HyperNetwork(target, condition=hw.TaskEmbedding(3, 4),
                             parametrization=hw.MIP(encoding=False))
    ids = torch.arange(3)
    torch.testing.assert_close(with_enc.encode(ids).norm(dim=1), torch.full((3,), 2.0))  # sqrt(4)
    assert torch.equal(no_enc.encode(ids), no_enc.condition(ids))


def test_mip_keeps_cos_sin_encoding_as_is():
    """HyperparameterCondition's cos|sin code already has a constant norm: MIP does not rescale."""
    hnet = hw.HyperNetwork(zoo.MLP(), condition=hw.HyperparameterCondition(2),
                           parametrization=hw.MIP())
    lam = torch.tensor([[0.0, 1.0], [0.3, 0.7]])
    assert torch.equal(hnet.encode(lam), hnet.condition(lam))
    torch.testing.assert_close(hnet.encode(lam).norm(dim=1), torch.full((2,), 2 ** 0.5))


def test_add_tasks_keeps_old_embeddings_and_outputs():
    hnet = hw.HyperNetwork(zoo.MLP(), condition=hw.TaskEmbedding(2, 4))
    before = hnet.flat(torch.arange(2))
    hnet.condition.add_tasks(3)
    assert hnet.condition.num_tasks == 5 and hnet.condition.get_config()["num_tasks"] == 5
    assert torch.equal(hnet.flat(torch.arange(2)), before)
    assert hnet.flat(4).shape == (1, hnet.specs.total)


def test_noise_members_are_reproducible_with_a_generator():
    target = zoo.MLP()
    hnet = hw.HyperNetwork(target, condition=hw.NoiseCondition(4, samples=3))
    model = hw.HyperModel(target, hnet)
    x = torch.randn(5, 6)
    assert model.ensemble(x, None).shape == (3, 5, 3)       # `samples` members by default
    assert model.ensemble(x, 7).shape == (7, 5, 3)           # or K drawn on request
    codes = [model.hypernetwork.condition.sample(4, generator=torch.Generator().manual_seed(1))
             for _ in range(2)]
    assert torch.equal(model.ensemble(x, codes[0]), model.ensemble(x, codes[1]))


def test_concat_broadcasts_a_single_part():
    cond = hw.Concat(hw.TaskEmbedding(3, 2), hw.HyperparameterCondition(1))
    code = cond((torch.tensor([1]), torch.tensor([[0.0], [1.0], [0.5]])))
    assert code.shape == (3, 4)
    assert torch.equal(code[:, :2], cond.parts[0].weight[1].expand(3, 2))


def test_repr_shows_the_design_and_counts():
    hnet = hw.HyperNetwork(zoo.MLP(), condition=hw.TaskEmbedding(5, 8), trunk=hw.RNNTrunk(8),
                           head=hw.ChunkedHead(10, 4), parametrization=hw.MIP())
    text = repr(hnet)
    for part in ("TaskEmbedding(5 tasks, dim 8)", "RNNTrunk(GRU 8 x 1)",
                 "ChunkedHead(9 chunks x 10",
                 "MIP(encoding, theta0 + delta)", "generates 4 tensors of MLP (83 scalars)"):
        assert part in text, part


def test_default_design_is_a_one_liner():
    target = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    hnet = hw.HyperNetwork(target, condition=hw.TaskEmbedding(5, 32))
    assert isinstance(hnet.trunk, hw.MLP) and isinstance(hnet.head, hw.ChunkedHead)
    assert hw.HyperModel(target, hnet)(torch.randn(2, 4), 4).shape == (2, 3)
