"""The invariants of DESIGN.md over the zoo of targets (MLP, CNN with BatchNorm in train and eval
mode, tied weights, TransformerEncoderLayer, GRU) x every head x MIP, task-conditioned.

BatchNorm in training mode: a call with ``W == 1`` updates the running statistics exactly as the
target's own forward would (the buffers live in the target and ``functional_call`` runs the real
module), so "target unchanged" means: parameters, flags and every *other* tensor unchanged, running
statistics identical to those of ``copy.deepcopy(target)(x)``. ``W == B`` and ensemble calls run
under ``vmap``, which cannot batch that in-place update, and raise a clear error instead.
"""

import copy
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import models as zoo  # noqa: E402
from models import one_thread  # noqa: E402, F401  (autouse fixture)

import hyperweights as hw  # noqa: E402

TARGETS = pytest.mark.parametrize("case", zoo.TARGETS, ids=zoo.TARGET_IDS)
VMAPPABLE = pytest.mark.parametrize("case", [t for t in zoo.TARGETS if t.vmappable],
                                    ids=[t.name for t in zoo.TARGETS if t.vmappable])
HEADS = pytest.mark.parametrize("head", list(zoo.HEADS))
MIP = pytest.mark.parametrize("mip", [False, True], ids=["plain", "mip"])
EXACT = pytest.mark.parametrize("head,mip", [(h, True) for h in zoo.HEADS]
                                + [("full", False), ("per_tensor", False)],
                                ids=lambda v: v if isinstance(v, str)
                                else ("mip" if v else "plain"))


def build(case, head="chunked", mip=False, seed=0, **kwargs):
    target = case.build()
    design = zoo.Design(head, "mlp", "task", mip)
    hnet = design.build(target, seed=seed, **kwargs)
    return target, hnet, hw.HyperModel(target, hnet)


def reference(case, target, x):
    """target(x) without touching ``target`` (a copy, for BatchNorm in training mode) and the
    copy after the call (its buffers are what a call must leave in ``target``)."""
    twin = copy.deepcopy(target)
    return twin(x), twin


# ----------------------------------------------------------------- (1) equivalence
@TARGETS
def test_own_parameters_with_w1_reproduce_the_target(case):
    target = case.build()
    x = case.x()
    expected, twin = reference(case, target, x)
    out = hw.functional_forward(target, zoo.own_weights(target), x)
    torch.testing.assert_close(out, expected)
    for (name, a), (_, b) in zip(target.state_dict().items(), twin.state_dict().items()):
        torch.testing.assert_close(a, b, msg=name)   # BN train: same running-stat update


@TARGETS
@EXACT
def test_head_emitting_target_weights_reproduces_target(case, head, mip):
    target, hnet, model = build(case, head, mip)
    zoo.set_head_to_target(hnet, target)
    x = case.x()
    expected, twin = reference(case, target, x)
    torch.testing.assert_close(model(x, 3), expected)
    for (name, a), (_, b) in zip(target.state_dict().items(), twin.state_dict().items()):
        torch.testing.assert_close(a, b, msg=name)


@TARGETS
@HEADS
def test_output_equals_target_loaded_with_generated_weights(case, head):
    target, hnet, model = build(case, head)
    x = case.x()
    weights = hnet(1)
    twin = zoo.with_weights(target, weights)
    torch.testing.assert_close(model(x, 1), twin(x))


@VMAPPABLE
@HEADS
def test_per_sample_equals_loop_of_single_calls(case, head):
    _, _, model = build(case, head)
    x, tasks = case.x(), torch.tensor([0, 3, 1, 3])
    out = model(x, tasks)
    loop = torch.cat([model(x[i:i + 1], tasks[i]) for i in range(zoo.B)])
    torch.testing.assert_close(out, loop)


@VMAPPABLE
@HEADS
def test_ensemble_equals_loop_over_members(case, head):
    _, _, model = build(case, head)
    x, members = case.x(), torch.tensor([4, 0, 2])
    out = model.ensemble(x, members)
    loop = torch.stack([model(x, int(k)) for k in members])
    assert out.shape == loop.shape and out.shape[:2] == (zoo.K, zoo.B)
    torch.testing.assert_close(out, loop)


def test_tied_weight_is_generated_once_and_used_by_both_layers():
    case = zoo.TARGET_BY_NAME["tied"]
    target, hnet, model = build(case, "full")
    assert hnet.generated_parameter_names == ["emb.weight", "mix.weight", "mix.bias", "out.bias"]
    x = case.x()
    w = {n: t[0] for n, t in hnet(2).items()}
    h = torch.tanh(torch.nn.functional.linear(w["emb.weight"][x], w["mix.weight"], w["mix.bias"]))
    manual = torch.nn.functional.linear(h, w["emb.weight"], w["out.bias"])  # the tied output layer
    torch.testing.assert_close(model(x, 2), manual)
    assert target.out.weight is target.emb.weight


