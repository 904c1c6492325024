"""Inverting Gradients on what a live run's clients upload after a round of local training.

The single-gradient study (:mod:`benchmarks.federated.attack`) attacks one gradient of one image
at initialisation, on its own replica of HyperFL's hypernetwork. Here the attacked objects are the
methods the accuracy runs train (``build_method("fedavg" | "hyperfl")``), and what is attacked is
their real upload: ``client_update_payload(received, private, x, y, order)`` after the method's
local round (momentum 0.5, weight decay, clipping; HyperFL a head epoch, then body epochs) on a
client's small local set. Threat model (Geiping et al. 2020, "federated averaging"):

- the server knows what it sent (``received``), the method and its schedule, the batch order of
  the round (drawn by ``batch_order`` from the run's seed and the round number, which the server
  sets) and the labels of the client's images; it sees the upload;
- it replays the client's round on dummy images, differentiably
  (:func:`hyperweights.federated.multistep.upload_simulator`), and matches ``upload - received``
  by cosine distance + TV with Inverting Gradients' optimiser;
- HyperFL's embedding and head never leave the client: ``joint`` guesses them from the clients'
  initial distribution and optimises them with the images, ``recovered`` reads the embedding off
  the upload in closed form (:func:`recover_embedding`, after removing weight decay's known term),
  ``oracle`` is handed the client's true private state (the control).

Two server states: ``init`` (round 1 of a fresh run) and ``trained`` (the next round after
``rounds`` rounds of ``hyperweights.federated.fit`` on the same clients). Writes
``results/federated/federated_attack_multistep[_smoke].json`` and ``.png``. Run it with
``hyperweights bench federated-attack --threat multistep [--smoke]``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from hyperweights.bench import markdown_table, write_results
from hyperweights.bench.progress import progress
from hyperweights.bench.report import result_path
from hyperweights.data import load_fashion_mnist, load_mnist5k
from hyperweights.federated import FederatedConfig, build_method, fit, partition
from hyperweights.federated.attacks import inverting_gradients, reconstruction_quality
from hyperweights.federated.local import batch_order, round_generator
from hyperweights.federated.multistep import observed_update, upload_simulator

from .attack import CLASSES, MULTISTEP_ROWS, SHAPE, _client_state, _plot, attack_goals, recover_embedding

__all__ = ["MultistepConfig", "ROWS", "attack_live_clients", "live_upload", "run"]

PRIVATE = ["embedding", "fc2.weight", "fc2.bias"]       # HyperFL's private parts, as init_clients names them
ROWS = [tuple(r.split("-")) for r in MULTISTEP_ROWS]   # (method, attacker)
STATES = ("init", "trained")


@dataclass
class MultistepConfig:
    """The study: the live run, the attacked clients and the attack's budget."""

    dataset: str = "fashion"             # "fashion" (Fashion-MNIST) or "mnist5k"
    clients: int = 2                     # clients of the run, all attacked at once
    images: int = 4                      # each client's local training set (= one batch)
    epochs: int = 1                      # Schedule.epochs (HyperFL: body epochs after the head epoch)
    head_epochs: int = 1                 # Schedule.head_epochs (FedAvg trains everything for both)
    rounds: int = 3                      # rounds of fit() before the "trained" state is attacked
    hidden: tuple[int, ...] = (128,)     # HyperFL's hypernetwork trunk (the paper's)
    seeds: tuple[int, ...] = (0, 1, 2)
    states: tuple[str, ...] = STATES
    ig_steps: int = 200
    tv_weight: float = 1e-4
    lr: float = 0.1
    unknowns_lr: float = 0.01


def _method(name: str, config: MultistepConfig, seed: int):
    schedule = {"epochs": config.epochs, "head_epochs": config.head_epochs, "batch_size": config.images}
    extra = {"hidden": config.hidden} if name == "hyperfl" else {}
    return build_method(name, seed=seed, schedule=schedule, **extra)


