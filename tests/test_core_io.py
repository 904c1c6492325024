"""Checkpoints (invariant 4 and its error cases): safetensors + JSON, no pickle, no generated
target weights, clear errors for a different architecture, corrupt and foreign files."""

import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
import models as zoo  # noqa: E402
from models import one_thread  # noqa: E402, F401  (autouse fixture)

import hyperweights as hw  # noqa: E402


def keys_of(path):
    with safe_open(str(path), framework="pt") as f:
        return set(f.keys()), f.metadata()


def saved(tmp_path, obj, name="ckpt.safetensors"):
    path = tmp_path / name
    hw.save(obj, path)
    return path


def mlp_model(widths=(6, 8, 3), **kwargs):
    torch.manual_seed(0)
    target = zoo.MLP(widths)
    hnet = hw.HyperNetwork(target, condition=hw.TaskEmbedding(3, 4), head=hw.FullHead(), **kwargs)
    return target, hnet, hw.HyperModel(target, hnet)


def test_checkpoint_is_safetensors_with_json_config_and_fingerprint(tmp_path):
    _, hnet, model = mlp_model()
    path = saved(tmp_path, model)
    keys, meta = keys_of(path)
    assert meta["format"] == "hyperweights/2" and len(meta["sha256"]) == 64
    config = json.loads(meta["meta"])
    assert config["kind"] == "HyperModel"
    assert config["hypernetwork"]["head"]["class"] == "FullHead"
    assert config["hypernetwork"]["fingerprint"]["params"] == [
        ["net.0.weight", [8, 6]], ["net.0.bias", [8]], ["net.2.weight", [3, 8]],
        ["net.2.bias", [3]]]
    assert keys == {f"hypernetwork.{k}" for k in hnet.state_dict()}
    assert path.read_bytes()[:1] != b"\x80"            # not a pickle
    assert not list(tmp_path.glob(".*.tmp"))           # the atomic write left no temp file


def test_tied_weight_is_not_written_under_its_alias(tmp_path):
    """``out.weight`` is ``emb.weight`` (generated): neither name may be stored as a target
    tensor."""
    case = zoo.TARGET_BY_NAME["tied"]
    target = case.build()
    model = hw.HyperModel(target, hw.HyperNetwork(target, condition=hw.TaskEmbedding(3, 4)))
    keys, _ = keys_of(saved(tmp_path, model))
    assert {k for k in keys if k.startswith("target.")} == set()
    fresh = case.build(seed=5)
    loaded = hw.load(tmp_path / "ckpt.safetensors", fresh)
    assert torch.equal(loaded(case.x(), 1), model(case.x(), 1))
    assert fresh.out.weight is fresh.emb.weight


def test_static_parameters_and_batchnorm_buffers_round_trip(tmp_path):
    case = zoo.TARGET_BY_NAME["cnn_bn_train"]
    target = case.build()
    hnet = hw.HyperNetwork(target, generate=r"(conv|fc)\.weight", condition=hw.TaskEmbedding(2, 4))
    model = hw.HyperModel(target, hnet)
    opt = torch.optim.Adam(model.trainable_parameters(), lr=0.1)
    for step in range(3):        # train: static params and running stats move
        opt.zero_grad()
        model(case.x(seed=step), step % 2).square().mean().backward()
        opt.step()
    keys, _ = keys_of(saved(tmp_path, model))
    assert {k for k in keys if k.startswith("target.")} == {
        "target.conv.bias", "target.bn.weight", "target.bn.bias", "target.bn.running_mean",
        "target.bn.running_var", "target.bn.num_batches_tracked", "target.fc.bias"}
    fresh = case.build(seed=7)
    loaded = hw.load(tmp_path / "ckpt.safetensors", fresh)
    for name, value in target.state_dict().items():
        if name not in hnet.generated_parameter_names:
            assert torch.equal(fresh.state_dict()[name], value), name
    target.eval(), fresh.eval()
    assert torch.equal(loaded(case.x(), 1), model(case.x(), 1))


def test_grown_task_embedding_round_trips(tmp_path):
    _, hnet, _ = mlp_model()
    hnet.condition.add_tasks(2)
    again = hw.load(saved(tmp_path, hnet), zoo.MLP())
    assert again.condition.num_tasks == 5
    assert torch.equal(again.flat(torch.arange(5)), hnet.flat(torch.arange(5)))


def test_mip_theta0_round_trips_not_reinitialised_from_the_new_target(tmp_path):
    _, hnet, _ = mlp_model(parametrization=hw.MIP())
    with torch.no_grad():
        hnet.parametrization.theta0.add_(1.0)
    again = hw.load(saved(tmp_path, hnet), zoo.MLP())
    assert torch.equal(again.parametrization.theta0, hnet.parametrization.theta0)
    assert torch.equal(again.flat(2), hnet.flat(2))


