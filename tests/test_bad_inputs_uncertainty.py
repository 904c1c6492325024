"""Bad inputs to ``hyperweights.uncertainty``: one row per case (call, exception type, the helpful
part of the message). Every row is a call a user could make from the docs; none may give a bare
torch error from deep inside or, worse, a silent NaN / wrong number."""

import math
import tempfile

import pytest
import torch

import hyperweights as hw
from hyperweights.uncertainty import (BayesianHypernetwork, DeepEnsemble, ImplicitEnsemble, MCDropout, NoiseMixer,
                                      SharedImplicitEnsemble, SingleNetwork, UncertaintyConfig, apply_temperature,
                                      evaluate, fit, fit_temperature, uncertainty_scores)
from hyperweights.uncertainty.metrics import (classification_metrics, gaussian_noise, ood_auroc, predict_in_chunks,
                                              reliability_bins, rotate)

D, C = 6, 3


def _implicit():
    torch.manual_seed(0)
    return ImplicitEnsemble(hw.mlp((D, 8, C)), noise_dim=4, code_dim=4, mixer_hidden=(8,), trunk_hidden=(8,),
                            chunk_size=16, chunk_embedding=4)


def _bayesian():
    torch.manual_seed(0)
    return BayesianHypernetwork((D, 8, C), couplings=1, hidden=4)


def _x(n=4, **kw):
    return torch.randn(n, D, **kw)


def _y(n=4):
    return torch.arange(n) % C


def _probs(n=4):
    return torch.randn(n, C).softmax(-1)


def _nan_x():
    x = _x()
    x[1, 2] = math.nan
    return x


def _cfg(**kw):
    return UncertaintyConfig(epochs=1, batch_size=2, progress=False, **kw)


CFG = _cfg()

