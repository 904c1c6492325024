"""Magnitude-invariant parametrization (MIP), Gonzalez Ortiz, Guttag & Dalca, ICLR 2024
(arXiv 2304.07645).

Two parts, each switchable for ablations:

1. *Input encoding*: the condition reaching the trunk has a constant norm. Conditioners that
   produce values in [0, 1] encode them as ``[cos(pi z/2), sin(pi z/2)]`` themselves
   (:class:`~hyperweights.HyperparameterCondition`, ``magnitude_invariant=True``); for other
   conditions (learned embeddings, data codes, noise), whose range is unbounded, MIP here rescales
   the condition to norm ``sqrt(d)`` — our analogue of the paper's encoding for unbounded inputs
   (a documented deviation: the paper only defines inputs in [0, 1]).
2. *Residual output*: ``theta = theta0 + delta_theta(c)`` with ``theta0`` an independent learned
   parameter set, initialised from the target's own current values (its initialisation, or its
   pretrained weights), and heads initialised with HyperLight's per-tensor fan-out rule.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Parametrization

__all__ = ["MIP"]


class MIP(Parametrization):
    """Magnitude-invariant parametrization.

    Args:
        encoding: normalise conditions that are not magnitude-invariant already (True) or not.
        residual: add the independent ``theta0`` to the generated weights.
        freeze_theta0: keep ``theta0`` fixed (e.g. pretrained weights, learn only the deviation).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> import hyperweights as hw
        >>> target = nn.Linear(3, 2)
        >>> hnet = hw.HyperNetwork(target, condition=hw.TaskEmbedding(2, 4), parametrization=hw.MIP())
        >>> torch.equal(hnet.parametrization.theta0[:6].view(2, 3), target.weight.detach())
        True
    """

    #: head initialisation used under this parametrization
    head_init = "fan_out"

    def __init__(self, encoding: bool = True, residual: bool = True, freeze_theta0: bool = False):
        super().__init__()
        self._config = {"encoding": encoding, "residual": residual, "freeze_theta0": freeze_theta0}
        self.encoding, self.residual, self.freeze_theta0 = encoding, residual, freeze_theta0
        if not residual:
            self.head_init = "hyperfan"

    def bind(self, specs, target_params: dict[str, Tensor]) -> None:
        if self.residual:
            flat = torch.cat([target_params[s.name].detach().reshape(-1) for s in specs])
            self.theta0 = nn.Parameter(flat.clone(), requires_grad=not self.freeze_theta0)

    def encode(self, cond: Tensor, already_invariant: bool) -> Tensor:
        """``(W, d) -> (W, d)`` with every row of norm ``sqrt(d)``."""
        if not self.encoding or already_invariant:
            return cond
        return nn.functional.normalize(cond, dim=1) * cond.shape[1] ** 0.5

    def forward(self, flat: Tensor) -> Tensor:
        """``(W, P) -> (W, P)``: add ``theta0``."""
        return flat + self.theta0 if self.residual else flat

    @torch.no_grad()
    def load_theta0(self, specs, state: dict[str, Tensor]) -> None:
        """Set ``theta0`` from a (pretrained) ``state_dict`` of the target."""
        if not self.residual:
            raise ValueError("MIP(residual=False) has no theta0 to load; use MIP(residual=True)")
        missing = [s.name for s in specs if s.name not in state]
        if missing:
            raise KeyError(f"the state dict lacks generated parameter(s) {missing}")
        self.theta0.copy_(torch.cat([state[s.name].reshape(-1) for s in specs]))

    def describe(self) -> str:
        parts = [p for p, on in (("encoding", self.encoding), ("theta0 + delta", self.residual)) if on]
        return "MIP(" + ", ".join(parts or ["off"]) + ")"
