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
the time of the autograd form (see ``hyperweights bench continual --only regcost``).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["fused_output_penalty", "supports_fused"]


class _HeadPenalty(torch.autograd.Function):
    """``sum_jk w_jk (target_jk - O_jk)^2 / S`` with ``O = trim((features @ weight.T + bias).view(S, -1))``."""

    @staticmethod
    def forward(ctx, features: Tensor, weight: Tensor, bias: Tensor | None, target: Tensor,
                elem_weight: Tensor | None) -> Tensor:
        num_sets, total = target.shape
        diff = torch.addmm(bias, features, weight.t()) if bias is not None else features @ weight.t()
        rows = diff.view(num_sets, -1)                 # (S, N * C), N * C >= P
        kept = rows[:, :total]
        kept.sub_(target)
        rows[:, total:].zero_()                        # the trimmed tail contributes nothing
        if elem_weight is None:
            flat = diff.view(-1)
            value = torch.dot(flat, flat)
        else:
            weighted = kept * elem_weight
            value = (weighted * kept).sum()
            kept.copy_(weighted)                       # d value / d O = 2 w (O - target)
        ctx.save_for_backward(features, weight, diff)
        ctx.has_bias, ctx.num_sets = bias is not None, num_sets
        return value / num_sets

    @staticmethod
    def backward(ctx, grad: Tensor):
        features, weight, diff = ctx.saved_tensors
        scale = grad * (2.0 / ctx.num_sets)
        d_features = (diff @ weight) * scale if ctx.needs_input_grad[0] else None
        d_weight = (diff.t() @ features) * scale if ctx.needs_input_grad[1] else None
        d_bias = diff.sum(0) * scale if ctx.has_bias and ctx.needs_input_grad[2] else None
        return d_features, d_weight, d_bias, None, None


def supports_fused(hnet) -> bool:
    """True if ``hnet``'s output is its head's shared linear layer (no parametrization after it)."""
    return (hnet.parametrization is None and not hnet.check_finite
            and hnet.head.linear_layout() is not None)


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
    if not supports_fused(hnet):
        raise ValueError(f"the fused penalty needs a linear head and no parametrization; got head "
                         f"{type(hnet.head).__name__}, parametrization {hnet.parametrization!r}, "
                         f"check_finite={hnet.check_finite}. Use output_penalty(hnet.flat(cond), ...)")
    layer, _ = hnet.head.linear_layout()
    features = hnet.features(hnet.encode(cond))
    features = features.reshape(-1, features.shape[-1])
    if target.shape[0] * hnet.head.num_tokens != features.shape[0] or target.shape[1] != hnet.specs.total:
        raise ValueError(f"target must be (S, P) = ({features.shape[0] // hnet.head.num_tokens}, "
                         f"{hnet.specs.total}) for this condition batch, got {tuple(target.shape)}")
    return _HeadPenalty.apply(features, layer.weight, layer.bias, target, weight)
