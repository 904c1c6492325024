"""HyperInterval (Krukowski et al. 2024): interval task embeddings, IBP through the hypernetwork,
a worst-case + middle loss, the output regularizer, and the universal embedding.

Per task ``t``: centre ``e_t`` (a row of the task-embedding table) and radius logits ``p_t`` (init 0);
radius ``r_t = eps * softmax(p_t)`` (the radii sum to ``eps``). Training task ``t``, step ``i`` of
``n``, ``h = n // 2`` (the schedule of the authors' training script)::

    i <  h:  eps_i = eps * i / (h - 1),  kappa_i = max(1 - kappa_decay * i, kappa_final)
    i >= h:  eps_i = eps,                kappa_i = kappa_final
    L = kappa_i * CE(mid, y) + (1 - kappa_i) * CE(worst, y) + beta * R
    R = 1 / |S| * sum_{j in S} ||theta_mid^j - theta_mid^j*||^2          (middle weights only)

With ``nesting=True`` (the forced-intersection variant) the centre is ``sigma_i * cos(e_t)`` with
``sigma_i = eps_i / (2 M)`` and every radius is fixed at ``eps_i / M`` (not learned), so every
task's box contains ``[-eps / (2M), eps / (2M)]^M`` and the boxes always intersect; ``R`` then
averages over the lower, middle and upper weights. Earlier tasks' centres and radii are frozen
(they enter ``R`` detached). Prediction uses the middle weights;
:meth:`HyperInterval.universal_weights` returns one weight set for all tasks from the
intersection of the task boxes.

References:
    Krukowski et al. HyperInterval: Hypernetwork approach to training weight interval regions in
    continual learning. https://arxiv.org/abs/2405.15444 (code: github.com/gmum/HyperInterval)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import hyperweights as hw

from .base import ContinualMethod
from .hnet import paired_forward
from .interval import interval_flat, interval_intersection, interval_target_forward, worst_case_logits
from .regularizer import output_penalty

__all__ = ["HyperInterval"]


@hw.checkpointable("continual.HyperInterval")
class HyperInterval(ContinualMethod):
    """Interval-embedding hypernetwork learner.

    Args:
        target: the target network (``nn.Sequential`` of Linear + monotone activations for exact
            interval propagation; anything else uses the run-three-times fallback).
        classes: ``(T, C)`` output units per task.
        steps_per_task: ``n`` in the schedules above.
        emb_dim: ``M``; eps: final total radius; beta: regularizer strength.
        kappa_final, kappa_decay: the kappa schedule (paper: 0.5, 5e-5 per step).
        nesting: centres ``sigma * cos(e)`` and fixed radii ``eps / M`` (boxes always intersect).
        trunk, head: hypernetwork parts (MLP trunk; Full/Chunked/PerLayer head).
        subset: regularize a random subset of this many earlier tasks per step.
        feature_scale: factor on the trunk's features before the head (``None`` = the core
            default ``1/sqrt(d_h)``); interval propagation applies it to both bounds.

    Example:
        >>> hi = HyperInterval(hw.mlp((8, 16, 4)), [[0, 1], [2, 3]], steps_per_task=4,
        ...                    emb_dim=8, trunk=hw.MLP((16,)), head=hw.ChunkedHead(64, 4))
        >>> hi.begin_task(0)
        >>> hi.step(0, torch.rand(5, 8), torch.tensor([0, 1, 1, 0, 1])) > 0
        True
        >>> hi.universal_weights(1)["0.weight"].shape
        torch.Size([1, 16, 8])
    """

    name = "hyperinterval"

    def __init__(self, target: nn.Module, classes: Tensor, *, steps_per_task: int, emb_dim: int = 32,
                 eps: float = 1.0, beta: float = 0.01, kappa_final: float = 0.5,
                 kappa_decay: float = 5e-5, nesting: bool = False, trunk: hw.Trunk | None = None,
                 head: hw.Head | None = None, subset: int | None = None, lr: float = 1e-3,
                 feature_scale: float | None = None):
        super().__init__(classes, lr)
        self.check_outputs(target)
        if steps_per_task < 1 or eps < 0:
            raise ValueError(f"need steps_per_task >= 1 and eps >= 0, got {steps_per_task}, {eps}")
        self.target = target
        self.hnet = hw.HyperNetwork(
            target, condition=hw.TaskEmbedding(self.num_tasks, emb_dim),
            trunk=trunk if trunk is not None else hw.MLP((100, 100)),
            head=head if head is not None else hw.ChunkedHead(4096, 16),
            feature_scale=feature_scale)  # interval_flat applies the same scale to both bounds
        self.radius_logits = nn.Parameter(torch.zeros(self.num_tasks, emb_dim))
        self.steps_per_task, self.eps, self.beta = steps_per_task, eps, beta
        self.kappa_final, self.kappa_decay, self.nesting, self.subset = kappa_final, kappa_decay, nesting, subset
        self.register_buffer("iteration", torch.zeros((), dtype=torch.long))
        self.register_buffer("num_prev", torch.zeros((), dtype=torch.long))
        # regularized bounds: the middle weights; lower, middle and upper in the nesting variant
        self._bounds = slice(0, 3) if nesting else slice(1, 2)
        bounds = 3 if nesting else 1
        self.register_buffer("targets", torch.zeros(bounds, self.num_tasks, self.hnet.specs.total))
        self.init_args = {"steps_per_task": steps_per_task, "emb_dim": emb_dim, "eps": eps, "beta": beta,
                          "kappa_final": kappa_final, "kappa_decay": kappa_decay, "nesting": nesting,
                          "subset": subset, "lr": lr, "feature_scale": feature_scale}
        self.init_parts = {"trunk": self.hnet.trunk, "head": self.hnet.head}
        self._settings = {"emb_dim": emb_dim, "eps": eps, "beta": beta, "kappa_final": kappa_final,
                          "kappa_decay": kappa_decay, "nesting": nesting, "subset": subset,
                          "steps_per_task": steps_per_task, "feature_scale": self.hnet.feature_scale}

    # -- boxes ---------------------------------------------------------------------------------
    def boxes(self, tasks: Tensor, eps: float | None = None) -> tuple[Tensor, Tensor]:
        """Centres and radii ``(W, M)`` of the tasks' condition boxes (in the trunk's input space)."""
        eps = self.eps if eps is None else eps
        e = self.hnet.condition(tasks)
        if self.nesting:
            m = e.shape[1]
            return eps / (2 * m) * torch.cos(e), torch.full_like(e, eps / m)
        return e, eps * torch.softmax(self.radius_logits[tasks], dim=-1)

    def schedule(self, iteration: int) -> tuple[float, float]:
        """``(eps_i, kappa_i)`` at step ``iteration`` of a task (the module doc's schedule).

        Example:
            >>> hi = HyperInterval(hw.mlp((4, 8, 2)), [[0, 1]], steps_per_task=10)
            >>> [hi.schedule(i) for i in (0, 4, 5, 9)]
            [(0.0, 1.0), (1.0, 0.9998), (1.0, 0.5), (1.0, 0.5)]
        """
        half = self.steps_per_task // 2
        if iteration >= half:
            return self.eps, self.kappa_final
        return (self.eps * iteration / max(half - 1, 1),
                max(1.0 - self.kappa_decay * iteration, self.kappa_final))

    def interval_weights(self, tasks: Tensor, eps: float | None = None, frozen: bool = False):
        """``(lo, mid, up)`` flat weights ``(W, P)`` of the tasks' boxes."""
        centre, radius = self.boxes(tasks, eps)
        if frozen:
            centre, radius = centre.detach(), radius.detach()
        return interval_flat(self.hnet, centre, radius)

    # -- training ------------------------------------------------------------------------------
    def trainable(self, task: int) -> list[nn.Parameter]:
        # the nesting variant's radii are fixed; earlier rows get no gradient (detached in R)
        return [*self.hnet.parameters(), *([] if self.nesting else [self.radius_logits])]

    @torch.no_grad()
    def begin_task(self, task: int, generator: torch.Generator | None = None) -> None:
        self.check_begin(task)
        self.iteration.zero_()
        self.num_prev.fill_(task)
        if task:
            was = self.training
            self.eval()
            try:
                bounds = torch.stack(self.interval_weights(torch.arange(task)))
                self.targets[:, :task] = bounds[self._bounds]
            finally:
                self.train(was)
        super().begin_task(task, generator)

    def loss(self, task: int, x: Tensor, y: Tensor) -> Tensor:
        """The objective of the task's next step (advances the step counter of the schedule)."""
        eps, kappa = self.schedule(int(self.iteration))
        split = self.hnet.unflatten
        lo, mid, up = self.interval_weights(torch.tensor([task]), eps)
        out = interval_target_forward(self.target, split(lo), split(mid), split(up), x)
        units = self.classes[task]
        z_lo, z_mid, z_up = (o[:, units] for o in out)
        loss = kappa * F.cross_entropy(z_mid, y) + (1 - kappa) * F.cross_entropy(
            worst_case_logits(z_lo, z_up, y), y)
        n = int(self.num_prev)
        if n and self.beta > 0:
            ids = torch.arange(n)
            if self.subset is not None and self.subset < n:
                ids = torch.randperm(n, generator=self.generator)[: self.subset]
            current = torch.stack(self.interval_weights(ids, frozen=True))[self._bounds]  # (B, S, P)
            loss = loss + self.beta * output_penalty(current, self.targets[:, ids])
        self.iteration += 1
        return loss

    # -- prediction ----------------------------------------------------------------------------
    def task_logits(self, x: Tensor, tasks: Tensor) -> Tensor:
        mid = self.interval_weights(tasks)[1]
        return self._local(paired_forward(self.target, self.hnet.unflatten(mid), x), tasks)

    def all_logits(self, x: Tensor, num_tasks: int) -> Tensor:
        tasks = torch.arange(num_tasks)
        mid = self.interval_weights(tasks)[1]
        return self._local(hw.ensemble_forward(self.target, self.hnet.unflatten(mid), x), tasks)

    @torch.no_grad()
    def universal_box(self, num_tasks: int) -> tuple[Tensor, Tensor, Tensor]:
        """Intersection of the first ``num_tasks`` task boxes: ``(lo*, up*, centre)``, each ``(M,)``."""
        centre, radius = self.boxes(torch.arange(num_tasks))
        return interval_intersection(centre - radius, centre + radius)

    @torch.no_grad()
    def universal_weights(self, num_tasks: int) -> dict[str, Tensor]:
        """One weight set ``{name: (1, *shape)}`` for all tasks: the middle weights of the box of
        radius ``eps / M`` around the intersection's centre (as the authors' code does)."""
        _, _, centre = self.universal_box(num_tasks)
        radius = torch.full_like(centre, self.eps / centre.shape[0])
        mid = interval_flat(self.hnet, centre[None], radius[None])[1]
        return self.hnet.unflatten(mid)

    @torch.no_grad()
    def universal_logits(self, x: Tensor, tasks: Tensor, num_tasks: int) -> Tensor:
        """Local logits ``(K, N, C)`` of tasks ``tasks`` with the single universal network."""
        w = self.universal_weights(num_tasks)
        k, n = x.shape[:2]
        out = hw.functional_forward(self.target, w, x.reshape(k * n, -1)).reshape(k, n, -1)
        return self._local(out, tasks)

    def config(self) -> dict:
        return {"name": self.name, "lr": self.lr, **self._settings,
                "trunk": self.hnet.trunk.describe(), "head": self.hnet.head.describe()}

    def param_counts(self) -> dict:
        return {"learner": hw.param_count(self), "target": self.hnet.specs.total}