def live_upload(method, data, state: str, seed: int, rounds: int) -> dict:
    """The next upload of every client of ``data``: at the fresh run's round 1 (``"init"``), or
    at round ``rounds + 1`` after :func:`~hyperweights.federated.fit` (``"trained"``).

    Returns ``{"received", "private" (before the round), "order", "upload", "accuracy"}``."""
    ids = torch.arange(data.num_clients)
    if state == "init":
        server, private, done, accuracy = method.init_server(), method.init_clients(ids, len(ids)), 0, None
    else:
        result = fit(method, data, FederatedConfig(rounds=rounds, seed=seed, progress=False))
        server, private, done = result.extra["server"], result.extra["private"], rounds
        accuracy = result.extra["history"][-1]["accuracy"]
    samples = data.samples_per_client            # the order train_clients draws for this round
    order = batch_order(ids, data.num_clients, samples, method.local_steps(samples), method.local_batch_size(),
                        round_generator(seed, done + 1))
    received = method.download(server, ids)
    upload = method.client_update_payload(received, private, data.x_train, data.y_train, order)
    return {"received": received, "private": private, "order": order, "upload": upload, "accuracy": accuracy}


def _to(value, device: torch.device):
    """A tensor or ``{name: tensor}`` moved to ``device`` (other values as they are)."""
    if isinstance(value, dict):
        return {k: v.to(device) for k, v in value.items()}
    return value.to(device) if isinstance(value, Tensor) else value


def _without_decay(method, received: dict[str, Tensor], update: dict[str, Tensor]) -> dict[str, Tensor]:
    """The trunk's update with weight decay's term of the first body step (``-lr wd W``, known to the
    server) removed, keyed as :func:`recover_embedding` reads it (exact after one body step)."""
    decay = method.schedule.lr * method.schedule.weight_decay
    return {k[len("hnet."):]: update[k] + decay * received[k] for k in
            ("hnet.trunk.first_cond.weight", "hnet.trunk.first_cond.bias")}


def attack_live_clients(method_name: str, attacker: str, live: dict, method, data, config: MultistepConfig,
                        seed: int) -> dict:
    """Inverting Gradients on the live upload of every client of ``data`` (batched over clients)."""
    x = data.x_train.reshape(data.num_clients, config.images, *SHAPE).to(live["order"].device)
    y = data.y_train.to(x.device)
    observed = observed_update(method, live["received"], live["upload"])
    g = torch.Generator().manual_seed(10_000 + seed)
    names, guesses, optimize, extra = [], [], False, {}
    if method_name == "hyperfl":
        names = PRIVATE
        truth = [live["private"][k] for k in PRIVATE]
        guesses = truth if attacker == "oracle" else _client_state(data.num_clients, g, x.device)
        optimize = attacker != "oracle"
        recovered = recover_embedding(_without_decay(method, live["received"], observed))
        # whether the closed form still holds after the local round, measured for every attacker
        extra["embedding_relative_error"] = ((recovered - truth[0]).norm(dim=1) / truth[0].norm(dim=1)).tolist()
        if attacker == "recovered":
            guesses[0], optimize = recovered, [False, True, True]
    simulate = upload_simulator(method, live["received"], live["order"], names)
    flat = lambda images: images.reshape(data.num_clients, config.images, -1)            # noqa: E731
    update = lambda images, soft, unknowns: simulate(flat(images), soft, unknowns)       # noqa: E731
    tic = time.perf_counter()
    rec = inverting_gradients(update, observed, (config.images, *SHAPE), y, num_classes=CLASSES,
                              steps=config.ig_steps, lr=config.lr, tv_weight=config.tv_weight,
                              unknowns=guesses, optimize_unknowns=optimize, unknowns_lr=config.unknowns_lr,
                              generator=g)
    quality = reconstruction_quality(rec.images.flatten(0, 1), x.flatten(0, 1))
    return {"method": method_name, "knowledge": attacker if method_name == "hyperfl" else "full",
            "attack": "ig", "psnr": quality["psnr"].tolist(), "ssim": quality["ssim"].tolist(),
            "distance": rec.distance.tolist(), "seconds": round(time.perf_counter() - tic, 1),
            "reconstructions": rec.images.flatten(0, 1).cpu(), **extra}


