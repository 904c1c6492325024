"""Invariant 6: bad input is a clear exception (what was expected, what was received, how to fix
it), never an ``assert`` and never a silent wrong result."""

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
import models as zoo  # noqa: E402
from models import one_thread  # noqa: E402, F401  (autouse fixture)

import hyperweights as hw  # noqa: E402


def mlp():
    torch.manual_seed(0)
    return zoo.MLP()


def task_model(**kwargs):
    target = mlp()
    hnet = hw.HyperNetwork(target, condition=hw.TaskEmbedding(5, 3), **kwargs)
    return hw.HyperModel(target, hnet)


# ----------------------------------------------------------------- selection
def test_empty_selection_lists_the_available_names():
    with pytest.raises(ValueError, match=r"matched no parameter of MLP\. Available names: "
                                         r"net\.0\.weight, net\.0\.bias, net\.2\.weight, "
                                         r"net\.2\.bias"):
        hw.HyperNetwork(mlp(), generate=r"fc\d\.weight", condition=hw.TaskEmbedding(2, 3))
    with pytest.raises(ValueError, match="Available names"):
        hw.HyperNetwork(mlp(), generate=["conv"], condition=hw.TaskEmbedding(2, 3))
    with pytest.raises(ValueError, match="Available names"):   # everything excluded
        hw.HyperNetwork(mlp(), exclude=r".*", condition=hw.TaskEmbedding(2, 3))


@pytest.mark.parametrize("generate,error,message", [
    (3, TypeError, "must be None, a regex string, a list of names/suffixes or a predicate"),
    ({"weight"}, TypeError, "got set"),
    (["weight", 1], TypeError, "got list"),
    ("[", ValueError, "not a valid regular expression"),
], ids=["int", "set", "mixed_list", "bad_regex"])
def test_bad_selection_types(generate, error, message):
    with pytest.raises(error, match=message):
        hw.HyperNetwork(mlp(), generate=generate, condition=hw.TaskEmbedding(2, 3))


def test_target_without_parameters():
    with pytest.raises(ValueError, match="ReLU has no parameters to generate"):
        hw.HyperNetwork(nn.ReLU(), condition=hw.TaskEmbedding(2, 3))


# ----------------------------------------------------------------- conditions
def test_task_id_out_of_range_says_how_to_grow():
    model = task_model()
    x = torch.randn(zoo.B, 6)
    for bad, shown in ((5, r"\[5\]"), (-1, r"\[-1\]"), (torch.tensor([0, 9, 2, 9]), r"\[9\]")):
        with pytest.raises(IndexError,
                           match=shown + r" out of range.*5 tasks \(ids 0\.\.4\).*add_tasks"):
            model(x, bad)
    model.hypernetwork.condition.add_tasks(1)
    assert model(x, 5).shape == (zoo.B, 3)


@pytest.mark.parametrize("task", [1.0, torch.tensor([0.0, 1.0]), True,
                                  torch.zeros(2, 2, dtype=torch.long)],
                         ids=["float", "float_tensor", "bool", "2d"])
def test_task_ids_of_the_wrong_type(task):
    with pytest.raises(TypeError, match="TaskEmbedding expects an int or a 1-D integer tensor"):
        hw.TaskEmbedding(4, 2)(task)


def test_condition_batch_neither_one_nor_b():
    model = task_model()
    with pytest.raises(ValueError, match=r"W=3 sets but the data batch is B=4; W must be 1 .* or B"
                                         r".*ensemble"):
        model(torch.randn(4, 6), torch.arange(3))
    target = mlp()
    data_hnet = hw.HyperNetwork(target, condition=hw.DataCondition(nn.Linear(5, 4)))
    data_model = hw.HyperModel(target, data_hnet)
    with pytest.raises(ValueError, match="W=2 sets but the data batch is B=4"):
        data_model(torch.randn(4, 6), torch.randn(2, 5))


def test_generated_weights_with_disagreeing_w():
    with pytest.raises(ValueError,
                       match=r"same leading weight-set dimension W >= 1; got weight: 4, bias: 3"):
        hw.functional_forward(nn.Linear(3, 2), {"weight": torch.randn(4, 2, 3),
                                                "bias": torch.randn(3, 2)}, torch.randn(4, 3))
    with pytest.raises(ValueError, match="empty dict"):
        hw.functional_forward(nn.Linear(3, 2), {}, torch.randn(4, 3))
    with pytest.raises(ValueError, match="tensor positional argument"):
        hw.functional_forward(nn.Linear(3, 2), {"weight": torch.randn(4, 2, 3)},
                              input=torch.randn(4, 3))


