"""Checks of user input at the public boundary, with messages that say what was expected, what
was received and how to fix it.

They run once per public call on shapes, dtypes and devices (no data-dependent work), except
:func:`check_finite_tensor`, which reads the data and therefore runs only when a hypernetwork was
built with ``check_finite=True``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ._parts import is_traced

__all__ = ["TargetCallError", "check_int", "check_real", "check_finite_tensor", "check_input",
           "describe", "first_linear", "translate_errors"]


class TargetCallError(RuntimeError):
    """A module (the target, or a conditioner's encoder) raised while running on the user's
    input; the message adds what the input was and, where it is known, what was expected. The
    original error is chained as ``__cause__``."""


def check_int(value: Any, name: str, owner: str, minimum: int = 1) -> int:
    """``value`` if it is an int ``>= minimum`` (not a bool); else a clear error naming
    ``owner``'s argument ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{owner} needs {name} >= {minimum} as an int, got {type(value).__name__} "
                        f"{value!r}")
    if value < minimum:
        raise ValueError(f"{owner} needs {name} >= {minimum}, got {value}")
    return value


def check_real(value: Any, name: str, owner: str, *, positive: bool = False) -> float:
    """``float(value)`` if it is a finite real number (``> 0`` when ``positive``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{owner} needs {name} as a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value) or (positive and not value > 0):
        need = "a finite number > 0" if positive else "a finite number"
        raise ValueError(f"{owner} needs {name} to be {need}, got {value}")
    return float(value)


def describe(value: Any) -> str:
    """``'a float64 tensor of shape (10, 5) on cpu'``, or the type for anything else."""
    if isinstance(value, Tensor):
        return f"a {str(value.dtype).removeprefix('torch.')} tensor of shape {tuple(value.shape)} on {value.device}"
    return f"a {type(value).__name__}"


def check_finite_tensor(value: Tensor, what: str) -> None:
    """Raise ``FloatingPointError`` if a floating tensor holds NaN or inf (skipped under
    ``vmap``/``torch.compile``, where the check would need a data-dependent branch)."""
    if value.is_floating_point() and not is_traced(value) and not torch.isfinite(value).all():
        bad = int((~torch.isfinite(value)).sum())
        raise FloatingPointError(
            f"{what} holds {bad} NaN/inf value(s) of {value.numel()} (shape {tuple(value.shape)}); "
            "clean or impute it before the call."
        )


def first_linear(module: nn.Module) -> tuple[str, nn.Linear] | None:
    """``(path, layer)`` when ``module`` provably starts with an ``nn.Linear`` (it is one, or an
    exact ``nn.Sequential`` whose first element does), so its input width is known; else None."""
    path = []
    while type(module) is nn.Sequential and len(module):
        path.append("0")
        module = module[0]
    return (".".join(path), module) if type(module) is nn.Linear else None


def check_input(x: Any, what: str, *, like: Tensor | None, owner: nn.Module | None = None,
                tensor_required: bool = True, nonempty: bool = True) -> None:
    """Check a batched input ``x: (B, ...)`` against the module that will read it.

    Args:
        x: the input.
        what: how to name it in a message (``"x"``, ``"DataCondition's data"``).
        like: a tensor of the weights it meets (dtype and device to match), or None.
        owner: the module that reads ``x``; when it starts with an ``nn.Linear`` the feature width
            and a floating dtype are checked too.
        tensor_required: a non-tensor ``x`` is an error (else it is passed through unchecked).
        nonempty: ``x`` must have a batch dimension ``B >= 1``.

    Skipped under ``torch.compile`` (the eager call checked the same shapes).
    """
    if torch.compiler.is_compiling():
        return
    if not isinstance(x, Tensor):
        if tensor_required:
            raise TypeError(f"{what} must be a tensor (B, ...), got {describe(x)}; convert it with "
                            "torch.as_tensor(x, dtype=torch.float32)")
        return
    if nonempty and (x.ndim == 0 or x.shape[0] == 0):
        raise ValueError(f"{what} must be a non-empty batch (B, ...) with B >= 1, got {describe(x)}")
    if like is not None and x.device != like.device:
        raise ValueError(f"{what} is {describe(x)} but the weights it meets are on {like.device}; "
                         f"move it with .to({str(like.device)!r}) (or the model with .to({str(x.device)!r}))")
    layer = first_linear(owner) if owner is not None else None
    if layer is not None and x.ndim == 0:
        raise ValueError(f"{what} must be a batch (B, ..., {layer[1].in_features}), got {describe(x)}")
    if layer is not None and not (x.is_floating_point() or x.is_complex()):
        raise TypeError(f"{what} is {describe(x)}, but {type(owner).__name__} starts with a Linear "
                        "layer, which needs floating-point input; convert it with x.float()")
    if (like is not None and x.is_floating_point() and like.is_floating_point()
            and x.dtype != like.dtype and not torch.is_autocast_enabled(x.device.type)):
        raise TypeError(f"{what} is {describe(x)} but the weights it meets are {like.dtype}; convert "
                        f"it with x.to({like.dtype}) (or the model with .to({x.dtype}))")
    if layer is not None and x.shape[-1] != layer[1].in_features:
        name = f"layer {layer[0]!r}" if layer[0] else "Linear"
        raise ValueError(f"{what} has {x.shape[-1]} features ({describe(x)}), but the {name} of "
                         f"{type(owner).__name__} takes in_features={layer[1].in_features}: pass "
                         f"(B, ..., {layer[1].in_features})")


def translate_errors(call: Callable[[], Any], module: nn.Module, what: str, inputs: tuple) -> Any:
    """Run ``call()``; a ``RuntimeError`` raised inside ``module`` (a torch shape, dtype or device
    error) becomes a :class:`TargetCallError` naming the module and what it received."""
    try:
        return call()
    except TargetCallError:
        raise
    except RuntimeError as err:
        got = ", ".join(describe(a) for a in inputs) or "no positional inputs"
        raise TargetCallError(
            f"{what} {type(module).__name__} raised on its input ({got}): {err}. Check that the "
            f"input has the shape, dtype and device {type(module).__name__} expects."
        ) from err
