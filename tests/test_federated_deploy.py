"""The shipped Flower app with ``flwr run``: on the Deployment Engine on loopback
(``flower-superlink --insecure`` and two ``flower-supernode`` processes on 127.0.0.1; one SuperNode
is killed after round 1 and the run completes with the other), and on a SuperLink in simulation
mode (Ray, one CPU per client). Every process is started by :class:`Loopback` and ended by its
pid; runtime dependency installation is off (else ``uv sync`` would fetch a CUDA torch)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

pytest.importorskip("flwr")

from hyperweights.federated.loopback import Loopback  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
OPTIONS = ('method-options=\'{"cnn": {"channels": [4, 8], "hidden": 16}, "schedule": {"epochs": 1, '
           '"head_epochs": 1, "batch_size": 10}, "head": "LowRankHead", "head_options": {"rank": 2}}\'')


@pytest.mark.slow
def test_loopback_deployment_survives_a_killed_supernode(tmp_path):
    if shutil.which("flower-superlink", path=str(BIN)) is None:
        pytest.skip("flower-superlink is not installed next to this Python")
    checkpoint = tmp_path / "server.safetensors"
    with Loopback(tmp_path, nodes=2, pythonpath=(str(ROOT / "src"), str(ROOT))) as deployment:
        # every message starts a ClientApp process (torch import): a generous timeout on a busy machine
        deployment.run(f'num-rounds=2 num-clients=2 train-per-client=20 test-per-client=10 round-timeout=240.0 '
                       f'checkpoint="{checkpoint}" ' + OPTIONS)
        deployment.wait_rounds(checkpoint, 1, timeout=1800)
        deployment.kill("node1")        # a client machine dies after round 1
        history = deployment.wait_rounds(checkpoint, 2, timeout=1800, may_die=("node1",))
    assert history[0]["clients"] == 2, history[0]
    assert [(h["clients"], h["dropped"]) for h in history[1:]] == [(1, 1)]
    assert all(0 <= h["accuracy"] <= 1 for h in history)


@pytest.mark.slow
def test_flwr_run_in_simulation_mode(tmp_path):
    checkpoint = tmp_path / "server.safetensors"
    with Loopback(tmp_path, nodes=2, simulation=True, pythonpath=(str(ROOT / "src"), str(ROOT))) as deployment:
        deployment.run(f'num-rounds=2 num-clients=2 train-per-client=20 test-per-client=10 '
                       f'checkpoint="{checkpoint}" ' + OPTIONS)
        history = deployment.wait_rounds(checkpoint, 2, timeout=420)
    assert [h["clients"] for h in history] == [2, 2]
