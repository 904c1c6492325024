"""hyperweights.graph: graphs of any model (fx and autograd), the GNNs, decoders, prediction."""

import copy
import warnings

import pytest
import torch
from torch import nn

from hyperweights.graph import (GatedGNN, GraphBatch, GraphHyperNetwork, Graphormer, LowRankDecoder,
                                TiledDecoder, diversify, family, matrix_shape, model_graph, normalize,
                                predict_parameters)


def _small_ghn(**kw):
    torch.manual_seed(0)
    return GraphHyperNetwork(**{"hidden": 16, "layers": 1, "heads": 2, "rank": 4, "max_ck": 128, **kw})


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}, model.training


def _tiny_gpt2():
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=100, n_positions=16,
                                     bos_token_id=0, eos_token_id=0)
    torch.manual_seed(0)
    return transformers.GPT2LMHeadModel(config)


def test_fx_and_autograd_graphs_agree_on_a_cnn():
    net = family.build(family.ArchSpec("cnn", 2, 8, residual=True), 64, 10)
    fx = model_graph(net)
    ag = model_graph(net, torch.randn(2, 64), method="autograd")
    assert (fx.method, ag.method) == ("fx", "autograd")
    names = [n for n, _ in net.named_parameters()]
    assert sorted(p for p in fx.params if p) == sorted(p for p in ag.params if p) == sorted(names)
    # the same parameter chain and the residual sums appear in both
    assert fx.type_names().count("sum") == ag.type_names().count("sum") == 2
    for g in (fx, ag):
        i, o = g.type_names().index("input"), g.type_names().index("output")
        assert 0 < int(g.distance[o, i]) <= g.cutoff          # the output is reachable from the input
        assert int(g.distance[i, o]) == g.cutoff + 1          # directed: not the other way


def test_virtual_edges_are_shortest_paths_up_to_the_cutoff():
    net = nn.Sequential(*[nn.Linear(4, 4) for _ in range(5)])   # a chain of 10 parameter nodes
    g = model_graph(net, cutoff=3)
    assert g.distance.diagonal().eq(0).all()
    assert int(g.distance[3, 0]) == 3 and int(g.distance[4, 0]) == 4   # 4 > cutoff: "far"
    assert g.edges().shape[1] == g.num_nodes - 1


def test_transformers_model_falls_back_to_autograd_and_is_not_mutated():
    gpt = _tiny_gpt2()
    before, flag = _state(gpt)
    ids = torch.randint(0, 100, (1, 8))
    with pytest.raises(ValueError, match="example_input"):
        model_graph(gpt)                       # fx cannot trace it and there is no input to run
    g = model_graph(gpt, ids)
    assert g.method == "autograd"
    assert sorted(p for p in g.params if p) == sorted(n for n, _ in gpt.named_parameters())
    types = g.type_names()
    assert {"embedding", "linear", "norm_weight", "softmax", "activation"} <= set(types)
    after, flag_after = _state(gpt)
    assert flag == flag_after and all(torch.equal(before[k], after[k]) for k in before)


def test_bert_graph_by_keyword_input():
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=64, vocab_size=50, max_position_embeddings=16)
    bert = transformers.BertModel(config)
    g = model_graph(bert, {"input_ids": torch.randint(0, 50, (1, 6))})
    assert len(g.param_nodes()) == len(list(bert.parameters()))


@pytest.mark.parametrize("gnn", [GatedGNN(8, rounds=2), Graphormer(8, heads=2, layers=2, bias_layers="all")])
def test_gnns_batch_graphs_of_different_sizes_like_one_at_a_time(gnn):
    small = model_graph(nn.Linear(3, 2))
    big = model_graph(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)))
    torch.manual_seed(0)
    h = torch.randn(2, big.num_nodes, 8)
    together = gnn(h, GraphBatch.of([small, big]))
    alone = gnn(h[:1, :small.num_nodes], GraphBatch.of([small]))
    torch.testing.assert_close(together[0, :small.num_nodes], alone[0], atol=1e-5, rtol=1e-5)
    assert together[0, small.num_nodes:].abs().sum() == 0           # padding stays zero


def test_graphormer_uses_the_distance_bias():
    g = model_graph(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)))
    net = Graphormer(8, heads=2, layers=1)
    h = torch.randn(1, g.num_nodes, 8)
    out = net(h, GraphBatch.of([g]))
    with torch.no_grad():
        net.distance_forward.weight.add_(torch.randn_like(net.distance_forward.weight))
    assert not torch.allclose(out, net(h, GraphBatch.of([g])))


def test_low_rank_decoder_is_a_product_of_rank_r_sliced_from_one_code():
    dec = LowRankDecoder(8, rank=3, max_ck=20)
    h = torch.randn(2, 8)
    big, small = dec(h, 20, 20), dec(h, 5, 7)
    assert torch.linalg.matrix_rank(big[0]) <= 3
    torch.testing.assert_close(small, big[:, :5, :7])                  # slices of one W
    wide = dec(h, 45, 3)                                                # beyond ck: repeats
    torch.testing.assert_close(wide[:, 20:40], wide[:, :20])


