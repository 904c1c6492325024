"""A target and its hypernetwork as one module."""

from __future__ import annotations

from torch import Tensor, nn

from ._checks import check_finite_tensor, check_input
from .hypernetwork import HyperNetwork
from .heads.low_rank import LowRankHead
from .targets.factored import factored_linear_names
from .targets.functional import run_ensemble, run_shared

__all__ = ["HyperModel", "check_compatible", "generated_parameter_names", "IGNORED_BY_DDP"]


def check_compatible(target: nn.Module, specs) -> None:
    """Raise a ``ValueError`` naming every generated parameter that ``target`` lacks or whose
    shape differs."""
    if not isinstance(target, nn.Module):
        raise TypeError(f"target must be an nn.Module, got {type(target).__name__}")
    own = {n: tuple(p.shape) for n, p in target.named_parameters()}
    problems = []
    for s in specs:
        if s.name not in own:
            problems.append(f"{s.name}: missing in {type(target).__name__}")
        elif own[s.name] != s.shape:
            problems.append(f"{s.name}: expected shape {s.shape}, target has {own[s.name]}")
    if problems:
        raise ValueError(
            "the hypernetwork does not fit this target (a different architecture?): "
            + "; ".join(problems)
        )


def _factored_names(target: nn.Module, hypernetwork: HyperNetwork) -> frozenset[str]:
    """Generated ``nn.Linear`` weights a :class:`LowRankHead` emits as factors, when nothing
    post-processes the generated matrix (no parametrization, no finiteness check)."""
    head = hypernetwork.head
    if (not isinstance(head, LowRankHead) or hypernetwork.parametrization is not None
            or hypernetwork.check_finite):
        return frozenset()
    return factored_linear_names(target, head.factorable())


def generated_parameter_names(module: nn.Module) -> list[str]:
    """Names (as ``module.named_parameters()`` gives them) of the target parameters that the
    hypernetworks inside ``module`` generate: registered, but never used by a forward.

    Found on every submodule that holds a ``target`` module and a :class:`HyperNetwork` child
    (:class:`HyperModel`, the continual learners, the implicit ensembles), matched by identity, so
    a target registered under two names is reported under the name ``named_parameters`` uses.

    Example:
        >>> import hyperweights as hw
        >>> target = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> hnet = hw.HyperNetwork(target, generate=["0.weight", "0.bias"],
        ...                        condition=hw.TaskEmbedding(2, 8))
        >>> generated_parameter_names(hw.HyperModel(target, hnet))
        ['target.0.weight', 'target.0.bias']
    """
    generated: set[int] = set()
    for sub in module.modules():
        target = getattr(sub, "target", None)
        if not isinstance(target, nn.Module):
            continue
        own = dict(target.named_parameters())
        for child in sub.children():
            if isinstance(child, HyperNetwork):
                generated.update(id(own[n]) for n in child.generated_parameter_names if n in own)
    return [n for n, p in module.named_parameters() if id(p) in generated]


def _ddp_ignored(module: nn.Module) -> list[str]:
    return [*generated_parameter_names(module), *module.__dict__.get("_ddp_extra_ignored", ())]


def _set_ddp_ignored(module: nn.Module, names) -> None:
    # DistributedDataParallel._set_params_and_buffers_to_ignore_for_model assigns the attribute:
    # keep the caller's names beside the generated ones
    module.__dict__["_ddp_extra_ignored"] = list(names)


#: The attribute ``DistributedDataParallel`` reads from the module it wraps to leave parameters
#: out of its gradient reduction (``_ddp_params_and_buffers_to_ignore``). A module holding a
#: target and its hypernetwork sets it to this property: the target's generated parameters are
#: registered (the target is never mutated, invariant 3) but never used, so they never get a
#: gradient, and DDP, which waits for a gradient of every parameter it reduces, would fail at the
#: second step ("Expected to have finished reduction in the prior iteration"). Ignoring them is
#: exact (they have no gradient to average) and costs nothing per step, unlike
#: ``find_unused_parameters=True``, which searches the graph every step; turning their
#: ``requires_grad`` off instead would mutate the user's target.
IGNORED_BY_DDP = property(_ddp_ignored, _set_ddp_ignored)


