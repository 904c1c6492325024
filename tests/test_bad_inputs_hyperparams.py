"""Bad input to the hyperparameter application: one row per case, the exception type and the
helpful part of its message (what was expected, what was received or how to fix it)."""

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import hyperweights as hw
from hyperweights.hyperparams import (ConditionedModel, Hyperparameter, HyperparameterSpace,
                                      HyperparamsConfig, ModelStack, StnConv2d, StnHyperparameters,
                                      StnLinear, StnMLP, StnModel, StnTrainer, cutout, dropout, evaluate,
                                      fit, l2_penalty)

sys.path.insert(0, str(Path(__file__).parent))
from bad_input_table import assert_clear_error, table  # noqa: E402


def _space():
    return HyperparameterSpace([Hyperparameter("wd", 1e-5, 1e-1, scale="log"), Hyperparameter("s", 0.0, 0.3)])


def _model():
    return ConditionedModel(nn.Linear(4, 3), _space(), trunk=hw.MLP((8,)))


def _stn_hparams():
    return StnHyperparameters(HyperparameterSpace([Hyperparameter("d", 0.01, 0.9, scale="logit")]))


X = torch.randn(6, 4)
Y = torch.zeros(6, dtype=torch.long)

CASES = [
    # Hyperparameter
    ("empty name", lambda: Hyperparameter("", 0, 1), ValueError, "non-empty name"),
    ("low >= high", lambda: Hyperparameter("a", 1, 0), ValueError, "finite low < high"),
    ("NaN bound", lambda: Hyperparameter("a", float("nan"), 1), ValueError, "finite low < high"),
    ("string bound", lambda: Hyperparameter("a", "0", 1), TypeError, "must be real numbers"),
    ("log scale from 0", lambda: Hyperparameter("a", 0, 1, scale="log"), ValueError, "positive lower bound"),
    ("logit scale to 1", lambda: Hyperparameter("a", 0.1, 1, scale="logit"), ValueError, "0 < low < high < 1"),
    ("unknown scale", lambda: Hyperparameter("a", 0, 1, scale="exp"), ValueError, "scale must be one of"),
    ("unknown out_of_range", lambda: Hyperparameter("a", 0, 1, out_of_range="wrap"), ValueError,
     "'error' or 'clamp'"),
    # HyperparameterSpace
    ("empty space", lambda: HyperparameterSpace([]), ValueError, "at least one Hyperparameter"),
    ("duplicate names", lambda: HyperparameterSpace([Hyperparameter("a", 0, 1)] * 2), ValueError,
     "names must be unique"),
    ("tuples instead of Hyperparameters", lambda: HyperparameterSpace([("a", 0, 1)]), TypeError,
     "list of Hyperparameter"),
    ("unknown name", lambda: _space()["lr"], KeyError, "declared: ['wd', 's']"),
    ("grid of 0 points", lambda: _space().grid(0), ValueError, "points >= 1"),
    ("negative sample count", lambda: _space().sample(-1), ValueError, "positive integer"),
    ("foreign dict", lambda: HyperparameterSpace.from_dict({"x": 1}), ValueError,
     "not a HyperparameterSpace description"),
    # ConditionedModel
    ("value out of range", lambda: _model()(X, {"wd": 2.0, "s": 0.1}), ValueError, "declared range [1e-05, 0.1]"),
    ("sweep value out of range", lambda: _model().sweep(X, {"wd": [1e-3, 5.0], "s": [0.1, 0.1]}), ValueError,
     "got values in [0.001, 5]"),
    ("unknown hyperparameter name", lambda: _model()(X, {"wd": 1e-3, "lr": 0.1}), KeyError, "unknown ['lr']"),
    ("missing hyperparameter", lambda: _model()(X, {"wd": 1e-3}), KeyError, "missing ['s']"),
    ("values of the wrong width", lambda: _model()(X, torch.rand(2, 3)), ValueError, "shape (W, 2)"),
    ("values as a string", lambda: _model()(X, "wd=1e-3"), TypeError, "a dict {name: value}"),
    ("NaN value", lambda: _model()(X, {"wd": float("nan"), "s": 0.1}), ValueError, "non-finite"),
    ("groups not dividing the batch", lambda: _model()(X, torch.tensor([[1e-3, 0.1]] * 4)), ValueError,
     "do not divide the batch of 6"),
    ("x of the wrong feature size", lambda: _model()(torch.randn(6, 5), {"wd": 1e-3, "s": 0.1}), ValueError,
     "takes in_features=4"),
    ("per-example groups of a per-batch hyperparameter",
     lambda: ConditionedModel(nn.Linear(4, 3), HyperparameterSpace([Hyperparameter("a", 0, 1, per_example=False)]))
     .step_loss(X, Y, lambda *a: 0, groups="example"), ValueError, "declared per_example=False"),
    ("zero groups", lambda: _model().step_loss(X, Y, lambda *a: 0, groups=0), ValueError,
     "positive int or 'example'"),
    ("target that is not a module", lambda: ConditionedModel("mlp", _space()), TypeError, "nn.Module"),
    ("space as a dict", lambda: ConditionedModel(nn.Linear(4, 3), {"wd": (0, 1)}), TypeError,
     "HyperparameterSpace"),
    ("hypernetwork of another width", lambda: ConditionedModel(
        nn.Linear(4, 3), _space(), hypernetwork=hw.HyperNetwork(nn.Linear(4, 3), condition=hw.HyperparameterCondition(3))),
     ValueError, "HyperparameterCondition(2)"),
    ("load without a target", lambda: ConditionedModel.from_checkpoint({}, {}), TypeError, "hw.load(path, target)"),
    # fit / evaluate
    ("batch of 0", lambda: fit(_model(), (X, Y), HyperparamsConfig(batch_size=0)), ValueError,
     "batch_size must be a positive integer"),
    ("negative steps", lambda: fit(_model(), (X, Y), HyperparamsConfig(steps=-1)), ValueError,
     "steps must be a non-negative integer"),
    ("x and y of other lengths", lambda: fit(_model(), (X, Y[:3]), HyperparamsConfig()), ValueError,
     "same, non-zero number of rows"),
    ("evaluate without values", lambda: evaluate(_model(), (X, Y)), ValueError, "give the hyperparameter values"),
    # StnLinear / StnConv2d
    ("StnLinear with 0 inputs", lambda: StnLinear(0, 3, 1), ValueError, "in_features and out_features >= 1"),
    ("StnLinear with 0 hyperparameters", lambda: StnLinear(3, 3, 0), ValueError, "num_hparams >= 1"),
    ("StnLinear x of the wrong width", lambda: StnLinear(3, 2, 2)(torch.randn(4, 5), torch.randn(4, 2)),
     ValueError, "x of shape (B, 3)"),
    ("StnLinear hyperparameters of the wrong width", lambda: StnLinear(3, 2, 2)(torch.randn(4, 3), torch.randn(4, 3)),
     ValueError, "hyperparameters of shape (B, 2)"),
    ("StnLinear hyperparameters of other rows", lambda: StnLinear(3, 2, 2)(torch.randn(4, 3), torch.randn(3, 2)),
     ValueError, "with B=4; got (3, 2)"),
    ("StnConv2d hyperparameters of the wrong width",
     lambda: StnConv2d(1, 2, 3, 2)(torch.randn(2, 1, 8, 8), torch.randn(2, 5)), ValueError, "shape (B, 2)"),
    # StnHyperparameters / StnTrainer / StnModel
    ("initial value of an undeclared hyperparameter", lambda: StnHyperparameters(_space(), {"lr": 0.1}), KeyError,
     "undeclared hyperparameters ['lr']"),
    ("initial value out of range", lambda: StnHyperparameters(_space(), {"wd": 5.0}), ValueError, "declared range"),
    ("perturbation scale 0", lambda: StnHyperparameters(_space(), init_scale=0), ValueError, "init_scale must be > 0"),
    ("no training steps per round", lambda: StnTrainer(StnMLP((3, 2), 1), _stn_hparams(), train_steps=0), ValueError,
     "must be >= 1"),
    ("model holding its hyperparameters",
     lambda: (lambda h: StnTrainer(nn.ModuleDict({"h": h, "l": nn.Linear(2, 2)}), h))(_stn_hparams()), ValueError,
     "pass them separately"),
    ("a space instead of StnHyperparameters", lambda: StnTrainer(StnMLP((3, 2), 1), _space()), TypeError,
     "StnHyperparameters(space, init)"),
    ("a function instead of a model", lambda: StnTrainer(lambda x, t, v: x, _stn_hparams()), TypeError,
     "must be an nn.Module"),
    ("negative learning rate", lambda: StnTrainer(StnMLP((3, 2), 1), _stn_hparams(), lr=-1), ValueError,
     "positive"),
    ("StnModel of a string", lambda: StnModel("net", _space()), TypeError, "network(x, t, values)"),
    ("fit an STN without validation data",
     lambda: fit(StnModel(StnMLP((4, 3), 1), HyperparameterSpace([Hyperparameter("d", 0.01, 0.9, scale="logit")])),
                 (X, Y), HyperparamsConfig()), ValueError, "val_data=(x_val, y_val)"),
    ("StnModel checkpoint without the network", lambda: StnModel.from_checkpoint({}, {"network_class": "StnMLP"}),
     TypeError, "hw.load(path, network=...)"),
    # ModelStack
    ("stack of 0 members", lambda: ModelStack(lambda: nn.Linear(3, 2), 0), ValueError, "k >= 1"),
    ("a module instead of a factory", lambda: ModelStack(nn.Linear(3, 2), 2), TypeError, "lambda: nn.Linear"),
    ("a factory returning no module", lambda: ModelStack(lambda: 3, 2), TypeError, "must return an nn.Module"),
    ("stacked members on x of the wrong width", lambda: ModelStack(lambda: nn.Linear(3, 2), 2)(torch.randn(4, 5)),
     ValueError, "x of shape (4, 5)"),
    # regularizers
    ("cutout of 3-D images", lambda: cutout(torch.ones(2, 3, 4), torch.tensor([1.0, 1.0])), ValueError,
     "(B, C, H, W) or (B, H*W)"),
    ("cutout of non-square flat images", lambda: cutout(torch.ones(2, 10), torch.tensor([1.0, 1.0])), ValueError,
     "must be square"),
    ("cutout lengths of another batch", lambda: cutout(torch.ones(2, 16), torch.tensor([1.0] * 3)), ValueError,
     "shape (B,) = (2,)"),
    ("negative cutout length", lambda: cutout(torch.ones(2, 16), torch.tensor([-1.0, 1.0])), ValueError,
     "cutout length must lie in [0.0, inf]"),
    ("dropout rate above 1", lambda: dropout(torch.ones(2, 3), torch.tensor([1.5, 0.1])), ValueError,
     "dropout rate must lie in [0.0, 1.0)"),
    ("l2 penalty of unknown weights", lambda: l2_penalty({"w": torch.ones(2, 3)}, torch.ones(2), names=["v"]),
     KeyError, "no generated weights named ['v']"),
]


@table(CASES)
def test_bad_input_raises_a_clear_error(call, error, phrase):
    assert_clear_error(call, error, phrase)
