"""Continual learning with hypernetworks: HNET (von Oswald et al. 2020), HyperInterval (Krukowski
et al. 2024), dependency-preserving RNN hypernetworks (Chandra et al. 2023), entropy task inference,
and the baselines they are compared with (fine-tuning, online EWC, separate networks, joint).

Train with :func:`fit` (``fit(learner, protocol, ContinualConfig(...)) -> FitResult``), evaluate
with :func:`evaluate`, store and rebuild any learner with ``hw.save`` / ``hw.load``.
"""

from .baselines import FineTune as FineTune
from .baselines import Joint as Joint
from .baselines import OnlineEWC as OnlineEWC
from .baselines import SeparateNetworks as SeparateNetworks
from .base import ContinualMethod as ContinualMethod
from .curriculum import ContinualConfig as ContinualConfig
from .curriculum import evaluate as evaluate
from .curriculum import evaluate_cl1 as evaluate_cl1
from .curriculum import evaluate_cl3 as evaluate_cl3
from .curriculum import fit as fit
from .fisher import fisher_diagonal as fisher_diagonal
from .factory import build_method as build_method
from .hnet import HNET as HNET
from .hyperinterval import HyperInterval as HyperInterval
from .inference import infer_task as infer_task
from .inference import predict_cl3 as predict_cl3
from .metrics import summarize as summarize
from .regularizer import OutputRegularizer as OutputRegularizer
from .rnn import RNNHNET as RNNHNET
from .regularizer import head_masks as head_masks
from .regularizer import output_penalty as output_penalty
from .validation import validation_protocol as validation_protocol

__all__ = [
    "HNET", "RNNHNET", "ContinualConfig", "ContinualMethod", "FineTune", "HyperInterval", "Joint",
    "OnlineEWC", "OutputRegularizer", "SeparateNetworks", "build_method", "evaluate", "evaluate_cl1",
    "evaluate_cl3", "fisher_diagonal", "fit", "head_masks", "infer_task", "output_penalty",
    "predict_cl3", "summarize", "validation_protocol",
]
