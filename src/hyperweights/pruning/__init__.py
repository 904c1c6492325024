"""Pruning with hypernetworks: MetaPruning's PruningNet and dynamic channel masks.

- :class:`PruningNet` (Liu et al., ICCV 2019): a hypernetwork from the network encoding (channels
  per layer) to the weights of that pruned :class:`MaskedCNN`, sliced to the requested widths;
  :func:`score_widths` scores candidates as MetaPruning does (generated weights, BatchNorm
  recalibrated by :func:`recalibrate`'s rule, validation accuracy); :func:`evolutionary_search`
  picks the best widths under a FLOPs budget (:func:`flops`).
- Baselines at equal FLOPs: :func:`uniform_widths` (uniform width scaling) and :func:`l1_prune`
  (L1-norm filter pruning, Li et al. 2017).
- :class:`DynamicCNN`: input-dependent channel masks from small per-layer predictors (Fire
  Together Wire Together, Elkerdawy et al. 2022), the second method.
- :class:`PruningConfig`, :func:`fit`, :func:`evaluate` (``hyperweights bench pruning``).

Example:
    >>> import torch
    >>> from hyperweights.pruning import PruningNet, flops, MAX_WIDTHS
    >>> net = PruningNet(hidden=(16,))
    >>> net(torch.rand(3, 784), torch.tensor([[8, 16, 16]])).shape
    torch.Size([1, 3, 10])
    >>> round(flops((8, 16, 16)) / flops(MAX_WIDTHS), 2)
    0.27
"""

from .cnn import MAX_WIDTHS as MAX_WIDTHS
from .cnn import recalibrate as recalibrate
from .cnn import MaskedCNN as MaskedCNN
from .cnn import channel_masks as channel_masks
from .cnn import flops as flops
from .cnn import slice_weights as slice_weights
from .dynamic import DynamicCNN as DynamicCNN
from .dynamic import dynamic_keep as dynamic_keep
from .dynamic import top_k_mask as top_k_mask
from .pruningnet import PruningNet as PruningNet
from .search import SearchResult as SearchResult
from .search import evolutionary_search as evolutionary_search
from .search import l1_prune as l1_prune
from .search import min_widths as min_widths
from .search import random_widths as random_widths
from .search import uniform_widths as uniform_widths
from .train import PruningConfig as PruningConfig
from .train import evaluate as evaluate
from .train import fit as fit
from .train import score_widths as score_widths

__all__ = ["MAX_WIDTHS", "DynamicCNN", "MaskedCNN", "PruningConfig", "PruningNet", "SearchResult",
           "channel_masks", "dynamic_keep", "evaluate", "evolutionary_search", "fit", "flops", "l1_prune",
           "min_widths", "random_widths", "recalibrate", "score_widths", "slice_weights", "top_k_mask",
           "uniform_widths"]
