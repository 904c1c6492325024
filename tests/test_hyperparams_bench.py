"""Smoke run of `hyperweights bench hyperparams` and checks on what it writes."""

import json

from hyperweights.cli import main


def test_bench_smoke_writes_json_plots_and_tables(tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERWEIGHTS_RESULTS", str(tmp_path))
    assert main(["bench", "hyperparams", "--smoke"]) == 0
    data = json.loads((tmp_path / "hyperparams_smoke.json").read_text())
    assert data["smoke"] and data["torch_threads"] == 1
    sweep = data["sweep"]
    assert len(sweep["grid_val_loss"]) == len(sweep["cond_val_loss"]) == 20
    assert 0 < sweep["compute_ratio_time"] and set(sweep["goals"]) == {
        "best_lambda_within_one_grid_step", "loss_within_2pct", "compute_at_most_one_fifth_flops",
        "compute_at_most_one_fifth_time"}
    # the conditioned model trains 1 network's worth of steps: far fewer FLOPs than 20 networks
    assert sweep["compute_ratio_examples"] == 1 / 20
    assert 0 < sweep["compute_ratio_flops"] < 0.5
    stn = data["stn"]
    assert stn["schedule"][0]["step"] == 0 and len(stn["schedule"]) > 2
    assert {r["method"].split(" (")[0].split(",")[0] for r in stn["rows"]} >= {"STN", "grid search", "random search"}
    assert all(0 <= r["test_acc"] <= 1 for r in stn["rows"])
    mip = data["mip"]
    assert {r["variant"] for r in mip["runs"]} == {"MIP", "encoding only", "residual only", "neither"}
    # the paper's initialisation is the headline, the earlier one and the core feature scale beside it
    assert set(mip["settings"]) == {"previous", "hyperlight, core feature scale"}
    assert set(mip["comparison"]) == {"hyperlight", "previous", "hyperlight, core feature scale"}
    assert mip["initial_delta_over_theta0"]["0.bias"] == 0.0      # zero generated biases at init
    assert mip["settings"]["previous"]["initial_delta_over_theta0"]["0.bias"] > 0
    for name in ("sweep", "stn_schedule", "mip"):
        png = tmp_path / f"hyperparams_{name}.png"
        assert png.stat().st_size > 1000
    assert "| method |" in data["tables"]["stn"]
