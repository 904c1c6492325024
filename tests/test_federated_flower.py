"""The Flower engine: the same metrics as the reference loop, and the three faults.

The faults run the real ServerApp loop and ClientApp handlers through the in-process grid (fast);
one test runs Flower's simulation runtime (Ray, one CPU per client, two clients) and checks its
round-by-round metrics equal the reference loop's. The loopback deployment is in
``test_federated_deploy.py`` (slow).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

flwr = pytest.importorskip("flwr")

import torch  # noqa: E402

from hyperweights.federated import FederatedConfig, fit  # noqa: E402
from hyperweights.federated.flower import DEFAULTS, make_apps, make_client_app, run_server, setup  # noqa: E402
from hyperweights.federated.grid import InProcessGrid  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = json.dumps({"cnn": {"channels": [4, 8], "hidden": 16},
                      "schedule": {"epochs": 1, "head_epochs": 1, "batch_size": 10},
                      "head": "LowRankHead", "head_options": {"rank": 2}})


def settings(**changes) -> dict:
    # the suite's synthetic Fashion-MNIST (tests/conftest.py), 3 clients, 3 rounds
    s = dict(DEFAULTS, **{"method": "hyperfl", "method-options": OPTIONS, "num-clients": 3,
                          "train-per-client": 20, "test-per-client": 10, "num-rounds": 3})
    s.update({k.replace("_", "-"): v for k, v in changes.items()})
    return s


def reference(s: dict) -> list[dict]:
    method, data = setup(s)
    config = FederatedConfig(rounds=s["num-rounds"], fraction=s["fraction"], seed=s["seed"], progress=False,
                             client_batch=1)
    return fit(method, data, config).extra["history"]


def metrics(rows):
    return [(r["round"], r["clients"], r["train_loss"], r["accuracy"]) for r in rows]


def on_grid(s: dict, grid: InProcessGrid | None = None) -> list[dict]:
    return run_server(grid or InProcessGrid(make_client_app(**s), s["num-clients"]), s)


@pytest.mark.parametrize("method", ["hyperfl", "pfedhn"])
def test_server_loop_equals_the_reference_loop(method):
    s = settings(method=method, fraction=0.67, **({"method-options": json.dumps(
        {"cnn": {"channels": [4, 8], "hidden": 16}, "inner_steps": 2, "batch_size": 10})} if method == "pfedhn" else {}))
    assert metrics(on_grid(s)) == metrics(reference(s))


def test_a_client_that_drops_out_does_not_end_the_round():
    rows = on_grid(settings(fault_drop="1:2"))
    assert [(r["clients"], r["dropped"]) for r in rows] == [(3, 0), (2, 1), (3, 0)]
    s = settings()
    grid = InProcessGrid(make_client_app(**s), 3)
    grid.silent_from[1002] = 2   # a SuperNode killed after round 1: listed, but never answers
    rows = run_server(grid, s)
    assert [(r["clients"], r["dropped"]) for r in rows] == [(3, 0), (2, 1), (2, 1)]


def test_a_malformed_update_is_rejected_with_a_logged_reason(caplog):
    with caplog.at_level(logging.WARNING, logger="hyperweights.federated"):
        rows = on_grid(settings(fault_nan="0:2"))
    assert [(r["clients"], r["rejected"]) for r in rows] == [(3, 0), (2, 1), (3, 0)]
    assert any("rejected the update" in m and "non-finite" in m for m in caplog.messages)
    assert all(r["accuracy"] == r["accuracy"] for r in rows)   # nothing NaN reached the average


def test_a_killed_server_resumes_and_ends_like_an_uninterrupted_run(tmp_path):
    s = settings(checkpoint=str(tmp_path / "server.safetensors"), client_state_dir=str(tmp_path / "clients"))
    uninterrupted = on_grid(settings())
    with pytest.raises(SystemExit):
        on_grid(dict(s, **{"fault-crash-after": 2}))
    resumed = on_grid(dict(s, resume=True))          # fresh clients: their state comes from disk
    assert metrics(resumed) == metrics(uninterrupted)


def test_simulation_runtime_matches_the_reference_loop(tmp_path):
    """Flower's simulation runtime (Ray backend, 1 CPU per client, 2 clients), in a process of
    its own: Ray leaves open files behind that the suite's warning filter would report."""
    pytest.importorskip("ray")
    s = settings(num_clients=2, num_rounds=2)
    out = tmp_path / "history.json"
    env = dict(os.environ, FLWR_DISABLE_UPDATE_CHECK="1", OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-m", "hyperweights.federated.flower", "simulate", "--settings",
                           json.dumps(s), "--out", str(out)], env=env, timeout=600, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert metrics(json.loads(out.read_text())) == metrics(reference(s))