CASES = [
    # --- predict: NaN, dtype, device, container, shape (issue 12, items 5 and the unhelpful kinds)
    ("implicit predict NaN x", lambda: _implicit().predict(_nan_x(), samples=2), ValueError, "1 NaN or infinite"),
    ("implicit predict inf x", lambda: _implicit().predict(_x().fill_(math.inf), samples=2), ValueError,
     "NaN or infinite"),
    ("implicit forward_noise NaN noise", lambda: _implicit().forward_noise(_x(), torch.full((2, 4), math.nan)),
     ValueError, "noise holds"),
    ("implicit forward_noise noise width", lambda: _implicit().forward_noise(_x(), torch.zeros(2, 5)), ValueError,
     r"noise must have shape \(K, 4\)"),
    ("implicit weights_from_noise list", lambda: _implicit().weights_from_noise([[0.0] * 4]), TypeError,
     r"noise must be a tensor of shape \(K, 4\)"),
    ("implicit predict float64", lambda: _implicit().predict(_x(dtype=torch.float64)), TypeError,
     r"x.to\(torch.float32\)"),
    ("implicit predict int", lambda: _implicit().predict(torch.ones(4, D, dtype=torch.long)), TypeError,
     r"x.float\(\)"),
    ("implicit predict meta", lambda: _implicit().predict(_x(device="meta")), ValueError,
     "on meta but the model is on cpu"),
    ("implicit predict list", lambda: _implicit().predict([[0.0] * D]), TypeError, "torch.as_tensor"),
    ("implicit predict feature size", lambda: _implicit().predict(torch.randn(4, D + 1)), ValueError,
     r"shape \(B, 6\)"),
    ("implicit predict images", lambda: _implicit().predict(torch.randn(4, 2, 3)), ValueError, "flatten"),
    ("implicit called on NaN x", lambda: _implicit()(_nan_x(), 2), ValueError, "NaN"),
    ("bayesian called on a list", lambda: _bayesian()([[0.0] * D], 2), TypeError, "torch.as_tensor"),
    ("implicit predict empty batch", lambda: _implicit().predict(torch.randn(0, D)), ValueError, "B >= 1"),
    ("shared predict NaN x", lambda: SharedImplicitEnsemble((D, 8, C), noise_dim=4, code_dim=4, mixer_hidden=(8,))
     .predict(_nan_x()), ValueError, "NaN"),
    ("bayesian predict float64", lambda: _bayesian().predict(_x(dtype=torch.float64)), TypeError, "float32"),
    ("bayesian forward_scales theta width", lambda: _bayesian().forward_scales(_x(), torch.ones(2, 5)), ValueError,
     r"theta must have shape \(K, 11\)"),
    ("single forward float64", lambda: SingleNetwork((D, 8, C))(_x(dtype=torch.float64)), TypeError, "float32"),
    ("single forward NaN", lambda: SingleNetwork((D, 8, C))(_nan_x()), ValueError, "NaN"),
    ("mc-dropout forward feature size", lambda: MCDropout((D, 8, C))(torch.randn(4, 2)), ValueError,
     r"shape \(B, 6\)"),
    ("mc-dropout predict meta", lambda: MCDropout((D, 8, C)).predict(_x(device="meta")), ValueError, "on meta"),
    ("deep ensemble per-member batch count", lambda: DeepEnsemble((D, 8, C), members=5)(torch.randn(4, 2, D)),
     ValueError, "per-member batch must be"),
    ("deep ensemble forward list", lambda: DeepEnsemble((D, 8, C), members=2)([[0.0] * D]), TypeError,
     "torch.as_tensor"),
    # --- samples
    ("samples 0", lambda: _implicit().predict(_x(), samples=0), ValueError, "samples must be >= 1"),
    ("samples negative", lambda: _bayesian().predict(_x(), samples=-3), ValueError, "samples must be >= 1"),
    ("samples float", lambda: _implicit().predict(_x(), samples=2.5), TypeError, "samples must be an int"),
    ("samples bool", lambda: _implicit().predict(_x(), samples=True), TypeError, "samples must be an int"),
    ("samples beyond a fixed ensemble", lambda: DeepEnsemble((D, 8, C), members=3).predict(_x(), samples=4),
     ValueError, "3 fixed member"),
    ("samples beyond the limit", lambda: _implicit().predict(_x(), samples=10**6), ValueError, "exceeds the limit"),
    # --- training data
    ("train labels out of range", lambda: fit(SingleNetwork((D, 8, C)), _x(), torch.tensor([0, 1, 2, 3]),
                                                       CFG), ValueError, "holds class 3, but the model has 3"),
    ("train negative label", lambda: fit(SingleNetwork((D, 8, C)), _x(), torch.tensor([0, -1, 2, 1]), CFG),
     ValueError, "holds class -1"),
    ("train float labels", lambda: fit(SingleNetwork((D, 8, C)), _x(), _y().float(), CFG), TypeError,
     "integer class indices"),
    ("train one-hot labels", lambda: fit(SingleNetwork((D, 8, C)), _x(),
                                                  torch.nn.functional.one_hot(_y(), C), CFG), ValueError,
     r"must have shape \(4,\)"),
    ("train NaN x", lambda: fit(_implicit(), _nan_x(), _y(), CFG), ValueError, "NaN"),
    ("train list x", lambda: fit(_bayesian(), [[0.0] * D], _y(1), CFG), TypeError, "torch.as_tensor"),
    ("train labels list", lambda: fit(_bayesian(), _x(), [0, 1, 2, 0], CFG), TypeError,
     r"torch.as_tensor\(y, dtype=torch.long\)"),
    ("bayesian loss labels out of range", lambda: _bayesian().loss(_x(), torch.tensor([0, 1, 2, 7]), 2, 100),
     ValueError, "holds class 7"),
    ("bayesian loss num_data 0", lambda: _bayesian().loss(_x(), _y(), 2, 0), ValueError, "num_data must be >= 1"),
    ("fit regularizer", lambda: fit(_implicit(), _x(), _y(), _cfg(regularizer="wgan")), ValueError,
     "regularizer must be one of"),
    ("fit kl_weight", lambda: fit(_bayesian(), _x(), _y(), _cfg(kl_weight=-1.0)), ValueError,
     "kl_weight must be a finite number >= 0"),
    ("fit samples 0", lambda: fit(_implicit(), _x(), _y(), _cfg(samples=0)), ValueError,
     "samples must be a positive integer"),
    ("fit samples float", lambda: fit(_bayesian(), _x(), _y(), _cfg(samples=2.0)), ValueError,
     "samples must be a positive integer"),
    ("fit epochs negative", lambda: fit(SingleNetwork((D, 8, C)), _x(), _y(), UncertaintyConfig(epochs=-1)), ValueError,
     "epochs must be a positive integer"),
    ("fit batch 0", lambda: fit(SingleNetwork((D, 8, C)), _x(), _y(), UncertaintyConfig(batch_size=0)), ValueError,
     "batch_size must be a positive integer"),
    ("fit batch above the data", lambda: fit(SingleNetwork((D, 8, C)), _x(), _y(), UncertaintyConfig(batch_size=5)),
     ValueError, "exceeds the 4 training inputs"),
    ("fit head_lr_scale 0", lambda: fit(_implicit(), _x(), _y(), _cfg(head_lr_scale=0.0)), ValueError,
     "head_lr_scale must be a positive finite number"),
    ("fit old-style config", lambda: fit(SingleNetwork((D, 8, C)), _x(), _y(), {"epochs": 1}), TypeError,
     "config must be an UncertaintyConfig"),
    ("fit a foreign model", lambda: fit(torch.nn.Linear(D, C), _x(), _y(), CFG), TypeError,
     "fit trains the models of hyperweights.uncertainty"),
    ("evaluate labels out of range", lambda: evaluate(SingleNetwork((D, 8, C)), _x(), torch.tensor([0, 1, 2, 3])),
     ValueError, "holds class 3"),
    ("evaluate NaN ood", lambda: evaluate(_implicit(), _x(), _y(), samples=2, ood=_nan_x()), ValueError, "NaN"),
    ("hw.load of an implicit ensemble with a custom target", lambda: _load_without_target(), TypeError,
     r"hw.load\(path, target\)"),
    # --- temperature scaling (issue 12, item 6)
    ("fit_temperature on logits", lambda: fit_temperature(torch.randn(50, C) * 5, torch.arange(50) % C), ValueError,
     r"If these are logits, pass probs.softmax\(-1\)"),
    ("fit_temperature labels out of range", lambda: fit_temperature(_probs(), torch.tensor([0, 1, 2, 3])),
     ValueError, "probs has 3 classes"),
    ("fit_temperature 1-D probs", lambda: fit_temperature(torch.rand(5), _y(5)), ValueError, r"\(N, C\)"),
    ("fit_temperature NaN probs", lambda: fit_temperature(torch.full((4, C), math.nan), _y()), ValueError, "NaN"),
    ("fit_temperature max_iter", lambda: fit_temperature(_probs(), _y(), max_iter=0), ValueError,
     "max_iter must be >= 1"),
    ("apply_temperature negative", lambda: apply_temperature(_probs(), -1.0), ValueError, "positive finite"),
    ("apply_temperature NaN", lambda: apply_temperature(_probs(), math.nan), ValueError, "positive finite"),
    ("apply_temperature on logits", lambda: apply_temperature(torch.randn(4, C), 1.5), ValueError, "logits"),
    # --- helpers that consume predictions
    ("uncertainty_scores (B, C)", lambda: uncertainty_scores(torch.randn(4, C)), ValueError, r"unsqueeze\(0\)"),
    ("uncertainty_scores NaN", lambda: uncertainty_scores(torch.full((2, 4, C), math.nan)), ValueError, "NaN"),
    ("uncertainty_scores list", lambda: uncertainty_scores([[[0.0, 1.0]]]), TypeError, r"\(K, B, C\)"),
    ("uncertainty_scores int", lambda: uncertainty_scores(torch.ones(2, 4, C, dtype=torch.long)), TypeError,
     "floating-point logits"),
    ("metrics on logits", lambda: classification_metrics(torch.randn(4, C), _y()), ValueError, "logits"),
    ("metrics label count", lambda: classification_metrics(_probs(), _y(3)), ValueError, r"shape \(4,\)"),
    ("metrics labels out of range", lambda: classification_metrics(_probs(), torch.tensor([0, 1, 2, 5])), ValueError,
     "holds class 5"),
    ("reliability bins 0", lambda: reliability_bins(_probs(), _y(), n_bins=0), ValueError, "n_bins must be >= 1"),
    ("ood_auroc 2-D scores", lambda: ood_auroc(torch.rand(4, 2), torch.rand(4)), ValueError, r"score_in .*\(N,\)"),
    ("ood_auroc empty", lambda: ood_auroc(torch.rand(4), torch.rand(0)), ValueError, "score_out must be a non-empty"),
    ("ood_auroc NaN", lambda: ood_auroc(torch.tensor([0.1, math.nan]), torch.rand(3)), ValueError, "NaN"),
    ("predict_in_chunks chunk 0", lambda: predict_in_chunks(_implicit(), _x(), 2, chunk=0), ValueError,
     "chunk must be >= 1"),
    ("rotate wrong width", lambda: rotate(torch.rand(3, 100), 30.0), ValueError, r"\(N, 784\)"),
    ("gaussian_noise negative std", lambda: gaussian_noise(torch.rand(3, 4), -0.5), ValueError, "std must be >= 0"),
    # --- constructors
    ("mixer string", lambda: NoiseMixer(4, 4, (8,))("two"), TypeError, "NoiseMixer takes"),
    ("shared factors", lambda: SharedImplicitEnsemble((D, 8, C), factors="rank2"), ValueError, "factors must be one of"),
    ("shared init_spread", lambda: SharedImplicitEnsemble((D, 8, C), init_spread=-0.1), ValueError,
     "init_spread must be >= 0"),
    ("dropout p", lambda: MCDropout((D, 8, C), p=1.0), ValueError, r"in \(0, 1\)"),
    ("deep ensemble members", lambda: DeepEnsemble((D, 8, C), members=0), ValueError, "members >= 1"),
    ("bayesian prior_std", lambda: BayesianHypernetwork((D, 8, C), prior_std=0.0), ValueError, "must be positive"),
]


