"""Smoke run of `hyperweights bench continual --smoke` (every section it runs writes JSON + PNG)
and of the `hyperweights continual` command with a checkpoint and --resume."""

import json

import pytest

from hyperweights import cli


def test_bench_smoke_writes_results(tmp_path, monkeypatch):
    pytest.importorskip("hypnettorch")
    monkeypatch.setenv("HYPERWEIGHTS_RESULTS", str(tmp_path))
    assert cli.main(["bench", "continual", "--smoke"]) == 0
    split = json.loads((tmp_path / "continual_split_mnist5k.json").read_text())
    methods = {r["method"] for r in split["rows"]}
    assert {"hnet", "hypnettorch", "finetune", "separate", "hyperinterval"} <= methods
    for r in split["rows"]:
        assert 0.0 <= r["final_avg"] <= 1.0 and len(r["acc"]) == 5
    assert "universal_acc" in next(r for r in split["rows"] if r["method"] == "hyperinterval")
    cost = json.loads((tmp_path / "continual_regcost.json").read_text())
    assert all(r["ours_ms"] > 0 and r["hypnettorch_ms"] > 0 for r in cost["rows"])
    rss = json.loads((tmp_path / "continual_permuted100.json").read_text())
    assert rss["rss"]["10"]["peak_rss_mb"] > 0
    assert [r["method"] for r in rss["rows"]] == ["hnet", "separate", "finetune"]
    assert rss["config"]["targets"] == "snapshot" and rss["config"]["feature_scale"] < 1.0
    assert (tmp_path / "continual_split_mnist5k.png").is_file()


def test_sweep_section_writes_both_splits(tmp_path, monkeypatch):
    from benchmarks.continual.bench import SWEEP, SWEEP_TEST
    monkeypatch.setenv("HYPERWEIGHTS_RESULTS", str(tmp_path))
    assert cli.main(["bench", "continual", "--smoke", "--only", "sweep"]) == 0
    sweep = json.loads((tmp_path / "continual_split_mnist5k_sweep.json").read_text())
    for split, configs in (("validation", SWEEP), ("test", SWEEP_TEST)):
        assert set(sweep[split]) == set(configs)
        for v in sweep[split].values():
            assert len(v["per_seed"]) == 2 and 0.0 <= v["mean"] <= 1.0
    # each row records the learner's own settings, so the labelled options really were applied
    s1 = next(r for r in sweep["test_rows"] if r["label"] == "lr5e-4_s1")
    assert s1["config"]["subset"] == 1 and s1["config"]["lr"] == 5e-4


def test_cli_checkpoint_and_resume(tmp_path, capsys):
    args = ["continual", "--method", "hnet", "--protocol", "split", "--dataset", "digits",
            "--steps", "5", "--batch", "16", "--checkpoint", str(tmp_path / "run.safetensors")]
    assert cli.main(args + ["--stop-after", "1"]) == 0
    assert "2/5 tasks" in capsys.readouterr().out
    assert cli.main(args + ["--resume", "--cl3"]) == 0
    out = capsys.readouterr().out
    assert "5/5 tasks" in out and "cl3_acc" in out


def test_goals_are_computed_per_seed_and_can_fail():
    from benchmarks.continual.goals import section_goals
    rows = [{"method": "hnet", "seed": s, "final_avg": v, "forgetting": 0.0} for s, v in ((0, 0.995), (1, 0.987))]
    (goal,) = section_goals("split_mnist5k_seeds3", rows)
    assert goal["met_seeds"] == "1/2" and goal["status"] == "met on the mean"
    rows[0]["final_avg"] = 0.98
    assert section_goals("split_mnist5k", rows)[0]["status"] == "not met"
    ref = rows + [{"method": "separate", "seed": 0, "final_avg": 0.99, "forgetting": 0.0}]
    (perm,) = section_goals("permuted_fashion", ref)            # only seed 0 has both learners
    assert perm["seeds"] == [0] and perm["status"] == "met"
    assert section_goals("split_mnist5k_val", rows) == []       # validation runs decide no goal
