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
   parameter set.

Initialisation, as the paper's official code (JJGO/hyperlight ``HyperNet``) does it by default:

- ``theta0``: ``kaiming_normal_`` (fan-in, gain ``sqrt(2)``) for every weight matrix, zero for
  every ``.bias`` (``theta0="kaiming"``). Vectors that are not biases (LayerNorm scales), for which
  Kaiming is undefined (HyperLight raises), start at the target's own values. ``theta0="target"``
  copies the target's current values instead (its initialisation, or pretrained weights; HyperLight's
  ``HyperNet.from_existing``).
- head: per-tensor fan-out rows, zero rows for ``.bias`` tensors (``HyperNetwork(init="fan_out")``,
  the default under MIP, see :mod:`hyperweights.parametrize.init`), so generated biases start at 0
  with the per-tensor heads (``FullHead``, HyperLight's design, ``PerTensorHead``, ``LowRankHead``;
  chunked and per-layer heads share rows across tensors and cannot zero them).
- trunk: :meth:`MIP.default_trunk` is HyperLight's, ``MLP(..., activation="leaky_relu",
  init="fan_out")``; :class:`~hyperweights.HyperNetwork` uses it when no trunk is given.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..trunks import MLP
from .base import Parametrization
from .init import is_bias

__all__ = ["MIP"]


class MIP(Parametrization):
    """Magnitude-invariant parametrization.

    Args:
        encoding: normalise conditions that are not magnitude-invariant already (True) or not.
        residual: add the independent ``theta0`` to the generated weights.
        freeze_theta0: keep ``theta0`` fixed (e.g. pretrained weights, learn only the deviation).
        theta0: ``"kaiming"`` (HyperLight's default, see above) or ``"target"`` (the target's
            current values).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> import hyperweights as hw
        >>> target = nn.Linear(3, 2)
        >>> hnet = hw.HyperNetwork(target, condition=hw.TaskEmbedding(2, 4), head=hw.FullHead(),
        ...                        parametrization=hw.MIP())
        >>> hnet(torch.tensor([0]))["bias"].abs().max().item()   # generated biases start at zero
        0.0
        >>> copy = hw.HyperNetwork(target, condition=hw.TaskEmbedding(2, 4), parametrization=hw.MIP(theta0="target"))
        >>> torch.equal(copy.parametrization.theta0[:6].view(2, 3), target.weight.detach())
        True
    """

    #: head initialisation used under this parametrization
    head_init = "fan_out"

    def __init__(self, encoding: bool = True, residual: bool = True, freeze_theta0: bool = False,
                 theta0: str = "kaiming"):
        super().__init__()
        if theta0 not in ("kaiming", "target"):
            raise ValueError(f"MIP theta0 must be 'kaiming' (HyperLight's init) or 'target' (the "
                             f"target's current values), got {theta0!r}")
        self._config = {"encoding": encoding, "residual": residual, "freeze_theta0": freeze_theta0,
                        "theta0": theta0}
        self.encoding, self.residual, self.freeze_theta0 = encoding, residual, freeze_theta0
        self.theta0_init = theta0
        if not residual:
            self.head_init = "target_stats"

    @staticmethod
    def default_trunk(hidden: tuple[int, ...] = (100,)) -> MLP:
        """HyperLight's trunk: LeakyReLU MLP with fan-out Kaiming weights and zero biases."""
        return MLP(hidden, activation="leaky_relu", init="fan_out")

    def bind(self, specs, target_params: dict[str, Tensor]) -> None:
        if self.residual:
            parts = [self._theta0_part(s, target_params[s.name].detach()) for s in specs]
            self.theta0 = nn.Parameter(torch.cat(parts), requires_grad=not self.freeze_theta0)

    def _theta0_part(self, spec, value: Tensor) -> Tensor:
        if self.theta0_init == "target" or not (spec.is_matrix or is_bias(spec)):
            return value.reshape(-1).clone()
        if is_bias(spec):
            return torch.zeros(spec.numel, dtype=value.dtype, device=value.device)
        out = torch.empty_like(value)
        nn.init.kaiming_normal_(out, nonlinearity="leaky_relu")   # a = 0: std sqrt(2 / fan_in)
        return out.reshape(-1)

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
        if not isinstance(state, dict):
            raise TypeError(f"load_theta0 takes the target's state_dict (a dict of tensors), got "
                            f"{type(state).__name__}")
        missing = [s.name for s in specs if s.name not in state]
        if missing:
            raise KeyError(f"the state dict lacks generated parameter(s) {missing}")
        wrong = [f"{s.name}: expected {tuple(s.shape)}, got {tuple(state[s.name].shape)}"
                 for s in specs if tuple(state[s.name].shape) != tuple(s.shape)]
        if wrong:
            raise ValueError("the state dict's tensors do not have the generated parameters' shapes "
                             f"(a state_dict of another architecture?): {'; '.join(wrong)}")
        self.theta0.copy_(torch.cat([state[s.name].reshape(-1) for s in specs]))

    def describe(self) -> str:
        parts = [p for p, on in (("encoding", self.encoding), ("theta0 + delta", self.residual)) if on]
        return "MIP(" + ", ".join(parts or ["off"]) + ")"
