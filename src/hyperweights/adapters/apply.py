"""Adapters applied to a frozen model in factored form, one batched call for a mixed-task batch.

An adapter is two matrices per adapted module, each with a leading weight-set dimension ``W``:

- ``"lora"``: ``A: (W, r, in)``, ``B: (W, out, r)`` (peft's ``lora_A`` / ``lora_B`` layout); the
  module's output becomes ``y + scaling * (x @ A.T) @ B.T``, ``x`` being the module's input;
- ``"bottleneck"`` (Houlsby-style, HyperFormer's adapter): ``down: (W, m, out)``, ``up: (W, out, m)``;
  the output becomes ``y + relu(y @ down.T) @ up.T``.

``ΔW = B @ A`` is never formed: two thin batched matmuls cost ``O((in + out) r)`` per token.
With ``index`` (``(B,)`` integers into the ``W`` sets, e.g. task ids), sample ``i`` uses set
``index[i]``: the sets are gathered per sample and applied with one ``bmm`` per matrix, the way
multi-adapter LoRA servers batch requests; ``W == 1`` is one set for the whole batch.

The model itself is not modified: forward hooks are registered on the adapted modules for the
duration of the ``with`` block and removed in a ``finally`` (also when the block raises).
``materialise=True`` forms ``W0 + ΔW`` per sample instead (for measurement and tests only).
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import Tensor, nn

from .select import AdaptedModule

__all__ = ["KINDS", "adapted", "lora_delta"]

KINDS = ("lora", "bottleneck")


def lora_delta(x: Tensor, first: Tensor, second: Tensor, index: Tensor | None) -> Tensor:
    """``(x @ first.T) @ second.T`` with per-sample matrices (never their product).

    Args:
        x: ``(B, ..., in)``.
        first: ``(W, r, in)``; second: ``(W, out, r)``.
        index: ``(B,)`` set of each sample, or None (``W`` is 1 or ``B``).

    Returns:
        ``(B, ..., out)``.

    Example:
        >>> x, a, b = torch.randn(4, 3, 5), torch.randn(2, 2, 5), torch.randn(2, 6, 2)
        >>> y = lora_delta(x, a, b, torch.tensor([0, 1, 1, 0]))
        >>> torch.allclose(y[1], x[1] @ a[1].T @ b[1].T, atol=1e-5)
        True
    """
    return _apply(_apply(x, first, index), second, index)


def _apply(x: Tensor, matrix: Tensor, index: Tensor | None) -> Tensor:
    """``x @ matrix.T`` with ``matrix: (W, n, m)`` chosen per sample (gathered by ``index``, or
    ``W`` in {1, B}); ``x: (B, ..., m)`` -> ``(B, ..., n)``."""
    flat = x.reshape(x.shape[0], -1, x.shape[-1])                           # (B, N, m)
    if index is not None:
        if index.shape[0] != x.shape[0]:
            raise ValueError(f"the adapter index has {index.shape[0]} entries but the batch has "
                             f"{x.shape[0]} samples: pass one weight-set index per sample")
        matrix = matrix[index]                                              # gather: (B, n, m)
    elif matrix.shape[0] not in (1, x.shape[0]):
        raise ValueError(f"{matrix.shape[0]} adapter weight sets for a batch of {x.shape[0]}: W must "
                         "be 1 or the batch size, or pass index= (the set of every sample)")
    out = torch.bmm(flat, matrix.transpose(1, 2)) if matrix.shape[0] > 1 else flat @ matrix[0].T
    return out.reshape(*x.shape[:-1], out.shape[-1])


def _materialised(module: nn.Module, spec: AdaptedModule, x: Tensor, first: Tensor, second: Tensor,
                  index: Tensor | None, scaling: float) -> Tensor:
    weight = module.weight.T if spec.fan_in_fan_out else module.weight       # (out, in)
    delta = torch.bmm(second, first) * scaling                              # (W, out, in)
    if index is not None:
        delta = delta[index]
    full = weight + delta                                                   # (B or 1, out, in)
    flat = x.reshape(x.shape[0], -1, x.shape[-1])
    out = torch.matmul(flat, full.transpose(1, 2))
    if module.bias is not None:
        out = out + module.bias
    return out.reshape(*x.shape[:-1], out.shape[-1])


def _hook(spec: AdaptedModule, kind: str, first: Tensor, second: Tensor, index, scaling: float,
          materialise: bool):
    def lora(module, inputs, output):
        if materialise:
            return _materialised(module, spec, inputs[0], first, second, index, scaling)
        return output + scaling * lora_delta(inputs[0], first, second, index)

    def bottleneck(module, inputs, output):
        return output + _apply(_apply(output, first, index).relu(), second, index)

    return lora if kind == "lora" else bottleneck


@contextmanager
def adapted(model: nn.Module, modules: list[AdaptedModule], weights: dict[str, tuple[Tensor, Tensor]],
            *, kind: str = "lora", scaling: float = 1.0, index: Tensor | None = None,
            materialise: bool = False):
    """Within the block, ``model``'s adapted modules add their adapter to their output.

    Args:
        model: the frozen model (not modified; hooks are removed on exit).
        modules: from :func:`~hyperweights.adapters.select_modules`.
        weights: ``{module name: (first, second)}`` as described in the module docstring.
        kind: ``"lora"`` or ``"bottleneck"``.
        scaling: LoRA's ``alpha / r`` (bottleneck adapters ignore it).
        index: ``(B,)`` weight set of each sample (mixed-task batch), or None for ``W`` in {1, B}.
        materialise: form ``W0 + ΔW`` per sample (LoRA only; for measurement).

    Example:
        >>> from hyperweights.adapters import select_modules
        >>> net = nn.Sequential(nn.Linear(4, 4))
        >>> mods = select_modules(net, ["0"])
        >>> w = {"0": (torch.randn(3, 2, 4), torch.zeros(3, 4, 2))}   # 3 sets, B = 0: no change
        >>> x = torch.randn(5, 4)
        >>> with adapted(net, mods, w, index=torch.tensor([0, 1, 2, 1, 0])):
        ...     y = net(x)
        >>> torch.equal(y, net(x))
        True
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if index is not None and (not isinstance(index, Tensor) or index.ndim != 1
                              or index.is_floating_point() or index.is_complex()):
        raise TypeError(f"index must be a 1-D integer tensor (the weight set of every sample), got "
                        f"{getattr(index, 'dtype', type(index).__name__)} of shape {getattr(index, 'shape', None)}")
    if materialise and kind != "lora":
        raise ValueError("materialise=True forms W0 + ΔW, which exists for LoRA only")
    by_name = dict(model.named_modules())
    missing = [m.name for m in modules if m.name not in weights or m.name not in by_name]
    if missing:
        raise KeyError(f"no adapter weights (or no module of {type(model).__name__}) for {missing}; "
                       f"weights were given for {sorted(weights)}")
    handles = []
    try:
        for spec in modules:
            first, second = weights[spec.name]
            handles.append(by_name[spec.name].register_forward_hook(
                _hook(spec, kind, first, second, index, scaling, materialise)))
        yield
    finally:
        for handle in handles:
            handle.remove()
