"""Tiling beyond the trained sizes: a wider layer is decoded at the widest trained size and tiled."""

import torch
from torch import nn

import hyperweights as hw
from hyperweights.graph import GraphHyperNetwork, family, model_graph, predict_parameters


def _ghn(**kw):
    torch.manual_seed(0)
    return GraphHyperNetwork(**{"hidden": 16, "layers": 1, "heads": 2, "rank": 4, "max_ck": 128, **kw}).eval()


def _mlp(width):
    return nn.Sequential(nn.Linear(6, width), nn.ReLU(), nn.Linear(width, 3))


def test_training_records_sizes_and_an_untrained_ghn_does_not_tile():
    ghn = _ghn()
    assert ghn.tile_plan([model_graph(_mlp(40))]) == {}            # nothing recorded: LoGAH's slicing
    ghn.train()
    assert ghn.tile_plan([model_graph(_mlp(40))]) == {}            # never while training
    ghn([model_graph(_mlp(8))])                                     # a training forward records sizes
    ghn.eval()
    assert ghn.tile_plan([model_graph(_mlp(8))]) == {}             # a trained size is never tiled
    assert ghn.tile_plan([model_graph(_mlp(20))]) == {20: 8}
    assert ghn.tile_plan([model_graph(_mlp(5))]) == {}             # within the trained rows: slicing


def test_a_wider_layer_repeats_the_trained_units_and_keeps_he_scale():
    ghn = _ghn()
    ghn.record_sizes([model_graph(_mlp(8))])
    wide = predict_parameters(ghn, _mlp(20), out="state_dict")
    w1, w2 = wide["0.weight"], wide["2.weight"]
    assert torch.equal(w1[8:16], w1[:8]) and torch.equal(w1[16:], w1[:4])           # units replicated
    assert torch.equal(wide["0.bias"][8:16], wide["0.bias"][:8])
    assert torch.equal(w2[:, 8:16], w2[:, :8])                                       # and their weights out
    # decoded at (3, 8) from the wide graph's embedding, normalised with the real fan-in (20)
    graph = model_graph(_mlp(20))
    node = graph.params.index("2.weight")
    raw = ghn.decoder(ghn.embed([graph])[0, node:node + 1], 3, 8)[0]
    assert torch.allclose(w2, raw.repeat(1, 3)[:, :20] * (2 / 20) ** 0.5, atol=1e-6)
    ghn.tile_untrained = False
    plain = predict_parameters(ghn, _mlp(20), out="state_dict")["0.weight"]
    assert not torch.equal(plain[8:16], plain[:8])


def test_a_size_tiled_anywhere_is_tiled_everywhere_in_the_model():
    """A CNN of width 12 trained only up to 8 channels: its head's 12 input columns tile too, although
    12-wide linear layers were trained (in an MLP)."""
    ghn = _ghn()
    cnn = lambda w: family.build(family.ArchSpec("cnn", 1, w), 64, 10)           # noqa: E731
    ghn.record_sizes([model_graph(cnn(8)), model_graph(nn.Sequential(nn.Linear(64, 12), nn.ReLU(),
                                                                     nn.Linear(12, 10)))])
    assert ghn.tile_plan([model_graph(cnn(12))]) == {12: 8}
    head = predict_parameters(ghn, cnn(12), out="state_dict")["head.weight"]       # (10, 12)
    assert torch.equal(head[:, 8:], head[:, :4])


def test_trained_sizes_survive_a_checkpoint_and_old_checkpoints_load(tmp_path):
    ghn = _ghn()
    ghn.record_sizes([model_graph(_mlp(8))])
    hw.save(ghn, tmp_path / "ghn")
    loaded = hw.load(tmp_path / "ghn").eval()
    assert torch.equal(loaded.trained_sizes, ghn.trained_sizes) and loaded.tile_plan([model_graph(_mlp(20))])
    tensors, config = ghn.checkpoint_state()
    del tensors["trained_sizes"]
    config.pop("tile_untrained")
    old = GraphHyperNetwork.from_checkpoint(tensors, config).eval()               # from before the record
    assert old.tile_plan([model_graph(_mlp(20))]) == {}
