"""peft interoperability: export a generated LoRA as a peft adapter folder, import trained ones.

:func:`export_peft` writes ``adapter_config.json`` (peft's ``LoraConfig``) and
``adapter_model.safetensors`` (``base_model.model.<module>.lora_A.weight: (r, in)`` and
``lora_B.weight: (out, r)``, the keys peft saves) for one weight set, so
``PeftModel.from_pretrained(base, folder)`` runs the base with exactly the generated adapter
(tested to 1e-5). GPT-2 ``Conv1D`` modules are exported with peft's ``fan_in_fan_out=True``.

:func:`import_peft` reads such folders back (any trained peft LoRA with ``r`` and ``lora_alpha``
and no rsLoRA/DoRA) as ``(W, ...)`` targets that :func:`lora_distillation_loss` distils into a
generator.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import Tensor

from .select import AdaptedModule

__all__ = ["export_peft", "import_peft", "lora_distillation_loss"]

_PREFIX = "base_model.model."
_INSTALL = "pip install 'hyperweights[adapters]'"


def _peft():
    try:
        import peft
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(f"peft export needs the peft package: {_INSTALL}") from error
    return peft


def export_peft(folder: str | os.PathLike, modules: list[AdaptedModule],
                weights: dict[str, tuple[Tensor, Tensor]], *, rank: int, alpha: float,
                base_model_name: str | None = None) -> Path:
    """Write one LoRA weight set as a peft adapter folder (LoRA only: a bottleneck adapter
    changes the module's output through a nonlinearity and has no peft LoRA form).

    Args:
        folder: created if missing.
        modules: the adapted modules (their full names become peft's ``target_modules``).
        weights: ``{name: (A (1, r, in), B (1, out, r))}`` (one set; e.g. a generator's output for
            one task) or without the leading 1.
        rank / alpha: written as ``r`` / ``lora_alpha`` (peft's scaling ``alpha / r``).
        base_model_name: recorded as ``base_model_name_or_path``.

    Returns:
        the folder.
    """
    peft = _peft()
    from safetensors.torch import save_file

    tensors = {}
    for m in modules:
        if m.name not in weights:
            raise KeyError(f"no LoRA weights for module {m.name!r}")
        a, b = (t.detach() for t in weights[m.name])
        a, b = (a[0], b[0]) if a.ndim == 3 else (a, b)
        if a.ndim == 3 or tuple(a.shape) != (rank, m.in_features) or tuple(b.shape) != (m.out_features, rank):
            raise ValueError(f"{m.name}: expected one LoRA set A ({rank}, {m.in_features}) and B "
                             f"({m.out_features}, {rank}), got {tuple(weights[m.name][0].shape)} and "
                             f"{tuple(weights[m.name][1].shape)}; export one task at a time")
        tensors[f"{_PREFIX}{m.name}.lora_A.weight"] = a.float().cpu().contiguous()
        tensors[f"{_PREFIX}{m.name}.lora_B.weight"] = b.float().cpu().contiguous()
    config = peft.LoraConfig(r=rank, lora_alpha=alpha, target_modules=[m.name for m in modules],
                             fan_in_fan_out=any(m.fan_in_fan_out for m in modules), bias="none",
                             lora_dropout=0.0, base_model_name_or_path=base_model_name)
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(str(path))
    save_file(tensors, str(path / "adapter_model.safetensors"), metadata={"format": "pt"})
    return path


def import_peft(folders: list[str | os.PathLike]) -> tuple[dict[str, tuple[Tensor, Tensor]], float]:
    """Read peft LoRA folders (same modules and rank) -> ``({name: (A (W, r, in), B (W, out, r))},
    scaling)`` with ``W = len(folders)``.

    Raises:
        ValueError: folders that disagree on modules, rank or scaling, or use rsLoRA/DoRA.
    """
    from safetensors.torch import load_file

    sets, scalings = [], set()
    for folder in folders:
        path = Path(folder)
        config = json.loads((path / "adapter_config.json").read_text())
        if config.get("use_rslora") or config.get("use_dora"):
            raise ValueError(f"{path}: rsLoRA / DoRA adapters are not plain LoRA; only r and "
                             "lora_alpha scaling is supported")
        scalings.add(float(config["lora_alpha"]) / int(config["r"]))
        tensors = load_file(str(path / "adapter_model.safetensors"))
        names = sorted(k[len(_PREFIX):-len(".lora_A.weight")] for k in tensors if k.endswith(".lora_A.weight"))
        sets.append({n: (tensors[f"{_PREFIX}{n}.lora_A.weight"], tensors[f"{_PREFIX}{n}.lora_B.weight"])
                     for n in names})
    if not sets:
        raise ValueError("import_peft needs at least one adapter folder")
    if len(scalings) != 1 or any(set(s) != set(sets[0]) for s in sets):
        raise ValueError(f"the adapters disagree on modules or scaling (scalings {sorted(scalings)}); "
                         "import adapters trained with one LoraConfig")
    stacked = {n: (torch.stack([s[n][0] for s in sets]), torch.stack([s[n][1] for s in sets]))
               for n in sets[0]}
    return stacked, scalings.pop()


def _frobenius_inner(a1: Tensor, b1: Tensor, a2: Tensor, b2: Tensor) -> Tensor:
    """``<B1 A1, B2 A2>_F`` per set from ``r × r`` products only: ``tr((B1ᵀB2)(A2 A1ᵀ))``."""
    return ((b1.transpose(1, 2) @ b2) * (a1 @ a2.transpose(1, 2))).sum((1, 2))


def lora_distillation_loss(generated: dict[str, tuple[Tensor, Tensor]], generated_scaling: float,
                           targets: dict[str, tuple[Tensor, Tensor]], target_scaling: float) -> Tensor:
    """Mean squared difference of the updates ``ΔW = s·B A``, without forming either ``ΔW``.

    ``||s1 B1 A1 - s2 B2 A2||²`` expands into Frobenius inner products of rank-``r`` factors, each a
    product of ``r × r`` matrices; the result is divided by ``out × in`` (a mean over entries) and
    averaged over modules and sets. Unlike a loss on ``A`` and ``B`` themselves it does not depend
    on the factorisation chosen (``B A = (B M)(M⁻¹ A)``).

    Example:
        >>> a, b = torch.randn(2, 3, 5), torch.randn(2, 4, 3)
        >>> round(float(lora_distillation_loss({"m": (a, b)}, 2.0, {"m": (a, 2 * b)}, 1.0)), 6)
        0.0
    """
    losses = []
    for name, (a2, b2) in targets.items():
        a1, b1 = generated[name]
        a2, b2 = a2.to(a1), b2.to(b1)
        s1, s2 = generated_scaling, target_scaling
        square = (s1 * s1 * _frobenius_inner(a1, b1, a1, b1) + s2 * s2 * _frobenius_inner(a2, b2, a2, b2)
                  - 2 * s1 * s2 * _frobenius_inner(a1, b1, a2, b2))
        losses.append(square / (b1.shape[1] * a1.shape[2]))
    return torch.stack(losses).mean()
