"""Running a target with generated weights: the one batch rule of the library.

Generated weights always carry a leading weight-set dimension ``W``. With a data batch of ``B``:

- ``W == 1``: one weight set for the whole batch, a plain :func:`torch.func.functional_call`;
- ``W == B``: sample ``i`` uses weight set ``i`` (:func:`torch.func.vmap` over weights and data);
- :func:`ensemble_forward`: ``K`` weight sets applied to the same ``B`` inputs -> ``(K, B, ...)``.

MLP targets (an ``nn.Sequential`` of Linear layers and activations) take an exactly equivalent
batched-matmul path instead of ``vmap`` (see :mod:`hyperweights.targets.mlp_fast`; with ``W == B``
also for samples of several rows, ``(B, n, in)``, as a model zoo trains); recurrent
layers (``nn.RNN``, ``nn.GRU``, ``nn.LSTM``, alone or inside a larger target) run as a batched
time-step recurrence (see :mod:`hyperweights.targets.recurrent`); attention and Transformer
layers run their composite path, which ``vmap`` batches, and ensembles of them on shared inputs an
explicit path (see :mod:`hyperweights.targets.attention`).

What the target keeps: parameters that are not generated are read from it and never modified
(generated ones are swapped in by :func:`torch.func.functional_call` and put back, also when the
call raises); its training flags are never changed. Buffers stay in it and update as the target's
own ``forward`` updates them (BatchNorm running statistics in training mode); if the call raises,
every buffer is restored to its value before the call (a copy is taken for targets that have
buffers; the MLP fast path has none). Under ``torch.compile`` the restore is skipped.

Generated weights are checked at the public entry points (:func:`functional_forward`,
:func:`ensemble_forward`): a name that is not a parameter of the target, a tensor without the
leading ``W`` dimension or of another shape is an error naming the parameter and both shapes.
A torch error raised inside the target becomes a ``TargetCallError`` (a ``RuntimeError``, the
original error chained) saying what the target received.

Outputs that are not plain tensors (the ``vmap`` paths: per-sample weights and ensembles): the
target may return any pytree (tuples, dicts, ``transformers`` ``ModelOutput`` dataclasses). Its
tensor leaves are batched (``(K, B, ...)`` / ``(B, ...)``); ``None`` and Python constants
(bool, int, float, str) pass through unchanged; a key/value cache object (a ``transformers``
``Cache`` such as ``DynamicCache``, found by class name) cannot be batched, so it is dropped:
replaced by ``None`` (pass ``use_cache=False`` to the target to not build it). Any other object
is a ``TypeError`` naming its type and where it sits in the output.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap
from torch.utils._pytree import tree_flatten, tree_unflatten

from .._checks import check_input, describe, translate_errors
from .attention import (attention_ensemble, check_batch_first, explicit_ensemble_applies,
                        vmappable_attention)
from .factored import factored_linears
from .mlp_fast import linear_stack, single_forward, stack_forward
from .recurrent import recurrent_ensemble, recurrent_forward, vmappable_recurrent

__all__ = ["functional_forward", "ensemble_forward", "weight_batch_size", "check_weights",
           "run_shared", "run_ensemble"]


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


def check_weights(target: nn.Module, weights, caller: str) -> int:
    """Check generated ``weights`` against ``target``; return their common ``W``.

    Every key must name a parameter (or buffer) of ``target`` and every value be a tensor of shape
    ``(W, *that.shape)`` with one ``W`` for all.
    """
    if not isinstance(weights, Mapping):
        hint = (" A flat (W, P) tensor from hnet.flat(c) converts with hnet.unflatten(flat)."
                if isinstance(weights, Tensor) else "")
        raise TypeError(f"{caller} takes the generated weights as a dict {{name: (W, *param.shape)}}, "
                        f"e.g. hnet(c); got {describe(weights)}.{hint}")
    own = dict(target.named_parameters(remove_duplicate=False))
    buffers = None
    for name, value in weights.items():
        param = own.get(name)
        if param is None:                        # a buffer may be generated too (rare)
            buffers = dict(target.named_buffers(remove_duplicate=False)) if buffers is None else buffers
            param = buffers.get(name)
        if param is None:
            own = list(own)
            close = difflib.get_close_matches(str(name), own, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"{caller}: the weights name {name!r}, which is not a parameter of "
                             f"{type(target).__name__}.{hint} Its parameters: {', '.join(own)}")
        if not isinstance(value, Tensor):
            raise TypeError(f"{caller}: weights[{name!r}] must be a tensor (W, *param.shape), got "
                            f"{describe(value)}")
        shape = tuple(param.shape)
        if value.ndim != len(shape) + 1 or tuple(value.shape[1:]) != shape:
            raise ValueError(
                f"{caller}: weights[{name!r}] has shape {tuple(value.shape)}, but the parameter has "
                f"shape {shape}, so (W, *{shape}) was expected, W being the number of weight sets. "
                "One weight set needs the leading dimension too: value.unsqueeze(0)."
            )
    return weight_batch_size(weights)


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


def _restoring_buffers(target: nn.Module, call):
    """``call()``; if it raises, put every buffer of ``target`` back to its value before."""
    buffers = [] if torch.compiler.is_compiling() else list(target.buffers())
    if not buffers:
        return call()
    saved = [b.detach().clone() for b in buffers]
    try:
        return call()
    except BaseException:
        with torch.no_grad():
            for buffer, value in zip(buffers, saved):
                buffer.copy_(value)
        raise


def _run(target: nn.Module, call, args: tuple):
    if torch.compiler.is_compiling():
        return call()
    return translate_errors(lambda: _restoring_buffers(target, call), target, "the target", args)


_CONSTANTS = (bool, int, float, complex, str, bytes, type(None))


def _is_cache(value) -> bool:
    """A key/value cache of ``transformers`` (``DynamicCache``, ``StaticCache``, ...)."""
    return any(cls.__name__ == "Cache" for cls in type(value).__mro__)


def _vmap_any_output(fn, in_dims):
    """``vmap(fn, in_dims)`` for an ``fn`` whose output is any pytree: only its tensor leaves go
    through ``vmap``; constants pass through, caches are dropped (see the module docstring)."""
    layout = {}

    def tensors_only(*inputs):
        leaves, spec = tree_flatten(fn(*inputs))
        kept, slots = [], []
        for position, leaf in enumerate(leaves):
            if isinstance(leaf, Tensor):
                kept.append(leaf)
                slots.append(_TENSOR_SLOT)
            elif isinstance(leaf, _CONSTANTS):
                slots.append(leaf)
            elif _is_cache(leaf):
                slots.append(None)
            else:
                raise TypeError(
                    f"the target returned a {type(leaf).__name__} (leaf {position} of its output, "
                    f"flattened), which cannot be batched over weight sets: only tensors, None and "
                    "Python constants can (key/value caches are dropped). Return tensors from the "
                    "target, e.g. wrap it in a module that picks the tensors you need.")
        layout["spec"], layout["slots"] = spec, slots
        return tuple(kept)

    def call(*inputs):
        batched = iter(vmap(tensors_only, in_dims=in_dims)(*inputs))
        slots = layout["slots"]
        return tree_unflatten([next(batched) if slot is _TENSOR_SLOT else slot for slot in slots],
                              layout["spec"])

    return call


_TENSOR_SLOT = object()


def _check_data(target: nn.Module, weights: dict[str, Tensor], args: tuple) -> None:
    """The data ``args[0]`` must meet the weights' dtype and device (and the first Linear's width)."""
    if args and not torch.compiler.is_compiling():
        check_input(args[0], "the target's input x", like=next(iter(weights.values())),
                    owner=target, tensor_required=False, nonempty=False)


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

    Raises:
        ValueError / TypeError: a key of ``weights`` that names no parameter of ``target``, weights without the leading ``W``, of another shape, ``W``
            neither 1 nor ``B``, or an input whose dtype/device differs from the weights'.
        TargetCallError: the target itself raised (the message says what it received).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> net = nn.Linear(3, 2)
        >>> w = {"weight": torch.randn(4, 2, 3), "bias": torch.zeros(4, 2)}
        >>> functional_forward(net, w, torch.randn(4, 3)).shape   # per-sample weights
        torch.Size([4, 2])
    """
    if not torch.compiler.is_compiling():
        check_weights(target, weights, "functional_forward")
    return run_shared(target, weights, args, kwargs)


