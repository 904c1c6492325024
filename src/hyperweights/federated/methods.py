"""The federated methods, engine-independent: FedAvg, Local, HyperFL (and -LPM), pFedHN (and -PC).

Every method works on explicit, stacked state so that the in-process loop trains all clients of a
round in one batched call and a Flower ClientApp runs the very same code with ``C = 1``:

- ``server``: ``{name: tensor}`` the server's state (what it averages or trains);
- ``private``: ``{name: (C, ...)}`` what each client keeps and never sends (HyperFL's embedding and
  classifier head, Local's whole model, pFedHN-PC's head);
- ``received``: ``{name: (C, ...)}`` what the server sends each client (:meth:`download`);
- the upload: ``{name: (C, ...)}`` what each client sends back (:meth:`client_update_payload`):
  FedAvg the model, HyperFL only the hypernetwork, pFedHN ``Δθ = θ - θ̃``, Local nothing.

The round: ``received = download(server, ids)`` -> ``upload, private, loss = train(received,
private, x, y, order)`` -> ``server = aggregate(server, upload, weights, ids)``; evaluation uses
``download`` again after aggregation (the personalised model of each client).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vmap

from ..heads import PerTensorHead
from ..hypernetwork import HyperNetwork
from ..registry import create_head
from ..trunks import MLP
from ..conditioning import TaskEmbedding
from .cnn import ADAPTERS, EXTRACTOR, AdaptedCNN, HyperFLCNN
from .local import SGDSpec, sgd

__all__ = ["FederatedMethod", "FedAvg", "Local", "HyperFL", "HyperFLLPM", "PFedHN", "PFedHNPC",
           "METHODS", "build_method", "payload_bytes"]


def payload_bytes(arrays: dict[str, Tensor]) -> int:
    """Bytes of one client's arrays ``{name: (C, ...)}`` (per client, i.e. divided by ``C``)."""
    if not arrays:
        return 0
    clients = next(iter(arrays.values())).shape[0]
    return sum(a.numel() * a.element_size() for a in arrays.values()) // max(clients, 1)


def _seeded(seed: int, build):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _stack(tensors: dict[str, Tensor], clients: int) -> dict[str, Tensor]:
    return {k: v.detach().unsqueeze(0).expand(clients, *v.shape).clone() for k, v in tensors.items()}


@dataclass(frozen=True)
class Schedule:
    """HyperFL's local round: ``head_epochs`` on the head, then ``epochs`` on the rest (SGD)."""

    epochs: int = 5
    head_epochs: int = 1
    batch_size: int = 50
    lr: float = 0.02
    head_lr: float = 0.1
    momentum: float = 0.5
    weight_decay: float = 5e-4
    clip: float | None = 50.0


