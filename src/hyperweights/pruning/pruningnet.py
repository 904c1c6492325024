"""MetaPruning's PruningNet: a hypernetwork from a network encoding to that pruned network's weights.

The *network encoding* is the channel count of every layer, normalised by the maximum widths
(``c_l / C_l`` in ``(0, 1]``) and given to the core's
:class:`~hyperweights.HyperparameterCondition`. A :class:`~hyperweights.HyperNetwork` with one
output layer per weight tensor (``PerTensorHead``, the paper's per-layer FC blocks) generates the
weights of the maximum-width :class:`~hyperweights.pruning.MaskedCNN` (convolutions, BatchNorm
scales and shifts, classifier); the pruned network takes their leading slices
(:meth:`PruningNet.pruned`), which the channel masks reproduce exactly, so ``K`` candidate widths
run in one ensemble call of the core (:meth:`PruningNet.forward`). The batched target's
BatchNorms use batch statistics (training), or with ``calibration=n`` the statistics of the first
``n`` images (each candidate's BN recalibration, as MetaPruning scores candidates).

Example:
    >>> import torch
    >>> net = PruningNet(hidden=(16,))
    >>> widths = torch.tensor([[8, 16, 16], [16, 32, 32]])
    >>> net(torch.rand(5, 784), widths).shape                    # K = 2 candidates, B = 5
    torch.Size([2, 5, 10])
    >>> net.pruned([8, 16, 16], calibrate=torch.rand(32, 784)).conv1.weight.shape
    torch.Size([16, 8, 3, 3])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..conditioning import HyperparameterCondition
from ..heads import PerTensorHead
from ..hypernetwork import HyperNetwork
from ..io import ConfigCheckpoint, checkpointable
from ..targets.functional import run_ensemble
from ..trunks import MLP
from .cnn import MAX_WIDTHS, MaskedCNN, channel_masks, check_widths, recalibrate, slice_weights

__all__ = ["PruningNet"]


@checkpointable("pruning.PruningNet")
class PruningNet(ConfigCheckpoint, nn.Module):
    """Network encoding (channels per layer) -> weights of the CNN of those widths.

    Args:
        max_widths: the unpruned network's widths.
        num_classes: classifier outputs.
        hidden: the hypernetwork trunk's hidden widths.
        seed: seeds the initialisation.
    """

    def __init__(self, max_widths: Sequence[int] = MAX_WIDTHS, num_classes: int = 10,
                 hidden: Sequence[int] = (64,), seed: int = 0):
        super().__init__()
        self.config = {"max_widths": list(max_widths), "num_classes": num_classes, "hidden": list(hidden),
                       "seed": seed}
        torch.manual_seed(seed)
        self.target = MaskedCNN(max_widths, num_classes, track_running_stats=False)  # batched: no running stats
        self.hypernetwork = HyperNetwork(self.target, condition=HyperparameterCondition(len(max_widths)),
                                         trunk=MLP(hidden=tuple(hidden)), head=PerTensorHead())
        self.register_buffer("max_widths", torch.tensor(list(max_widths)), persistent=False)

    def encoding(self, widths: Tensor) -> Tensor:
        """The normalised network encoding ``(K, L)``: ``c_l / C_l``."""
        return widths.to(self.max_widths.device).float() / self.max_widths

    def generate(self, widths) -> dict[str, Tensor]:
        """Max-width weights ``{name: (K, *shape)}`` plus channel masks ``{"mask{l}": (K, C_l)}``."""
        widths = check_widths(widths, self.config["max_widths"]).to(self.max_widths.device)
        return {**self.hypernetwork(self.encoding(widths)), **channel_masks(widths, self.config["max_widths"])}

    def forward(self, x: Tensor, widths, calibration: int | None = None) -> Tensor:
        """Logits of each of the ``K`` candidate networks on the same ``x: (B, 784)``: ``(K, B, classes)``;
        ``calibration=n``: every candidate's BatchNorms use the statistics of ``x[:n]``."""
        return run_ensemble(self.target, self.generate(widths), (x,), {"calibration": calibration})

    def generate_sliced(self, widths) -> list[dict[str, Tensor]]:
        """The weights of each of the ``K`` networks at its own widths (one hypernetwork call)."""
        widths = check_widths(widths, self.config["max_widths"]).to(self.max_widths.device)
        generated = self.hypernetwork(self.encoding(widths))
        return [slice_weights({k: v[i] for k, v in generated.items()}, row) for i, row in enumerate(widths.tolist())]

    @torch.no_grad()
    def pruned(self, widths: Sequence[int], calibrate: Tensor | None = None) -> MaskedCNN:
        """A standalone :class:`MaskedCNN` of ``widths`` holding the sliced generated weights, its
        BatchNorm statistics recalibrated on ``calibrate: (N, 784)`` (else left at 0 / 1)."""
        widths = [int(c) for c in check_widths(widths, self.config["max_widths"])[0]]
        net = MaskedCNN(widths, self.config["num_classes"]).to(self.max_widths.device)
        net.load_state_dict({**net.state_dict(), **self.generate_sliced([widths])[0]})
        return net if calibrate is None else recalibrate(net, calibrate.to(self.max_widths.device))
