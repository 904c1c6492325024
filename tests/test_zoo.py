"""Model-zoo tools: batched training equals one-at-a-time training, storage and vectorising round trips."""

import json

import pytest
import torch
from torch import nn

import hyperweights as hw
from hyperweights.data import Split
from hyperweights.zoo import (TokenLayout, Zoo, ZooConfig, class_subset_tasks, init_members,
                              member_accuracy, pad_tokens, pad_vectors, save_zoo, spec_table,
                              train_one, train_zoo)


def _split(classes=4, features=6, per_class=30, seed=0):
    gen = torch.Generator().manual_seed(seed)
    centres = 2 * torch.randn(classes, features, generator=gen)
    y = torch.arange(classes * per_class) % classes
    x = centres[y] + torch.randn(len(y), features, generator=gen)
    return Split(x, y, x.flip(0), y.flip(0), "blobs")


def test_tasks_relabel_and_share_images():
    tasks = class_subset_tasks(_split(), 2, train_per_class=8, test_per_class=5)
    assert len(tasks) == 6 and tasks.ids[-1] == "2-3"
    x, y = tasks.train_batch([5])
    assert x.shape == (1, 16, 6) and set(y[0].tolist()) == {0, 1}
    source = tasks.x_train[tasks.train_index[5]]
    assert torch.equal(source, x[0])
    # label j of task "2-3" is source class 2 + j
    split = _split()
    assert torch.equal(split.y_train[tasks.train_index[5]], y[0] + 2)
    with pytest.raises(ValueError, match="fewer than"):
        class_subset_tasks(split, 2, train_per_class=1000)
    with pytest.raises(ValueError, match="classes_per_task"):
        class_subset_tasks(split, 7)


def test_batched_zoo_equals_one_at_a_time():
    tasks = class_subset_tasks(_split(), 2, train_per_class=10, test_per_class=5)
    target = hw.mlp([6, 8, 2])
    cfg = ZooConfig(steps=15, batch_size=6, lr=1e-2, progress=False)
    ids, seeds = [0, 3, 5, 3], [0, 1, 2, 7]
    batched, result = train_zoo(target, tasks, ids, seeds, cfg)
    assert result.steps == 15
    for k, (task, seed) in enumerate(zip(ids, seeds)):
        x, y = tasks.train_batch([task])
        alone = train_one(target, x[0], y[0], seed, cfg)
        for name, param in alone.named_parameters():
            torch.testing.assert_close(batched[name][k], param.detach(), atol=1e-5, rtol=1e-5)
    # members actually learned their own tasks
    acc = member_accuracy(target, batched, *tasks.test_batch(ids))
    start = member_accuracy(target, init_members(target, seeds), *tasks.test_batch(ids))
    assert acc.mean() > start.mean() and acc.mean() > 0.8


def test_init_members_respects_seed_and_global_rng():
    target = hw.mlp([3, 4, 2])
    state = torch.get_rng_state()
    w = init_members(target, [5, 6, 5])
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(5)
    assert torch.equal(w["0.weight"][0], hw.mlp([3, 4, 2])[0].weight.detach())
    assert not torch.equal(w["0.weight"][0], w["0.weight"][1])


def test_zoo_shards_round_trip_lazily(tmp_path):
    target = hw.mlp([3, 4, 2])
    weights = init_members(target, range(5))
    entries = [{"dataset": f"d{k % 2}", "seed": k, "metrics": {"acc": 0.5 + k / 10}} for k in range(5)]
    save_zoo(tmp_path, target, weights, entries, shard_size=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "manifest.json", "shard-00000.safetensors", "shard-00001.safetensors", "shard-00002.safetensors"]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["fingerprint"] == spec_table(target).fingerprint()
    zoo = Zoo(tmp_path)
    assert len(zoo) == 5 and zoo.where(dataset="d1") == [1, 3]
    picked = zoo.weights([4, 0])
    assert zoo._shards.keys() == {"shard-00000.safetensors", "shard-00002.safetensors"}  # lazy
    for name in weights:
        assert torch.equal(picked[name], weights[name][[4, 0]])
    assert zoo.members[3]["metrics"] == {"acc": 0.8} and zoo.members[3]["shard"] == "shard-00001.safetensors"
    zoo.check(hw.mlp([3, 4, 2]))
    with pytest.raises(ValueError, match="not this zoo's architecture"):
        zoo.check(hw.mlp([3, 5, 2]))
    with pytest.raises(ValueError, match="one manifest entry per member"):
        save_zoo(tmp_path / "x", target, weights, entries[:2])
    with pytest.raises(TypeError, match="JSON-serialisable"):
        save_zoo(tmp_path / "y", target, weights, [{"seed": torch.tensor(k)} for k in range(5)])
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        Zoo(tmp_path / "nothing")


def test_corrupt_shard_fails_loudly(tmp_path):
    target = nn.Linear(3, 2)
    save_zoo(tmp_path, target, init_members(target, [0, 1]), [{}, {}])
    shard = tmp_path / "shard-00000.safetensors"
    data = bytearray(shard.read_bytes())
    data[-3] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum"):
        Zoo(tmp_path).weights([0])


def test_token_layout_round_trip_and_layer_boundaries():
    target = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3), nn.Linear(3, 2, bias=False))
    layout = TokenLayout(spec_table(target), token_size=16)
    assert layout.tokens_per_layer == [3, 2, 1]            # 42, 24, 6 scalars
    weights = init_members(target, [0, 1, 2])
    tokens = layout.tokenize(weights)
    assert tokens.shape == (3, 6, 16)
    assert torch.equal(tokens[~layout.valid.expand(3, -1, -1)], torch.zeros(3 * 6 * 16 - 3 * 72))
    # the first token of layer 1 starts with that layer's first weight
    assert torch.equal(tokens[:, 3, 0], weights["2.weight"][:, 0, 0])
    back = layout.untokenize(tokens)
    assert all(torch.equal(back[n], weights[n]) for n in weights)
    flat = spec_table(target).flatten(weights)
    assert torch.equal(layout.untokenize_flat(layout.tokenize(flat)), flat)
    with pytest.raises(ValueError, match="expected tokens"):
        layout.untokenize(tokens[:, :5])


def test_padding_mixed_architectures():
    small, large = hw.mlp([3, 4, 2]), hw.mlp([3, 9, 2])
    ws, wl = init_members(small, [0, 1]), init_members(large, [2])
    ls, ll = TokenLayout(spec_table(small), 8), TokenLayout(spec_table(large), 8)
    tokens, mask = pad_tokens([ls.tokenize(ws), ll.tokenize(wl)])
    assert tokens.shape == (3, ll.num_tokens, 8) and mask.sum(1).tolist() == [ls.num_tokens] * 2 + [ll.num_tokens]
    back = ls.untokenize(tokens[:2, : ls.num_tokens])
    assert all(torch.equal(back[n], ws[n]) for n in ws)
    vectors, vmask = pad_vectors([spec_table(small).flatten(ws), spec_table(large).flatten(wl)])
    assert vectors.shape == (3, spec_table(large).total)
    assert torch.equal(vectors[0, vmask[0]], spec_table(small).flatten(ws)[0])
    with pytest.raises(ValueError, match="same token size"):
        pad_tokens([torch.zeros(1, 2, 3), torch.zeros(1, 2, 4)])
