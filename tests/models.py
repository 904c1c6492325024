"""The zoo of tiny targets and hypernetwork designs the core tests are driven by.

Each :class:`Target` builds a small ``nn.Module`` (seeded, so two builds are identical) and a
matching input batch; each :class:`Design` builds a conditioner / trunk / head combination with
condition batches of width ``W = 1``, ``W = B`` and ``W = K``. The test modules parametrize over
:data:`TARGETS` and :data:`DESIGNS` (the ids are the ``name`` fields).

Imported by the test files with ``sys.path`` pointing at this folder (pytest runs with
``--import-mode=importlib``, so ``tests/`` is not a package).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import torch
from torch import Tensor, nn

import hyperweights as hw

@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Run each test module single-threaded (restored afterwards): the targets are tiny, and on
    a shared 2-core machine two intra-op threads make every call ~50x slower (spin-waiting)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


B = 4  # data batch used by the tests (W == B is the per-sample case)
K = 3  # ensemble members


# --------------------------------------------------------------------------- targets
class MLP(nn.Module):
    """6 -> 8 -> 3 with ReLU."""

    def __init__(self, widths=(6, 8, 3)):
        super().__init__()
        layers = []
        for i, (a, b) in enumerate(zip(widths, widths[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(widths) - 2:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class ConvBN(nn.Module):
    """Conv -> BatchNorm -> ReLU -> Linear on (B, 1, 5, 5) images."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.fc = nn.Linear(3 * 5 * 5, 4)

    def forward(self, x):
        h = torch.relu(self.bn(self.conv(x)))
        return self.fc(h.flatten(1))


class TiedLM(nn.Module):
    """Token embedding and output layer share one weight (``out.weight is emb.weight``), so
    ``named_parameters()`` lists it once, as ``emb.weight``."""

    def __init__(self, vocab=11, dim=6):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.mix = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, vocab)
        self.out.weight = self.emb.weight

    def forward(self, tokens):
        return self.out(torch.tanh(self.mix(self.emb(tokens))))


