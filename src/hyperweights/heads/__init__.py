"""Heads, the review's "outputs": how the generated weights are emitted."""

from .base import Head as Head
from .chunked import ChunkedHead as ChunkedHead
from .full import FullHead as FullHead
from .low_rank import LowRankHead as LowRankHead
from .per_layer import PerLayerHead as PerLayerHead
from .per_tensor import PerTensorHead as PerTensorHead

__all__ = ["ChunkedHead", "FullHead", "Head", "LowRankHead", "PerLayerHead", "PerTensorHead"]
