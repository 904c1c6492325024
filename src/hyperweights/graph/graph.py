"""The computational graph of any ``nn.Module``, as a graph hypernetwork reads it.

:func:`model_graph` traces the model with ``torch.fx`` or, when fx cannot trace it (data-dependent
control flow, as in most ``transformers`` models), walks the autograd graph of one forward pass on
an example input (GHN-2/3's method). Both paths produce the same kind of :class:`ModelGraph`:

- **nodes**: one per parameter tensor (typed by its module and role: ``linear``, ``conv``, ``bias``,
  ``norm_weight``, ``norm_bias``, ``embedding``, ``pos_enc``, ``param``), one per operation that
  matters (``sum``, ``mul``, ``concat``, ``matmul``, ``attention``, ``softmax``, ``activation``,
  pooling, a parameter-free ``norm``, ``other``), plus ``input`` and ``output``. Reshapes, views,
  dropout and the like are transparent. An operation that consumes parameters *is* its parameters:
  a ``Linear`` becomes the chain ``weight -> bias``.
- **node features**: the op type (an index into :data:`OP_TYPES`) and the parameter's shape as the
  4 integers ``(out, in, kh, kw)`` (zeros for operations).
- **edges** and GHN-2/3's **virtual edges**: ``distance[i, j]`` is the shortest directed path length
  from node ``j`` to node ``i`` (``0`` on the diagonal), capped at ``cutoff + 1`` for "farther or
  unreachable".

The model is never mutated: the autograd walk calls it through ``torch.func.functional_call`` with
fresh leaf copies of its parameters and buffers.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["OP_TYPES", "PARAM_TYPES", "ModelGraph", "model_graph", "matrix_shape"]

#: every node type, parameter types first (the index is the node feature)
PARAM_TYPES = ("linear", "conv", "bias", "norm_weight", "norm_bias", "embedding", "pos_enc", "param")
OP_TYPES = PARAM_TYPES + ("input", "output", "sum", "mul", "concat", "matmul", "attention", "softmax",
                          "activation", "max_pool", "avg_pool", "glob_pool", "norm", "other")
_INDEX = {name: i for i, name in enumerate(OP_TYPES)}

# operations by (lower-case) function / method / module / grad_fn name; anything not listed and
# not transparent is "other"
_OPS = {
    "add": "sum", "iadd": "sum", "sub": "sum", "addbackward": "sum", "subbackward": "sum",
    "mul": "mul", "imul": "mul", "mulbackward": "mul",
    "cat": "concat", "concat": "concat", "stack": "concat", "catbackward": "concat", "stackbackward": "concat",
    "matmul": "matmul", "bmm": "matmul", "mm": "matmul", "einsum": "matmul", "baddbmm": "matmul",
    "bmmbackward": "matmul", "mmbackward": "matmul", "matmulbackward": "matmul",
    "baddbmmbackward": "matmul", "unsafeviewbackward": None,
    "scaled_dot_product_attention": "attention", "multiheadattention": "attention",
    "softmax": "softmax", "log_softmax": "softmax", "softmaxbackward": "softmax",
    "safesoftmaxbackward": "softmax", "logsoftmaxbackward": "softmax",
    "max_pool1d": "max_pool", "max_pool2d": "max_pool", "maxpool1d": "max_pool", "maxpool2d": "max_pool",
    "avg_pool1d": "avg_pool", "avg_pool2d": "avg_pool", "avgpool1d": "avg_pool", "avgpool2d": "avg_pool",
    "adaptive_avg_pool1d": "glob_pool", "adaptive_avg_pool2d": "glob_pool", "adaptiveavgpool1d": "glob_pool",
    "adaptiveavgpool2d": "glob_pool", "mean": "glob_pool", "meanbackward": "glob_pool",
    "maxpool2dwithindicesbackward": "max_pool", "avgpool2dbackward": "avg_pool",
    "layer_norm": "norm", "batch_norm": "norm", "group_norm": "norm", "nativelayernormbackward": "norm",
    "nativebatchnormbackward": "norm", "nativegroupnormbackward": "norm",
}
_ACTIVATIONS = ("relu", "gelu", "silu", "tanh", "sigmoid", "elu", "leaky_relu", "leakyrelu", "mish",
                "hardswish", "softplus", "selu", "newgelu", "geluactivation", "sigmoidbackward",
                "tanhbackward", "relubackward", "gelubackward", "silubackward", "elubackward")
_TRANSPARENT = ("view", "reshape", "flatten", "unflatten", "getitem", "getattr", "size", "transpose",
                "permute", "contiguous", "chunk", "split", "expand", "unsqueeze", "squeeze", "to",
                "type", "float", "clone", "dropout", "identity", "t", "tbackward", "viewbackward",
                "reshapealiasbackward", "unsafeviewbackward", "transposebackward", "permutebackward",
                "expandbackward", "clonebackward", "selectbackward", "slicebackward", "unsqueezebackward",
                "squeezebackward", "splitbackward", "splitwithsizesbackward", "unbindbackward",
                "tocopybackward", "aliasbackward", "divbackward", "truediv", "div", "floordiv",
                "neg", "negbackward", "asstridedbackward", "indexbackward", "nativedropoutbackward",
                "dim", "masked_fill", "maskedfillbackward", "where", "wherebackward", "contiguousbackward",
                "pow", "powbackward", "rsqrt", "rsqrtbackward", "sqrt", "sqrtbackward")


def _op_category(name: str) -> str | None:
    """The node type of an operation named ``name``, or ``None`` if it is transparent."""
    key = re.sub(r"\d+$", "", name.lower().lstrip("_"))
    key = key.removesuffix("_")        # in-place methods (add_, relu_)
    if key in _TRANSPARENT or key.endswith("backward") and key[:-8] in _TRANSPARENT:
        return None
    if key in _OPS:
        return _OPS[key]
    if key in _ACTIVATIONS or key.removesuffix("backward") in _ACTIVATIONS:
        return "activation"
    if "scaleddotproduct" in key or "attention" in key:
        return "attention"
    return "other"


def _param_type(module: nn.Module, leaf_name: str, param: Tensor) -> str:
    """The node type of parameter ``leaf_name`` of ``module`` (by the module's kind and the role)."""
    kind = type(module).__name__.lower()
    is_bias = "bias" in leaf_name
    if isinstance(module, nn.modules.conv._ConvNd):
        return "bias" if is_bias else "conv"
    if isinstance(module, (nn.Linear, nn.MultiheadAttention)) or kind == "conv1d":   # HF GPT-2 Conv1D
        return "bias" if is_bias else "linear"
    if "norm" in kind:
        return "norm_bias" if is_bias else "norm_weight"
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        return "embedding"
    if is_bias:
        return "bias"
    return "pos_enc" if param.ndim >= 2 else "param"


def matrix_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """The 2-D view a decoder predicts for a parameter of ``shape``: ``(out * kh, in * kw)``.

    A conv weight ``(o, i, kh, kw)`` is ``(o * kh, i * kw)`` (LoGAH's layout), a matrix stays a
    matrix, a vector of length ``n`` is ``(n, 1)``.

    Example:
        >>> matrix_shape((8, 3, 5, 5)), matrix_shape((10, 4)), matrix_shape((7,))
        ((40, 15), (10, 4), (7, 1))
    """
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], 1
    kh = shape[2] if len(shape) >= 3 else 1
    kw = 1
    for s in shape[3:]:
        kw *= s
    return shape[0] * kh, shape[1] * kw


