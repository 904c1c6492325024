"""The in-process reference loop: every round's clients trained in batched calls, one process.

A Flower run with the same method, data and seed takes the same steps (the client code is the
same, with ``C = 1``; minibatch order and client sampling come from generators seeded by
``(seed, round)``), so its round-by-round metrics equal this loop's (``tests/test_federated_flower.py``).

The server state, every client's private state and the history are checkpointed atomically after
every round when ``checkpoint_path`` is set; ``resume=True`` continues from the last completed
round and ends exactly where an uninterrupted run ends.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from .._files import load_tensors, save_tensors
from ..bench.progress import progress
from ..training import FitResult, TrainConfig, config_field
from .checks import finite_clients
from .local import batch_order, round_generator
from .methods import FederatedMethod, payload_bytes
from .partition import FederatedData

__all__ = ["FederatedConfig", "fit", "run_round", "evaluate", "sample_clients", "RUN_KIND"]

RUN_KIND = "federated.Run"


@dataclass
class FederatedConfig(TrainConfig):
    """A federated run. The local optimiser is the method's (``Schedule`` / pFedHN's inner SGD);
    ``lr`` and ``batch_size`` of :class:`~hyperweights.training.TrainConfig` are not used."""

    rounds: int = config_field(10, "communication rounds")
    fraction: float = config_field(1.0, "fraction of the clients sampled per round (0 < f <= 1)")
    client_batch: int = config_field(10, "clients trained in one batched call (memory bound)")

    def validate(self) -> None:
        super().validate()
        self.positive_int("rounds")
        self.positive_int("client_batch")
        self._require("fraction", isinstance(self.fraction, (int, float)) and 0 < self.fraction <= 1,
                      "a number in (0, 1]")


def sample_clients(seed: int, server_round: int, total: int, fraction: float) -> Tensor:
    """The sorted ids of the clients of round ``server_round`` (all of them when ``fraction == 1``).

    Example:
        >>> sample_clients(0, 1, 10, 0.3).tolist() == sorted(sample_clients(0, 1, 10, 0.3).tolist())
        True
    """
    count = max(1, round(fraction * total))
    if count >= total:
        return torch.arange(total)
    perm = torch.randperm(total, generator=round_generator(seed, server_round, stream=1))
    return perm[:count].sort().values


def _slice(arrays: dict[str, Tensor], ids: Tensor) -> dict[str, Tensor]:
    return {k: v[ids] for k, v in arrays.items()}


def train_clients(method: FederatedMethod, server: dict[str, Tensor], private: dict[str, Tensor],
                  data: FederatedData, ids: Tensor, seed: int, server_round: int, client_batch: int):
    """Local training of clients ``ids`` in groups of ``client_batch`` batched calls; returns the
    uploads ``{name: (C, ...)}``, the new private state of those clients, their losses ``(C,)`` and
    the arrays sent to one client."""
    samples = data.samples_per_client
    order = batch_order(ids, data.num_clients, samples, method.local_steps(samples),
                        method.local_batch_size(), round_generator(seed, server_round))
    received = method.download(server, ids)
    uploads, privates, losses = [], [], []
    for start in range(0, len(ids), client_batch):   # memory bound: groups of batched clients
        part = slice(start, start + client_batch)
        got = received if method.broadcast else _slice(received, torch.arange(len(ids))[part])
        up, priv, loss = method.train(got, _slice(private, ids[part]), data.x_train[ids[part]],
                                      data.y_train[ids[part]], order[part])
        uploads.append(up)
        privates.append(priv)
        losses.append(loss)
    # one group (all clients in one batched call) needs no copy
    cat = lambda parts: parts[0] if len(parts) == 1 else {k: torch.cat([p[k] for p in parts]) for k in parts[0]}  # noqa: E731
    sent = received if method.broadcast else _slice(received, torch.arange(1))
    return cat(uploads), cat(privates), torch.cat(losses), sent


@torch.no_grad()
def evaluate(method: FederatedMethod, server: dict[str, Tensor], private: dict[str, Tensor],
             data: FederatedData, client_batch: int = 10) -> Tensor:
    """Every client's test accuracy ``(C,)`` with its personalised model (after aggregation)."""
    ids = torch.arange(data.num_clients)
    accs = []
    for start in range(0, len(ids), client_batch):
        part = ids[start:start + client_batch]
        received = method.download(server, part)
        accs.append(method.evaluate(received, _slice(private, part), data.x_test[part], data.y_test[part]))
    return torch.cat(accs)


