"""Invariant 5 as property tests: for random MLP widths, selections, heads, trunks and weight-set
sizes, every generated tensor has shape ``(W, *param.shape)`` — ``W`` is never squeezed, W = 1
included — and the model's outputs have the batch semantics of DESIGN.md."""

import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
import models as zoo  # noqa: E402
from models import one_thread  # noqa: E402, F401  (autouse fixture)

import hyperweights as hw  # noqa: E402

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None)


@st.composite
def heads(draw):
    kind = draw(st.sampled_from(["full", "per_tensor", "per_layer", "chunked", "low_rank"]))
    if kind == "full":
        return kind, hw.FullHead()
    if kind == "per_tensor":
        return kind, hw.PerTensorHead()
    if kind == "per_layer":
        return kind, hw.PerLayerHead(embedding_dim=draw(st.integers(1, 4)))
    if kind == "chunked":
        return kind, hw.ChunkedHead(chunk_size=draw(st.integers(1, 60)),
                                    embedding_dim=draw(st.integers(1, 4)))
    return kind, hw.LowRankHead(rank=draw(st.integers(1, 4)))


@st.composite
def setups(draw):
    widths = draw(st.lists(st.integers(1, 6), min_size=2, max_size=4))
    torch.manual_seed(draw(st.integers(0, 2 ** 16)))
    target = zoo.MLP(tuple(widths))
    names = [n for n, _ in target.named_parameters()]
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
    kind, head = draw(heads())
    trunks = ["mlp", "mlp_identity"] + (["rnn", "attention"] if kind in zoo.TOKENISED_HEADS else [])
    trunk = draw(st.sampled_from(trunks))
    trunk = hw.MLP(hidden=()) if trunk == "mlp_identity" else zoo.TRUNKS[trunk]()
    mip = draw(st.booleans())
    hnet = hw.HyperNetwork(target, generate=chosen, condition=hw.TaskEmbedding(6, 3), trunk=trunk,
                           head=head, parametrization=hw.MIP() if mip else None)
    return widths, target, chosen, hnet


@SETTINGS
@given(setup=setups(), w=st.integers(1, 5), scalar=st.booleans())
def test_every_generated_tensor_has_shape_w_by_param_shape(setup, w, scalar):
    widths, target, chosen, hnet = setup
    params = dict(target.named_parameters())
    condition = 2 if (w == 1 and scalar) else torch.arange(w) % 6
    weights = hnet(condition)
    assert list(weights) == [n for n in params if n in chosen]          # target order
    for name, tensor in weights.items():
        assert tensor.shape == (w, *params[name].shape), name
    flat = hnet.flat(condition)
    assert flat.shape == (w, sum(params[n].numel() for n in chosen))
    assert torch.isfinite(flat).all()
    for name, tensor in hnet.unflatten(flat).items():
        assert torch.equal(tensor, weights[name])


@SETTINGS
@given(setup=setups(), w=st.integers(1, 5))
def test_model_outputs_follow_the_batch_rule(setup, w):
    widths, target, _, hnet = setup
    model = hw.HyperModel(target, hnet)
    x = torch.randn(w, widths[0])
    ids = torch.arange(w) % 6
    assert model(x, ids).shape == (w, widths[-1])          # W == B (per sample; W = B = 1 too)
    assert model(x, ids[:1]).shape == (w, widths[-1])      # W == 1, shared
    assert model.ensemble(x, ids).shape == (w, w, widths[-1])
    assert model.ensemble(x, ids[:1]).shape == (1, w, widths[-1])   # K = 1 keeps its dimension


class ScalarTemperature(torch.nn.Module):
    """A 0-d parameter (a learned temperature): generated as ``(W,)``, never squeezed further."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)
        self.temperature = torch.nn.Parameter(torch.tensor(2.0))

    def forward(self, x):
        return self.fc(x) / self.temperature


@pytest.mark.parametrize("head", list(zoo.HEADS))
@pytest.mark.parametrize("mip", [False, True], ids=["plain", "mip"])
def test_zero_dimensional_parameters(head, mip):
    torch.manual_seed(0)
    target = ScalarTemperature()
    hnet = hw.HyperNetwork(target, condition=hw.TaskEmbedding(4, 3), head=zoo.HEADS[head](),
                           parametrization=hw.MIP() if mip else None)
    model = hw.HyperModel(target, hnet)
    x = torch.randn(4, 3)
    for c, w in ((1, 1), (torch.arange(4), 4)):
        assert hnet(c)["temperature"].shape == (w,)
        weights = hnet(c)
        expected = torch.stack([zoo.with_weights(target, weights, i)(x[i:i + 1])[0]
                                for i in range(4)]) if w == 4 else \
            zoo.with_weights(target, weights)(x)
        torch.testing.assert_close(model(x, c), expected)
    assert model.ensemble(x, torch.arange(3)).shape == (3, 4, 2)
