"""Issue 11 §4: registries of the parts, the round-trip check of their configs, and the
parametrization protocol."""

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from models import one_thread  # noqa: E402, F401  (autouse fixture)

import hyperweights as hw  # noqa: E402
from hyperweights.trunks.mlp import DEFAULT_HIDDEN  # noqa: E402

FAMILIES = [
    (hw.list_conditioners, hw.create_conditioner, hw.Conditioner,
     {"TaskEmbedding", "NoiseCondition", "HyperparameterCondition", "DataCondition", "Concat"}),
    (hw.list_trunks, hw.create_trunk, hw.Trunk, {"MLP", "RNNTrunk", "AttentionTrunk"}),
    (hw.list_heads, hw.create_head, hw.Head,
     {"FullHead", "PerTensorHead", "PerLayerHead", "ChunkedHead", "LowRankHead"}),
    (hw.list_parametrizations, hw.create_parametrization, hw.Parametrization, {"MIP"}),
]


@pytest.mark.parametrize("list_fn,create_fn,base,builtin", FAMILIES,
                         ids=["conditioners", "trunks", "heads", "parametrizations"])
def test_each_family_lists_its_own_parts_only(list_fn, create_fn, base, builtin):
    names = list_fn()
    assert builtin <= set(names) and names == sorted(names)
    others = {n for fam in FAMILIES if fam[2] is not base for n in fam[3]}
    assert not others & set(names)
    assert list_fn("NoSuch*") == []


@pytest.mark.parametrize("name,kwargs", [
    ("MLP", {"hidden": (16,)}), ("RNNTrunk", {"hidden": 8, "cell": "lstm"}),
    ("AttentionTrunk", {"dim": 8, "heads": 2, "layers": 1}),
])
def test_create_trunk_equals_the_constructor(name, kwargs):
    made = hw.create_trunk(name, **kwargs)
    assert type(made) is getattr(hw, name)
    assert made.get_config() == getattr(hw, name)(**kwargs).get_config()


def test_create_drops_none_kwargs_so_defaults_apply():
    head = hw.create_head("ChunkedHead", chunk_size=None, embedding_dim=None)
    assert head.get_config() == hw.ChunkedHead().get_config()
    cond = hw.create_conditioner("HyperparameterCondition", num=2, encoding=None)
    assert cond.encoding == "cos|sin"      # None is "not given", as in timm's create_model


def test_glob_patterns():
    assert hw.list_heads("Per*") == ["PerLayerHead", "PerTensorHead"]
    assert hw.list_trunks("?LP") == ["MLP"]
    assert "TaskEmbedding" in hw.list_conditioners("*Embed*")


def test_one_default_trunk_and_head():
    """The defaults live once: MLP's own default and ChunkedHead's own defaults."""
    hnet = hw.HyperNetwork(nn.Linear(3, 2), condition=hw.TaskEmbedding(2, 4))
    assert hnet.trunk.get_config() == hw.MLP().get_config() == {"hidden": list(DEFAULT_HIDDEN),
                                                                  "activation": "relu"}
    assert hnet.head.get_config() == hw.ChunkedHead().get_config()


# ----------------------------------------------------------------- user parts
def test_a_user_head_is_registered_created_and_restored_from_a_checkpoint(tmp_path):
    class ScaledFull(hw.FullHead):
        """A FullHead whose output is multiplied by a fixed factor."""

        def __init__(self, factor: float = 1.0):
            super().__init__()
            self._config = {"factor": factor}
            self.factor = factor

        def forward(self, features):
            return super().forward(features) * self.factor

    assert "ScaledFull" in hw.list_heads()
    target = nn.Linear(3, 2)
    hnet = hw.HyperNetwork(target, condition=hw.TaskEmbedding(2, 4),
                           head=hw.create_head("ScaledFull", factor=0.5))
    hw.save(hnet, tmp_path / "h.safetensors")
    again = hw.load(tmp_path / "h.safetensors", target)
    assert type(again.head) is ScaledFull and again.head.factor == 0.5
    torch.testing.assert_close(again.flat(1), hnet.flat(1))


def test_the_same_class_defined_again_replaces_itself():
    """A module imported twice (or a class defined in a function called twice) is not a clash."""
    def define():
        class Twice(hw.Trunk):
            def __init__(self):
                super().__init__()
        return Twice

    first, second = define(), define()
    assert first is not second and hw.create_trunk("Twice").__class__ is second


def test_a_subclass_of_a_builtin_with_its_own_argument_round_trips():
    class Wider(hw.MLP):
        def __init__(self, width: int = 8, activation: str = "relu"):
            super().__init__(hidden=(width, width), activation=activation)
            self._config = {"width": width, "activation": activation}

    assert Wider(width=4).get_config() == {"width": 4, "activation": "relu"}


def test_the_round_trip_check_runs_when_the_part_is_built():
    class Lossy(hw.Head):
        def __init__(self, width: int = 4, depth: int = 1):
            super().__init__()
            self._config = {"width": width}      # forgets depth

    Lossy(width=3)                               # depth at its default: the config rebuilds it
    with pytest.raises(ValueError, match=r"built with depth=2 but its config rebuilds it with depth=1"):
        Lossy(width=3, depth=2)


def test_private_and_non_serializable_parts_are_not_checked():
    class _Scratch(hw.Head):
        def __init__(self, anything=None):
            super().__init__()

    class WrapsCode(hw.Conditioner):
        serializable = False

        def __init__(self, fn):
            super().__init__()
            self.fn, self.out_dim = fn, 2

    _Scratch(anything=object())
    WrapsCode(lambda c: c)
    assert "_Scratch" not in hw.list_heads() and "WrapsCode" in hw.list_conditioners()


# ----------------------------------------------------------------- parametrization protocol
class Tanh(hw.Parametrization):
    """theta = theta0 + scale * tanh(delta): a bounded deviation from the target's weights."""

    def __init__(self, scale: float = 0.1):
        super().__init__()
        self._config = {"scale": scale}
        self.scale = scale

    def bind(self, specs, target_params):
        theta0 = torch.cat([target_params[s.name].detach().reshape(-1) for s in specs])
        self.register_buffer("theta0", theta0)

    def forward(self, flat):
        return self.theta0 + self.scale * torch.tanh(flat)


def test_a_user_parametrization_plugs_in_and_round_trips(tmp_path):
    target = nn.Linear(3, 2)
    hnet = hw.HyperNetwork(target, condition=hw.TaskEmbedding(2, 4),
                           parametrization=hw.create_parametrization("Tanh", scale=0.01))
    theta0 = torch.cat([target.weight.detach().reshape(-1), target.bias.detach()])
    flat = hnet.flat(torch.tensor([0, 1]))
    assert (flat - theta0).abs().max() <= 0.01 + 1e-7     # bounded by construction
    assert hnet.init == "hyperfan"                         # the protocol's default head init
    hw.save(hnet, tmp_path / "p.safetensors")
    torch.testing.assert_close(hw.load(tmp_path / "p.safetensors", target).flat(1), hnet.flat(1))


def test_mip_is_a_parametrization():
    assert isinstance(hw.MIP(), hw.Parametrization)
    assert hw.create_parametrization("MIP", residual=False).head_init == "hyperfan"