def run_round(method: FederatedMethod, server: dict[str, Tensor], private: dict[str, Tensor],
              data: FederatedData, config: FederatedConfig, server_round: int) -> tuple[dict[str, Tensor], dict]:
    """One round of :func:`fit`: sample, train, screen, aggregate, evaluate.

    ``private`` (every client's, ``{name: (num_clients, ...)}``) is updated in place; returns the
    new server state and the round's history row (``seconds``: the round's wall time). A caller
    that steps rounds itself (the Flower-overhead benchmark interleaves them with Flower's) gets
    exactly :func:`fit`'s rounds.
    """
    tic = time.perf_counter()
    ids = sample_clients(config.seed, server_round, data.num_clients, config.fraction)
    uploads, new_private, loss, sent = train_clients(method, server, private, data, ids, config.seed,
                                                     server_round, config.client_batch)
    good = finite_clients(uploads, len(ids))   # a diverged client is left out, as on Flower
    weights = data.counts[ids].sum(1).to(torch.float32)
    if bool(good.all()):   # the usual case: no boolean-mask copy of every upload
        server = method.aggregate(server, uploads, weights, ids)
    elif bool(good.any()):
        server = method.aggregate(server, _slice(uploads, good), weights[good], ids[good])
    for k in private:
        private[k][ids] = new_private[k]
    accuracy = evaluate(method, server, private, data, config.client_batch)
    down = {k: v.unsqueeze(0) for k, v in sent.items()} if method.broadcast else sent
    return server, {"round": server_round, "clients": int(good.sum()), "rejected": int((~good).sum()), "dropped": 0,
                    "train_loss": float(loss.mean()), "accuracy": float(accuracy.mean()),
                    "bytes_up": payload_bytes(uploads), "bytes_down": payload_bytes(down),
                    "seconds": time.perf_counter() - tic}


def _save(path: Path, server, private, history, server_round, settings) -> None:
    tensors = {**{f"server.{k}": v for k, v in server.items()}, **{f"private.{k}": v for k, v in private.items()}}
    save_tensors(path, tensors, {"kind": RUN_KIND, "round": server_round, "history": history,
                                 "settings": settings})


def _load(path: Path, settings: dict):
    tensors, meta = load_tensors(path)
    if meta.get("kind") != RUN_KIND:
        raise ValueError(f"{path} is not a federated run checkpoint (kind {meta.get('kind')!r})")
    if meta.get("settings") != settings:
        raise ValueError(f"{path} was written by a run with other settings: {meta.get('settings')} "
                         f"vs now {settings}; resume with the same method, data and config")
    split = lambda p: {k[len(p):]: v for k, v in tensors.items() if k.startswith(p)}  # noqa: E731
    return split("server."), split("private."), meta["history"], meta["round"]


def fit(method: FederatedMethod, data: FederatedData, config: FederatedConfig) -> FitResult:
    """Run ``config.rounds`` rounds of ``method`` on ``data`` in process.

    Returns a :class:`~hyperweights.training.FitResult`: ``losses`` the mean client training loss
    per round, ``steps`` the rounds, ``extra``: ``history`` (per round: clients, mean test
    accuracy, bytes per client up and down, seconds), ``server`` and ``private`` (the final state).

    Example:
        >>> import torch
        >>> from hyperweights.data import Split
        >>> from hyperweights.federated import FedAvg, FederatedConfig, Schedule, fit, partition
        >>> x, y = torch.rand(200, 784), torch.arange(200) % 10
        >>> data = partition(Split(x, y, x, y), "iid", 2, train_per_client=20, test_per_client=10)
        >>> m = FedAvg(schedule=Schedule(epochs=1, head_epochs=0, batch_size=10))
        >>> run = fit(m, data, FederatedConfig(rounds=2, progress=False))
        >>> [row["clients"] for row in run.extra["history"]]
        [2, 2]
    """
    if not isinstance(method, FederatedMethod):
        raise TypeError(f"fit takes a FederatedMethod (FedAvg(), HyperFL(), ...), got {type(method).__name__}")
    if not isinstance(data, FederatedData):
        raise TypeError(f"fit takes the clients' data as a FederatedData (see partition()), got "
                        f"{type(data).__name__}")
    config.validate()
    settings = {"method": method.name, "seed": config.seed, "fraction": config.fraction,
                "clients": data.num_clients}
    path = Path(config.checkpoint_path) if config.checkpoint_path else None
    server, private = method.init_server(), method.init_clients(torch.arange(data.num_clients), data.num_clients)
    history: list[dict] = []
    done = 0
    if config.resume:
        server, private, history, done = _load(path, settings)
    start = time.perf_counter()
    bar = progress(total=config.rounds - done, desc=f"federated {method.name}", enabled=config.progress)
    for server_round in range(done + 1, config.rounds + 1):
        server, row = run_round(method, server, private, data, config, server_round)
        history.append(row)
        if path is not None and (config.checkpoint_every == 0 or server_round % max(config.checkpoint_every, 1) == 0):
            _save(path, server, private, history, server_round, settings)
        bar.update(1)
    bar.close()
    return FitResult(losses=[h["train_loss"] for h in history], seconds=time.perf_counter() - start,
                     steps=len(history), extra={"history": history, "server": server, "private": private})

