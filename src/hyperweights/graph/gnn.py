"""The graph networks of graph hypernetworks: GHN-2's gated GNN and GHN-3's Graphormer.

Both read a padded meta-batch of graphs at once (:class:`GraphBatch`: ``G`` graphs of up to ``N``
nodes) and return one embedding per node, ``(G, N, hidden)``; there is no loop over graphs.

- :class:`GatedGNN` (GHN-2, Knyazev et al. 2021): node states updated by a ``GRUCell`` from messages
  along the edges in both directions, where a node also hears every node up to ``cutoff`` hops
  away (virtual edges) with weight ``1 / distance``.
- :class:`Graphormer` (GHN-3, Knyazev et al. 2023): pre-norm Transformer layers over the nodes with
  in/out-degree embeddings added to the input and a learned per-head attention bias indexed by the
  shortest-path distance in each direction (GHN-3 adds it in the first layer only; ``bias_layers``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..targets import mlp
from .graph import OP_TYPES, ModelGraph

__all__ = ["GraphBatch", "NodeEncoder", "GatedGNN", "Graphormer", "GNNS"]


@dataclass
class GraphBatch:
    """``G`` graphs padded to ``N`` nodes: ``types (G, N)``, ``shapes (G, N, 4)``, ``distance
    (G, N, N)`` (``cutoff + 1`` on padding), ``mask (G, N)`` (True on real nodes)."""

    types: Tensor
    shapes: Tensor
    distance: Tensor
    mask: Tensor
    cutoff: int

    @classmethod
    def of(cls, graphs: list[ModelGraph], device: torch.device | str = "cpu") -> GraphBatch:
        """Pad and stack ``graphs`` (which share one ``cutoff``).

        Example:
            >>> from hyperweights.graph import model_graph
            >>> g1 = model_graph(torch.nn.Linear(3, 2))
            >>> g2 = model_graph(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)))
            >>> GraphBatch.of([g1, g2]).distance.shape
            torch.Size([2, 6, 6])
        """
        if not graphs:
            raise ValueError("GraphBatch.of needs at least one graph")
        cutoffs = {g.cutoff for g in graphs}
        if len(cutoffs) > 1:
            raise ValueError(f"graphs of one batch share one cutoff; got {sorted(cutoffs)}")
        cutoff = cutoffs.pop()
        n = max(g.num_nodes for g in graphs)
        count = len(graphs)
        types = torch.zeros(count, n, dtype=torch.long)
        shapes = torch.zeros(count, n, 4, dtype=torch.long)
        distance = torch.full((count, n, n), cutoff + 1, dtype=torch.long)
        mask = torch.zeros(count, n, dtype=torch.bool)
        for i, g in enumerate(graphs):
            k = g.num_nodes
            types[i, :k], shapes[i, :k], distance[i, :k, :k], mask[i, :k] = g.types, g.shapes, g.distance, True
        return cls(types.to(device), shapes.to(device), distance.to(device), mask.to(device), cutoff)


class NodeEncoder(nn.Module):
    """Node features -> ``(G, N, hidden)``: an op-type embedding plus GHN-2's shape encoding.

    Each of the 4 shape integers is encoded by ``log2(1 + s)`` (smooth: an unseen width lands near
    the seen ones) and sinusoids of ``s`` (which tell every width apart, but wrap at the high
    frequencies, so they do not interpolate), and projected to ``hidden``.
    """

    def __init__(self, hidden: int, frequencies: int = 8):
        super().__init__()
        self.type_embedding = nn.Embedding(len(OP_TYPES), hidden)
        self.register_buffer("freq", 2.0 ** -torch.arange(frequencies, dtype=torch.float32), persistent=False)
        self.shape_proj = nn.Linear(4 * (1 + 2 * frequencies), hidden)

    def forward(self, batch: GraphBatch) -> Tensor:
        s = batch.shapes.float()                                         # (G, N, 4)
        angle = s.unsqueeze(-1) * self.freq                              # (G, N, 4, F)
        code = torch.cat([torch.log2(1 + s).unsqueeze(-1) / 4, angle.sin(), angle.cos()], -1)
        code = code * (s > 0).unsqueeze(-1)                              # operations: no shape
        return self.type_embedding(batch.types) + self.shape_proj(code.flatten(-2))


class GatedGNN(nn.Module):
    """GHN-2's gated graph network with virtual edges (messages both ways, a ``GRUCell`` update).

    Args:
        hidden: node embedding size.
        rounds: message-passing rounds.

    Shapes: ``forward(h: (G, N, hidden), batch) -> (G, N, hidden)``.

    Example:
        >>> from hyperweights.graph import model_graph
        >>> batch = GraphBatch.of([model_graph(torch.nn.Linear(3, 2))])
        >>> GatedGNN(8)(torch.randn(1, 4, 8), batch).shape
        torch.Size([1, 4, 8])
    """

    def __init__(self, hidden: int, rounds: int = 2, **_):
        super().__init__()
        self.rounds = rounds
        self.forward_message = mlp((hidden, hidden, hidden))
        self.backward_message = mlp((hidden, hidden, hidden))
        self.update = nn.GRUCell(hidden, hidden)

    def forward(self, h: Tensor, batch: GraphBatch) -> Tensor:
        d = batch.distance.float()
        near = (d >= 1) & (d <= batch.cutoff)
        weight = torch.where(near, 1.0 / d.clamp(min=1), torch.zeros_like(d))   # (G, N, N): j -> i
        shape = h.shape
        for _ in range(self.rounds):
            m = weight @ self.forward_message(h) + weight.transpose(1, 2) @ self.backward_message(h)
            h = self.update(m.reshape(-1, shape[-1]), h.reshape(-1, shape[-1])).view(shape)
        return h * batch.mask.unsqueeze(-1)


class Graphormer(nn.Module):
    """GHN-3's Graphormer: degree embeddings, shortest-path attention bias, pre-norm layers.

    Args:
        hidden: node embedding size; heads: attention heads; layers: Transformer layers.
        bias_layers: ``"first"`` (GHN-3: the distance bias in the first layer only) or ``"all"``.
        max_degree: degrees above it share one embedding.

    Shapes: ``forward(h: (G, N, hidden), batch) -> (G, N, hidden)``.

    Example:
        >>> from hyperweights.graph import model_graph
        >>> batch = GraphBatch.of([model_graph(torch.nn.Linear(3, 2))])
        >>> Graphormer(8, heads=2, layers=2)(torch.randn(1, 4, 8), batch).shape
        torch.Size([1, 4, 8])
    """

    def __init__(self, hidden: int, heads: int = 4, layers: int = 3, *, bias_layers: str = "first",
                 max_degree: int = 16, cutoff: int = 50, **_):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"Graphormer: hidden ({hidden}) must be a multiple of heads ({heads})")
        if bias_layers not in ("first", "all"):
            raise ValueError(f"bias_layers must be 'first' or 'all', got {bias_layers!r}")
        self.heads, self.max_degree, self.bias_layers = heads, max_degree, bias_layers
        self.in_degree = nn.Embedding(max_degree + 1, hidden)
        self.out_degree = nn.Embedding(max_degree + 1, hidden)
        # distances 0..cutoff and "farther / none" (cutoff + 1), each direction its own table
        self.distance_forward = nn.Embedding(cutoff + 2, heads)
        self.distance_backward = nn.Embedding(cutoff + 2, heads)
        self.norm1 = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))
        self.qkv = nn.ModuleList(nn.Linear(hidden, 3 * hidden) for _ in range(layers))
        self.proj = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers))
        self.norm2 = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))
        self.ffn = nn.ModuleList(mlp((hidden, 2 * hidden, hidden), "gelu") for _ in range(layers))
        self.norm_out = nn.LayerNorm(hidden)

    def forward(self, h: Tensor, batch: GraphBatch) -> Tensor:
        g, n, hidden = h.shape
        edges = batch.distance == 1
        h = h + self.in_degree(edges.sum(2).clamp(max=self.max_degree)) \
              + self.out_degree(edges.sum(1).clamp(max=self.max_degree))
        cap = self.distance_forward.num_embeddings - 1
        dist = batch.distance.clamp(max=cap)
        bias = self.distance_forward(dist) + self.distance_backward(dist.transpose(1, 2))   # (G, N, N, H)
        bias = bias.permute(0, 3, 1, 2)
        blocked = torch.zeros(g, 1, 1, n, device=h.device, dtype=h.dtype).masked_fill(
            ~batch.mask[:, None, None, :], float("-inf"))
        for i, (norm1, qkv, proj, norm2, ffn) in enumerate(zip(self.norm1, self.qkv, self.proj, self.norm2,
                                                                self.ffn)):
            q, k, v = qkv(norm1(h)).view(g, n, 3, self.heads, hidden // self.heads).permute(2, 0, 3, 1, 4)
            mask = blocked + bias if i == 0 or self.bias_layers == "all" else blocked
            h = h + proj(F.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2).reshape(g, n, hidden))
            h = h + ffn(norm2(h))
        return self.norm_out(h) * batch.mask.unsqueeze(-1)


#: the graph networks by name
GNNS = {"gated": GatedGNN, "graphormer": Graphormer}
