"""``hyperweights bench pruning --smoke`` runs end to end (on the suite's synthetic Fashion-MNIST)."""

import json

from hyperweights.cli import main


def test_bench_pruning_smoke(tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERWEIGHTS_RESULTS", str(tmp_path))
    assert main(["bench", "pruning", "--smoke", "--threads", "1"]) == 0
    data = json.loads((tmp_path / "pruning_smoke.json").read_text())
    budgets = data["runs"][0]["budgets"]
    assert [b["fraction"] for b in budgets] == [0.5, 0.25]
    for b in budgets:
        assert {"searched", "uniform", "l1_norm", "dynamic"} <= set(b)
        methods = ("searched", "uniform", "l1_norm", "dynamic")
        assert all(b[m]["flops_fraction"] <= b["fraction"] + 1e-9 for m in methods)
        assert b["uniform"]["widths"] == b["l1_norm"]["widths"]
    run = data["runs"][0]
    assert {"ratio", "ratio_masked", "score_ms_per_candidate", "train_candidate_ms"} <= set(run["search_cost"])
    assert [row["images"] for row in run["ranking"]["sizes"]] == [8, 16]
    assert all(b["candidates_scored"] <= b["candidates_visited"] for b in budgets)
    assert len(data["goals"]) == 5 and all(isinstance(g["met"], bool) for g in data["goals"])
    assert (tmp_path / "pruning_smoke.png").exists()
