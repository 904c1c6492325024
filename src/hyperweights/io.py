"""Checkpoints without pickle: one safetensors file, the design as JSON in its metadata.

``save(obj, path)`` writes one file for any model of the library:

- a :class:`HyperNetwork` or :class:`HyperModel`: the hypernetwork's tensors (and, for a model, the
  target's non-generated parameters and buffers, which train with it), a JSON config and a
  fingerprint of the generated names and shapes; ``load(path, target)`` rebuilds the design and
  checks the fingerprint against ``target``;
- an application model (a continual learner, an implicit ensemble, a conditioned model, ...): any
  class registered with :func:`checkpointable` that implements ``checkpoint_state()`` and
  ``from_checkpoint(tensors, config, **overrides)``; ``load(path)`` finds the class from the kind
  stored in the file.

The file format (atomic writes, a checksum of the tensor data, umask-respecting modes) is in
:mod:`hyperweights._files`.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable

from torch import Tensor, nn

from ._files import load_tensors, pack_state, save_tensors, unpack_state
from ._parts import build_part
from .hypernetwork import HyperNetwork
from .model import HyperModel, check_compatible

__all__ = ["save", "load", "checkpointable", "ConfigCheckpoint", "save_tensors", "load_tensors", "pack_state",
           "unpack_state", "CHECKPOINT_KINDS"]

#: kind (``"<app>.<Class>"``) -> registered class
CHECKPOINT_KINDS: dict[str, type] = {}


class ConfigCheckpoint:
    """Mixin: the checkpoint protocol of :func:`checkpointable` for a module that keeps its
    constructor arguments in ``self.config`` (a JSON-able dict) and everything else in its
    ``state_dict``; ``hw.load(path, **overrides)`` replaces config entries.

    Example:
        >>> import tempfile, torch
        >>> import hyperweights as hw
        >>> @hw.checkpointable("example.Affine")
        ... class Affine(ConfigCheckpoint, torch.nn.Module):
        ...     def __init__(self, n):
        ...         super().__init__()
        ...         self.config, self.w = {"n": n}, torch.nn.Parameter(torch.full((n,), 2.0))
        >>> path = tempfile.mkdtemp() + "/affine.safetensors"
        >>> hw.save(Affine(2), path)
        >>> hw.load(path).w.tolist()
        [2.0, 2.0]
    """

    def checkpoint_state(self) -> tuple[dict[str, Tensor], dict]:
        return {k: v.detach() for k, v in self.state_dict().items()}, dict(self.config)

    @classmethod
    def from_checkpoint(cls, tensors: dict[str, Tensor], config: dict, **overrides):
        model = cls(**{**config, **overrides})
        try:
            model.load_state_dict(tensors)
        except RuntimeError as err:
            raise ValueError(f"the stored tensors do not fit a {cls.__name__}{config}: {err}") from err
        return model


def checkpointable(kind: str) -> Callable[[type], type]:
    """Class decorator: ``hw.save`` / ``hw.load`` handle instances of the class under ``kind``.

    The class implements ``checkpoint_state(self) -> (tensors, config)`` (``config`` JSON-able and
    enough to rebuild the object) and the classmethod ``from_checkpoint(tensors, config,
    **overrides)``. ``kind`` is ``"<app>.<Class>"`` where ``hyperweights.<app>`` is the module that
    registers it (``load`` imports it when needed), or any dotted name for a user's own class
    (import its module before loading).

    Example:
        >>> import tempfile, torch
        >>> import hyperweights as hw
        >>> @hw.checkpointable("example.Scale")
        ... class Scale(torch.nn.Module):
        ...     def __init__(self, n):
        ...         super().__init__()
        ...         self.n, self.w = n, torch.nn.Parameter(torch.ones(n))
        ...     def checkpoint_state(self):
        ...         return {"w": self.w.detach()}, {"n": self.n}
        ...     @classmethod
        ...     def from_checkpoint(cls, tensors, config):
        ...         model = cls(config["n"])
        ...         model.w.data.copy_(tensors["w"])
        ...         return model
        >>> path = tempfile.mkdtemp() + "/scale.safetensors"
        >>> hw.save(Scale(3), path)
        >>> hw.load(path).w.tolist()
        [1.0, 1.0, 1.0]
    """
    if not isinstance(kind, str) or "." not in kind:
        raise ValueError(f"a checkpoint kind is '<app>.<Class>' (e.g. 'continual.HNET'), got {kind!r}")

    def register(cls: type) -> type:
        if not isinstance(cls, type):
            raise TypeError(f"@hw.checkpointable({kind!r}) decorates a class, got "
                            f"{type(cls).__name__} {cls!r}")
        missing = [m for m in ("checkpoint_state", "from_checkpoint") if not hasattr(cls, m)]
        if missing:
            raise TypeError(f"{cls.__name__} cannot be checkpointable: it lacks {missing}")
        known = CHECKPOINT_KINDS.get(kind)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise ValueError(f"checkpoint kind {kind!r} is already registered for "
                             f"{known.__module__}.{known.__qualname__}; choose another name")
        CHECKPOINT_KINDS[kind] = cls
        cls.checkpoint_kind = kind
        return cls

    return register


def _kind_class(kind: str, path) -> type:
    if kind not in CHECKPOINT_KINDS:
        app = kind.split(".")[0]
        module = f"hyperweights.{app}"
        if app.isidentifier() and importlib.util.find_spec(module) is not None:
            importlib.import_module(module)
    if kind not in CHECKPOINT_KINDS:
        raise ValueError(
            f"{path} holds a {kind!r}, which no imported module registers; import the module that "
            f"defines it (decorated with @hw.checkpointable({kind!r})) before loading. Known "
            f"kinds: {sorted(CHECKPOINT_KINDS)}"
        )
    return CHECKPOINT_KINDS[kind]


def save(obj, path: str | os.PathLike) -> None:
    """Save a :class:`HyperNetwork`, a :class:`HyperModel` (no target weights that are generated)
    or any model registered with :func:`checkpointable`, atomically, as one file.

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
    elif getattr(type(obj), "checkpoint_kind", None) in CHECKPOINT_KINDS:
        tensors, config = obj.checkpoint_state()
        save_tensors(path, tensors, {"kind": type(obj).checkpoint_kind, "config": config})
        return
    else:
        raise TypeError(
            f"save() takes a HyperNetwork, a HyperModel or a model registered with "
            f"@hw.checkpointable (kinds: {sorted(CHECKPOINT_KINDS)}); got {type(obj).__name__}"
        )
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


