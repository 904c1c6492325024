"""The graph hypernetwork: graph -> node embeddings -> every parameter of the model.

:class:`GraphHyperNetwork` embeds the nodes of a meta-batch of :class:`ModelGraph` s
(:class:`NodeEncoder`), runs one graph network over the padded batch (:class:`GatedGNN` or
:class:`Graphormer`), and decodes every parameter node with one decoder call per parameter shape
(all nodes of that shape, across all graphs of the batch, at once), then applies GHN-2's
normalisation. Training records the sizes the GHN was trained to predict; a wider dimension is
decoded at the largest trained size and tiled (:meth:`GraphHyperNetwork.tile_plan`).
:func:`predict_parameters` does it for a user's model; :func:`diversify` is the
post-processing before fine-tuning of Knyazev (2022, arXiv 2207.10049).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from ..io import checkpointable
from .decoders import DECODERS, normalize
from .gnn import GNNS, GraphBatch, NodeEncoder
from .graph import OP_TYPES, PARAM_TYPES, ModelGraph, matrix_shape, model_graph

__all__ = ["GraphHyperNetwork", "predict_parameters", "diversify"]

#: sizes above it are recorded (and looked up) as "this large or larger"
_SIZE_CAP = 8192


def _tile_dims(w: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Repeat ``w: (n, *small)`` along every dimension and slice to ``(n, *shape)``."""
    small = tuple(w.shape[1:])
    if small == tuple(shape):
        return w
    w = w.repeat(1, *(-(-s // p) for s, p in zip(shape, small)))
    return w[(slice(None), *(slice(0, s) for s in shape))]


@checkpointable("graph.GraphHyperNetwork")
class GraphHyperNetwork(nn.Module):
    """Predicts all parameters of any model from its computational graph (GHN-2/3, LoGAH).

    Args:
        hidden: node embedding size.
        gnn: ``"graphormer"`` (GHN-3) or ``"gated"`` (GHN-2).
        layers, heads: Graphormer layers and heads (``layers`` = rounds for the gated GNN).
        decoder: ``"lowrank"`` (LoGAH) or ``"tiled"`` (GHN-2/3).
        rank, max_ck: the low-rank decoder's ``r`` and ``ck``.
        block: the tiled decoder's ``(P, Q)``.
        decoder_widths: the decoder MLP's hidden widths (default ``4 hidden, 8 hidden``).
        cutoff: the virtual-edge cutoff the graphs must be built with.
        tile_untrained: a tensor dimension larger than any the GHN was trained to predict for
            that parameter type (a wider layer) is predicted at the largest trained size and
            tiled, consistently across the model (:meth:`tile_plan`) (GHN-2/3's tiling, applied beyond the trained sizes): the decoder's rows and
            columns past the widest trained layer never received a gradient. ``False``: LoGAH's
            plain slicing of ``A B``.

    Shapes: ``forward(graphs: list[ModelGraph]) -> list[dict[name, Tensor of the parameter's shape]]``.

    Example:
        >>> from hyperweights.graph import model_graph
        >>> ghn = GraphHyperNetwork(hidden=16, layers=1, heads=2, rank=4, max_ck=64)
        >>> net = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 3))
        >>> {k: tuple(v.shape) for k, v in ghn([model_graph(net)])[0].items()}
        {'0.weight': (7, 5), '0.bias': (7,), '2.weight': (3, 7), '2.bias': (3,)}
    """

    def __init__(self, hidden: int = 64, gnn: str = "graphormer", layers: int = 3, heads: int = 4,
                 decoder: str = "lowrank", rank: int = 16, max_ck: int = 1024,
                 block: tuple[int, int] = (16, 16), decoder_widths: tuple[int, ...] | None = None,
                 cutoff: int = 50, tile_untrained: bool = True):
        super().__init__()
        if gnn not in GNNS:
            raise ValueError(f"gnn must be one of {sorted(GNNS)}, got {gnn!r}")
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {sorted(DECODERS)}, got {decoder!r}")
        self.config = {"hidden": hidden, "gnn": gnn, "layers": layers, "heads": heads, "decoder": decoder,
                       "rank": rank, "max_ck": max_ck, "block": list(block),
                       "decoder_widths": list(decoder_widths) if decoder_widths else None, "cutoff": cutoff,
                       "tile_untrained": bool(tile_untrained)}
        self.cutoff, self.tile_untrained = cutoff, bool(tile_untrained)
        # trained_sizes[type, dim, s]: a parameter of this type had size s in dim (recorded in training)
        self.register_buffer("trained_sizes", torch.zeros(len(PARAM_TYPES), 4, _SIZE_CAP + 1, dtype=torch.bool))
        self.encoder = NodeEncoder(hidden)
        if gnn == "gated":
            self.gnn = GNNS[gnn](hidden, rounds=layers)
        else:
            self.gnn = GNNS[gnn](hidden, heads=heads, layers=layers, cutoff=cutoff)
        if decoder == "lowrank":
            self.decoder = DECODERS[decoder](hidden, rank=rank, max_ck=max_ck, widths=decoder_widths)
        else:
            self.decoder = DECODERS[decoder](hidden, block=tuple(block), widths=decoder_widths)

    # -- embedding and decoding ---------------------------------------------------------------
    def embed(self, graphs: list[ModelGraph]) -> Tensor:
        """Node embeddings of the padded meta-batch, ``(G, N, hidden)``."""
        bad = [i for i, g in enumerate(graphs) if not isinstance(g, ModelGraph) or g.cutoff != self.cutoff]
        if bad:
            raise ValueError(f"graph(s) {bad} are not ModelGraphs built with cutoff={self.cutoff} (this "
                             f"GHN's); build them with model_graph(model, cutoff={self.cutoff})")
        batch = GraphBatch.of(graphs, device=self.encoder.type_embedding.weight.device)
        return self.gnn(self.encoder(batch), batch)

    def groups(self, graphs: list[ModelGraph], max_elements: int | None = None
               ) -> Iterator[tuple[tuple[int, ...], list[tuple[int, int, str]]]]:
        """Parameter nodes grouped by shape: ``(shape, [(graph, node, name), ...])``, each group cut
        so that it holds at most ``max_elements`` predicted numbers (at least one node)."""
        by_shape: dict[tuple[int, ...], list] = defaultdict(list)
        for gi, g in enumerate(graphs):
            for node in g.param_nodes():
                name = g.params[node]
                by_shape[g.shape_of[name]].append((gi, node, name))
        for shape, members in by_shape.items():
            numel = max(1, int(torch.Size(shape).numel()))
            step = len(members) if max_elements is None else max(1, max_elements // numel)
            for start in range(0, len(members), step):
                yield shape, members[start:start + step]

    def record_sizes(self, graphs: list[ModelGraph]) -> None:
        """Mark every parameter's size per dimension (first 4) as trained, per parameter type."""
        types, dims, sizes = [], [], []
        for g in graphs:
            for node in g.param_nodes():
                for d, size in enumerate(g.shape_of[g.params[node]][:4]):
                    types.append(int(g.types[node]))
                    dims.append(d)
                    sizes.append(min(size, _SIZE_CAP))
        if types:
            self.trained_sizes[types, dims, sizes] = True

    def _trained_size(self, kind: str, dim: int, size: int) -> int:
        """The largest size trained for dimension ``dim`` of ``kind`` parameters if ``size`` exceeds
        it, else ``size`` (also when nothing was recorded): every index below the largest trained
        size received a gradient, the ones above did not."""
        if kind not in PARAM_TYPES or size > _SIZE_CAP:
            return size
        seen = torch.nonzero(self.trained_sizes[PARAM_TYPES.index(kind), dim]).flatten()
        return int(seen.max()) if len(seen) and size > int(seen.max()) else size

    def tile_plan(self, graphs: list[ModelGraph]) -> dict[int, int]:
        """``{size: trained size}`` for every dimension size of the graphs' parameters that is
        decoded smaller and tiled (empty in training, or with ``tile_untrained=False``).

        A size tiled in one parameter is tiled in every parameter of the batch where it occurs
        (to the smallest trained size found), so that a layer's replicated units meet replicated
        weights in the next layer (a CNN of width 48 trained up to 32: its head's 48 input
        columns are tiled too, although 48-wide linear layers were trained in the MLPs).
        """
        if self.training or not self.tile_untrained:
            return {}
        plan: dict[int, int] = {}
        for g in graphs:
            for node in g.param_nodes():
                kind = OP_TYPES[int(g.types[node])]
                for d, size in enumerate(g.shape_of[g.params[node]][:4]):
                    trained = self._trained_size(kind, d, size)
                    if trained < size:
                        plan[size] = min(plan.get(size, size), trained)
        return plan

    def decode(self, code: Tensor, shape: tuple[int, ...], kinds: list[str],
               plan: dict[int, int] | None = None) -> Tensor:
        """``(n, *shape)`` parameters of ``n`` nodes of one shape from their decoder codes
        (``self.decoder.code(h)`` of their embeddings): decoded at the sizes of ``plan``
        (:meth:`tile_plan`; none: at ``shape``), tiled to ``shape``, then GHN-2's normalisation
        (with the fan-in of ``shape``)."""
        small = tuple(plan.get(s, s) if plan and d < 4 else s for d, s in enumerate(shape))
        rows, cols = matrix_shape(small)
        w = self.decoder.expand(code, rows, cols)                         # (n, rows, cols)
        s0 = small[0] if small else 1
        s1 = small[1] if len(small) > 1 else 1
        kh, kw = rows // s0, cols // s1
        w = _tile_dims(w.view(-1, s0, kh, s1, kw).transpose(2, 3).reshape(-1, *small), shape)
        out = torch.empty_like(w)
        for kind in set(kinds):                                           # a few kinds per shape
            idx = [i for i, k in enumerate(kinds) if k == kind]
            out[idx] = normalize(w[idx], kind)
        return out

    def forward(self, graphs: list[ModelGraph]) -> list[dict[str, Tensor]]:
        h = self.embed(graphs)
        if self.training:
            self.record_sizes(graphs)
        groups = list(self.groups(graphs))
        flat = [m for _, members in groups for m in members]
        gi = torch.tensor([m[0] for m in flat], device=h.device)
        ni = torch.tensor([m[1] for m in flat], device=h.device)
        codes = self.decoder.code(h[gi, ni])                              # one decoder MLP call
        out: list[dict[str, Tensor]] = [{} for _ in graphs]
        # one split (its backward is one concatenation, not a zero-filled copy per slice)
        chunks = codes.split([len(members) for _, members in groups])
        plan = self.tile_plan(graphs)
        for (shape, members), code in zip(groups, chunks):
            kinds = [OP_TYPES[int(graphs[g].types[n])] for g, n, _ in members]
            params = self.decode(code, shape, kinds, plan)
            for (g, _, name), p in zip(members, params):
                out[g][name] = p
        return out

    # -- checkpoints --------------------------------------------------------------------------
    def checkpoint_state(self):
        return dict(self.state_dict()), dict(self.config)

    @classmethod
    def from_checkpoint(cls, tensors, config, **overrides):
        config = {**config, **overrides}
        config["block"] = tuple(config["block"])
        if config.get("decoder_widths"):
            config["decoder_widths"] = tuple(config["decoder_widths"])
        ghn = cls(**config)
        tensors = dict(tensors)
        tensors.setdefault("trained_sizes", ghn.trained_sizes)      # checkpoints from before the record
        ghn.load_state_dict(tensors)
        return ghn


@torch.no_grad()
def diversify(params: dict[str, Tensor], noise: float = 0.1, *, generator: torch.Generator | None = None
              ) -> dict[str, Tensor]:
    """Restore the diversity predicted weights lack before fine-tuning (arXiv 2207.10049).

    Every weight of 2 or more dimensions gets a random orthogonal perturbation of its matrix view
    with relative norm ``noise``: ``W + noise * ||W|| / ||Q|| * Q`` (``Q`` from
    ``nn.init.orthogonal_``); vectors and embeddings are kept. Returns new tensors.

    Example:
        >>> w = {"w": torch.ones(4, 4), "b": torch.zeros(4)}
        >>> d = diversify(w, 0.1, generator=torch.Generator().manual_seed(0))
        >>> bool(torch.linalg.matrix_rank(d["w"]) == 4), bool((d["b"] == 0).all())
        (True, True)
    """
    if not (isinstance(noise, (int, float)) and noise >= 0):
        raise ValueError(f"noise must be a non-negative number, got {noise!r}")
    out = {}
    for name, w in params.items():
        if w.ndim < 2 or noise == 0:
            out[name] = w.clone()
            continue
        rows, cols = matrix_shape(tuple(w.shape))
        q = torch.empty(rows, cols, dtype=w.dtype)
        nn.init.orthogonal_(q, generator=generator)
        q = q.view(w.shape[0], rows // w.shape[0], w.shape[1], cols // w.shape[1]).transpose(1, 2).reshape(w.shape)
        out[name] = w + noise * w.norm() / q.norm().clamp(min=1e-12) * q.to(w.device)
    return out


def _store(params: dict, result: dict, name: str, value: Tensor, out: str, noise: float, generator) -> None:
    """Put one predicted tensor where it goes: into the model's parameter, or into ``result``."""
    if noise:
        value = diversify({name: value}, noise, generator=generator)[name]
    if out == "model":
        if value is not params[name]:
            params[name].copy_(value)
    else:
        result[name] = value.to(params[name].device, params[name].dtype).clone()


@torch.no_grad()
def predict_parameters(ghn: GraphHyperNetwork, model: nn.Module, example_input=None, *,
                       graph: ModelGraph | None = None, out: str = "model", noise: float = 0.0,
                       seed: int | None = None, max_elements: int = 1 << 20):
    """Predict every parameter of ``model`` with ``ghn``.

    Prediction streams: one shape group of at most ``max_elements`` numbers is decoded at a time
    and (with ``out="model"``) written straight into the model's parameters, so the peak memory is
    the model plus one group.

    Args:
        ghn: a trained :class:`GraphHyperNetwork`.
        model: any ``nn.Module``. With ``out="model"`` its parameters are overwritten in place (and
            nothing else: buffers, ``requires_grad`` and the training flag stay); with
            ``out="state_dict"`` it is not touched.
        example_input: one input batch, needed only when torch.fx cannot trace the model.
        graph: a graph built earlier (:func:`model_graph`); skips building it again.
        out: ``"model"`` (fill ``model``, return it) or ``"state_dict"`` (a new state dict with the
            predicted parameters and copies of the buffers).
        noise: :func:`diversify` the prediction with this relative orthogonal noise (0: off).
        seed: seeds that noise.
        max_elements: the largest group decoded at once.

    Example:
        >>> ghn = GraphHyperNetwork(hidden=16, layers=1, heads=2, rank=4, max_ck=64)
        >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU())
        >>> state = predict_parameters(ghn, net, out="state_dict")
        >>> sorted(state)[:3], torch.equal(state["0.weight"], net[0].weight)
        (['0.bias', '0.weight', '1.bias'], False)
    """
    if not isinstance(ghn, GraphHyperNetwork):
        raise TypeError(f"predict_parameters expects a GraphHyperNetwork, got {type(ghn).__name__}")
    if out not in ("model", "state_dict"):
        raise ValueError(f"out must be 'model' or 'state_dict', got {out!r}")
    if graph is None:
        graph = model_graph(model, example_input, cutoff=ghn.cutoff)
    params = dict(model.named_parameters())
    if set(graph.shape_of) != set(params) or any(tuple(params[n].shape) != s for n, s in graph.shape_of.items()):
        raise ValueError(f"the graph was built for another model: its parameters "
                         f"{sorted(graph.shape_of)[:5]}... do not match the model's {sorted(params)[:5]}...")
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    was_training = ghn.training
    ghn.eval()
    try:
        h = ghn.embed([graph])[0]
        plan = ghn.tile_plan([graph])
        result: dict[str, Tensor] = {}
        for shape, members in ghn.groups([graph], max_elements):
            nodes = torch.tensor([m[1] for m in members], device=h.device)
            kinds = [OP_TYPES[int(graph.types[n])] for _, n, _ in members]
            code = ghn.decoder.code(h[nodes])
            numel = int(torch.Size(shape).numel())
            untiled = not any(s in plan for s in shape)
            if len(shape) == 2 and numel > max_elements and untiled:   # one huge matrix: stream its rows
                for i, (_, _, name) in enumerate(members):
                    target = params[name] if out == "model" and not noise else torch.empty(
                        shape, dtype=params[name].dtype, device=params[name].device)
                    step = max(1, max_elements // shape[1])
                    for start in range(0, shape[0], step):
                        stop = min(shape[0], start + step)
                        rows = ghn.decoder.expand_rows(code[i:i + 1], shape[0], shape[1], start, stop)
                        target[start:stop].copy_(normalize(rows, kinds[i])[0])
                    _store(params, result, name, target, out, noise, generator)
                continue
            predicted = ghn.decode(code, shape, kinds, plan)
            for (_, _, name), p in zip(members, predicted):
                _store(params, result, name, p, out, noise, generator)
            del predicted, code
    finally:
        ghn.train(was_training)
    if out == "model":
        return model
    # in state-dict order, tied parameters under every name they have (GPT-2's lm_head = wte)
    name_of = {id(p): n for n, p in params.items()}
    return {key: result[name_of[id(v)]] if id(v) in name_of else v.detach().clone()
            for key, v in model.state_dict(keep_vars=True).items()}
