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

For an *ensemble* on shared inputs, ``vmap`` would copy the shared input for every member in
every linear layer. :func:`attention_ensemble` is an explicit path for an ``nn.MultiheadAttention``,
``nn.TransformerEncoderLayer`` or ``nn.TransformerEncoder`` target instead: a linear layer reading an
input all members share is one GEMM against all ``K`` members' stacked weights (``(N, E) @ (E,
K * O)``, the bias fused), one reading per-member inputs is one batched matmul (a parameter that is
not generated stays one shared tensor, so a layer that none of it is generated for runs once), and
attention runs once over the ``K * B`` sequences (``scaled_dot_product_attention``, any backend).
The tests compare it with each member's module, values and gradients.

Dropout inside these modules in training mode is refused with advice: ``vmap`` cannot draw it per
weight set (the same rule as for recurrent layers), nor does the ensemble path.
"""

from __future__ import annotations

import contextlib
import inspect

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel

__all__ = ["vmappable_attention", "check_batch_first", "ATTENTION_MODULES", "attention_ensemble",
           "explicit_ensemble_applies"]

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


def _refuse_dropout(target: nn.Module) -> bool:
    """Raise if an attention module of ``target`` would draw dropout; False if it has none."""
    modules = [(name, m) for name, m in target.named_modules() if isinstance(m, ATTENTION_MODULES)]
    for name, module in modules:
        found = _dropout_in_training(module)
        if found is not None:
            where = ".".join(part for part in (name, found[0]) if part) or type(target).__name__
            raise RuntimeError(
                f"{where} (inside a {type(module).__name__}) applies dropout p={found[1]} in training "
                "mode, but generated weights run the target under torch.func.vmap, which cannot draw "
                "dropout per weight set. Build the module with dropout=0.0 or call target.eval()."
            )
    return bool(modules)


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
    if not _refuse_dropout(target):
        yield
        return
    previous = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel(SDPBackend.MATH):
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(previous)


# ------------------------------------------------------------------------ the explicit ensemble path
class _Members:
    """The ``K`` members' parameters: generated ones carry a leading ``K``, the rest are the
    target's own tensors, shared by all members (never expanded or copied)."""

    def __init__(self, target: nn.Module, weights: dict[str, Tensor]):
        self.own, self.weights = dict(target.named_parameters()), weights
        self.k = next(iter(weights.values())).shape[0]

    def get(self, name: str) -> tuple[Tensor | None, bool]:
        """``(tensor, carries K)``; ``(None, False)`` for an absent bias."""
        if name in self.weights:
            return self.weights[name], True
        return self.own.get(name), False

    def lift(self, t: Tensor, has_k: bool) -> Tensor:
        """``t`` with the member dimension (a view for a shared ``t``)."""
        return t if has_k else t.expand(self.k, *t.shape)


def _linear(x: Tensor, x_k: bool, w: Tensor, w_k: bool, b: Tensor | None, b_k: bool, k: int):
    """``x @ w.T + b``, any of which may carry the members' leading ``K``: ``(out, carries K)``."""
    if not w_k:
        if not b_k:
            return F.linear(x, w, b), x_k
        out = F.linear(x, w)
        out = out if x_k else out.unsqueeze(0)
        return out + b.view(k, *[1] * (out.ndim - 2), b.shape[-1]), True
    rows = w.shape[1]
    if not x_k:                         # shared input: one GEMM against all members' stacked rows
        flat_bias = None if b is None else (b if b_k else b.expand(k, rows)).reshape(k * rows)
        out = F.linear(x, w.reshape(k * rows, w.shape[-1]), flat_bias)          # (..., K * O)
        return out.unflatten(-1, (k, rows)).movedim(-2, 0), True
    flat, wt = x.reshape(k, -1, x.shape[-1]), w.transpose(1, 2)               # one batched matmul
    if b is None:
        out = torch.bmm(flat, wt)
    else:
        out = torch.baddbmm(b.unsqueeze(1) if b_k else b, flat, wt)
    return out.view(*x.shape[:-1], rows), True


def _module_linear(members: _Members, prefix: str, x: Tensor, x_k: bool):
    w, w_k = members.get(prefix + "weight")
    b, b_k = members.get(prefix + "bias")
    return _linear(x, x_k, w, w_k, b, b_k, members.k)


