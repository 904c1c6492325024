"""Trunks, the review's "architecture": the body of the hypernetwork."""

from .attention import AttentionTrunk as AttentionTrunk
from .base import Trunk as Trunk
from .mlp import MLP as MLP
from .rnn import RNNTrunk as RNNTrunk

__all__ = ["MLP", "AttentionTrunk", "RNNTrunk", "Trunk"]
