"""Checkpoint files: checksummed, atomic (a save killed midway leaves the old file), umask modes,
the application-model protocol, and clear errors for damaged configs."""

import json
import os
import signal
import subprocess
import sys

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

import hyperweights as hw
from hyperweights._files import load_tensors, save_tensors


def _model():
    target = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    return target, hw.HyperModel(target, hw.HyperNetwork(target, condition=hw.TaskEmbedding(3, 4)))


def _header(path):
    with safe_open(str(path), framework="pt") as f:
        return f.metadata()


def test_a_flipped_byte_in_tensor_data_is_detected(tmp_path):
    target, model = _model()
    path = tmp_path / "m.safetensors"
    hw.save(model, path)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x40                                       # inside the last tensor's bytes
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="does not match the checksum"):
        hw.load(path, target)


def test_a_format_1_file_without_checksum_still_loads(tmp_path):
    path = tmp_path / "old.safetensors"
    save_file({"w": torch.ones(2)}, str(path), metadata={"format": "hyperweights/1", "meta": "{}"})
    tensors, meta = load_tensors(path)
    assert meta == {} and tensors["w"].tolist() == [1.0, 1.0]


def test_files_get_the_umask_mode_not_0600(tmp_path):
    old = os.umask(0o027)
    try:
        save_tensors(tmp_path / "a.safetensors", {"w": torch.ones(1)}, {})
    finally:
        os.umask(old)
    assert (tmp_path / "a.safetensors").stat().st_mode & 0o777 == 0o640


def test_a_save_killed_before_the_rename_leaves_the_old_file(tmp_path):
    path = tmp_path / "m.safetensors"
    save_tensors(path, {"w": torch.zeros(1000)}, {"version": "old"})
    script = (
        "import os, signal, torch\n"
        "import hyperweights._files as f\n"
        "def die(*a): os.kill(os.getpid(), signal.SIGKILL)\n"
        "f.os.replace = die\n"                        # the process dies after writing the temp file
        f"f.save_tensors({str(path)!r}, {{'w': torch.ones(1000)}}, {{'version': 'new'}})\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    tensors, meta = load_tensors(path)
    assert meta == {"version": "old"} and torch.equal(tensors["w"], torch.zeros(1000))


def test_a_failing_save_leaves_no_temporary_file_and_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    save_tensors(path, {"w": torch.zeros(3)}, {"v": 1})
    import hyperweights._files as files

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(files, "save_file", broken)
    with pytest.raises(OSError, match="disk full"):
        save_tensors(path, {"w": torch.ones(3)}, {"v": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]
    assert load_tensors(path)[1] == {"v": 1}


def test_save_tensors_errors(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder"):
        save_tensors(tmp_path, {"w": torch.ones(1)}, {})
    with pytest.raises(TypeError, match="not tensors"):
        save_tensors(tmp_path / "x.safetensors", {"w": [1.0]}, {})
    with pytest.raises(TypeError, match="JSON-serialisable"):
        save_tensors(tmp_path / "x.safetensors", {"w": torch.ones(1)}, {"f": object()})


def test_load_with_a_string_target_says_what_is_expected(tmp_path):
    target, model = _model()
    hw.save(model, tmp_path / "m.safetensors")
    with pytest.raises(TypeError, match="target must be the nn.Module"):
        hw.load(tmp_path / "m.safetensors", "mlp")
    with pytest.raises(TypeError, match="pass the target"):
        hw.load(tmp_path / "m.safetensors")


def _rewrite_meta(path, edit):
    tensors, meta = load_tensors(path)
    edit(meta)
    save_tensors(path, tensors, meta)


def test_an_unknown_config_key_is_a_clear_error(tmp_path):
    target, model = _model()
    path = tmp_path / "m.safetensors"
    hw.save(model, path)
    _rewrite_meta(path, lambda m: m["hypernetwork"]["trunk"]["config"].update(depthh=3))
    with pytest.raises(ValueError, match="does not fit MLP's constructor"):
        hw.load(path, target)


def test_a_missing_fingerprint_is_a_clear_error(tmp_path):
    target, model = _model()
    path = tmp_path / "m.safetensors"
    hw.save(model, path)
    _rewrite_meta(path, lambda m: m["hypernetwork"].pop("fingerprint"))
    with pytest.raises(ValueError, match="lacks the entry 'fingerprint'"):
        hw.load(path, target)


@hw.checkpointable("tests.Affine")
class Affine(nn.Module):
    def __init__(self, n, bias=True):
        super().__init__()
        self.n, self.bias = n, bias
        self.w = nn.Parameter(torch.randn(n))

    def checkpoint_state(self):
        return {"w": self.w.detach()}, {"n": self.n, "bias": self.bias}

    @classmethod
    def from_checkpoint(cls, tensors, config, **overrides):
        model = cls(**{**config, **overrides})
        model.w.data.copy_(tensors["w"])
        return model


def test_registered_application_models_round_trip(tmp_path):
    model = Affine(4)
    hw.save(model, tmp_path / "a.safetensors")
    again = hw.load(tmp_path / "a.safetensors", bias=False)
    assert torch.equal(again.w, model.w) and again.bias is False
    assert json.loads(_header(tmp_path / "a.safetensors")["meta"])["kind"] == "tests.Affine"


def test_registering_a_kind_twice_for_another_class_is_an_error():
    with pytest.raises(ValueError, match="already registered"):
        @hw.checkpointable("tests.Affine")
        class Other(Affine):
            pass


def test_checkpointable_needs_the_protocol_and_a_dotted_kind():
    with pytest.raises(TypeError, match="lacks"):
        hw.checkpointable("tests.Bare")(type("Bare", (), {}))
    with pytest.raises(ValueError, match="<app>.<Class>"):
        hw.checkpointable("Bare")


def test_an_unregistered_kind_names_the_known_kinds(tmp_path):
    path = tmp_path / "x.safetensors"
    save_tensors(path, {"w": torch.ones(1)}, {"kind": "nosuchapp.Thing", "config": {}})
    with pytest.raises(ValueError, match="no imported module registers"):
        hw.load(path)