class GRUNet(nn.Module):
    """``nn.GRU`` wrapped so the module returns a tensor (the last step's features)."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 5, batch_first=True)
        self.fc = nn.Linear(5, 3)

    def forward(self, x):
        out, _ = self.gru(x)
        return self.fc(out[:, -1])


def _transformer():
    return nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True)


@dataclass(frozen=True)
class Target:
    """A tiny target and its inputs.

    Attributes:
        name: test id.
        factory: builds the module (called under a fixed seed by :meth:`build`).
        inputs: ``(batch, generator) -> x``.
        train: the module's mode during the test.
        vmappable: ``W == B`` and ensemble calls work (they run the target under ``vmap``).
    """

    name: str
    factory: Callable[[], nn.Module]
    inputs: Callable[[int, torch.Generator], Tensor]
    train: bool = False
    vmappable: bool = True

    def build(self, seed: int = 0) -> nn.Module:
        torch.manual_seed(seed)
        module = self.factory()
        module.train(self.train)
        return module

    def x(self, batch: int = B, seed: int = 1) -> Tensor:
        return self.inputs(batch, torch.Generator().manual_seed(seed))


def _randn(*shape):
    return lambda b, g: torch.randn(b, *shape, generator=g)


TARGETS = [
    Target("mlp", MLP, _randn(6)),
    Target("cnn_bn_train", ConvBN, _randn(1, 5, 5), train=True, vmappable=False),
    Target("cnn_bn_eval", ConvBN, _randn(1, 5, 5)),
    Target("tied", TiedLM, lambda b, g: torch.randint(0, 11, (b, 4), generator=g)),
    Target("transformer", _transformer, _randn(3, 8), train=True),
    # runs per sample and in ensembles through the batched recurrence (targets/recurrent.py)
    Target("gru", GRUNet, _randn(5, 4)),
]
TARGET_IDS = [t.name for t in TARGETS]
TARGET_BY_NAME = {t.name: t for t in TARGETS}

# --------------------------------------------------------------------------- designs
@dataclass(frozen=True)
class Condition:
    """A conditioner factory with condition batches of each width.

    ``one()``, ``per_sample(b)`` and ``members(k)`` return fresh condition inputs (``W = 1``,
    ``W = b``, ``W = k``); ``per_sample``/``members`` are None when the conditioner cannot
    produce that width (a pooled support set always gives ``W = 1``). ``grad_inputs`` marks
    conditions whose *input* tensor should receive a gradient (noise codes, hyperparameters).
    """

    name: str
    factory: Callable[[], hw.Conditioner]
    one: Callable[[], object]
    per_sample: Callable[[int], object] | None
    members: Callable[[int], object] | None
    grad_inputs: bool = False
    serializable: bool = True


def _g(seed):
    return torch.Generator().manual_seed(seed)


CONDITIONS = [
    Condition("task", lambda: hw.TaskEmbedding(5, 6), lambda: 2,
              lambda b: torch.arange(b) % 5, lambda k: torch.arange(k) % 5),
    Condition("data", lambda: hw.DataCondition(nn.Linear(5, 6)),
              lambda: torch.randn(1, 5, generator=_g(2)),
              lambda b: torch.randn(b, 5, generator=_g(3)),
              lambda k: torch.randn(k, 5, generator=_g(4)), serializable=False),
    Condition("data_pooled", lambda: hw.DataCondition(nn.Linear(5, 6), pool="mean"),
              lambda: torch.randn(7, 5, generator=_g(5)), None, None, serializable=False),
    Condition("noise", lambda: hw.NoiseCondition(4), lambda: torch.randn(1, 4, generator=_g(6)),
              lambda b: torch.randn(b, 4, generator=_g(7)),
              lambda k: torch.randn(k, 4, generator=_g(8)), grad_inputs=True),
    Condition("hyper", lambda: hw.HyperparameterCondition(2), lambda: torch.tensor([[0.3, 0.8]]),
              lambda b: torch.rand(b, 2, generator=_g(9)),
              lambda k: torch.rand(k, 2, generator=_g(10)), grad_inputs=True),
    Condition("concat", lambda: hw.Concat(hw.TaskEmbedding(5, 3), hw.HyperparameterCondition(1)),
              lambda: (torch.tensor([1]), torch.tensor([[0.4]])),
              lambda b: (torch.arange(b) % 5, torch.rand(b, 1, generator=_g(11))),
              # members: the W = 1 task part is broadcast to the K hyperparameter rows
              lambda k: (torch.tensor([0]), torch.rand(k, 1, generator=_g(12)))),
]
CONDITION_BY_NAME = {c.name: c for c in CONDITIONS}

HEADS = {
    "full": hw.FullHead,
    "per_tensor": hw.PerTensorHead,
    "per_layer": lambda: hw.PerLayerHead(embedding_dim=4),
    "chunked": lambda: hw.ChunkedHead(chunk_size=7, embedding_dim=4),  # last chunk is trimmed
    "low_rank": lambda: hw.LowRankHead(rank=2),
}
TOKENISED_HEADS = ("per_layer", "chunked")

TRUNKS = {
    "mlp": lambda: hw.MLP(hidden=(12,)),
    "rnn": lambda: hw.RNNTrunk(hidden=8),
    "attention": lambda: hw.AttentionTrunk(dim=8, heads=2, layers=1),
}
SEQUENCE_TRUNKS = ("rnn", "attention")


@dataclass(frozen=True)
class Design:
    """One hypernetwork design: head x trunk x condition x MIP."""

    head: str
    trunk: str
    condition: str
    mip: bool
    kwargs: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def name(self) -> str:
        return f"{self.head}-{self.trunk}-{self.condition}-{'mip' if self.mip else 'plain'}"

    @property
    def cond(self) -> Condition:
        return CONDITION_BY_NAME[self.condition]

    def build(self, target: nn.Module, seed: int = 0, **kwargs) -> hw.HyperNetwork:
        torch.manual_seed(seed)
        return hw.HyperNetwork(
            target, condition=self.cond.factory(), trunk=TRUNKS[self.trunk](),
            head=HEADS[self.head](), parametrization=hw.MIP() if self.mip else None,
            **{**self.kwargs, **kwargs},
        )


def applies(head: str, trunk: str) -> bool:
    """Sequence trunks run over layer/chunk tokens, so they need a tokenised head."""
    return trunk not in SEQUENCE_TRUNKS or head in TOKENISED_HEADS


DESIGNS = [Design(h, t, c.name, m)
           for h, t, c, m in itertools.product(HEADS, TRUNKS, CONDITIONS, (False, True))
           if applies(h, t)]
DESIGN_IDS = [d.name for d in DESIGNS]
INVALID_HEAD_TRUNK = [(h, t) for h, t in itertools.product(HEADS, TRUNKS) if not applies(h, t)]


# --------------------------------------------------------------------------- helpers
def own_weights(target: nn.Module, names=None) -> dict[str, Tensor]:
    """The target's own parameters as generated weights with ``W = 1``."""
    return {n: p.detach().unsqueeze(0).clone() for n, p in target.named_parameters()
            if names is None or n in names}


