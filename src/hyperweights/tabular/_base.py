"""What HyperTabClassifier and HyperTabRegressor share: validation, the batched training loop,
early stopping and prediction."""

from __future__ import annotations

import copy
import numbers
from collections.abc import Callable

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import Tensor

from ..optim import make_optimizer
from ..targets import param_count
from ..training import TrainConfig, train_loop
from .checkpoint import estimator_from_state, estimator_state
from .ensemble import MaskEnsemble, ensemble_apply, views
from .masks import feature_masks

__all__ = ["HyperTabBase", "check_finite_input"]

# Rows per prediction chunk, so that the (K, rows, s) views stay small for large inputs.
_PREDICT_ELEMENTS = 1 << 22
_SCHEDULES = ("joint", "per_view")


def check_finite_input(X: np.ndarray, what: str = "X") -> None:
    """Raise a ``ValueError`` with a fix when ``X`` holds NaN or infinity."""
    finite = np.isfinite(X)
    if finite.all():
        return
    cols = np.flatnonzero(~finite.all(axis=0))
    shown = ", ".join(str(c) for c in cols[:10]) + (" ..." if cols.size > 10 else "")
    raise ValueError(
        f"Input {what} contains NaN or infinity ({int((~finite).sum())} values, in columns {shown}). "
        "HyperTab needs finite numbers: impute missing values first, e.g. "
        "make_pipeline(SimpleImputer(strategy='median'), HyperTabClassifier())."
    )


def _hidden_tuple(value, name: str) -> tuple[int, ...]:
    widths = (value,) if isinstance(value, numbers.Integral) else tuple(value)
    if not widths or any(not isinstance(w, numbers.Integral) or w < 1 for w in widths):
        raise ValueError(f"{name} must be a positive int or a non-empty tuple of positive ints, "
                         f"got {value!r}")
    return tuple(int(w) for w in widths)


class _EarlyStopping:
    """Validation loss of the view-averaged output after every epoch; keeps the best weights;
    ``exhausted`` after ``patience`` epochs without improvement. Disabled without validation rows."""

    def __init__(self, model: MaskEnsemble, x: Tensor, y: Tensor, val_idx, loss: Callable, patience: int):
        self.enabled = val_idx is not None
        self.model, self.loss, self.patience = model, loss, patience
        if self.enabled:
            val = torch.as_tensor(val_idx, device=x.device)
            self.x, self.y = x[val], y[val]
        self.best, self.best_state, self.stale = float("inf"), None, 0

    def update(self) -> float:
        """Score this epoch; returns the negated validation loss (higher is better)."""
        with torch.no_grad():
            value = self.loss(self.model(self.x).mean(0), self.y).item()
        if value < self.best - 1e-6:
            self.best, self.stale = value, 0
            self.best_state = copy.deepcopy(self.model.state_dict())
        else:
            self.stale += 1
        return -value

    @property
    def exhausted(self) -> bool:
        return self.stale >= self.patience

    def restore_best(self) -> None:
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)


