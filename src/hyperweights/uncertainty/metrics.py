"""Evaluation: accuracy, NLL, Brier, ECE (torchmetrics), OOD AUROC (scikit-learn), shifted inputs."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .calibration import apply_temperature
from .checks import check_labels, check_positive_int, check_probabilities, check_scores
from .predict import Prediction, Predictive

__all__ = ["evaluate", "predict_in_chunks", "classification_metrics", "ood_auroc", "rotate", "gaussian_noise",
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


def evaluate(model: Predictive, x: Tensor, y: Tensor, *, samples: int | None = None, seed: int = 0,
             ood: Tensor | None = None, temperature: float | None = None, n_bins: int = 15,
             chunk: int = 2000) -> dict[str, float]:
    """The package's evaluation verb: how well ``model``'s mean predictive fits ``(x, y)`` and, with
    ``ood``, how well its predictive entropy tells those inputs from ``ood``.

    Args:
        x, y: inputs ``(N, in_features)`` and their classes ``(N,)``.
        samples, seed: the members (:meth:`Predictive.predict`; the same for every chunk and for ``ood``).
        ood: out-of-distribution inputs ``(M, in_features)`` (positives of the AUROC).
        temperature: if given, the accuracy / NLL / Brier / ECE are of the temperature-scaled
            predictive (:func:`~hyperweights.uncertainty.apply_temperature`); the entropy, mutual
            information and AUROC stay those of the members.

    Returns:
        ``accuracy``, ``nll``, ``brier``, ``ece`` (:func:`classification_metrics`), the mean
        ``entropy`` and ``mutual_information`` on ``x``, and with ``ood`` also ``auroc_ood`` and
        ``mutual_information_ood``.

    Example:
        >>> import torch
        >>> from hyperweights.uncertainty import MCDropout
        >>> m = evaluate(MCDropout((4, 8, 3)), torch.randn(20, 4), torch.arange(20) % 3, samples=8,
        ...              ood=torch.randn(10, 4) * 5)
        >>> sorted(m)
        ['accuracy', 'auroc_ood', 'brier', 'ece', 'entropy', 'mutual_information', 'mutual_information_ood', 'nll']
    """
    check_labels(y, len(model.check_input(x)), model.num_classes)
    pred = predict_in_chunks(model, x, samples, seed, chunk)
    probs = pred.probs if temperature is None else apply_temperature(pred.probs, temperature)
    out = classification_metrics(probs, y, n_bins)
    out.update(entropy=pred.entropy.mean().item(), mutual_information=pred.mutual_information.mean().item())
    if ood is not None:
        pood = predict_in_chunks(model, ood, samples, seed, chunk)
        out.update(auroc_ood=ood_auroc(pred.entropy, pood.entropy),
                   mutual_information_ood=pood.mutual_information.mean().item())
    return out


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
