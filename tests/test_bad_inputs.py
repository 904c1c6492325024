"""Every bad input to the core's public API and the CLI is a clear exception: one row per case,
``(id, call, expected exception type, a phrase of the helpful part of the message)``.

The phrases pin what was expected and how to fix it, not the whole wording. The application
helpers keep their rows in ``tests/test_bad_inputs_<app>.py``.
"""

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from bad_input_table import assert_clear_error, table  # noqa: E402
from models import Custom, one_thread, seq  # noqa: E402, F401  (one_thread: autouse fixture)

import hyperweights as hw  # noqa: E402
from hyperweights import cli  # noqa: E402
from hyperweights._checks import TargetCallError  # noqa: E402
from hyperweights._parts import build_part  # noqa: E402

NAN = float("nan")


# ----------------------------------------------------------------- fixtures (fresh per call)


def hnet(condition=None, target=None, **kwargs):
    return hw.HyperNetwork(target or seq(), condition=condition or hw.TaskEmbedding(5, 8), **kwargs)


def model(condition=None, target=None, **kwargs):
    target = target or seq()
    return hw.HyperModel(target, hnet(condition, target, **kwargs))


def weights(**override):
    """Valid generated weights for ``seq()`` with W = 1, with some entries replaced."""
    w = {"0.weight": torch.zeros(1, 8, 4), "0.bias": torch.zeros(1, 8),
         "2.weight": torch.zeros(1, 3, 8), "2.bias": torch.zeros(1, 3)}
    w.update(override)
    return w


def x(*shape, **kwargs):
    return torch.randn(*(shape or (10, 4)), **kwargs)


def twice(part_kw):
    """Build two hypernetworks sharing one part instance."""
    hnet(**part_kw)
    hnet(**part_kw)


def round_trip_violator():
    class Forgetful(hw.Head):                  # stores no config although it takes an argument
        def __init__(self, width: int = 4):
            super().__init__()
    return Forgetful(width=7)


def not_json():
    class Unjsonable(hw.Head):
        def __init__(self, scale=1.0):
            super().__init__()
            self._config = {"scale": torch.tensor(scale)}
    return Unjsonable()


def wrong_key():
    class Renamed(hw.Head):
        def __init__(self, width: int = 4):
            super().__init__()
            self._config = {"size": width}
    return Renamed()


def duplicate_name():
    type("ChunkedHead", (hw.Head,), {"__module__": "somewhere.else"})


def failing_encoder(data):
    return hw.DataCondition(nn.Sequential(nn.Flatten(), nn.Linear(6, 5)), dim=5)(data)


def vmap_target_call(target, w, data):
    return hw.functional_forward(target, w, data)


class GRUNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 3, batch_first=True)

    def forward(self, x):
        return self.gru(x)[0]


def bn_train():
    net = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    return net.train()


