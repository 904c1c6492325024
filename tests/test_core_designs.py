"""The invariants of DESIGN.md for every head x trunk x conditioner x MIP, on a tiny MLP target.

(1) equivalence, (2) gradient flow, (3) target unchanged, (4) save -> load, (5) shapes. The zoo of
targets is crossed with the heads in test_core_targets.py; property tests of shapes are in
test_core_shapes.py; error cases in test_core_errors.py.
"""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import models as zoo  # noqa: E402
from models import one_thread  # noqa: E402, F401  (autouse fixture)

import hyperweights as hw  # noqa: E402

MLP_TARGET = zoo.TARGET_BY_NAME["mlp"]
DESIGNS = pytest.mark.parametrize("design", zoo.DESIGNS, ids=zoo.DESIGN_IDS)


def setup(design, **kwargs):
    target = MLP_TARGET.build()
    hnet = design.build(target, **kwargs)
    return target, hnet, hw.HyperModel(target, hnet)


# ----------------------------------------------------------------- (1) equivalence
@DESIGNS
def test_output_equals_target_with_generated_weights(design):
    """W == 1: model(x, c) is the target run with the generated weights as its own parameters."""
    target, hnet, model = setup(design)
    x, c = MLP_TARGET.x(), design.cond.one()
    weights = hnet(c)
    expected = zoo.with_weights(target, weights)(x)
    torch.testing.assert_close(model(x, c), expected)


@pytest.mark.parametrize("design",
                         [d for d in zoo.DESIGNS if d.mip or d.head in ("full", "per_tensor")],
                         ids=lambda d: d.name)
def test_head_emitting_target_weights_reproduces_target(design):
    """A head whose output equals the target's own weights (MIP with zero delta; without MIP a
    Full/PerTensor head with zero weights and the parameters as bias) reproduces target(x)."""
    target, hnet, model = setup(design)
    zoo.set_head_to_target(hnet, target)
    x = MLP_TARGET.x()
    conditions = [design.cond.one()]
    if design.cond.per_sample:
        conditions.append(design.cond.per_sample(zoo.B))
    own = dict(target.named_parameters())
    for c in conditions:
        # the generated tensors are bit-identical to the target's parameters ...
        for name, w in hnet(c).items():
            assert torch.equal(w, own[name].detach().expand_as(w)), name
        # ... and the outputs agree up to float rounding (a weight that is a view into the flat
        # (W, P) buffer can take a different BLAS path than the parameter itself)
        torch.testing.assert_close(model(x, c), target(x))
    if design.cond.members:
        expected = target(x).expand(zoo.K, *target(x).shape)
        torch.testing.assert_close(model.ensemble(x, design.cond.members(zoo.K)), expected)


@pytest.mark.parametrize("design", [d for d in zoo.DESIGNS if d.cond.per_sample],
                         ids=lambda d: d.name)
def test_per_sample_equals_loop_of_single_calls(design):
    """W == B: sample i uses weight set i; equals a loop of single-sample, single-condition
    calls."""
    _, hnet, model = setup(design)
    x, c = MLP_TARGET.x(), design.cond.per_sample(zoo.B)
    out = model(x, c)
    loop = torch.cat([model(x[i:i + 1], zoo.index_condition(c, i)) for i in range(zoo.B)])
    torch.testing.assert_close(out, loop)
    assert hnet.flat(c).shape == (zoo.B, hnet.specs.total)


@pytest.mark.parametrize("design", [d for d in zoo.DESIGNS if d.cond.members],
                         ids=lambda d: d.name)
def test_ensemble_equals_loop_over_members(design):
    _, _, model = setup(design)
    x, c = MLP_TARGET.x(), design.cond.members(zoo.K)
    out = model.ensemble(x, c)
    loop = torch.stack([model(x, zoo.index_condition(c, k)) for k in range(zoo.K)])
    assert out.shape == (zoo.K, zoo.B, 3)
    torch.testing.assert_close(out, loop)


