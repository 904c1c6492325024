"""Autograd semantics of every head (invariant 2 beyond "grads are not None"): gradients
accumulate, ``torch.autograd.grad`` leaves ``.grad`` alone, a held gradient is not overwritten by
a later step, hooks fire, and parameters that are computed (non-leaf: functional_call with
transformed parameters as in MAML, or torch.nn.utils.parametrize) pass their gradient on.
Heads may take faster paths than plain autograd; these tests pin that the result is the same."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import models as zoo  # noqa: E402
from models import one_thread  # noqa: E402, F401  (autouse fixture)

import hyperweights as hw  # noqa: E402

HEADS = pytest.mark.parametrize("head", list(zoo.HEADS))
TASKS = torch.tensor([0, 2, 2, 1])


def make(head):
    target = zoo.TARGET_BY_NAME["mlp"].build()
    hnet = zoo.Design(head, "mlp", "task", False).build(target)
    return hw.HyperModel(target, hnet), zoo.TARGET_BY_NAME["mlp"].x()


def loss(model, x, scale=1.0):
    return (model(x, TASKS) * scale).square().mean()


def grads(model):
    return {n: None if p.grad is None else p.grad.clone()
            for n, p in model.hypernetwork.named_parameters()}


@HEADS
def test_backward_twice_accumulates(head):
    model, x = make(head)
    loss(model, x).backward()
    once = grads(model)
    loss(model, x).backward()
    for name, g in grads(model).items():
        torch.testing.assert_close(g, 2 * once[name], msg=name)


@HEADS
def test_autograd_grad_matches_backward_and_leaves_grad_alone(head):
    model, x = make(head)
    params = dict(model.hypernetwork.named_parameters())
    computed = dict(zip(params, torch.autograd.grad(loss(model, x), list(params.values()))))
    assert all(p.grad is None for p in params.values())
    loss(model, x).backward()
    for name, p in params.items():
        torch.testing.assert_close(computed[name], p.grad, msg=name)


@HEADS
def test_a_held_gradient_is_not_overwritten_by_the_next_step(head):
    model, x = make(head)
    loss(model, x).backward()
    held = {n: p.grad for n, p in model.hypernetwork.named_parameters()}
    copies = {n: g.clone() for n, g in held.items()}
    model.zero_grad(set_to_none=True)
    loss(model, x, scale=3.0).backward()
    for name, g in held.items():
        assert torch.equal(g, copies[name]), f"{name}: the gradient the caller kept was overwritten"
        torch.testing.assert_close(dict(model.hypernetwork.named_parameters())[name].grad, 9 * g)


@HEADS
def test_gradient_hooks_fire(head):
    model, x = make(head)
    seen = set()
    for name, p in model.hypernetwork.named_parameters():
        p.register_hook(lambda g, name=name: seen.add(name))
    loss(model, x).backward()
    assert seen == {n for n, _ in model.hypernetwork.named_parameters()}


@HEADS
def test_non_leaf_parameters_pass_their_gradient_on(head):
    """functional_call over the hypernetwork with computed parameters (MAML-style inner loops,
    weight transforms): the gradient must reach the leaves, equal to the direct gradient."""
    model, x = make(head)
    hnet = model.hypernetwork
    loss(model, x).backward()
    direct = grads(model)
    model.zero_grad(set_to_none=True)
    computed = {n: p * 1.0 for n, p in hnet.named_parameters()}     # non-leaf copies
    weights = torch.func.functional_call(hnet, computed, (TASKS,))
    hw.functional_forward(model.target, weights, x).square().mean().backward()
    for name, p in hnet.named_parameters():
        assert p.grad is not None, f"{name}: gradient lost through a non-leaf parameter"
        torch.testing.assert_close(p.grad, direct[name], msg=name)


@HEADS
def test_second_order_gradients(head):
    """create_graph=True (hypergradients, gradient penalties) differentiates through the head."""
    model, x = make(head)
    params = list(model.hypernetwork.parameters())
    first = torch.autograd.grad(loss(model, x), params, create_graph=True)
    penalty = sum(g.square().sum() for g in first)
    second = torch.autograd.grad(penalty, params, allow_unused=True)
    assert any(s is not None and s.abs().sum() > 0 for s in second)
    assert all(s is None or torch.isfinite(s).all() for s in second)
    assert all(p.grad is None for p in params)


@HEADS
def test_autocast_bfloat16_forward_and_backward(head):
    """Mixed precision (CPU autocast, bfloat16): the step runs and its gradients are close to the
    float32 ones (a custom autograd path must cast like autograd does)."""
    model, x = make(head)
    loss(model, x).backward()
    exact = grads(model)
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x, TASKS)
    out.float().square().mean().backward()
    for name, p in model.hypernetwork.named_parameters():
        assert p.grad is not None and p.grad.dtype == p.dtype, name
        # bfloat16 keeps ~3 significant digits: compare directions, not values
        cosine = torch.nn.functional.cosine_similarity(p.grad.flatten(), exact[name].flatten(), 0)
        assert cosine > 0.95, f"{name}: cosine {cosine:.3f} to the float32 gradient"


def test_full_head_reuses_its_gradient_buffer_across_steps():
    """The point of GradBufferLinear: no fresh P x d_h allocation per step (see its docstring)."""
    model, x = make("full")
    weight = model.hypernetwork.head.out.weight
    pointers = set()
    for _ in range(3):
        model.zero_grad(set_to_none=True)
        loss(model, x).backward()
        pointers.add(weight.grad.data_ptr())
    assert len(pointers) == 1
