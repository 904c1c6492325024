"""Initialisation of output heads, driven by the target's own parameter statistics.

By default heads receive features of unit expected squared norm: the trunks' Kaiming
initialisation keeps a unit second moment per feature and :class:`~hyperweights.HyperNetwork`
scales the ``d_h`` features by ``feature_scale = 1/sqrt(d_h)``. That scale matters for training as much as for initialisation: under Adam every
head weight moves by about ``lr`` per step, so a generated scalar moves by about
``lr * (1 + sum_j |h_j|)``; with unit-variance features that is ~50-100x the step a plain network's
weight takes, and training diverged or stalled for some seeds (measured: 2 of 4 seeds of a chunked
hypernetwork stuck at chance on MNIST-5k; with the scale, 4 of 4 train). ``feature_scale=1.0``
restores unscaled features (the recipes tuned before the default changed pin it).

``"hyperfan"`` (default): the rows of the head that produce tensor ``k`` are drawn with
``std = target_std_k / feature_norm`` and their bias is ``target_mean_k``, so the generated tensor starts with the
same mean and spread as the target's own initialisation (the idea of hyperfan-in, Chang et al. 2020,
with the variance read from the target instead of derived per layer type; this also covers
LayerNorm scales, embeddings and RNN weights).

``"fan_out"``: HyperLight's per-tensor fan-out rule used with MIP (Gonzalez Ortiz et al. 2024):
``kaiming_normal(mode="fan_out")`` on each tensor's block of rows and zero bias, so the residual
``delta theta`` starts small relative to ``theta0`` for large tensors.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


__all__ = ["INIT_MODES", "init_block", "pooled_stats"]

INIT_MODES = ("hyperfan", "fan_out")


@torch.no_grad()
def init_block(weight: Tensor, bias: Tensor | None, rows: slice, spec_mean: float, spec_std: float,
               mode: str, feature_norm: float = 1.0) -> None:
    """Initialise ``weight[rows]`` (and ``bias[rows]``) for one generated tensor.

    ``feature_norm`` is the expected L2 norm of the feature vectors the head reads (1 with the
    default feature scale ``1/sqrt(d_h)``; ``sqrt(d_h)`` with unscaled unit-variance features).
    """
    block = weight[rows]
    if mode == "hyperfan":
        # a row of std s applied to features of norm n gives outputs of std s * n
        block.normal_(0.0, spec_std / feature_norm) if spec_std > 0 else block.zero_()
        if bias is not None:
            bias[rows].fill_(spec_mean)
    elif mode == "fan_out":
        n = max(block.shape[0], 1)
        block.normal_(0.0, math.sqrt(2.0 / (1 + 0.01 ** 2)) / math.sqrt(n))
        if bias is not None:
            bias[rows].zero_()
    else:
        raise ValueError(f"unknown head init {mode!r}; choose one of {INIT_MODES}")


def pooled_stats(specs) -> tuple[float, float]:
    """Mean and standard deviation of all generated scalars pooled (for heads whose rows are
    shared across tensors: chunked and per-layer heads)."""
    specs = list(specs)
    total = sum(s.numel for s in specs)
    mean = sum(s.init_mean * s.numel for s in specs) / total
    second = sum((s.init_std ** 2 + s.init_mean ** 2) * s.numel for s in specs) / total
    return mean, math.sqrt(max(second - mean ** 2, 0.0))

