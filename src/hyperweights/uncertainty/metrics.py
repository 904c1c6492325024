"""Evaluation: accuracy, NLL, Brier, ECE (torchmetrics), OOD AUROC (scikit-learn), shifted inputs."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .checks import check_labels, check_positive_int, check_probabilities, check_scores
from .predict import Prediction, Predictive

__all__ = ["predict_in_chunks", "classification_metrics", "ood_auroc", "rotate", "gaussian_noise",
           "reliability_bins"]


def predict_in_chunks(model: Predictive, x: Tensor, samples: int | None, seed: int = 0,
                      chunk: int = 2000) -> Prediction:
    """:meth:`Predictive.predict` over ``x`` in chunks of rows, with the same members for every chunk
    (the seed is reused), so memory stays bounded for ``K = 32`` members on 10,000 inputs."""
    check_positive_int(chunk, "chunk")
    parts = [model.predict(x[i:i + chunk], samples=samples, seed=seed) for i in range(0, len(x), chunk)]
    return Prediction(*(torch.cat([getattr(p, f) for p in parts], dim=1 if f.startswith("member") else 0)
                        for f in ("probs", "member_probs", "member_logits", "entropy",
                                  "mutual_information", "variance")))


def classification_metrics(probs: Tensor, labels: Tensor, n_bins: int = 15) -> dict[str, float]:
    """Accuracy, NLL (nats), Brier score (sum over classes, mean over inputs) and ECE (L1,
    ``n_bins`` equal-width bins, torchmetrics) of mean predictive probabilities ``(N, C)``.

    Example:
        >>> m = classification_metrics(torch.tensor([[0.9, 0.1], [0.2, 0.8]]), torch.tensor([0, 0]))
        >>> m["accuracy"], round(m["brier"], 3)
        (0.5, 0.65)
    """
    from torchmetrics.functional.classification import multiclass_calibration_error

    _check_classified(probs, labels, n_bins)
    num_classes = probs.shape[1]
    onehot = F.one_hot(labels, num_classes).to(probs.dtype)
    return {
        "accuracy": (probs.argmax(1) == labels).float().mean().item(),
        "nll": F.nll_loss(probs.clamp_min(1e-12).log(), labels).item(),
        "brier": (probs - onehot).pow(2).sum(1).mean().item(),
        "ece": multiclass_calibration_error(probs, labels, num_classes=num_classes, n_bins=n_bins,
                                            norm="l1").item(),
    }


def ood_auroc(score_in: Tensor, score_out: Tensor) -> float:
    """AUROC of telling out-of-distribution inputs (positives) from in-distribution ones by a score
    that should be higher out of distribution (predictive entropy)."""
    from sklearn.metrics import roc_auc_score

    check_scores(score_in, "score_in")
    check_scores(score_out, "score_out")
    labels = [0] * len(score_in) + [1] * len(score_out)
    return float(roc_auc_score(labels, torch.cat([score_in, score_out]).double().numpy()))


def rotate(x: Tensor, degrees: float, side: int = 28) -> Tensor:
    """Rotate flattened ``side x side`` images ``(N, side*side)`` by ``degrees`` (bilinear, zero fill)."""
    if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != side * side or not x.is_floating_point():
        raise ValueError(f"rotate takes flattened {side}x{side} images: a float tensor (N, {side * side}), got "
                         f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}; pass side= for other sizes")
    a = math.radians(degrees)
    theta = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]], dtype=x.dtype)
    img = x.reshape(-1, 1, side, side)
    grid = F.affine_grid(theta.expand(len(img), 2, 3), list(img.shape), align_corners=False)
    return F.grid_sample(img, grid, align_corners=False).reshape(len(x), -1)


def gaussian_noise(x: Tensor, std: float, seed: int = 0) -> Tensor:
    """``clip(x + N(0, std^2), 0, 1)`` with a seeded generator."""
    if not std >= 0:
        raise ValueError(f"the noise std must be >= 0, got {std}")
    g = torch.Generator().manual_seed(seed)
    return (x + std * torch.randn(x.shape, generator=g, dtype=x.dtype)).clamp(0.0, 1.0)


def reliability_bins(probs: Tensor, labels: Tensor, n_bins: int = 15) -> dict[str, list[float]]:
    """Per-bin mean confidence, accuracy and count (for reliability diagrams; the ECE itself comes
    from torchmetrics in :func:`classification_metrics`)."""
    _check_classified(probs, labels, n_bins)
    conf, pred = probs.max(1)
    correct = (pred == labels).float()
    edges = torch.linspace(0, 1, n_bins + 1)
    which = torch.bucketize(conf, edges[1:-1], right=True)
    count = torch.bincount(which, minlength=n_bins).float()
    safe = count.clamp_min(1)
    return {
        "confidence": (torch.bincount(which, conf, minlength=n_bins) / safe).tolist(),
        "accuracy": (torch.bincount(which, correct, minlength=n_bins) / safe).tolist(),
        "count": count.tolist(),
        "edges": edges.tolist(),
    }


def _check_classified(probs: Tensor, labels: Tensor, n_bins: int) -> None:
    check_probabilities(probs)
    check_labels(labels, probs.shape[0], probs.shape[1], what="labels", owner="probs")
    check_positive_int(n_bins, "n_bins")