class FederatedMethod:
    """Base of the methods: a CNN template and the functional pieces every method shares.

    Args:
        num_classes: classes of the task.
        seed: seeds every initialisation (the same seed gives the same state on every machine).
        schedule: the local training schedule (:class:`Schedule`).
        cnn: options of the CNN target (``channels``, ``hidden``; default the paper's sizes).
    """

    name = "base"
    #: private parts, for the docs: what never leaves the client
    private_parts: tuple[str, ...] = ()

    def __init__(self, *, num_classes: int = 10, seed: int = 0, schedule: Schedule | None = None,
                 cnn: dict | None = None):
        self.cnn = {k: tuple(v) if isinstance(v, list) else v for k, v in (cnn or {}).items()}
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
        self.num_classes, self.seed = num_classes, seed
        self.schedule = schedule or Schedule()
        self.target = _seeded(seed, lambda: self.build_target())

    def build_target(self) -> nn.Module:
        return HyperFLCNN(self.num_classes, **self.cnn)

    # -- state ---------------------------------------------------------------------------------
    def init_server(self) -> dict[str, Tensor]:
        """The server's initial state ``{name: tensor}``."""
        return {}

    def init_clients(self, client_ids: Tensor, total_clients: int) -> dict[str, Tensor]:
        """Private state ``{name: (C, ...)}`` of clients ``client_ids`` (of ``total_clients``)."""
        return {}

    #: True when every client receives the same arrays (sent once, without a client dimension)
    broadcast = True

    def download(self, server: dict[str, Tensor], client_ids: Tensor) -> dict[str, Tensor]:
        """What the server sends: ``{name: tensor}`` to every client when :attr:`broadcast`, else
        ``{name: (C, ...)}`` one slice per client."""
        return dict(server)

    #: True when the server's new state is the weighted mean of the uploads (Flower's stock FedAvg)
    aggregates_by_average = True

    def expected_upload(self, server: dict[str, Tensor]) -> dict[str, tuple[int, ...]]:
        """``{name: shape}`` of one client's upload (what the server accepts)."""
        return {k: tuple(v.shape) for k, v in server.items()}

    def per_client(self, received: dict[str, Tensor], clients: int) -> dict[str, Tensor]:
        """``received`` with a client dimension: broadcast arrays as read-only expanded views of one
        copy (what trains is cloned by :func:`~.local.sgd`: ``C`` copies are made once, not twice).
        The one copy has canonical strides, so that kernels (and their rounding) do not depend on
        how the server produced its arrays: a resumed run ends bit-identical to an uninterrupted one."""
        if not self.broadcast:
            return received
        return {k: v.detach().clone(memory_format=torch.contiguous_format).unsqueeze(0).expand(clients, *v.shape)
                for k, v in received.items()}

    def aggregate(self, server: dict[str, Tensor], uploads: dict[str, Tensor], weights: Tensor,
                  client_ids: Tensor) -> dict[str, Tensor]:
        """FedAvg: the weighted mean of the uploads (``weights: (C,)``, e.g. local train sizes),
        accumulated client by client in float32 as Flower's ``aggregate_arrayrecords`` does."""
        if not uploads:
            return server
        factors = (weights.double() / weights.double().sum()).float()
        return {k: (v * factors.reshape(-1, *([1] * (v.ndim - 1)))).sum(0) for k, v in uploads.items()}

    # -- one client's model ---------------------------------------------------------------------
    def params_of(self, received: dict[str, Tensor], private: dict[str, Tensor]) -> dict[str, Tensor]:
        """The target's parameters of one client (no client dimension)."""
        return {**received, **private}

    def logits(self, received, private, x: Tensor) -> Tensor:
        return functional_call(self.target, self.params_of(received, private), (x,))

    def _loss(self, trainable, fixed, x, y):
        both = {**fixed, **trainable}
        received = {k[2:]: v for k, v in both.items() if k.startswith("r.")}
        private = {k[2:]: v for k, v in both.items() if k.startswith("p.")}
        return F.cross_entropy(self.logits(received, private, x), y)

    def _run(self, received, private, x, y, order, spec: SGDSpec, train: set[str]):
        """SGD on the named parts (``"r.<name>"`` received, ``"p.<name>"`` private); ``received``
        and ``private`` carry the client dimension."""
        everything = {**{f"r.{k}": v for k, v in received.items()}, **{f"p.{k}": v for k, v in private.items()}}
        trainable = {k: v for k, v in everything.items() if k in train}
        fixed = {k: v for k, v in everything.items() if k not in train}
        new, loss = sgd(self._loss, trainable, fixed, x, y, order, spec)
        everything.update(new)
        return ({k[2:]: v for k, v in everything.items() if k.startswith("r.")},
                {k[2:]: v for k, v in everything.items() if k.startswith("p.")}, loss)

    def spec(self, epochs: int, lr: float, samples: int) -> SGDSpec:
        s = self.schedule
        return SGDSpec(steps=epochs * math.ceil(samples / s.batch_size), batch_size=s.batch_size, lr=lr,
                       momentum=s.momentum, weight_decay=s.weight_decay, clip=s.clip)

    def local_steps(self, samples: int) -> int:
        """Minibatches one client takes per round (what :func:`~.local.batch_order` must draw)."""
        s = self.schedule
        return (s.epochs + s.head_epochs) * math.ceil(samples / s.batch_size)

    def local_batch_size(self) -> int:
        return self.schedule.batch_size

    def train(self, received, private, x, y, order):
        """One round of local training of ``C`` clients: ``received`` as :meth:`download` gives it,
        ``private: {name: (C, ...)}``, ``x: (C, N, D)``, ``y: (C, N)``, ``order: (C, steps, batch)``.
        Returns ``(upload {name: (C, ...)}, private, loss (C,))``."""
        raise NotImplementedError

    def client_update_payload(self, received, private, x, y, order) -> dict[str, Tensor]:
        """Exactly what the clients upload after a round of local training: ``{name: (C, ...)}``
        (what a gradient-inversion attacker on the server sees)."""
        return self.train(received, private, x, y, order)[0]

    @torch.no_grad()
    def evaluate(self, received, private, x: Tensor, y: Tensor) -> Tensor:
        """Each client's accuracy ``(C,)`` on its own ``x: (C, M, D)``, ``y: (C, M)``."""
        predict = vmap(lambda r, p, xs: self.logits(r, p, xs).argmax(-1),
                       in_dims=(None if self.broadcast else 0, 0, 0))
        return (predict(received, private, x) == y).float().mean(1)


