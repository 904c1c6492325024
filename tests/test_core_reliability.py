"""Issue 12's silent cases in the core: each used to give a wrong result without an error."""

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from models import Custom, one_thread, seq  # noqa: E402, F401  (one_thread: autouse fixture)

import hyperweights as hw  # noqa: E402

NAN = float("nan")




# ----------------------------------------------------------------- 1. misspelt weight names
@pytest.mark.parametrize("target,w,data", [
    (seq, {"0.wieght": torch.zeros(1, 8, 4)}, torch.randn(5, 4)),             # W == 1, fast path
    (Custom, {"fc.wieght": torch.zeros(1, 3, 4)}, torch.randn(5, 4)),          # W == 1, functional_call
    (seq, {"0.wieght": torch.zeros(5, 8, 4)}, torch.randn(5, 4)),             # W == B, bmm path
    (Custom, {"fc.wieght": torch.zeros(5, 3, 4)}, torch.randn(5, 4)),          # W == B, vmap
], ids=["shared_fast", "shared_functional_call", "per_sample_fast", "per_sample_vmap"])
def test_a_misspelt_weight_name_is_an_error_on_every_path(target, w, data):
    """It used to be ignored, the target's own weight silently used instead."""
    with pytest.raises(ValueError, match=r"not a parameter of .*Did you mean '(0|fc)\.weight'"):
        hw.functional_forward(target(), w, data)
    with pytest.raises(ValueError, match="Did you mean"):
        hw.ensemble_forward(target(), w, data)


def test_correct_names_still_give_the_generated_result():
    net = seq()
    w = {"0.weight": torch.randn(1, 8, 4), "2.bias": torch.randn(1, 3)}
    x = torch.randn(5, 4)
    expected = nn.functional.linear(torch.relu(nn.functional.linear(x, w["0.weight"][0], net[0].bias)),
                                    net[2].weight, w["2.bias"][0])
    torch.testing.assert_close(hw.functional_forward(net, w, x), expected)


def test_a_tied_weight_may_be_given_under_either_name():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 3)
            self.b = self.a

        def forward(self, x):
            return self.b(x)

    w = {"b.weight": torch.zeros(1, 3, 3), "b.bias": torch.ones(1, 3)}
    assert torch.equal(hw.functional_forward(Tied(), w, torch.randn(2, 3)), torch.ones(2, 3))


# ----------------------------------------------------------------- 2. list selections
def test_a_list_entry_that_matches_nothing_is_an_error_not_dropped():
    with pytest.raises(ValueError, match=r"'2\.wieght' matches no parameter.*'2\.weight'"):
        hw.HyperNetwork(seq(), generate=["0.weight", "2.wieght"], condition=hw.TaskEmbedding(2, 3))
    hnet = hw.HyperNetwork(seq(), generate=["0.weight", "2.weight"], condition=hw.TaskEmbedding(2, 3))
    assert hnet.generated_parameter_names == ["0.weight", "2.weight"]


# ----------------------------------------------------------------- 3. feature_scale
@pytest.mark.parametrize("scale", [float("inf"), NAN, -0.5, 0.0])
def test_feature_scale_must_be_finite_and_positive(scale):
    with pytest.raises(ValueError, match="finite number > 0"):
        hw.HyperNetwork(seq(), condition=hw.TaskEmbedding(2, 3), feature_scale=scale)


# ----------------------------------------------------------------- 4. one part, two hypernetworks
@pytest.mark.parametrize("role,part", [("head", hw.ChunkedHead(16, 4)), ("trunk", hw.MLP((8,))),
                                       ("parametrization", hw.MIP())])
def test_a_part_cannot_be_built_into_a_second_hypernetwork(role, part):
    """Building the second used to re-initialise the first one's weights."""
    first = hw.HyperNetwork(seq(), condition=hw.TaskEmbedding(2, 3), **{role: part})
    before = {k: v.clone() for k, v in first.state_dict().items()}
    with pytest.raises(ValueError, match="already belongs to another HyperNetwork"):
        hw.HyperNetwork(seq(), condition=hw.TaskEmbedding(2, 3), **{role: part})
    for k, v in first.state_dict().items():
        assert torch.equal(v, before[k]), k
    clone = hw.create_head if role == "head" else hw.create_trunk if role == "trunk" else \
        hw.create_parametrization
    hw.HyperNetwork(seq(), condition=hw.TaskEmbedding(2, 3),
                    **{role: clone(type(part).__name__, **part.get_config())})


