"""``hyperweights bench rl --smoke`` runs end to end and computes its goal."""

import json

import pytest

from hyperweights.cli import main


def test_bench_rl_smoke(tmp_path, monkeypatch):
    pytest.importorskip("gymnasium")
    monkeypatch.setenv("HYPERWEIGHTS_RESULTS", str(tmp_path))
    assert main(["bench", "rl", "--smoke", "--threads", "1"]) == 0
    data = json.loads(next(tmp_path.rglob("rl_smoke.json")).read_text())
    assert {r["method"] for r in data["runs"]} == {"hypernetwork", "input", "per_task"}
    assert len({r["env_steps"] for r in data["runs"]}) == 1        # equal environment steps
    assert all(r["held_out_return"] > 0 and r["curve"] for r in data["runs"])
    assert data["env_speed"]["ours_ms_per_step"] > 0
    goal = data["goal_hypernetwork_best"]
    assert isinstance(goal["met"], bool) and goal["seeds"] == 1
    assert next(tmp_path.rglob("rl_smoke_curves.png")).stat().st_size > 0


def test_bench_rl_pendulum_smoke(tmp_path, monkeypatch):
    pytest.importorskip("gymnasium")
    monkeypatch.setenv("HYPERWEIGHTS_RESULTS", str(tmp_path))
    assert main(["bench", "rl", "--env", "pendulum", "--smoke", "--threads", "1"]) == 0
    data = json.loads(next(tmp_path.rglob("rl_pendulum_smoke.json")).read_text())
    assert data["env"] == "pendulum" and {r["method"] for r in data["runs"]} == {"hypernetwork", "input", "per_task"}
    assert len({r["env_steps"] for r in data["runs"]}) == 1        # equal environment steps
    assert all(r["held_out_return"] < 0 and r["curve"] for r in data["runs"])     # costs
    assert data["random_policy_return"]["held_out"] < -500
    goal = data["goal_hypernetwork_best"]
    assert isinstance(goal["met"], bool) and goal["seeds"] == 1 and len(goal["per_seed"]) == 1
    assert next(tmp_path.rglob("rl_pendulum_smoke_curves.png")).stat().st_size > 0
