"""HyperTab: hypernetworks over random feature subsets for small tabular data, as scikit-learn
estimators (``HyperTabClassifier``, ``HyperTabRegressor``).

Needs scikit-learn (``pip install hyperweights[bench]``); ``import hyperweights`` does not import
this package.
"""

from .classifier import HyperTabClassifier as HyperTabClassifier
from .ensemble import MaskEnsemble as MaskEnsemble
from .masks import feature_masks as feature_masks
from .regressor import HyperTabRegressor as HyperTabRegressor

__all__ = ["HyperTabClassifier", "HyperTabRegressor", "MaskEnsemble", "feature_masks"]