def _layer_norm(members: _Members, prefix: str, norm: nn.LayerNorm, x: Tensor, x_k: bool):
    w, w_k = members.get(prefix + "weight")
    b, b_k = members.get(prefix + "bias")
    if not (w_k or b_k):
        return F.layer_norm(x, norm.normalized_shape, w, b, norm.eps), x_k
    out = F.layer_norm(x, norm.normalized_shape, None, None, norm.eps)
    out = out if x_k else out.unsqueeze(0)

    def per_member(t, t_k):
        return t.view(members.k, *[1] * (out.ndim - 2), t.shape[-1]) if t_k else t

    if w is not None and b is not None:
        return torch.addcmul(per_member(b, b_k), out, per_member(w, w_k)), True       # one pass
    if w is not None:
        return out * per_member(w, w_k), True
    return (out if b is None else out + per_member(b, b_k)), True


def _additive_mask(key_padding_mask, attn_mask, batch: int, heads: int, dtype) -> Tensor | None:
    """Both masks as one additive float mask broadcastable to ``(B, H, L, S)`` (``True`` in a
    boolean mask means "not allowed", as in ``nn.MultiheadAttention``)."""
    def additive(mask):
        if mask.dtype == torch.bool:
            return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(mask, float("-inf"))
        return mask.to(dtype)

    merged = None
    if attn_mask is not None:
        merged = additive(attn_mask)
        merged = merged.view(batch, heads, *merged.shape[-2:]) if merged.ndim == 3 else merged[None, None]
    if key_padding_mask is not None:
        padding = additive(key_padding_mask)[:, None, None, :]
        merged = padding if merged is None else merged + padding
    return merged


def _heads(x: Tensor, x_k: bool, w: Tensor, w_k: bool, b: Tensor | None, b_k: bool, n: int, heads: int,
           sets: int) -> Tensor:
    """``n`` projections of ``x: (K?, B, L, E)`` split into heads: ``(n, heads * sets * B, L, d)``,
    the batch ordered (head, member, sample).

    A shared input is one GEMM, all members' rows against the input's transpose, with the weight
    rows ordered (projection, d, head, member) and the bias as one more input column: its output
    *is* the heads layout (a strided view, no copy). Per-member inputs are one batched matmul and
    one copy into the layout."""
    rows, width = w.shape[-2], w.shape[-1]
    head_dim = rows // (n * heads)
    if x_k:
        out, _ = _linear(x, True, w, w_k, b, b_k, sets)                         # (K, B, L, n * E)
        out = out.view(*out.shape[:3], n, heads, head_dim).permute(3, 4, 0, 1, 2, 5)
        return out.reshape(n, -1, x.shape[-2], head_dim)
    w = (w if w_k else w.expand(sets, rows, width)).view(sets, n, heads, head_dim, width)
    w = w.permute(1, 3, 2, 0, 4).reshape(-1, width)                             # rows (n, d, H, K)
    flat = x.reshape(-1, width)                                                 # (B * L, E)
    if b is not None:                             # the bias as a weight column against a ones column
        b = (b if b_k else b.expand(sets, rows)).view(sets, n, heads, head_dim).permute(1, 3, 2, 0)
        w = torch.cat([w, b.reshape(-1, 1)], dim=1)
        flat = torch.cat([flat, flat.new_ones(flat.shape[0], 1)], dim=1)
    out = torch.mm(w, flat.t())                                                 # (n d H K, B L)
    return out.view(n, head_dim, -1, x.shape[-2]).permute(0, 2, 3, 1)


