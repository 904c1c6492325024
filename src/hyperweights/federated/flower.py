"""The Flower engine (``flwr`` 1.x Message API): a ``ServerApp`` and a ``ClientApp`` for every method.

The client code is the engine-independent method's (``C = 1``); the server:

1. asks every node for its ``partition-id`` (a ``query`` message) so it can sample clients and
   address pFedHN's per-client models exactly as the in-process loop does;
2. per round sends ``train`` messages (HyperFL / FedAvg: the same ``ArrayRecord`` to every sampled
   node; pFedHN: each client's generated model), waits at most ``round-timeout`` seconds, rejects
   malformed replies with a logged reason (:func:`~hyperweights.federated.check_update`), and
   aggregates: HyperFL / FedAvg with Flower's stock ``FedAvg.aggregate_train``, pFedHN with the
   server-side VJP step of :meth:`PFedHN.aggregate`;
3. sends ``evaluate`` messages to all nodes and records the round (clients that answered, rejected
   updates, mean client accuracy, bytes per client);
4. writes its state, round and history atomically (``checkpoint``); with ``resume`` it continues
   from there. Clients keep their private parts in ``context.state`` and, with
   ``client-state-dir``, also on disk via ``hw.save`` (a restarted client continues).

Settings come from the run config (``[tool.flwr.app.config]`` of the app folder, ``flwr run
--run-config``) over :data:`DEFAULTS`, or from :func:`make_apps` keyword arguments for
``flwr.simulation.run_simulation``. Fault injection for tests: ``fault-drop`` / ``fault-nan`` =
``"partition:round"`` makes that client fail or send NaN in that round.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor

with warnings.catch_warnings():
    # flwr 1.42 imports typer, which reads click.utils.get_*_stream, deprecated in this click
    warnings.filterwarnings("ignore", message=".*click.utils.get_", category=DeprecationWarning)
    from flwr.app import ArrayRecord, ConfigRecord, Context, Error, Message, MessageType, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp
    from flwr.serverapp import Grid, ServerApp
    from flwr.serverapp.strategy import FedAvg as FlowerFedAvg

from ..data import load_dataset
from ..io import load, save
from .checks import check_update
from .local import batch_order, round_generator
from .methods import FederatedMethod, build_method
from .partition import FederatedData, partition
from .simulate import _load, _save, sample_clients
from .state import ClientState

__all__ = ["DEFAULTS", "make_apps", "client_app", "server_app", "settings_of"]

log = logging.getLogger("hyperweights.federated")

#: every setting of a run, with its default (run-config keys)
DEFAULTS = {
    "method": "hyperfl", "method-options": "{}", "dataset": "fashion_mnist", "scheme": "s",
    "num-clients": 2, "train-per-client": 100, "test-per-client": 50, "seed": 0, "num-rounds": 2,
    "fraction": 1.0, "round-timeout": 600.0, "checkpoint": "", "resume": False,
    "client-state-dir": "", "fault-drop": "", "fault-nan": "", "fault-crash-after": 0,
}


def settings_of(context: Context, overrides: dict) -> dict:
    """:data:`DEFAULTS` <- the run config <- ``overrides``; unknown keys are an error."""
    settings = dict(DEFAULTS)
    for source in (dict(context.run_config), overrides):
        unknown = sorted(set(source) - set(DEFAULTS))
        if unknown:
            raise ValueError(f"unknown federated run setting(s) {unknown}; known: {sorted(DEFAULTS)}")
        settings.update(source)
    return settings


@lru_cache(maxsize=2)
def _dataset(name: str, seed: int):
    return load_dataset(name, seed=seed)


@lru_cache(maxsize=4)
def _setup(key: str) -> tuple[FederatedMethod, FederatedData]:
    s = json.loads(key)
    options = json.loads(s["method-options"])
    if s["method"].startswith("pfedhn"):
        options.setdefault("total_clients", s["num-clients"])
    method = build_method(s["method"], seed=s["seed"], **options)
    split = _dataset(s["dataset"], s["seed"])
    data = partition(split, s["scheme"], s["num-clients"], train_per_client=s["train-per-client"],
                     test_per_client=s["test-per-client"], seed=s["seed"])
    return method, data


def setup(settings: dict) -> tuple[FederatedMethod, FederatedData]:
    """The method and the partitioned data of a run (cached per process)."""
    keys = ("method", "method-options", "dataset", "scheme", "num-clients", "train-per-client",
            "test-per-client", "seed")
    return _setup(json.dumps({k: settings[k] for k in keys}, sort_keys=True))


def _fault(spec: str, partition_id: int, server_round: int) -> bool:
    return bool(spec) and f"{partition_id}:{server_round}" in spec.split(",")


# ---------------------------------------------------------------------------------- client side
def _private_state(method, settings, context: Context, pid: int, before: int) -> dict[str, Tensor]:
    """The client's private state as of its last completed round ``<= before``."""
    held = context.state.get("private")
    if held is not None and int(context.state["meta"]["completed-round"]) <= before:
        return {k: v.unsqueeze(0) for k, v in held.to_torch_state_dict().items()}
    folder = settings["client-state-dir"]
    if folder:
        files = sorted(Path(folder).glob(f"client-{pid}-r*.safetensors"),
                       key=lambda p: int(p.stem.rsplit("-r", 1)[1]))
        files = [f for f in files if int(f.stem.rsplit("-r", 1)[1]) <= before]
        if files:
            return {k: v.unsqueeze(0) for k, v in load(files[-1]).tensors.items()}
    return method.init_clients(torch.tensor([pid]), settings["num-clients"])


