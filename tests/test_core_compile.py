"""``torch.compile`` and ``torch.func`` transforms keep working: no data-dependent Python branching
in forward, and the input validation of TaskEmbedding / HyperparameterCondition (which needs
``.item()``-style checks) steps aside under tracing instead of breaking the graph."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import models as zoo  # noqa: E402
from models import one_thread  # noqa: E402, F401  (autouse fixture)

import hyperweights as hw  # noqa: E402

CASES = [
    ("task", lambda: hw.TaskEmbedding(5, 4), torch.tensor([3]), torch.tensor([0, 4, 2, 2])),
    ("hyper", lambda: hw.HyperparameterCondition(2), torch.tensor([[0.2, 0.9]]),
     torch.tensor([[0.0, 1.0], [0.5, 0.5], [0.1, 0.3], [1.0, 0.0]])),
]


def make(cond, head=None):
    torch.manual_seed(0)
    target = zoo.MLP()
    hnet = hw.HyperNetwork(target, condition=cond(), head=head or hw.ChunkedHead(16, 4),
                           parametrization=hw.MIP())
    return hw.HyperModel(target, hnet)


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.parametrize("name,cond,one,per_sample", CASES, ids=[c[0] for c in CASES])
def test_compiled_model_matches_eager_in_one_graph(name, cond, one, per_sample):
    """fullgraph=True: the shared (W == 1) and per-sample (W == B) paths compile without graph
    breaks, give the eager outputs and gradients."""
    model = make(cond)
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    x = torch.randn(zoo.B, 6)
    for c in (one, per_sample):
        out = compiled(x, c)
        torch.testing.assert_close(out, model(x, c))
        grads = torch.autograd.grad(out.square().sum(), list(model.hypernetwork.parameters()))
        expected = torch.autograd.grad(model(x, c).square().sum(),
                                       list(model.hypernetwork.parameters()))
        for g, e in zip(grads, expected):
            torch.testing.assert_close(g, e)


def test_aot_autograd_backend_trains():
    """With AOTAutograd (the backend that traces the backward too) a few Adam steps give the same
    parameters as eager."""
    x, y = torch.randn(8, 6), torch.randn(8, 3)
    tasks = torch.tensor([1])
    states = []
    for compile_it in (False, True):
        model = make(CASES[0][1], head=hw.FullHead())
        step = torch.compile(model, backend="aot_eager") if compile_it else model
        opt = torch.optim.Adam(model.trainable_parameters(), lr=1e-2)
        for _ in range(3):
            opt.zero_grad()
            torch.nn.functional.mse_loss(step(x, tasks), y).backward()
            opt.step()
        states.append({k: v.clone() for k, v in model.state_dict().items()})
    for k in states[0]:
        torch.testing.assert_close(states[1][k], states[0][k], msg=k)


def test_validation_still_runs_in_eager_after_compiling():
    model = make(CASES[0][1])
    compiled = torch.compile(model, backend="eager")
    compiled(torch.randn(zoo.B, 6), torch.tensor([1]))
    with pytest.raises(IndexError, match="out of range"):
        model(torch.randn(zoo.B, 6), torch.tensor([9]))


@pytest.mark.parametrize("name,cond,one,per_sample", CASES, ids=[c[0] for c in CASES])
def test_vmap_over_conditions_matches_a_loop(name, cond, one, per_sample):
    """vmap over single conditions (validation is skipped inside the transform, not broken)."""
    hnet = make(cond).hypernetwork
    batched = torch.func.vmap(hnet.flat)(per_sample)               # (W, 1, P)
    loop = torch.stack([hnet.flat(c) for c in per_sample])
    assert batched.shape == (zoo.B, 1, hnet.specs.total)
    torch.testing.assert_close(batched, loop)


def test_hypergradient_with_torch_func_grad():
    """d loss / d lambda through the generated weights (hyperparameter optimisation, e.g.
    hypergradients): torch.func.grad works through HyperparameterCondition and equals autograd."""
    model = make(CASES[1][1])
    x = torch.randn(zoo.B, 6)
    lam = torch.tensor([[0.3, 0.6]])

    def loss(lam):
        return model(x, lam).square().mean()

    g = torch.func.grad(loss)(lam)
    lam_leaf = lam.clone().requires_grad_(True)
    loss(lam_leaf).backward()
    torch.testing.assert_close(g, lam_leaf.grad)
    assert g.abs().sum() > 0
