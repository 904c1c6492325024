"""hyperweights.federated without an engine: partitioners, each method's invariant, the reference loop."""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call

import hyperweights as hw
from hyperweights.data import Split
from hyperweights.federated import (ClientState, FedAvg, FederatedConfig, HyperFL, HyperFLLPM, Local, PFedHN,
                                    PFedHNPC, Schedule, build_method, check_update, fit, partition)
from hyperweights.federated.partition import class_counts
from hyperweights.federated.simulate import train_clients

SMALL = {"channels": (4, 8), "hidden": 16}
FAST = Schedule(epochs=1, head_epochs=1, batch_size=10)


@pytest.fixture(scope="module")
def split() -> Split:
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(1200) % 10
    x = torch.rand(1200, 784, generator=gen) * 0.5 + y[:, None] / 20.0   # learnable, tiny
    x[:, 0] = torch.arange(1200).float()                                # row id, to check overlap
    return Split(x[:1000], y[:1000], x[1000:], y[1000:], "synthetic")


@pytest.fixture(scope="module")
def data(split):
    return partition(split, "s", 3, train_per_client=20, test_per_client=10, seed=0)


# ------------------------------------------------------------------------------------ partitions
def test_s_scheme_is_20_percent_iid_80_percent_three_dominant_classes():
    counts = class_counts("s", 20, 10, 600, s=20, seed=3)
    assert counts.sum(1).eq(600).all()
    top3 = counts.sort(1, descending=True).values[:, :3].sum(1)
    assert top3.eq(480 + 3 * 12).all()                  # 80 % dominant + their share of the 20 %
    assert counts.min() == 12                            # 120 IID samples over 10 classes
    assert len({tuple(torch.nonzero(r > 12).flatten().tolist()) for r in counts}) == 10   # groups vary


def test_partitions_are_disjoint_seeded_and_follow_the_class_mix(split):
    fed = partition(split, "classes", 5, train_per_client=40, test_per_client=10, seed=1)
    rows = fed.x_train[..., 0].flatten()
    assert rows.unique().numel() == rows.numel()        # no training row at two clients
    assert all(len(set(y.tolist())) == 2 for y in fed.y_train)
    assert all(set(a.tolist()) == set(b.tolist()) for a, b in zip(fed.y_train, fed.y_test))
    again = partition(split, "classes", 5, train_per_client=40, test_per_client=10, seed=1)
    other = partition(split, "classes", 5, train_per_client=40, test_per_client=10, seed=2)
    assert torch.equal(fed.x_train, again.x_train) and not torch.equal(fed.x_train, other.x_train)
    iid = partition(split, "iid", 4, train_per_client=30, test_per_client=10)
    assert iid.counts.eq(3).all()


def test_partition_bad_input_is_a_clear_error(split):
    with pytest.raises(ValueError, match="unknown partition scheme"):
        partition(split, "dirichlet", 2)
    with pytest.raises(ValueError, match="not enough distinct rows"):
        partition(split, "iid", 20, train_per_client=600)
    with pytest.raises(TypeError, match="Split"):
        partition(torch.zeros(3), "iid", 2)


# ---------------------------------------------------------------------------------- the methods
def _round(method, data, ids=(0, 1, 2), client_batch=10):
    ids = torch.tensor(ids)
    server = method.init_server()
    private = method.init_clients(torch.arange(data.num_clients), data.num_clients)
    return server, private, *train_clients(method, server, private, data, ids, 0, 1, client_batch)


def test_hyperfl_uploads_only_the_hypernetwork_and_keeps_embedding_and_head(data):
    method = HyperFL(cnn=SMALL, schedule=FAST, head="LowRankHead", head_options={"rank": 2})
    server, private, uploads, new_private, loss, _ = _round(method, data)
    assert set(uploads) == set(server) == {f"hnet.{k}" for k, _ in method.hnet.named_parameters()
                                            if not k.startswith("condition.")}
    assert not any("embedding" in k or "fc2" in k for k in uploads)
    assert sorted(new_private) == ["embedding", "fc2.bias", "fc2.weight"]
    for k in new_private:                                # both private parts trained locally
        assert not torch.allclose(new_private[k], private[k])
    assert torch.isfinite(loss).all()
    sent = method.client_update_payload(method.download(server, torch.arange(3)), private, data.x_train,
                                        data.y_train, torch.arange(20).reshape(1, 2, 10).repeat(3, 2, 1))
    assert set(sent) == set(uploads)


def test_hyperfl_lpm_generates_only_adapters_of_a_frozen_backbone(data):
    backbone = {k: torch.randn_like(v) for k, v in HyperFLLPM(cnn=SMALL).backbone.items()}
    method = HyperFLLPM(cnn=SMALL, schedule=FAST, backbone=backbone)
    assert all(n.startswith("adapt") for n in method.hnet.generated_parameter_names)
    before = {k: v.clone() for k, v in method.backbone.items()}
    server, _, uploads, _, _, _ = _round(method, data)
    assert set(uploads) == set(server)
    assert all(torch.equal(before[k], method.backbone[k]) for k in before)
    assert all(torch.equal(backbone[k], method.backbone[k]) for k in before)
    full = HyperFL(cnn=SMALL)
    assert hw.param_count(method.hnet) < hw.param_count(full.hnet)


