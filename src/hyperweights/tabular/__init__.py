"""HyperTab: hypernetworks over random feature subsets for small tabular data, as scikit-learn
estimators (``HyperTabClassifier``, ``HyperTabRegressor``; ``fit``/``predict`` as in scikit-learn,
``evaluate`` for the scores, ``hw.save``/``hw.load`` for fitted estimators).

Needs scikit-learn (``pip install hyperweights[bench]``); ``import hyperweights`` does not import
this package.
"""

from .classifier import HyperTabClassifier as HyperTabClassifier
from .ensemble import MaskEnsemble as MaskEnsemble
from .evaluate import evaluate as evaluate
from .masks import feature_masks as feature_masks
from .regressor import HyperTabRegressor as HyperTabRegressor

__all__ = ["HyperTabClassifier", "HyperTabRegressor", "MaskEnsemble", "evaluate", "feature_masks"]
