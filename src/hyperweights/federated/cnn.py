"""The HyperFL CNN target for 28x28 grey images, and its adapter variant for HyperFL-LPM.

:class:`HyperFLCNN` is the (F)MNIST CNN of HyperFL's code (taken from FedPAC): conv 5x5 (16) ->
pool -> conv 5x5 (32) -> pool -> fc 128 = the feature extractor, then ``fc2`` the classifier
head. :class:`AdaptedCNN` is the same network with a residual bottleneck adapter after each stage
(``h + up(relu(down(h)))``, up initialised at zero): HyperFL-LPM freezes the backbone and
generates only the adapters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["HyperFLCNN", "AdaptedCNN", "EXTRACTOR", "ADAPTERS", "HEAD"]

#: the generated part of :class:`HyperFLCNN` (HyperFL: conv1, conv2, fc1)
EXTRACTOR = r"(conv1|conv2|fc1)\..*"
#: the generated part of :class:`AdaptedCNN` (HyperFL-LPM)
ADAPTERS = r"adapt\d\..*"
#: the classifier head (private in HyperFL and pFedHN-PC)
HEAD = r"fc2\..*"


class HyperFLCNN(nn.Module):
    """``x: (B, 784)`` or ``(B, 1, 28, 28)`` -> logits ``(B, num_classes)``.

    Example:
        >>> HyperFLCNN()(torch.randn(3, 784)).shape
        torch.Size([3, 10])
    """

    def __init__(self, num_classes: int = 10, channels: tuple[int, int] = (16, 32), hidden: int = 128):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels[0], 5)
        self.conv2 = nn.Conv2d(channels[0], channels[1], 5)
        self.fc1 = nn.Linear(channels[1] * 16, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)

    def stage1(self, x: Tensor) -> Tensor:
        return F.max_pool2d(F.relu(self.conv1(x.reshape(-1, 1, 28, 28))), 2)

    def stage2(self, h: Tensor) -> Tensor:
        return F.max_pool2d(F.relu(self.conv2(h)), 2).flatten(1)

    def stage3(self, h: Tensor) -> Tensor:
        return F.relu(self.fc1(h))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.stage3(self.stage2(self.stage1(x))))


class _Adapter(nn.Module):
    """Residual bottleneck ``h + up(relu(down(h)))`` over the channel (or feature) dimension."""

    def __init__(self, width: int, bottleneck: int, conv: bool):
        super().__init__()
        layer = (lambda i, o: nn.Conv2d(i, o, 1)) if conv else nn.Linear
        self.down, self.up = layer(width, bottleneck), layer(bottleneck, width)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: Tensor) -> Tensor:
        return h + self.up(F.relu(self.down(h)))


class AdaptedCNN(HyperFLCNN):
    """:class:`HyperFLCNN` with an adapter after each extractor stage (``adapt1``..``adapt3``).

    Example:
        >>> AdaptedCNN()(torch.randn(2, 784)).shape
        torch.Size([2, 10])
    """

    def __init__(self, num_classes: int = 10, channels: tuple[int, int] = (16, 32), hidden: int = 128,
                 bottleneck: int = 8):
        super().__init__(num_classes, channels, hidden)
        self.adapt1 = _Adapter(channels[0], bottleneck, conv=True)
        self.adapt2 = _Adapter(channels[1] * 16, bottleneck, conv=False)
        self.adapt3 = _Adapter(hidden, bottleneck, conv=False)

    def forward(self, x: Tensor) -> Tensor:
        h = self.adapt2(self.stage2(self.adapt1(self.stage1(x))))
        return self.fc2(self.adapt3(self.stage3(h)))