CASES = [
    # ------------------------------------------------------------- HyperNetwork(...)
    ("hnet_target_fn", lambda: hw.HyperNetwork(lambda v: v, condition=hw.TaskEmbedding(2, 3)),
     TypeError, "target must be an nn.Module"),
    ("hnet_condition_str", lambda: hw.HyperNetwork(seq(), condition="task"), TypeError,
     "condition must be a Conditioner such as TaskEmbedding"),
    ("hnet_condition_none", lambda: hw.HyperNetwork(seq(), condition=None), TypeError,
     "condition must be a Conditioner"),
    ("hnet_condition_class", lambda: hw.HyperNetwork(seq(), condition=hw.TaskEmbedding), TypeError,
     "condition must be a Conditioner"),
    ("hnet_trunk_module", lambda: hnet(trunk=nn.Linear(2, 2)), TypeError, "trunk must be a Trunk"),
    ("hnet_head_str", lambda: hnet(head="full"), TypeError, "head a Head, got MLP, str"),
    ("hnet_parametrization_module", lambda: hnet(parametrization=nn.Identity()), TypeError,
     "a Parametrization such as MIP()"),
    ("hnet_init", lambda: hnet(init="xavier"), ValueError, "init must be one of ('target_stats', 'hyperfan_in'"),
    ("hnet_feature_scale_inf", lambda: hnet(feature_scale=float("inf")), ValueError,
     "feature_scale to be a finite number > 0, got inf"),
    ("hnet_feature_scale_nan", lambda: hnet(feature_scale=NAN), ValueError,
     "feature_scale to be a finite number > 0, got nan"),
    ("hnet_feature_scale_zero", lambda: hnet(feature_scale=0.0), ValueError, "finite number > 0"),
    ("hnet_feature_scale_negative", lambda: hnet(feature_scale=-1.0), ValueError, "finite number > 0"),
    ("hnet_feature_scale_str", lambda: hnet(feature_scale="1"), TypeError, "feature_scale as a number"),
    ("hnet_check_finite_str", lambda: hnet(check_finite="yes"), TypeError,
     "check_finite must be True or False"),
    ("hnet_generate_regex_nomatch", lambda: hnet(generate=r"fc\d\.weight"), ValueError,
     "matched no parameter of Sequential. Available names: 0.weight, 0.bias"),
    ("hnet_generate_list_misspelt", lambda: hnet(generate=["0.weight", "2.wieght"]), ValueError,
     "the generate entry '2.wieght' matches no parameter of Sequential. Did you mean '2.weight'?"),
    ("hnet_exclude_list_misspelt", lambda: hnet(exclude=["2.bais"]), ValueError,
     "the exclude entry '2.bais' matches no parameter"),
    ("hnet_exclude_everything", lambda: hnet(exclude=".*"), ValueError,
     "exclude='.*' removed every parameter that generate=None selects"),
    ("hnet_generate_int", lambda: hnet(generate=3), TypeError,
     "must be None, a regex string, a list of names/suffixes or a predicate"),
    ("hnet_generate_set", lambda: hnet(generate={"weight"}), TypeError, "got set"),
    ("hnet_generate_bad_regex", lambda: hnet(generate="["), ValueError, "not a valid regular expression"),
    ("hnet_no_parameters", lambda: hnet(target=nn.ReLU()), ValueError, "ReLU has no parameters"),
    ("hnet_shared_head", lambda: twice({"head": hw.FullHead()}), ValueError,
     "this FullHead (head) already belongs to another HyperNetwork"),
    ("hnet_shared_trunk", lambda: twice({"trunk": hw.MLP((4,))}), ValueError,
     "hw.create_trunk('MLP', **part.get_config())"),
    ("hnet_shared_parametrization", lambda: twice({"parametrization": hw.MIP()}), ValueError,
     "this MIP (parametrization) already belongs"),
    ("hnet_rnn_trunk_full_head", lambda: hnet(trunk=hw.RNNTrunk(8), head=hw.FullHead()), ValueError,
     "Use ChunkedHead or PerLayerHead with this trunk"),
    # ------------------------------------------------------------- hnet(condition)
    ("task_out_of_range", lambda: hnet()(5), IndexError, "Grow it with add_tasks(n)"),
    ("task_negative", lambda: hnet()(-1), IndexError, "task id(s) [-1] out of range"),
    ("task_str", lambda: hnet()("3"), TypeError, "TaskEmbedding expects an int or a 1-D integer tensor"),
    ("task_none", lambda: hnet()(None), TypeError, "got NoneType None"),
    ("task_empty", lambda: hnet()(torch.tensor([], dtype=torch.long)), ValueError,
     "pass at least one task id"),
    ("task_past_int64", lambda: hnet()(2 ** 70), IndexError, "out of range: this TaskEmbedding has 5 tasks"),
    ("task_float_tensor", lambda: hnet()(torch.tensor([0.0, 1.0])), TypeError,
     "got a torch.float32 tensor of shape (2,)"),
    ("task_2d", lambda: hnet()(torch.zeros(2, 2, dtype=torch.long)), TypeError, "of shape (2, 2)"),
    ("task_float", lambda: hnet()(1.5), TypeError, "TaskEmbedding expects an int"),
    ("task_list_of_str", lambda: hnet()(["a"]), TypeError, "TaskEmbedding expects an int"),
    ("unflatten_wrong_width", lambda: hnet().unflatten(torch.zeros(1, 5)), ValueError,
     "expected a flat weight tensor of shape (W, 67), got (1, 5)"),
    ("check_finite_nan_noise", lambda: hnet(hw.NoiseCondition(3), check_finite=True)(
        torch.tensor([[NAN, 0.0, 0.0]])), FloatingPointError, "the condition holds 1 NaN/inf value(s) of 3"),
    # ------------------------------------------------------------- HyperModel
    ("model_hnet_module", lambda: hw.HyperModel(seq(), nn.Linear(2, 2)), TypeError,
     "hypernetwork must be a HyperNetwork"),
    ("model_other_target", lambda: hw.HyperModel(nn.Linear(6, 3), hnet()), ValueError,
     "does not fit this target (a different architecture?): 0.weight: missing in Linear"),
    ("model_target_str", lambda: hw.HyperModel("net", hnet()), TypeError, "target must be an nn.Module"),
    ("model_x_features", lambda: model()(x(10, 5), 3), ValueError,
     "x has 5 features (a float32 tensor of shape (10, 5) on cpu), but the layer '0' of "
     "Sequential takes in_features=4"),
    ("model_x_float64", lambda: model()(x(dtype=torch.float64), 3), TypeError,
     "convert it with x.to(torch.float32)"),
    ("model_x_int", lambda: model()(torch.ones(10, 4, dtype=torch.long), 3), TypeError,
     "needs floating-point input; convert it with x.float()"),
    ("model_x_meta", lambda: model()(x(device="meta"), 3), ValueError,
     "on meta but the weights it meets are on cpu; move it with .to('cpu')"),
    ("model_x_list", lambda: model()([[0.0] * 4] * 10, 3), TypeError,
     "x must be a tensor (B, ...), got a list"),
    ("model_x_int_scalar", lambda: model()(3, 3), TypeError, "x must be a tensor"),
    ("model_w_neither_1_nor_b", lambda: model()(x(4, 4), torch.arange(3)), ValueError,
     "W=3 sets but the data batch is B=4; W must be 1"),
    ("model_nan_x_checked", lambda: model(check_finite=True)(torch.full((10, 4), NAN), 3),
     FloatingPointError, "x holds 40 NaN/inf value(s) of 40"),
    ("model_ensemble_float64", lambda: model().ensemble(x(dtype=torch.float64), torch.arange(3)),
     TypeError, "but the weights it meets are torch.float32"),
    ("model_ensemble_features", lambda: model().ensemble(x(10, 2), torch.arange(3)), ValueError,
     "takes in_features=4"),
    ("model_custom_target_features", lambda: model(target=Custom())(x(10, 5), 3),
     TargetCallError, "the target Custom raised on its input (a float32 tensor of shape (10, 5) on cpu)"),
    ("model_custom_target_per_sample", lambda: model(hw.NoiseCondition(3), target=Custom())(
        x(4, 5), torch.randn(4, 3)), RuntimeError, "the target Custom raised on its input"),
    ("model_condition_str", lambda: model()(x(), "task 3"), TypeError, "TaskEmbedding expects an int"),
    # ------------------------------------------------------------- functional_forward
    ("ff_tensor_not_dict", lambda: hw.functional_forward(seq(), torch.zeros(1, 67), x()), TypeError,
     "converts with hnet.unflatten(flat)"),
    ("ff_misspelt_key", lambda: hw.functional_forward(nn.Sequential(nn.Linear(3, 2)),
                                                      {"0.wieght": torch.zeros(1, 2, 3)}, x(5, 3)),
     ValueError, "the weights name '0.wieght', which is not a parameter of Sequential. Did you mean '0.weight'?"),
    ("ff_misspelt_key_per_sample", lambda: hw.functional_forward(
        Custom(), {"fc.wieght": torch.zeros(5, 3, 4)}, x(5, 4)), ValueError, "Did you mean 'fc.weight'?"),
    ("ff_no_leading_w", lambda: hw.functional_forward(seq(), weights(**{"0.weight": torch.zeros(8, 4)}), x()),
     ValueError, "weights['0.weight'] has shape (8, 4), but the parameter has shape (8, 4), so (W, *(8, 4))"),
    ("ff_wrong_shape", lambda: hw.functional_forward(seq(), weights(**{"2.bias": torch.zeros(1, 4)}), x()),
     ValueError, "weights['2.bias'] has shape (1, 4), but the parameter has shape (3,)"),
    ("ff_w_disagree", lambda: hw.functional_forward(seq(), weights(**{"2.bias": torch.zeros(2, 3)}), x()),
     ValueError, "same leading weight-set dimension W >= 1"),
    ("ff_empty_dict", lambda: hw.functional_forward(seq(), {}, x()), ValueError, "empty dict"),
    ("ff_value_list", lambda: hw.functional_forward(seq(), weights(**{"2.bias": [0.0, 0.0, 0.0]}), x()),
     TypeError, "weights['2.bias'] must be a tensor (W, *param.shape), got a list"),
    ("ff_w_neither", lambda: hw.functional_forward(
        seq(), {k: v.expand(3, *v.shape[1:]) for k, v in weights().items()}, x(4, 4)), ValueError,
     "W=3 sets but the data batch is B=4"),
    ("ff_no_tensor_arg", lambda: hw.functional_forward(
        nn.Linear(3, 2), {"weight": torch.randn(4, 2, 3)}, input=torch.randn(4, 3)), ValueError,
     "tensor positional argument"),
    ("ff_x_float64", lambda: hw.functional_forward(seq(), weights(), x(dtype=torch.float64)), TypeError,
     "convert it with x.to(torch.float32)"),
    ("ff_x_meta", lambda: hw.functional_forward(seq(), weights(), x(device="meta")), ValueError,
     "move it with .to('cpu')"),
    ("ff_x_features", lambda: hw.functional_forward(seq(), weights(), x(10, 3)), ValueError,
     "takes in_features=4: pass (B, ..., 4)"),
    ("ff_weights_none", lambda: hw.functional_forward(seq(), None, x()), TypeError,
     "takes the generated weights as a dict {name: (W, *param.shape)}"),
    # ------------------------------------------------------------- ensemble_forward
    ("ef_tensor_not_dict", lambda: hw.ensemble_forward(seq(), torch.zeros(3, 67), x()), TypeError,
     "ensemble_forward takes the generated weights as a dict"),
    ("ef_misspelt_key", lambda: hw.ensemble_forward(seq(), {"0.wieght": torch.zeros(3, 8, 4)}, x()),
     ValueError, "Did you mean '0.weight'?"),
    ("ef_no_leading_w", lambda: hw.ensemble_forward(seq(), {"2.bias": torch.zeros(3)}, x()), ValueError,
     "weights['2.bias'] has shape (3,), but the parameter has shape (3,)"),
    ("ef_x_features", lambda: hw.ensemble_forward(seq(), weights(), x(10, 7)), ValueError,
     "x has 7 features"),
    ("ef_gru_input_size", lambda: hw.ensemble_forward(GRUNet(), {"gru.bias_hh_l0": torch.zeros(3, 9)},
                                                      x(2, 5, 3)), ValueError,
     "GRU was built for input_size=4, the input's last dimension is 3"),
    ("ef_batchnorm_training", lambda: hw.ensemble_forward(bn_train(), {"0.bias": torch.zeros(3, 4)}, x(5, 4)),
     RuntimeError, "Put the target in eval mode (target.eval())"),
    # ------------------------------------------------------------- TaskEmbedding
    ("te_num_tasks_zero", lambda: hw.TaskEmbedding(0, 3), ValueError, "TaskEmbedding needs num_tasks >= 1, got 0"),
    ("te_num_tasks_float", lambda: hw.TaskEmbedding(2.5, 3), TypeError, "num_tasks >= 1 as an int, got float 2.5"),
    ("te_dim_zero", lambda: hw.TaskEmbedding(3, 0), ValueError, "TaskEmbedding needs dim >= 1"),
    ("te_dim_bool", lambda: hw.TaskEmbedding(3, True), TypeError, "as an int, got bool"),
    ("te_init_std_nan", lambda: hw.TaskEmbedding(3, 4, init_std=NAN), ValueError,
     "init_std to be a finite number"),
    ("te_add_tasks_negative", lambda: hw.TaskEmbedding(3, 4).add_tasks(-1), ValueError,
     "TaskEmbedding.add_tasks needs n >= 1, got -1"),
    ("te_add_tasks_zero", lambda: hw.TaskEmbedding(3, 4).add_tasks(0), ValueError, "needs n >= 1"),
    ("te_add_tasks_float", lambda: hw.TaskEmbedding(3, 4).add_tasks(1.5), TypeError, "as an int, got float"),
    # ------------------------------------------------------------- NoiseCondition
    ("noise_dim_zero", lambda: hw.NoiseCondition(0), ValueError, "NoiseCondition needs dim >= 1"),
    ("noise_samples_zero", lambda: hw.NoiseCondition(4, samples=0), ValueError, "needs samples >= 1"),
    ("noise_dim_str", lambda: hw.NoiseCondition("4"), TypeError, "dim >= 1 as an int, got str"),
    ("noise_code_width", lambda: hw.NoiseCondition(4)(torch.randn(3, 5)), ValueError,
     "noise codes must have shape (K, 4) with K >= 1, got (3, 5)"),
    ("noise_code_empty", lambda: hw.NoiseCondition(4)(torch.randn(0, 4)), ValueError, "K >= 1, got (0, 4)"),
    ("noise_code_float64", lambda: hw.NoiseCondition(4)(torch.randn(3, 4, dtype=torch.float64)), TypeError,
     "noise codes must be torch.float32 on cpu like the hypernetwork"),
    ("noise_k_float", lambda: hw.NoiseCondition(4)(2.5), TypeError, "None, an int K or a (K, dim) tensor"),
    ("noise_k_zero", lambda: hw.NoiseCondition(4)(0), ValueError, "positive int"),
    ("noise_str", lambda: hw.NoiseCondition(4)("many"), TypeError, "got str"),
    # ------------------------------------------------------------- HyperparameterCondition
    ("hp_num_zero", lambda: hw.HyperparameterCondition(0), ValueError, "needs num >= 1"),
    ("hp_encoding", lambda: hw.HyperparameterCondition(1, encoding="tanh"), ValueError,
     "unknown encoding 'tanh'; choose one of"),
    ("hp_above_one", lambda: hw.HyperparameterCondition(2)(torch.tensor([[0.5, 1.5]])), ValueError,
     "must lie in [0, 1] (normalise them first)"),
    ("hp_nan", lambda: hw.HyperparameterCondition(2)(torch.tensor([[NAN, 0.5]])), ValueError, "[0, 1]"),
    ("hp_str", lambda: hw.HyperparameterCondition(2)("0.5"), TypeError,
     "expects values in [0, 1] as a (W, 2) tensor (or a list), got a str"),
    ("hp_none", lambda: hw.HyperparameterCondition(2)(None), TypeError, "got a NoneType"),
    ("hp_width", lambda: hw.HyperparameterCondition(2)(torch.rand(3, 3)), ValueError,
     "shape (W, 2) with W >= 1"),
    ("hp_empty", lambda: hw.HyperparameterCondition(2)(torch.rand(0, 2)), ValueError, "got (0, 2)"),
    ("hp_ragged_list", lambda: hw.HyperparameterCondition(2)([[0.1, 0.2], [0.3]]), TypeError,
     "expects values in [0, 1]"),
    # ------------------------------------------------------------- DataCondition
    ("data_encoder_fn", lambda: hw.DataCondition(lambda v: v, dim=3), TypeError,
     "DataCondition needs an nn.Module encoder"),
    ("data_no_out_features", lambda: hw.DataCondition(nn.ReLU()), ValueError,
     "pass DataCondition(encoder, dim=...)"),
    ("data_pool", lambda: hw.DataCondition(nn.Linear(2, 2), pool="max"), ValueError, "pool must be None"),
    ("data_dim_zero", lambda: hw.DataCondition(nn.Linear(2, 2), dim=0), ValueError, "needs dim >= 1"),
    ("data_features", lambda: hw.DataCondition(nn.Linear(5, 6))(x(3, 4)), ValueError,
     "DataCondition's data has 4 features (a float32 tensor of shape (3, 4) on cpu), but the Linear "
     "of Linear takes in_features=5"),
    ("data_float64", lambda: hw.DataCondition(nn.Linear(5, 6))(x(3, 5, dtype=torch.float64)), TypeError,
     "convert it with x.to(torch.float32)"),
    ("data_int", lambda: hw.DataCondition(nn.Linear(5, 6))(torch.ones(3, 5, dtype=torch.long)), TypeError,
     "needs floating-point input"),
    ("data_list", lambda: hw.DataCondition(nn.Linear(5, 6))([[0.0] * 5]), TypeError, "batched tensor"),
    ("data_meta", lambda: hw.DataCondition(nn.Linear(5, 6))(x(3, 5, device="meta")), ValueError,
     "on meta but the weights it meets are on cpu"),
    ("data_empty", lambda: hw.DataCondition(nn.Linear(5, 6))(x(0, 5)), ValueError, "non-empty batch"),
    ("data_encoder_output", lambda: hw.DataCondition(nn.Linear(5, 6), dim=4)(x(3, 5)), ValueError,
     "the encoder must return (B, 4); it returned (3, 6)"),
    ("data_encoder_raises", lambda: failing_encoder(x(3, 2, 2)), RuntimeError,
     "DataCondition's encoder Sequential raised on its input (a float32 tensor of shape (3, 2, 2)"),
    ("data_model_features", lambda: model(hw.DataCondition(nn.Linear(4, 6)))(x(10, 4), x(10, 3)),
     ValueError, "DataCondition's data has 3 features"),
    # ------------------------------------------------------------- Concat
    ("concat_empty", lambda: hw.Concat(), TypeError, "Concat takes one or more Conditioner instances"),
    ("concat_str", lambda: hw.Concat("task"), TypeError, "got ['str']"),
    ("concat_not_tuple", lambda: hw.Concat(hw.TaskEmbedding(5, 3), hw.NoiseCondition(2))(torch.arange(2)),
     ValueError, "Concat expects a tuple of 2 conditions, one per part (TaskEmbedding, NoiseCondition)"),
    ("concat_tuple_length", lambda: hw.Concat(hw.TaskEmbedding(5, 3), hw.NoiseCondition(2))((1,)),
     ValueError, "got tuple of 1"),
    ("concat_batches", lambda: hw.Concat(hw.TaskEmbedding(5, 3), hw.HyperparameterCondition(1))(
        (torch.arange(2), torch.rand(3, 1))), ValueError, "each must be 1 or 3"),
    # ------------------------------------------------------------- trunks
    ("mlp_hidden_int", lambda: hw.MLP(hidden=100), TypeError,
     "MLP needs hidden as a tuple of layer widths, e.g. MLP(hidden=(100,))"),
    ("mlp_hidden_str", lambda: hw.MLP(hidden="100"), TypeError, "got str '100'"),
    ("mlp_hidden_zero", lambda: hw.MLP(hidden=(0,)), ValueError, "MLP needs every hidden width >= 1"),
    ("mlp_hidden_float", lambda: hw.MLP(hidden=(2.5,)), TypeError, "as an int, got float 2.5"),
    ("mlp_activation", lambda: hw.MLP(activation="swishy"), ValueError, "unknown activation 'swishy'"),
    ("attention_heads_zero", lambda: hw.AttentionTrunk(heads=0), ValueError, "AttentionTrunk needs heads >= 1, got 0"),
    ("attention_layers_zero", lambda: hw.AttentionTrunk(layers=0), ValueError, "needs layers >= 1, got 0"),
    ("attention_dim_float", lambda: hw.AttentionTrunk(dim=64.0), TypeError, "dim >= 1 as an int"),
    ("attention_divisible", lambda: hw.AttentionTrunk(dim=10, heads=3), ValueError,
     "dim (10) must be divisible by heads (3)"),
    ("rnn_cell", lambda: hw.RNNTrunk(cell="rnn"), ValueError, "cell must be 'gru' or 'lstm'"),
    ("rnn_hidden_zero", lambda: hw.RNNTrunk(hidden=0), ValueError, "RNNTrunk needs hidden >= 1"),
    ("rnn_layers_zero", lambda: hw.RNNTrunk(layers=0), ValueError, "RNNTrunk needs layers >= 1"),
    # ------------------------------------------------------------- heads
    ("chunked_zero", lambda: hw.ChunkedHead(0), ValueError, "ChunkedHead needs chunk_size >= 1, got 0"),
    ("chunked_float", lambda: hw.ChunkedHead(2.5), TypeError, "chunk_size >= 1 as an int, got float"),
    ("chunked_embedding_zero", lambda: hw.ChunkedHead(8, embedding_dim=0), ValueError,
     "needs embedding_dim >= 1"),
    ("low_rank_float", lambda: hw.LowRankHead(2.5), TypeError, "LowRankHead needs rank >= 1 as an int, got float 2.5"),
    ("low_rank_zero", lambda: hw.LowRankHead(0), ValueError, "LowRankHead needs rank >= 1, got 0"),
    ("per_layer_zero", lambda: hw.PerLayerHead(embedding_dim=0), ValueError, "PerLayerHead needs embedding_dim >= 1"),
    ("full_head_argument", lambda: hw.FullHead(3), TypeError, "positional argument"),
    ("per_tensor_head_argument", lambda: hw.PerTensorHead(size=3), TypeError, "unexpected keyword argument 'size'"),
    # ------------------------------------------------------------- MIP / Parametrization
    ("mip_no_theta0", lambda: hnet(parametrization=hw.MIP(residual=False)).parametrization.load_theta0(
        hnet().specs, {}), ValueError, "has no theta0 to load"),
    ("mip_missing_state", lambda: (lambda h: h.parametrization.load_theta0(h.specs, {}))(
        hnet(parametrization=hw.MIP())), KeyError, "the state dict lacks generated parameter(s)"),
    ("mip_wrong_shape_state", lambda: (lambda h: h.parametrization.load_theta0(
        h.specs, {s.name: torch.zeros(2, 2) for s in h.specs}))(hnet(parametrization=hw.MIP())),
     ValueError, "do not have the generated parameters' shapes"),
    ("mip_state_not_a_dict", lambda: (lambda h: h.parametrization.load_theta0(h.specs, [1, 2]))(
        hnet(parametrization=hw.MIP())), TypeError, "takes the target's state_dict"),
    ("parametrization_no_forward", lambda: hnet(parametrization=type(
        "_NoForward", (hw.Parametrization,), {})())(1), NotImplementedError,
     "_NoForward must implement forward(flat) -> flat"),
    # ------------------------------------------------------------- registries / parts
    ("create_head_unknown", lambda: hw.create_head("nosuch"), ValueError, "no head named 'nosuch'; registered heads:"),
    ("create_head_typo", lambda: hw.create_head("ChunkHead"), ValueError, "Did you mean 'ChunkedHead'?"),
    ("create_head_not_str", lambda: hw.create_head(hw.FullHead), TypeError,
     "create_head takes the head's registered name (a str)"),
    ("create_trunk_is_a_head", lambda: hw.create_trunk("ChunkedHead"), ValueError, "no trunk named 'ChunkedHead'"),
    ("create_conditioner_bad_kw", lambda: hw.create_conditioner("TaskEmbedding", num_tasks=0, dim=3),
     ValueError, "TaskEmbedding needs num_tasks >= 1"),
    ("create_parametrization_unknown", lambda: hw.create_parametrization("Residual"), ValueError,
     "no parametrization named 'Residual'"),
    ("create_trunk_unknown_kw", lambda: hw.create_trunk("MLP", width=3), TypeError,
     "unexpected keyword argument 'width'"),
    ("list_heads_not_str", lambda: hw.list_heads(3), TypeError, "pattern must be a glob string"),
    ("list_trunks_none", lambda: hw.list_trunks(None), TypeError, "pattern must be a glob string"),
    ("list_conditioners_list", lambda: hw.list_conditioners(["Task*"]), TypeError, "got list"),
    ("list_parametrizations_bytes", lambda: hw.list_parametrizations(b"MIP"), TypeError, "got bytes"),
    ("part_duplicate_name", duplicate_name, ValueError,
     "a part named 'ChunkedHead' is already registered (hyperweights.heads.chunked.ChunkedHead)"),
    ("part_config_round_trip", round_trip_violator, ValueError,
     "Forgetful was built with width=7 but its config rebuilds it with width=4"),
    ("part_config_not_json", not_json, TypeError, "is not JSON-serialisable"),
    ("part_config_wrong_key", wrong_key, TypeError,
     "Renamed.get_config() returned {'size': 4}, which Renamed.__init__ does not accept"),
    ("build_part_unknown_key", lambda: build_part({"class": "ChunkedHead", "config": {"chunks": 3}}),
     TypeError, "has key(s) ['chunks'] that ChunkedHead() does not take (it takes ['chunk_size', "
     "'embedding_dim'])"),
    ("build_part_unknown_class", lambda: build_part({"class": "NoSuchHead"}), ValueError,
     "If it is your own Part subclass, import its module before loading"),
    # ------------------------------------------------------------- selection / tables
    ("inspect_targets_str", lambda: hw.inspect_targets("resnet18"), TypeError,
     "Build the model first, e.g. torchvision.models.resnet18()"),
    ("inspect_targets_misspelt", lambda: hw.inspect_targets(seq(), ["wieght"]), ValueError,
     "Did you mean"),
    ("select_parameters_none_target", lambda: hw.select_parameters(None), TypeError,
     "select_parameters expects an nn.Module, got NoneType"),
    ("select_parameters_nomatch", lambda: hw.select_parameters(seq(), r"fc.*"), ValueError,
     "a list matches exact names or suffixes"),
    ("spec_table_unknown_name", lambda: hnet().specs["0.wieght"], KeyError,
     "no generated tensor named '0.wieght'; the table has ['0.weight'"),
    ("spec_table_mask_unknown", lambda: hnet().specs.mask(["nope"]), KeyError, "no generated tensor named 'nope'"),
    ("spec_table_split", lambda: hnet().specs.split(torch.zeros(67)), ValueError,
     "expected a flat weight tensor of shape (W, 67), got (67,)"),
    ("spec_table_flatten_missing", lambda: hnet().specs.flatten({}), KeyError, "missing generated tensor(s)"),
    ("spec_table_from_module", lambda: hw.SpecTable.from_parameters(seq()), TypeError,
     "takes (name, tensor) pairs such as module.named_parameters(), got Sequential"),
    ("spec_table_from_names", lambda: hw.SpecTable.from_parameters(["0.weight"]), TypeError,
     "got an item '0.weight'"),
    ("param_spec_missing_fields", lambda: hw.ParamSpec("w", (2, 3)), TypeError, "missing"),
    # ------------------------------------------------------------- save / load
    ("save_not_a_model", lambda: hw.save(seq(), "/tmp/never.safetensors"), TypeError,
     "save() takes a HyperNetwork, a HyperModel or a model registered with @hw.checkpointable"),
    ("load_missing_file", lambda: hw.load("/nonexistent/h.safetensors", seq()), FileNotFoundError,
     "/nonexistent/h.safetensors"),
    ("checkpointable_kind", lambda: hw.checkpointable(3), ValueError,
     "a checkpoint kind is '<app>.<Class>' (e.g. 'continual.HNET')"),
    # ------------------------------------------------------------- shared helpers
    ("param_count_str", lambda: hw.param_count("model"), TypeError,
     "param_count takes an nn.Module or an iterable of tensors"),
    ("param_count_int", lambda: hw.param_count(3), TypeError, "got int"),
    ("mlp_builder_one_width", lambda: hw.mlp([3]), ValueError, "at least two positive integer widths"),
    ("make_optimizer_empty", lambda: hw.make_optimizer([], 0.1), ValueError, "make_optimizer got no parameters"),
]


