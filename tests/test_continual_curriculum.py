"""fit: checkpoints after every task, resume, hw.save/hw.load of every learner (also
mid-curriculum), adding tasks to a loaded learner, growth, clear errors."""

import math

import pytest
import torch

import hyperweights as hw
from hyperweights.continual import HNET, ContinualConfig, evaluate, fit
from hyperweights.continual.factory import build_method
from hyperweights.continual.rnn import RNNHNET
from hyperweights.data.protocols import make_protocol
from hyperweights.io import load_tensors, save_tensors


@pytest.fixture(scope="module")
def digits_split():
    return make_protocol("split", "digits")


def _small_hnet(protocol, **kw):
    return HNET(hw.mlp((protocol.num_features, 32, 10)), protocol.classes, emb_dim=8,
                trunk=hw.MLP((24,)), head=hw.ChunkedHead(512, 8), **{"feature_scale": 1.0, **kw})


@pytest.mark.parametrize("name", ["hnet", "rnn_hnet", "ewc"])
def test_killed_and_resumed_run_matches_uninterrupted(tmp_path, digits_split, name):
    def build():
        torch.manual_seed(0)
        if name == "hnet":
            return _small_hnet(digits_split, subset=2)
        if name == "rnn_hnet":
            return RNNHNET(hw.mlp((64, 32, 10)), digits_split.classes, emb_dim=8, hidden=8,
                           head=hw.ChunkedHead(512, 8), threshold=10.0, plateau=10.0, window=3,
                           extra_steps=4, units=4)     # forces one growth per task
        return build_method(name, digits_split, hidden=(32,))
    kw = dict(steps=12, batch_size=32, seed=5, progress=False)
    path = str(tmp_path / "run.safetensors")
    full = fit(build(), digits_split, ContinualConfig(**kw))
    first = fit(build(), digits_split, ContinualConfig(checkpoint_path=path, stop_after=1, **kw))
    assert first.extra["completed"] == 2 and math.isnan(first.extra["acc"][0, 2])
    resumed = fit(build(), digits_split, ContinualConfig(checkpoint_path=path, resume=True, **kw))
    assert resumed.extra["completed"] == 5 and resumed.steps == 60
    torch.testing.assert_close(full.extra["acc"], resumed.extra["acc"], rtol=0, atol=0, equal_nan=True)
    assert full.losses == resumed.losses and len(full.losses) == 60
    assert full.extra["summary"]["final_avg"] > 0.55


@pytest.mark.parametrize("name", ["hnet", "hyperinterval", "rnn_hnet", "finetune", "ewc", "separate", "joint"])
def test_every_learner_saves_loads_and_continues_mid_curriculum(tmp_path, digits_split, name):
    """hw.save mid-curriculum, hw.load, fit again: the same final accuracies as one run."""
    def build():
        torch.manual_seed(0)
        return build_method(name, digits_split, steps=6, hidden=(16,), trunk_hidden=(16,), chunk_size=256,
                            chunk_emb=4, emb_dim=4, rnn_hidden=4)
    kw = dict(steps=6, batch_size=16, seed=3, progress=False)
    full = fit(build(), digits_split, ContinualConfig(**kw))
    learner = build()
    fit(learner, digits_split, ContinualConfig(stop_after=2, **kw))
    path = tmp_path / "learner.safetensors"
    hw.save(learner, path)
    overrides = {"protocol": digits_split} if name == "joint" else {}
    loaded = hw.load(path, **overrides)
    assert type(loaded) is type(learner) and int(loaded.current_task) == 2
    x = digits_split.test_set(0)[0][None]
    torch.testing.assert_close(loaded.task_logits(x, torch.tensor([0])), learner.task_logits(x, torch.tensor([0])))
    rest = fit(loaded, digits_split, ContinualConfig(**kw))
    assert rest.extra["completed"] == 5 and math.isnan(rest.extra["acc"][0, 1])   # tasks 3, 4 only
    torch.testing.assert_close(rest.extra["acc"][:, 4], full.extra["acc"][:, 4], rtol=0, atol=0)
    assert evaluate(loaded, digits_split)["cl1_acc"] == pytest.approx(float(full.extra["acc"][:, 4].mean()))


def test_the_fit_checkpoint_is_a_learner_file(tmp_path, digits_split):
    path = tmp_path / "run.safetensors"
    fit(_small_hnet(digits_split), digits_split,
        ContinualConfig(steps=3, batch_size=8, checkpoint_path=str(path), stop_after=0, progress=False))
    learner = hw.load(path)
    assert isinstance(learner, HNET) and int(learner.current_task) == 0


def test_resume_refuses_other_settings(tmp_path, digits_split):
    path = str(tmp_path / "run.safetensors")
    kw = dict(batch_size=8, checkpoint_path=path, progress=False)
    fit(_small_hnet(digits_split), digits_split, ContinualConfig(steps=3, stop_after=0, **kw))
    with pytest.raises(ValueError, match="different settings"):
        fit(_small_hnet(digits_split), digits_split, ContinualConfig(steps=4, resume=True, **kw))
    with pytest.raises(FileNotFoundError):
        fit(_small_hnet(digits_split), digits_split,
            ContinualConfig(steps=3, batch_size=8, checkpoint_path=path + ".none", resume=True))


def test_add_task_to_a_loaded_model(tmp_path, digits_split):
    torch.manual_seed(0)
    two = make_protocol("split", "digits")
    two.classes, two.train_rows, two.test_rows = two.classes[:2], two.train_rows[:2], two.test_rows[:2]
    two.__post_init__()
    learner = _small_hnet(two, beta=0.05)
    res = fit(learner, two, ContinualConfig(steps=60, batch_size=32, progress=False))
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
    assert acc0 >= res.extra["acc"][0, -1] - 0.03


def test_growth_keeps_every_generated_weight(digits_split):
    torch.manual_seed(0)
    learner = RNNHNET(hw.mlp((64, 32, 10)), digits_split.classes, emb_dim=8, hidden=8,
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
    small = HNET(hw.mlp((64, 16, 10)), many.classes[:3], emb_dim=4, trunk=hw.MLP((8,)),
                 head=hw.ChunkedHead(256, 4))
    with pytest.raises(ValueError, match="built for 3"):
        fit(small, many, ContinualConfig(steps=1))
    with pytest.raises(IndexError, match="out of range"):
        digits_split.sample(9, 4, torch.Generator())
    with pytest.raises(ValueError, match="unknown method"):
        build_method("nope", digits_split)
