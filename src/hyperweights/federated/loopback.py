"""Flower's Deployment Engine on loopback: a SuperLink and SuperNodes on 127.0.0.1, then ``flwr run``.

What the deployment tests and the overhead benchmark start: ``flower-superlink --insecure`` (or
with ``--simulation``: Ray inside the SuperLink), ``nodes`` ``flower-supernode`` processes with
``partition-id=i``, and ``flwr run apps/flower`` against them. Every process is started here,
logged to ``folder`` in a session of its own, and ended by its pid with everything it spawned
(a SuperNode starts a SuperExec, which starts one ClientApp process per message: ending only the
SuperNode would orphan them) in :meth:`Loopback.stop`, also on leaving the ``with``;
nothing is installed (``FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION=1`` and the SuperLink's
``--disable-runtime-dependency-installation``: left on, ``flwr run`` calls ``uv sync``, which
fetches a CUDA torch), and there is no update check (``FLWR_DISABLE_UPDATE_CHECK=1``).

The server's history is read from its checkpoint (``checkpoint=...`` in the run config), which it
writes atomically after every round.

Example:
    >>> Loopback("/tmp/hw-loopback", nodes=2).nodes
    2
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from .._files import load_tensors

__all__ = ["Loopback", "free_port", "rounds_done", "APP"]

#: the shipped Flower app folder (its own pyproject.toml with [tool.flwr.app.components])
APP = Path(__file__).resolve().parents[3] / "apps" / "flower"
_BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rounds_done(checkpoint: Path) -> list[dict]:
    """The server's history so far (``[]`` before its first checkpoint)."""
    try:
        return load_tensors(checkpoint)[1]["history"]
    except (FileNotFoundError, ValueError, KeyError):
        return []


class Loopback:
    """A SuperLink and ``nodes`` SuperNodes on loopback, and ``flwr run`` against them.

    Args:
        folder: where the logs, the SuperLink's database and ``FLWR_HOME`` go.
        nodes: SuperNodes (partition ``i`` on node ``i``); with ``simulation`` the SuperLink
            simulates this many nodes with Ray instead (one CPU per node).
        simulation: start the SuperLink with ``--simulation``.
        pythonpath: folders put first on every process's ``PYTHONPATH`` (e.g. a source checkout).
    """

    def __init__(self, folder, nodes: int, simulation: bool = False, pythonpath: tuple[str, ...] = ()):
        if not isinstance(nodes, int) or nodes < 1:
            raise ValueError(f"nodes must be a positive integer, got {nodes!r}")
        self.folder, self.nodes, self.simulation = Path(folder), nodes, simulation
        self.pythonpath = tuple(str(p) for p in pythonpath)
        self.procs: dict[str, subprocess.Popen] = {}
        self._logs: dict = {}

    def env(self) -> dict:
        env = dict(os.environ, FLWR_DISABLE_UPDATE_CHECK="1", FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION="1",
                   RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO="0", OMP_NUM_THREADS="1", FLWR_HOME=str(self.folder / "flwr-home"))
        env["PYTHONPATH"] = os.pathsep.join([*self.pythonpath, env.get("PYTHONPATH", "")])
        env["PATH"] = os.pathsep.join([str(_BIN), env.get("PATH", "")])   # Flower spawns flower-superexec
        return env

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        self._logs[name] = open(self.folder / f"{name}.log", "w")
        self.procs[name] = subprocess.Popen(argv, env=self.env(), stdout=self._logs[name], stderr=subprocess.STDOUT,
                                            cwd=self.folder, start_new_session=True)
        return self.procs[name]

    def log(self, name: str, tail: int = 3000) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text()[-tail:] if path.exists() else ""

    def start(self, timeout: float = 180) -> Loopback:
        """Start the SuperLink (waits until it accepts connections) and the SuperNodes."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        home = self.folder / "flwr-home"
        home.mkdir(exist_ok=True)
        options = (f"options.num-supernodes = {self.nodes}\noptions.backend.client-resources.num-cpus = 1\n"
                   "options.backend.client-resources.num-gpus = 0.0\n") if self.simulation else ""
        (home / "config.toml").write_text(f'[superlink]\ndefault = "here"\n\n[superlink.here]\n'
                                          f'address = "127.0.0.1:{self.port}"\ninsecure = true\n{options}')
        self._spawn("superlink", [str(_BIN / "flower-superlink"), "--insecure", *(["--simulation"] * self.simulation),
                                  "--disable-runtime-dependency-installation", "--host", "127.0.0.1",
                                  "--port", str(self.port), "--database", str(self.folder / "state.db")])
        self._listening(timeout)
        for i in range(0 if self.simulation else self.nodes):
            self._spawn(f"node{i}", [str(_BIN / "flower-supernode"), "--insecure", "--superlink",
                                     f"127.0.0.1:{self.port}", "--port", str(free_port()),
                                     "--node-config", f"partition-id={i} num-partitions={self.nodes}"])
        return self

    def _listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.procs["superlink"].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the SuperLink did not start listening: " + self.log("superlink"))
            time.sleep(0.5)

    def run(self, run_config: str, app: Path = APP) -> subprocess.Popen:
        """``flwr run <app> here --stream --run-config <run_config>`` (``key=value`` pairs)."""
        return self._spawn("run", [str(_BIN / "flwr"), "run", str(app), "here", "--stream", "--run-config", run_config])

    def wait_rounds(self, checkpoint: Path, rounds: int, timeout: float, may_die: tuple[str, ...] = ()) -> list[dict]:
        """The server's history once it has ``rounds`` rounds; raises when a process (other than
        ``may_die``) ended early or ``timeout`` seconds passed."""
        deadline = time.monotonic() + timeout
        while len(history := rounds_done(checkpoint)) < rounds:
            dead = [n for n, p in self.procs.items() if p.poll() is not None and n not in may_die]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(f"{dead or 'timeout'} before round {rounds}: " + self.log("run"))
            time.sleep(1)
        return history

    @staticmethod
    def _signal(proc: subprocess.Popen, sig: int) -> None:
        """``sig`` to ``proc``'s session (its pid is the process group id: ``start_new_session``)."""
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:   # the whole group has ended already
            pass

    def kill(self, name: str) -> None:
        """SIGKILL one process and what it spawned, by its pid (a client machine that dies)."""
        self._signal(self.procs[name], signal.SIGKILL)
        self.procs[name].wait(timeout=15)

    def stop(self) -> None:
        """End every process started here and what it spawned, by pid: SIGTERM, SIGKILL after 15 s."""
        for proc in self.procs.values():
            self._signal(proc, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
            self._signal(proc, signal.SIGKILL)   # stragglers of the group (ClientApps) too
            proc.wait(timeout=15)
        for handle in self._logs.values():
            handle.close()

    def __enter__(self) -> Loopback:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
