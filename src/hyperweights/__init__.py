"""hyperweights: hypernetworks for any PyTorch model.

Example:
    >>> import torch
    >>> from torch import nn
    >>> import hyperweights as hw
    >>> target = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> hnet = hw.HyperNetwork(target, condition=hw.TaskEmbedding(5, 32))
    >>> model = hw.HyperModel(target, hnet)
    >>> model(torch.randn(10, 4), 3).shape
    torch.Size([10, 3])
"""

from importlib.metadata import PackageNotFoundError, version

from .conditioning import Concat as Concat
from .conditioning import Conditioner as Conditioner
from .conditioning import DataCondition as DataCondition
from .conditioning import HyperparameterCondition as HyperparameterCondition
from .conditioning import NoiseCondition as NoiseCondition
from .conditioning import TaskEmbedding as TaskEmbedding
from .heads import ChunkedHead as ChunkedHead
from .heads import FullHead as FullHead
from .heads import Head as Head
from .heads import LowRankHead as LowRankHead
from .heads import PerLayerHead as PerLayerHead
from .heads import PerTensorHead as PerTensorHead
from .hypernetwork import HyperNetwork as HyperNetwork
from .io import checkpointable as checkpointable
from .io import load as load
from .io import save as save
from .model import HyperModel as HyperModel
from .optim import make_optimizer as make_optimizer
from .parametrize import MIP as MIP
from .targets import ParamSpec as ParamSpec
from .targets import SpecTable as SpecTable
from .targets import ensemble_forward as ensemble_forward
from .targets import functional_forward as functional_forward
from .targets import inspect_targets as inspect_targets
from .targets import mlp as mlp
from .targets import param_count as param_count
from .targets import select_parameters as select_parameters
from .trunks import MLP as MLP
from .trunks import AttentionTrunk as AttentionTrunk
from .trunks import RNNTrunk as RNNTrunk
from .trunks import Trunk as Trunk

try:
    __version__ = version("hyperweights")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+src"

__all__ = [
    "MIP", "MLP", "AttentionTrunk", "ChunkedHead", "Concat", "Conditioner", "DataCondition",
    "FullHead", "Head", "HyperModel", "HyperNetwork", "HyperparameterCondition", "LowRankHead",
    "NoiseCondition", "ParamSpec", "PerLayerHead", "PerTensorHead", "RNNTrunk", "SpecTable",
    "TaskEmbedding", "Trunk", "checkpointable", "ensemble_forward", "functional_forward",
    "inspect_targets", "load", "make_optimizer", "mlp", "param_count", "save", "select_parameters",
]