@pytest.mark.parametrize("cond,value,error,message", [
    (lambda: hw.HyperparameterCondition(2), torch.rand(3, 3), ValueError,
     r"shape \(W, 2\).*got \(3, 3\)"),
    (lambda: hw.HyperparameterCondition(2), torch.rand(3, 2, 1), ValueError, r"got \(3, 2, 1\)"),
    (lambda: hw.HyperparameterCondition(2), torch.tensor([[0.5, 1.5]]), ValueError, r"\[0, 1\]"),
    (lambda: hw.HyperparameterCondition(2), torch.tensor([[-0.1, 0.5]]), ValueError, r"\[0, 1\]"),
    (lambda: hw.HyperparameterCondition(2), torch.tensor([[float("nan"), 0.5]]), ValueError,
     r"\[0, 1\]"),
    (lambda: hw.NoiseCondition(4), torch.randn(3, 5), ValueError, r"shape \(K, 4\), got \(3, 5\)"),
    (lambda: hw.NoiseCondition(4), torch.randn(4), ValueError, r"shape \(K, 4\), got \(4,\)"),
    (lambda: hw.NoiseCondition(4), 0, ValueError, "positive int"),
    (lambda: hw.NoiseCondition(4), 2.5, TypeError, "None, an int K or a"),
    (lambda: hw.DataCondition(nn.Linear(5, 6), dim=4), torch.randn(3, 5), ValueError,
     r"encoder must return \(B, 4\); it returned \(3, 6\)"),
    (lambda: hw.DataCondition(nn.Sequential(nn.Linear(5, 6), nn.Flatten(0))), torch.randn(3, 5),
     ValueError, r"encoder must return \(B, 6\); it returned \(18,\)"),
    (lambda: hw.DataCondition(nn.Linear(5, 6)), 3, TypeError, "batched tensor"),
    (lambda: hw.Concat(hw.TaskEmbedding(5, 3), hw.HyperparameterCondition(1)),
     (torch.arange(2), torch.rand(3, 1)), ValueError,
     r"condition batches \[2, 3\]; each must be 1 or 3"),
    (lambda: hw.Concat(hw.TaskEmbedding(5, 3), hw.HyperparameterCondition(1)), torch.arange(2),
     ValueError, "tuple of 2 conditions"),
], ids=["hyper_width", "hyper_3d", "hyper_above_1", "hyper_below_0", "hyper_nan", "noise_width",
        "noise_1d", "noise_zero", "noise_float", "data_width", "data_rank", "data_not_tensor",
        "concat_batches", "concat_not_tuple"])
def test_wrong_condition_input(cond, value, error, message):
    target = mlp()
    hnet = hw.HyperNetwork(target, condition=cond())
    with pytest.raises(error, match=message):
        hnet(value)


