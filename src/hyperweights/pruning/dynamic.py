"""Dynamic pruning: input-dependent channel masks from small per-layer predictors.

The second method of the recipe, after *Fire Together Wire Together* (Elkerdawy et al., 2022):
before convolution ``l`` (``l >= 1``) a small MLP ("mask decoder") reads the global-average-pooled
input of that layer and predicts which of its output channels will fire for this input; the
``k_l`` channels with the highest predicted logits are computed, the rest are masked to zero. The
decoders learn by binary cross-entropy towards the channels that actually fire most (the top
``k_l`` mean activations after BatchNorm and ReLU of the unmasked convolution, detached) while the network learns
with the predicted masks. The first convolution (input: the raw image) stays dense.

Masks are per sample, so the saved work is the FLOPs of ``k_l`` channels per layer,
:meth:`DynamicCNN.flops`, whichever channels an input gets. This implementation computes the
dense convolution and masks it (as training must, to form the decoders' targets); realising the
saving at inference needs a gathered/sparse convolution, which is not part of the recipe.

Example:
    >>> import torch
    >>> net = DynamicCNN(keep=(16, 16))
    >>> logits, gate_loss = net(torch.rand(4, 784), gate_loss=True)
    >>> logits.shape, net.flops() < flops(MAX_WIDTHS)
    (torch.Size([4, 10]), True)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..targets.build import mlp
from .cnn import MAX_WIDTHS, MaskedCNN, flops

__all__ = ["DynamicCNN", "top_k_mask", "dynamic_keep"]


def top_k_mask(scores: Tensor, k: int) -> Tensor:
    """``(B, C)`` 0/1 mask of each row's ``k`` largest scores."""
    return torch.zeros_like(scores).scatter_(-1, scores.topk(k, dim=-1).indices, 1.0)


def dynamic_keep(budget: int, widths: Sequence[int] = MAX_WIDTHS) -> tuple[int, ...]:
    """The largest equal share of channels ``k`` kept in every gated layer (first layer dense)
    whose FLOPs fit ``budget``: ``(k_1, k_2)``."""
    best = None
    for share in torch.linspace(0.01, 1, 100).tolist():
        keep = tuple(max(1, int(share * c)) for c in widths[1:])
        if flops((widths[0], *keep)) <= budget:
            best = keep
    if best is None:
        raise ValueError(f"even one channel per gated layer exceeds {budget} FLOPs")
    return best


class DynamicCNN(nn.Module):
    """A :class:`MaskedCNN` whose channel masks of layers 1 and 2 are predicted per input.

    Args:
        keep: channels computed per input in layers 1 and 2 (``k_1, k_2``).
        widths: the network's full widths; hidden: width of each mask decoder.

    Shapes: ``x: (B, 784) -> (B, classes)``; with ``gate_loss=True`` also the decoders' scalar BCE.
    """

    def __init__(self, keep: Sequence[int], widths: Sequence[int] = MAX_WIDTHS, num_classes: int = 10,
                 hidden: int = 32):
        super().__init__()
        keep = tuple(int(k) for k in keep)
        if len(keep) != len(widths) - 1 or any(not 1 <= k <= c for k, c in zip(keep, widths[1:])):
            raise ValueError(f"keep must give 1..C_l channels for each of the layers after the first "
                             f"({list(widths[1:])}), got {keep!r}")
        self.config = {"keep": list(keep), "widths": list(widths), "num_classes": num_classes, "hidden": hidden}
        self.net = MaskedCNN(widths, num_classes)
        self.decoders = nn.ModuleList(mlp((c_in, hidden, c_out)) for c_in, c_out in zip(widths[:-1], widths[1:]))

    @property
    def widths(self) -> tuple[int, ...]:
        return tuple(self.config["widths"])

    def flops(self) -> int:
        """Multiply–accumulates per image with ``k_l`` channels computed in each gated layer."""
        return flops((self.widths[0], *self.config["keep"]))

    def forward(self, x: Tensor, gate_loss: bool = False):
        h = F.max_pool2d(self.net.block(0, x.reshape(-1, 1, 28, 28)), 2)
        losses = []
        for l, (decoder, k) in enumerate(zip(self.decoders, self.config["keep"]), start=1):
            logits = decoder(h.mean((-2, -1)))                                       # (B, C_l)
            mask = top_k_mask(logits, k)
            z = getattr(self.net, f"bn{l}")(getattr(self.net, f"conv{l}")(h))
            if gate_loss:   # the channels that fire most for this input are the decoder's target
                fired = top_k_mask(F.relu(z.detach()).mean((-2, -1)), k)
                losses.append(F.binary_cross_entropy_with_logits(logits, fired))
            h = F.relu(z * mask[:, :, None, None])
            if l < 2:
                h = F.max_pool2d(h, 2)
        out = self.net.fc(h.mean((-2, -1)))
        return (out, torch.stack(losses).mean()) if gate_loss else out
