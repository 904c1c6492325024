"""Dynamic hypernetworks for sequence models: the HyperLSTM (Ha, Dai & Le 2017) and its baselines.

- :class:`HyperLSTMCell`, :class:`HyperLSTM`: a main LSTM whose weights a small hyper LSTM rescales
  at every time step; :class:`LayerNormLSTMCell`, :class:`LayerNormLSTM`: the layer-norm baseline.
- :class:`CharLM`, :class:`SequenceConfig`, :func:`fit`, :func:`evaluate`: character-level language
  modelling, the paper's benchmark task (``hyperweights bench sequence``).
- :class:`SequenceCondition`, :class:`StepwiseModel`: weights generated per time step, from the
  sequence itself, for PyTorch's own recurrent layers (:mod:`hyperweights.sequence.stepwise`).
- Per-sample and ensemble weights for PyTorch's own ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` are part of
  the core batch rule (:mod:`hyperweights.targets.recurrent`).

Example:
    >>> import torch
    >>> from hyperweights.sequence import HyperLSTM
    >>> out, state = HyperLSTM(3, 8, hyper_size=4, embedding_size=2)(torch.randn(2, 5, 3))
    >>> out.shape
    torch.Size([2, 5, 8])
"""

from .cells import HyperLSTMCell as HyperLSTMCell
from .cells import LayerNormLSTMCell as LayerNormLSTMCell
from .layers import HyperLSTM as HyperLSTM
from .layers import LayerNormLSTM as LayerNormLSTM
from .lm import CELLS as CELLS
from .lm import CharLM as CharLM
from .lm import SequenceConfig as SequenceConfig
from .lm import evaluate as evaluate
from .lm import fit as fit
from .stepwise import SequenceCondition as SequenceCondition
from .stepwise import StepwiseModel as StepwiseModel

__all__ = ["CELLS", "CharLM", "HyperLSTM", "HyperLSTMCell", "LayerNormLSTM", "LayerNormLSTMCell",
           "SequenceCondition", "SequenceConfig", "StepwiseModel", "evaluate", "fit"]
