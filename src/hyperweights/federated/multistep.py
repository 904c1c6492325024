"""What a client uploads after a round of local training, simulated differentiably for an attack.

A live client does not send one gradient: it runs several local SGD steps (momentum, weight
decay, clipping; HyperFL a head epoch and then body epochs) and uploads its parameters. An
honest-but-curious server knows what it sent (``received``), the method's schedule and the batch
order (in this library drawn by :func:`~.local.batch_order` from the run's seed and the round,
which the server sets), so it can replay the client's round on dummy images and match the
observed change ``upload - received`` (Geiping et al. 2020, "federated averaging": several local
steps on several images).

:func:`upload_simulator` builds that replay from the method object itself: its ``_loss``
(``params_of`` / ``extractor`` / the target), its ``spec`` and :class:`~.methods.Schedule`, and
the same SGD update as :func:`~.local.sgd`, written here without ``detach`` so the upload is
differentiable in the dummy images and the unknown private state; ``torch.func.vmap`` runs the
``N`` attacked clients at once. :func:`observed_update` is the other side: the change each client
actually uploaded. With them, :func:`~.attacks.inverting_gradients` is the multi-step attack.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch.func import grad, vmap

from .._checks import describe
from .local import SGDSpec
from .methods import FederatedMethod, FedAvg, HyperFL

__all__ = ["local_phases", "observed_update", "unrolled_sgd", "upload_simulator"]

#: ``update(x (N, B, *shape), y (N, B, K), unknowns) -> {name: (N, ...)}``
UpdateFn = Callable[[Tensor, Tensor, Sequence[Tensor]], dict[str, Tensor]]


def unrolled_sgd(loss: Callable[..., Tensor], trainable: dict[str, Tensor], fixed: dict[str, Tensor],
                 x: Tensor, y: Tensor, order: Tensor, spec: SGDSpec) -> dict[str, Tensor]:
    """One client's :func:`~.local.sgd`, differentiable: every step's gradient, clipping, weight
    decay and momentum stay in the graph (``torch.func.grad`` inside, so an outer autograd or
    ``vmap`` sees through it).

    Args:
        loss: ``loss(trainable, fixed, xb, yb) -> scalar`` (a method's ``_loss``).
        trainable, fixed: ``{name: tensor}`` one client's parameters (no client dimension).
        x: ``(B, ...)`` the client's samples; ``y``: ``(B,)`` classes or ``(B, K)`` soft labels.
        order: ``(steps, batch)`` sample indices per step (:func:`~.local.batch_order`'s row).
        spec: lr, momentum, weight decay, clipping (``spec.steps`` is ``order``'s length).

    Returns:
        the trained ``{name: tensor}``.

    Example:
        >>> lin = lambda p, f, xb, yb: ((xb @ p["w"] - yb) ** 2).mean()
        >>> x, y = torch.randn(8, 3, requires_grad=True), torch.randn(8)
        >>> w = unrolled_sgd(lin, {"w": torch.zeros(3)}, {}, x, y, torch.arange(8).repeat(4, 1),
        ...                  SGDSpec(steps=4, batch_size=8, lr=0.1, momentum=0.5))["w"]
        >>> w.sum().backward(); x.grad.shape        # differentiable in the data
        torch.Size([8, 3])
    """
    step = grad(loss)
    params, buffers = dict(trainable), {}
    for t in range(order.shape[0]):
        grads = step(params, fixed, x[order[t]], y[order[t]])
        if spec.clip is not None:              # clip_grad_norm_: a norm of the tensors' norms
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads.values()]))
            scale = (spec.clip / (norm + 1e-6)).clamp(max=1.0)
            grads = {k: g * scale for k, g in grads.items()}
        for k, g in grads.items():
            if spec.weight_decay:
                g = g + spec.weight_decay * params[k]
            if spec.momentum:                  # torch.optim.SGD: the buffer starts at the first gradient
                g = spec.momentum * buffers[k] + g if k in buffers else g
                buffers[k] = g
            params[k] = params[k] - spec.lr * g
    return params


def local_phases(method: FederatedMethod, samples: int, received: Sequence[str],
                 private: Sequence[str] = ()) -> list[tuple[set[str], SGDSpec, slice]]:
    """The local round of ``method`` as its ``train`` runs it on ``samples`` per client, with the
    ``received`` and ``private`` parts named: ``[(trained parts, spec, steps of the batch
    order)]``, parts named ``"r.<received>"`` / ``"p.<private>"`` as ``_run`` names them.

    FedAvg: one phase on everything received. HyperFL (and -LPM): the private head for
    ``head_epochs`` at ``head_lr``, then the hypernetwork and the embedding for ``epochs`` at
    ``lr``, each phase with fresh momentum (two ``sgd`` calls).

    Example:
        >>> from hyperweights.federated import HyperFL, Schedule
        >>> m = HyperFL(schedule=Schedule(epochs=2, head_epochs=1, batch_size=4))
        >>> phases = local_phases(m, 4, m.init_server(), ["embedding", "fc2.weight", "fc2.bias"])
        >>> [(s.steps, s.lr, (p.start, p.stop)) for _, s, p in phases]
        [(1, 0.1, (0, 1)), (2, 0.02, (1, 3))]
    """
    s = method.schedule
    if isinstance(method, HyperFL):
        head_steps = s.head_epochs * math.ceil(samples / s.batch_size)
        body = {f"r.{k}" for k in received} | {"p.embedding"}
        heads = {f"p.{k}" for k in private if k != "embedding"}
        return [(heads, method.spec(s.head_epochs, s.head_lr, samples), slice(0, head_steps)),
                (body, method.spec(s.epochs, s.lr, samples), slice(head_steps, method.local_steps(samples)))]
    if isinstance(method, FedAvg):
        return [({f"r.{k}" for k in received},
                 method.spec(s.epochs + s.head_epochs, s.lr, samples), slice(0, method.local_steps(samples)))]
    raise ValueError(f"the multi-step simulation knows FedAvg and HyperFL (and HyperFL-LPM), got "
                     f"{type(method).__name__}; add its local phases to local_phases()")


def upload_simulator(method: FederatedMethod, received: dict[str, Tensor], order: Tensor,
                     private_names: Sequence[str] = ()) -> UpdateFn:
    """The attacker's replay of ``N`` clients' local round: ``update(x, y, unknowns)`` is the
    change ``upload - received`` each client would send after training on ``x`` with ``y``.

    Args:
        method: the live method object (FedAvg, HyperFL, HyperFL-LPM).
        received: what the server sent, as :meth:`~.FederatedMethod.download` gives it (broadcast:
            no client dimension).
        order: ``(N, steps, batch)`` the clients' batch order for this round.
        private_names: the private parts the attacker does not know, in the order of ``unknowns``
            (HyperFL: ``["embedding", "fc2.weight", "fc2.bias"]``; FedAvg none).

    Returns:
        ``update(x (N, B, *shape), y (N, B, K) soft labels, unknowns [(N, ...)]) -> {name: (N, ...)}``
        keyed like the upload, differentiable in ``x``, ``y`` and the unknowns.

    Example:
        >>> from hyperweights.federated import FedAvg, Schedule
        >>> m = FedAvg(schedule=Schedule(epochs=1, head_epochs=1, batch_size=2))
        >>> update = upload_simulator(m, m.init_server(), torch.tensor([[[0, 1], [1, 0]]]))
        >>> x, y = torch.rand(1, 2, 784), torch.eye(10)[torch.tensor([[3, 5]])]
        >>> update(x, y, [])["fc2.bias"].shape
        torch.Size([1, 10])
    """
    if not method.broadcast:
        raise ValueError(f"{type(method).__name__} sends each client its own arrays; the simulation "
                         "takes a broadcast method (FedAvg, HyperFL)")
    if not isinstance(order, Tensor) or order.ndim != 3:
        raise ValueError(f"order must be the clients' batch order (N, steps, batch), got {describe(order)}")
    sent = {k: v.detach() for k, v in received.items()}
    private_names = list(private_names)

    def one_client(x: Tensor, y: Tensor, steps: Tensor, *unknowns: Tensor) -> dict[str, Tensor]:
        state = {**{f"r.{k}": v for k, v in sent.items()},
                 **{f"p.{k}": u for k, u in zip(private_names, unknowns)}}
        for parts, spec, span in local_phases(method, x.shape[0], list(sent), private_names):
            trainable = {k: v for k, v in state.items() if k in parts}
            fixed = {k: v for k, v in state.items() if k not in parts}
            state.update(unrolled_sgd(method._loss, trainable, fixed, x, y, steps[span], spec))
        return {k: state[f"r.{k}"] - v for k, v in sent.items()}

    def update(x: Tensor, y: Tensor, unknowns: Sequence[Tensor] = ()) -> dict[str, Tensor]:
        if len(unknowns) != len(private_names):
            raise ValueError(f"update needs one unknown per private part {private_names}, got {len(unknowns)}")
        return vmap(one_client)(x, y, order, *unknowns)

    return update


def observed_update(method: FederatedMethod, received: dict[str, Tensor], upload: dict[str, Tensor]) -> dict[str, Tensor]:
    """What the server learns from ``N`` uploads: ``{name: upload - received}`` ``(N, ...)``.

    Example:
        >>> from hyperweights.federated import FedAvg
        >>> m = FedAvg()
        >>> sent = m.init_server()
        >>> up = {k: v[None] + 1 for k, v in sent.items()}
        >>> float(observed_update(m, sent, up)["fc2.bias"].mean())
        1.0
    """
    missing = sorted(set(upload) - set(received))
    if missing:
        raise ValueError(f"the upload holds arrays the server did not send: {missing}")
    clients = next(iter(upload.values())).shape[0]
    base = method.per_client(received, clients)
    return {k: upload[k] - base[k] for k in upload}
