"""The gradient-inversion benchmark (benchmarks/federated/attack.py) at a tiny size: it writes its
table, goals and image grid, and the HyperFL client's embedding is recovered exactly from the
gradient it sends (the closed form the `recovered` attacker uses)."""

from __future__ import annotations

import argparse
import json

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("torchmetrics")
pytest.importorskip("matplotlib")
pytest.importorskip("mlxtend")

from benchmarks.federated import attack  # noqa: E402


def test_embedding_is_recovered_from_the_sent_trunk_gradient():
    torch.manual_seed(0)
    cnn = attack.HyperFLCNN()
    hnet = attack.hyperfl_hypernetwork(cnn)
    x, y = torch.rand(2, 1, 28, 28), torch.tensor([3, 7])
    private = attack._client_state(2, torch.Generator().manual_seed(1), "cpu")
    sent = attack._hyperfl_gradient(cnn, hnet)(x, F.one_hot(y, 10).float(), private)
    assert "head.heads.4.weight" in sent and not any(k.startswith("condition.") for k in sent)
    assert torch.allclose(attack.recover_embedding(sent), private[0], atol=1e-4)


def test_smoke_run_writes_table_goals_and_grid(tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERWEIGHTS_RESULTS", str(tmp_path))
    parser = argparse.ArgumentParser()
    attack.add_arguments(parser)
    args = parser.parse_args(["--smoke", "--images", "1", "--ig-steps", "3", "--dlg-steps", "1"])
    assert attack.main(args) == 0
    result = json.loads((tmp_path / "federated_attack_smoke.json").read_text())
    rows = {(r["method"], r["attack"], r["attacker"]) for r in result["table"]}
    assert rows == {(m, a, k) for m, a, k in attack.ROWS}
    assert all(len(r["psnr"]) == 1 and r["label_accuracy"] == 1.0 for r in result["runs"])
    assert [g["goal"].split(":")[0] for g in result["goals"]][0].startswith("IG recovers FedAvg")
    assert len(result["goals"]) == 5 and all(g["met"] is not None for g in result["goals"])
    assert (tmp_path / "federated_attack_smoke.png").stat().st_size > 1000


def test_rows_and_tag_select_a_subset(tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERWEIGHTS_RESULTS", str(tmp_path))
    parser = argparse.ArgumentParser()
    attack.add_arguments(parser)
    args = parser.parse_args(["--smoke", "--images", "1", "--ig-steps", "2", "--rows", "fedavg-ig-full",
                              "--tag", "_fedavg"])
    assert attack.main(args) == 0
    result = json.loads((tmp_path / "federated_attack_smoke_fedavg.json").read_text())
    assert [(r["method"], r["attack"], r["attacker"]) for r in result["table"]] == [("fedavg", "ig", "full")]
    assert [g["goal"] for g in result["goals"]] == ["IG recovers FedAvg's images: PSNR >= 20 dB"]
    with pytest.raises(SystemExit):
        parser.parse_args(["--rows", "fedavg-ig-joint"])      # not a row of the study