def test_pfedhn_server_update_is_the_vjp_of_delta_theta(data):
    method = PFedHN(cnn=SMALL, total_clients=3, inner_steps=2, batch_size=10, server_momentum=0.0,
                    server_wd=0.0, server_lr=0.5)
    server, _, uploads, _, _, _ = _round(method, data, ids=(0, 2))
    ids = torch.tensor([0, 2])
    new = method.aggregate(server, uploads, torch.ones(2), ids)
    params = {k[5:]: v for k, v in server.items()}
    _, vjp = torch.func.vjp(lambda p: functional_call(method.hnet, p, (ids,)), params)
    (grads,) = vjp(uploads)
    for name, g in grads.items():
        expected = g if name.startswith("condition.") else g / 2   # embeddings: own; hnet: mean
        torch.testing.assert_close(new[f"hnet.{name}"], params[name] - 0.5 * expected)
    assert torch.equal(new["hnet.condition.weight"][1], params["condition.weight"][1])  # not sampled


def test_pfedhn_pc_keeps_a_personal_head_and_sends_only_the_extractor_delta(data):
    method = PFedHNPC(cnn=SMALL, total_clients=3, inner_steps=2, batch_size=10)
    _, private, uploads, new_private, _, _ = _round(method, data)
    assert set(uploads) == {"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias"}
    assert not torch.allclose(new_private["fc2.weight"], private["fc2.weight"])


def test_fedavg_averages_by_train_size_and_local_shares_nothing(data):
    method = FedAvg(cnn=SMALL, schedule=FAST)
    uploads = {"w": torch.tensor([[0.0], [3.0]])}
    assert method.aggregate({}, uploads, torch.tensor([1.0, 2.0]), torch.arange(2))["w"].item() == 2.0
    local = Local(cnn=SMALL, schedule=FAST)
    server, private, uploads, new_private, _, _ = _round(local, data)
    assert server == {} and uploads == {} and set(new_private) == set(dict(local.target.named_parameters()))


def test_batched_clients_take_the_same_steps_as_one_at_a_time(data):
    method = HyperFL(cnn=SMALL, schedule=FAST)
    *_, up_batched, priv_batched, loss_batched, _ = _round(method, data, client_batch=3)
    *_, up_single, priv_single, loss_single, _ = _round(method, data, client_batch=1)
    torch.testing.assert_close(loss_batched, loss_single, atol=1e-6, rtol=0)
    for k in up_batched:
        torch.testing.assert_close(up_batched[k], up_single[k], atol=1e-6, rtol=1e-5)


def test_reference_loop_samples_counts_bytes_and_resumes_exactly(data, tmp_path):
    method = lambda: HyperFL(cnn=SMALL, schedule=FAST, head="ChunkedHead", head_options={"chunk_size": 256})  # noqa: E731
    full = fit(method(), data, FederatedConfig(rounds=3, progress=False, fraction=0.67))
    history = full.extra["history"]
    assert [h["clients"] for h in history] == [2, 2, 2]
    assert history[-1]["bytes_up"] == sum(v.numel() * 4 for v in full.extra["server"].values())
    path = str(tmp_path / "run.safetensors")
    fit(method(), data, FederatedConfig(rounds=2, progress=False, fraction=0.67, checkpoint_path=path))
    resumed = fit(method(), data, FederatedConfig(rounds=3, progress=False, fraction=0.67,
                                                  checkpoint_path=path, resume=True))
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(resumed.extra["history"]) == strip(history)
    assert all(torch.equal(resumed.extra["server"][k], full.extra["server"][k]) for k in full.extra["server"])
    with pytest.raises(ValueError, match="other settings"):
        fit(method(), data, FederatedConfig(rounds=3, progress=False, checkpoint_path=path, resume=True))


def test_client_state_saves_and_loads(tmp_path):
    private = HyperFL(cnn=SMALL).init_clients(torch.tensor([1]), 3)
    state = ClientState("hyperfl", 1, {k: v[0] for k, v in private.items()}, completed_round=4)
    hw.save(state, tmp_path / "c.safetensors")
    again = hw.load(tmp_path / "c.safetensors")
    assert again.completed_round == 4 and all(torch.equal(again.tensors[k], private[k][0]) for k in private)


def test_bad_inputs_are_clear_errors(data):
    with pytest.raises(ValueError, match="unknown federated method"):
        build_method("fedprox")
    with pytest.raises(TypeError, match="FederatedMethod"):
        fit("hyperfl", data, FederatedConfig())
    with pytest.raises(ValueError, match="fraction"):
        fit(FedAvg(cnn=SMALL), data, FederatedConfig(fraction=1.5))
    assert "shape" in check_update({"a": torch.zeros(2)}, {"a": (3,)})
    assert "names" in check_update({"b": torch.zeros(3)}, {"a": (3,)})
    assert "non-finite" in check_update({"a": torch.tensor([0.0, float("inf"), 1.0])}, {"a": (3,)})
