"""Caching the frozen lower layers of a BERT-style encoder (a documented, measured option).

When adapters sit only in blocks ``start`` and above, the blocks below see no adapter: their
output for a training text never changes. :func:`lower_states` computes it once (embeddings and
blocks ``< start``, without gradients) and :func:`upper_states` runs the remaining blocks on it,
so a training step costs only the adapted blocks. ``upper_states(lower_states(x))`` equals the
model's ``last_hidden_state`` (tested to 1e-5); dropout must be off (``model.eval()``), which
is how a frozen model is used here.

Supported: models with ``embeddings`` and ``encoder.layer`` (``transformers`` BERT, RoBERTa,
MiniLM, ...). Others raise a ``TypeError``; use them without caching (``start=None``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["check_splittable", "lower_states", "upper_states"]


def check_splittable(model: nn.Module, start: int) -> None:
    """Raise unless ``model`` is a BERT-style encoder with more than ``start`` blocks."""
    layers = getattr(getattr(model, "encoder", None), "layer", None)
    if getattr(model, "embeddings", None) is None or not isinstance(layers, nn.ModuleList):
        raise TypeError(f"caching lower layers needs a BERT-style encoder (model.embeddings and "
                        f"model.encoder.layer); {type(model).__name__} has neither. Use start=None.")
    if not 0 <= start < len(layers):
        raise ValueError(f"start={start} must be a block index in 0..{len(layers) - 1}")


def _additive_mask(attention_mask: Tensor, dtype: torch.dtype) -> Tensor:
    """``(B, T)`` 1/0 mask -> ``(B, 1, 1, T)`` additive mask (0 or the dtype's minimum)."""
    return (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


@torch.no_grad()
def lower_states(model: nn.Module, input_ids: Tensor, attention_mask: Tensor, start: int) -> Tensor:
    """Hidden states ``(B, T, H)`` entering block ``start`` (no gradients).

    Example:
        >>> from transformers import BertConfig, BertModel
        >>> bert = BertModel(BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=2,
        ...                             num_attention_heads=2, intermediate_size=16)).eval()
        >>> ids, mask = torch.randint(0, 20, (2, 5)), torch.ones(2, 5, dtype=torch.long)
        >>> h = lower_states(bert, ids, mask, 1)
        >>> full = bert(input_ids=ids, attention_mask=mask).last_hidden_state
        >>> torch.allclose(upper_states(bert, h, mask, 1), full, atol=1e-5)
        True
    """
    check_splittable(model, start)
    hidden = model.embeddings(input_ids=input_ids)
    mask = _additive_mask(attention_mask, hidden.dtype)
    for block in model.encoder.layer[:start]:
        hidden = block(hidden, attention_mask=mask)
    return hidden


def upper_states(model: nn.Module, hidden: Tensor, attention_mask: Tensor, start: int) -> Tensor:
    """Run blocks ``start`` and above on ``hidden (B, T, H)`` -> the last hidden state."""
    mask = _additive_mask(attention_mask, hidden.dtype)
    for block in model.encoder.layer[start:]:
        hidden = block(hidden, attention_mask=mask)
    return hidden
