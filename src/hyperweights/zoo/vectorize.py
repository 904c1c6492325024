"""Weights as data: model-wise vectors and layer-wise tokens, laid out by the core's parameter table.

- Model-wise: ``{name: (K, *shape)}`` <-> ``(K, P)`` is :meth:`SpecTable.flatten` /
  :meth:`SpecTable.split` (the core's table, in ``named_parameters()`` order);
  :func:`pad_vectors` stacks vectors of models of different sizes with zero padding and a mask.
- Layer-wise: :class:`TokenLayout` cuts each layer's scalars (its weight and bias together) into
  tokens of ``token_size``, zero-padding the last token of every layer, so that a token never mixes
  two layers and a sequence model over tokens scales past one flat vector. Tokenising and its
  inverse are one gather each (a precomputed position table), not a loop over layers.
  :func:`pad_tokens` stacks token sequences of different architectures (padding + mask).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..targets import SpecTable, select_parameters

__all__ = ["TokenLayout", "spec_table", "pad_vectors", "pad_tokens"]


def spec_table(target: nn.Module, generate=None) -> SpecTable:
    """The parameter table of ``target`` (the selection as in :func:`hyperweights.select_parameters`).

    Example:
        >>> spec_table(nn.Linear(3, 2)).total
        8
    """
    return SpecTable.from_parameters(select_parameters(target, generate))


class TokenLayout:
    """Layer-wise tokens of the weights a :class:`SpecTable` describes.

    Args:
        table: the parameter table (e.g. :func:`spec_table` of the target).
        token_size: scalars per token ``S``.

    Attributes:
        num_tokens: ``T``, the sum over layers of ``ceil(layer_size / S)``.
        token_layer: ``(T,)`` the layer index of every token (for layer embeddings).
        valid: ``(T, S)`` True where a token holds a weight (False on padding).

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
        >>> layout = TokenLayout(spec_table(net), token_size=8)
        >>> layout.num_tokens, layout.token_layer.tolist()   # 15 and 8 scalars per layer
        (3, [0, 0, 1])
        >>> w = {n: p.detach().unsqueeze(0) for n, p in net.named_parameters()}
        >>> tokens = layout.tokenize(w)
        >>> tokens.shape, torch.equal(layout.untokenize(tokens)["2.weight"], w["2.weight"])
        (torch.Size([1, 3, 8]), True)
    """

    def __init__(self, table: SpecTable, token_size: int):
        if not isinstance(table, SpecTable):
            raise TypeError(f"TokenLayout takes a SpecTable (hw.SpecTable or zoo.spec_table(target)), "
                            f"got {type(table).__name__}")
        if not (isinstance(token_size, int) and token_size > 0):
            raise ValueError(f"token_size must be a positive integer, got {token_size!r}")
        self.table, self.token_size = table, token_size
        sizes = table.layer_sizes()
        counts = [math.ceil(size / token_size) for size in sizes]
        self.tokens_per_layer = counts
        self.num_tokens = sum(counts)
        self.token_layer = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
        # scalar p of the flat (K, P) vector -> its slot in the (K, T * S) token grid
        layer_start = torch.tensor([0, *itertools.accumulate(sizes)][:-1])
        slot_start = torch.tensor([0, *itertools.accumulate(c * token_size for c in counts)][:-1])
        layer_of = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
        flat = self._layer_order(table)
        self.positions = slot_start[layer_of] + torch.arange(table.total) - layer_start[layer_of]
        self._flat_order = flat                     # table order -> layer-grouped order
        valid = torch.zeros(self.num_tokens * token_size, dtype=torch.bool)
        valid[self.positions] = True
        self.valid = valid.view(self.num_tokens, token_size)

    @staticmethod
    def _layer_order(table: SpecTable) -> Tensor:
        """A permutation of the flat table order that groups each layer's tensors together (the
        table lists tensors in registration order, which already groups them for usual modules)."""
        layers = {name: i for i, name in enumerate(table.layers)}
        ranges = sorted(((layers[s.layer], s.offset, s.numel) for s in table), key=lambda r: (r[0], r[1]))
        return torch.cat([torch.arange(offset, offset + numel) for _, offset, numel in ranges])

    def tokenize(self, weights: dict[str, Tensor] | Tensor) -> Tensor:
        """``{name: (K, *shape)}`` or a flat ``(K, P)`` -> tokens ``(K, T, S)`` (zeros on padding)."""
        flat = weights if isinstance(weights, Tensor) else self.table.flatten(weights)
        if flat.ndim != 2 or flat.shape[1] != self.table.total:
            raise ValueError(f"expected flat weights (K, {self.table.total}), got {tuple(flat.shape)}")
        grid = flat.new_zeros(flat.shape[0], self.num_tokens * self.token_size)
        grid[:, self.positions.to(flat.device)] = flat[:, self._flat_order.to(flat.device)]
        return grid.view(flat.shape[0], self.num_tokens, self.token_size)

    def untokenize_flat(self, tokens: Tensor) -> Tensor:
        """Tokens ``(K, T, S)`` -> the flat ``(K, P)`` vector in the table's order."""
        if tokens.ndim != 3 or tuple(tokens.shape[1:]) != (self.num_tokens, self.token_size):
            raise ValueError(f"expected tokens (K, {self.num_tokens}, {self.token_size}), got "
                             f"{tuple(tokens.shape)}")
        grouped = tokens.reshape(tokens.shape[0], -1)[:, self.positions.to(tokens.device)]
        flat = torch.empty_like(grouped)
        flat[:, self._flat_order.to(tokens.device)] = grouped
        return flat

    def untokenize(self, tokens: Tensor) -> dict[str, Tensor]:
        """Tokens ``(K, T, S)`` -> ``{name: (K, *shape)}``."""
        return self.table.split(self.untokenize_flat(tokens))

    def __repr__(self) -> str:
        return (f"TokenLayout({self.num_tokens} tokens of {self.token_size}, "
                f"{len(self.tokens_per_layer)} layers, {self.table.total} scalars)")


