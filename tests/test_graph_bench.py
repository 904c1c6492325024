"""``hyperweights bench graph --smoke`` runs end to end on digits and computes its goals."""

import json

from hyperweights.cli import main


def test_bench_graph_smoke(tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERWEIGHTS_RESULTS", str(tmp_path))
    assert main(["bench", "graph", "--smoke", "--threads", "1"]) == 0
    data = json.loads(next(tmp_path.rglob("graph_smoke.json")).read_text())
    table = {row["split"]: row for row in data["predict"]["table"]}
    assert set(table) == {"in_distribution", "wider", "deeper", "unseen_ops"}
    for row in table.values():
        for method in ("predicted", "predicted+noise", "default"):
            assert 0 <= row[f"{method}@0"] <= 1 and 0 <= row[f"{method}@10"] <= 1
    kinds = {(r["decoder"], r.get("rank"), tuple(r.get("block") or ())) for r in data["decoders"]["rows"]}
    assert len(kinds) == 2 and {k[0] for k in kinds} == {"lowrank", "tiled"}
    low, tiled = data["decoders"]["rows"]
    assert abs(low["decoder_params"] - tiled["decoder_params"]) / low["decoder_params"] < 0.25   # equal size
    assert all(isinstance(g["met"], bool) for g in data["goals"])
    assert (tmp_path / "graph_smoke_finetune.png").is_file()
