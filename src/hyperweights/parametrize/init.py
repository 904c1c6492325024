"""Initialisation of output heads: what each generated tensor looks like before training.

Every mode gives, per generated tensor, the mean and standard deviation the tensor should start
with; the head's rows that emit it are drawn with ``std / feature_norm`` and their bias is the
mean. ``feature_norm`` is the expected L2 norm of the feature vector the head reads: the trunks'
Kaiming initialisation keeps a unit second moment per feature and
:class:`~hyperweights.HyperNetwork` scales the ``d_h`` features by ``feature_scale = 1/sqrt(d_h)``,
so it is 1 by default (``sqrt(d_h)`` with ``feature_scale=1.0``). That scale matters for training
as much as for initialisation: under Adam every head weight moves by about ``lr`` per step, so a
generated scalar moves by about ``lr * (1 + sum_j |h_j|)``; with unit-variance features that is
~50-100x the step a plain network's weight takes, and training diverged or stalled for some seeds
(measured: 2 of 4 seeds of a chunked hypernetwork stuck at chance on MNIST-5k; with the scale, 4 of
4 train).

Modes (``HyperNetwork(init=...)``):

- ``"target_stats"`` (default): each tensor starts with the mean and spread of the target's own
  initialisation (read from the target when the hypernetwork is built). This covers any parameter
  (LayerNorm scales, embeddings, RNN weights), and keeps a pretrained-looking scale per tensor.
- ``"hyperfan_in"`` / ``"hyperfan_out"``: Chang, Sahil & Precup, "Principled Weight Initialization
  for Hypernetworks" (ICLR 2020), for ReLU targets: a weight of fan-in ``f_in`` and fan-out
  ``f_out`` gets ``Var = 2 / (c_b f_in)`` (``c_b = 2`` when its layer also has a generated bias,
  which takes the other half of the output variance: ``Var = 1``), or ``Var = 2 / f_out`` and a bias
  ``Var = max(0, 2 (1 - f_in / f_out))``. Means are zero. Tensors that are neither a layer's weight
  matrix nor its bias (LayerNorm scales, ...) keep the target's statistics.
- ``"fan_out"``: HyperLight's rule used with MIP (Gonzalez Ortiz et al. 2024; JJGO/hyperlight
  ``HyperNet._init_output_split``): the rows of each tensor get ``kaiming_normal(mode="fan_out")``
  on that block (``std = sqrt(2 / numel_k)``, divided by ``feature_scale`` so the generated values
  do not depend on it), the rows that emit a ``.bias`` are zero, and the head bias is zero.

Heads whose rows are shared by several tensors (:class:`~hyperweights.ChunkedHead`,
:class:`~hyperweights.PerLayerHead`) cannot give each tensor its own spread: one row emits scalars
of several tensors. They use the statistics pooled over all generated scalars (the numel-weighted
mean and second moment of the per-tensor ones); under ``"fan_out"`` they apply the rule to their
own shared block. ``docs/hyperparams.md`` ("Initialisation") has the measured effect.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["INIT_MODES", "init_rows", "pooled_stats", "tensor_stats"]

INIT_MODES = ("target_stats", "hyperfan_in", "hyperfan_out", "fan_out")

#: Kaiming gain of ``kaiming_normal_(nonlinearity="leaky_relu")`` at its default slope ``a = 0``
#: (what HyperLight calls): sqrt(2)
_RELU_GAIN_SQ = 2.0


def check_mode(mode: str) -> str:
    """``mode`` if it is an initialisation mode, else a ValueError naming the choices."""
    if mode == "hyperfan":
        raise ValueError("init='hyperfan' was renamed init='target_stats' (it copies the target's own "
                         "statistics); Chang et al.'s hyperfan variances are 'hyperfan_in' and 'hyperfan_out'")
    if mode not in INIT_MODES:
        raise ValueError(f"init must be one of {INIT_MODES}, got {mode!r}")
    return mode


def is_bias(spec) -> bool:
    """True for a vector named ``bias`` (HyperLight's and hypnettorch's test)."""
    return len(spec.shape) == 1 and (spec.name == "bias" or spec.name.endswith(".bias"))


def _layer_weight(spec, specs):
    return next((s for s in specs if s.layer == spec.layer and s.is_matrix), None)


def tensor_stats(spec, specs, mode: str, in_dim: int) -> tuple[float, float]:
    """``(mean, std)`` one generated tensor should start with under ``mode``.

    Args:
        spec: the tensor's :class:`~hyperweights.targets.spec.ParamSpec`.
        specs: the whole table (to find a bias's weight and a weight's bias).
        in_dim: ``d_h``, the width of the features the head reads (``"fan_out"`` needs it).

    Example:
        >>> from torch import nn
        >>> from hyperweights.targets.spec import SpecTable
        >>> specs = SpecTable.from_parameters(nn.Linear(50, 8).named_parameters())
        >>> round(tensor_stats(specs["weight"], specs, "hyperfan_in", 16)[1] ** 2, 4)  # 2 / (2 * 50)
        0.02
        >>> tensor_stats(specs["bias"], specs, "fan_out", 16)
        (0.0, 0.0)
    """
    if mode == "target_stats":
        return spec.init_mean, spec.init_std
    if mode == "fan_out":
        # HyperLight's row std sqrt(2 / numel) on unscaled features of norm sqrt(d_h)
        return 0.0, 0.0 if is_bias(spec) else math.sqrt(_RELU_GAIN_SQ * in_dim / spec.numel)
    weight = spec if spec.is_matrix else (_layer_weight(spec, specs) if is_bias(spec) else None)
    if weight is None:  # neither a weight matrix nor a layer's bias: Chang et al. do not cover it
        return spec.init_mean, spec.init_std
    if spec.is_matrix:
        has_bias = any(is_bias(s) and s.layer == spec.layer for s in specs)
        var = (_RELU_GAIN_SQ / ((2 if has_bias else 1) * spec.fan_in) if mode == "hyperfan_in"
               else _RELU_GAIN_SQ / spec.fan_out)
    else:
        var = (_RELU_GAIN_SQ / 2 if mode == "hyperfan_in"
               else max(0.0, _RELU_GAIN_SQ * (1 - weight.fan_in / weight.fan_out)))
    return 0.0, math.sqrt(var)


def pooled_stats(specs, mode: str, in_dim: int, rows: int) -> tuple[float, float]:
    """Mean and std for rows shared by every generated tensor (chunked and per-layer heads):
    the numel-weighted pool of :func:`tensor_stats`; under ``"fan_out"`` the rule on the ``rows``
    of the shared block itself."""
    if mode == "fan_out":
        return 0.0, math.sqrt(_RELU_GAIN_SQ * in_dim / rows)
    stats = [(tensor_stats(s, specs, mode, in_dim), s.numel) for s in specs]
    total = sum(n for _, n in stats)
    mean = sum(m * n for (m, _), n in stats) / total
    second = sum((sd ** 2 + m ** 2) * n for (m, sd), n in stats) / total
    return mean, math.sqrt(max(second - mean ** 2, 0.0))


@torch.no_grad()
def init_rows(weight: Tensor, bias: Tensor | None, rows: slice, mean: float, std: float,
              feature_norm: float = 1.0) -> None:
    """Draw ``weight[rows]`` so that, on features of norm ``feature_norm``, the emitted scalars
    have standard deviation ``std``; set ``bias[rows]`` to ``mean``."""
    block = weight[rows]
    # a row of std s applied to features of norm n gives outputs of std s * n
    block.normal_(0.0, std / feature_norm) if std > 0 else block.zero_()
    if bias is not None:
        bias[rows].fill_(mean)