# ----------------------------------------------------------------- (2) gradient flow
@TARGETS
@HEADS
@MIP
def test_gradients_reach_hypernetwork_not_generated_parameters(case, head, mip):
    names = [n for n, _ in case.build().named_parameters()]
    static = names[-1]
    target, hnet, model = build(case, head, mip, exclude=[static])
    tasks = torch.tensor([1, 3])
    x = case.x()
    used_tasks = tasks if case.vmappable else tasks[:1]   # an ensemble call needs vmap
    out = model.ensemble(x, used_tasks) if case.vmappable else model(x, used_tasks)
    out.square().mean().backward()
    missing = [n for n, p in hnet.named_parameters() if p.grad is None]
    assert not missing, f"no gradient for {missing}"
    used = hnet.condition.weight.grad[used_tasks]
    assert used.abs().sum(1).gt(0).all(), "the used task embeddings got no gradient"
    for name, p in target.named_parameters():
        if name == static:
            assert p.grad is not None and p.grad.abs().sum() > 0, name
        else:
            assert p.grad is None, f"generated parameter {name} got a gradient"


# ----------------------------------------------------------------- (3) target unchanged
@TARGETS
def test_target_unchanged_after_success_and_failure(case):
    """Parameters (values and objects), flags, grads and buffers are what they were, after a
    successful call and after calls that raise (in the hypernetwork, inside the target, inside the
    target under vmap).

    BatchNorm in training mode: a successful call moves its running statistics exactly as the
    target's own forward with the generated weights does (the reference is a copy of the target
    holding them, fed the same inputs); a call that raises after the BatchNorm layer ran restores
    them, although a plain forward that raises does not (checked on the copy).
    """
    errors = (RuntimeError, IndexError, ValueError, AssertionError)  # torch's MHA uses assert
    target, hnet, model = build(case, "chunked")
    before = zoo.snapshot(target)
    x = case.x()
    twin = zoo.with_weights(target, hnet(2))
    twin(x)
    model(x, 2).sum().backward()
    assert_unchanged(target, before, twin)

    plain = copy.deepcopy(twin)
    with pytest.raises(errors):
        plain(bad_input(case))
    if case.name == "cnn_bn_train":     # a plain failing forward moves the statistics...
        assert not torch.equal(plain.bn.running_mean, twin.bn.running_mean)
    with pytest.raises(errors):
        model(bad_input(case), 2)       # ...a failing call of the model does not
    assert_unchanged(target, before, twin)
    with pytest.raises(IndexError):
        model(x, 7)                     # raises in the hypernetwork
    assert_unchanged(target, before, twin)
    if case.vmappable:
        with pytest.raises(errors):
            model(bad_input(case), torch.arange(zoo.B))   # raises inside the target under vmap
        assert_unchanged(target, before, twin)


def assert_unchanged(target, before, twin):
    """``target`` matches the snapshot ``before`` except for buffers, which match ``twin``'s."""
    now = zoo.snapshot(target)
    for key in ("ids", "training", "requires_grad", "grads"):
        assert now[key] == before[key] if key != "grads" else \
            all(g is None for g in now["grads"].values()), key
    params = dict(target.named_parameters(remove_duplicate=False))  # tied: both names
    buffers = dict(twin.named_buffers())
    for name, value in now["state"].items():
        expected = before["state"][name] if name in params else buffers[name]
        torch.testing.assert_close(value, expected, rtol=0, atol=0, msg=name)


def bad_input(case):
    x = case.x()
    if x.dtype == torch.long:
        return x + 100               # token ids beyond the vocabulary
    return x[..., :-1]               # one feature short


@pytest.mark.parametrize("case", [zoo.TARGET_BY_NAME["cnn_bn_train"]], ids=["cnn_bn_train"])
def test_batchnorm_in_training_mode_refuses_vmapped_calls_and_stays_unchanged(case):
    target, hnet, model = build(case, "full")
    before = zoo.snapshot(target)
    x = case.x()
    with pytest.raises(RuntimeError, match=r"bn.*BatchNorm2d.*training mode.*eval\(\)"):
        model(x, torch.arange(zoo.B))
    with pytest.raises(RuntimeError, match="BatchNorm2d"):
        model.ensemble(x, torch.arange(3))
    zoo.assert_same_snapshot(before, zoo.snapshot(target))
    target.eval()   # the documented fix works
    assert model(x, torch.arange(zoo.B)).shape == (zoo.B, 4)


# ----------------------------------------------------------------- (4) save -> load
@TARGETS
@HEADS
@MIP
def test_save_load_restores_outputs_static_params_and_buffers(case, head, mip, tmp_path):
    names = [n for n, _ in case.build().named_parameters()]
    static = names[-1]
    target, hnet, model = build(case, head, mip, exclude=[static])
    with torch.no_grad():
        dict(target.named_parameters())[static].add_(0.5)
    target.train()
    model(case.x(seed=5), 1)        # BN: moves the running statistics away from their init
    target.train(case.train)
    path = tmp_path / "model.safetensors"
    hw.save(model, path)

    fresh = case.build(seed=99)
    loaded = hw.load(path, fresh)
    restored = zoo.static_state(fresh, hnet.generated_parameter_names)
    for name, value in zoo.static_state(target, hnet.generated_parameter_names).items():
        assert torch.equal(restored[name], value), f"{name} not restored"
    x = case.x()
    assert torch.equal(loaded(x, 3), model(x, 3))
