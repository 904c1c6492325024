"""The fused penalty (difference formed inside the head's matmul) equals the autograd form
``output_penalty(hnet.flat(ids), target, weight)`` in value and in every parameter's gradient."""

import pytest
import torch

import hyperweights as hw
from hyperweights.continual import output_penalty
from hyperweights.continual.fused_penalty import fused_output_penalty, supports_fused


def _hnet(head, tasks=5, seed=0, **kw):
    torch.manual_seed(seed)
    return hw.HyperNetwork(hw.mlp((12, 10, 6)), condition=hw.TaskEmbedding(tasks, 8),
                           trunk=hw.MLP((16,)), head=head, **kw)


def _grads(hnet, value):
    return torch.autograd.grad(value, list(hnet.parameters()), allow_unused=True)


@pytest.mark.parametrize("head", [lambda: hw.ChunkedHead(50, 4),     # 256 scalars: last chunk trimmed
                                  lambda: hw.ChunkedHead(64, 4),     # exact multiple, no trim
                                  lambda: hw.FullHead()])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ids", [[0, 1, 2], [3, 0]])
def test_fused_equals_autograd_form(head, weighted, ids):
    hnet = _hnet(head())
    assert supports_fused(hnet)
    ids = torch.tensor(ids)
    target = torch.randn(len(ids), hnet.specs.total)
    weight = torch.rand(len(ids), hnet.specs.total) if weighted else None
    want = output_penalty(hnet.flat(ids), target, weight)
    got = fused_output_penalty(hnet, ids, target, weight)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    for a, b in zip(_grads(hnet, got), _grads(hnet, output_penalty(hnet.flat(ids), target, weight))):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_inputs_are_not_modified_and_double_backward_is_refused_cleanly():
    hnet = _hnet(hw.ChunkedHead(50, 4))
    target = torch.randn(2, hnet.specs.total)
    kept = target.clone()
    value = fused_output_penalty(hnet, torch.tensor([0, 1]), target)
    assert torch.equal(target, kept)
    value.backward()
    with pytest.raises(RuntimeError, match="one backward pass|a second time"):
        value.backward()
    # with retain_graph the second pass is refused by name rather than computed from a reused buffer
    again = fused_output_penalty(hnet, torch.tensor([0, 1]), target)
    again.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="one backward pass"):
        again.backward()


def test_unsupported_designs_fall_back_or_raise():
    hnet = _hnet(hw.PerTensorHead())
    assert not supports_fused(hnet)
    assert not supports_fused(_hnet(hw.ChunkedHead(50, 4), parametrization=hw.MIP()))
    with pytest.raises(ValueError, match="linear head"):
        fused_output_penalty(hnet, torch.tensor([0]), torch.zeros(1, hnet.specs.total))
    chunked = _hnet(hw.ChunkedHead(50, 4))
    with pytest.raises(ValueError, match=r"target must be \(S, P\)"):
        fused_output_penalty(chunked, torch.tensor([0, 1]), torch.zeros(1, chunked.specs.total))


@pytest.mark.parametrize("weighted", [False, True])
def test_one_pass_for_current_weights_and_penalty_equals_two(weighted):
    from hyperweights.continual.fused_penalty import flat_and_penalty
    hnet = _hnet(hw.ChunkedHead(50, 4))
    ids, current = torch.tensor([0, 2, 1]), torch.tensor([3])
    target = torch.randn(3, hnet.specs.total)
    weight = torch.rand(3, hnet.specs.total) if weighted else None
    probe = torch.randn(1, hnet.specs.total)               # any loss on the current weights

    def objective(flat, penalty):
        return (flat * probe).sum().tanh() + 0.3 * penalty
    flat, penalty = flat_and_penalty(hnet, current, ids, target, weight)
    ref_flat, ref_penalty = hnet.flat(current), output_penalty(hnet.flat(ids), target, weight)
    torch.testing.assert_close(flat, ref_flat)
    torch.testing.assert_close(penalty, ref_penalty, rtol=1e-5, atol=1e-6)
    got = _grads(hnet, objective(flat, penalty))
    want = _grads(hnet, objective(ref_flat, ref_penalty))
    for a, b in zip(got, want):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    # only one of the two outputs used: the other contributes nothing
    only_flat = _grads(hnet, flat_and_penalty(hnet, current, ids, target, weight)[0].sum())
    for a, b in zip(only_flat, _grads(hnet, hnet.flat(current).sum())):
        if a is not None and b is not None:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
