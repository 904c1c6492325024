"""The checkpoint file format: one safetensors file, JSON metadata, a checksum, atomic writes.

- :func:`save_tensors` writes tensors + a JSON dict to a temporary file in the destination folder,
  fsyncs it, renames it over the destination and fsyncs the folder, so a crash at any moment leaves
  either the old file or the new one, never a mix. The file gets the mode the umask gives a new
  file (``0666 & ~umask``), not ``mkstemp``'s private ``0600``.
- A SHA-256 of every tensor's name, dtype, shape and bytes is stored in the metadata and checked by
  :func:`load_tensors`: a flipped byte fails loudly instead of loading different weights.
- :func:`pack_state` / :func:`unpack_state` split a nested state (an optimizer's or a scheduler's
  ``state_dict()``) into tensors and a JSON skeleton, so training state is saved without pickle.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor

__all__ = ["FORMAT", "save_tensors", "load_tensors", "tensor_checksum", "pack_state", "unpack_state"]

FORMAT = "hyperweights/2"
#: older formats that load (format 1 had no checksum)
_READABLE = {"hyperweights/1", FORMAT}


def tensor_checksum(tensors: dict[str, Tensor]) -> str:
    """SHA-256 over the tensors' names, dtypes, shapes and bytes, in sorted name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.numel():
            digest.update(memoryview(t.reshape(-1).view(torch.uint8).numpy()))
    return digest.hexdigest()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open a folder; the rename is still atomic there
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_tensors(path: str | os.PathLike, tensors: dict[str, Tensor], meta: dict) -> None:
    """Atomically write ``tensors`` and a JSON-serialisable ``meta`` dict to a safetensors file.

    Example:
        >>> import tempfile, torch
        >>> path = tempfile.mkdtemp() + "/state.safetensors"
        >>> save_tensors(path, {"w": torch.ones(2)}, {"step": 3})
        >>> tensors, meta = load_tensors(path)
        >>> tensors["w"].tolist(), meta
        ([1.0, 1.0], {'step': 3})
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file path such as {path / 'model.safetensors'}")
    path.parent.mkdir(parents=True, exist_ok=True)
    bad = [k for k, v in tensors.items() if not isinstance(v, Tensor)]
    if bad:
        raise TypeError(f"checkpoint entries must be tensors; not tensors: {bad}")
    # safetensors refuses shared or non-contiguous storage; checkpoints are small next to training
    payload = {k: v.detach().contiguous().clone().cpu() for k, v in tensors.items()}
    try:
        text = json.dumps(meta)
    except TypeError as err:
        raise TypeError(f"checkpoint metadata must be JSON-serialisable: {err}") from err
    header = {"format": FORMAT, "meta": text, "sha256": tensor_checksum(payload)}
    replace_atomically(path, lambda tmp: save_file(payload, tmp, metadata=header))


def replace_atomically(path: Path, write: Callable[[str], None]) -> None:
    """Write ``path`` through ``write(temporary_path)``: a temporary file in the same folder, the
    umask's mode, fsync, rename over ``path``, fsync of the folder. A write killed midway leaves the
    previous file intact."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_json(path: str | os.PathLike, data: dict) -> None:
    """``data`` as JSON at ``path``, written by :func:`replace_atomically`."""
    text = json.dumps(data, indent=1)
    replace_atomically(Path(path), lambda tmp: Path(tmp).write_text(text))


def load_tensors(path: str | os.PathLike) -> tuple[dict[str, Tensor], dict]:
    """Read a file written by :func:`save_tensors`: returns ``(tensors, meta)``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: not a safetensors file, not a hyperweights checkpoint, damaged metadata, or
            tensor data that fails the checksum.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        tensors = load_file(str(path))
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{path} is not a readable safetensors checkpoint (corrupt or truncated?): {err}") from err
    if header.get("format") not in _READABLE:
        raise ValueError(
            f"{path} is a safetensors file but not a hyperweights checkpoint (format "
            f"{header.get('format')!r}, expected {FORMAT!r})"
        )
    if header["format"] != "hyperweights/1":
        stored = header.get("sha256")
        if stored is None or stored != tensor_checksum(tensors):
            raise ValueError(
                f"{path}: the tensor data does not match the checksum stored when it was saved "
                "(the file was modified or corrupted after writing); restore it from a backup or "
                "save it again"
            )
    try:
        meta = json.loads(header["meta"])
    except (KeyError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: the checkpoint's metadata is damaged ({err})") from err
    return tensors, meta


def pack_state(state: Any, prefix: str) -> tuple[dict[str, Tensor], Any]:
    """Split a nested state (dicts, lists, tuples, numbers, strings, tensors) into ``tensors``
    (keyed ``prefix.<path>``) and a JSON skeleton that names them; inverse: :func:`unpack_state`.

    Example:
        >>> opt = torch.optim.Adam([torch.zeros(2, requires_grad=True)])
        >>> tensors, skeleton = pack_state(opt.state_dict(), "optim")
        >>> unpack_state(tensors, skeleton)["param_groups"][0]["lr"]
        0.001
    """
    tensors: dict[str, Tensor] = {}

    def walk(value, key):
        if isinstance(value, Tensor):
            tensors[key] = value
            return {"__tensor__": key}
        if isinstance(value, dict):
            return {"__dict__": [[walk(k, f"{key}.k{i}"), walk(v, f"{key}.{i}")]
                                 for i, (k, v) in enumerate(value.items())]}
        if isinstance(value, (list, tuple)):
            return {"__list__": [walk(v, f"{key}.{i}") for i, v in enumerate(value)],
                    "tuple": isinstance(value, tuple)}
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise TypeError(f"cannot store {type(value).__name__} at {key!r} in a checkpoint "
                        "(tensors, numbers, strings, lists and dicts only)")

    return tensors, walk(state, prefix)


def unpack_state(tensors: dict[str, Tensor], skeleton: Any) -> Any:
    """Rebuild what :func:`pack_state` split."""
    if isinstance(skeleton, dict):
        if "__tensor__" in skeleton:
            return tensors[skeleton["__tensor__"]]
        if "__dict__" in skeleton:
            return {unpack_state(tensors, k): unpack_state(tensors, v) for k, v in skeleton["__dict__"]}
        if "__list__" in skeleton:
            items = [unpack_state(tensors, v) for v in skeleton["__list__"]]
            return tuple(items) if skeleton.get("tuple") else items
    return skeleton