def with_weights(target: nn.Module, weights: dict[str, Tensor], index: int = 0) -> nn.Module:
    """A deep copy of ``target`` whose parameters are ``weights[name][index]`` (the reference
    a generated call must reproduce). Tied parameters stay tied in the copy."""
    clone = copy.deepcopy(target)
    params = dict(clone.named_parameters())
    with torch.no_grad():
        for name, w in weights.items():
            params[name].copy_(w[index])
    return clone


def set_head_to_target(hnet: hw.HyperNetwork, target: nn.Module) -> None:
    """Make ``hnet`` emit exactly the target's own parameters, for any condition.

    With MIP (``theta = theta0 + delta``) ``theta0`` is loaded from the target and every head
    parameter is zeroed so ``delta = 0``; without MIP a FullHead / PerTensorHead gets zero weights
    and the flat target parameters as its bias.
    """
    head = hnet.head
    with torch.no_grad():
        if hnet.parametrization is not None and hnet.parametrization.residual:
            hnet.parametrization.load_theta0(hnet.specs, dict(target.named_parameters()))
            for p in head.parameters():
                p.zero_()
            return
        own = dict(target.named_parameters())
        if isinstance(head, hw.FullHead):
            head.out.weight.zero_()
            head.out.bias.copy_(torch.cat([own[n].reshape(-1) for n in hnet.specs.names]))
        elif isinstance(head, hw.PerTensorHead):
            for name, lin in zip(hnet.specs.names, head.heads):
                lin.weight.zero_()
                lin.bias.copy_(own[name].reshape(-1))
        else:
            raise ValueError(f"no exact parameter setting for {type(head).__name__} without MIP")


def static_state(target: nn.Module, generated) -> dict[str, Tensor]:
    """The target's state_dict without its generated parameters (also under tied aliases)."""
    params = dict(target.named_parameters())
    ids = {id(params[n]) for n in generated}
    return {k: v.detach() for k, v in target.state_dict(keep_vars=True).items() if id(v) not in ids}


def snapshot(module: nn.Module) -> dict:
    """Everything a call must leave alone: tensors (values and identity), training flags and
    requires_grad flags of every submodule/parameter."""
    return {
        "state": {k: v.detach().clone() for k, v in module.state_dict(keep_vars=True).items()},
        "ids": {k: id(v) for k, v in module.state_dict(keep_vars=True).items()},
        "training": {n: m.training for n, m in module.named_modules()},
        "requires_grad": {n: p.requires_grad for n, p in module.named_parameters()},
        "grads": {n: None if p.grad is None else p.grad.clone()
                  for n, p in module.named_parameters()},
    }


def assert_same_snapshot(before: dict, after: dict) -> None:
    assert before["ids"] == after["ids"], "a parameter or buffer object was replaced"
    assert before["training"] == after["training"]
    assert before["requires_grad"] == after["requires_grad"]
    assert before["state"].keys() == after["state"].keys()
    for k in before["state"]:
        torch.testing.assert_close(after["state"][k], before["state"][k], rtol=0, atol=0, msg=k)
    for k, g in before["grads"].items():
        h = after["grads"][k]
        assert (g is None) == (h is None), k
        if g is not None:
            torch.testing.assert_close(h, g, rtol=0, atol=0)


def index_condition(cond, i: int):
    """Row ``i`` of a condition batch, keeping ``W = 1`` (tuples for Concat)."""
    if isinstance(cond, tuple):
        return tuple(index_condition(c, i) for c in cond)
    if isinstance(cond, Tensor) and cond.ndim >= 1 and cond.shape[0] > 1:
        return cond[i:i + 1]
    return cond


def seq() -> nn.Sequential:
    """The small target of the reliability and bad-input suites: 4 -> 8 -> 3, seeded."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


class Custom(nn.Module):
    """A target that is not an nn.Sequential: it runs through functional_call / vmap, not the MLP
    fast path, and its input width is not known in advance."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x)
