"""Declared hyperparameters: names, ranges and the transforms that map them onto [0, 1].

A hyperparameter-conditioned hypernetwork sees every hyperparameter as a coordinate in [0, 1]
(MIP's cos|sin encoding needs that range). :class:`Hyperparameter` declares one value's range and
how it is spread over [0, 1] (``linear``, ``log`` for scales such as weight decay, ``logit`` for
rates in (0, 1) such as dropout); :class:`HyperparameterSpace` bundles several, converts between
real values and unit coordinates, samples, builds sweep grids and round-trips through JSON (so a
saved conditioned model reloads with its declarations).

Values outside a declared range are an error by default (``out_of_range="error"``); with
``out_of_range="clamp"`` they are clamped to the range with a :class:`UserWarning`. Either way the
hypernetwork is never asked to extrapolate silently. The check is data-dependent, so it runs only
outside ``torch.func`` transforms and ``torch.compile`` (the range is then the caller's contract).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from .._parts import is_traced

__all__ = ["Hyperparameter", "HyperparameterSpace", "SCALES"]

#: how a range is spread over [0, 1]
SCALES = ("linear", "log", "logit")


def _forward(v: Tensor, scale: str) -> Tensor:
    if scale == "log":
        return torch.log(v)
    if scale == "logit":
        return torch.log(v) - torch.log1p(-v)
    return v


def _inverse(t: Tensor, scale: str) -> Tensor:
    if scale == "log":
        return torch.exp(t)
    if scale == "logit":
        return torch.sigmoid(t)
    return t


@dataclass(frozen=True)
class Hyperparameter:
    """One declared hyperparameter.

    Args:
        name: identifier, e.g. ``"weight_decay"``.
        low, high: the range (inclusive); ``low < high``.
        scale: ``"linear"``, ``"log"`` (needs ``low > 0``) or ``"logit"`` (needs
            ``0 < low < high < 1``): the unit coordinate is linear in ``scale(value)``.
        per_example: whether each example of a batch may use its own value (the loss term is
            per example, like label smoothing or a per-example dropout rate); a hint for trainers.
        out_of_range: ``"error"`` (default) or ``"clamp"`` (clamp to the range and warn).

    Example:
        >>> wd = Hyperparameter("weight_decay", 1e-5, 1e-1, scale="log")
        >>> wd.to_unit(torch.tensor([1e-5, 1e-3, 1e-1]))
        tensor([0.0000, 0.5000, 1.0000])
    """

    name: str
    low: float
    high: float
    scale: str = "linear"
    per_example: bool = True
    out_of_range: str = "error"

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a hyperparameter needs a non-empty name, got {self.name!r}")
        if self.scale not in SCALES:
            raise ValueError(f"{self.name}: scale must be one of {SCALES}, got {self.scale!r}")
        if self.out_of_range not in ("error", "clamp"):
            raise ValueError(f"{self.name}: out_of_range must be 'error' or 'clamp', got {self.out_of_range!r}")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (self.low, self.high)):
            raise TypeError(f"{self.name}: low and high must be real numbers, got low={self.low!r}, "
                            f"high={self.high!r}")
        low, high = float(self.low), float(self.high)
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"{self.name}: need finite low < high, got low={self.low}, high={self.high}")
        if self.scale == "log" and low <= 0:
            raise ValueError(f"{self.name}: a log scale needs low > 0, got low={low}; use scale='linear' "
                             "or a positive lower bound such as 1e-6")
        if self.scale == "logit" and not (0 < low and high < 1):
            raise ValueError(f"{self.name}: a logit scale needs 0 < low < high < 1, got [{low}, {high}]")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def _bounds(self) -> tuple[float, float]:
        lo, hi = _forward(torch.tensor([self.low, self.high], dtype=torch.float64), self.scale).tolist()
        return lo, hi

    def check(self, values: Tensor) -> Tensor:
        """Return ``values`` (clamped if so declared), raising on values outside the range."""
        if is_traced(values):
            return values
        if not torch.isfinite(values).all():
            raise ValueError(f"{self.name}: got non-finite values {values[~torch.isfinite(values)][:5].tolist()}")
        # a relative tolerance so that values written back from to_unit/from_unit pass
        tol = 1e-6 * (self.high - self.low)
        bad = (values < self.low - tol) | (values > self.high + tol)
        if bad.any():
            msg = (f"{self.name} must lie in the declared range [{self.low:g}, {self.high:g}]; got "
                   f"values in [{values.min().item():.4g}, {values.max().item():.4g}]. The hypernetwork "
                   "was trained only inside the range, so it would extrapolate. Declare a wider range "
                   "(and retrain) or pass out_of_range='clamp' to clamp with a warning.")
            if self.out_of_range == "error":
                raise ValueError(msg)
            warnings.warn(msg.replace("The hypernetwork", "Clamping; the hypernetwork"), stacklevel=3)
        return values.clamp(self.low, self.high)

    def to_unit(self, values: Tensor) -> Tensor:
        """Real values -> unit coordinates in [0, 1] (same shape)."""
        values = self.check(torch.as_tensor(values, dtype=torch.float64))
        lo, hi = self._bounds()
        return ((_forward(values, self.scale) - lo) / (hi - lo)).clamp(0, 1).to(torch.get_default_dtype())

    def from_unit(self, unit: Tensor) -> Tensor:
        """Unit coordinates in [0, 1] -> real values (same shape)."""
        unit = torch.as_tensor(unit, dtype=torch.float64)
        lo, hi = self._bounds()
        out = _inverse(lo + unit * (hi - lo), self.scale).clamp(self.low, self.high)
        return out.to(torch.get_default_dtype())


class HyperparameterSpace:
    """An ordered set of declared hyperparameters; values are ``(W, k)`` tensors (column ``j`` is
    hyperparameter ``j``) or ``{name: (W,) or scalar}`` dicts.

    Example:
        >>> space = HyperparameterSpace([Hyperparameter("weight_decay", 1e-5, 1e-1, scale="log"),
        ...                              Hyperparameter("smoothing", 0.0, 0.3)])
        >>> space.to_unit({"weight_decay": 1e-3, "smoothing": 0.15})
        tensor([[0.5000, 0.5000]])
        >>> space.grid(3).shape
        torch.Size([9, 2])
        >>> HyperparameterSpace.from_dict(space.to_dict()) == space
        True
    """

    def __init__(self, hyperparameters: list[Hyperparameter]):
        hyperparameters = list(hyperparameters)
        if not hyperparameters:
            raise ValueError("a HyperparameterSpace needs at least one Hyperparameter")
        if not all(isinstance(h, Hyperparameter) for h in hyperparameters):
            raise TypeError("HyperparameterSpace takes a list of Hyperparameter(name, low, high, ...)")
        names = [h.name for h in hyperparameters]
        if len(set(names)) != len(names):
            raise ValueError(f"hyperparameter names must be unique, got {names}")
        self.hyperparameters = hyperparameters
        self.names = names

    def __len__(self) -> int:
        return len(self.hyperparameters)

    def __getitem__(self, name: str) -> Hyperparameter:
        for h in self.hyperparameters:
            if h.name == name:
                return h
        raise KeyError(f"no hyperparameter {name!r}; declared: {self.names}")

    def __eq__(self, other) -> bool:
        return isinstance(other, HyperparameterSpace) and self.hyperparameters == other.hyperparameters

    def __repr__(self) -> str:
        return "HyperparameterSpace(" + ", ".join(
            f"{h.name} in [{h.low:g}, {h.high:g}] ({h.scale})" for h in self.hyperparameters) + ")"

    @property
    def per_example(self) -> bool:
        """True when every hyperparameter allows one value per example."""
        return all(h.per_example for h in self.hyperparameters)

    # ------------------------------------------------------------------ conversion
    def as_matrix(self, values) -> Tensor:
        """``dict`` or tensor -> ``(W, k)`` real values (scalars broadcast against each other)."""
        if isinstance(values, dict):
            unknown = set(values) - set(self.names)
            missing = [n for n in self.names if n not in values]
            if unknown or missing:
                raise KeyError(f"hyperparameter values must name exactly {self.names}; missing "
                               f"{missing}, unknown {sorted(unknown)}")
            cols = [torch.as_tensor(values[n], dtype=torch.float64).reshape(-1) for n in self.names]
            width = max(c.numel() for c in cols)
            if any(c.numel() not in (1, width) for c in cols):
                raise ValueError(f"hyperparameter value lengths must agree (or be 1), got "
                                 f"{ {n: c.numel() for n, c in zip(self.names, cols)} }")
            return torch.stack([c.expand(width) for c in cols], dim=1)
        if not isinstance(values, (Tensor, list, tuple, int, float)) or isinstance(values, bool):
            raise TypeError(f"hyperparameter values must be a dict {{name: value}} for {self.names} or a "
                            f"(W, {len(self)}) tensor, got {type(values).__name__} {values!r}")
        values = torch.as_tensor(values, dtype=torch.float64)
        if values.ndim == 0 and len(self) == 1:
            values = values.reshape(1, 1)
        elif values.ndim == 1 and len(self) == 1:
            values = values.unsqueeze(1)
        elif values.ndim == 1 and values.shape[0] == len(self):
            values = values.unsqueeze(0)
        if values.ndim != 2 or values.shape[1] != len(self):
            raise ValueError(f"expected hyperparameter values of shape (W, {len(self)}) for {self.names}, "
                             f"got {tuple(values.shape)}")
        return values

    def to_unit(self, values) -> Tensor:
        """Real values (``(W, k)`` tensor or dict) -> unit coordinates ``(W, k)`` in [0, 1]."""
        m = self.as_matrix(values)
        return torch.stack([h.to_unit(m[:, j]) for j, h in enumerate(self.hyperparameters)], dim=1)

    def from_unit(self, unit: Tensor) -> Tensor:
        """Unit coordinates ``(W, k)`` -> real values ``(W, k)``."""
        unit = torch.as_tensor(unit)
        if unit.ndim != 2 or unit.shape[1] != len(self):
            raise ValueError(f"expected unit coordinates of shape (W, {len(self)}), got {tuple(unit.shape)}")
        return torch.stack([h.from_unit(unit[:, j]) for j, h in enumerate(self.hyperparameters)], dim=1)

    def to_dict_of_values(self, values: Tensor) -> dict[str, Tensor]:
        """``(W, k)`` real values -> ``{name: (W,)}``."""
        return {n: values[:, j] for j, n in enumerate(self.names)}

    # ------------------------------------------------------------------ sampling
    def sample_unit(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` unit coordinates ``(n, k)``, uniform in [0, 1]^k (i.e. log-uniform on log scales)."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"the number of samples must be a positive integer, got {n!r}")
        return torch.rand(n, len(self), generator=generator)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` real values ``(n, k)`` drawn uniformly in unit coordinates."""
        return self.from_unit(self.sample_unit(n, generator))

    def grid(self, points: int) -> Tensor:
        """A full grid with ``points`` evenly spaced unit coordinates per hyperparameter, as real
        values ``(points ** k, k)``; on a log scale the points are geometric."""
        if points < 1:
            raise ValueError(f"a grid needs points >= 1, got {points}")
        axis = torch.linspace(0, 1, points) if points > 1 else torch.tensor([0.5])
        mesh = torch.cartesian_prod(*([axis] * len(self))).reshape(-1, len(self))
        return self.from_unit(mesh)

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        return {"hyperparameters": [asdict(h) for h in self.hyperparameters]}

    @classmethod
    def from_dict(cls, data: dict) -> HyperparameterSpace:
        try:
            return cls([Hyperparameter(**h) for h in data["hyperparameters"]])
        except (KeyError, TypeError) as err:
            raise ValueError(f"not a HyperparameterSpace description ({err}): {data!r}") from err