class FedAvg(FederatedMethod):
    """FedAvg (McMahan et al. 2017): clients train the whole model, the server averages it."""

    name = "fedavg"

    def init_server(self):
        return {k: v.detach().clone() for k, v in self.target.named_parameters()}

    def train(self, received, private, x, y, order):
        spec = self.spec(self.schedule.epochs + self.schedule.head_epochs, self.schedule.lr, x.shape[1])
        received = self.per_client(received, x.shape[0])
        new, private, loss = self._run(received, private, x, y, order, spec, {f"r.{k}" for k in received})
        return new, private, loss


class Local(FederatedMethod):
    """Local-only: every client trains its own model on its own data; nothing is shared."""

    name = "local"
    private_parts = ("the whole model",)

    def init_clients(self, client_ids, total_clients):
        return _stack(dict(self.target.named_parameters()), len(client_ids))

    def download(self, server, client_ids):
        return {}

    def expected_upload(self, server):
        return {}

    def train(self, received, private, x, y, order):
        spec = self.spec(self.schedule.epochs + self.schedule.head_epochs, self.schedule.lr, x.shape[1])
        _, private, loss = self._run(received, private, x, y, order, spec, {f"p.{k}" for k in private})
        return {}, private, loss


class _CodeToWeights(nn.Module):
    """``hnet.flat_from_code`` as a module's forward, so ``functional_call`` can run it."""

    def __init__(self, hnet: HyperNetwork):
        super().__init__()
        self.hnet = hnet

    def forward(self, code: Tensor) -> Tensor:
        return self.hnet.flat_from_code(code)