@table(CASES)
def test_bad_input_is_a_clear_error(call, error, phrase):
    assert_clear_error(call, error, phrase)


CLI_CASES = [
    # (id, argv, exit code, a phrase of the one stderr line)
    ("no_such_module", ["inspect", "nosuchmod:thing"], 1, "cannot import 'nosuchmod'"),
    ("needs_arguments", ["inspect", "torch.nn:Linear"], 1,
     "torch.nn:Linear could not be built with no arguments"),
    ("no_such_attribute", ["inspect", "torch.nn:Linearr"], 1, "did you mean Linear"),
    ("no_colon", ["inspect", "torch"], 1, "expected MODULE:ATTR"),
    ("not_a_module", ["inspect", "torch.nn:functional"], 1, "gave module, not an nn.Module"),
    ("no_parameters", ["inspect", "torch.nn:ReLU"], 1, "ReLU has no parameters"),
    ("bad_regex", ["inspect", "--generate", "[", "models:MLP"], 1, "not a valid regular expression"),
    ("no_match", ["inspect", "--generate", "fc.*", "models:MLP"], 1, "matched no parameter of MLP"),
    ("unknown_command", ["nosuch"], 2, "invalid choice: 'nosuch'"),
    ("missing_argument", ["inspect"], 2, "the following arguments are required: model"),
    ("bad_int", ["demo", "--steps", "many"], 2, "argument --steps: expected a positive integer, got 'many'"),
    ("zero_steps", ["demo", "--steps", "0"], 2, "argument --steps: expected a positive integer, got 0"),
    ("negative_batch", ["demo", "--batch", "-1"], 2, "argument --batch: expected a positive integer, got -1"),
]


