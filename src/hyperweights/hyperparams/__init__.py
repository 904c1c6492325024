"""Hyperparameters as conditions: train once and sweep later, Self-Tuning Networks, MIP study.

- :class:`Hyperparameter`, :class:`HyperparameterSpace`: declared ranges and transforms onto [0, 1].
- :class:`ConditionedModel`: a hypernetwork conditioned on the declared hyperparameters (MIP
  cos|sin encoding + residual form); :meth:`ConditionedModel.sweep` evaluates many values in one
  vmapped call; checkpoints keep the declarations.
- :class:`StnLinear`, :class:`StnConv2d`, :class:`StnHyperparameters`, :class:`StnModel`,
  :class:`StnTrainer`: Self-Tuning Networks (MacKay et al. 2019).
- :func:`fit`, :func:`evaluate`, :class:`HyperparamsConfig`: the application's training and
  evaluation verbs (the library-wide contract).
- :class:`ModelStack`: ``K`` separately trained networks as one vmapped batch (the baselines).

Example:
    >>> import torch
    >>> from torch import nn
    >>> from hyperweights.hyperparams import ConditionedModel, Hyperparameter, HyperparameterSpace
    >>> space = HyperparameterSpace([Hyperparameter("weight_decay", 1e-5, 1e-1, scale="log")])
    >>> model = ConditionedModel(nn.Linear(4, 3), space)
    >>> model.sweep(torch.randn(8, 4), {"weight_decay": [1e-4, 1e-3, 1e-2]}).shape
    torch.Size([3, 8, 3])
"""

from .conditioned import ConditionedModel as ConditionedModel
from .conditioned import expand_groups as expand_groups
from .conditioned import grouped_forward as grouped_forward
from .fit import HyperparamsConfig as HyperparamsConfig
from .fit import evaluate as evaluate
from .fit import fit as fit
from .fit import weight_decay_objective as weight_decay_objective
from .models import DropoutMLP as DropoutMLP
from .models import StnConvNet as StnConvNet
from .models import StnMLP as StnMLP
from .regularizers import cutout as cutout
from .regularizers import dropout as dropout
from .regularizers import l2_penalty as l2_penalty
from .regularizers import squared_norms as squared_norms
from .space import Hyperparameter as Hyperparameter
from .space import HyperparameterSpace as HyperparameterSpace
from .stack import ModelStack as ModelStack
from .stn import StnHyperparameters as StnHyperparameters
from .stn import StnModel as StnModel
from .stn import StnTrainer as StnTrainer
from .stn_layers import StnConv2d as StnConv2d
from .stn_layers import StnLinear as StnLinear

__all__ = [
    "ConditionedModel", "DropoutMLP", "Hyperparameter", "HyperparameterSpace", "HyperparamsConfig",
    "ModelStack", "StnConv2d", "StnConvNet", "StnHyperparameters", "StnLinear", "StnMLP", "StnModel",
    "StnTrainer", "cutout", "dropout", "evaluate", "expand_groups", "fit", "grouped_forward",
    "l2_penalty", "squared_norms", "weight_decay_objective",
]
