"""The target side: parameter tables, selection by name, and functional calls."""

from .build import mlp as mlp
from .functional import ensemble_forward as ensemble_forward
from .functional import functional_forward as functional_forward
from .select import inspect_targets as inspect_targets
from .select import select_parameters as select_parameters
from .spec import ParamSpec as ParamSpec
from .spec import SpecTable as SpecTable
from .spec import param_count as param_count

__all__ = ["ParamSpec", "SpecTable", "ensemble_forward", "functional_forward", "inspect_targets", "mlp",
           "param_count", "select_parameters"]