def run_shared(target: nn.Module, weights: dict[str, Tensor], args: tuple, kwargs: dict,
               factors: dict[str, tuple[Tensor, Tensor]] | None = None):
    """:func:`functional_forward` without the check of the weights' names and shapes (for
    weights a :class:`~hyperweights.HyperNetwork` built for this target generated).

    ``factors``: ``{"<linear>.weight": (A: (W, out, r), B: (W, in, r))}`` applied in factored form
    (:mod:`hyperweights.targets.factored`) instead of a materialised weight in ``weights``."""
    factors = factors or {}
    num_sets = weight_batch_size(_with_factor_sets(weights, factors))
    _check_data(target, _with_factor_sets(weights, factors), args)
    if num_sets == 1:
        if not factors and len(args) == 1 and not kwargs and isinstance(args[0], Tensor) \
                and args[0].ndim == 2 and linear_stack(target):
            return _run(target, lambda: single_forward(target, weights, args[0]), args)
        return _run(target, lambda: _call(target, {n: w[0] for n, w in weights.items()},
                                          {n: (a[0], b[0]) for n, (a, b) in factors.items()},
                                          args, kwargs), args)
    if isinstance(target, nn.RNNBase):   # its batch is dimension 1 unless batch_first
        return _run(target, lambda: recurrent_forward(target, _all_weights(target, weights, num_sets),
                                                      *args, **kwargs), args)
    check_batch_first(target)
    batch = _data_batch_size(args)
    if num_sets != batch:
        raise ValueError(
            f"generated weights have W={num_sets} sets but the data batch is B={batch}; W must be 1 "
            "(one weight set for the batch) or B (one per sample). For K weight sets applied to the "
            "same inputs use ensemble_forward / HyperModel.ensemble."
        )
    if not factors and len(args) == 1 and not kwargs and args[0].ndim >= 2 and linear_stack(target):
        return _run(target, lambda: _per_sample_stack(target, weights, args[0]), args)
    _check_vmappable(target, "per-sample weights (W == B)")
    # Each sample keeps a batch dimension of 1 so that targets which reshape with x.size(0) work.
    batched = tuple(a.unsqueeze(1) if isinstance(a, Tensor) and a.ndim > 0 and a.shape[0] == batch
                    else a for a in args)
    dims = tuple(0 if isinstance(a, Tensor) and a.ndim > 0 and a.shape[0] == batch else None
                 for a in args)

    def one(w, f, *xs):
        return _call(target, w, f, xs, kwargs)

    def vmapped():
        with vmappable_recurrent(target), vmappable_attention(target):
            return _vmap_any_output(one, (0, 0, *dims))(weights, factors, *batched)

    out = _run(target, vmapped, args)
    return torch.utils._pytree.tree_map(lambda t: t.squeeze(1) if isinstance(t, Tensor) else t, out)


