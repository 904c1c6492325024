"""The demo and the core benchmark run end to end at smoke size and write their results."""

import importlib.util
import json

import pytest

from hyperweights.cli import main


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERWEIGHTS_RESULTS", str(tmp_path))
    return tmp_path


def test_demo_smoke_writes_table_and_plot(results):
    assert main(["demo", "--smoke"]) == 0
    data = json.loads((results / "demo_smoke.json").read_text())
    names = [r["config"] for r in data["rows"]]
    assert names[0].startswith("plain MLP") and len(names) == 10
    assert any("MIP" in n for n in names) and any("RNNTrunk" in n for n in names)
    for row in data["rows"]:
        assert 0.0 <= row["accuracy"] <= 1.0 and row["step_ms"] > 0
    assert data["rows"][0]["step_x_plain"] == 1.0
    assert (results / "demo_smoke.png").stat().st_size > 1000


def test_bench_core_smoke(results):
    assert main(["bench", "core", "--smoke", "--threads", "1"]) == 0
    data = json.loads((results / "bench_core_smoke.json").read_text())
    models = [r["model"] for r in data["training"]]
    peers_installed = all(importlib.util.find_spec(m) for m in ("hypnettorch", "hyperlight", "hypernn"))
    assert len(models) == (11 if peers_installed else 4)
    for row in data["training"]:
        assert row["step_ms"] > 0 and 0 <= row["test_acc"] <= 1
    if peers_installed:
        full = next(r for r in data["training"] if r["model"] == "hyperweights FullHead")
        assert full["x_fastest_peer"] > 0
    assert [r["target"] for r in data["per_sample"]] == ["784-100-100-10", "64-64-10"]
    assert all(r["speedup_vs_loop"] > 0 for r in data["per_sample"])
    assert [e["batch"] for e in data["ensemble"]] == [16, 512]
    assert len(data["default_vs_plain"]["seeds"]) == 2


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        main(["no-such-command"])
