"""The small CNN of the pruning recipe, its FLOPs, and weights sliced to given widths.

:class:`MaskedCNN` is three 3x3 convolutions, each followed by batch normalisation (ReLU, 2x2
max-pool after the first two, global average pool after the last) and a linear classifier. Each
normalised output is multiplied by a channel mask, a buffer (ones by default): a network of the
*maximum* widths whose masks keep the first ``c_l`` channels computes exactly what the network of
widths ``c`` computes with the leading slices of its weights (:func:`slice_weights`; tested). That
equivalence is what lets :class:`~hyperweights.pruning.PruningNet` run many candidate widths in
one batched call.

**BN recalibration** (MetaPruning scores every candidate after recomputing its BatchNorm
statistics): ``net(x, calibration=n)`` normalises every layer with the mean and (biased)
variance of the first ``n`` rows of ``x``, i.e. exactly what :func:`recalibrate` on those rows
followed by an eval-mode forward gives, but as one pure call that batches over candidates.

Example:
    >>> import torch
    >>> net = MaskedCNN((8, 16, 16))
    >>> net(torch.rand(5, 784)).shape, flops((8, 16, 16))
    (torch.Size([5, 10]), 395296)
    >>> x_cal, x = torch.rand(32, 784), torch.rand(5, 784)
    >>> calibrated = net(torch.cat([x_cal, x]), calibration=32)[32:]
    >>> torch.allclose(calibrated, recalibrate(net, x_cal).eval()(x), atol=1e-5)
    True
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..io import ConfigCheckpoint, checkpointable

__all__ = ["MaskedCNN", "flops", "slice_weights", "channel_masks", "recalibrate", "MAX_WIDTHS", "check_widths"]

#: the full network's widths (the unpruned CNN)
MAX_WIDTHS = (16, 32, 32)
_SIDES = (28, 14, 7)          # spatial side at each convolution (28 x 28 inputs)


def check_widths(widths, max_widths: Sequence[int] = MAX_WIDTHS) -> Tensor:
    """``widths`` as a ``(K, L)`` long tensor, each ``1 <= c_l <= max_l``, else a clear error."""
    values = torch.as_tensor(widths)
    values = values[None] if values.ndim == 1 else values
    if values.is_floating_point() or values.ndim != 2 or values.shape[1] != len(max_widths):
        raise ValueError(f"widths must be integer channel counts of shape ({len(max_widths)},) or "
                         f"(K, {len(max_widths)}), got {widths!r}")
    limit = torch.tensor(max_widths)
    if bool(((values < 1) | (values > limit)).any()):
        raise ValueError(f"every width must be in 1..{list(max_widths)} (per layer), got {values.tolist()}")
    return values.long()


def flops(widths: Sequence[int] | Tensor, in_channels: int = 1, num_classes: int = 10) -> int | Tensor:
    """Multiply–accumulates of one 28x28 image through the CNN of these widths.

    ``widths`` ``(L,)`` gives an int; ``(K, L)`` a ``(K,)`` tensor (batched over candidates).
    """
    w = torch.as_tensor(widths, dtype=torch.float64)
    c_in = torch.cat([torch.full_like(w[..., :1], in_channels), w[..., :-1]], -1)
    sides = torch.tensor(_SIDES, dtype=torch.float64) ** 2
    total = (sides * 9 * c_in * w).sum(-1) + num_classes * w[..., -1]
    return int(total) if total.ndim == 0 else total.long()


def channel_masks(widths: Tensor, max_widths: Sequence[int] = MAX_WIDTHS) -> dict[str, Tensor]:
    """``{"mask{l}": (K, max_l)}``: 1 on the first ``c_l`` channels of each candidate, 0 after."""
    return {f"mask{l}": (torch.arange(m, device=widths.device) < widths[:, l:l + 1]).float()
            for l, m in enumerate(max_widths)}


def slice_weights(weights: dict[str, Tensor], widths: Sequence[int]) -> dict[str, Tensor]:
    """The leading block of max-width tensors ``{name: tensor}`` that a :class:`MaskedCNN` of
    ``widths`` takes: conv ``l`` keeps ``[:c_l, :c_{l-1}]``, its BatchNorm's weight, bias (and
    running statistics, if given) ``[:c_l]``, the classifier ``[:, :c_L]``; masks are dropped."""
    widths = [int(c) for c in widths]
    c_in = [None, *widths[:-1]]
    out = {}
    for l, c in enumerate(widths):
        out[f"conv{l}.weight"] = weights[f"conv{l}.weight"][:c, :c_in[l]]
        for stat in ("weight", "bias", "running_mean", "running_var"):
            if f"bn{l}.{stat}" in weights:
                out[f"bn{l}.{stat}"] = weights[f"bn{l}.{stat}"][:c]
    out["fc.weight"] = weights["fc.weight"][:, :widths[-1]]
    out["fc.bias"] = weights["fc.bias"]
    return out


@torch.no_grad()
def recalibrate(net: nn.Module, x: Tensor) -> nn.Module:
    """Set every BatchNorm's running statistics of ``net`` to the batch statistics (mean, biased
    variance) of its input when ``x: (N, 784)`` passes in training mode — MetaPruning's BN
    recalibration of a candidate. Returns ``net``, in its previous mode."""
    def keep_batch_statistics(bn, inputs, output):
        bn.running_mean.copy_(inputs[0].mean((0, 2, 3)))
        bn.running_var.copy_(inputs[0].var((0, 2, 3), unbiased=False))

    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    hooks, was_training = [m.register_forward_hook(keep_batch_statistics) for m in norms], net.training
    net.train()
    try:
        net(x)
    finally:
        for hook in hooks:
            hook.remove()
        net.train(was_training)
    return net


@checkpointable("pruning.MaskedCNN")
class MaskedCNN(ConfigCheckpoint, nn.Module):
    """Conv(3x3) -> BatchNorm -> x mask -> ReLU [-> max-pool] three times, global average pool, Linear.

    Args:
        widths: output channels of the three convolutions.
        num_classes: classifier outputs; in_channels: image channels; side: image side (28).
        track_running_stats: the BatchNorms keep running statistics (``False``: always batch
            statistics, what a PruningNet's batched target needs).

    Shapes: ``x: (B, in_channels * side²)`` or ``(B, in_channels, side, side)`` -> ``(B, classes)``;
    with ``calibration=n`` the BatchNorms use the statistics of the first ``n`` rows.
    """

    def __init__(self, widths: Sequence[int] = MAX_WIDTHS, num_classes: int = 10, in_channels: int = 1,
                 side: int = 28, track_running_stats: bool = True):
        super().__init__()
        widths = tuple(int(c) for c in widths)
        if len(widths) != 3 or min(widths) < 1:
            raise ValueError(f"MaskedCNN takes three positive widths, got {widths!r}")
        self.config = {"widths": list(widths), "num_classes": num_classes, "in_channels": in_channels,
                       "side": side, "track_running_stats": track_running_stats}
        c_in = (in_channels, *widths[:-1])
        for l, (a, b) in enumerate(zip(c_in, widths)):
            self.add_module(f"conv{l}", nn.Conv2d(a, b, 3, padding=1, bias=False))   # BN has the bias
            self.add_module(f"bn{l}", nn.BatchNorm2d(b, track_running_stats=track_running_stats))
            self.register_buffer(f"mask{l}", torch.ones(b))
        self.fc = nn.Linear(widths[-1], num_classes)

    @property
    def widths(self) -> tuple[int, ...]:
        return tuple(self.config["widths"])

    def block(self, l: int, h: Tensor, calibration: int | None = None) -> Tensor:
        """Convolution ``l``, its BatchNorm (statistics of ``h[:calibration]`` if given), mask, ReLU."""
        z, bn = getattr(self, f"conv{l}")(h), getattr(self, f"bn{l}")
        if calibration is None:
            z = bn(z)
        else:
            ref = z[:calibration]
            mean, var = ref.mean((0, 2, 3)), ref.var((0, 2, 3), unbiased=False)   # = recalibrate's
            z = (z - mean[:, None, None]) * (bn.weight / (var + bn.eps).sqrt())[:, None, None] + bn.bias[:, None, None]
        return F.relu(z * getattr(self, f"mask{l}")[:, None, None])

    def forward(self, x: Tensor, calibration: int | None = None) -> Tensor:
        c, side = self.config["in_channels"], self.config["side"]
        lead = x.shape[:-1] if x.shape[-1] == c * side * side else x.shape[:-3]
        h = x.reshape(-1, c, side, side)          # leading dims flattened (vmap keeps its own)
        for l in range(3):
            h = self.block(l, h, calibration)
            if l < 2:
                h = F.max_pool2d(h, 2)
        return self.fc(h.mean((-2, -1))).reshape(*lead, -1)