@pytest.mark.parametrize("kind", ["HyperNetwork", "HyperModel"])
def test_different_architecture_names_the_mismatched_parameters(tmp_path, kind):
    _, hnet, model = mlp_model()
    path = saved(tmp_path, model if kind == "HyperModel" else hnet)
    with pytest.raises(ValueError, match=r"net\.0\.weight: expected shape \(8, 6\), target has "
                                         r"\(9, 6\).*net\.0\.bias.*net\.2\.weight"):
        hw.load(path, zoo.MLP((6, 9, 3)))
    with pytest.raises(ValueError, match=r"net\.2\.weight: missing in MLP.*net\.2\.bias: missing"):
        hw.load(path, zoo.MLP((6, 8)))


def test_different_static_parameters_are_named(tmp_path):
    """Static (non-generated) parameters are checked too: a wrong shape or a parameter the
    checkpoint does not hold is an error naming it, never a silently random layer."""
    target, hnet, model = mlp_model(generate=["net.0.weight"])
    path = saved(tmp_path, model)

    class Wider(zoo.MLP):
        def __init__(self):
            super().__init__()
            self.extra = nn.Linear(2, 2)

    with pytest.raises(ValueError, match=r"extra\.weight.*extra\.bias"):
        hw.load(path, Wider())
    other = zoo.MLP()
    other.net[2] = nn.Linear(8, 4)
    with pytest.raises(ValueError, match=r"net\.2\.weight.*net\.2\.bias"):
        hw.load(path, other)


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    _, hnet, _ = mlp_model()
    path = saved(tmp_path, hnet)
    data = path.read_bytes()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"this is not a checkpoint at all")
    for bad in (truncated, garbage):
        with pytest.raises(ValueError, match="not a readable safetensors checkpoint"):
            hw.load(bad, zoo.MLP())
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        hw.load(tmp_path / "missing.safetensors", zoo.MLP())


def test_foreign_safetensors_file_is_a_clear_error(tmp_path):
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(ValueError, match="not a hyperweights checkpoint"):
        hw.load(foreign, zoo.MLP())
    other_meta = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other_meta), metadata={"format": "pt"})
    with pytest.raises(ValueError, match="format 'pt'"):
        hw.load(other_meta, zoo.MLP())
    damaged = tmp_path / "damaged.safetensors"
    save_file({"w": torch.zeros(2)}, str(damaged),
              metadata={"format": "hyperweights/1", "meta": "{"})
    with pytest.raises(ValueError, match="metadata is damaged"):
        hw.load(damaged, zoo.MLP())
    no_config = tmp_path / "no_config.safetensors"
    save_file({"w": torch.zeros(2)}, str(no_config),
              metadata={"format": "hyperweights/1", "meta": "{}"})
    with pytest.raises(ValueError, match="names no model kind"):
        hw.load(no_config, zoo.MLP())


def test_user_code_conditioner_must_be_passed_again(tmp_path):
    torch.manual_seed(0)
    target = zoo.MLP()
    hnet = hw.HyperNetwork(target, condition=hw.DataCondition(nn.Linear(5, 6)))
    path = saved(tmp_path, hnet)
    with pytest.raises(ValueError, match=r"DataCondition.*load\(path, target, condition=\.\.\.\)"):
        hw.load(path, target)
    again = hw.load(path, target, condition=hw.DataCondition(nn.Linear(5, 6)))
    z = torch.randn(3, 5)
    assert torch.equal(again.flat(z), hnet.flat(z))


def test_save_rejects_other_objects(tmp_path):
    with pytest.raises(TypeError, match="a HyperNetwork, a HyperModel or a model registered"):
        hw.save(nn.Linear(2, 2), tmp_path / "x.safetensors")


def test_concat_with_user_code_needs_the_condition_again(tmp_path):
    target = zoo.MLP()
    cond = hw.Concat(hw.TaskEmbedding(3, 2), hw.DataCondition(nn.Linear(5, 4)))
    hnet = hw.HyperNetwork(target, condition=cond)
    path = saved(tmp_path, hnet)
    with pytest.raises(ValueError, match=r"Concat.*pass it again"):
        hw.load(path, target)
    again = hw.load(path, target, condition=hw.Concat(hw.TaskEmbedding(3, 2),
                                                      hw.DataCondition(nn.Linear(5, 4))))
    c = (torch.tensor([1]), torch.randn(3, 5))
    assert torch.equal(again.flat(c), hnet.flat(c))
