"""Zero-shot classification: a hypernetwork generates a class's classifier weights from its description.

- :class:`ZeroShotClassifier`: an image encoder and one of three scorers, ``"hypernetwork"`` (the
  last layer's row of each class generated from its description embedding, all classes in one
  batched call), and the baselines ``"devise"`` (linear compatibility) and ``"nearest_embedding"``.
- :data:`FASHION_MNIST`, :data:`DIGITS`, :func:`embed_classes`: class descriptions written for
  this library, embedded by the frozen all-MiniLM-L6-v2.
- :class:`ZeroShotData`, :class:`ZeroShotConfig`, :func:`fit`, :func:`evaluate`,
  :func:`select_calibration`, :func:`seen_rate_calibration`, :func:`oracle_harmonic` (a diagnostic
  bound): the generalised zero-shot protocol (``hyperweights bench zeroshot``).

Example:
    >>> import torch
    >>> from hyperweights.zeroshot import ZeroShotClassifier
    >>> model = ZeroShotClassifier(64, 384, hidden=(32,), feature_dim=16, hyper_hidden=(32,))
    >>> new_classes = torch.randn(12, 384)            # descriptions of classes never trained on
    >>> model(torch.rand(4, 64), new_classes).shape
    torch.Size([4, 12])
"""

from .descriptions import DIGITS as DIGITS
from .descriptions import FASHION_MNIST as FASHION_MNIST
from .descriptions import class_texts as class_texts
from .descriptions import embed_classes as embed_classes
from .models import METHODS as METHODS
from .models import ZeroShotClassifier as ZeroShotClassifier
from .train import ZeroShotConfig as ZeroShotConfig
from .train import ZeroShotData as ZeroShotData
from .train import evaluate as evaluate
from .train import fit as fit
from .train import gzsl_scores as gzsl_scores
from .train import oracle_harmonic as oracle_harmonic
from .train import seen_rate_calibration as seen_rate_calibration
from .train import select_calibration as select_calibration

__all__ = ["DIGITS", "FASHION_MNIST", "METHODS", "ZeroShotClassifier", "ZeroShotConfig", "ZeroShotData",
           "class_texts", "embed_classes", "evaluate", "fit", "gzsl_scores", "oracle_harmonic",
           "seen_rate_calibration", "select_calibration"]