def pad_vectors(vectors: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """Stack flat weight vectors of models of different sizes: ``[(K_i, P_i)]`` ->
    ``(sum K_i, max P_i)`` zero-padded, and the ``(sum K_i, max P_i)`` mask of real entries.

    Example:
        >>> padded, mask = pad_vectors([torch.ones(2, 3), torch.ones(1, 5)])
        >>> padded.shape, mask.sum(1).tolist()
        (torch.Size([3, 5]), [3, 3, 5])
    """
    if not vectors or any(not isinstance(v, Tensor) or v.ndim != 2 for v in vectors):
        raise ValueError("pad_vectors takes a non-empty list of (K_i, P_i) tensors")
    width = max(v.shape[1] for v in vectors)
    padded = torch.cat([nn.functional.pad(v, (0, width - v.shape[1])) for v in vectors])
    mask = torch.cat([torch.arange(width, device=v.device).expand(v.shape[0], -1) < v.shape[1]
                      for v in vectors])
    return padded, mask


def pad_tokens(sequences: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """Stack token sequences of different architectures: ``[(K_i, T_i, S)]`` ->
    ``(sum K_i, max T_i, S)`` zero-padded, and the ``(sum K_i, max T_i)`` mask of real tokens.

    Example:
        >>> tokens, mask = pad_tokens([torch.ones(2, 3, 4), torch.ones(1, 6, 4)])
        >>> tokens.shape, mask.sum(1).tolist()
        (torch.Size([3, 6, 4]), [3, 3, 6])
    """
    if not sequences or any(not isinstance(s, Tensor) or s.ndim != 3 for s in sequences):
        raise ValueError("pad_tokens takes a non-empty list of (K_i, T_i, S) tensors")
    if len({s.shape[2] for s in sequences}) != 1:
        raise ValueError(f"every sequence needs the same token size S; got {[s.shape[2] for s in sequences]}")
    flat, mask = pad_vectors([s.flatten(1) for s in sequences])
    size = sequences[0].shape[2]
    return flat.view(flat.shape[0], -1, size), mask.view(mask.shape[0], -1, size)[..., 0]
