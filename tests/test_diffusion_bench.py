"""``hyperweights bench diffusion --smoke`` runs end to end and computes its goals."""

import json

import pytest

from hyperweights.cli import main


def test_bench_diffusion_smoke(tmp_path, monkeypatch):
    pytest.importorskip("diffusers")
    pytest.importorskip("sklearn")
    monkeypatch.setenv("HYPERWEIGHTS_RESULTS", str(tmp_path))
    assert main(["bench", "diffusion", "--smoke", "--threads", "1"]) == 0
    data = json.loads(next(tmp_path.rglob("diffusion_smoke.json")).read_text())
    run = data["runs"][0]
    assert set(run["mean"]) == {"generated", "random", "nearest_zoo", "hypernetwork"}
    assert all(set(v) == {"0", "5", "25"} and all(0 <= a <= 1 for a in v.values()) for v in run["mean"].values())
    assert run["zoo_timing"]["max_abs_difference"] < 1e-4 and run["zoo_timing"]["speedup"] > 0
    assert 0 <= run["d2nwg"]["vae_reconstruction_accuracy"] <= 1
    assert len(run["generated_samples_accuracy"]) == 4 * 3
    assert set(run["generated_accuracy_by_guidance"]) == {"0.0", "1.0", "2.0", "4.0"}
    assert [g["seeds"] for g in data["goals"]] == [1, 1, 1, 1]
    assert all(isinstance(g["met"], bool) for g in data["goals"])
    assert next(tmp_path.rglob("diffusion_smoke_accuracy.png")).stat().st_size > 0
