"""The feature_scale option of the continual learners (constructor, factory, CLI, checkpoints) and
the validation protocol used for model selection."""

import pytest
import torch

import hyperweights as hw
from hyperweights import cli
from hyperweights.continual import HNET, ContinualConfig, fit
from hyperweights.continual.cli import feature_scale_arg
from hyperweights.continual.factory import build_method
from hyperweights.continual.hyperinterval import HyperInterval
from hyperweights.continual.interval import interval_flat
from hyperweights.continual.validation import validation_protocol
from hyperweights.data.protocols import make_protocol
from hyperweights.io import load_tensors


@pytest.fixture(scope="module")
def digits_split():
    return make_protocol("split", "digits")


def _hnet(protocol, **kw):
    return HNET(hw.mlp((protocol.num_features, 32, 10)), protocol.classes, emb_dim=8,
                trunk=hw.MLP((24, 16)), head=hw.ChunkedHead(512, 8), **kw)


@pytest.mark.parametrize("name", ["hnet", "hyperinterval", "rnn_hnet"])
def test_factory_honours_feature_scale(digits_split, name):
    auto = build_method(name, digits_split, hidden=(16,), trunk_hidden=(24, 16), rnn_hidden=16)
    plain = build_method(name, digits_split, hidden=(16,), trunk_hidden=(24, 16), rnn_hidden=16,
                         feature_scale=1.0)
    assert auto.hnet.feature_scale == pytest.approx(16 ** -0.5)      # the core default 1/sqrt(d_h)
    assert plain.hnet.feature_scale == 1.0                             # the Split override
    assert auto.config()["feature_scale"] == pytest.approx(16 ** -0.5)
    # the scale reaches the generated weights: same parameters, other scale -> other weights
    plain.hnet.load_state_dict(auto.hnet.state_dict())
    assert not torch.allclose(auto.hnet.flat(torch.tensor([0])), plain.hnet.flat(torch.tensor([0])))


def test_feature_scale_is_checkpointed_and_resume_checks_it(tmp_path, digits_split):
    torch.manual_seed(0)
    path = tmp_path / "run.safetensors"
    kw = {"steps": 3, "batch_size": 8, "checkpoint_path": str(path), "progress": False}
    fit(_hnet(digits_split, feature_scale=0.5), digits_split, ContinualConfig(stop_after=0, **kw))
    _, meta = load_tensors(path)
    assert meta["curriculum"]["settings"]["learner"]["feature_scale"] == 0.5
    with pytest.raises(ValueError, match="different settings"):
        fit(_hnet(digits_split, feature_scale=None), digits_split, ContinualConfig(resume=True, **kw))
    done = fit(_hnet(digits_split, feature_scale=0.5), digits_split, ContinualConfig(resume=True, **kw))
    assert done.extra["completed"] == 5


def test_interval_bounds_hold_with_scaled_features(digits_split):
    torch.manual_seed(0)
    hi = HyperInterval(hw.mlp((64, 16, 10)), digits_split.classes, steps_per_task=4, emb_dim=8,
                       trunk=hw.MLP((24,)), head=hw.ChunkedHead(512, 8), feature_scale=None)
    assert hi.hnet.feature_scale == pytest.approx(24 ** -0.5)
    centre, radius = hi.boxes(torch.tensor([0, 1]), eps=0.5)
    _, point, _ = interval_flat(hi.hnet, centre, torch.zeros_like(radius))
    torch.testing.assert_close(point, hi.hnet.flat_from_code(centre))  # same scale as the plain forward
    lo, _, up = interval_flat(hi.hnet, centre, radius)
    inside = centre + radius * (2 * torch.rand(64, *centre.shape) - 1)
    out = torch.stack([hi.hnet.flat_from_code(c) for c in inside])      # a reference loop in a test
    assert (out >= lo - 1e-5).all() and (out <= up + 1e-5).all()


def test_cli_feature_scale_option(tmp_path, capsys):
    assert feature_scale_arg("auto") is None and feature_scale_arg("0.25") == 0.25
    for bad in ("0", "-1", "big"):
        with pytest.raises(Exception, match="positive number or 'auto'"):
            feature_scale_arg(bad)
    args = ["continual", "--method", "hnet", "--protocol", "split", "--dataset", "digits", "--steps", "3",
            "--batch", "16", "--feature-scale", "auto", "--trunk-hidden", "25", "16",
            "--warm-start", "--checkpoint", str(tmp_path / "run.safetensors"), "--stop-after", "0"]
    assert cli.main(args) == 0
    _, meta = load_tensors(tmp_path / "run.safetensors")
    learner = meta["curriculum"]["settings"]["learner"]
    assert learner["feature_scale"] == pytest.approx(0.25)
    assert learner["warm_start"] is True
    assert "MLP" in str(learner["trunk"])


def test_validation_protocol_holds_out_training_images():
    full = make_protocol("permuted", "digits", num_tasks=3)
    val = validation_protocol("permuted", "digits", num_tasks=3, fraction=0.2)
    n = len(full.data.y_train)
    assert len(val.data.y_test) == round(0.2 * n) and len(val.data.y_train) == n - round(0.2 * n)
    torch.testing.assert_close(val.data.x_test, full.data.x_train[n - round(0.2 * n):])   # never the test set
    torch.testing.assert_close(val.permutations, full.permutations)                     # same tasks
    assert val.name.endswith("_val")
    with pytest.raises(ValueError, match="fraction"):
        validation_protocol("split", "digits", fraction=1.0)


def test_warm_start_copies_the_previous_embedding_and_resumes(tmp_path, digits_split):
    torch.manual_seed(0)
    learner = _hnet(digits_split, warm_start=True)
    learner.begin_task(0)
    learner.step(0, *digits_split.sample(0, 16, torch.Generator().manual_seed(0)))
    learner.begin_task(1)
    table = learner.hnet.condition.weight
    torch.testing.assert_close(table[1], table[0])
    torch.testing.assert_close(learner.hnet.flat(1), learner.hnet.flat(0))   # starts at task 0's net
    assert learner.config()["warm_start"] is True

    def build():
        torch.manual_seed(0)
        return _hnet(digits_split, warm_start=True)
    kw = {"steps": 4, "batch_size": 16, "seed": 2, "progress": False}
    path = str(tmp_path / "run.safetensors")
    full = fit(build(), digits_split, ContinualConfig(**kw))
    fit(build(), digits_split, ContinualConfig(checkpoint_path=path, stop_after=1, **kw))
    resumed = fit(build(), digits_split, ContinualConfig(checkpoint_path=path, resume=True, **kw))
    torch.testing.assert_close(full.extra["acc"], resumed.extra["acc"], rtol=0, atol=0, equal_nan=True)


def test_sparse_summary_counts_only_tasks_evaluated_before_the_end():
    from benchmarks.continual.bench import _sparse_summary
    nan = float("nan")
    acc = torch.tensor([[nan, 0.9, 0.8], [nan, 0.7, 0.6], [nan, nan, 1.0]])   # evaluated after task 1, 2
    out = _sparse_summary(acc)
    assert out["tasks_evaluated_early"] == 2 and out["final_avg"] == pytest.approx(0.8)
    assert out["forgetting_evaluated"] == pytest.approx(0.1) and out["first_eval_avg"] == pytest.approx(0.8)