# ----------------------------------------------------------------- (2) gradient flow
@DESIGNS
def test_gradients_reach_hypernetwork_and_static_parameters_only(design):
    """Grads reach every hypernetwork parameter and the condition embedding / encoder / inputs;
    the target's generated parameters get none; its static (non-generated) ones train."""
    target = MLP_TARGET.build()
    hnet = design.build(target, exclude=["net.2.bias"])
    model = hw.HyperModel(target, hnet)
    c = design.cond.per_sample(zoo.B) if design.cond.per_sample else design.cond.one()
    leaves = [t for t in (c if isinstance(c, tuple) else (c,))
              if isinstance(t, torch.Tensor) and t.is_floating_point()]
    for t in leaves:
        t.requires_grad_(True)
    model(MLP_TARGET.x(), c).square().mean().backward()

    missing = [n for n, p in hnet.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no gradient for hypernetwork parameters {missing}"
    # the condition's own parameters (embedding rows, encoder) receive a non-zero gradient
    cond_params = list(hnet.condition.parameters())
    assert all(p.grad.abs().sum() > 0 for p in cond_params)
    if design.cond.grad_inputs:
        assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in leaves)
    assert hnet.head.out.weight.grad.abs().sum() > 0 if hasattr(hnet.head, "out") else True
    for name, p in target.named_parameters():
        if name in hnet.generated_parameter_names:
            assert p.grad is None, f"generated parameter {name} got a gradient"
        else:
            assert p.grad is not None and p.grad.abs().sum() > 0, f"static {name} got no gradient"
    assert set(model.static_parameters()) == {"net.2.bias"}
    trainable = {id(p) for p in model.trainable_parameters()}
    assert id(target.net[2].bias) in trainable and id(target.net[0].weight) not in trainable


# ----------------------------------------------------------------- (3) target unchanged
@DESIGNS
def test_target_unchanged_after_successful_and_failing_calls(design):
    target, _, model = setup(design)
    before = zoo.snapshot(target)
    x, c = MLP_TARGET.x(), design.cond.one()
    model(x, c).sum().backward()
    if design.cond.members:
        model.ensemble(x, design.cond.members(zoo.K))
    zoo.assert_same_snapshot(before, zoo.snapshot(target))
    with pytest.raises(RuntimeError):  # raises inside the target: wrong feature width
        model(torch.randn(zoo.B, 5), c)
    zoo.assert_same_snapshot(before, zoo.snapshot(target))
    if design.cond.per_sample:
        with pytest.raises(RuntimeError):  # raises inside the target, under vmap
            model(torch.randn(zoo.B, 5), design.cond.per_sample(zoo.B))
        zoo.assert_same_snapshot(before, zoo.snapshot(target))


# ----------------------------------------------------------------- (4) save -> load
@DESIGNS
@pytest.mark.parametrize("kind", ["HyperNetwork", "HyperModel"])
def test_save_load_gives_identical_outputs(design, kind, tmp_path):
    target, hnet, model = setup(design, exclude=["net.2.bias"])
    with torch.no_grad():  # make the static parameter differ from a fresh target's
        target.net[2].bias.add_(1.0)
    path = tmp_path / "ckpt.safetensors"
    hw.save(model if kind == "HyperModel" else hnet, path)

    fresh = MLP_TARGET.build(seed=123)  # same architecture, different values
    extra = {} if design.cond.serializable else {"condition": design.cond.factory()}
    loaded = hw.load(path, fresh, **extra)
    assert type(loaded).__name__ == kind
    c = design.cond.one()
    if kind == "HyperNetwork":
        assert torch.equal(loaded.flat(c), hnet.flat(c))
    else:
        x = MLP_TARGET.x()
        assert torch.equal(loaded(x, c), model(x, c))
        assert torch.equal(fresh.net[2].bias, target.net[2].bias)
        if design.cond.members:
            m = design.cond.members(zoo.K)
            assert torch.equal(loaded.ensemble(x, m), model.ensemble(x, m))
    from safetensors import safe_open
    with safe_open(str(path), framework="pt") as f:
        keys = set(f.keys())
    assert not keys & {f"target.{n}" for n in hnet.generated_parameter_names}
    assert all(k.startswith(("hypernetwork.", "target.")) for k in keys)
    assert ("target.net.2.bias" in keys) == (kind == "HyperModel")


# ----------------------------------------------------------------- (5) shapes
@DESIGNS
def test_generated_shapes_keep_the_weight_set_dimension(design):
    target, hnet, _ = setup(design)
    widths = [(design.cond.one(), 1)]
    if design.cond.per_sample:
        widths.append((design.cond.per_sample(zoo.B), zoo.B))
    params = dict(target.named_parameters())
    for c, w in widths:
        weights = hnet(c)
        assert list(weights) == list(params)
        for name, tensor in weights.items():
            assert tensor.shape == (w, *params[name].shape), name
        assert hnet.flat(c).shape == (w, hnet.specs.total)
        assert hnet.encode(c).shape[0] == w


def test_every_design_is_covered():
    """The table really is the full product of the axes (minus invalid head/trunk pairs)."""
    assert len(zoo.DESIGNS) == (len(zoo.HEADS) * len(zoo.TRUNKS) - len(zoo.INVALID_HEAD_TRUNK)) \
        * len(zoo.CONDITIONS) * 2
    assert len(zoo.INVALID_HEAD_TRUNK) == 6