def _shape_feature(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    padded = tuple(shape) + (1,) * (4 - len(shape))
    kw = 1
    for s in padded[3:]:
        kw *= s
    return padded[0], padded[1], padded[2], kw


@dataclass
class ModelGraph:
    """A model's graph: node types, shape features, parameter names and shortest-path distances.

    Attributes:
        types: ``(N,)`` long, indices into :data:`OP_TYPES`.
        shapes: ``(N, 4)`` long, ``(out, in, kh, kw)`` of parameter nodes, zeros for operations.
        params: ``N`` entries: the parameter name of a parameter node, ``None`` for an operation.
        shape_of: parameter name -> its shape.
        distance: ``(N, N)`` long, ``distance[i, j]`` = shortest path ``j -> i`` (``cutoff + 1`` if
            longer or none).
        cutoff: the longest path kept as a virtual edge.
        method: ``"fx"`` or ``"autograd"``, how the graph was read.
    """

    types: Tensor
    shapes: Tensor
    params: list[str | None]
    shape_of: dict[str, tuple[int, ...]]
    distance: Tensor
    cutoff: int
    method: str

    @property
    def num_nodes(self) -> int:
        return len(self.params)

    def param_nodes(self) -> list[int]:
        """Indices of the parameter nodes."""
        return [i for i, p in enumerate(self.params) if p is not None]

    def edges(self) -> Tensor:
        """``(2, E)`` real (distance-1) edges as (source, destination)."""
        dst, src = torch.nonzero(self.distance == 1, as_tuple=True)
        return torch.stack([src, dst])

    def in_degree(self) -> Tensor:
        return (self.distance == 1).sum(1)

    def out_degree(self) -> Tensor:
        return (self.distance == 1).sum(0)

    def type_names(self) -> list[str]:
        return [OP_TYPES[t] for t in self.types.tolist()]


# ---------------------------------------------------------------------------------- raw graph
class _Raw:
    """A raw dataflow graph: nodes ``('param', name) | ('op', type) | ('skip', None) | ('input', None)
    | ('output', None)`` with their predecessors, before transparent nodes are removed."""

    def __init__(self):
        self.kind: dict[int, tuple[str, str | None]] = {}
        self.preds: dict[int, list[int]] = {}
        self.order: list[int] = []

    def add(self, key: int, kind: str, info: str | None, preds: list[int]) -> None:
        if key not in self.kind:
            self.order.append(key)
        self.kind[key] = (kind, info)
        self.preds[key] = preds


def _through_skips(raw: _Raw, start: list[int], want_params: bool) -> list[int]:
    """Nodes reached backwards from ``start`` through transparent nodes only: the parameters
    (``want_params``) or the non-transparent, non-parameter producers."""
    found, stack, seen = [], list(start), set()
    while stack:
        key = stack.pop()
        if key in seen:
            continue
        seen.add(key)
        kind = raw.kind[key][0]
        if kind == "skip":
            stack.extend(raw.preds[key])
        elif (kind == "param") == want_params:
            found.append(key)
    return found


def _finish(raw: _Raw, model: nn.Module, cutoff: int, method: str) -> ModelGraph:
    """Turn a raw graph into a :class:`ModelGraph`: ops on parameters become parameter chains,
    transparent nodes vanish, unused parameters hang off the input, distances are computed."""
    params = dict(model.named_parameters())
    modules = dict(model.named_modules())
    nodes: list[tuple[str, str | None]] = [("input", None)]
    param_node: dict[str, int] = {}
    span: dict[int, tuple[int, int]] = {}            # raw key -> (first, last) final node
    edges: list[tuple[int, int]] = []

    def param_index(name: str) -> int:
        if name not in param_node:
            param_node[name] = len(nodes)
            prefix, _, leaf = name.rpartition(".")
            nodes.append((_param_type(modules[prefix], leaf, params[name]), name))
        return param_node[name]

    for key in raw.order:
        kind, info = raw.kind[key]
        if kind == "input":
            span[key] = (0, 0)
        elif kind in ("op", "output"):
            owned = sorted({raw.kind[p][1] for p in _through_skips(raw, raw.preds[key], True)},
                           key=lambda n: ("bias" in n.rpartition(".")[2], n))
            if owned:
                chain = [param_index(name) for name in owned]
                edges.extend(zip(chain[:-1], chain[1:]))
                span[key] = (chain[0], chain[-1])
                if kind == "output":
                    nodes.append(("output", None))
                    edges.append((chain[-1], len(nodes) - 1))
                    span[key] = (chain[0], len(nodes) - 1)
            else:
                nodes.append((info if kind == "op" else "output", None))
                span[key] = (len(nodes) - 1, len(nodes) - 1)
    for key in raw.order:
        if key not in span or raw.kind[key][0] == "input":
            continue
        first = span[key][0]
        producers = _through_skips(raw, raw.preds[key], False)
        for p in producers or [None]:
            edges.append((span[p][1] if p is not None and p in span else 0, first))
    for name in params:                                # parameters the forward pass never used
        if name not in param_node:
            edges.append((0, param_index(name)))
    types = torch.tensor([_INDEX[t] for t, _ in nodes], dtype=torch.long)
    shapes = torch.tensor([_shape_feature(tuple(params[n].shape)) if n else (0, 0, 0, 0) for _, n in nodes],
                          dtype=torch.long)
    return ModelGraph(types=types, shapes=shapes, params=[n for _, n in nodes],
                      shape_of={n: tuple(p.shape) for n, p in params.items()},
                      distance=_distances(len(nodes), edges, cutoff), cutoff=cutoff, method=method)


def _distances(n: int, edges: list[tuple[int, int]], cutoff: int) -> Tensor:
    """All shortest directed path lengths up to ``cutoff`` by breadth-first frontier expansion of
    all sources at once (boolean matrix products)."""
    adj = torch.zeros(n, n, dtype=torch.float32)
    for src, dst in set(edges):
        if src != dst:
            adj[dst, src] = 1.0
    dist = torch.full((n, n), cutoff + 1, dtype=torch.long)
    dist.fill_diagonal_(0)
    reached = torch.eye(n)
    frontier = torch.eye(n)
    for step in range(1, cutoff + 1):
        frontier = ((adj @ frontier) > 0).float() * (1 - reached)
        if not frontier.any():
            break
        dist[frontier.bool()] = step
        reached = reached + frontier
    return dist


# ---------------------------------------------------------------------------------- torch.fx
def _fx_raw(model: nn.Module) -> _Raw:
    import torch.fx
    traced = torch.fx.symbolic_trace(model)
    modules = dict(traced.named_modules())
    known_params = dict(model.named_parameters())
    raw = _Raw()
    ids = {node: i for i, node in enumerate(traced.graph.nodes)}
    counter = len(ids)
    sizes: set = set()              # nodes computing shapes (x.size(), b * t + 1): no dataflow
    for node in traced.graph.nodes:
        preds = [ids[a] for a in node.all_input_nodes]
        is_size = node.op == "call_method" and node.target == "size" or (
            node.op == "call_function" and node.target is getattr and node.args[1] in ("shape", "ndim"))
        if is_size or node.op == "call_function" and node.all_input_nodes and all(
                a in sizes for a in node.all_input_nodes):
            sizes.add(node)
            raw.add(ids[node], "skip", None, [])
        elif node.op == "placeholder":
            raw.add(ids[node], "input", None, [])
        elif node.op == "get_attr":
            name = str(node.target)
            raw.add(ids[node], "param" if name in known_params else "skip", name, [])
        elif node.op == "output":
            raw.add(ids[node], "output", None, preds)
        elif node.op == "call_module":
            module = modules[node.target]
            own = [f"{node.target}.{n}" for n, _ in module.named_parameters()]
            for name in own:
                raw.add(counter, "param", name, [])
                preds.append(counter)
                counter += 1
            category = "other" if own else _op_category(type(module).__name__)
            raw.add(ids[node], "skip" if category is None else "op", category, preds)
        else:                                          # call_function / call_method
            target = node.target
            name = target if isinstance(target, str) else getattr(target, "__name__", str(target))
            if target is operator.matmul:
                name = "matmul"
            category = _op_category(name)
            raw.add(ids[node], "skip" if category is None else "op", category, preds)
    return raw


# ---------------------------------------------------------------------------------- autograd
def _autograd_raw(model: nn.Module, example_input) -> _Raw:
    from torch.func import functional_call
    leaves = {n: p.detach().requires_grad_(True) for n, p in model.named_parameters()}
    by_id = {id(t): n for n, t in leaves.items()}
    state = {**leaves, **{n: b.clone() for n, b in model.named_buffers()}}   # buffers stay untouched
    inputs = example_input if isinstance(example_input, tuple) else (example_input,)
    with torch.enable_grad():
        if isinstance(example_input, dict):
            out = functional_call(model, state, (), example_input)
        else:
            out = functional_call(model, state, inputs)
    roots = [t.grad_fn for t in _tensors(out) if t.grad_fn is not None]
    if not roots:
        raise ValueError("the model's output does not depend on its parameters through autograd; "
                         "cannot read its graph (is the forward pass under torch.no_grad?)")
    raw = _Raw()
    output_key = -1
    post: list = []
    seen: set[int] = set()
    stack = [(fn, False) for fn in roots]
    while stack:                                       # iterative post-order: producers first
        fn, expanded = stack.pop()
        if expanded:
            post.append(fn)
            continue
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        stack.append((fn, True))
        stack.extend((nxt, False) for nxt, _ in fn.next_functions if nxt is not None and id(nxt) not in seen)
    for fn in post:
        preds = [id(nxt) for nxt, _ in fn.next_functions if nxt is not None]
        if type(fn).__name__ == "AccumulateGrad":
            name = by_id.get(id(fn.variable))
            raw.add(id(fn), "param" if name else "input", name, [])
            continue
        category = _op_category(type(fn).__name__)
        raw.add(id(fn), "skip" if category is None else "op", category, preds)
    raw.add(output_key, "output", None, [id(fn) for fn in roots])
    if not any(kind == "input" for kind, _ in raw.kind.values()):
        raw.add(-2, "input", None, [])
    return raw


def _tensors(out) -> list[Tensor]:
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in _tensors(o)]
    if hasattr(out, "to_tuple"):                       # transformers' ModelOutput
        return _tensors(out.to_tuple())
    return []