@pytest.mark.parametrize("factory,message", [
    (lambda: hw.TaskEmbedding(0, 3), "num_tasks >= 1"),
    (lambda: hw.NoiseCondition(0), "dim >= 1"),
    (lambda: hw.HyperparameterCondition(0), "num >= 1"),
    (lambda: hw.HyperparameterCondition(1, encoding="tanh"), "unknown encoding"),
    (lambda: hw.DataCondition(nn.ReLU()), r"pass DataCondition\(encoder, dim=\.\.\.\)"),
    (lambda: hw.DataCondition(nn.Linear(2, 2), pool="max"), "pool must be None"),
    (lambda: hw.ChunkedHead(0), "must be positive"),
    (lambda: hw.ChunkedHead(8, embedding_dim=0), "must be positive"),
    (lambda: hw.PerLayerHead(embedding_dim=0), "must be positive"),
    (lambda: hw.LowRankHead(0), "rank must be positive"),
    (lambda: hw.MLP(hidden=(0,)), "hidden widths must be positive"),
    (lambda: hw.MLP(activation="swishy"), "unknown activation"),
    (lambda: hw.RNNTrunk(cell="rnn"), "cell must be 'gru' or 'lstm'"),
    (lambda: hw.RNNTrunk(hidden=0), "must be positive"),
    (lambda: hw.AttentionTrunk(dim=10, heads=3), "divisible"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_part_arguments(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


# ----------------------------------------------------------------- construction
@pytest.mark.parametrize("kwargs,message", [
    ({"condition": "task"}, "condition must be a Conditioner"),
    ({"condition": None}, "condition must be a Conditioner"),
    ({"trunk": nn.Linear(2, 2)}, "trunk must be a Trunk"),
    ({"head": "full"}, "head a Head, got MLP, str"),
    ({"parametrization": nn.Identity()}, "parametrization must be None or MIP"),
], ids=["condition_str", "condition_none", "trunk", "head", "parametrization"])
def test_bad_part_types(kwargs, message):
    kwargs = {"condition": hw.TaskEmbedding(2, 3), **kwargs}
    with pytest.raises(TypeError, match=message):
        hw.HyperNetwork(mlp(), **kwargs)


def test_bad_target_and_init():
    with pytest.raises(TypeError, match="target must be an nn.Module"):
        hw.HyperNetwork(lambda x: x, condition=hw.TaskEmbedding(2, 3))
    with pytest.raises(ValueError, match="init must be one of"):
        hw.HyperNetwork(mlp(), condition=hw.TaskEmbedding(2, 3), init="xavier")
    with pytest.raises(TypeError, match="hypernetwork must be a HyperNetwork"):
        hw.HyperModel(mlp(), nn.Linear(2, 2))
    hnet = hw.HyperNetwork(mlp(), condition=hw.TaskEmbedding(2, 3))
    with pytest.raises(ValueError,
                       match=r"does not fit this target.*net\.0\.weight: missing in Linear"):
        hw.HyperModel(nn.Linear(6, 3), hnet)


@pytest.mark.parametrize("head,trunk", zoo.INVALID_HEAD_TRUNK,
                         ids=[f"{h}-{t}" for h, t in zoo.INVALID_HEAD_TRUNK])
def test_sequence_trunk_needs_a_tokenised_head(head, trunk):
    with pytest.raises(ValueError, match=r"runs over the head's layer/chunk tokens.*"
                                         r"Use ChunkedHead or PerLayerHead"):
        hw.HyperNetwork(mlp(), condition=hw.TaskEmbedding(2, 3), trunk=zoo.TRUNKS[trunk](),
                        head=zoo.HEADS[head]())


# ----------------------------------------------------------------- non-finite weights
@pytest.mark.parametrize("head", list(zoo.HEADS))
def test_non_finite_generated_weights_are_caught_when_checking(head):
    target = mlp()
    hnet = hw.HyperNetwork(target, condition=hw.NoiseCondition(3), head=zoo.HEADS[head](),
                           check_finite=True)
    model = hw.HyperModel(target, hnet)
    bad = torch.tensor([[float("inf"), 0.0, 0.0]])
    with pytest.raises(FloatingPointError, match=r"non-finite values in \['net\.0\.weight'.*"
                                                 r"Lower the learning rate"):
        model(torch.randn(zoo.B, 6), bad)
    hnet.check_finite = False      # off: no check (the documented default, for speed)
    assert not torch.isfinite(hnet.flat(bad)).all()


def test_non_finite_report_names_only_the_bad_tensors():
    target = mlp()
    hnet = hw.HyperNetwork(target, condition=hw.TaskEmbedding(2, 3), head=hw.FullHead(),
                           check_finite=True)
    with torch.no_grad():
        hnet.head.out.bias[hnet.specs["net.2.bias"].offset] = float("nan")
    with pytest.raises(FloatingPointError, match=r"in \['net\.2\.bias'\]"):
        hnet(1)


def test_check_finite_survives_save_load(tmp_path):
    target = mlp()
    hnet = hw.HyperNetwork(target, condition=hw.TaskEmbedding(2, 3), check_finite=True)
    hw.save(hnet, tmp_path / "h.safetensors")
    assert hw.load(tmp_path / "h.safetensors", target).check_finite


def test_no_asserts_guard_user_input():
    """User input is validated with exceptions in the core; `python -O` would strip an assert."""
    import ast
    import hyperweights
    root = Path(hyperweights.__file__).parent
    packages = ("conditioning", "trunks", "heads", "parametrize", "targets")
    core = [*root.glob("*.py"), *(p for d in packages for p in (root / d).rglob("*.py"))]
    offenders = [f"{path.relative_to(root)}:{node.lineno}"
                 for path in core
                 for node in ast.walk(ast.parse(path.read_text()))
                 if isinstance(node, ast.Assert)]
    assert not offenders, f"assert statements in the package: {offenders}"
