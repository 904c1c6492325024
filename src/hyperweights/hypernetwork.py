"""The hypernetwork: condition -> conditioner -> trunk -> head -> parametrization -> weights."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from torch.utils._pytree import tree_leaves

from ._checks import check_finite_tensor, check_real
from ._parts import fmt_count, is_traced
from .conditioning import Conditioner
from .heads import ChunkedHead, Head
from .parametrize.base import Parametrization
from .parametrize.init import INIT_MODES
from .targets.select import Selection, select_parameters
from .targets.spec import SpecTable, param_count
from .trunks import MLP, Trunk

__all__ = ["HyperNetwork", "default_head", "default_trunk"]


def default_trunk() -> Trunk:
    """The trunk used when none is given: ``MLP()`` (hidden widths
    :data:`hyperweights.trunks.mlp.DEFAULT_HIDDEN`, ``(100,)``)."""
    return MLP()


def default_head() -> Head:
    """The head used when none is given: ``ChunkedHead()`` (``chunk_size=4096, embedding_dim=16``)."""
    return ChunkedHead()


class HyperNetwork(nn.Module):
    """Generates (some of) the parameters of ``target`` from a condition.

    Args:
        target: any ``nn.Module``. Only its parameter names, shapes and initial statistics are
            read; it is not stored or modified.
        generate: which parameters to generate: None (all), a regex (full match), a list of names
            or dotted suffixes, or a predicate ``(name, param) -> bool``. The rest stay ordinary
            parameters of the target.
        exclude: names never generated (same forms), checked first.
        condition: the conditioner (the review's "input"), e.g. ``TaskEmbedding(5, 32)``.
        trunk: the body (``MLP``, ``RNNTrunk``, ``AttentionTrunk``); default :func:`default_trunk`.
        head: the output strategy (``FullHead``, ``PerTensorHead``, ``PerLayerHead``,
            ``ChunkedHead``, ``LowRankHead``); default :func:`default_head`.
        parametrization: ``None``, ``MIP()`` or any :class:`~hyperweights.Parametrization`.
        init: head initialisation, ``"hyperfan"`` (default; MIP uses ``"fan_out"``).
        feature_scale: factor on the trunk's features before the head; default ``1/sqrt(d_h)``,
            which keeps Adam's steps on the generated weights near a plain network's (see
            :mod:`hyperweights.parametrize.init`); ``1.0`` gives unscaled features.
        check_finite: check for NaN/inf: the condition (every floating tensor in it, and the code
            the conditioner makes of it) and the generated weights here, and
            :class:`~hyperweights.HyperModel` checks its data ``x`` too; each raises
            ``FloatingPointError`` naming what was not finite. Off by default, because each check
            reads the data back (a device sync per call); skipped under ``vmap``/``torch.compile``.

    A trunk, head or parametrization is built for one target: passing the same instance to a
    second hypernetwork is an error (a conditioner may be shared).

    ``hnet(c)`` returns ``{name: (W, *param.shape)}`` with ``W`` the condition batch;
    ``hnet.flat(c)`` returns the same weights as one ``(W, P)`` tensor.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> import hyperweights as hw
        >>> target = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> hnet = hw.HyperNetwork(target, condition=hw.TaskEmbedding(5, 32))
        >>> weights = hnet(torch.tensor([0, 4]))
        >>> weights["0.weight"].shape
        torch.Size([2, 8, 4])
    """

    def __init__(self, target: nn.Module, *, generate: Selection = None, exclude: Selection = (),
                 condition: Conditioner, trunk: Trunk | None = None, head: Head | None = None,
                 parametrization: Parametrization | None = None, init: str | None = None,
                 feature_scale: float | None = None, check_finite: bool = False):
        super().__init__()
        if not isinstance(target, nn.Module):
            raise TypeError(f"target must be an nn.Module, got {type(target).__name__}")
        if not isinstance(condition, Conditioner):
            raise TypeError(
                "condition must be a Conditioner such as TaskEmbedding(num_tasks, dim), "
                f"DataCondition(encoder), NoiseCondition(dim) or HyperparameterCondition(num); got "
                f"{type(condition).__name__}"
            )
        trunk = trunk if trunk is not None else default_trunk()
        head = head if head is not None else default_head()
        if not isinstance(trunk, Trunk) or not isinstance(head, Head):
            raise TypeError(f"trunk must be a Trunk and head a Head, got {type(trunk).__name__}, {type(head).__name__}")
        if parametrization is not None and not isinstance(parametrization, Parametrization):
            raise TypeError("parametrization must be None or a Parametrization such as MIP(), got "
                            f"{type(parametrization).__name__}")
        init = init or (parametrization.head_init if parametrization is not None else "hyperfan")
        if init not in INIT_MODES:
            raise ValueError(f"init must be one of {INIT_MODES}, got {init!r}")
        if feature_scale is not None:
            check_real(feature_scale, "feature_scale", "HyperNetwork", positive=True)
        if not isinstance(check_finite, bool):
            raise TypeError(f"check_finite must be True or False, got {check_finite!r}")

        selected = select_parameters(target, generate, exclude)
        self.specs = SpecTable.from_parameters(selected)
        self.generated_parameter_names: list[str] = self.specs.names
        self.target_class = type(target).__name__
        self.init = init
        self.check_finite = check_finite

        self.condition = condition
        owned = [(role, part) for role, part in (("trunk", trunk), ("head", head),
                                                 ("parametrization", parametrization)) if part is not None]
        for role, part in owned:
            part.ensure_unclaimed(role)
        head.prepare(self.specs)
        if trunk.needs_tokens and head.tokens is None:
            raise ValueError(
                f"{type(trunk).__name__} runs over the head's layer/chunk tokens, but "
                f"{type(head).__name__} emits everything from one feature vector. Use ChunkedHead "
                "or PerLayerHead with this trunk."
            )
        trunk.bind(condition.out_dim, head.token_dim, head.num_tokens)
        self.feature_scale = float(trunk.out_dim ** -0.5 if feature_scale is None else feature_scale)
        head.bind(trunk.out_dim, init, self.feature_scale * trunk.out_dim ** 0.5)
        self.trunk, self.head = trunk, head
        self.parametrization = parametrization
        if parametrization is not None:
            parametrization.bind(self.specs, dict(selected))
        for _, part in owned:
            part.claim()

    # ------------------------------------------------------------------ generation
    def encode(self, condition) -> Tensor:
        """The condition batch the trunk sees: ``(W, d_c)``."""
        if self.check_finite:
            for value in tree_leaves(condition):
                if isinstance(value, Tensor):
                    check_finite_tensor(value, "the condition")
        cond = self.condition(condition)
        if self.check_finite:
            check_finite_tensor(cond, f"the code {type(self.condition).__name__} made of the condition")
        if self.parametrization is not None:
            cond = self.parametrization.encode(cond, self.condition.magnitude_invariant)
        return cond

    def features(self, cond: Tensor) -> Tensor:
        """What the head sees: trunk features ``(W, N, d_h)`` of an encoded condition ``(W, d_c)``
        (``N`` = the head's tokens), already multiplied by :attr:`feature_scale`."""
        # see hyperweights.parametrize.init for why the features are scaled
        return self.trunk(cond, self.head.tokens) * self.feature_scale

    def flat_from_code(self, cond: Tensor) -> Tensor:
        """Generated weights ``(W, P)`` from an encoded condition ``(W, d_c)``."""
        flat = self.head(self.features(cond))
        if self.parametrization is not None:
            flat = self.parametrization(flat)
        if self.check_finite and not is_traced(flat) and not torch.isfinite(flat).all():
            bad = [n for n, w in self.specs.split(flat).items() if not torch.isfinite(w).all()]
            raise FloatingPointError(
                f"the hypernetwork generated non-finite values in {bad}. Lower the learning rate, "
                "clip gradients, or check the condition for NaN/inf."
            )
        return flat

    def flat(self, condition) -> Tensor:
        """Generated weights as one ``(W, P)`` tensor (``P = self.specs.total``)."""
        return self.flat_from_code(self.encode(condition))

    def forward(self, condition) -> dict[str, Tensor]:
        """``{name: (W, *param.shape)}`` for the condition batch."""
        return self.specs.split(self.flat(condition))

    def unflatten(self, flat: Tensor) -> dict[str, Tensor]:
        """``(W, P) -> {name: (W, *shape)}`` (views)."""
        return self.specs.split(flat)

    # ------------------------------------------------------------------ description
    def config(self) -> dict:
        """JSON-serialisable description of the design (used by :func:`hyperweights.save`)."""
        def part(p):
            return None if p is None else {"class": type(p).__name__, "config": p.get_config(),
                                           "serializable": p.serializable}
        return {
            "generate": self.specs.names,
            "condition": part(self.condition),
            "trunk": part(self.trunk),
            "head": part(self.head),
            "parametrization": part(self.parametrization),
            "init": self.init,
            "feature_scale": self.feature_scale,
            "check_finite": self.check_finite,
            "target_class": self.target_class,
            "fingerprint": self.specs.fingerprint(),
        }

    def __repr__(self) -> str:
        rows = [("condition", self.condition), ("trunk", self.trunk), ("head", self.head)]
        if self.parametrization is not None:
            rows.append(("parametrization", self.parametrization))
        lines = [f"  {label + ':':<17}{p.describe():<58}{fmt_count(param_count(p)):>8} params"
                 for label, p in rows]
        lines.append(f"  generates {len(self.specs)} tensors of {self.target_class} "
                     f"({fmt_count(self.specs.total)} scalars) from {fmt_count(param_count(self))} "
                     "hypernetwork params")
        return "HyperNetwork(\n" + "\n".join(lines) + "\n)"
