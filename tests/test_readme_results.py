"""Result files land where results/README.md says: results/<area>/, or flat in $HYPERWEIGHTS_RESULTS."""

import json

import pytest

from hyperweights.bench import area_of, result_path, results_dir, write_results


def test_write_results_goes_to_the_area_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("HYPERWEIGHTS_RESULTS", raising=False)
    monkeypatch.chdir(tmp_path)
    path = write_results("continual_split_mnist5k", {"rows": [1, 2]})
    assert path == tmp_path.joinpath("results", "continual", "continual_split_mnist5k.json").relative_to(tmp_path)
    data = json.loads(path.read_text())
    assert data["benchmark"] == "continual_split_mnist5k" and data["rows"] == [1, 2]
    assert {"date", "torch", "torch_threads", "load_average"} <= set(data["machine"])
    assert write_results("bench_core", {}).parent.name == "core"
    assert write_results("scratch", {}, area="demo").parent.name == "demo"
    assert result_path("uncertainty_e30_seed0_entropy.png").parent.name == "uncertainty"
    assert not list(tmp_path.glob("results/*.json"))           # nothing at the top level


def test_the_environment_variable_collects_everything_in_one_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERWEIGHTS_RESULTS", str(tmp_path))
    assert write_results("tabular_smoke", {}) == tmp_path / "tabular_smoke.json"
    assert result_path("hyperparams_sweep.png") == tmp_path / "hyperparams_sweep.png"
    assert results_dir("core") == tmp_path


def test_a_name_without_an_area_is_a_clear_error():
    with pytest.raises(ValueError, match="cannot tell the results area of '_x'"):
        area_of("_x")


def test_every_committed_result_is_in_an_area_folder():
    from benchmarks.readme import ROOT
    top = [p.name for p in (ROOT / "results").iterdir() if p.is_file()]
    assert top == ["README.md"], f"result files outside an area folder: {top}"
    for path in (ROOT / "results").rglob("*.json"):
        assert area_of(path.name) == path.parent.name, path
