"""Which parameters are generated: peft-style selection by name (regex full match, list of names
or dotted suffixes, predicate) and ``exclude``; unselected parameters stay ordinary parameters."""

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
import models as zoo  # noqa: E402
from models import one_thread  # noqa: E402, F401  (autouse fixture)

import hyperweights as hw  # noqa: E402


class Net(nn.Module):
    """Names chosen to trip naive matching: ``fc1`` vs ``fc11``, ``weight`` vs ``my_weight``."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.fc11 = nn.Linear(4, 4)
        self.block = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
        self.my_weight = nn.Parameter(torch.ones(2))

    def forward(self, x):
        return self.block(self.fc11(self.fc1(x))).sum(-1, keepdim=True) * self.my_weight.sum()


# named_parameters() lists a module's own parameters before its children's
ALL = ["my_weight", "fc1.weight", "fc1.bias", "fc11.weight", "fc11.bias", "block.0.weight",
       "block.0.bias", "block.1.weight", "block.1.bias"]

CASES = [
    ("none_is_all", None, (), ALL),
    ("regex_full_match", r"fc1\..*", (), ["fc1.weight", "fc1.bias"]),
    ("regex_is_not_search", r"fc1", (), None),                       # no partial matches
    ("regex_alternatives", r"(fc1|block\.0)\.weight", (), ["fc1.weight", "block.0.weight"]),
    ("regex_all_weights", r".*\.weight", (), ["fc1.weight", "fc11.weight", "block.0.weight",
                                              "block.1.weight"]),
    ("suffix_list", ["weight"], (), ["fc1.weight", "fc11.weight", "block.0.weight",
                                     "block.1.weight"]),             # not my_weight
    ("suffix_exact_root", ["my_weight"], (), ["my_weight"]),  # exact root name too
    ("suffix_is_dotted", ["eight"], (), None),
    ("suffix_of_module", ["0.bias"], (), ["block.0.bias"]),
    ("exact_names", ["fc1.weight", "my_weight"], (), ["my_weight", "fc1.weight"]),
    ("exact_not_prefix", ["fc1.weight"], (), ["fc1.weight"]),       # fc11.weight not matched
    ("predicate_matrices", lambda n, p: p.ndim == 2, (), ["fc1.weight", "fc11.weight",
                                                         "block.0.weight"]),
    ("exclude_list", None, ["bias"], ["my_weight", "fc1.weight", "fc11.weight", "block.0.weight",
                                      "block.1.weight"]),
    ("exclude_regex", r".*\.weight", r"block\..*", ["fc1.weight", "fc11.weight"]),
    ("exclude_predicate", ["weight"], lambda n, p: p.ndim < 2, ["fc1.weight", "fc11.weight",
                                                                "block.0.weight"]),
    ("exclude_everything", ["bias"], r".*", None),
]


@pytest.mark.parametrize("generate,exclude,expected", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_selection_table(generate, exclude, expected):
    net = Net()
    if expected is None:
        listed = ", ".join(ALL).replace(".", r"\.")
        with pytest.raises(ValueError, match=r"(Available names: |selects in Net \()" + listed):
            hw.select_parameters(net, generate, exclude)
        return
    assert [n for n, _ in hw.select_parameters(net, generate, exclude)] == expected
    found = hw.inspect_targets(net, generate, exclude)
    assert found == {"matched": expected, "unmatched": [n for n in ALL if n not in expected]}
    hnet = hw.HyperNetwork(net, generate=generate, exclude=exclude,
                           condition=hw.TaskEmbedding(2, 3))
    assert hnet.generated_parameter_names == expected
    model = hw.HyperModel(net, hnet)
    assert sorted(model.static_parameters()) == sorted(set(ALL) - set(expected))


def test_partial_generation_runs_and_trains_the_static_parameters():
    torch.manual_seed(0)
    net = Net()
    hnet = hw.HyperNetwork(net, generate=["fc1.weight", "block.0.weight"],
                           condition=hw.TaskEmbedding(2, 3))
    model = hw.HyperModel(net, hnet)
    x = torch.randn(5, 3)
    weights = hnet(1)
    torch.testing.assert_close(model(x, 1), zoo.with_weights(net, weights)(x))
    model(x, torch.tensor([0, 1, 1, 0, 1])).sum().backward()
    for name, p in net.named_parameters():
        assert (p.grad is None) == (name in hnet.generated_parameter_names), name


def test_frozen_parameters_can_be_generated_or_stay_frozen():
    """A frozen static parameter stays out of trainable_parameters(); generation ignores
    requires_grad (a frozen pretrained layer can still be generated)."""
    net = Net()
    net.fc1.requires_grad_(False)
    model = hw.HyperModel(net, hw.HyperNetwork(net, generate=["fc11.weight"],
                                               condition=hw.TaskEmbedding(2, 3)))
    trainable = {id(p) for p in model.trainable_parameters()}
    assert id(net.fc1.weight) not in trainable and id(net.fc11.bias) in trainable
    hnet = hw.HyperNetwork(net, generate=["fc1.weight"], condition=hw.TaskEmbedding(2, 3))
    assert hnet.generated_parameter_names == ["fc1.weight"]


def test_spec_table_offsets_layers_and_masks():
    net = Net()
    hnet = hw.HyperNetwork(net, exclude=["my_weight"], condition=hw.TaskEmbedding(2, 3))
    specs = hnet.specs
    assert specs.layers == ["fc1", "fc11", "block.0", "block.1"]
    assert [s.offset for s in specs] == [0, 12, 16, 32, 36, 52, 56, 60]
    assert [s.layer_index for s in specs] == [0, 0, 1, 1, 2, 2, 3, 3]
    assert specs.total == 64 and specs["fc11.bias"].fan_in is None
    assert (specs["fc1.weight"].fan_in, specs["fc1.weight"].fan_out) == (3, 4)
    mask = specs.mask(["fc11.bias"])
    assert mask.sum() == 4 and mask[32:36].all()
    flat = hnet.flat(torch.tensor([0, 1]))
    assert torch.equal(specs.flatten(specs.split(flat)), flat)
