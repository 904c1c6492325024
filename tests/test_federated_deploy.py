"""The shipped Flower app with ``flwr run``: on the Deployment Engine on loopback
(``flower-superlink --insecure`` and two ``flower-supernode`` processes on 127.0.0.1; one SuperNode
is killed after round 1 and the run completes with the other), and on a SuperLink in simulation
mode (Ray, one CPU per client). Every process is started here and ended by its pid; runtime
dependency installation is off (else ``uv sync`` would fetch a CUDA torch)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("flwr")

from hyperweights._files import load_tensors  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict:
    env = dict(os.environ, FLWR_DISABLE_UPDATE_CHECK="1", FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION="1",
               RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO="0", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")])
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])   # Flower spawns flower-superexec
    return env


def _wait(procs: dict, checkpoint: Path, rounds: int, deadline: float, log: Path) -> list[dict]:
    """The server's history once it has ``rounds`` rounds; fails early when a process died."""
    while len(history := _rounds_done(checkpoint)) < rounds:
        dead = [name for name, p in procs.items() if p.poll() is not None and name != "node1"]
        assert not dead and time.monotonic() < deadline, f"{dead} ended early: " + log.read_text()[-3000:]
        time.sleep(1)
    return history


OPTIONS = ('method-options=\'{"cnn": {"channels": [4, 8], "hidden": 16}, "schedule": {"epochs": 1, '
           '"head_epochs": 1, "batch_size": 10}, "head": "LowRankHead", "head_options": {"rank": 2}}\'')


def _stop(procs: dict, logs: dict) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            proc.terminate()
    for proc in procs.values():
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
    for handle in logs.values():
        handle.close()


def _home(tmp_path: Path, port: int, extra: str = "") -> Path:
    home = tmp_path / "flwr-home"
    home.mkdir()
    (home / "config.toml").write_text(f'[superlink]\ndefault = "here"\n\n[superlink.here]\n'
                                      f'address = "127.0.0.1:{port}"\ninsecure = true\n{extra}')
    return home


def _listening(port: int, proc: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    """Wait until the SuperLink accepts connections on ``port`` (it starts slowly on a busy machine)."""
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.5)


def _rounds_done(path: Path) -> list[dict]:
    try:
        return load_tensors(path)[1]["history"]
    except (FileNotFoundError, ValueError, KeyError):
        return []


@pytest.mark.slow
def test_loopback_deployment_survives_a_killed_supernode(tmp_path):
    if shutil.which("flower-superlink", path=str(BIN)) is None:
        pytest.skip("flower-superlink is not installed next to this Python")
    env = _env()
    port = _free_port()
    env["FLWR_HOME"] = str(_home(tmp_path, port))
    checkpoint = tmp_path / "server.safetensors"
    logs = {name: open(tmp_path / f"{name}.log", "w") for name in ("superlink", "node0", "node1", "run")}
    procs: dict[str, subprocess.Popen] = {}
    try:
        procs["superlink"] = subprocess.Popen(
            [str(BIN / "flower-superlink"), "--insecure", "--disable-runtime-dependency-installation",
             "--host", "127.0.0.1", "--port", str(port), "--database", str(tmp_path / "state.db")],
            env=env, stdout=logs["superlink"], stderr=subprocess.STDOUT, cwd=tmp_path)
        _listening(port, procs["superlink"], tmp_path / "superlink.log")
        for i in range(2):
            procs[f"node{i}"] = subprocess.Popen(
                [str(BIN / "flower-supernode"), "--insecure", "--superlink", f"127.0.0.1:{port}",
                 "--port", str(_free_port()), "--node-config", f"partition-id={i} num-partitions=2"],
                env=env, stdout=logs[f"node{i}"], stderr=subprocess.STDOUT, cwd=tmp_path)
        # every message starts a ClientApp process (torch import): a generous timeout on a busy machine
        config = (f'num-rounds=2 num-clients=2 train-per-client=20 test-per-client=10 round-timeout=240.0 '
                  f'checkpoint="{checkpoint}" ' + OPTIONS)
        procs["run"] = subprocess.Popen([str(BIN / "flwr"), "run", str(ROOT / "apps" / "flower"), "here",
                                         "--stream", "--run-config", config],
                                        env=env, stdout=logs["run"], stderr=subprocess.STDOUT, cwd=tmp_path)
        deadline = time.monotonic() + 1800
        _wait(procs, checkpoint, 1, deadline, tmp_path / "run.log")
        procs["node1"].send_signal(signal.SIGKILL)        # a client machine dies after round 1
        history = _wait(procs, checkpoint, 2, deadline, tmp_path / "run.log")
        assert history[0]["clients"] == 2, history[0]
        assert [(h["clients"], h["dropped"]) for h in history[1:]] == [(1, 1)]
        assert all(0 <= h["accuracy"] <= 1 for h in history)
    finally:
        _stop(procs, logs)


@pytest.mark.slow
def test_flwr_run_in_simulation_mode(tmp_path):
    env = _env()
    port = _free_port()
    env["FLWR_HOME"] = str(_home(tmp_path, port, "options.num-supernodes = 2\n"
                                 "options.backend.client-resources.num-cpus = 1\n"
                                 "options.backend.client-resources.num-gpus = 0.0\n"))
    checkpoint = tmp_path / "server.safetensors"
    logs = {name: open(tmp_path / f"{name}.log", "w") for name in ("superlink", "run")}
    procs: dict[str, subprocess.Popen] = {}
    try:
        procs["superlink"] = subprocess.Popen(
            [str(BIN / "flower-superlink"), "--insecure", "--simulation", "--disable-runtime-dependency-installation",
             "--host", "127.0.0.1", "--port", str(port), "--database", str(tmp_path / "state.db")],
            env=env, stdout=logs["superlink"], stderr=subprocess.STDOUT, cwd=tmp_path)
        _listening(port, procs["superlink"], tmp_path / "superlink.log")
        config = f'num-rounds=2 num-clients=2 train-per-client=20 test-per-client=10 checkpoint="{checkpoint}" ' + OPTIONS
        procs["run"] = subprocess.Popen([str(BIN / "flwr"), "run", str(ROOT / "apps" / "flower"), "here",
                                         "--stream", "--run-config", config],
                                        env=env, stdout=logs["run"], stderr=subprocess.STDOUT, cwd=tmp_path)
        history = _wait(procs, checkpoint, 2, time.monotonic() + 420, tmp_path / "run.log")
        assert [h["clients"] for h in history] == [2, 2]
    finally:
        _stop(procs, logs)
