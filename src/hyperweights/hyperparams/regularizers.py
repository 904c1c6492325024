"""Regularizers whose strength is a tensor, one value per example (or per member of a stack).

Self-Tuning Networks perturb hyperparameters per example, so a dropout rate or an augmentation
strength must be a ``(B,)`` tensor rather than a Python float. All functions here are batched (no
loops over examples) and work under ``torch.func.vmap(..., randomness="different")``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._parts import is_traced

__all__ = ["dropout", "cutout", "l2_penalty", "squared_norms"]


def _check_range(p: Tensor, what: str, low: float, high: float, high_open: bool) -> None:
    # a data-dependent check: skipped under vmap/compile, where keeping values valid is the caller's job
    if is_traced(p):
        return
    bad = (p < low) | ((p >= high) if high_open else (p > high)) | ~torch.isfinite(p)
    if bad.any():
        raise ValueError(f"{what} must lie in [{low}, {high}{')' if high_open else ']'}, got "
                         f"{p[bad].flatten()[:5].tolist()}")


def _per_row(p: Tensor, like: Tensor) -> Tensor:
    p = torch.as_tensor(p, dtype=like.dtype, device=like.device)
    if p.ndim == 0:
        return p
    if p.ndim != 1 or p.shape[0] != like.shape[0]:
        raise ValueError(f"a per-example strength must be a scalar or of shape (B,) = ({like.shape[0]},), "
                         f"got {tuple(p.shape)}")
    return p.reshape(-1, *([1] * (like.ndim - 1)))


def dropout(x: Tensor, p: Tensor, training: bool = True) -> Tensor:
    """Inverted dropout with a per-example rate ``p: (B,)`` (or a scalar) in [0, 1).

    Example:
        >>> x = torch.ones(2, 1000)
        >>> y = dropout(x, torch.tensor([0.0, 0.5]))
        >>> bool((y[0] == 1).all()), round((y[1] == 0).float().mean().item(), 1)
        (True, 0.5)
    """
    if not training:
        return x
    p = _per_row(p, x)
    _check_range(p, "a dropout rate", 0.0, 1.0, high_open=True)
    keep = (torch.rand_like(x) >= p).to(x.dtype)
    return x * keep / (1 - p).clamp_min(1e-6)


def cutout(images: Tensor, length: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Cutout (DeVries & Taylor 2017) with a per-example square side ``length: (B,)`` in pixels.

    Args:
        images: ``(B, C, H, W)`` or ``(B, H * W)`` square images (flattened ones are restored).
        length: side of the zeroed square (fractional lengths are rounded down, as the STN
            reference code floors its discrete hyperparameters). Centres are uniform over the
            image; the square covers rows ``[cy - ceil(L/2), cy + floor(L/2))`` (and the same
            columns), so away from the border exactly ``L x L`` pixels are cut, and it is clipped
            at the border, as in the reference (asteroidhouse/self-tuning-networks ``Cutout``).

    Example:
        >>> x = torch.ones(2, 1, 8, 8)
        >>> y = cutout(x, torch.tensor([0.0, 4.0]))
        >>> int((y[0] == 0).sum()), int((y[1] == 0).sum()) <= 16
        (0, True)
    """
    flat = images.ndim == 2
    if flat:
        side = int(round(images.shape[1] ** 0.5))
        if side * side != images.shape[1]:
            raise ValueError(f"flattened images must be square, got {images.shape[1]} pixels")
        imgs = images.reshape(images.shape[0], 1, side, side)
    elif images.ndim == 4:
        imgs = images
    else:
        raise ValueError(f"cutout expects (B, C, H, W) or (B, H*W) images, got {tuple(images.shape)}")
    b, _, h, w = imgs.shape
    side = _per_row(length, imgs[:, 0, 0, 0])
    _check_range(side, "a cutout length", 0.0, float("inf"), high_open=False)
    side = side.reshape(-1, 1, 1).floor()
    before, after = torch.floor((side + 1) / 2), torch.floor(side / 2)    # ceil(L/2), floor(L/2)
    cy = torch.randint(0, h, (b, 1, 1), generator=generator, device=imgs.device)
    cx = torch.randint(0, w, (b, 1, 1), generator=generator, device=imgs.device)
    dy = torch.arange(h, device=imgs.device).view(1, h, 1) - cy
    dx = torch.arange(w, device=imgs.device).view(1, 1, w) - cx
    inside = (dy >= -before) & (dy < after) & (dx >= -before) & (dx < after)    # (B, H, W)
    out = imgs * (~inside).unsqueeze(1).to(imgs.dtype)
    return out.reshape(images.shape) if flat else out


def squared_norms(weights: dict[str, Tensor], names: list[str] | None = None) -> Tensor:
    """``sum_n ||theta_k[n]||^2`` per weight set: ``(K,)`` from ``{name: (K, *shape)}``.

    Args:
        names: the tensors to sum; default the weight matrices and kernels (``ndim > 2`` with
            the leading ``K``), i.e. weight decay without the biases.

    Example:
        >>> squared_norms({"0.weight": torch.ones(2, 3, 3), "0.bias": torch.ones(2, 3)})
        tensor([9., 9.])
    """
    names = [n for n, w in weights.items() if w.ndim > 2] if names is None else names
    unknown = [n for n in names if n not in weights]
    if unknown:
        raise KeyError(f"no generated weights named {unknown}; the weights are {sorted(weights)}")
    return sum(weights[n].pow(2).flatten(1).sum(1) for n in names)


def l2_penalty(weights: dict[str, Tensor], strength: Tensor, names: list[str] | None = None) -> Tensor:
    """``mean_k strength_k * sum ||theta_k||^2`` over the generated tensors (``(K, *shape)``),
    a weight-decay term per weight set (biases included unless ``names`` selects).

    Example:
        >>> w = {"weight": torch.ones(2, 3, 3)}
        >>> l2_penalty(w, torch.tensor([1.0, 0.0]))
        tensor(4.5000)
    """
    sq = squared_norms(weights, list(weights) if names is None else names)
    return (torch.as_tensor(strength, dtype=sq.dtype) * sq).mean()