def _rebuild(spec, override, label, path):
    if override is not None:
        return override
    if spec is None:
        return None
    if not spec.get("serializable", True):
        raise ValueError(
            f"the checkpoint's {label} ({spec['class']}) wraps user code that cannot be stored as "
            f"JSON; pass it again: load(path, target, {label}=...)"
        )
    try:
        return build_part(spec)
    except TypeError as err:   # a config key the part's constructor does not take
        raise ValueError(
            f"{path}: the stored {label} config {spec.get('config')} does not fit "
            f"{spec.get('class')}'s constructor ({err}); the file was written by another version "
            f"or edited: pass a {label} yourself with load(path, target, {label}=...)"
        ) from err


def load(path: str | os.PathLike, target: nn.Module | None = None, *, condition=None, trunk=None,
         head=None, strict: bool = True, **overrides):
    """Load what :func:`save` wrote.

    Args:
        path: the checkpoint file.
        target: for a :class:`HyperNetwork` / :class:`HyperModel`, the module the hypernetwork
            generates for (same architecture as when saved); for a saved :class:`HyperModel` its
            non-generated parameters and buffers are restored in place. Application models pass
            it on to their ``from_checkpoint`` when given.
        condition, trunk, head: parts to use instead of rebuilding them from the config (needed
            for parts wrapping user code, such as :class:`DataCondition`).
        overrides: passed to an application model's ``from_checkpoint``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: corrupt, tampered or foreign file, or a target whose parameters do not match
            (the message names them).
        TypeError: ``target`` is not an ``nn.Module``.
    """
    if target is not None and not isinstance(target, nn.Module):
        raise TypeError(
            f"target must be the nn.Module the checkpoint was saved for (e.g. the same "
            f"nn.Sequential, freshly built), got {type(target).__name__} {target!r}"
        )
    tensors, meta = load_tensors(path)
    kind = meta.get("kind") if isinstance(meta, dict) else None
    if kind in ("HyperNetwork", "HyperModel"):
        if target is None:
            raise TypeError(f"{path} holds a {kind}: pass the target it generates for, "
                            f"hw.load(path, target)")
        return _load_hypernetwork(path, tensors, meta, target, condition, trunk, head, strict)
    if not isinstance(kind, str):
        raise ValueError(f"{path}: the checkpoint's metadata names no model kind; it was not written "
                         "by hyperweights.save")
    cls = _kind_class(kind, path)
    if target is not None:
        overrides["target"] = target
    return cls.from_checkpoint(tensors, meta.get("config", {}), **overrides)


def _load_hypernetwork(path, tensors, meta, target, condition, trunk, head, strict):
    try:
        cfg = meta["hypernetwork"]
        names = cfg["generate"]
        kind = meta["kind"]
        fingerprint = cfg["fingerprint"]["params"]
    except (KeyError, TypeError) as err:
        raise ValueError(f"{path}: the checkpoint config lacks the entry {err} (damaged, or not "
                         "written by hyperweights.save)") from err
    specs_like = [type("S", (), {"name": n, "shape": tuple(s)}) for n, s in fingerprint]
    check_compatible(target, specs_like)
    wanted = set(names)
    hnet = HyperNetwork(
        target, generate=lambda n, p: n in wanted,
        condition=_rebuild(cfg["condition"], condition, "condition", path),
        trunk=_rebuild(cfg["trunk"], trunk, "trunk", path),
        head=_rebuild(cfg["head"], head, "head", path),
        parametrization=_rebuild(cfg["parametrization"], None, "parametrization", path),
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
