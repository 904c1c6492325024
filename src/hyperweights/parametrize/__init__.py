"""Parametrizations and initialisation of generated weights."""

from .base import Parametrization as Parametrization
from .init import INIT_MODES as INIT_MODES
from .mip import MIP as MIP

__all__ = ["INIT_MODES", "MIP", "Parametrization"]
