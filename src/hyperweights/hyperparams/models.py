"""Small networks with tunable dropout for the STN benchmark: the STN versions (gated layers) and
the plain versions the grid and random searches train (same architecture, fixed rates)."""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from .regularizers import cutout, dropout
from .stn_layers import StnConv2d, StnLinear

__all__ = ["StnMLP", "DropoutMLP", "StnConvNet"]


def _rate(values: dict[str, Tensor], name: str | None):
    return None if name is None else values[name]


class StnMLP(nn.Module):
    """MLP of :class:`StnLinear` layers with per-example input and hidden dropout.

    Args:
        sizes: ``(in, hidden..., out)``.
        num_hparams: width of the hyperparameter vector the gates read.
        input_dropout: name of the input-dropout rate in ``values`` (or None).
        hidden_dropout: one name (or None) per hidden layer.

    ``forward(x (B, in), t (B, h), values {name: (B,)}) -> (B, out)``.

    Example:
        >>> import torch
        >>> net = StnMLP((6, 5, 3), num_hparams=2, input_dropout="a", hidden_dropout=("b",))
        >>> v = {"a": torch.full((4,), 0.1), "b": torch.full((4,), 0.2)}
        >>> net(torch.randn(4, 6), torch.randn(4, 2), v).shape
        torch.Size([4, 3])
    """

    def __init__(self, sizes: tuple[int, ...], num_hparams: int, input_dropout: str | None = None,
                 hidden_dropout: tuple[str | None, ...] = ()):
        super().__init__()
        if len(hidden_dropout) not in (0, len(sizes) - 2):
            raise ValueError(f"give one hidden_dropout name (or None) per hidden layer ({len(sizes) - 2}), "
                             f"got {hidden_dropout}")
        self.layers = nn.ModuleList(StnLinear(a, b, num_hparams) for a, b in zip(sizes, sizes[1:]))
        self.input_dropout = input_dropout
        self.hidden_dropout = tuple(hidden_dropout) or (None,) * (len(sizes) - 2)

    def forward(self, x: Tensor, t: Tensor, values: dict[str, Tensor]) -> Tensor:
        if self.input_dropout is not None:
            x = dropout(x, values[self.input_dropout], self.training)
        for i, layer in enumerate(self.layers):
            x = layer(x, t)
            if i < len(self.layers) - 1:
                x = F.relu(x)
                name = self.hidden_dropout[i]
                if name is not None:
                    x = dropout(x, values[name], self.training)
        return x


class DropoutMLP(nn.Module):
    """The plain counterpart of :class:`StnMLP`: ``forward(x (B, in), rates (B, 1 + hidden [+ 1]))``
    with column 0 the input-dropout rate, column ``1 + i`` hidden layer ``i``'s rate and, when
    ``cutout=True``, a last column with the cutout length (applied in training mode only).

    Example:
        >>> import torch
        >>> DropoutMLP((6, 5, 3))(torch.randn(4, 6), torch.zeros(4, 2)).shape
        torch.Size([4, 3])
    """

    def __init__(self, sizes: tuple[int, ...], cutout: bool = False):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.cutout = cutout

    def forward(self, x: Tensor, rates: Tensor) -> Tensor:
        if self.cutout and self.training:
            x = cutout(x, rates[:, -1])
        x = dropout(x, rates[:, 0], self.training)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = dropout(F.relu(x), rates[:, 1 + i], self.training)
        return x


class StnConvNet(nn.Module):
    """Small CNN of :class:`StnConv2d` / :class:`StnLinear` layers for 28x28 images, with
    per-example dropout after each convolution.

    ``forward(x (B, 784) or (B, 1, 28, 28), t (B, h), values) -> (B, classes)``; ``values`` holds
    the rates named by ``conv_dropout`` (two names or None).

    Example:
        >>> import torch
        >>> net = StnConvNet(num_hparams=1, conv_dropout=("d", "d"))
        >>> net(torch.randn(2, 784), torch.randn(2, 1), {"d": torch.full((2,), 0.1)}).shape
        torch.Size([2, 10])
    """

    def __init__(self, num_hparams: int, channels: tuple[int, int] = (8, 16), classes: int = 10,
                 conv_dropout: tuple[str | None, str | None] = (None, None)):
        super().__init__()
        self.conv1 = StnConv2d(1, channels[0], 5, num_hparams, stride=2, padding=2)       # 14x14
        self.conv2 = StnConv2d(channels[0], channels[1], 5, num_hparams, stride=2, padding=2)  # 7x7
        self.fc = StnLinear(channels[1] * 49, classes, num_hparams)
        self.conv_dropout = conv_dropout

    def forward(self, x: Tensor, t: Tensor, values: dict[str, Tensor]) -> Tensor:
        if x.ndim == 2:
            x = x.reshape(-1, 1, 28, 28)
        for conv, name in ((self.conv1, self.conv_dropout[0]), (self.conv2, self.conv_dropout[1])):
            x = F.relu(conv(x, t))
            if name is not None:
                x = dropout(x, values[name], self.training)
        return self.fc(x.flatten(1), t)