def test_tiled_decoder_repeats_its_block():
    dec = TiledDecoder(8, block=(4, 3))
    w = dec(torch.randn(2, 8), 10, 7)
    assert w.shape == (2, 10, 7)
    torch.testing.assert_close(w[:, 4:8, 3:6], w[:, :4, :3])


def test_normalisation_is_operation_dependent():
    w = normalize(torch.randn(3, 64, 100) * 5, "linear")
    assert abs(float(w[0].std()) - 5 * (2 / 100) ** 0.5) < 0.1
    assert normalize(torch.full((1, 4), 100.0), "norm_weight").max() <= 2
    assert normalize(torch.full((1, 4), -100.0), "bias").min() >= -1
    assert matrix_shape((8, 3, 5, 5)) == (40, 15)


def _check_prediction(model, example_input=None, data=None):
    ghn = _small_ghn()
    before, flag = _state(model)
    state = predict_parameters(ghn, model, example_input, out="state_dict")
    after, flag_after = _state(model)
    assert flag == flag_after and all(torch.equal(before[k], after[k]) for k in before)   # untouched
    assert set(state) == set(before)
    for name, p in model.named_parameters():
        assert state[name].shape == p.shape and torch.isfinite(state[name]).all()
        assert not torch.equal(state[name], p)
    fresh = copy.deepcopy(model)
    buffers = {n: b.clone() for n, b in fresh.named_buffers()}
    assert predict_parameters(ghn, fresh, example_input) is fresh         # fills in place
    for name, p in fresh.named_parameters():
        torch.testing.assert_close(p.detach(), state[name])
    assert all(torch.equal(b, buffers[n]) for n, b in fresh.named_buffers())
    return fresh


def test_predict_parameters_for_a_users_cnn():
    class MyCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16)
            self.conv2, self.bn2 = nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16)
            self.fc = nn.Linear(16, 5)

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            y = y + torch.relu(self.bn2(self.conv2(y)))
            return self.fc(y.mean((2, 3)))

    model = _check_prediction(MyCNN())
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 5)


def test_predict_parameters_for_a_vit_and_a_transformers_model():
    vit = _check_prediction(family.build(family.ArchSpec("vit", 2, 16), 64, 10))
    assert vit(torch.randn(2, 64)).shape == (2, 10)
    gpt = _tiny_gpt2()
    ids = torch.randint(0, 100, (1, 8))
    filled = _check_prediction(gpt, ids)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # transformers may warn about its own defaults; not ours
        logits = filled(ids).logits
    assert torch.isfinite(logits).all()


def test_predict_parameters_bad_input():
    ghn = _small_ghn()
    with pytest.raises(TypeError, match="GraphHyperNetwork"):
        predict_parameters(nn.Linear(2, 2), nn.Linear(2, 2))
    with pytest.raises(ValueError, match="out must be"):
        predict_parameters(ghn, nn.Linear(2, 2), out="dict")
    with pytest.raises(ValueError, match="another model"):
        predict_parameters(ghn, nn.Linear(2, 2), graph=model_graph(nn.Linear(3, 2)))
    with pytest.raises(ValueError, match="cutoff"):
        ghn([model_graph(nn.Linear(3, 2), cutoff=5)])
    with pytest.raises(ValueError, match="no parameters"):
        model_graph(nn.ReLU())


def test_diversify_adds_orthogonal_noise_to_weights_only():
    w = {"w": torch.ones(6, 6), "b": torch.ones(6)}
    d = diversify(w, 0.2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(d["b"], w["b"])
    assert abs(float((d["w"] - w["w"]).norm() / w["w"].norm()) - 0.2) < 1e-4
    assert torch.linalg.matrix_rank(d["w"]) == 6 and torch.linalg.matrix_rank(w["w"]) == 1


def test_gradients_reach_every_part_of_the_ghn():
    ghn = _small_ghn(decoder="tiled", block=(4, 4))
    net = family.build(family.ArchSpec("cnn", 1, 8), 64, 10)
    params = ghn([model_graph(net)])[0]
    loss = torch.func.functional_call(net, params, (torch.randn(4, 64),)).square().mean()
    loss.backward()
    assert all(p.grad is not None for n, p in ghn.named_parameters() if "distance" not in n)
    assert net.stem.weight.grad is None                               # the target's own: unused


def test_checkpoint_round_trip(tmp_path):
    import hyperweights as hw
    ghn = _small_ghn(gnn="gated")
    hw.save(ghn, tmp_path / "ghn.safetensors")
    again = hw.load(tmp_path / "ghn.safetensors")
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    a = predict_parameters(ghn, net, out="state_dict")
    b = predict_parameters(again, net, out="state_dict")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_streaming_a_huge_matrix_by_rows_gives_the_same_parameters():
    ghn = _small_ghn(max_ck=32)
    net = nn.Sequential(nn.Embedding(100, 24), nn.Linear(24, 40))    # rows beyond ck: repeated
    whole = predict_parameters(ghn, net, torch.zeros(1, 3, dtype=torch.long), out="state_dict")
    streamed = predict_parameters(ghn, copy.deepcopy(net), torch.zeros(1, 3, dtype=torch.long), max_elements=100)
    for name, p in streamed.named_parameters():
        torch.testing.assert_close(p.detach(), whole[name])