@pytest.mark.parametrize("argv,code,phrase", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_cli_error_is_one_line_and_nonzero(argv, code, phrase, capsys):
    try:
        got = cli.main(argv)
    except SystemExit as stop:       # argparse exits on usage errors
        got = stop.code
    err = capsys.readouterr().err
    assert got == code
    assert len(err.strip().splitlines()) == 1, err
    assert phrase in err, err


def test_cli_keeps_the_traceback_of_a_bug(monkeypatch):
    """An exception the library did not raise on purpose (here an AttributeError from inside a
    command) is a bug: it propagates with its traceback instead of becoming one line."""
    from hyperweights import inspect as inspect_cmd
    monkeypatch.setattr(inspect_cmd, "inspect_targets", lambda model, generate: model.no_such_attribute)
    with pytest.raises(AttributeError):
        cli.main(["inspect", "models:MLP"])


def test_cli_traceback_on_request(monkeypatch):
    monkeypatch.setenv("HYPERWEIGHTS_TRACEBACK", "1")
    with pytest.raises(ValueError, match="cannot import"):
        cli.main(["inspect", "nosuchmod:thing"])


CORE_MODULES = ("hyperweights.conditioning", "hyperweights.trunks", "hyperweights.heads",
                "hyperweights.targets", "hyperweights.parametrize", "hyperweights.registry",
                "hyperweights.hypernetwork", "hyperweights.model", "hyperweights.io",
                "hyperweights.optim")


def test_the_suite_covers_every_public_name():
    """Each class and function the core exports from hyperweights has at least one row (abstract
    bases through their use), so a new public name of the core needs rows here."""
    covered = " ".join(c[0] for c in CASES).lower().replace("_", "")
    aliases = {"HyperNetwork": "hnet", "HyperModel": "model", "functional_forward": "ff",
               "ensemble_forward": "ef", "TaskEmbedding": "te", "NoiseCondition": "noise",
               "HyperparameterCondition": "hp", "DataCondition": "data", "MLP": "mlp",
               "AttentionTrunk": "attention", "RNNTrunk": "rnn", "ChunkedHead": "chunked",
               "LowRankHead": "lowrank", "PerLayerHead": "perlayer", "SpecTable": "spectable",
               "ParamSpec": "paramspec", "Conditioner": "condition", "Trunk": "trunk",
               "Head": "head", "Parametrization": "parametrization", "MIP": "mip",
               "mlp": "mlpbuilder"}
    core = [name for name in hw.__all__
            if getattr(getattr(hw, name), "__module__", "").startswith(CORE_MODULES)]
    missing = [name for name in core if aliases.get(name, name).lower().replace("_", "") not in covered]
    assert not missing, f"no bad-input row for {missing}"
    assert len(CASES) + len(CLI_CASES) >= 110