def _keep_private(method, settings, context: Context, pid: int, private: dict, server_round: int) -> None:
    one = {k: v[0].contiguous() for k, v in private.items()}
    context.state["private"] = ArrayRecord(one)
    context.state["meta"] = ConfigRecord({"completed-round": server_round})
    folder = settings["client-state-dir"]
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        save(ClientState(method.name, pid, one, server_round), Path(folder) / f"client-{pid}-r{server_round}.safetensors")
        old = sorted(Path(folder).glob(f"client-{pid}-r*.safetensors"), key=lambda p: int(p.stem.rsplit("-r", 1)[1]))
        for stale in old[:-2]:   # a server restarted one round back still finds its round
            stale.unlink(missing_ok=True)


def _received(method: FederatedMethod, msg: Message) -> dict[str, Tensor]:
    arrays = msg.content["arrays"].to_torch_state_dict()
    return dict(arrays) if method.broadcast else {k: v.unsqueeze(0) for k, v in arrays.items()}


def make_client_app(**overrides) -> ClientApp:
    """A ``ClientApp`` (``partition-id`` / ``num-partitions`` from the node config)."""
    app = ClientApp()

    @app.query()
    def query(msg: Message, context: Context) -> Message:
        pid = int(context.node_config["partition-id"])
        return Message(RecordDict({"info": MetricRecord({"partition-id": pid})}), reply_to=msg)

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        settings = settings_of(context, overrides)
        method, data = setup(settings)
        pid = int(context.node_config["partition-id"])
        server_round = int(msg.content["config"]["server-round"])
        if _fault(settings["fault-drop"], pid, server_round):
            raise RuntimeError(f"fault injection: client {pid} drops out in round {server_round}")
        ids = torch.tensor([pid])
        private = _private_state(method, settings, context, pid, server_round - 1)
        samples = data.samples_per_client
        order = batch_order(ids, data.num_clients, samples, method.local_steps(samples),
                            method.local_batch_size(), round_generator(settings["seed"], server_round))
        upload, private, loss = method.train(_received(method, msg), private, data.x_train[ids],
                                             data.y_train[ids], order)
        _keep_private(method, settings, context, pid, private, server_round)
        one = {k: v[0].contiguous() for k, v in upload.items()}
        if _fault(settings["fault-nan"], pid, server_round):
            one = {k: torch.full_like(v, float("nan")) for k, v in one.items()}
        metrics = MetricRecord({"num-examples": samples, "train-loss": float(loss[0]), "partition-id": pid})
        return Message(RecordDict({"arrays": ArrayRecord(one), "metrics": metrics}), reply_to=msg)

    @app.evaluate()
    def evaluate(msg: Message, context: Context) -> Message:
        settings = settings_of(context, overrides)
        method, data = setup(settings)
        pid = int(context.node_config["partition-id"])
        server_round = int(msg.content["config"]["server-round"])
        private = _private_state(method, settings, context, pid, server_round)
        ids = torch.tensor([pid])
        acc = method.evaluate(_received(method, msg), private, data.x_test[ids], data.y_test[ids])
        metrics = MetricRecord({"num-examples": data.x_test.shape[1], "accuracy": float(acc[0]),
                                "partition-id": pid})
        return Message(RecordDict({"metrics": metrics}), reply_to=msg)

    return app