def test_a_part_whose_build_failed_can_be_used_again():
    head = hw.FullHead()
    with pytest.raises(ValueError, match="runs over the head's layer/chunk tokens"):
        hw.HyperNetwork(seq(), condition=hw.TaskEmbedding(2, 3), trunk=hw.RNNTrunk(4), head=head)
    hw.HyperNetwork(seq(), condition=hw.TaskEmbedding(2, 3), head=head)


def test_a_conditioner_may_be_shared():
    """Conditioners are not rebuilt by the hypernetwork, so two may share a task table."""
    shared = hw.TaskEmbedding(3, 4)
    a = hw.HyperNetwork(seq(), condition=shared)
    b = hw.HyperNetwork(seq(), condition=shared)
    assert a.condition is b.condition


# ----------------------------------------------------------------- 5. NaN data
def test_nan_data_is_caught_with_check_finite_and_documented_as_unchecked_without():
    target = seq()
    checked = hw.HyperModel(target, hw.HyperNetwork(target, condition=hw.TaskEmbedding(5, 8),
                                                    check_finite=True))
    with pytest.raises(FloatingPointError, match=r"x holds 40 NaN/inf value\(s\) of 40"):
        checked(torch.full((10, 4), NAN), 3)
    target = seq()
    unchecked = hw.HyperModel(target, hw.HyperNetwork(target, condition=hw.TaskEmbedding(5, 8)))
    assert unchecked(torch.full((10, 4), NAN), 3).isnan().all()
    assert "check_finite" in hw.HyperModel.__doc__ and "NaN" in hw.HyperNetwork.__doc__


def test_nan_data_condition_and_noise_codes_are_caught_with_check_finite():
    target = seq()
    data = hw.HyperModel(target, hw.HyperNetwork(target, condition=hw.DataCondition(nn.Linear(4, 6)),
                                                 check_finite=True))
    bad = torch.randn(10, 4)
    bad[3, 1] = NAN
    with pytest.raises(FloatingPointError, match=r"the condition holds 1 NaN/inf"):
        data(torch.randn(10, 4), bad)
    target = seq()
    noise = hw.HyperModel(target, hw.HyperNetwork(target, condition=hw.NoiseCondition(3),
                                                  check_finite=True))
    with pytest.raises(FloatingPointError, match="the condition holds"):
        noise.ensemble(torch.randn(10, 4), torch.tensor([[NAN, 0.0, 0.0]]))


def test_check_finite_steps_aside_under_vmap():
    """Data-dependent checks cannot run inside torch.func transforms; the call still works."""
    target = seq()
    hnet = hw.HyperNetwork(target, condition=hw.NoiseCondition(3), check_finite=True)
    codes = torch.randn(4, 1, 3)
    out = torch.func.vmap(lambda c: hnet.flat(c))(codes)
    assert out.shape == (4, 1, hnet.specs.total)


# ----------------------------------------------------------------- 12. buffers when a target raises
class RaisesAfterBatchNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.bn = nn.BatchNorm1d(4)
        self.fail = False

    def forward(self, x):
        h = self.bn(self.fc(x))
        if self.fail:
            raise RuntimeError("boom after the BatchNorm ran")
        return h


def test_batchnorm_statistics_are_restored_when_the_target_raises():
    target = RaisesAfterBatchNorm().train()
    model = hw.HyperModel(target, hw.HyperNetwork(target, generate=["fc.weight"],
                                                  condition=hw.TaskEmbedding(2, 3)))
    x = torch.randn(8, 4) * 3 + 1
    model(x, 0)                                    # success: the statistics move as in forward
    assert int(target.bn.num_batches_tracked) == 1
    moved = {k: v.clone() for k, v in target.bn.state_dict().items()}
    target.fail = True
    with pytest.raises(RuntimeError, match="boom after the BatchNorm ran") as info:
        model(x, 1)
    assert "RaisesAfterBatchNorm raised on its input" in str(info.value)
    for k, v in target.bn.state_dict().items():    # ...and are put back when the call raises
        assert torch.equal(v, moved[k]), k