class HyperModel(nn.Module):
    """``model(x, c)`` runs ``target`` with the weights ``hypernetwork(c)`` generates.

    Args:
        target: the module whose parameters are generated; non-generated parameters train as
            ordinary parameters, buffers stay in it. A call never changes its parameters or
            training flags; buffers update as its own ``forward`` updates them, and are restored
            if the call raises (see :mod:`hyperweights.targets.functional`).
        hypernetwork: a :class:`HyperNetwork` built for this target.

    Batch rule: the condition batch ``W`` must be 1 (shared weights) or the data batch ``B``
    (per-sample weights); :meth:`ensemble` applies ``K`` weight sets to the same inputs.

    Low-rank heads: a generated ``nn.Linear`` weight that a :class:`LowRankHead` emits as
    ``A @ B.T`` is applied as ``(x @ B) @ A.T`` without forming the matrix (see
    :mod:`hyperweights.targets.factored`; not under a parametrization or ``check_finite``).

    Input checks: ``x`` must be a tensor on the hypernetwork's device, of its floating dtype when
    ``x`` is floating, and, for a target that starts with an ``nn.Linear``, of that layer's
    ``in_features``; errors name what was expected. With ``check_finite=True`` on the
    hypernetwork, ``x`` holding NaN/inf raises ``FloatingPointError`` (as do the condition and
    the generated weights, see :class:`HyperNetwork`).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> import hyperweights as hw
        >>> target = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> model = hw.HyperModel(target, hw.HyperNetwork(target, condition=hw.TaskEmbedding(5, 16)))
        >>> model(torch.randn(10, 4), 2).shape                       # task 2 for the whole batch
        torch.Size([10, 3])
        >>> model.ensemble(torch.randn(10, 4), torch.arange(5)).shape   # all 5 tasks at once
        torch.Size([5, 10, 3])
    """

    # DistributedDataParallel(model) leaves the target's generated parameters out (see IGNORED_BY_DDP)
    _ddp_params_and_buffers_to_ignore = IGNORED_BY_DDP

    def __init__(self, target: nn.Module, hypernetwork: HyperNetwork):
        super().__init__()
        if not isinstance(hypernetwork, HyperNetwork):
            raise TypeError(f"hypernetwork must be a HyperNetwork, got {type(hypernetwork).__name__}")
        check_compatible(target, hypernetwork.specs)
        self.target = target
        self.hypernetwork = hypernetwork
        #: generated Linear weights applied as ``(x @ B) @ A.T`` from a LowRankHead's factors
        self.factored_names = _factored_names(target, hypernetwork)

    def _generate(self, condition):
        """``(weights, factors)``: factors only for :attr:`factored_names`."""
        if not self.factored_names:
            return self.hypernetwork(condition), None
        hnet = self.hypernetwork
        return hnet.head.factored(hnet.features(hnet.encode(condition)), self.factored_names)

    def _check_x(self, x) -> None:
        # dtype, device and width are checked against the generated weights by run_shared
        check_input(x, "x", like=None, nonempty=False)
        if self.hypernetwork.check_finite:
            check_finite_tensor(x, "x")

    def forward(self, x, condition, *args, **kwargs):
        """``x: (B, ...)``; condition batch ``W`` in {1, B}; returns the target's output."""
        self._check_x(x)
        weights, factors = self._generate(condition)
        return run_shared(self.target, weights, (x, *args), kwargs, factors)

    def ensemble(self, x, condition, *args, **kwargs):
        """``K`` weight sets from ``condition`` applied to the same ``x``: returns ``(K, B, ...)``."""
        self._check_x(x)
        weights, factors = self._generate(condition)
        return run_ensemble(self.target, weights, (x, *args), kwargs, factors)

    def generate(self, condition) -> dict[str, Tensor]:
        """The generated weights ``{name: (W, *shape)}``."""
        return self.hypernetwork(condition)

    def static_parameters(self) -> dict[str, nn.Parameter]:
        """The target's parameters that are *not* generated (trained as ordinary parameters)."""
        generated = set(self.hypernetwork.generated_parameter_names)
        return {n: p for n, p in self.target.named_parameters() if n not in generated}

    def trainable_parameters(self) -> list[nn.Parameter]:
        """What an optimizer should update: the hypernetwork and the static target parameters
        (the target's generated parameters are never used, so they are left out)."""
        return [*self.hypernetwork.parameters(),
                *(p for p in self.static_parameters().values() if p.requires_grad)]
