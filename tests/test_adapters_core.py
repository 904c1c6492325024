"""Core changes for adapters: non-tensor target outputs under vmap, factored LowRankHead weights."""

import warnings

import pytest
import torch
from torch import nn

import hyperweights as hw
from hyperweights.targets.functional import run_ensemble, run_shared


def _tiny_gpt2():
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(n_layer=2, n_embd=16, n_head=2, vocab_size=50, n_positions=16,
                                     bos_token_id=0, eos_token_id=0)
    torch.manual_seed(0)
    return transformers.GPT2LMHeadModel(config).eval()


def test_ensemble_and_per_sample_on_gpt2_return_model_outputs_without_the_cache():
    gpt2 = _tiny_gpt2()
    hnet = hw.HyperNetwork(gpt2, generate=r".*c_attn\.weight", condition=hw.TaskEmbedding(3, 8),
                           head=hw.LowRankHead(2))
    model = hw.HyperModel(gpt2, hnet)
    ids = torch.randint(0, 50, (3, 7))
    with warnings.catch_warnings():   # torch: no batching rule for CPU flash attention (slow path)
        warnings.simplefilter("ignore", UserWarning)
        ensemble = model.ensemble(ids, torch.arange(3))
        per_sample = model(ids, torch.arange(3))
        shared = model(ids[1:2], 1)
    assert type(ensemble).__name__ == "CausalLMOutputWithCrossAttentions"
    assert ensemble.logits.shape == (3, 3, 7, 50) and ensemble.cache is None     # cache dropped
    assert per_sample.logits.shape == (3, 7, 50)
    # sample 1 with task 1 equals the shared call of task 1 and the ensemble's member 1
    torch.testing.assert_close(per_sample.logits[1], shared.logits[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ensemble.logits[1, 1], shared.logits[0], atol=1e-5, rtol=1e-5)


class _ReturnsObject(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)

    def forward(self, x):
        return self.lin(x), object(), 7, None


def test_outputs_keep_constants_and_name_an_unbatchable_object():
    net = _ReturnsObject()
    weights = {"lin.weight": torch.randn(4, 2, 3)}
    net.forward = lambda x: (net.lin(x), 7, None)        # constants pass through
    out = run_ensemble(net, weights, (torch.randn(5, 3),), {})
    assert out[0].shape == (4, 5, 2) and out[1:] == (7, None)
    del net.forward
    with pytest.raises(TypeError, match="object.*cannot be batched over weight sets"):
        run_ensemble(net, weights, (torch.randn(5, 3),), {})


@pytest.mark.parametrize("condition", ["shared", "per_sample", "ensemble"])
def test_low_rank_head_factored_equals_materialised(condition):
    torch.manual_seed(0)
    target = nn.Sequential(nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, 3))
    hnet = hw.HyperNetwork(target, condition=hw.TaskEmbedding(4, 6), head=hw.LowRankHead(2))
    model = hw.HyperModel(target, hnet)
    assert model.factored_names == {"0.weight", "2.weight"}
    x = torch.randn(4, 12)
    cond = {"shared": 1, "per_sample": torch.tensor([0, 3, 1, 1]), "ensemble": torch.arange(4)}[condition]
    call = model.ensemble if condition == "ensemble" else model
    factored = call(x, cond)
    grads = torch.autograd.grad(factored.square().sum(), list(hnet.parameters()))
    run = run_ensemble if condition == "ensemble" else run_shared
    materialised = run(target, hnet(cond), (x,), {})
    reference = torch.autograd.grad(materialised.square().sum(), list(hnet.parameters()))
    torch.testing.assert_close(factored, materialised, atol=1e-5, rtol=1e-5)
    for got, want in zip(grads, reference):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
    assert all(p.grad is None for p in target.parameters())
    assert "forward" not in target[0].__dict__               # the patch was undone


def test_factored_path_is_undone_when_the_call_raises():
    target = nn.Sequential(nn.Linear(5, 6), nn.Linear(6, 2))
    model = hw.HyperModel(target, hw.HyperNetwork(target, condition=hw.TaskEmbedding(2, 4),
                                                  head=hw.LowRankHead(1)))
    with pytest.raises(Exception):
        model(torch.randn(3, 4), 0)                          # wrong width
    assert all("forward" not in layer.__dict__ for layer in target)
