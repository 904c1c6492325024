"""Self-Tuning Networks: online hyperparameter tuning with a structured best-response model.

Bilevel problem: ``lambda* = argmin L_val(lambda, w*(lambda))`` with ``w*(lambda)`` the best
response on the training loss. An STN approximates ``w*(lambda)`` with gated layers
(:mod:`.stn_layers`) and alternates (MacKay et al. 2019, Algorithm 1):

1. ``train_steps`` steps on training batches: update the best-response parameters ``phi`` (every
   parameter of the model) on the training loss, with ``lambda`` perturbed per example,
   ``lambda~ = lambda + softplus(sigma) * eps``, and the regularizers (dropout, augmentation)
   applied at the perturbed strengths;
2. ``val_steps`` steps on validation batches: update ``lambda`` (and the perturbation scale
   ``sigma`` when ``tune_scales``) on ``L_val - tau * H[p(lambda | sigma)]`` with the model in
   eval mode (no dropout, no augmentation). The gradient reaches ``lambda`` only through the
   gates, so the training loss is never differentiated w.r.t. ``lambda`` and non-differentiable
   regularizers (dropout masks, cutout) are fine.

Hyperparameters live in an unconstrained space ``t``; their value is
``space.from_unit(sigmoid(t))``: ``sigmoid(t)`` is the unit coordinate, mapped onto the declared
range by the declared scale. For a ``logit``-scale rate on ``[a, b]`` that is a second sigmoid,
``sigmoid(logit(a) + sigmoid(t) (logit(b) - logit(a)))``, where the reference code uses
``b * sigmoid(t)`` on ``[0, b]`` (``s_sigmoid``, e.g. ``0.9 sigmoid(t)`` for dropout). Both are
monotone maps onto the range; they differ in how a step in ``t`` translates into a step in the
rate (ours is flatter near the ends of the range). A documented deviation
(docs/hyperparams.md); ``linear``-scale hyperparameters such as the cutout length get
``a + (b - a) sigmoid(t)``, the reference's map.

References: MacKay, Vicol, Lorraine, Duvenaud, Grosse, ICLR 2019, arXiv 1903.03088.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..io import checkpointable
from ..optim import make_optimizer
from .space import HyperparameterSpace

__all__ = ["StnHyperparameters", "StnModel", "StnTrainer"]


def _inv_softplus(x: float) -> float:
    return x + math.log(-math.expm1(-x))


class StnHyperparameters(nn.Module):
    """The tuned hyperparameters ``t`` (unconstrained) and their perturbation scales ``sigma``.

    Args:
        space: declared ranges and scales (see :class:`HyperparameterSpace`).
        init: initial real values ``{name: value}`` (default: each range's midpoint in unit
            coordinates).
        init_scale: initial ``softplus(sigma)`` (the reference code uses 0.5).

    Example:
        >>> from hyperweights.hyperparams import Hyperparameter, HyperparameterSpace
        >>> space = HyperparameterSpace([Hyperparameter("dropout", 0.01, 0.9, scale="logit")])
        >>> hp = StnHyperparameters(space, {"dropout": 0.05})
        >>> round(hp.current()["dropout"], 4)
        0.05
        >>> hp.perturb(16).shape
        torch.Size([16, 1])
    """

    def __init__(self, space: HyperparameterSpace, init: dict[str, float] | None = None,
                 init_scale: float = 0.5):
        super().__init__()
        self.space = space
        init = init or {}
        unknown = set(init) - set(space.names)
        if unknown:
            raise KeyError(f"initial values for undeclared hyperparameters {sorted(unknown)}; declared: {space.names}")
        unit = torch.full((1, len(space)), 0.5)
        if init:
            given = {n: init.get(n, space[n].from_unit(torch.tensor(0.5)).item()) for n in space.names}
            unit = space.to_unit(given)
        unit = unit.clamp(1e-4, 1 - 1e-4)
        self.raw = nn.Parameter(torch.logit(unit[0]))
        if init_scale <= 0:
            raise ValueError(f"init_scale must be > 0, got {init_scale}")
        self.raw_scale = nn.Parameter(torch.full((len(space),), _inv_softplus(init_scale)))

    @property
    def scale(self) -> Tensor:
        """``softplus(sigma)``: ``(h,)``."""
        return F.softplus(self.raw_scale)

    def perturb(self, batch: int, generator: torch.Generator | None = None,
                per_example: bool = True) -> Tensor:
        """``(batch, h)`` perturbed unconstrained hyperparameters (differentiable in ``t`` and
        ``sigma`` through the reparametrisation); ``per_example=False`` shares one draw."""
        eps = torch.randn(batch if per_example else 1, len(self.space), generator=generator)
        return (self.raw + self.scale * eps).expand(batch, -1)

    def values(self, t: Tensor) -> dict[str, Tensor]:
        """Unconstrained ``(B, h)`` -> real values ``{name: (B,)}`` (no gradient)."""
        real = self.space.from_unit(torch.sigmoid(t.detach()))
        return self.space.to_dict_of_values(real)

    def current(self) -> dict[str, float]:
        """The current (unperturbed) real values."""
        return {n: v.item() for n, v in self.values(self.raw.unsqueeze(0)).items()}

    def entropy(self) -> Tensor:
        """Entropy of the perturbation distribution: ``sum log(softplus(sigma) sqrt(2 pi e))``."""
        return torch.log(self.scale * math.sqrt(2 * math.pi * math.e)).sum()


#: model(x, t (B, h) unconstrained, values {name: (B,)}) -> logits; must honour model.training
StnModel = nn.Module
#: augment(x, values {name: (B,)}) -> x, applied to training batches only
Augment = Callable[[Tensor, dict], Tensor]


class StnTrainer:
    """The alternating STN optimizer.

    Args:
        model: an ``nn.Module`` called as ``model(x, t, values)`` (``t: (B, h)`` feeds the gated
            layers, ``values`` the regularizers); it must skip dropout in eval mode.
        hparams: the :class:`StnHyperparameters` being tuned.
        augment: optional ``augment(x, values) -> x`` for training batches (e.g. cutout).
        lr: Adam learning rate of ``phi``; hyper_lr: Adam learning rate of ``t`` and ``sigma``
            (the paper's 3e-3).
        entropy_weight: ``tau`` (the README's ``1e-3``).
        train_steps, val_steps: the alternation (paper: 2 and 1).
        tune_scales: also learn ``sigma`` (perturbs ``lambda`` in the validation step too).
        per_example: one perturbation per example (the paper) or one per batch.
        loss: ``loss(logits, y) -> scalar``, default cross-entropy.

    Example:
        >>> from hyperweights.hyperparams import Hyperparameter, HyperparameterSpace, StnLinear
        >>> space = HyperparameterSpace([Hyperparameter("dropout", 0.01, 0.9, scale="logit")])
        >>> class Net(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.layer = StnLinear(4, 3, num_hparams=1)
        ...     def forward(self, x, t, values):
        ...         return self.layer(x, t)
        >>> trainer = StnTrainer(Net(), StnHyperparameters(space))
        >>> x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
        >>> trainer.train_step(x, y) > 0 and trainer.val_step(x, y) > 0
        True
    """

    def __init__(self, model: nn.Module, hparams: StnHyperparameters, *, augment: Augment | None = None,
                 lr: float = 1e-3, hyper_lr: float = 3e-3, entropy_weight: float = 1e-3,
                 train_steps: int = 2, val_steps: int = 1, tune_scales: bool = True,
                 loss: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy,
                 generator: torch.Generator | None = None, per_example: bool = True):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module called as model(x, t, values), got {type(model).__name__}")
        if not isinstance(hparams, StnHyperparameters):
            raise TypeError(f"hparams must be StnHyperparameters(space, init), got {type(hparams).__name__}")
        if train_steps < 1 or val_steps < 1:
            raise ValueError(f"train_steps and val_steps must be >= 1, got {train_steps}, {val_steps}")
        self.model, self.hparams, self.augment, self.loss = model, hparams, augment, loss
        self.entropy_weight, self.tune_scales = entropy_weight, tune_scales
        self.train_steps, self.val_steps = train_steps, val_steps
        self.generator = generator
        self.per_example = per_example
        self.phi = [p for p in model.parameters() if p.requires_grad]
        own = {id(p) for p in hparams.parameters()}
        if any(id(p) in own for p in self.phi):
            raise ValueError("the model must not hold the StnHyperparameters (pass them separately)")
        self.hyper = [hparams.raw, hparams.raw_scale] if tune_scales else [hparams.raw]
        # one Adam, two groups: a step only moves the tensors that have a gradient (Adam is
        # elementwise), and a checkpoint holds both states
        self.optimizer = make_optimizer([{"params": self.phi}, {"params": self.hyper, "lr": hyper_lr}], lr)
        self.schedule: list[dict] = []
        self.step_count = 0

    def train_loss(self, x: Tensor, y: Tensor) -> Tensor:
        """The training loss of one batch (perturbed ``lambda``, regularizers on), with a graph to
        ``phi`` only: the perturbation is drawn without gradient."""
        self.model.train()
        with torch.no_grad():
            t = self.hparams.perturb(x.shape[0], self.generator, self.per_example)
        values = self.hparams.values(t)
        if self.augment is not None:
            x = self.augment(x, values)
        return self.loss(self.model(x, t, values), y)

    def train_step(self, x: Tensor, y: Tensor) -> float:
        """One step on ``phi`` (training loss, perturbed ``lambda``, regularizers on)."""
        loss = self.train_loss(x, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.step_count += 1
        return loss.item()

    def val_step(self, x: Tensor, y: Tensor) -> float:
        """One step on ``lambda`` (and ``sigma``): validation loss minus ``tau`` x entropy, eval mode."""
        was = self.model.training
        self.model.eval()
        try:
            if self.tune_scales:
                t = self.hparams.perturb(x.shape[0], self.generator, self.per_example)
            else:
                t = self.hparams.raw.unsqueeze(0).expand(x.shape[0], -1)
            loss = self.loss(self.model(x, t, self.hparams.values(t)), y)
            objective = loss - self.entropy_weight * self.hparams.entropy() if self.tune_scales else loss
            grads = torch.autograd.grad(objective, self.hyper)
        finally:
            self.model.train(was)
        self.optimizer.zero_grad(set_to_none=True)          # phi keeps no gradient: not stepped
        for p, g in zip(self.hyper, grads):
            p.grad = g
        self.optimizer.step()
        self.record()
        return loss.item()

    def record(self) -> None:
        """Append the current values and scales to :attr:`schedule`."""
        row = {"step": self.step_count, **self.hparams.current()}
        row.update({f"scale_{n}": s for n, s in zip(self.hparams.space.names, self.hparams.scale.tolist())})
        self.schedule.append(row)

    def step(self, train_batches, val_batches) -> tuple[float, float]:
        """One round: ``train_steps`` training steps then ``val_steps`` validation steps, drawing
        ``(x, y)`` from the two iterators; returns the last losses."""
        for _ in range(self.train_steps):
            tl = self.train_step(*next(train_batches))
        for _ in range(self.val_steps):
            vl = self.val_step(*next(val_batches))
        return tl, vl


@checkpointable("hyperparams.StnModel")
class StnModel(nn.Module):
    """A Self-Tuning Network: the gated network and the hyperparameters it tunes, as one module
    (what :func:`hyperweights.hyperparams.fit` trains and :func:`hyperweights.save` stores).

    Args:
        network: called as ``network(x, t (B, h), values {name: (B,)})``, e.g. :class:`StnMLP`.
        space: the tuned hyperparameters.
        init: their initial real values (default: the middle of each range in unit coordinates).
        init_scale: initial perturbation scale ``softplus(sigma)`` (the reference's 0.5).

    ``model(x)`` runs the network at the current, unperturbed ``lambda``.

    Example:
        >>> import tempfile
        >>> import hyperweights as hw
        >>> from hyperweights.hyperparams import Hyperparameter, HyperparameterSpace, StnMLP
        >>> space = HyperparameterSpace([Hyperparameter("dropout", 0.01, 0.9, scale="logit")])
        >>> model = StnModel(StnMLP((4, 8, 3), 1, hidden_dropout=("dropout",)), space, {"dropout": 0.05})
        >>> path = tempfile.mkdtemp() + "/stn.safetensors"
        >>> hw.save(model, path)
        >>> again = hw.load(path, network=StnMLP((4, 8, 3), 1, hidden_dropout=("dropout",)))
        >>> x = torch.randn(2, 4)
        >>> torch.equal(again.eval()(x), model.eval()(x)), round(again.hparams.current()["dropout"], 3)
        (True, 0.05)
    """

    def __init__(self, network: nn.Module, space: HyperparameterSpace, init: dict[str, float] | None = None,
                 init_scale: float = 0.5):
        super().__init__()
        if not isinstance(network, nn.Module):
            raise TypeError(f"network must be an nn.Module called as network(x, t, values), got "
                            f"{type(network).__name__}")
        if not isinstance(space, HyperparameterSpace):
            raise TypeError(f"space must be a HyperparameterSpace, got {type(space).__name__}")
        self.network = network
        self.hparams = StnHyperparameters(space, init, init_scale)

    @property
    def space(self) -> HyperparameterSpace:
        return self.hparams.space

    def forward(self, x: Tensor) -> Tensor:
        t = self.hparams.raw.unsqueeze(0).expand(x.shape[0], -1)
        return self.network(x, t, self.hparams.values(t))

    def checkpoint_state(self) -> tuple[dict[str, Tensor], dict]:
        return dict(self.state_dict()), {"space": self.space.to_dict(),
                                         "network_class": type(self.network).__name__}

    @classmethod
    def from_checkpoint(cls, tensors: dict[str, Tensor], config: dict, network: nn.Module | None = None) -> StnModel:
        if network is None:
            raise TypeError(f"an StnModel checkpoint stores the weights of a "
                            f"{config.get('network_class', 'network')}, not its code: pass a freshly "
                            "built one, hw.load(path, network=...)")
        model = cls(network, HyperparameterSpace.from_dict(config["space"]))
        try:
            model.load_state_dict(tensors)
        except RuntimeError as err:
            raise ValueError(f"the checkpoint's tensors do not fit the given network "
                             f"({type(network).__name__}; saved: {config.get('network_class')}): {err}") from err
        return model
