"""Parametrizations and initialisation of generated weights."""

from .init import INIT_MODES as INIT_MODES
from .mip import MIP as MIP

__all__ = ["INIT_MODES", "MIP"]
