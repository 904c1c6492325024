"""Declared hyperparameters: transforms, ranges, errors, JSON."""

import math
import warnings

import pytest
import torch

from hyperweights.hyperparams import Hyperparameter, HyperparameterSpace


@pytest.mark.parametrize("scale,low,high,value,unit", [
    ("linear", 0.0, 0.3, 0.15, 0.5),
    ("log", 1e-5, 1e-1, 1e-3, 0.5),
    ("logit", 0.01, 0.99, 0.5, 0.5),
    ("logit", 0.1, 0.9, 0.9, 1.0),
])
def test_transforms_map_range_onto_unit_interval_and_back(scale, low, high, value, unit):
    h = Hyperparameter("h", low, high, scale=scale)
    u = h.to_unit(torch.tensor([low, value, high]))
    torch.testing.assert_close(u, torch.tensor([0.0, unit, 1.0]), atol=1e-5, rtol=0)
    back = h.from_unit(u)
    torch.testing.assert_close(back, torch.tensor([low, value, high]), rtol=1e-4, atol=1e-7)


def test_log_scale_is_geometric():
    space = HyperparameterSpace([Hyperparameter("wd", 1e-4, 1e-0, scale="log")])
    grid = space.grid(5)[:, 0]
    torch.testing.assert_close(grid, torch.tensor([1e-4, 1e-3, 1e-2, 1e-1, 1.0]), rtol=1e-4, atol=0)


def test_out_of_range_is_a_clear_error():
    space = HyperparameterSpace([Hyperparameter("wd", 1e-5, 1e-1, scale="log")])
    with pytest.raises(ValueError, match=r"wd must lie in the declared range \[1e-05, 0.1\]"):
        space.to_unit({"wd": 0.5})
    with pytest.raises(ValueError, match="non-finite"):
        space.to_unit({"wd": math.nan})


def test_clamp_mode_clamps_with_a_warning():
    space = HyperparameterSpace([Hyperparameter("s", 0.0, 0.3, out_of_range="clamp")])
    with pytest.warns(UserWarning, match="Clamping"):
        u = space.to_unit({"s": 0.6})
    assert u.item() == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        space.to_unit({"s": 0.2})          # in range: no warning


@pytest.mark.parametrize("kwargs,match", [
    ({"low": 0.0, "high": 1.0, "scale": "log"}, "log scale needs low > 0"),
    ({"low": 0.0, "high": 0.5, "scale": "logit"}, "logit scale needs 0 < low < high < 1"),
    ({"low": 1.0, "high": 1.0}, "finite low < high"),
    ({"low": 0.0, "high": 1.0, "scale": "cubic"}, "scale must be one of"),
    ({"low": 0.0, "high": 1.0, "out_of_range": "ignore"}, "out_of_range must be"),
])
def test_bad_declarations_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Hyperparameter("h", **kwargs)


def test_space_value_forms_and_errors():
    space = HyperparameterSpace([Hyperparameter("a", 0.0, 1.0), Hyperparameter("b", 1e-3, 1e-1, scale="log")])
    m = space.as_matrix({"a": [0.1, 0.2, 0.3], "b": 1e-2})       # scalar broadcasts
    assert m.shape == (3, 2) and torch.all(m[:, 1] == 1e-2)
    assert space.as_matrix(torch.tensor([0.5, 0.01])).shape == (1, 2)
    with pytest.raises(KeyError, match="missing"):
        space.to_unit({"a": 0.5})
    with pytest.raises(ValueError, match=r"shape \(W, 2\)"):
        space.to_unit(torch.zeros(3, 3))
    with pytest.raises(ValueError, match="unique"):
        HyperparameterSpace([Hyperparameter("a", 0, 1), Hyperparameter("a", 0, 2)])


def test_sampling_is_uniform_in_unit_coordinates_and_reproducible():
    space = HyperparameterSpace([Hyperparameter("wd", 1e-5, 1e-1, scale="log")])
    a = space.sample(2000, torch.Generator().manual_seed(0))
    b = space.sample(2000, torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    assert a.min() >= 1e-5 and a.max() <= 1e-1
    # log-uniform: about half the draws below the geometric midpoint 1e-3
    assert abs((a < 1e-3).float().mean().item() - 0.5) < 0.05


def test_json_round_trip():
    space = HyperparameterSpace([Hyperparameter("p", 0.05, 0.9, scale="logit", per_example=False,
                                                out_of_range="clamp")])
    assert HyperparameterSpace.from_dict(space.to_dict()) == space
    with pytest.raises(ValueError, match="not a HyperparameterSpace"):
        HyperparameterSpace.from_dict({"nope": 1})
