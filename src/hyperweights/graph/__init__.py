"""Graph hypernetworks: predict the parameters of unseen architectures (GHN-2, GHN-3, LoGAH).

- :func:`model_graph`: the computational graph of any ``nn.Module`` (torch.fx, or the autograd
  graph of one forward pass), with op-type and shape features and virtual edges.
- :class:`GatedGNN` (GHN-2), :class:`Graphormer` (GHN-3): graph networks over a padded meta-batch.
- :class:`TiledDecoder` (GHN-2/3), :class:`LowRankDecoder` (LoGAH), :func:`normalize`.
- :class:`GraphHyperNetwork`, :func:`predict_parameters`, :func:`diversify`.
- :mod:`~hyperweights.graph.family`: the training family of MLPs, CNNs and tiny ViTs with held-out
  splits; :class:`GraphConfig`, :func:`fit`, :func:`evaluate` (``hyperweights bench graph``).

Example:
    >>> import torch
    >>> from hyperweights.graph import GraphHyperNetwork, predict_parameters
    >>> ghn = GraphHyperNetwork(hidden=16, layers=1, heads=2, rank=4, max_ck=64)
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> predict_parameters(ghn, net)(torch.randn(3, 4)).shape
    torch.Size([3, 2])
"""

from .decoders import DECODERS as DECODERS
from .decoders import LowRankDecoder as LowRankDecoder
from .decoders import TiledDecoder as TiledDecoder
from .decoders import normalize as normalize
from .ghn import GraphHyperNetwork as GraphHyperNetwork
from .ghn import diversify as diversify
from .ghn import predict_parameters as predict_parameters
from .gnn import GNNS as GNNS
from .gnn import GatedGNN as GatedGNN
from .gnn import GraphBatch as GraphBatch
from .gnn import Graphormer as Graphormer
from .graph import OP_TYPES as OP_TYPES
from .graph import ModelGraph as ModelGraph
from .graph import matrix_shape as matrix_shape
from .graph import model_graph as model_graph

__all__ = ["DECODERS", "GNNS", "OP_TYPES", "GatedGNN", "GraphBatch", "GraphHyperNetwork", "Graphormer",
           "LowRankDecoder", "ModelGraph", "TiledDecoder", "diversify", "matrix_shape", "model_graph",
           "normalize", "predict_parameters"]
from . import family as family
from .train import GraphConfig as GraphConfig
from .train import accuracy as accuracy
from .train import calibrate_batchnorm as calibrate_batchnorm
from .train import evaluate as evaluate
from .train import finetune as finetune
from .train import fit as fit

__all__ += ["GraphConfig", "accuracy", "calibrate_batchnorm", "evaluate", "family", "finetune", "fit"]
