"""The output regularizer's penalty fused with the hypernetwork head's last matmul.

For a head that is one shared ``Linear(d_h, C)`` over tokens (``ChunkedHead``; ``FullHead`` with
one token), the generated weights of ``S`` earlier tasks are ``O = H Wᵀ + b`` with features ``H``
``(S * N, d_h)``, reshaped to ``(S, N * C)`` and trimmed to ``P``. Through autograd, the penalty
``1/S * sum (theta* - O)^2`` costs about ten passes over the ``(S, P)`` outputs besides the three
matmuls (sub, square, sum, their backward, the trim's copy and zero fill). This
:class:`torch.autograd.Function` computes the difference ``D = O - theta*`` once, in place, keeps
it for the backward, and never forms a gradient of ``O``: the scale ``2/S`` is applied to the small
``(S*N, d_h)``, ``(C, d_h)`` and ``(C,)`` results instead (``dH = D W``, ``dW = Dᵀ H``,
``db = sum D``). Measured at T = 64 earlier tasks with hypnettorch's ChunkedHMLP sizes: about half
the time of the autograd form, about 5x hypnettorch's per-task loop (``hyperweights bench continual
--only regcost``).

:func:`flat_and_penalty` also puts the task being trained through the same trunk call and matmul
(its rows first), returning its generated weights beside the penalty: one hypernetwork pass per
training step instead of two.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["fused_output_penalty", "flat_and_penalty", "supports_fused"]


class _HeadPenalty(torch.autograd.Function):
    """One head matmul for ``cur`` current rows and ``S`` earlier sets of features.

    Returns the current sets' trimmed weights ``(W, P)`` and ``sum_jk w_jk (target_jk - O_jk)^2 / S``
    over the earlier sets, ``O = trim((features @ weight.T + bias).view(-1, N * C))``.
    """

    @staticmethod
    def forward(ctx, features: Tensor, weight: Tensor, bias: Tensor | None, target: Tensor,
                elem_weight: Tensor | None, cur_rows: int, cur_sets: int):
        num_sets, total = target.shape
        out = torch.addmm(bias, features, weight.t()) if bias is not None else features @ weight.t()
        current = (out[:cur_rows].reshape(cur_sets, -1)[:, :total].clone() if cur_sets
                   else out.new_empty(0, total))
        diff = out[cur_rows:]
        rows = diff.view(num_sets, -1)                 # (S, N * C), N * C >= P
        kept = rows[:, :total]
        kept.sub_(target)
        rows[:, total:].zero_()                        # the trimmed tail contributes nothing
        if elem_weight is None:
            flat = diff.reshape(-1)
            value = torch.dot(flat, flat)
        else:
            weighted = kept * elem_weight
            value = (weighted * kept).sum()
            kept.copy_(weighted)                       # d value / d O = 2 w (O - target)
        ctx.save_for_backward(features, weight)
        # an attribute, not a saved tensor: the backward writes the current rows' gradient into it
        ctx.out, ctx.used = out, False
        ctx.has_bias, ctx.num_sets, ctx.cur_rows, ctx.cur_sets = bias is not None, num_sets, cur_rows, cur_sets
        return current, value / num_sets

    @staticmethod
    def backward(ctx, grad_current: Tensor | None, grad_value: Tensor | None):
        if ctx.used:
            raise RuntimeError("the fused regularizer penalty supports one backward pass per forward "
                               "(its buffer is reused by the backward); recompute it instead of "
                               "using retain_graph=True")
        ctx.used = True
        features, weight = ctx.saved_tensors
        out, cur = ctx.out, ctx.cur_rows
        # One (rows, C) gradient block G for both parts, so each gradient is one op:
        # dH = s G W, dW = s Gᵀ H, db = s sum G. The penalty rows already hold D (d penalty / d O =
        # s D); the current rows (their forward output was cloned, so they are free) take grad / s.
        penalty = grad_value is not None and float(grad_value) != 0.0
        scale = float(grad_value) * 2.0 / ctx.num_sets if penalty else 1.0
        if not penalty:
            out[cur:] = 0.0
        if cur:
            block = out[:cur].view(ctx.cur_sets, -1)
            if grad_current is None:
                block.zero_()
            else:
                total = grad_current.shape[1]
                block[:, :total] = grad_current / scale
                block[:, total:] = 0.0                         # the trimmed tail has no gradient
        needs = ctx.needs_input_grad
        d_features = (out @ weight) * scale if needs[0] else None
        d_weight = (out.t() @ features) * scale if needs[1] else None
        d_bias = out.sum(0) * scale if ctx.has_bias and needs[2] else None
        return d_features, d_weight, d_bias, None, None, None, None


def supports_fused(hnet) -> bool:
    """True if ``hnet``'s output is its head's shared linear layer (no parametrization after it)."""
    return (hnet.parametrization is None and not hnet.check_finite
            and hnet.head.linear_layout() is not None)


def _head_pass(hnet, cond: Tensor, target: Tensor, weight: Tensor | None, current):
    if not supports_fused(hnet):
        raise ValueError(f"the fused penalty needs a linear head and no parametrization; got head "
                         f"{type(hnet.head).__name__}, parametrization {hnet.parametrization!r}, "
                         f"check_finite={hnet.check_finite}. Use output_penalty(hnet.flat(cond), ...)")
    layer, _ = hnet.head.linear_layout()
    codes = hnet.encode(cond)
    cur_sets = 0
    if current is not None:
        now = hnet.encode(current)
        cur_sets = now.shape[0]
        codes = torch.cat([now, codes])
    features = hnet.features(codes)
    tokens = features.shape[1]
    if target.shape != (features.shape[0] - cur_sets, hnet.specs.total):
        raise ValueError(f"target must be (S, P) = ({features.shape[0] - cur_sets}, {hnet.specs.total}) "
                         f"for this condition batch, got {tuple(target.shape)}")
    return _HeadPenalty.apply(features.reshape(-1, features.shape[-1]), layer.weight, layer.bias,
                              target, weight, cur_sets * tokens, cur_sets)


def fused_output_penalty(hnet, cond: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
    """``1/S * sum_j sum_k w_jk (target_jk - hnet.flat(cond)_jk)^2``, fused with the head's matmul.

    Equal to :func:`~hyperweights.continual.regularizer.output_penalty` of ``hnet.flat(cond)`` (up
    to float rounding), with the same gradients; needs :func:`supports_fused`.

    Args:
        hnet: a :class:`~hyperweights.HyperNetwork` whose head has a ``linear_layout``.
        cond: a condition batch of ``S`` (e.g. earlier task ids).
        target: ``(S, P)`` weights to keep.
        weight: optional ``(S, P)`` per-scalar weights (masks, Fisher).

    Example:
        >>> from torch import nn
        >>> import hyperweights as hw
        >>> from hyperweights.continual.regularizer import output_penalty
        >>> hnet = hw.HyperNetwork(nn.Linear(3, 2), condition=hw.TaskEmbedding(4, 8),
        ...                        head=hw.ChunkedHead(5, 4))
        >>> ids, target = torch.tensor([0, 2]), torch.randn(2, 8)
        >>> torch.allclose(fused_output_penalty(hnet, ids, target), output_penalty(hnet.flat(ids), target))
        True
    """
    return _head_pass(hnet, cond, target, weight, None)[1]


def flat_and_penalty(hnet, current, cond: Tensor, target: Tensor,
                     weight: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """``(hnet.flat(current), fused_output_penalty(hnet, cond, target, weight))`` from one pass.

    The current task's weights and the earlier tasks' outputs go through the trunk and the head's
    matmul together (one call each instead of two), which is most of a small training step's cost.

    Example:
        >>> from torch import nn
        >>> import hyperweights as hw
        >>> hnet = hw.HyperNetwork(nn.Linear(3, 2), condition=hw.TaskEmbedding(4, 8),
        ...                        head=hw.ChunkedHead(5, 4))
        >>> flat, penalty = flat_and_penalty(hnet, torch.tensor([3]), torch.tensor([0, 1]), torch.zeros(2, 8))
        >>> torch.allclose(flat, hnet.flat(3)), penalty.shape
        (True, torch.Size([]))
    """
    return _head_pass(hnet, cond, target, weight, current)
