"""The multi-step threat model: the attacker's differentiable replay of a client's local round
equals what the live method object uploads, HyperFL's embedding still comes back in closed form
after a round, and the bench's ``--threat multistep`` writes its table, goals and grid."""

from __future__ import annotations

import argparse
import json

import pytest
import torch
import torch.nn.functional as F

from hyperweights.federated import build_method
from hyperweights.federated.local import batch_order, round_generator
from hyperweights.federated.multistep import local_phases, observed_update, upload_simulator

SMALL = {"channels": (2, 4), "hidden": 8}
PRIVATE = ["embedding", "fc2.weight", "fc2.bias"]


def _live(name: str, clip: float | None = 0.5, samples: int = 6, batch: int = 3, epochs: int = 2):
    """A live method, 2 clients' data and their real upload after one round (batches smaller than
    the local set, so the order matters; a small clip, so clipping is active)."""
    extra = {"hidden": (8,)} if name == "hyperfl" else {}
    method = build_method(name, seed=0, cnn=SMALL, schedule={"epochs": epochs, "head_epochs": 1,
                                                             "batch_size": batch, "clip": clip}, **extra)
    ids = torch.arange(2)
    private = method.init_clients(ids, 2)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(2, samples, 784, generator=g), torch.randint(0, 10, (2, samples), generator=g)
    order = batch_order(ids, 2, samples, method.local_steps(samples), batch, round_generator(0, 1))
    received = method.download(method.init_server(), ids)
    upload = method.client_update_payload(received, private, x, y, order)
    return method, received, private, x, y, order, upload


@pytest.mark.parametrize("name", ["fedavg", "hyperfl"])
def test_replay_equals_the_live_upload_and_is_differentiable(name):
    method, received, private, x, y, order, upload = _live(name)
    names = PRIVATE if name == "hyperfl" else []
    observed = observed_update(method, received, upload)
    dummy = x.clone().requires_grad_()
    replay = upload_simulator(method, received, order, names)(dummy, F.one_hot(y, 10).float(),
                                                              [private[k] for k in names])
    assert set(replay) == set(observed)
    for k in observed:
        assert observed[k].abs().max() > 0
        torch.testing.assert_close(replay[k], observed[k], rtol=1e-4, atol=1e-6)
    sum((replay[k] * observed[k]).sum() for k in observed).backward()
    assert dummy.grad.abs().sum() > 0


def test_embedding_is_recovered_after_the_local_round():
    attack_multistep = pytest.importorskip("benchmarks.federated.attack_multistep")
    # one head step, then one body step: the trunk's update is rank one in v after weight decay
    method, received, private, x, y, order, upload = _live("hyperfl", clip=50.0, samples=3, batch=3, epochs=1)
    update = attack_multistep._without_decay(method, received, observed_update(method, received, upload))
    recovered = attack_multistep.recover_embedding(update)
    error = (recovered - private["embedding"]).norm(dim=1) / private["embedding"].norm(dim=1)
    assert float(error.max()) < 1e-2           # float32 cancellation in upload - received, no more


def test_phases_and_bad_input():
    hyperfl = build_method("hyperfl", seed=0, cnn=SMALL, hidden=(8,), schedule={"epochs": 2, "batch_size": 2})
    (heads, head_spec, first), (body, _, rest) = local_phases(hyperfl, 4, hyperfl.init_server(), PRIVATE)
    assert heads == {"p.fc2.weight", "p.fc2.bias"} and "p.embedding" in body
    assert (first.stop, rest.stop) == (2, 6) and head_spec.lr == hyperfl.schedule.head_lr
    with pytest.raises(ValueError, match="knows FedAvg and HyperFL"):
        local_phases(build_method("local"), 4, {})
    with pytest.raises(ValueError, match="broadcast"):
        upload_simulator(build_method("pfedhn", total_clients=2), {}, torch.zeros(1, 1, 1, dtype=torch.long))
    fedavg = build_method("fedavg", cnn=SMALL)
    with pytest.raises(ValueError, match=r"order must be .*\(N, steps, batch\)"):
        upload_simulator(fedavg, fedavg.init_server(), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="did not send"):
        observed_update(fedavg, {}, {"w": torch.zeros(1, 2)})


def test_smoke_run_writes_table_goals_and_grid(tmp_path, monkeypatch):
    pytest.importorskip("torchmetrics")
    pytest.importorskip("matplotlib")
    attack = pytest.importorskip("benchmarks.federated.attack")
    monkeypatch.setenv("HYPERWEIGHTS_RESULTS", str(tmp_path))
    parser = argparse.ArgumentParser()
    attack.add_arguments(parser)
    # --dataset fashion: conftest's synthetic Fashion-MNIST (MNIST-5k's loader alone takes ~12 s)
    args = parser.parse_args(["--threat", "multistep", "--smoke", "--dataset", "fashion", "--ig-steps", "2",
                              "--states", "init",
                              "--rows", "fedavg-full", "hyperfl-joint"])
    assert attack.main(args) == 0
    result = json.loads((tmp_path / "federated_attack_multistep_smoke.json").read_text())
    assert [(r["state"], r["method"], r["attacker"]) for r in result["table"]] == \
        [("init", "fedavg", "full"), ("init", "hyperfl", "joint")]
    assert all(len(r["psnr"]) == 2 for r in result["runs"])       # 1 client x 2 images
    hyperfl = next(r for r in result["runs"] if r["method"] == "hyperfl")
    assert max(hyperfl["embedding_relative_error"]) < 1e-3         # the closed form holds
    assert len(result["goals"]) == 3 and all(g["met"] is not None and g["seeds"] == 1 for g in result["goals"])
    assert (tmp_path / "federated_attack_multistep_smoke.png").stat().st_size > 1000
