"""The small CNN of the pruning recipe, its FLOPs, and weights sliced to given widths.

:class:`MaskedCNN` is three 3x3 convolutions (ReLU, 2x2 max-pool after the first two, global
average pool after the last) and a linear classifier. Each convolution's output channels are
multiplied by a channel mask, a buffer (ones by default): a network of the *maximum* widths whose
masks keep the first ``c_l`` channels computes exactly what the network of widths ``c`` computes
with the leading slices of its weights (:func:`slice_weights`; tested). That equivalence is what
lets :class:`~hyperweights.pruning.PruningNet` score many candidate widths in one batched call.

Example:
    >>> import torch
    >>> net = MaskedCNN((8, 16, 16))
    >>> net(torch.rand(5, 784)).shape, flops((8, 16, 16))
    (torch.Size([5, 10]), 395296)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..io import ConfigCheckpoint, checkpointable

__all__ = ["MaskedCNN", "flops", "slice_weights", "channel_masks", "MAX_WIDTHS", "check_widths"]

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
    """The leading block of max-width weights ``{name: shape}`` that a :class:`MaskedCNN` of
    ``widths`` takes: conv ``l`` keeps ``[:c_l, :c_{l-1}]``, the classifier ``[:, :c_L]``."""
    widths = [int(c) for c in widths]
    c_in = [None, *widths[:-1]]
    out = {}
    for l, c in enumerate(widths):
        out[f"conv{l}.weight"] = weights[f"conv{l}.weight"][:c, :c_in[l]]
        out[f"conv{l}.bias"] = weights[f"conv{l}.bias"][:c]
    out["fc.weight"] = weights["fc.weight"][:, :widths[-1]]
    out["fc.bias"] = weights["fc.bias"]
    return out


@checkpointable("pruning.MaskedCNN")
class MaskedCNN(ConfigCheckpoint, nn.Module):
    """Conv(3x3) -> x mask -> ReLU [-> max-pool] three times, global average pool, Linear.

    Args:
        widths: output channels of the three convolutions.
        num_classes: classifier outputs; in_channels: image channels; side: image side (28).

    Shapes: ``x: (B, in_channels * side²)`` or ``(B, in_channels, side, side)`` -> ``(B, classes)``.
    """

    def __init__(self, widths: Sequence[int] = MAX_WIDTHS, num_classes: int = 10, in_channels: int = 1,
                 side: int = 28):
        super().__init__()
        widths = tuple(int(c) for c in widths)
        if len(widths) != 3 or min(widths) < 1:
            raise ValueError(f"MaskedCNN takes three positive widths, got {widths!r}")
        self.config = {"widths": list(widths), "num_classes": num_classes, "in_channels": in_channels,
                       "side": side}
        c_in = (in_channels, *widths[:-1])
        for l, (a, b) in enumerate(zip(c_in, widths)):
            self.add_module(f"conv{l}", nn.Conv2d(a, b, 3, padding=1))
            self.register_buffer(f"mask{l}", torch.ones(b))
        self.fc = nn.Linear(widths[-1], num_classes)

    @property
    def widths(self) -> tuple[int, ...]:
        return tuple(self.config["widths"])

    def forward(self, x: Tensor) -> Tensor:
        c, side = self.config["in_channels"], self.config["side"]
        lead = x.shape[:-1] if x.shape[-1] == c * side * side else x.shape[:-3]
        h = x.reshape(-1, c, side, side)          # leading dims flattened (vmap keeps its own)
        for l in range(3):
            h = F.relu(getattr(self, f"conv{l}")(h) * getattr(self, f"mask{l}")[:, None, None])
            if l < 2:
                h = F.max_pool2d(h, 2)
        return self.fc(h.mean((-2, -1))).reshape(*lead, -1)