def _summary(runs: list[dict]) -> list[dict]:
    table = []
    for state in STATES:
        for method, attacker in ROWS:
            mine = [r for r in runs if (r["state"], r["method"], r["knowledge"]) == (state, method, attacker)]
            if not mine:
                continue
            psnr = torch.tensor([p for r in mine for p in r["psnr"]])
            ssim = torch.tensor([s for r in mine for s in r["ssim"]])
            row = {"state": state, "method": method, "attacker": attacker, "psnr": round(float(psnr.mean()), 2),
                   "psnr_std": round(float(psnr.std(correction=0)), 2), "ssim": round(float(ssim.mean()), 4),
                   "images": len(psnr), "per_seed_psnr": [round(sum(r["psnr"]) / len(r["psnr"]), 2) for r in mine],
                   "per_seed_ssim": [round(sum(r["ssim"]) / len(r["ssim"]), 4) for r in mine]}
            if "embedding_relative_error" in mine[0]:
                row["embedding_relative_error"] = max(e for r in mine for e in r["embedding_relative_error"])
            table.append(row)
    return table


def _goals(table: list[dict]) -> list[dict]:
    """The single-gradient study's goals (:func:`~benchmarks.federated.attack.attack_goals`), per
    server state."""
    return [g for state in STATES
            for g in attack_goals([r for r in table if r["state"] == state], label=f"[{state}] ",
                                  source=" from the multi-step upload", target="HyperFL's upload")]


def run(config: MultistepConfig, rows, name: str, device: torch.device, threads: int) -> int:
    """The study: for each seed, state and method one live run, then each attacker on its upload."""
    split = load_fashion_mnist() if config.dataset == "fashion" else load_mnist5k()
    runs, originals, accuracy = [], None, {}
    methods = sorted({m for m, _ in rows})
    tic = time.perf_counter()
    with progress(total=len(config.seeds) * len(config.states) * len(rows), desc="multi-step attacks") as bar:
        for seed in config.seeds:
            data = partition(split, "s", config.clients, train_per_client=config.images, test_per_client=20,
                             seed=seed)
            originals = data.x_train.reshape(-1, *SHAPE).cpu() if originals is None else originals
            for state in config.states:
                for method_name in methods:
                    method = _method(method_name, config, seed)
                    live = live_upload(method, data, state, seed, config.rounds)   # on the CPU, as built
                    accuracy[f"{state}/{method_name}/seed{seed}"] = live["accuracy"]
                    live = {k: _to(v, device) for k, v in live.items()}
                    for attacker in [a for m, a in rows if m == method_name]:
                        out = attack_live_clients(method_name, attacker, live, method, data, config, seed)
                        runs.append({**out, "seed": seed, "state": state})
                        bar.set_postfix_str(f"{state} {method_name} {attacker}: "
                                            f"{sum(out['psnr']) / len(out['psnr']):.1f} dB")
                        bar.update(1)
    table, first = _summary(runs), config.states[0]
    goals = _goals(table)
    for state in config.states:
        shown = [{**r, "method": f"[{state}] {r['method']}"} for r in runs if r["state"] == state]
        _plot(shown, originals, result_path(f"{name}{'' if state == first else '_' + state}.png"))
    payload = {"config": asdict(config), "threat": "multistep", "device": str(device), "threads": threads,
               "table": table, "goals": goals, "seconds": round(time.perf_counter() - tic, 1),
               "run_accuracy_before_attack": accuracy,
               "runs": [{k: v for k, v in r.items() if k != "reconstructions"} for r in runs],
               "metrics": "PSNR: torchmetrics.functional.image.peak_signal_noise_ratio (data range 0..1); "
                          "SSIM: torchmetrics.functional.image.structural_similarity_index_measure "
                          "(Gaussian 11x11, sigma 1.5)"}
    path = write_results(name, payload)
    print(markdown_table(table, ["state", "method", "attacker", "psnr", "psnr_std", "ssim", "images"]))
    for g in goals:
        print(f"- {g['goal']}: {g['measured']:.2f} -> {'met' if g['met'] else 'NOT met'}")
    print(f"wrote {path}")
    return 0