# ---------------------------------------------------------------------------------- server side
def _discover(grid: Grid, expected: int, timeout: float) -> dict[int, int]:
    """``partition-id -> node id`` of every connected node. Waits up to ``timeout`` for ``expected``
    nodes and for their answers (a node's first message starts its ClientApp, slow on a busy
    machine); proceeds with those that answered, or fails when none did."""
    deadline = time.monotonic() + timeout
    while len(list(grid.get_node_ids())) < expected and time.monotonic() < deadline:
        time.sleep(0.5)
    found: dict[int, int] = {}
    reasons: list[str] = []
    while len(found) < expected and time.monotonic() < deadline:
        waiting = sorted(set(grid.get_node_ids()) - set(found.values()))
        queries = [Message(RecordDict(), dst_node_id=n, message_type=MessageType.QUERY) for n in waiting]
        for reply in grid.send_and_receive(queries, timeout=max(1.0, deadline - time.monotonic())):
            if reply.has_content():
                found[int(reply.content["info"]["partition-id"])] = reply.metadata.src_node_id
            else:
                reasons.append(reply.error.reason)
        if reasons and not found:
            break
    if not found:
        raise RuntimeError(f"no node answered the partition query within {timeout:.0f} s: {reasons[:3]}")
    if len(found) < expected:
        log.warning("only partitions %s of %d answered; running with them", sorted(found), expected)
    return found


def _messages(method, server, ids: Tensor, nodes: dict[int, int], kind: str, server_round: int):
    received = method.download(server, ids)
    config = ConfigRecord({"server-round": server_round})
    shared = ArrayRecord({k: v.contiguous() for k, v in received.items()}) if method.broadcast else None
    messages, sent = [], 0
    for i, pid in enumerate(ids.tolist()):   # one message per node: the transport is per client
        arrays = shared if shared is not None else ArrayRecord({k: v[i].contiguous() for k, v in received.items()})
        sent = arrays.count_bytes()
        messages.append(Message(RecordDict({"arrays": arrays, "config": config}), dst_node_id=nodes[pid],
                                message_type=kind))
    return messages, sent


def _screen(replies, expected: dict[str, tuple]) -> tuple[list[Message], int, list[str]]:
    """Valid replies (sorted by partition), count of failed clients, reasons of rejected updates."""
    valid, failed, rejected = [], 0, []
    for reply in replies:
        if reply.has_error():
            failed += 1
            log.warning("client on node %s failed: %s", reply.metadata.src_node_id, reply.error.reason)
            continue
        update = reply.content["arrays"].to_torch_state_dict()
        reason = check_update(update, expected)
        if reason is not None:
            rejected.append(reason)
            log.warning("rejected the update of node %s: %s", reply.metadata.src_node_id, reason)
            continue
        valid.append(reply)
    return sorted(valid, key=lambda r: int(r.content["metrics"]["partition-id"])), failed, rejected


def run_server(grid: Grid, settings: dict, after_round: Callable[[int], None] | None = None) -> list[dict]:
    """The server loop (see the module docstring); returns the history. ``after_round(r)`` runs
    after round ``r`` is recorded, outside its timing (the overhead benchmark steps the
    in-process loop there, so the two alternate round by round in one process)."""
    method, data = setup(settings)
    total, seed = settings["num-clients"], settings["seed"]
    nodes = _discover(grid, total, 5 * settings["round-timeout"])
    run_settings = {"method": method.name, "seed": seed, "fraction": settings["fraction"], "clients": total}
    path = Path(settings["checkpoint"]) if settings["checkpoint"] else None
    server, history, done = method.init_server(), [], 0
    if settings["resume"] and path is not None and path.exists():
        server, _, history, done = _load(path, run_settings)
        log.info("resumed from %s after round %d", path, done)
    stock = FlowerFedAvg(min_available_nodes=1, min_train_nodes=1, min_evaluate_nodes=1)
    names = method.expected_upload(server)
    for server_round in range(done + 1, settings["num-rounds"] + 1):
        tic = time.perf_counter()
        ids = sample_clients(seed, server_round, total, settings["fraction"])
        ids = ids[torch.tensor([int(p) in nodes for p in ids.tolist()], dtype=torch.bool)]
        messages, down = _messages(method, server, ids, nodes, MessageType.TRAIN, server_round)
        replies = list(grid.send_and_receive(messages, timeout=settings["round-timeout"]))
        dropped = len(messages) - len(replies)
        valid, failed, rejected = _screen(replies, names)
        dropped += failed
        if valid and names:
            if method.aggregates_by_average:
                arrays, _ = stock.aggregate_train(server_round, valid)
                server = {k: v.clone() for k, v in arrays.to_torch_state_dict().items()}
            else:
                part = torch.tensor([int(r.content["metrics"]["partition-id"]) for r in valid])
                each = [r.content["arrays"].to_torch_state_dict() for r in valid]
                uploads = {k: torch.stack([u[k] for u in each]) for k in names}
                weights = torch.tensor([float(r.content["metrics"]["num-examples"]) for r in valid])
                server = method.aggregate(server, uploads, weights, part)
        losses = torch.tensor([float(r.content["metrics"]["train-loss"]) for r in valid], dtype=torch.float32)
        up = valid[0].content["arrays"].count_bytes() if valid else 0
        evals, _ = _messages(method, server, torch.tensor(sorted(nodes)), nodes, MessageType.EVALUATE, server_round)
        answers = sorted((r for r in grid.send_and_receive(evals, timeout=settings["round-timeout"]) if r.has_content()),
                         key=lambda r: int(r.content["metrics"]["partition-id"]))
        accuracy = torch.tensor([float(r.content["metrics"]["accuracy"]) for r in answers], dtype=torch.float32)
        errors = [r.error.reason[-300:] for r in replies if r.has_error()]
        history.append({"round": server_round, "clients": len(valid), "rejected": len(rejected), "dropped": dropped,
                        "reasons": rejected + errors,
                        "train_loss": float(losses.mean()) if len(losses) else float("nan"),
                        "accuracy": float(accuracy.mean()) if len(accuracy) else float("nan"),
                        "bytes_up": up, "bytes_down": down,
                        "seconds": time.perf_counter() - tic})
        log.info("round %d: %s", server_round, history[-1])
        if path is not None:
            _save(path, server, {}, history, server_round, run_settings)
        if settings["fault-crash-after"] and server_round == settings["fault-crash-after"]:
            raise SystemExit(f"fault injection: the server stops after round {server_round}")
        if after_round is not None:
            after_round(server_round)
    return history


