"""HyperTab for regression (an open request on the reference package), as a scikit-learn
estimator."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import RegressorMixin
from torch import Tensor

from ..io import checkpointable
from ._base import HyperTabBase

__all__ = ["HyperTabRegressor"]


@checkpointable("tabular.HyperTabRegressor")
class HyperTabRegressor(RegressorMixin, HyperTabBase):
    """HyperTab for a real-valued target: every view's network predicts the standardized target
    (mean squared error), and the prediction averages the ``K`` views.

    The parameters are those of :class:`~hyperweights.tabular.HyperTabClassifier`; early stopping
    holds out a random (not stratified) share of the rows.

    Attributes:
        y_mean_, y_scale_: the target's training mean and standard deviation (the networks
            predict ``(y - y_mean_) / y_scale_``).

    Example:
        >>> from sklearn.datasets import load_diabetes
        >>> X, y = load_diabetes(return_X_y=True)
        >>> reg = HyperTabRegressor(n_masks=8, epochs=30, random_state=0).fit(X, y)
        >>> reg.predict(X[:3]).shape
        (3,)
        >>> reg.score(X, y) > 0.4
        True
    """

    def _encode_targets(self, y: np.ndarray) -> tuple[Tensor, int]:
        y = np.asarray(y, dtype=np.float64)
        self.y_mean_ = float(y.mean())
        scale = float(y.std())
        self.y_scale_ = scale if scale > 1e-12 else 1.0
        return torch.as_tensor((y - self.y_mean_) / self.y_scale_, dtype=torch.float32), 1

    def _loss(self, out: Tensor, y: Tensor) -> Tensor:
        return F.mse_loss(out[:, 0], y.expand(out.shape[0], -1))

    def _ensemble_loss(self, mean_out: Tensor, y: Tensor) -> Tensor:
        return F.mse_loss(mean_out[0], y)

    def predict(self, X) -> np.ndarray:
        """Predicted targets, ``(n_samples,)``."""
        return self._mean_output(X)[:, 0] * self.y_scale_ + self.y_mean_
