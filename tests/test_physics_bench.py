"""``hyperweights bench physics --smoke`` runs end to end and computes its goals."""

import json

from hyperweights.cli import main


def test_bench_physics_smoke(tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERWEIGHTS_RESULTS", str(tmp_path))
    assert main(["bench", "physics", "--smoke", "--threads", "1"]) == 0
    data = json.loads((tmp_path / "physics_smoke.json").read_text())
    run = data["runs"][0]
    assert len(run["round_errors"]) == data["config"]["rounds"] + 1
    assert set(run["curves"]) == {"hypernetwork", "random_init", "reptile_init"}
    assert all(0 < e < 10 for errs in run["round_errors"] for e in errs)
    assert [g["seeds"] for g in data["goals"]] == [1, 1, 1]
    assert all(isinstance(g["met"], bool) for g in data["goals"])
    assert (tmp_path / "physics_smoke.png").exists()
