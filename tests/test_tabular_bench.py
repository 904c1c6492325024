"""Smoke run of `hyperweights bench tabular` (the full run's numbers are in docs/tabular.md)."""

import argparse
import importlib.util
import json

import pytest

from benchmarks.tabular import bench


def test_bench_smoke_writes_results_and_plot(tmp_path, monkeypatch, capsys):
    pytest.importorskip("xgboost")
    pytest.importorskip("lightgbm")
    monkeypatch.setenv("HYPERWEIGHTS_RESULTS", str(tmp_path))
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    assert bench.main(parser.parse_args(["--smoke"])) == 0
    data = json.loads((tmp_path / "tabular_smoke.json").read_text())
    assert (tmp_path / "tabular_smoke_ranks.png").stat().st_size > 1000
    assert set(data["results"]) == {"iris", "wine", "diabetes"}
    has_ref = importlib.util.find_spec("hypertab") is not None
    for name, res in data["results"].items():
        expected = set(bench.METHODS) - ({bench.REF} if name != "iris" or not has_ref else set())
        assert set(res["methods"]) == expected
        key = "accuracy" if res["task"] == "classification" else "r2"
        for method, scores in res["methods"].items():
            assert scores["fit_s"] > 0 and scores["predict_s"] > 0
            if key == "accuracy":
                assert 0 <= scores["accuracy"] <= 1 and 0 <= scores["balanced_accuracy"] <= 1
    # Wine is easy: even the smoke-size HyperTab must beat chance by far.
    assert data["results"]["wine"]["methods"][bench.OURS]["accuracy"] > 0.6
    ranks = data["ranks"]["classification_small"]["mean_rank"]
    assert sorted(ranks) == sorted(m for m in bench.METHODS if m != bench.REF)
    assert abs(sum(ranks.values()) - 21) < 1e-9          # ranks 1..6 average to 3.5
    if has_ref:
        ref = data["reference"]
        assert ref["datasets"] == ["iris"] and ref["pairs"][0]["reference_fit_s"] > 0
        assert "ours vs reference" in capsys.readouterr().out


def test_critical_difference_matches_demsar():
    # Demsar (2006): k = 5 classifiers, N = 14 data sets -> CD = 1.63 (approximately).
    assert abs(bench.critical_difference(5, 14) - 1.63) < 0.01
