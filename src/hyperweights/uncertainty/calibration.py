"""Post-hoc temperature scaling (Guo et al. 2017) of any method's mean predictive.

The temperature is fitted on held-out validation data by minimising the NLL of
``softmax(log p / T)``, where ``p`` is the method's mean predictive ``(N, C)`` (for an ensemble, the
average over members, so every method is calibrated the same way whatever its members are). A
single scalar cannot change the predicted class, so accuracy is unchanged.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .checks import check_labels, check_positive_int, check_probabilities

__all__ = ["apply_temperature", "fit_temperature"]


def apply_temperature(probs: Tensor, temperature: float) -> Tensor:
    """``softmax(log probs / T)``: ``(N, C) -> (N, C)``.

    Example:
        >>> p = torch.tensor([[0.9, 0.1]])
        >>> apply_temperature(p, 1.0).allclose(p), bool(apply_temperature(p, 2.0)[0, 0] < 0.9)
        (True, True)
    """
    check_probabilities(probs)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 < temperature < math.inf:
        raise ValueError(f"the temperature must be a positive finite number (what fit_temperature returns), "
                         f"got {temperature!r}")
    return torch.softmax(probs.clamp_min(1e-12).log() / temperature, dim=-1)


def fit_temperature(probs: Tensor, labels: Tensor, max_iter: int = 100) -> float:
    """The ``T > 0`` minimising the NLL of :func:`apply_temperature` on validation data.

    Args:
        probs: mean predictive probabilities ``(N, C)`` on held-out data (``Prediction.probs``),
            not logits: rows outside ``[0, 1]`` or not summing to 1 raise a ``ValueError``
            (logits would be read as log-probabilities of the wrong scale and give a meaningless
            temperature, e.g. ``T ~ 355``).
        labels: their classes ``(N,)``, integers in ``0..C - 1``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> y = torch.randint(0, 3, (500,), generator=g)
        >>> logits = 4.0 * torch.nn.functional.one_hot(y, 3) + 2.0 * torch.randn(500, 3, generator=g)
        >>> t = fit_temperature(torch.softmax(3.0 * logits, -1), y)   # overconfident by 3x
        >>> 2.0 < t < 4.5
        True
    """
    check_probabilities(probs)
    check_labels(labels, probs.shape[0], probs.shape[1], what="labels", owner="probs")
    check_positive_int(max_iter, "max_iter")
    log_p = probs.detach().double().clamp_min(1e-12).log()
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)   # optimise log T: T stays > 0
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(log_p / log_t.exp(), labels)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp())
