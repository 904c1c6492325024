"""DistributedDataParallel under torchrun: two CPU processes (gloo) train a HyperModel, a continual
learner (HNET, across a task boundary) and an implicit ensemble with examples/ddp_train.py, the
script docs/distributed.md shows, and every step's averaged gradients and the final parameters
equal one process trained on the combined batches.

Tolerance: float32 sums in a different order (each process's mean over its half, then DDP's
average) differ by rounding only: gradients within 1e-4 of their tensor's largest entry, final
parameters within 1e-4 (1 % of one Adam step at the script's lr 1e-2). A control shows the check
is not vacuous: one process on only rank 0's halves misses these tolerances by far.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import hyperweights as hw
from hyperweights.model import generated_parameter_names

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed missing")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "ddp_train.py"
STEPS, BATCH, TIMEOUT = 4, 32, 180
TOL = 1e-4


def _example():
    spec = importlib.util.spec_from_file_location("ddp_train", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _torchrun(record: Path, models) -> None:
    """``torchrun --standalone --nproc_per_node=2 examples/ddp_train.py`` (as the module torchrun
    runs, with this interpreter), in its own process group so a timeout ends all three processes."""
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(SCRIPT), "--model", *models, "--steps", str(STEPS), "--batch", str(BATCH),
           "--record", str(record)]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"torchrun did not finish in {TIMEOUT} s:\n{out[-3000:]}")
    assert proc.returncode == 0, f"torchrun failed ({proc.returncode}):\n{out[-3000:]}"


def _worst(record: dict, ref: dict) -> float:
    """The largest difference, relative to each gradient tensor's scale (absolute for parameters)."""
    def scale(key):
        return max(ref[key].abs().max().item(), 1e-12) if "/grad/" in key else 1.0
    return max((record[k] - ref[k]).abs().max().item() / scale(k) for k in ref)


def test_ddp_matches_one_process_on_the_combined_batch(tmp_path):
    example = _example()
    _torchrun(tmp_path, example.MODELS)
    for kind in example.MODELS:
        rank0 = load_file(str(tmp_path / f"{kind}.rank0.safetensors"))
        rank1 = load_file(str(tmp_path / f"{kind}.rank1.safetensors"))
        single = example.train(kind, STEPS, BATCH)              # one process, the whole batches
        assert rank0.keys() == single.keys(), f"{kind}: {sorted(rank0.keys() ^ single.keys())}"
        assert sum("/grad/" in k for k in single) >= 2 * STEPS, f"{kind}: too few gradients recorded"
        assert all(torch.equal(rank0[k], rank1[k]) for k in rank0), f"{kind}: the processes diverged"
        gap = _worst(rank0, single)
        assert gap < TOL, f"{kind}: DDP differs from one process on the combined batch by {gap:.2e}"
        half = example.train(kind, STEPS, BATCH, rank=0, world=2)  # control: rank 0's halves alone
        assert _worst(half, single) > 100 * TOL, f"{kind}: the control does not tell the batches apart"


def test_generated_parameters_are_left_out_of_ddp():
    target = hw.mlp((4, 8, 3))
    model = hw.HyperModel(target, hw.HyperNetwork(target, exclude=["2.bias"],
                                                  condition=hw.TaskEmbedding(2, 4)))
    generated = ["target.0.weight", "target.0.bias", "target.2.weight"]
    assert generated_parameter_names(model) == generated
    assert model._ddp_params_and_buffers_to_ignore == generated
    # DDP's own setter keeps the caller's names beside the generated ones
    torch.nn.parallel.DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
        model, ["hypernetwork.head.tokens"])
    assert model._ddp_params_and_buffers_to_ignore == [*generated, "hypernetwork.head.tokens"]
    example = _example()
    continual, ensemble = example.build("continual"), example.build("ensemble")
    assert continual._ddp_params_and_buffers_to_ignore == [
        f"target.{n}" for n in continual.hnet.generated_parameter_names]
    assert ensemble._ddp_params_and_buffers_to_ignore == [
        f"model.target.{n}" for n in ensemble.hypernetwork.generated_parameter_names]
