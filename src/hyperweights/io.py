"""Checkpoints without pickle: one safetensors file, the design as JSON in its metadata.

``save(obj, path)`` writes the hypernetwork's tensors (and, for a :class:`HyperModel`, the target's
non-generated parameters and buffers, which train with it) plus a JSON config and a fingerprint of
the generated names and shapes. ``load(path, target)`` rebuilds the design, checks the fingerprint
against ``target`` and restores the tensors. Writes are atomic (temporary file + rename).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from ._parts import build_part
from .hypernetwork import HyperNetwork
from .model import HyperModel, check_compatible

__all__ = ["save", "load", "save_tensors", "load_tensors"]

FORMAT = "hyperweights/1"


def save_tensors(path: str | os.PathLike, tensors: dict[str, Tensor], meta: dict) -> None:
    """Atomically write ``tensors`` and a JSON-serialisable ``meta`` dict to a safetensors file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # safetensors refuses shared or non-contiguous storage; checkpoints are small next to training
    payload = {k: v.detach().contiguous().clone() for k, v in tensors.items()}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(payload, tmp, metadata={"format": FORMAT, "meta": json.dumps(meta)})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_tensors(path: str | os.PathLike) -> tuple[dict[str, Tensor], dict]:
    """Read a file written by :func:`save_tensors`: returns ``(tensors, meta)``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        tensors = load_file(str(path))
        from safetensors import safe_open
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{path} is not a readable safetensors checkpoint (corrupt or truncated?): {err}") from err
    if header.get("format") != FORMAT:
        raise ValueError(
            f"{path} is a safetensors file but not a hyperweights checkpoint (format "
            f"{header.get('format')!r}, expected {FORMAT!r})"
        )
    try:
        meta = json.loads(header["meta"])
    except (KeyError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: the checkpoint's metadata is damaged ({err})") from err
    return tensors, meta


def save(obj: HyperNetwork | HyperModel, path: str | os.PathLike) -> None:
    """Save a :class:`HyperNetwork` or :class:`HyperModel` (no target weights that are generated).

    Example:
        >>> import tempfile, torch
        >>> from torch import nn
        >>> import hyperweights as hw
        >>> target = nn.Linear(3, 2)
        >>> hnet = hw.HyperNetwork(target, condition=hw.TaskEmbedding(2, 4))
        >>> path = tempfile.mkdtemp() + "/hnet.safetensors"
        >>> hw.save(hnet, path)
        >>> again = hw.load(path, target)
        >>> torch.equal(again.flat(1), hnet.flat(1))
        True
    """
    if isinstance(obj, HyperModel):
        hnet, kind = obj.hypernetwork, "HyperModel"
    elif isinstance(obj, HyperNetwork):
        hnet, kind = obj, "HyperNetwork"
    else:
        raise TypeError(f"save() takes a HyperNetwork or HyperModel, got {type(obj).__name__}")
    tensors = {f"hypernetwork.{k}": v for k, v in hnet.state_dict().items()}
    if kind == "HyperModel":
        for name, value in _static_state(obj.target, hnet.generated_parameter_names).items():
            tensors[f"target.{name}"] = value
    save_tensors(path, tensors, {"kind": kind, "hypernetwork": hnet.config()})


def _static_state(target: nn.Module, generated: list[str]) -> dict[str, Tensor]:
    """The target's state_dict without the generated parameters, also under their aliases (a tied
    weight appears once per module that holds it)."""
    params = dict(target.named_parameters())
    generated_ids = {id(params[n]) for n in generated if n in params}
    return {name: value.detach() for name, value in target.state_dict(keep_vars=True).items()
            if id(value) not in generated_ids}


def _rebuild(spec, override, label):
    if override is not None:
        return override
    if spec is None:
        return None
    if not spec.get("serializable", True):
        raise ValueError(
            f"the checkpoint's {label} ({spec['class']}) wraps user code that cannot be stored as "
            f"JSON; pass it again: load(path, target, {label}=...)"
        )
    return build_part(spec)


def load(path: str | os.PathLike, target: nn.Module, *, condition=None, trunk=None, head=None,
         strict: bool = True) -> HyperNetwork | HyperModel:
    """Load what :func:`save` wrote, for ``target`` (same architecture as when saved).

    Args:
        path: the checkpoint file.
        target: the module the hypernetwork generates for; for a saved :class:`HyperModel` its
            non-generated parameters and buffers are restored in place.
        condition, trunk, head: parts to use instead of rebuilding them from the config (needed
            for parts wrapping user code, such as :class:`DataCondition`).

    Raises:
        ValueError: corrupt or foreign file, or a target whose parameters do not match (the
            message names them).
    """
    tensors, meta = load_tensors(path)
    try:
        cfg = meta["hypernetwork"]
        names = cfg["generate"]
        kind = meta["kind"]
    except (KeyError, TypeError) as err:
        raise ValueError(f"{path}: the checkpoint config lacks {err}") from err
    specs_like = [type("S", (), {"name": n, "shape": tuple(s)})
                  for n, s in cfg["fingerprint"]["params"]]
    check_compatible(target, specs_like)
    wanted = set(names)
    hnet = HyperNetwork(
        target, generate=lambda n, p: n in wanted,
        condition=_rebuild(cfg["condition"], condition, "condition"),
        trunk=_rebuild(cfg["trunk"], trunk, "trunk"), head=_rebuild(cfg["head"], head, "head"),
        parametrization=_rebuild(cfg["parametrization"], None, "parametrization"),
        init=cfg.get("init"), feature_scale=cfg.get("feature_scale"),
        check_finite=cfg.get("check_finite", False),
    )
    own = {k[len("hypernetwork."):]: v for k, v in tensors.items() if k.startswith("hypernetwork.")}
    try:
        hnet.load_state_dict(own, strict=strict)
    except RuntimeError as err:
        raise ValueError(f"{path}: the stored hypernetwork tensors do not fit the rebuilt design: {err}") from err
    if kind == "HyperNetwork":
        return hnet
    model = HyperModel(target, hnet)
    static = {k[len("target."):]: v for k, v in tensors.items() if k.startswith("target.")}
    own = _static_state(target, names)
    missing = [n for n in own if n not in static]
    unexpected = [n for n in static if n not in own]
    mismatched = [f"{n}: stored {tuple(static[n].shape)}, target has {tuple(own[n].shape)}"
                  for n in own if n in static and static[n].shape != own[n].shape]
    if missing or unexpected or mismatched:
        raise ValueError(
            f"{path}: the target's non-generated parameters/buffers do not match the checkpoint "
            f"(a different architecture?): missing in the checkpoint {missing}, not in "
            f"{type(target).__name__} {unexpected}, shape mismatches {mismatched}"
        )
    target.load_state_dict(static, strict=False)
    return model
