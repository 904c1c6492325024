"""Zero-shot classifiers: class scores from image features and class descriptions.

:class:`ZeroShotClassifier` holds an image encoder ``f(x): (B, D) -> (B, F)`` and one of three
ways to score a class from its description embedding ``e_c`` (``(C, K)``, one row per class):

- ``"hypernetwork"`` (ours): a :class:`~hyperweights.HyperNetwork` generates the class's row of the
  last layer, ``(w_c, b_c) = H(e_c)``, for all classes in one batched call; the score is
  ``f(x) . w_c + b_c`` (the core's ensemble path: ``C`` weight sets of an ``nn.Linear(F, 1)``
  applied to the same features), or with ``cosine=True`` (default) ``10 cos(f(x), w_c)``.
  Trained with cross-entropy over the seen classes.
- ``"devise"`` (Frome et al., 2013): a linear compatibility ``f(x)^T M e_c`` trained with
  DeViSE's hinge rank loss (margin 0.1 over every wrong seen class).
- ``"nearest_embedding"``: image features projected into the description space, ``g(x) = P f(x)``,
  regressed onto the true class's embedding (cosine loss); a class scores ``cos(g(x), e_c)``.
  No hypernetwork and no compatibility matrix.

A new class needs only its embedding: pass a longer ``class_embeddings`` to :meth:`forward`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..conditioning import DataCondition
from ..heads import FullHead
from ..hypernetwork import HyperNetwork
from ..io import checkpointable
from ..model import HyperModel
from ..targets import mlp
from ..trunks import MLP

__all__ = ["ZeroShotClassifier", "METHODS"]

METHODS = ("hypernetwork", "devise", "nearest_embedding")
#: DeViSE's hinge margin (the paper's 0.1, with unit-norm label embeddings)
DEVISE_MARGIN = 0.1
#: temperature of the hypernetwork's cosine scores (``cosine=True``): logits in [-10, 10]
COSINE_SCALE = 10.0


@checkpointable("zeroshot.ZeroShotClassifier")
class ZeroShotClassifier(nn.Module):
    """Image encoder + a description-conditioned scorer (see the module docstring).

    Args:
        in_features: width of the flattened images ``D``.
        class_dim: width of the class descriptions ``K`` (384 for all-MiniLM-L6-v2, or the
            number of attributes).
        method: ``"hypernetwork"``, ``"devise"`` or ``"nearest_embedding"``.
        hidden: hidden widths of the image encoder; feature_dim: its output width ``F``.
        hyper_hidden: hidden widths of the hypernetwork's MLP trunk (``"hypernetwork"`` only).
        cosine: ``"hypernetwork"`` scores ``10 cos(f(x), w_c)`` (a cosine classifier, bias unused)
            instead of ``f(x) . w_c + b_c``: every class's scores on one scale, which keeps the
            calibration chosen on validation classes valid for the test classes.

    Shapes: ``forward(x: (B, D), class_embeddings: (C, K)) -> scores (B, C)``.

    Example:
        >>> model = ZeroShotClassifier(64, 16, hidden=(32,), feature_dim=8, hyper_hidden=(16,))
        >>> model(torch.rand(5, 64), torch.randn(10, 16)).shape
        torch.Size([5, 10])
        >>> model.class_weights(torch.randn(3, 16))["weight"].shape   # one row per class
        torch.Size([3, 1, 8])
    """

    def __init__(self, in_features: int, class_dim: int, method: str = "hypernetwork", *,
                 hidden: tuple[int, ...] = (256,), feature_dim: int = 128,
                 hyper_hidden: tuple[int, ...] = (256,), cosine: bool = True):
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        for name, value in (("in_features", in_features), ("class_dim", class_dim),
                            ("feature_dim", feature_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ZeroShotClassifier.{name} must be a positive int, got {value!r}")
        self.config = {"in_features": in_features, "class_dim": class_dim, "method": method,
                       "hidden": list(hidden), "feature_dim": feature_dim,
                       "hyper_hidden": list(hyper_hidden), "cosine": bool(cosine)}
        self.method = method
        self.cosine = bool(cosine)
        self.encoder = nn.Sequential(mlp((in_features, *hidden, feature_dim)), nn.ReLU())
        if method == "hypernetwork":
            row = nn.Linear(feature_dim, 1)        # the target: one class's row of the last layer
            condition = DataCondition(nn.Identity(), dim=class_dim)
            self.net = HyperModel(row, HyperNetwork(row, condition=condition,
                                                    trunk=MLP(hidden=tuple(hyper_hidden)), head=FullHead()))
        elif method == "devise":
            self.compatibility = nn.Linear(class_dim, feature_dim, bias=False)   # M
        else:
            self.project = nn.Linear(feature_dim, class_dim)                     # P

    def _check(self, x: Tensor, class_embeddings: Tensor) -> None:
        cfg = self.config
        if not (isinstance(x, Tensor) and x.ndim == 2 and x.shape[1] == cfg["in_features"]):
            raise ValueError(f"x must be a (B, {cfg['in_features']}) tensor of flattened images, got "
                             f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}")
        self._check_classes(class_embeddings)

    def _check_classes(self, class_embeddings: Tensor) -> None:
        k = self.config["class_dim"]
        if not (isinstance(class_embeddings, Tensor) and class_embeddings.ndim == 2
                and class_embeddings.shape[1] == k and len(class_embeddings)):
            raise ValueError(f"class_embeddings must be a (C, {k}) tensor, one description embedding "
                             f"per class (C >= 1), got "
                             f"{tuple(class_embeddings.shape) if isinstance(class_embeddings, Tensor) else type(class_embeddings).__name__}")

    def class_weights(self, class_embeddings: Tensor) -> dict[str, Tensor]:
        """The generated last-layer rows of every class in one call: ``{"weight": (C, 1, F),
        "bias": (C, 1)}`` (``"hypernetwork"`` only)."""
        if self.method != "hypernetwork":
            raise ValueError(f"class_weights exists for method='hypernetwork'; this model is {self.method!r}")
        self._check_classes(class_embeddings)
        return self.net.generate(class_embeddings)

    def forward(self, x: Tensor, class_embeddings: Tensor) -> Tensor:
        """Scores ``(B, C)`` of ``x: (B, D)`` against the classes ``class_embeddings: (C, K)``."""
        self._check(x, class_embeddings)
        features = self.encoder(x)
        if self.method == "hypernetwork":
            if self.cosine:       # unit features and rows: scores on one scale for every class
                weights = self.net.generate(class_embeddings)["weight"][:, 0]    # (C, F)
                return COSINE_SCALE * F.normalize(features, dim=-1) @ F.normalize(weights, dim=-1).T
            return self.net.ensemble(features, class_embeddings).squeeze(-1).T   # (C, B, 1) -> (B, C)
        if self.method == "devise":
            return features @ self.compatibility(class_embeddings).T
        return F.normalize(self.project(features), dim=-1) @ F.normalize(class_embeddings, dim=-1).T

    def loss(self, x: Tensor, labels: Tensor, class_embeddings: Tensor) -> Tensor:
        """The method's training loss on ``x: (B, D)`` with ``labels: (B,)`` indexing the rows of
        ``class_embeddings`` (the seen classes)."""
        scores = self(x, class_embeddings)
        true = scores.gather(1, labels[:, None])
        if self.method == "hypernetwork":
            return F.cross_entropy(scores, labels)
        if self.method == "devise":
            hinge = (DEVISE_MARGIN - true + scores).clamp_min(0)
            return hinge.scatter(1, labels[:, None], 0.0).sum(1).mean()
        return (1 - true).mean()       # cosine regression onto the true class's embedding

    def checkpoint_state(self):
        return dict(self.state_dict()), dict(self.config)

    @classmethod
    def from_checkpoint(cls, tensors, config, **overrides):
        cfg = {**config, **overrides}
        model = cls(cfg.pop("in_features"), cfg.pop("class_dim"), cfg.pop("method"),
                    hidden=tuple(cfg["hidden"]), feature_dim=cfg["feature_dim"],
                    hyper_hidden=tuple(cfg["hyper_hidden"]), cosine=cfg["cosine"])
        model.load_state_dict(tensors)
        return model