class HyperFL(FederatedMethod):
    """HyperFL (Guo et al., AAAI 2025): a hypernetwork generates each client's feature extractor
    from the client's private embedding; only the hypernetwork is uploaded and averaged; the
    embedding and the classifier head stay on the client.

    Args:
        embedding_dim: client embedding width (64 in the paper).
        hidden: the hypernetwork's hidden widths (``(128,)`` in the paper).
        head: a registered head's name: ``"PerTensorHead"`` (the paper's design: one linear head
            per generated tensor), ``"ChunkedHead"``, ``"LowRankHead"``.
        head_options: keyword arguments of the head (e.g. ``{"rank": 4}``).
        hnet_options: keyword arguments of the :class:`~hyperweights.HyperNetwork` (``init``,
            ``feature_scale``); default the core's.

    Example:
        >>> import torch
        >>> m = HyperFL(schedule=Schedule(epochs=1, head_epochs=1, batch_size=4))
        >>> ids = torch.tensor([0, 1])
        >>> server, private = m.init_server(), m.init_clients(ids, 2)
        >>> sorted(private)
        ['embedding', 'fc2.bias', 'fc2.weight']
        >>> any(k.startswith("condition") for k in server)     # the embedding never reaches it
        False
    """

    name = "hyperfl"
    private_parts = ("client embedding", "classifier head fc2")
    generate = EXTRACTOR

    def __init__(self, *, embedding_dim: int = 64, hidden: tuple[int, ...] = (128,), head: str = "PerTensorHead",
                 head_options: dict | None = None, hnet_options: dict | None = None, **kwargs):
        self.embedding_dim, self.hidden = embedding_dim, tuple(hidden)
        self.head_name, self.head_options = head, dict(head_options or {})
        self.hnet_options = dict(hnet_options or {})
        unknown = sorted(set(self.hnet_options) - {"init", "feature_scale"})
        if unknown:
            raise ValueError(f"HyperFL's hnet_options takes 'init' and 'feature_scale', got {unknown}")
        super().__init__(**kwargs)
        self.hnet = _seeded(self.seed + 1, lambda: HyperNetwork(
            self.target, generate=self.generate, condition=TaskEmbedding(1, embedding_dim),
            trunk=MLP(self.hidden), head=create_head(head, **self.head_options), **self.hnet_options))
        self.generator = _CodeToWeights(self.hnet)

    def init_server(self):
        return {f"hnet.{k}": v.detach().clone() for k, v in self.hnet.named_parameters()
                if not k.startswith("condition.")}

    def init_clients(self, client_ids, total_clients):
        table = torch.randn(total_clients, self.embedding_dim, generator=torch.Generator().manual_seed(self.seed + 2))
        head = {k: v for k, v in self.target.named_parameters() if k.startswith("fc2.")}
        return {"embedding": table[client_ids], **_stack(head, len(client_ids))}

    def extractor(self, received, embedding: Tensor) -> dict[str, Tensor]:
        flat = functional_call(self.generator, received, (embedding.unsqueeze(0),))
        return {k: v[0] for k, v in self.hnet.unflatten(flat).items()}

    def fixed_parameters(self) -> dict[str, Tensor]:
        """Target parameters neither generated nor private (none here; LPM's frozen backbone)."""
        return {}

    def params_of(self, received, private):
        head = {k: v for k, v in private.items() if k != "embedding"}
        return {**self.fixed_parameters(), **self.extractor(received, private["embedding"]), **head}

    def train(self, received, private, x, y, order):
        s = self.schedule
        received = self.per_client(received, x.shape[0])
        head_steps = s.head_epochs * math.ceil(x.shape[1] / s.batch_size)
        head_spec = self.spec(s.head_epochs, s.head_lr, x.shape[1])
        heads = {f"p.{k}" for k in private if k != "embedding"}
        _, private, loss_head = self._run(received, private, x, y, order[:, :head_steps], head_spec, heads)
        body = {f"r.{k}" for k in received} | {"p.embedding"}
        received, private, loss = self._run(received, private, x, y, order[:, head_steps:],
                                            self.spec(s.epochs, s.lr, x.shape[1]), body)
        return received, private, loss


class HyperFLLPM(HyperFL):
    """HyperFL-LPM: a frozen (pretrained) backbone, the hypernetwork generates only its adapters.

    Args:
        backbone: the backbone's parameters ``{name: tensor}`` (e.g. pretrained on public data);
            default: the seeded initialisation.
        bottleneck: adapter bottleneck width.
    """

    name = "hyperfl_lpm"
    generate = ADAPTERS

    def __init__(self, *, backbone: dict[str, Tensor] | None = None, bottleneck: int = 8, **kwargs):
        self.bottleneck = bottleneck
        super().__init__(**kwargs)
        own = {k: v.detach() for k, v in self.target.named_parameters()
               if not k.startswith(("adapt", "fc2."))}
        if backbone is not None:
            missing = sorted(set(own) - set(backbone))
            if missing:
                raise ValueError(f"the backbone lacks {missing}; it needs the parameters {sorted(own)}")
            own = {k: backbone[k].detach().to(own[k].dtype) for k in own}
        self.backbone = own

    def build_target(self):
        return AdaptedCNN(self.num_classes, bottleneck=self.bottleneck, **self.cnn)

    def fixed_parameters(self):
        return self.backbone


