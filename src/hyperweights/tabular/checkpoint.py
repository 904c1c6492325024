"""A fitted HyperTab estimator as one checkpoint file (the core protocol, no pickle).

``hw.save(estimator, path)`` stores the trained :class:`MaskEnsemble` (masks included), the
float64 weights used for prediction, the column scaling, the constructor parameters and the fitted
attributes; ``hw.load(path)`` rebuilds an estimator that predicts exactly as the saved one.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import Tensor

from ..targets import param_count
from .ensemble import MaskEnsemble

__all__ = ["estimator_state", "estimator_from_state"]

_TUPLE_PARAMS = ("hidden_dims", "hypernet_hidden")
_FITTED_LISTS = ("loss_curve_", "validation_scores_")


def _params(estimator) -> dict:
    params = estimator.get_params()
    state = params["random_state"]
    if state is not None and not isinstance(state, numbers.Integral):
        params["random_state"] = None     # a RandomState object seeds a refit only; not JSON
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


def estimator_state(estimator) -> tuple[dict[str, Tensor], dict]:
    """``(tensors, config)`` of a fitted estimator, for ``hw.save``."""
    check_is_fitted(estimator, "weights_")
    model_tensors, model_config = estimator.model_.checkpoint_state()
    tensors = {f"model.{k}": v.cpu() for k, v in model_tensors.items()}
    tensors.update({f"weights.{k}": v for k, v in estimator.weights_.items()})
    tensors["mean"] = torch.as_tensor(estimator.mean_)
    tensors["scale"] = torch.as_tensor(estimator.scale_)
    fitted = {"n_features_in_": int(estimator.n_features_in_), "n_iter_": int(estimator.n_iter_),
              **{k: [float(v) for v in getattr(estimator, k)] for k in _FITTED_LISTS}}
    if hasattr(estimator, "feature_names_in_"):
        fitted["feature_names_in_"] = [str(c) for c in estimator.feature_names_in_]
    if hasattr(estimator, "classes_"):
        fitted["classes_"] = estimator.classes_.tolist()
        fitted["classes_dtype"] = estimator.classes_.dtype.str
    if hasattr(estimator, "y_mean_"):
        fitted["y_mean_"], fitted["y_scale_"] = float(estimator.y_mean_), float(estimator.y_scale_)
    return tensors, {"params": _params(estimator), "model": model_config, "fitted": fitted}


def estimator_from_state(cls, tensors: dict[str, Tensor], config: dict, overrides: dict):
    """Rebuild a fitted ``cls`` from :func:`estimator_state`; ``overrides`` are constructor
    parameters to change (e.g. ``device``)."""
    if "target" in overrides:
        raise TypeError(f"a {cls.__name__} checkpoint rebuilds its own networks: call "
                        "hw.load(path) without a target")
    params = {k: tuple(v) if k in _TUPLE_PARAMS and isinstance(v, list) else v
              for k, v in config["params"].items()}
    estimator = cls(**params).set_params(**overrides)
    model_tensors = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    estimator.model_ = MaskEnsemble.from_checkpoint(model_tensors, config["model"]).eval()
    estimator.weights_ = {k[len("weights."):]: v for k, v in tensors.items() if k.startswith("weights.")}
    estimator.mean_, estimator.scale_ = tensors["mean"].numpy(), tensors["scale"].numpy()
    fitted = dict(config["fitted"])
    if "classes_" in fitted:
        fitted["classes_"] = np.array(fitted["classes_"], dtype=np.dtype(fitted.pop("classes_dtype")))
    if "feature_names_in_" in fitted:
        fitted["feature_names_in_"] = np.array(fitted["feature_names_in_"], dtype=object)
    for name, value in fitted.items():
        setattr(estimator, name, value)
    estimator.n_params_ = param_count(estimator.model_)
    return estimator
