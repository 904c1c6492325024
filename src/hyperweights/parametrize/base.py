"""The parametrization protocol: ``theta = f(delta_theta)`` applied to the generated weights.

A hypernetwork's head emits a flat ``(W, P)`` tensor ``delta_theta``; a parametrization turns it
into the weights the target runs with (MIP: ``theta0 + delta_theta``). It may also transform the
encoded condition before the trunk (MIP's magnitude-invariant encoding) and choose the head's
initialisation. Subclass :class:`Parametrization` to plug in your own ``f``; it is registered by
class name, so :func:`hyperweights.create_parametrization` builds it and checkpoints rebuild it.
"""

from __future__ import annotations

from torch import Tensor

from .._parts import Part

__all__ = ["Parametrization"]


class Parametrization(Part):
    """Base of parametrizations: ``forward(flat: (W, P)) -> (W, P)``.

    Lifecycle: :class:`~hyperweights.HyperNetwork` calls :meth:`bind` once with the target's
    :class:`~hyperweights.SpecTable` and its selected parameters (to create e.g. a ``theta0`` laid
    out like the flat output), then :meth:`encode` on every condition batch and :meth:`forward` on
    every generated batch.

    Attributes:
        head_init: head initialisation used under this parametrization (see
            :mod:`hyperweights.parametrize.init`): ``"hyperfan"`` makes ``delta_theta`` start with
            the target's own statistics; ``"fan_out"`` makes it small, for residual forms.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> import hyperweights as hw
        >>> class _Doubled(hw.Parametrization):      # '_' keeps this doctest out of the registry
        ...     def forward(self, flat):
        ...         return 2 * flat
        >>> target = nn.Linear(3, 2)
        >>> hnet = hw.HyperNetwork(target, condition=hw.TaskEmbedding(2, 4), parametrization=_Doubled())
        >>> hnet(torch.tensor([0, 1]))["weight"].shape
        torch.Size([2, 2, 3])
    """

    head_init: str = "hyperfan"

    def bind(self, specs, target_params: dict[str, Tensor]) -> None:
        """Called once by the hypernetwork: ``specs`` lays out the flat ``(W, P)`` weights and
        ``target_params`` maps each generated name to the target's current value."""

    def encode(self, cond: Tensor, already_invariant: bool) -> Tensor:
        """``(W, d_c) -> (W, d_c)``: the condition the trunk sees (identity by default).
        ``already_invariant`` is the conditioner's ``magnitude_invariant``."""
        return cond

    def forward(self, flat: Tensor) -> Tensor:  # pragma: no cover - abstract
        """``(W, P) -> (W, P)``: the weights the target runs with."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward(flat) -> flat")
