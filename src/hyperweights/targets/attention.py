"""Generated weights for ``nn.MultiheadAttention`` and the Transformer layers, without torch's
batching fallback.

Why: in eval mode (or without gradients) ``nn.MultiheadAttention``, ``nn.TransformerEncoderLayer``
and ``nn.TransformerEncoder`` take a fused "fast path" (``aten::_native_multi_head_attention``,
``aten::_transformer_encoder_layer_fwd``, nested tensors) for which ``torch.func.vmap`` has no
batching rule: it falls back to a slow loop over the batch and warns "There is a performance drop
because we have not yet implemented the batching rule for …". The composite path of the same
modules (``F.multi_head_attention_forward``: linear projections, ``scaled_dot_product_attention``,
layer norms) is made of ops ``vmap`` does batch, into batched matmuls over every weight set.

:func:`vmappable_attention` switches the fast path off (``torch.backends.mha``) for the duration of
a ``vmap`` over a target that contains one of these modules, and restricts
``scaled_dot_product_attention`` to its math backend (the CPU flash kernel has no batching rule
either); both settings are put back afterwards, also when the call raises. Both paths compute the same function (torch documents the
fast path as an optimisation of the same math); the tests compare the batched call with each
weight set's module run on its own, in values and gradients, and check that no fallback warning
is raised (``tests/test_targets_attention.py``).

Dropout inside these modules in training mode is refused with advice: ``vmap`` cannot draw it per
weight set (the same rule as for recurrent layers).
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

__all__ = ["vmappable_attention", "check_batch_first", "ATTENTION_MODULES"]

#: Modules whose fused fast path ``vmap`` cannot batch.
ATTENTION_MODULES = (nn.MultiheadAttention, nn.TransformerEncoderLayer, nn.TransformerDecoderLayer,
                     nn.TransformerEncoder, nn.TransformerDecoder, nn.Transformer)


def _dropout_in_training(module: nn.Module) -> tuple[str, float] | None:
    """The first dropout that would draw random numbers inside ``module`` (name, p), or None."""
    for name, sub in module.named_modules():
        if not sub.training:
            continue
        if isinstance(sub, nn.Dropout) and sub.p > 0:
            return name, sub.p
        if isinstance(sub, nn.MultiheadAttention) and sub.dropout > 0:
            return name, sub.dropout
    return None


def check_batch_first(target: nn.Module) -> None:
    """Per-sample weights split the data at dimension 0, so a target that *is* a sequence-first
    attention module (``batch_first=False``, batch at dimension 1) is refused with advice.
    (Inside a larger target the split happens at the larger target's inputs, which is fine.)"""
    first = getattr(target, "batch_first", None)
    if first is None and isinstance(target, (nn.TransformerEncoder, nn.TransformerDecoder)):
        first = target.layers[0].self_attn.batch_first
    if isinstance(target, ATTENTION_MODULES) and first is False:
        raise ValueError(
            f"per-sample weights (W == B) split the inputs at dimension 0, but this "
            f"{type(target).__name__} has batch_first=False (its batch is dimension 1). Build it with "
            "batch_first=True, or wrap it in a module that transposes its inputs. (Ensembles of K "
            "weight sets on shared inputs work in either layout.)"
        )


@contextlib.contextmanager
def vmappable_attention(target: nn.Module):
    """Within the block, attention modules inside ``target`` take their composite (vmap-batchable)
    path; the global fast-path flag is restored afterwards. A target without attention modules is
    left alone.

    Raises:
        RuntimeError: an attention module of ``target`` is in training mode with dropout > 0.

    Example:
        >>> import warnings
        >>> from torch.func import functional_call, vmap
        >>> layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True).eval()
        >>> w = {n: p.detach().expand(3, *p.shape) for n, p in layer.named_parameters()}
        >>> x = torch.randn(4, 5, 8)
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("error")               # no batching-rule fallback
        ...     with vmappable_attention(layer):
        ...         out = vmap(lambda p: functional_call(layer, p, (x,)))(w)
        >>> out.shape
        torch.Size([3, 4, 5, 8])
    """
    modules = [(name, m) for name, m in target.named_modules() if isinstance(m, ATTENTION_MODULES)]
    if not modules:
        yield
        return
    for name, module in modules:
        found = _dropout_in_training(module)
        if found is not None:
            where = ".".join(part for part in (name, found[0]) if part) or type(target).__name__
            raise RuntimeError(
                f"{where} (inside a {type(module).__name__}) applies dropout p={found[1]} in training "
                "mode, but generated weights run the target under torch.func.vmap, which cannot draw "
                "dropout per weight set. Build the module with dropout=0.0 or call target.eval()."
            )
    previous = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel(SDPBackend.MATH):
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(previous)