def _per_sample_stack(target: nn.Sequential, weights: dict[str, Tensor], x: Tensor) -> Tensor:
    """An MLP with weight set ``i`` on sample ``i``: ``x: (B, *rows, in) -> (B, *rows, out)``.

    A 2-D ``x`` (one row per sample) is a batch of matrix-vector products; a sample that is itself
    a batch of rows (``(B, n, in)``, e.g. each member of a model zoo on its own minibatch) is one
    ``baddbmm`` per layer over the ``B`` weight sets, which :func:`stack_forward` computes when
    its input already carries the weight-set dimension first. The same result as the vmapped
    ``functional_call``, which runs the target on ``x[i]`` with set ``i``.
    """
    if x.ndim == 2:
        return stack_forward(target, weights, x, shared=False)
    rows = x.shape[1:-1]
    out = stack_forward(target, weights, x.reshape(x.shape[0], math.prod(rows), x.shape[-1]), shared=True)
    return out.reshape(x.shape[0], *rows, out.shape[-1])


def _with_factor_sets(weights: dict[str, Tensor], factors: dict) -> dict[str, Tensor]:
    """``weights`` plus one ``(W, ...)`` tensor per factored weight (for the batch checks)."""
    return {**weights, **{name: a for name, (a, _) in factors.items()}} if factors else weights


def _call(target: nn.Module, weights: dict[str, Tensor], factors: dict, args: tuple, kwargs: dict):
    """One weight set: ``functional_call`` with the factored Linear layers patched in."""
    if not factors:
        return functional_call(target, weights, args, kwargs)
    with factored_linears(target, factors):
        return functional_call(target, weights, args, kwargs)


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
    if not torch.compiler.is_compiling():
        check_weights(target, weights, "ensemble_forward")
    return run_ensemble(target, weights, args, kwargs)


def run_ensemble(target: nn.Module, weights: dict[str, Tensor], args: tuple, kwargs: dict,
                 factors: dict[str, tuple[Tensor, Tensor]] | None = None):
    """:func:`ensemble_forward` without the check of the weights' names and shapes (``factors``
    as in :func:`run_shared`)."""
    factors = factors or {}
    sets = weight_batch_size(_with_factor_sets(weights, factors))
    _check_data(target, _with_factor_sets(weights, factors), args)
    if (not factors and len(args) == 1 and not kwargs and isinstance(args[0], Tensor)
            and args[0].ndim == 2 and linear_stack(target)):
        return _run(target, lambda: stack_forward(target, weights, args[0], shared=True), args)
    if isinstance(target, nn.RNNBase):
        return _run(target, lambda: recurrent_ensemble(target, _all_weights(target, weights, sets),
                                                       *args, **kwargs), args)
    if not factors and explicit_ensemble_applies(target, args, kwargs):  # one GEMM for all members
        return _run(target, lambda: attention_ensemble(target, weights, *args, **kwargs), args)
    _check_vmappable(target, "an ensemble call")

    def one(w, f):
        return _call(target, w, f, args, kwargs)

    def vmapped():
        with vmappable_recurrent(target), vmappable_attention(target):
            return _vmap_any_output(one, (0, 0))(weights, factors)

    return _run(target, vmapped, args)