class HyperTabBase(BaseEstimator):
    """Shared parameters and the training loop (see :class:`HyperTabClassifier` for the docs)."""

    def __init__(self, n_masks=100, subsample=0.5, hidden_dims=10, hypernet_hidden=(128, 64),
                 epochs=50, lr=3e-3, batch_size=128, weight_decay=0.0, standardize=True,
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=10,
                 schedule="joint", feature_scale=1.0, random_state=None, device="cpu", verbose=False):
        self.n_masks = n_masks
        self.subsample = subsample
        self.hidden_dims = hidden_dims
        self.hypernet_hidden = hypernet_hidden
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.standardize = standardize
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.schedule = schedule
        self.feature_scale = feature_scale
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    # ------------------------------------------------------------------ hooks of the subclasses
    def _encode_targets(self, y: np.ndarray) -> tuple[Tensor, int]:  # pragma: no cover
        raise NotImplementedError

    def _loss(self, out: Tensor, y: Tensor) -> Tensor:  # pragma: no cover
        """``out: (K, n_out, B)``; the mean loss of every view on every sample."""
        raise NotImplementedError

    def _ensemble_loss(self, mean_out: Tensor, y: Tensor) -> Tensor:  # pragma: no cover
        """``mean_out: (n_out, B)``, the averaged views; the validation loss."""
        raise NotImplementedError

    def _stratify(self, y: np.ndarray):
        return None

    # ------------------------------------------------------------------ validation
    def _check_params(self) -> None:
        def positive_int(name):
            v = getattr(self, name)
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        for name in ("n_masks", "epochs", "batch_size", "n_iter_no_change"):
            positive_int(name)
        if not isinstance(self.subsample, numbers.Real) or not 0 < self.subsample <= 1:
            raise ValueError(f"subsample must be in (0, 1], got {self.subsample!r}")
        if not isinstance(self.lr, numbers.Real) or not self.lr > 0:
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if not isinstance(self.weight_decay, numbers.Real) or self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.feature_scale is not None and not (isinstance(self.feature_scale, numbers.Real)
                                                   and self.feature_scale > 0):
            raise ValueError(f"feature_scale must be a positive number or None (the core default), "
                             f"got {self.feature_scale!r}")
        try:
            torch.device(self.device)
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"device must name a torch device (cpu, cuda, cuda:0, mps), got "
                             f"{self.device!r}") from err
        if self.schedule not in _SCHEDULES:
            raise ValueError(f"schedule must be one of {_SCHEDULES}, got {self.schedule!r}: 'joint' "
                             "takes one Adam step on the mean loss of all views per minibatch, "
                             "'per_view' one step per view (the reference package)")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}")

    def _validate_X(self, X, reset: bool) -> np.ndarray:
        X = validate_data(self, X, reset=reset, dtype=np.float64, ensure_all_finite=False)
        check_finite_input(X)
        return X

    # ------------------------------------------------------------------ fit
    def fit(self, X, y):
        """Train the hypernetwork on all ``K`` views at once.

        Args:
            X: ``(n_samples, n_features)`` array-like or DataFrame of finite numbers.
            y: ``(n_samples,)`` class labels (classifier) or real targets (regressor).

        Returns:
            self
        """
        self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_all_finite=False,
                             y_numeric=not hasattr(self, "predict_proba"))
        check_finite_input(X)
        hidden = _hidden_tuple(self.hidden_dims, "hidden_dims")
        hyper_hidden = _hidden_tuple(self.hypernet_hidden, "hypernet_hidden")
        device = torch.device(self.device)
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        gen = torch.Generator().manual_seed(seed)
        targets, n_out = self._encode_targets(y)

        if self.standardize:
            self.mean_ = X.mean(axis=0)
            scale = X.std(axis=0)
            self.scale_ = np.where(scale > 1e-12, scale, 1.0)
        else:
            self.mean_, self.scale_ = np.zeros(X.shape[1]), np.ones(X.shape[1])
        x = torch.as_tensor((X - self.mean_) / self.scale_, dtype=torch.float32, device=device)
        targets = targets.to(device)

        train_idx, val_idx = np.arange(len(X)), None
        if self.early_stopping:
            train_idx, val_idx = self._validation_split(y, seed)

        index, mask = feature_masks(X.shape[1], self.n_masks, self.subsample, generator=gen)
        # Module initialisation draws from torch's global RNG: fork it so that the user's global
        # state is unchanged afterwards and the result depends only on random_state.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = MaskEnsemble(index, mask, n_out, hidden, hyper_hidden, self.feature_scale)
        model = model.to(device=device, dtype=torch.float32)
        self.model_ = self._train(model, x, targets, train_idx, val_idx, gen, seed)
        with torch.no_grad():
            self.weights_ = {n: w.to(torch.float64) for n, w in self.model_.generate().items()}
        self.n_params_ = param_count(self.model_)
        return self

    def _validation_split(self, y: np.ndarray, seed: int):
        from sklearn.model_selection import train_test_split
        idx = np.arange(len(y))
        try:
            return train_test_split(idx, test_size=self.validation_fraction, random_state=seed,
                                    stratify=self._stratify(y))
        except ValueError:  # a class too rare to stratify: fall back to a plain split
            return train_test_split(idx, test_size=self.validation_fraction, random_state=seed)

    def _train(self, model: MaskEnsemble, x: Tensor, y: Tensor, train_idx, val_idx, gen, seed: int):
        """Train with the core :func:`~hyperweights.training.train_loop`; returns the model.

        One optimizer step is one minibatch (``joint``: the mean loss of all ``K`` views, one
        batched call) or one view of one minibatch (``per_view``, the reference: ``K`` steps per
        minibatch, the views in a random order). Step ``i`` is located as (epoch, minibatch, view);
        a new epoch draws a new row order, a new minibatch (``per_view``) a new view order, both
        from ``gen``. Early stopping ends the loop from its ``after_step`` hook.
        """
        train = torch.as_tensor(train_idx, device=x.device)
        per_view = self.schedule == "per_view"
        views_per_batch = model.n_masks if per_view else 1
        steps_per_epoch = -(-len(train) // self.batch_size) * views_per_batch
        state = {"order": train, "views": None, "view_order": [], "total": 0.0, "steps": 0}
        self.loss_curve_, self.validation_scores_ = [], []

        def step(i: int) -> Tensor:
            within = i % steps_per_epoch
            if within == 0:
                state["order"] = train[torch.randperm(len(train), generator=gen).to(x.device)]
                state["total"] = 0.0
            b, v = divmod(within, views_per_batch)
            batch = state["order"][b * self.batch_size:(b + 1) * self.batch_size]
            if not per_view:
                loss = self._loss(model(x[batch]), y[batch])
            else:
                if v == 0:        # the views of this minibatch, gathered once for its K steps
                    state["views"] = views(x[batch], model.index)
                    state["view_order"] = torch.randperm(model.n_masks, generator=gen).tolist()
                loss = self._loss(model.forward_view(state["views"], state["view_order"][v]), y[batch])
            state["total"] += loss.detach() * (len(batch) / views_per_batch)
            state["steps"] += 1
            return loss

        stopper = _EarlyStopping(model, x, y, val_idx, self._ensemble_loss, self.n_iter_no_change)

        def after_step(i: int) -> bool:
            if (i + 1) % steps_per_epoch:
                return False
            self.loss_curve_.append(float(state["total"]) / len(train))
            if stopper.enabled:
                self.validation_scores_.append(stopper.update())
            return stopper.enabled and stopper.exhausted

        config = TrainConfig(lr=self.lr, batch_size=self.batch_size, seed=seed,
                             progress=bool(self.verbose), device=str(x.device))
        optimizer = make_optimizer(model.parameters(), self.lr, weight_decay=self.weight_decay)
        model.train()
        train_loop(step, optimizer, config, total_steps=self.epochs * steps_per_epoch, model=model,
                   after_step=after_step, generators=[gen], desc="HyperTab")
        self.n_iter_, self.n_steps_ = len(self.loss_curve_), state["steps"]
        stopper.restore_best()
        return model.eval()

    # ------------------------------------------------------------------ predict
    def _mean_output(self, X) -> np.ndarray:
        """The view-averaged output ``(n_samples, n_out)``, computed in float64 from the weights
        generated once at the end of ``fit``."""
        check_is_fitted(self, "weights_")
        X = self._validate_X(X, reset=False)
        x = torch.as_tensor((X - self.mean_) / self.scale_, dtype=torch.float64)
        index = self.model_.index.cpu()
        weights = {n: w.cpu() for n, w in self.weights_.items()}
        rows = max(1, _PREDICT_ELEMENTS // (index.numel() or 1))
        with torch.no_grad():
            out = [ensemble_apply(weights, self.model_.layer_names, views(chunk, index)).mean(0)
                   for chunk in x.split(rows)]
        return torch.cat(out, dim=1).T.numpy() if out else np.zeros((0, self.model_.n_out))

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_state(self) -> tuple[dict[str, Tensor], dict]:
        """The core checkpoint protocol (``hw.save(estimator, path)``); needs a fitted estimator."""
        return estimator_state(self)

    @classmethod
    def from_checkpoint(cls, tensors: dict[str, Tensor], config: dict, **overrides):
        """Rebuild the fitted estimator (``hw.load(path)``); ``overrides`` change parameters."""
        return estimator_from_state(cls, tensors, config, overrides)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags
