"""Smoke run of ``hyperweights bench uncertainty`` (tiny sizes): every method, metric and plot."""

import json
import math

from hyperweights.cli import main


def test_bench_uncertainty_smoke(tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERWEIGHTS_RESULTS", str(tmp_path))
    assert main(["bench", "uncertainty", "--smoke", "--no-progress", "--regularizers", "gan,mmd",
                 "--shared", "scale-gan,rank1-mmd", "--val-size", "500",
                 "--bayesian-hidden", "16", "--kl-weight", "10"]) == 0
    data = json.loads((tmp_path / "uncertainty_smoke.json").read_text())
    rows = {r["method"]: r for r in data["rows"]}
    assert set(rows) == {"single", "mc-dropout", "deep-ensemble", "implicit-gan", "implicit-mmd",
                         "implicit-scale-gan", "implicit-rank1-mmd", "bayesian-hnet"}
    for name, r in rows.items():
        for key in ("accuracy", "nll", "brier", "ece", "auroc_mnist", "auroc_noise", "auroc_rotated",
                    "ece_cal", "nll_cal", "temperature", "val_accuracy"):
            assert math.isfinite(r[key]), (name, key)
        assert 0.0 <= r["ece"] <= 1.0 and 0.0 <= r["auroc_mnist"] <= 1.0
        assert r["params"] > 0 and r["train_s"] > 0 and r["infer_ms_b16"] > 0
    # the baselines learn something even in one epoch on 3,000 images (chance is 0.1)
    assert rows["single"]["accuracy"] > 0.2 and rows["deep-ensemble"]["accuracy"] > 0.2
    assert rows["deep-ensemble"]["params"] == 5 * rows["single"]["params"]
    # the Bayesian hypernetwork's target is narrower (16 vs 32 hidden units): fewer parameters
    # than the single network even with its flow
    assert data["config"]["kl_weight"] == 10 and rows["bayesian-hnet"]["params"] < rows["single"]["params"]
    # 5 hypernetwork methods x 4 goals (AUROC, raw ECE, calibrated ECE, inference speed-up)
    assert data["sizes"]["ood_mnist"] == 1000 and len(data["goals"]) == 20
    assert data["sizes"]["train"] == 3000 - 300 and data["sizes"]["val"] == 300   # smoke caps it
    assert all(r["temperature"] > 0 for r in rows.values())
    for sampled in ("implicit-gan", "implicit-scale-gan", "implicit-rank1-mmd", "bayesian-hnet", "mc-dropout"):
        assert rows[sampled]["members"] == 8 and rows[sampled]["loop_ms_b512"] > 0
    # the shared ensembles share the first layer across members: the batched call beats the loop
    # even at smoke sizes (full size: see docs/uncertainty.md)
    assert rows["implicit-scale-gan"]["speedup_b16"] > 3 and rows["implicit-rank1-mmd"]["speedup_b16"] > 3
    for plot in data["plots"]:
        assert (tmp_path / plot.split("/")[-1]).stat().st_size > 1000
