"""A zoo on disk: safetensors shards of ``(k, *shape)`` weights and one JSON manifest, read lazily.

Layout of a zoo folder::

    manifest.json             format, architecture fingerprint, one entry per member
    shard-00000.safetensors   members 0 .. shard_size-1, {name: (k, *shape)}
    shard-00001.safetensors   ...

Every shard is written with the core's atomic, checksummed writer
(:func:`hyperweights._files.save_tensors`); the manifest last, also atomically, so a folder whose
manifest exists is complete. :class:`Zoo` reads the manifest at once and a shard only when one of
its members is asked for (and keeps it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import Tensor, nn

from .._files import load_tensors, save_json, save_tensors
from .vectorize import spec_table

__all__ = ["save_zoo", "Zoo", "MANIFEST", "ZOO_FORMAT"]

MANIFEST = "manifest.json"
ZOO_FORMAT = "hyperweights.zoo/1"


def save_zoo(folder: str | os.PathLike, target: nn.Module, weights: dict[str, Tensor],
             members: list[dict], *, shard_size: int = 256) -> Path:
    """Write ``K`` members of one architecture to ``folder``; returns the manifest's path.

    Args:
        folder: created if missing; an existing zoo there is replaced.
        target: the architecture (its parameter table gives names, shapes and the fingerprint).
        weights: ``{name: (K, *shape)}`` for every parameter of ``target``.
        members: ``K`` JSON-able dicts, e.g. ``{"dataset": "0-1-2-3-4", "seed": 0,
            "metrics": {"test_accuracy": 0.93}}``.
        shard_size: members per shard file.

    Example:
        >>> import tempfile
        >>> from hyperweights.zoo import init_members
        >>> folder = tempfile.mkdtemp()
        >>> w = init_members(nn.Linear(3, 2), [0, 1, 2])
        >>> _ = save_zoo(folder, nn.Linear(3, 2), w, [{"seed": s} for s in range(3)], shard_size=2)
        >>> zoo = Zoo(folder)
        >>> len(zoo), zoo.weights([2])["bias"].shape, sorted(p.name for p in Path(folder).iterdir())[:2]
        (3, torch.Size([1, 2]), ['manifest.json', 'shard-00000.safetensors'])
    """
    table = spec_table(target)
    missing = [n for n in table.names if n not in weights]
    if missing:
        raise KeyError(f"save_zoo needs every parameter of the target; missing {missing}")
    count = weights[table.names[0]].shape[0]
    for spec in table:
        shape = tuple(weights[spec.name].shape)
        if shape != (count, *spec.shape):
            raise ValueError(f"weights[{spec.name!r}] has shape {shape}, expected (K={count}, *{spec.shape})")
    if len(members) != count:
        raise ValueError(f"one manifest entry per member: {count} members but {len(members)} entries")
    try:
        json.dumps(members)
    except TypeError as err:
        raise TypeError(f"save_zoo's member entries must be JSON-serialisable (numbers, strings, "
                        f"lists, dicts; convert tensors with float() / int()): {err}") from err
    if not (isinstance(shard_size, int) and shard_size > 0):
        raise ValueError(f"shard_size must be a positive integer, got {shard_size!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    entries, shards = [], []
    for number, lo in enumerate(range(0, count, shard_size)):   # one file per shard
        name = f"shard-{number:05d}.safetensors"
        hi = min(lo + shard_size, count)
        save_tensors(folder / name, {n: weights[n][lo:hi] for n in table.names},
                     {"kind": "zoo.Shard", "first": lo, "count": hi - lo,
                      "fingerprint": table.fingerprint()["sha256_16"]})
        shards.append(name)
        entries += [{**members[k], "index": k, "shard": name, "row": k - lo} for k in range(lo, hi)]
    save_json(folder / MANIFEST, {"format": ZOO_FORMAT, "fingerprint": table.fingerprint(),
                                    "architecture": repr(target), "shards": shards, "members": entries})
    return folder / MANIFEST


class Zoo:
    """A zoo folder written by :func:`save_zoo`, loaded lazily.

    Attributes:
        members: the manifest entries (``index``, ``shard``, ``row`` and what was saved).
        fingerprint: the architecture's parameter names and shapes.

    Raises:
        FileNotFoundError / ValueError: no manifest, or not a zoo manifest.
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        path = self.folder / MANIFEST
        if not path.is_file():
            raise FileNotFoundError(f"no zoo at {self.folder}: {MANIFEST} is missing (write one with "
                                    "hyperweights.zoo.save_zoo)")
        try:
            manifest = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON ({err}); the zoo is damaged") from err
        if manifest.get("format") != ZOO_FORMAT:
            raise ValueError(f"{path} is not a zoo manifest (format {manifest.get('format')!r}, "
                             f"expected {ZOO_FORMAT!r})")
        self.members: list[dict] = manifest["members"]
        self.fingerprint: dict = manifest["fingerprint"]
        self.architecture: str = manifest.get("architecture", "")
        self._shards: dict[str, dict[str, Tensor]] = {}

    def __len__(self) -> int:
        return len(self.members)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.fingerprint["params"]]

    def check(self, target: nn.Module) -> None:
        """Raise ``ValueError`` naming the difference if ``target`` is not the zoo's architecture."""
        theirs = spec_table(target).fingerprint()
        if theirs["sha256_16"] != self.fingerprint["sha256_16"]:
            ours = {n: tuple(s) for n, s in self.fingerprint["params"]}
            other = {n: tuple(s) for n, s in theirs["params"]}
            diff = {n: (ours.get(n), other.get(n)) for n in ours.keys() | other.keys()
                    if ours.get(n) != other.get(n)}
            raise ValueError(f"the target is not this zoo's architecture; {{name: (zoo, target)}}: {diff}")

    def _shard(self, name: str) -> dict[str, Tensor]:
        if name not in self._shards:
            tensors, _ = load_tensors(self.folder / name)
            self._shards[name] = tensors
        return self._shards[name]

    def weights(self, indices=None) -> dict[str, Tensor]:
        """``{name: (k, *shape)}`` of the members at ``indices`` (default: all), in that order;
        reads only the shards that hold them."""
        indices = range(len(self)) if indices is None else [int(i) for i in indices]
        if any(not 0 <= i < len(self) for i in indices):
            raise IndexError(f"member indices must be in 0..{len(self) - 1}")
        if not indices:
            raise ValueError("weights() needs at least one member index")
        shards = sorted({self.members[i]["shard"] for i in indices})
        # one gather per shard, then one permutation back to the order asked for
        parts, order = {n: [] for n in self.names}, []
        for shard in shards:
            picked = [(pos, self.members[i]["row"]) for pos, i in enumerate(indices)
                      if self.members[i]["shard"] == shard]
            rows = torch.tensor([row for _, row in picked])
            order += [pos for pos, _ in picked]
            for n in self.names:
                parts[n].append(self._shard(shard)[n].index_select(0, rows))
        inverse = torch.argsort(torch.tensor(order))
        return {n: torch.cat(p)[inverse] for n, p in parts.items()}

    def where(self, **match) -> list[int]:
        """Indices of the members whose manifest entries equal every ``key=value`` given."""
        return [m["index"] for m in self.members if all(m.get(k) == v for k, v in match.items())]
