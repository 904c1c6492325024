"""Train once, sweep later: a hypernetwork conditioned on declared hyperparameters.

Every step samples hyperparameters ``lambda`` from the declared space, generates the target's
weights for them, and minimises a loss that depends on ``lambda`` (a weight-decay penalty, label
smoothing, a loss mixture, ...). After one training run any ``lambda`` in the range is evaluated
instantly, and a whole sweep of ``K`` values is one batched (vmapped) call.

References: Lorraine & Duvenaud, "Stochastic Hyperparameter Optimization through Hypernetworks"
(arXiv 1802.09419); the conditioning uses MIP's cos|sin encoding and residual form (Gonzalez
Ortiz et al., ICLR 2024, arXiv 2304.07645).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from ..conditioning import HyperparameterCondition
from ..heads import Head
from ..hypernetwork import HyperNetwork
from .. import io
from ..model import HyperModel
from ..parametrize import MIP
from ..targets.functional import functional_forward
from ..targets.select import Selection
from ..trunks import MLP, Trunk
from .space import HyperparameterSpace

__all__ = ["ConditionedModel", "grouped_forward", "expand_groups", "SWEEP_FEATURE_SCALE"]

#: ConditionedModel's feature scale: unscaled, measured better than the core default on the sweep
#: benchmark (results/hyperparams/hyperparams_sweep_feature_scale.json)
SWEEP_FEATURE_SCALE = 1.0

#: loss(output (B, ...), targets (B, ...), lam {name: (K,)}, weights {name: (K, *shape)}) -> scalar
LossFn = Callable[[Tensor, Tensor, dict, dict], Tensor]


def grouped_forward(target: nn.Module, weights: dict[str, Tensor], x: Tensor) -> Tensor:
    """Run ``K`` weight sets on ``K`` equal consecutive groups of the batch, in one vmapped call.

    Args:
        weights: ``{name: (K, *shape)}``; ``B`` must be divisible by ``K``.
        x: ``(B, ...)``; rows ``[i*B/K, (i+1)*B/K)`` use weight set ``i``.

    Returns:
        ``(B, ...)``. ``K == 1`` is a shared weight set and ``K == B`` is per-example weights.

    Example:
        >>> net = nn.Linear(3, 2)
        >>> w = {"weight": torch.randn(2, 2, 3), "bias": torch.zeros(2, 2)}
        >>> x = torch.randn(6, 3)
        >>> out = grouped_forward(net, w, x)
        >>> torch.allclose(out[3:], x[3:] @ w["weight"][1].T)
        True
    """
    k = next(iter(weights.values())).shape[0]
    b = x.shape[0]
    if k in (1, b):
        return functional_forward(target, weights, x)
    if b % k:
        raise ValueError(f"{k} hyperparameter groups do not divide the batch of {b}; use a batch "
                         f"size divisible by the number of groups (or groups=1 / groups='example')")
    xs = x.reshape(k, b // k, *x.shape[1:])
    out = vmap(lambda w, xi: functional_call(target, w, (xi,)))(weights, xs)
    return out.reshape(b, *out.shape[2:])


def expand_groups(t: Tensor, batch: int) -> Tensor:
    """``(K, ...)`` per-group values -> ``(B, ...)`` per-example values (group ``i`` covers rows
    ``[i*B/K, (i+1)*B/K)``).

    Example:
        >>> expand_groups(torch.tensor([0.1, 0.2]), 4)
        tensor([0.1000, 0.1000, 0.2000, 0.2000])
    """
    return t.repeat_interleave(batch // t.shape[0], dim=0)


@io.checkpointable("hyperparams.ConditionedModel")
class ConditionedModel(nn.Module):
    """A target whose weights are generated from declared hyperparameters.

    Args:
        target: any ``nn.Module`` (never mutated).
        space: the declared :class:`HyperparameterSpace`.
        generate, exclude: which target parameters are generated (see :class:`HyperNetwork`).
        trunk, head: hypernetwork parts (default: MIP's trunk, HyperLight's LeakyReLU fan-out
            ``MLP((64,))``, and the library's default head).
        encoding: the condition encoding, ``"cos|sin"`` (MIP, default), ``"z|1-z"`` or ``None``.
        parametrization: ``MIP()`` by default (``theta = theta0 + delta(lambda)``), or ``None``.
        feature_scale: the hypernetwork's feature scale. Default ``1.0`` (unscaled features, as
            HyperLight), an override of the core's ``1/sqrt(d_h)`` kept because it measured better
            on the sweep-fidelity benchmark (chosen ``lambda`` within one grid step of the grid's
            best at 2 of 2 seeds against 0 of 2, regret 0.0% / 0.8% against 4.7% / 1.4%;
            docs/hyperparams.md); ``None`` gives the core default.

    ``model(x, values)`` takes real hyperparameter values (``(W, k)``, ``(k,)`` or a dict) with
    ``W`` in {1, B} or dividing ``B`` (consecutive groups); :meth:`sweep` evaluates ``K`` values on
    the same inputs in one vmapped call, returning ``(K, B, ...)``.

    Example:
        >>> from hyperweights.hyperparams import Hyperparameter, HyperparameterSpace
        >>> space = HyperparameterSpace([Hyperparameter("weight_decay", 1e-5, 1e-1, scale="log")])
        >>> model = ConditionedModel(nn.Linear(4, 3), space)
        >>> model(torch.randn(8, 4), {"weight_decay": 1e-3}).shape
        torch.Size([8, 3])
        >>> model.sweep(torch.randn(8, 4), space.grid(5)).shape
        torch.Size([5, 8, 3])
    """

    def __init__(self, target: nn.Module, space: HyperparameterSpace, *, generate: Selection = None,
                 exclude: Selection = (), trunk: Trunk | None = None, head: Head | None = None,
                 encoding: str | None = "cos|sin", parametrization: MIP | None | str = "default",
                 feature_scale: float | None = SWEEP_FEATURE_SCALE, hypernetwork: HyperNetwork | None = None):
        super().__init__()
        if not isinstance(space, HyperparameterSpace):
            raise TypeError(f"space must be a HyperparameterSpace, got {type(space).__name__}")
        if hypernetwork is None:
            parametrization = MIP() if isinstance(parametrization, str) and parametrization == "default" else parametrization
            if trunk is None:
                trunk = MIP.default_trunk((64,)) if isinstance(parametrization, MIP) else MLP((64,))
            hypernetwork = HyperNetwork(
                target, generate=generate, exclude=exclude,
                condition=HyperparameterCondition(len(space), encoding=encoding), trunk=trunk,
                head=head, parametrization=parametrization, feature_scale=feature_scale)
        cond = hypernetwork.condition
        if not isinstance(cond, HyperparameterCondition) or cond.num != len(space):
            raise ValueError(f"the hypernetwork must be conditioned on HyperparameterCondition({len(space)}) "
                             f"for {space.names}; got {cond.describe()}")
        self.space = space
        self.model = HyperModel(target, hypernetwork)

    @property
    def target(self) -> nn.Module:
        return self.model.target

    @property
    def hypernetwork(self) -> HyperNetwork:
        return self.model.hypernetwork

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The hypernetwork and the target's non-generated parameters."""
        return self.model.trainable_parameters()

    # ------------------------------------------------------------------ calls
    def weights(self, values) -> dict[str, Tensor]:
        """Generated weights ``{name: (W, *shape)}`` for real hyperparameter values."""
        return self.model.generate(self.space.to_unit(values))

    def forward(self, x: Tensor, values) -> Tensor:
        """``x: (B, ...)``, ``values``: ``(W, k)`` real values (or a dict) -> target output."""
        weights = self.weights(values)
        return self._run(lambda: grouped_forward(self.target, weights, x), x)

    def _run(self, call, x):
        # the target's own error (e.g. a matmul shape) names no part; say which input failed
        try:
            return call()
        except RuntimeError as err:
            raise ValueError(f"the target {type(self.target).__name__} failed on x of shape "
                             f"{tuple(x.shape)} with the generated weights: {err}. Check that x has "
                             "the shape the target expects") from err

    def forward_unit(self, x: Tensor, unit: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Like :meth:`forward` but from unit coordinates ``(W, k)`` (no range check: safe under
        ``vmap``/``compile``); returns ``(output, weights)`` so losses can penalise the weights."""
        weights = self.model.generate(unit)
        return grouped_forward(self.target, weights, x), weights

    def sweep(self, x: Tensor, values) -> Tensor:
        """``K`` hyperparameter values on the same ``x`` in one vmapped call: ``(K, B, ...)``."""
        unit = self.space.to_unit(values)
        return self._run(lambda: self.model.ensemble(x, unit), x)

    def step_loss(self, x: Tensor, y: Tensor, loss_fn: LossFn, groups: int | str = 1,
                  generator: torch.Generator | None = None) -> Tensor:
        """One training objective: sample ``lambda``, generate, run, return ``loss_fn(...)``.

        Args:
            groups: how many ``lambda`` values per batch: ``1`` (one per batch), an integer
                dividing ``B`` (consecutive groups) or ``"example"`` (one per example; every
                hyperparameter must be declared ``per_example``).
            loss_fn: ``loss_fn(out (B, ...), y, lam {name: (K,)}, weights {name: (K, *shape)})``;
                :func:`expand_groups` maps per-group values to per-example ones.
        """
        if groups == "example":
            if not self.space.per_example:
                fixed = [h.name for h in self.space.hyperparameters if not h.per_example]
                raise ValueError(f"groups='example' needs per-example hyperparameters, but {fixed} "
                                 "were declared per_example=False; use groups=1 or an integer")
            groups = x.shape[0]
        if not isinstance(groups, int) or groups < 1:
            raise ValueError(f"groups must be a positive int or 'example', got {groups!r}")
        unit = self.space.sample_unit(groups, generator)
        out, weights = self.forward_unit(x, unit)
        lam = self.space.to_dict_of_values(self.space.from_unit(unit))
        return loss_fn(out, y, lam, weights)

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_state(self) -> tuple[dict[str, Tensor], dict]:
        """The hypernetwork's tensors, the target's non-generated ones, and the JSON that rebuilds
        the design and the hyperparameter declarations (the core checkpoint protocol)."""
        hnet = self.hypernetwork
        tensors = {f"hypernetwork.{k}": v for k, v in hnet.state_dict().items()}
        tensors.update({f"target.{k}": v for k, v in
                        io._static_state(self.target, hnet.generated_parameter_names).items()})
        return tensors, {"hypernetwork": hnet.config(), "hyperparameter_space": self.space.to_dict()}

    @classmethod
    def from_checkpoint(cls, tensors: dict[str, Tensor], config: dict, target: nn.Module | None = None,
                        **parts) -> ConditionedModel:
        """Rebuild from :meth:`checkpoint_state` for ``target`` (same architecture); ``parts``:
        ``condition``/``trunk``/``head`` for parts that wrap user code."""
        if target is None:
            raise TypeError("a ConditionedModel checkpoint needs the target it generates for: "
                            "hw.load(path, target)")
        if "hyperparameter_space" not in config or "hypernetwork" not in config:
            raise ValueError("not a ConditionedModel checkpoint: its config lacks the hyperparameter "
                             "declarations or the hypernetwork design")
        space = HyperparameterSpace.from_dict(config["hyperparameter_space"])
        unknown = set(parts) - {"condition", "trunk", "head", "strict"}
        if unknown:
            raise TypeError(f"unknown load option(s) {sorted(unknown)}; ConditionedModel takes "
                            "condition=, trunk=, head=, strict=")
        model = io._load_hypernetwork("the checkpoint", tensors, {"kind": "HyperModel",
                                      "hypernetwork": config["hypernetwork"]}, target,
                                      parts.get("condition"), parts.get("trunk"), parts.get("head"),
                                      parts.get("strict", True))
        return cls(model.target, space, hypernetwork=model.hypernetwork)

    def save(self, path: str | os.PathLike) -> None:
        """``hyperweights.save(self, path)``: one atomic, checksummed file with the declarations."""
        io.save(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike, target: nn.Module, **overrides) -> ConditionedModel:
        """``hyperweights.load(path, target)`` for a ConditionedModel (same architecture).

        Example:
            >>> import tempfile
            >>> from hyperweights.hyperparams import Hyperparameter, HyperparameterSpace
            >>> space = HyperparameterSpace([Hyperparameter("smoothing", 0.0, 0.3)])
            >>> model = ConditionedModel(nn.Linear(4, 3), space)
            >>> path = tempfile.mkdtemp() + "/cond.safetensors"
            >>> model.save(path)
            >>> again = ConditionedModel.load(path, nn.Linear(4, 3))
            >>> again.space == space
            True
        """
        loaded = io.load(path, target, **overrides)
        if not isinstance(loaded, cls):
            raise ValueError(f"{path} holds a {type(loaded).__name__}, not a ConditionedModel; load it "
                             "with hyperweights.load")
        return loaded