def model_graph(model: nn.Module, example_input=None, *, method: str = "auto", cutoff: int = 50) -> ModelGraph:
    """The computational graph of ``model`` (see the module docstring for what it holds).

    Args:
        model: any ``nn.Module``; it is not modified.
        example_input: one input for the autograd walk (a tensor, a tuple of positional inputs, or
            a dict of keyword inputs); only needed when fx cannot trace the model.
        method: ``"fx"``, ``"autograd"`` or ``"auto"`` (fx, then autograd on failure).
        cutoff: longest shortest-path distance kept as a virtual edge (GHN-2/3 use 50).

    Returns:
        A :class:`ModelGraph`.

    Raises:
        ValueError: an unknown method, fx failing without an ``example_input`` for the fallback.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
        >>> g = model_graph(net)
        >>> g.method, g.type_names()
        ('fx', ['input', 'linear', 'bias', 'activation', 'linear', 'bias', 'output'])
        >>> int(g.distance[6, 0])            # input -> output: 6 hops
        6
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model_graph expects an nn.Module, got {type(model).__name__}")
    if method not in ("auto", "fx", "autograd"):
        raise ValueError(f"method must be 'auto', 'fx' or 'autograd', got {method!r}")
    if not (isinstance(cutoff, int) and cutoff >= 1):
        raise ValueError(f"cutoff must be a positive integer, got {cutoff!r}")
    if not any(True for _ in model.parameters()):
        raise ValueError(f"{type(model).__name__} has no parameters: there is nothing to predict")
    if method in ("auto", "fx"):
        try:
            return _finish(_fx_raw(model), model, cutoff, "fx")
        except Exception as err:  # noqa: BLE001 - fx fails in many ways on untraceable models
            if method == "fx" or example_input is None:
                hint = ("pass example_input= (one input batch) to read the graph from autograd "
                        "instead" if example_input is None else "use method='auto' or 'autograd'")
                raise ValueError(f"torch.fx cannot trace {type(model).__name__} "
                                 f"({type(err).__name__}: {str(err)[:200]}); {hint}") from err
    if example_input is None:
        raise ValueError("method='autograd' needs example_input= (one input batch for a forward pass)")
    return _finish(_autograd_raw(model, example_input), model, cutoff, "autograd")
