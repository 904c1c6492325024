"""Running a target with generated weights: the one batch rule of the library.

Generated weights always carry a leading weight-set dimension ``W``. With a data batch of ``B``:

- ``W == 1``: one weight set for the whole batch, a plain :func:`torch.func.functional_call`;
- ``W == B``: sample ``i`` uses weight set ``i`` (:func:`torch.func.vmap` over weights and data);
- :func:`ensemble_forward`: ``K`` weight sets applied to the same ``B`` inputs -> ``(K, B, ...)``.

MLP targets (an ``nn.Sequential`` of Linear layers and activations) take an exactly equivalent
batched-matmul path instead of ``vmap`` (see :mod:`hyperweights.targets.mlp_fast`); recurrent
layers (``nn.RNN``, ``nn.GRU``, ``nn.LSTM``, alone or inside a larger target) run as a batched
time-step recurrence (see :mod:`hyperweights.targets.recurrent`).

The target is never mutated: parameters that are not generated are read from it, buffers stay in
it, and :func:`torch.func.functional_call` restores everything even when the call raises.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from .mlp_fast import linear_stack, single_forward, stack_forward
from .recurrent import recurrent_ensemble, recurrent_forward, vmappable_recurrent

__all__ = ["functional_forward", "ensemble_forward", "weight_batch_size"]


def weight_batch_size(weights: dict[str, Tensor]) -> int:
    """The common leading dimension ``W`` of a dict of generated weights.

    Raises:
        ValueError: if the dict is empty or the tensors disagree on ``W``.
    """
    if not weights:
        raise ValueError("no generated weights were given (empty dict)")
    sizes = {name: w.shape[0] if w.ndim else None for name, w in weights.items()}
    distinct = set(sizes.values())
    if len(distinct) != 1 or None in distinct or 0 in distinct:
        raise ValueError(
            "every generated tensor must have the same leading weight-set dimension W >= 1; got "
            + ", ".join(f"{n}: {s}" for n, s in sizes.items())
        )
    return distinct.pop()


def _data_batch_size(args: tuple) -> int:
    for a in args:
        if isinstance(a, Tensor) and a.ndim > 0:
            return a.shape[0]
    raise ValueError(
        "per-sample weights need a tensor positional argument whose first dimension is the data "
        "batch B; got positional arguments of types " + str([type(a).__name__ for a in args])
    )


def _check_vmappable(target: nn.Module, what: str) -> None:
    for name, module in target.named_modules():
        if (target.training and isinstance(module, nn.modules.batchnorm._BatchNorm)
                and module.track_running_stats):
            raise RuntimeError(
                f"{what} runs the target under torch.func.vmap, but {name or 'the target'} is a "
                f"{type(module).__name__} in training mode, whose running-statistics update cannot be "
                "batched. Put the target in eval mode (target.eval()), or build it with "
                "track_running_stats=False, or use a GroupNorm/LayerNorm."
            )


def _all_weights(target: nn.Module, weights: dict[str, Tensor], sets: int) -> dict[str, Tensor]:
    """Generated weights plus the target's own (expanded, not copied) for the rest."""
    return {name: weights[name] if name in weights else p.expand(sets, *p.shape)
            for name, p in target.named_parameters()}


def functional_forward(target: nn.Module, weights: dict[str, Tensor], *args, **kwargs):
    """Call ``target(*args, **kwargs)`` with generated ``weights``.

    Args:
        target: any module; it is not modified.
        weights: ``{name: (W, *param.shape)}`` with ``W == 1`` (shared) or ``W == B`` (per sample).
        *args: the target's positional inputs; with ``W == B`` every tensor whose first dimension
            is ``B`` is split per sample (others are passed whole), so pass per-sample inputs
            positionally and shared tensors of another leading size, or as keyword arguments.
        **kwargs: passed unchanged to the target.

    Returns:
        whatever the target returns, with the data batch ``B`` first.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> net = nn.Linear(3, 2)
        >>> w = {"weight": torch.randn(4, 2, 3), "bias": torch.zeros(4, 2)}
        >>> functional_forward(net, w, torch.randn(4, 3)).shape   # per-sample weights
        torch.Size([4, 2])
    """
    num_sets = weight_batch_size(weights)
    if num_sets == 1:
        if len(args) == 1 and not kwargs and args[0].ndim == 2 and linear_stack(target):
            return single_forward(target, weights, args[0])
        return functional_call(target, {n: w[0] for n, w in weights.items()}, args, kwargs)
    if isinstance(target, nn.RNNBase):   # its batch is dimension 1 unless batch_first
        return recurrent_forward(target, _all_weights(target, weights, num_sets), *args, **kwargs)
    batch = _data_batch_size(args)
    if num_sets != batch:
        raise ValueError(
            f"generated weights have W={num_sets} sets but the data batch is B={batch}; W must be 1 "
            "(one weight set for the batch) or B (one per sample). For K weight sets applied to the "
            "same inputs use ensemble_forward / HyperModel.ensemble."
        )
    if len(args) == 1 and not kwargs and args[0].ndim == 2 and linear_stack(target):
        return stack_forward(target, weights, args[0], shared=False)
    _check_vmappable(target, "per-sample weights (W == B)")
    # Each sample keeps a batch dimension of 1 so that targets which reshape with x.size(0) work.
    batched = tuple(a.unsqueeze(1) if isinstance(a, Tensor) and a.ndim > 0 and a.shape[0] == batch
                    else a for a in args)
    dims = tuple(0 if isinstance(a, Tensor) and a.ndim > 0 and a.shape[0] == batch else None
                 for a in args)

    def one(w, *xs):
        return functional_call(target, w, xs, kwargs)

    with vmappable_recurrent(target):
        out = vmap(one, in_dims=(0, *dims))(weights, *batched)
    return torch.utils._pytree.tree_map(lambda t: t.squeeze(1) if isinstance(t, Tensor) else t, out)


def ensemble_forward(target: nn.Module, weights: dict[str, Tensor], *args, **kwargs):
    """Apply each of ``K`` weight sets to the same inputs, in one batched call.

    Args:
        target: any module; it is not modified.
        weights: ``{name: (K, *param.shape)}``.
        *args, **kwargs: the target's inputs, shared by all members.

    Returns:
        the target's output with a leading member dimension: ``(K, B, ...)``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> net = nn.Linear(3, 2)
        >>> w = {"weight": torch.randn(8, 2, 3), "bias": torch.zeros(8, 2)}
        >>> ensemble_forward(net, w, torch.randn(5, 3)).shape
        torch.Size([8, 5, 2])
    """
    weight_batch_size(weights)
    if (len(args) == 1 and not kwargs and isinstance(args[0], Tensor) and args[0].ndim == 2
            and linear_stack(target)):
        return stack_forward(target, weights, args[0], shared=True)
    if isinstance(target, nn.RNNBase):
        sets = weight_batch_size(weights)
        return recurrent_ensemble(target, _all_weights(target, weights, sets), *args, **kwargs)
    _check_vmappable(target, "an ensemble call")

    def one(w):
        return functional_call(target, w, args, kwargs)

    with vmappable_recurrent(target):
        return vmap(one)(weights)
