"""The parameter table every part of a hypernetwork is driven by.

A :class:`ParamSpec` describes one generated tensor of the target (its name in
``named_parameters()``, shape, place in the flat output vector, fan-in/out and layer) and
:class:`SpecTable` is the ordered collection of them. Heads size their outputs from it,
initialisation reads the target's own statistics from it, MIP's ``theta0`` is laid out by it, and
continual-learning regularizers mask output heads with it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

__all__ = ["ParamSpec", "SpecTable"]


@dataclass(frozen=True)
class ParamSpec:
    """One generated tensor.

    Attributes:
        name: the parameter's name in ``target.named_parameters()``.
        shape: its shape (without the weight-set dimension ``W``).
        offset: where it starts in the flat ``(W, P)`` output of a head.
        fan_in: inputs per output unit for matrices and kernels; ``None`` for vectors.
        fan_out: outputs per input unit for matrices and kernels; ``None`` for vectors.
        layer: the owning module's path (``"fc1"`` for ``"fc1.weight"``; ``""`` at the root).
        layer_index: position of ``layer`` among the generated layers, in registration order.
        init_mean: mean of the target's own values when the table was built.
        init_std: standard deviation of the target's own values when the table was built.
    """

    name: str
    shape: tuple[int, ...]
    offset: int
    fan_in: int | None
    fan_out: int | None
    layer: str
    layer_index: int
    init_mean: float
    init_std: float

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def is_matrix(self) -> bool:
        """True for tensors with ``ndim >= 2`` (linear weights, conv kernels, embeddings)."""
        return len(self.shape) >= 2

    @property
    def matrix_shape(self) -> tuple[int, int]:
        """``(rows, cols)`` view used by low-rank heads: ``(shape[0], prod(shape[1:]))``."""
        return self.shape[0], math.prod(self.shape[1:])


def _fans(shape: tuple[int, ...]) -> tuple[int | None, int | None]:
    if len(shape) < 2:
        return None, None
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


class SpecTable:
    """Ordered table of the generated tensors of a target.

    Args:
        named: ``(name, parameter)`` pairs in the order they are generated.

    Example:
        >>> from torch import nn
        >>> table = SpecTable.from_parameters(nn.Linear(3, 2).named_parameters())
        >>> [(s.name, s.shape, s.offset) for s in table]
        [('weight', (2, 3), 0), ('bias', (2,), 6)]
        >>> table.total
        8
    """

    def __init__(self, specs: list[ParamSpec]):
        self.specs: tuple[ParamSpec, ...] = tuple(specs)
        self._by_name = {s.name: s for s in self.specs}

    @classmethod
    def from_parameters(cls, named) -> SpecTable:
        specs, offset, layers = [], 0, {}
        for name, param in named:
            layer = name.rpartition(".")[0]
            layers.setdefault(layer, len(layers))
            shape = tuple(param.shape)
            fan_in, fan_out = _fans(shape)
            with torch.no_grad():
                values = param.detach().float()
                mean = values.mean().item() if values.numel() else 0.0
                std = values.std().item() if values.numel() > 1 else 0.0
            specs.append(ParamSpec(name, shape, offset, fan_in, fan_out, layer, layers[layer],
                                   float(mean), float(std)))
            offset += math.prod(shape)
        return cls(specs)

    def __iter__(self):
        return iter(self.specs)

    def __len__(self) -> int:
        return len(self.specs)

    def __getitem__(self, name: str) -> ParamSpec:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specs]

    @property
    def sizes(self) -> list[int]:
        return [s.numel for s in self.specs]

    @property
    def total(self) -> int:
        """``P``: the number of generated scalars."""
        return sum(self.sizes)

    @property
    def layers(self) -> list[str]:
        """Generated layers (module paths) in order."""
        return list(dict.fromkeys(s.layer for s in self.specs))

    def layer_sizes(self) -> list[int]:
        """Scalars generated per layer, in :attr:`layers` order."""
        sizes = dict.fromkeys(self.layers, 0)
        for s in self.specs:
            sizes[s.layer] += s.numel
        return list(sizes.values())

    def split(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Cut a flat ``(W, P)`` tensor into ``{name: (W, *shape)}`` views (no copy)."""
        if flat.ndim != 2 or flat.shape[1] != self.total:
            raise ValueError(
                f"expected a flat weight tensor of shape (W, {self.total}), got {tuple(flat.shape)}"
            )
        parts = torch.split(flat, self.sizes, dim=1)
        return {s.name: p.view(flat.shape[0], *s.shape) for s, p in zip(self.specs, parts)}

    def flatten(self, weights: dict[str, torch.Tensor]) -> torch.Tensor:
        """Inverse of :meth:`split`: ``{name: (W, *shape)}`` -> ``(W, P)``."""
        missing = [n for n in self.names if n not in weights]
        if missing:
            raise KeyError(f"missing generated tensor(s): {missing}")
        first = weights[self.names[0]]
        return torch.cat([weights[n].reshape(first.shape[0], -1) for n in self.names], dim=1)

    def mask(self, names) -> torch.Tensor:
        """Boolean ``(P,)`` mask that is True on the scalars of the given parameter names."""
        mask = torch.zeros(self.total, dtype=torch.bool)
        for name in names:
            s = self[name]
            mask[s.offset:s.offset + s.numel] = True
        return mask

    def fingerprint(self) -> dict:
        """Names and shapes only: what a checkpoint records to recognise its target."""
        entries = [[s.name, list(s.shape)] for s in self.specs]
        digest = hashlib.sha256(json.dumps(entries).encode()).hexdigest()[:16]
        return {"params": entries, "sha256_16": digest}

    def to_dicts(self) -> list[dict]:
        return [asdict(s) for s in self.specs]

    def __repr__(self) -> str:
        return f"SpecTable({len(self)} tensors, {self.total} scalars, {len(self.layers)} layers)"


def param_count(module: nn.Module | Iterable[Tensor], trainable_only: bool = True) -> int:
    """Number of (trainable) scalars in ``module`` (or in an iterable of tensors); a tensor that
    several modules share counts once.

    Example:
        >>> param_count(nn.Linear(3, 2)), param_count([torch.zeros(4, requires_grad=True)])
        (8, 4)
    """
    tensors = module.parameters() if isinstance(module, nn.Module) else module
    unique = {id(p): p for p in tensors}.values()
    return sum(p.numel() for p in unique if p.requires_grad or not trainable_only)
