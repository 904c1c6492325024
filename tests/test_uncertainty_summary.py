"""``python -m benchmarks.uncertainty.summary``: mean ± sd over seeds and the goals seed by seed."""

import json

import pytest

from benchmarks.uncertainty.summary import main


def _write(path, seed, rows, **config):
    path.write_text(json.dumps({"config": {"seed": seed, "epochs": 30, **config}, "rows": rows}))
    return str(path)


def _refs(seed, de_auroc):
    return [{"method": "single", "params": 10, "accuracy": 0.90, "ece": 0.04, "auroc_mnist": 0.75},
            {"method": "deep-ensemble", "params": 50, "accuracy": 0.91, "ece": 0.02, "auroc_mnist": de_auroc}]


def test_goals_pair_each_run_with_the_references_of_its_own_seed(tmp_path, capsys):
    files = [_write(tmp_path / f"ref{s}.json", s, _refs(s, auroc)) for s, auroc in ((0, 0.80), (1, 0.90))]
    hnet = {"method": "implicit-scale-gan", "params": 10, "accuracy": 0.895, "ece": 0.015, "auroc_mnist": 0.85}
    files += [_write(tmp_path / f"run{s}.json", s, [hnet], init_spread=0.15) for s in (0, 1)]
    assert main(["--goals", *files]) == 0
    out = capsys.readouterr().out
    # seed 0: 0.85 >= 0.80 (met); seed 1: 0.85 < 0.90 (missed); the ECE goal holds at both seeds
    assert "| implicit-scale-gan, 30 epochs, spread 0.15 | 0, 1 | +0.0500, −0.0500 | 1 of 2 |" in out
    assert out.rstrip().endswith("| 0.38, 0.38 | −0.5, −0.5 | 2 of 2 |")


def test_a_run_over_the_parameter_budget_never_meets_the_auroc_goal(tmp_path, capsys):
    big = {"method": "implicit-rank1-gan", "params": 11, "accuracy": 0.9, "ece": 0.04, "auroc_mnist": 0.99}
    main(["--goals", _write(tmp_path / "a.json", 0, _refs(0, 0.8) + [big])])
    assert "| 0 of 1 (over the parameter budget) |" in capsys.readouterr().out


def test_a_file_that_is_not_a_result_file_is_a_clear_error(tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"config": {}}))
    with pytest.raises(ValueError, match="not a `bench uncertainty` result file"):
        main([str(path)])


def test_a_baseline_shared_by_several_files_of_one_seed_is_counted_once(tmp_path, capsys):
    hnet = {"method": "implicit-scale-gan", "params": 10, "accuracy": 0.9, "ece": 0.02, "auroc_mnist": 0.8}
    files = [_write(tmp_path / f"{name}.json", 0, _refs(0, 0.8)[:1] + [hnet], init_spread=spread)
             for name, spread in (("a", 0.1), ("b", 0.15))]
    main(files)
    out = capsys.readouterr().out
    assert "| single | 1 |" in out
    assert "| implicit-scale-gan, spread 0.1 | 1 |" in out and "| implicit-scale-gan, spread 0.15 | 1 |" in out


def test_goal_counts_are_written_as_json_per_seed(tmp_path):
    files = [_write(tmp_path / f"ref{s}.json", s, _refs(s, auroc)) for s, auroc in ((0, 0.80), (1, 0.90))]
    hnet = {"method": "implicit-scale-gan", "params": 10, "accuracy": 0.895, "ece": 0.015, "auroc_mnist": 0.85}
    files += [_write(tmp_path / f"run{s}.json", s, [hnet]) for s in (0, 1)]
    out = tmp_path / "goals.json"
    assert main(["--goals", "--json", str(out), *files]) == 0
    (entry,) = json.loads(out.read_text())["goals"]
    assert entry["seeds"] == [0, 1] and entry["auroc_met"] == 1 and entry["ece_met"] == 2 and entry["runs"] == 2
    assert entry["auroc_gap"] == pytest.approx([0.05, -0.05])


def test_hypergan_runs_on_the_core_feature_scale_are_a_configuration_of_their_own(tmp_path, capsys):
    gan = {"method": "implicit-gan", "params": 10, "accuracy": 0.9, "ece": 0.02, "auroc_mnist": 0.8}
    old = _write(tmp_path / "old.json", 0, _refs(0, 0.8) + [gan])                # before the options existed
    same = _write(tmp_path / "same.json", 1, _refs(1, 0.8) + [gan], feature_scale=1.0, head_lr_scale=0.1)
    core = _write(tmp_path / "core.json", 0, [gan], feature_scale=0.0, head_lr_scale=1.0)
    main(["--goals", old, same, core])
    out = capsys.readouterr().out
    assert "| implicit-gan, 30 epochs | 0, 1 |" in out
    assert "| implicit-gan, 30 epochs, core feature scale, head lr × 1 | 0 |" in out