class PFedHN(FederatedMethod):
    """pFedHN (Shamsian et al., ICML 2021): a server-side hypernetwork generates each client's
    model from a learned client embedding; a client trains it for a few steps and sends back
    ``Δθ = θ - θ̃``; the server updates the hypernetwork and the embedding with the VJP
    ``(∂θ/∂φ)ᵀ Δθ`` (SGD with momentum).

    With several clients per round the hypernetwork's gradient is the mean of the clients' VJPs
    and each embedding gets its own client's (pFedHN takes one client per server step).

    Args:
        embedding_dim: default ``1 + total_clients / 4`` as in the paper (pass ``total_clients``).
        hidden: the hypernetwork's MLP (paper: 100 x 3).
        inner_steps, inner_lr, inner_momentum, inner_wd, batch_size: the client's local SGD
            (paper: 50 steps, 5e-3, 0.9, 5e-5, batch 64).
        server_lr, server_momentum, server_wd: the server's SGD (paper: 1e-2, 0.9, 1e-3).
    """

    name = "pfedhn"
    generate = r".*"

    def __init__(self, *, total_clients: int = 20, embedding_dim: int | None = None,
                 hidden: tuple[int, ...] = (100, 100, 100), inner_steps: int = 50, inner_lr: float = 5e-3,
                 inner_momentum: float = 0.9, inner_wd: float = 5e-5, batch_size: int = 64,
                 server_lr: float = 1e-2, server_momentum: float = 0.9, server_wd: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.total_clients = total_clients
        self.embedding_dim = embedding_dim or int(1 + total_clients / 4)
        self.inner = SGDSpec(steps=inner_steps, batch_size=batch_size, lr=inner_lr, momentum=inner_momentum,
                             weight_decay=inner_wd)
        self.server_lr, self.server_momentum, self.server_wd = server_lr, server_momentum, server_wd
        self.hnet = _seeded(self.seed + 1, lambda: HyperNetwork(
            self.target, generate=self.generate, condition=TaskEmbedding(total_clients, self.embedding_dim),
            trunk=MLP(tuple(hidden)), head=PerTensorHead()))

    broadcast = False
    aggregates_by_average = False

    def expected_upload(self, server):
        return {s.name: s.shape for s in self.hnet.specs}

    def local_steps(self, samples: int) -> int:
        return self.inner.steps

    def local_batch_size(self) -> int:
        return self.inner.batch_size

    def init_server(self):
        return {f"hnet.{k}": v.detach().clone() for k, v in self.hnet.named_parameters()}

    def _hnet_params(self, server):
        return {k[5:]: v for k, v in server.items() if k.startswith("hnet.")}

    def download(self, server, client_ids):
        return functional_call(self.hnet, self._hnet_params(server), (client_ids,))

    def train(self, received, private, x, y, order):
        trained, private, loss = self._run(received, private, x, y, order, self.inner,
                                           {f"r.{k}" for k in received} | {f"p.{k}" for k in private})
        return {k: received[k] - trained[k] for k in received}, private, loss

    def aggregate(self, server, uploads, weights, client_ids):
        """One server step: ``g = VJP(Δθ)``, SGD with momentum on the hypernetwork and embeddings."""
        params = {k: v.detach().requires_grad_(True) for k, v in self._hnet_params(server).items()}
        theta = functional_call(self.hnet, params, (client_ids,))
        names = list(uploads)
        grads = torch.autograd.grad([theta[k] for k in names], list(params.values()),
                                    grad_outputs=[uploads[k] for k in names], allow_unused=True)
        new = dict(server)
        clients = len(client_ids)
        for (name, p), g in zip(params.items(), grads):
            g = torch.zeros_like(p) if g is None else g
            if not name.startswith("condition."):   # the hypernetwork: the mean of the clients' VJPs
                g = g / clients
            g = g + self.server_wd * p.detach()
            key = f"hnet.{name}"
            if self.server_momentum:
                buf = server.get(f"momentum.{name}")
                buf = g if buf is None else self.server_momentum * buf + g
                new[f"momentum.{name}"] = buf.detach()
                g = buf
            new[key] = (p - self.server_lr * g).detach()
        return new


class PFedHNPC(PFedHN):
    """pFedHN-PC: the hypernetwork generates the feature extractor; each client keeps a personal
    classifier head, trained locally and never sent."""

    name = "pfedhn_pc"
    generate = EXTRACTOR
    private_parts = ("classifier head fc2",)

    def init_clients(self, client_ids, total_clients):
        head = {k: v for k, v in self.target.named_parameters() if k.startswith("fc2.")}
        return _stack(head, len(client_ids))


METHODS = {m.name: m for m in (FedAvg, Local, HyperFL, HyperFLLPM, PFedHN, PFedHNPC)}


def build_method(name: str, **options) -> FederatedMethod:
    """A method by name (:data:`METHODS`) from JSON-able options (``schedule`` as a dict).

    Example:
        >>> build_method("fedavg", seed=1, schedule={"epochs": 1}).schedule.epochs
        1
    """
    if name not in METHODS:
        raise ValueError(f"unknown federated method {name!r}; choose one of {sorted(METHODS)}")
    if isinstance(options.get("schedule"), dict):
        options["schedule"] = Schedule(**options["schedule"])
    return METHODS[name](**options)