def _load_without_target():
    torch.manual_seed(0)
    custom = torch.nn.Sequential(torch.nn.Linear(D, 8), torch.nn.Tanh(), torch.nn.Linear(8, C))
    ens = ImplicitEnsemble(custom, noise_dim=4, code_dim=4, mixer_hidden=(8,), trunk_hidden=(8,), chunk_size=16)
    with tempfile.TemporaryDirectory() as folder:
        hw.save(ens, f"{folder}/implicit.safetensors")
        return hw.load(f"{folder}/implicit.safetensors")          # a Tanh MLP is no hw.mlp: target needed


@pytest.mark.parametrize("call, error, phrase", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_a_helpful_error(call, error, phrase):
    with pytest.raises(error, match=phrase):
        call()


def test_the_table_is_large_and_its_names_unique():
    assert len(CASES) >= 25
    assert len({c[0] for c in CASES}) == len(CASES)


def test_good_inputs_next_to_the_bad_ones_still_work():
    # the checks must not refuse what the docs promise works: float32 data, probabilities, labels
    x, y = _x(), _y()
    assert _implicit().predict(x, samples=3, seed=0).member_probs.shape == (3, 4, C)
    assert 0 < fit_temperature(_probs(40), _y(40)) < math.inf
    assert fit(SingleNetwork((D, 8, C)), x, y, CFG).steps == 2
    assert set(classification_metrics(_probs(), y)) == {"accuracy", "nll", "brier", "ece"}


def test_finite_values_whose_sum_overflows_are_not_mistaken_for_nan():
    from hyperweights.uncertainty.checks import check_features
    big = torch.full((4, D), 3e38)                               # each finite, the sum is inf in float32
    assert check_features(big, D, torch.zeros(1)) is big
    with pytest.raises(ValueError, match="1 NaN or infinite"):
        check_features(torch.cat([big, torch.tensor([[math.inf] + [0.0] * (D - 1)])]), D, torch.zeros(1))