def _attention(members: _Members, prefix: str, mha: nn.MultiheadAttention, query, key, value, q_k: bool,
               kv_k: bool, key_padding_mask=None, attn_mask=None, need_weights=False, average=True):
    """Batch-first multi-head attention of all members: ``(out (K?, B, L, E), carries K, weights)``,
    ``weights`` (``(K, B, L, S)``, per head ``(K, B, H, L, S)``) only if ``need_weights``.

    The ``1 / sqrt(d)`` scaling is folded into the query rows of the projection (as torch's fused
    kernel does), and attention is two batched matmuls over all ``H * K * B`` (head, member,
    sequence) triples around one softmax: at these sequence lengths that is faster on CPU than
    ``scaled_dot_product_attention``'s flash kernel, and it gives the attention weights too."""
    heads, width, k = mha.num_heads, mha.embed_dim, members.k
    scale = (width // heads) ** -0.5
    w, w_k = members.get(prefix + "in_proj_weight")
    b, b_k = members.get(prefix + "in_proj_bias")
    if mha._qkv_same_embed_dim:
        parts = [(w[..., i * width:(i + 1) * width, :], w_k) for i in range(3)]
    else:
        parts = [members.get(f"{prefix}{name}_proj_weight") for name in "qkv"]
    biases = [None if b is None else b[..., i * width:(i + 1) * width] for i in range(3)]
    parts[0], biases[0] = (parts[0][0] * scale, parts[0][1]), None if b is None else biases[0] * scale
    has_k = q_k or kv_k or b_k or any(p_k for _, p_k in parts)
    sets, batch = (k if has_k else 1), query.shape[-3]
    if mha._qkv_same_embed_dim and query is key and key is value and q_k == kv_k:   # one GEMM
        q, k_, v = _heads(query, q_k, torch.cat([p for p, _ in parts], dim=-2), w_k,
                          None if b is None else torch.cat(biases, dim=-1), b_k, 3, heads, sets)
    else:
        q, k_, v = (_heads(x, x_k, p, p_k, bias, b_k, 1, heads, sets)[0] for x, x_k, (p, p_k), bias in
                    zip((query, key, value), (q_k, kv_k, kv_k), parts, biases))
    scores = torch.bmm(q, k_.transpose(1, 2))                                # (H * sets * B, L, S)
    mask = _additive_mask(key_padding_mask, attn_mask, batch, heads, scores.dtype)
    if mask is not None:                              # broadcast over the members, no copies
        mask = mask.transpose(0, 1).unsqueeze(1)                                  # (H?, 1, B?, L?, S)
        scores = (scores.view(heads, sets, batch, *scores.shape[1:]) + mask).flatten(0, 2)
    probs = torch.softmax(scores, dim=-1)
    out = torch.bmm(probs, v).view(heads, sets, batch, -1, width // heads).permute(1, 2, 3, 0, 4)
    out = out.reshape(sets, batch, -1, width) if has_k else out.reshape(batch, -1, width)
    weights = None
    if need_weights:
        weights = probs.view(heads, sets, batch, *probs.shape[1:])
        weights = weights.mean(dim=0) if average else weights.permute(1, 2, 0, 3, 4)
        weights = weights if has_k else weights.expand(k, *weights.shape[1:])
    out, has_k = _module_linear(members, prefix + "out_proj.", out, has_k)
    return out, has_k, weights


def _encoder_layer(members: _Members, prefix: str, layer: nn.TransformerEncoderLayer, x: Tensor,
                   x_k: bool, attn_mask, key_padding_mask):
    """``nn.TransformerEncoderLayer.forward`` (batch first) for all members."""
    def self_attention(y, y_k):
        out, out_k, _ = _attention(members, prefix + "self_attn.", layer.self_attn, y, y, y, y_k, y_k,
                                   key_padding_mask, attn_mask)
        return out, out_k

    def feed_forward(y, y_k):
        hidden, hidden_k = _module_linear(members, prefix + "linear1.", y, y_k)
        # in place: the (K, B, L, 2E) hidden layer is fresh, and one pass less over it counts
        hidden = hidden.relu_() if layer.activation is F.relu else layer.activation(hidden)
        return _module_linear(members, prefix + "linear2.", hidden, hidden_k)

    def norm(which, y, y_k):
        return _layer_norm(members, f"{prefix}{which}.", getattr(layer, which), y, y_k)

    if layer.norm_first:
        out, out_k = self_attention(*norm("norm1", x, x_k))
        x, x_k = x + out, x_k or out_k
        out, out_k = feed_forward(*norm("norm2", x, x_k))
        return x + out, x_k or out_k
    out, out_k = self_attention(x, x_k)
    x, x_k = norm("norm1", x + out, x_k or out_k)
    out, out_k = feed_forward(x, x_k)
    return norm("norm2", x + out, x_k or out_k)


def _plain_layer(layer) -> bool:
    attn = layer.self_attn
    return (type(layer) is nn.TransformerEncoderLayer and _plain_mha(attn)
            and all(type(n) is nn.LayerNorm and len(n.normalized_shape) == 1 for n in (layer.norm1, layer.norm2))
            and not (isinstance(layer.activation, nn.Module) and any(True for _ in layer.activation.parameters())))


def _plain_mha(attn) -> bool:
    return type(attn) is nn.MultiheadAttention and attn.bias_k is None and not attn.add_zero_attn


def _bound(target: nn.Module, args: tuple, kwargs: dict):
    try:
        bound = inspect.signature(type(target).forward).bind(target, *args, **kwargs)
    except TypeError:
        return None
    bound.apply_defaults()
    return bound.arguments


def explicit_ensemble_applies(target: nn.Module, args: tuple, kwargs: dict) -> bool:
    """True if :func:`attention_ensemble` computes ``target(*args, **kwargs)``: the target *is* an
    ``nn.MultiheadAttention`` (no ``bias_k`` / ``add_zero_attn``), ``nn.TransformerEncoderLayer``
    or ``nn.TransformerEncoder`` of such layers, with batched 3-D inputs (other cases run under
    ``vmap``)."""
    call = _bound(target, args, kwargs)
    if call is None:
        return False
    if type(target) is nn.MultiheadAttention:
        inputs, causal = [call["query"], call["key"], call["value"]], call["is_causal"]
        mask = call["attn_mask"]
        plain = _plain_mha(target)
    elif type(target) is nn.TransformerEncoderLayer:
        inputs, causal, mask, plain = [call["src"]], call["is_causal"], call["src_mask"], _plain_layer(target)
    elif type(target) is nn.TransformerEncoder:
        inputs, causal, mask = [call["src"]], call["is_causal"], call["mask"]
        plain = all(_plain_layer(layer) for layer in target.layers) and (
            target.norm is None or (type(target.norm) is nn.LayerNorm and len(target.norm.normalized_shape) == 1))
    else:
        return False
    return plain and not (causal and mask is None) and all(isinstance(t, Tensor) and t.ndim == 3 for t in inputs)


def attention_ensemble(target: nn.Module, weights: dict[str, Tensor], *args, **kwargs):
    """``K`` weight sets of an attention target applied to the same inputs, without ``vmap``.

    Args:
        target: an ``nn.MultiheadAttention``, ``nn.TransformerEncoderLayer`` or
            ``nn.TransformerEncoder`` for which :func:`explicit_ensemble_applies`.
        weights: the generated ``{name: (K, *param.shape)}`` (the others are the target's own).
        *args, **kwargs: the target's inputs, shared by all members (masks too).

    Returns:
        what the target returns, with the member dimension first: ``(K, B, L, E)`` (``(K, L, B,
        E)`` if ``batch_first=False``); an attention module's weights are ``(K, B, L, S)``.

    Example:
        >>> layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
        >>> w = {"linear1.weight": torch.randn(4, 16, 8)}
        >>> attention_ensemble(layer, w, torch.randn(3, 5, 8)).shape
        torch.Size([4, 3, 5, 8])
    """
    _refuse_dropout(target)
    call, members = _bound(target, args, kwargs), _Members(target, weights)
    if type(target) is nn.MultiheadAttention:
        laid_out = {}                                  # one transposed tensor per distinct input
        query, key, value = (laid_out.setdefault(id(t), t if target.batch_first else t.transpose(0, 1))
                             for t in (call["query"], call["key"], call["value"]))
        out, out_k, attn = _attention(members, "", target, query, key, value, False, False,
                                      call["key_padding_mask"], call["attn_mask"], call["need_weights"],
                                      call["average_attn_weights"])
        out = members.lift(out, out_k)
        return (out if target.batch_first else out.transpose(1, 2)), attn
    layers = [("", target)] if type(target) is nn.TransformerEncoderLayer else [
        (f"layers.{i}.", layer) for i, layer in enumerate(target.layers)]
    first = layers[0][1].self_attn.batch_first
    mask = call["src_mask"] if "src_mask" in call else call["mask"]
    x, x_k = (call["src"] if first else call["src"].transpose(0, 1)), False
    for prefix, layer in layers:
        x, x_k = _encoder_layer(members, prefix, layer, x, x_k, mask, call["src_key_padding_mask"])
    if type(target) is nn.TransformerEncoder and target.norm is not None:
        x, x_k = _layer_norm(members, "norm.", target.norm, x, x_k)
    x = members.lift(x, x_k)
    return x if first else x.transpose(1, 2)