def make_server_app(results: list | None = None, after_round: Callable[[int], None] | None = None,
                    **overrides) -> ServerApp:
    """A ``ServerApp``; the history of the run is appended to ``results`` when given
    (``after_round``: see :func:`run_server`)."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        history = run_server(grid, settings_of(context, overrides), after_round)
        if results is not None:
            results.extend(history)

    return app


def make_apps(results: list | None = None, after_round: Callable[[int], None] | None = None,
              **overrides) -> tuple[ServerApp, ClientApp]:
    """``(server_app, client_app)`` with the run settings ``overrides`` (``num_rounds=3`` or
    ``"num-rounds": 3``; ``after_round``: see :func:`run_server`)."""
    overrides = {k.replace("_", "-"): v for k, v in overrides.items()}
    return make_server_app(results, after_round, **overrides), make_client_app(**overrides)


#: the apps of ``flwr run`` (settings from the run config)
server_app = make_server_app()
client_app = make_client_app()


def simulate(settings: dict, num_nodes: int | None = None, cpus: int | None = None,
             after_round: Callable[[int], None] | None = None) -> list[dict]:
    """Run on Flower's simulation runtime (Ray, one CPU per client); returns the history.

    Ray leaves files and subprocesses behind that a strict warning filter reports: call it in a
    process of its own (``python -m hyperweights.federated.flower simulate``) where that matters.
    """
    import os

    from flwr.simulation import run_simulation
    os.environ.setdefault("FLWR_DISABLE_UPDATE_CHECK", "1")
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")   # else Ray warns on num_gpus=0
    rows: list[dict] = []
    server, client = make_apps(rows, after_round, **settings)
    nodes = num_nodes or int(settings.get("num-clients", DEFAULTS["num-clients"]))
    backend = {"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
               "init_args": {"num_cpus": cpus or min(nodes, os.cpu_count() or 1), "include_dashboard": False}}
    run_simulation(server, client, num_supernodes=nodes, backend_config=backend)
    return rows


def _main(argv: list[str] | None = None) -> int:
    import argparse
    parser = argparse.ArgumentParser(prog="python -m hyperweights.federated.flower",
                                     description="run a federated method on Flower's simulation runtime")
    parser.add_argument("command", choices=["simulate"])
    parser.add_argument("--settings", default="{}", help="JSON object of run settings (keys of DEFAULTS)")
    parser.add_argument("--out", required=True, help="JSON file the round history is written to")
    args = parser.parse_args(argv)
    rows = simulate(json.loads(args.settings))
    Path(args.out).write_text(json.dumps(rows))
    return 0


if __name__ == "__main__":
    # run the imported module's copy: Ray pickles the apps by module, and "__main__" is not importable
    from hyperweights.federated import flower as _module
    raise SystemExit(_module._main())
