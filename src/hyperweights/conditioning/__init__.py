"""Conditioners, the review's "inputs": what the hypernetwork is conditioned on."""

from .base import Conditioner as Conditioner
from .compose import Concat as Concat
from .data import DataCondition as DataCondition
from .hyperparams import HyperparameterCondition as HyperparameterCondition
from .noise import NoiseCondition as NoiseCondition
from .task import TaskEmbedding as TaskEmbedding

__all__ = ["Concat", "Conditioner", "DataCondition", "HyperparameterCondition", "NoiseCondition", "TaskEmbedding"]
