"""Checkpoints after every task, resume, adding tasks to a loaded learner, growth, clear errors."""

import math

import pytest
import torch

import hyperweights as hw
from hyperweights.continual import HNET, make_target, run_curriculum
from hyperweights.continual.factory import build_method
from hyperweights.continual.rnn import RNNHNET
from hyperweights.data.protocols import make_protocol
from hyperweights.io import load_tensors, save_tensors


@pytest.fixture(scope="module")
def digits_split():
    return make_protocol("split", "digits")


def _small_hnet(protocol, **kw):
    return HNET(make_target(protocol.num_features, 10, (32,)), protocol.classes, emb_dim=8,
                trunk=hw.MLP((24,)), head=hw.ChunkedHead(512, 8), **kw)


@pytest.mark.parametrize("name", ["hnet", "rnn_hnet", "ewc"])
def test_killed_and_resumed_run_matches_uninterrupted(tmp_path, digits_split, name):
    def build():
        torch.manual_seed(0)
        if name == "hnet":
            return _small_hnet(digits_split, subset=2)
        if name == "rnn_hnet":
            return RNNHNET(make_target(64, 10, (32,)), digits_split.classes, emb_dim=8, hidden=8,
                           head=hw.ChunkedHead(512, 8), threshold=10.0, plateau=10.0, window=3,
                           extra_steps=4, units=4)     # forces one growth per task
        return build_method(name, digits_split, hidden=(32,))
    kw = dict(steps=12, batch=32, seed=5)
    full = run_curriculum(build(), digits_split, **kw)
    first = run_curriculum(build(), digits_split, checkpoint_dir=tmp_path, stop_after=1, **kw)
    assert first.completed == 2 and math.isnan(first.acc[0, 2])
    resumed = run_curriculum(build(), digits_split, checkpoint_dir=tmp_path, resume=True, **kw)
    assert resumed.completed == 5
    torch.testing.assert_close(full.acc, resumed.acc, rtol=0, atol=0, equal_nan=True)
    assert full.summary()["final_avg"] > 0.55


def test_resume_refuses_other_settings(tmp_path, digits_split):
    run_curriculum(_small_hnet(digits_split), digits_split, steps=3, batch=8, checkpoint_dir=tmp_path,
                   stop_after=0)
    with pytest.raises(ValueError, match="different settings"):
        run_curriculum(_small_hnet(digits_split), digits_split, steps=4, batch=8,
                       checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(FileNotFoundError):
        run_curriculum(_small_hnet(digits_split), digits_split, steps=3, batch=8,
                       checkpoint_dir=tmp_path / "none", resume=True)


def test_add_task_to_a_loaded_model(tmp_path, digits_split):
    torch.manual_seed(0)
    two = make_protocol("split", "digits")
    two.classes, two.train_rows, two.test_rows = two.classes[:2], two.train_rows[:2], two.test_rows[:2]
    two.__post_init__()
    learner = _small_hnet(two, beta=0.05)
    res = run_curriculum(learner, two, steps=60, batch=32)
    save_tensors(tmp_path / "m.safetensors", learner.state_dict(), learner.config())
    tensors, meta = load_tensors(tmp_path / "m.safetensors")
    loaded = _small_hnet(two, beta=0.05)
    loaded.load_state_dict(tensors)
    assert meta["beta"] == 0.05
    before = loaded.hnet.flat(torch.arange(2)).detach().clone()
    with pytest.raises(IndexError, match="out of range"):
        loaded.begin_task(2)
    loaded.add_tasks(digits_split.classes[2:3])
    assert loaded.num_tasks == 3
    loaded.begin_task(2)
    for _ in range(60):
        x, y = digits_split.sample(2, 32, loaded.generator)
        loaded.step(2, x, y)
    drift = (loaded.hnet.flat(torch.arange(2)) - before).abs().max()
    assert drift < 0.1 * before.abs().max()
    x, y, _ = digits_split.test_set(0)
    acc0 = (loaded.task_logits(x[None], torch.tensor([0]))[0].argmax(-1) == y).float().mean()
    assert acc0 >= res.acc[0, -1] - 0.03


def test_growth_keeps_every_generated_weight(digits_split):
    torch.manual_seed(0)
    learner = RNNHNET(make_target(64, 10, (32,)), digits_split.classes, emb_dim=8, hidden=8,
                      head=hw.ChunkedHead(512, 8))
    before = learner.hnet.flat(torch.arange(5)).detach()
    learner.grow(6)
    assert learner.hnet.trunk.out_dim == 14 and learner.hnet.head.out.in_features == 14
    torch.testing.assert_close(learner.hnet.flat(torch.arange(5)), before)
    learner._losses = [1.0] * 100
    assert learner.plateaued()
    learner._losses = [1.0] * 50 + [0.01] * 50
    assert not learner.plateaued()


def test_bad_input_is_a_clear_error(digits_split):
    learner = _small_hnet(digits_split)
    with pytest.raises(IndexError, match="out of range"):
        learner.begin_task(5)
    learner.begin_task(0)
    with pytest.raises(ValueError, match="local class indices"):
        learner.step(0, torch.rand(4, 64), torch.tensor([0, 1, 2, 9]))
    with pytest.raises(IndexError, match="out of range"):
        learner.hnet.flat(7)
    many = make_protocol("permuted", "digits", num_tasks=7)
    small = HNET(make_target(64, 10, (16,)), many.classes[:3], emb_dim=4, trunk=hw.MLP((8,)),
                 head=hw.ChunkedHead(256, 4))
    with pytest.raises(ValueError, match="built for 3"):
        run_curriculum(small, many, steps=1)
    with pytest.raises(IndexError, match="out of range"):
        digits_split.sample(9, 4, torch.Generator())
    with pytest.raises(ValueError, match="unknown method"):
        build_method("nope", digits_split)
