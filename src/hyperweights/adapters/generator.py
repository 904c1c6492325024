"""One shared hypernetwork that generates every module's adapter (HyperFormer++ style).

For a condition batch ``c: (W, d_c)`` (task embedding, description, support set: any core
:class:`~hyperweights.Conditioner`) and each adapted module ``s`` (its block ``l_s`` and module
type ``m_s``, e.g. ``query``), the projector sees ``[c, e_layer(l_s), e_type(m_s)]`` and a head
per matrix shape turns its features into the module's two adapter matrices; all ``W × S``
(condition, module) pairs go through the projector in one call, and through each head in one call
per shape group (not a loop over tasks or modules).

References:
    Mahabadi et al., "Parameter-efficient Multi-task Fine-tuning for Transformers via Shared
    Hypernetworks", ACL 2021, https://arxiv.org/abs/2106.04489 (HyperFormer++);
    Liu et al., "Polyhistor", NeurIPS 2022, https://arxiv.org/abs/2210.03265 (``decompose_rank``,
    ``scaling_kernel``); Charakorn et al., "Text-to-LoRA", ICML 2025, https://arxiv.org/abs/2506.06105
    (layer and module-type embeddings, LoRA starting at peft's initialisation).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .._checks import check_int
from ..conditioning import Conditioner
from ..targets.build import mlp
from .apply import KINDS
from .factor_heads import DecomposedFactorHead, FactorHead, ScalingKernelHead
from .select import AdaptedModule

__all__ = ["AdapterGenerator", "adapter_shapes"]


def adapter_shapes(module: AdaptedModule, kind: str, rank: int, bottleneck: int):
    """``(first, second)`` matrix shapes of one module's adapter (see :mod:`.apply`)."""
    if kind == "lora":
        return (rank, module.in_features), (module.out_features, rank)
    return (bottleneck, module.out_features), (module.out_features, bottleneck)


class AdapterGenerator(nn.Module):
    """Generates ``{module: (first (W, ...), second (W, ...))}`` from a condition batch of ``W``.

    Args:
        modules: the adapted modules (:func:`~hyperweights.adapters.select_modules`).
        condition: the core conditioner, e.g. ``hw.TaskEmbedding(num_tasks, 32)``.
        kind: ``"lora"`` (``A: (r, in)``, ``B: (out, r)``) or ``"bottleneck"``.
        rank / alpha: LoRA rank ``r`` and ``alpha`` (scaling ``alpha / r``).
        bottleneck: width ``m`` of a bottleneck adapter.
        hidden: width of the projector's features.
        embedding_dim: width of the layer and module-type embeddings.
        decompose_rank: Polyhistor's decomposed hypernetwork: each matrix is emitted as the product
            of two generated factors of this rank (None: one full linear head per matrix).
        scaling_kernel: Polyhistor's layer-wise scaling kernels: ``s`` > 1 emits a template with
            the longer side divided by ``s`` and a learned per-layer kernel of ``s`` entries.

    The second matrix (LoRA's ``B``, the adapter's up-projection) starts at 0, so the adapted
    model starts as the pretrained one; the first starts as peft initialises LoRA's ``A``.

    Example:
        >>> import hyperweights as hw
        >>> from hyperweights.adapters import AdaptedModule
        >>> mods = [AdaptedModule(f"l{i}.query", 6, 6, i, "query") for i in range(2)]
        >>> gen = AdapterGenerator(mods, hw.TaskEmbedding(3, 4), rank=2, hidden=8)
        >>> a, b = gen(torch.tensor([0, 2]))["l1.query"]
        >>> a.shape, b.shape, b.abs().max().item()
        (torch.Size([2, 2, 6]), torch.Size([2, 6, 2]), 0.0)
    """

    def __init__(self, modules: list[AdaptedModule], condition: Conditioner, *, kind: str = "lora",
                 rank: int = 8, alpha: float = 16.0, bottleneck: int = 16, hidden: int = 64,
                 embedding_dim: int = 16, decompose_rank: int | None = None,
                 scaling_kernel: int | None = None):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if not isinstance(condition, Conditioner):
            raise TypeError("condition must be a hyperweights Conditioner (TaskEmbedding, "
                            f"DescriptionCondition, DataCondition, ...), got {type(condition).__name__}")
        if not modules:
            raise ValueError("no modules to adapt: pass select_modules(model, target_modules)")
        for value, name in ((rank, "rank"), (bottleneck, "bottleneck"), (hidden, "hidden"),
                            (embedding_dim, "embedding_dim")):
            check_int(value, name, "AdapterGenerator")
        self.modules_ = list(modules)
        self.kind, self.rank, self.alpha, self.bottleneck = kind, rank, float(alpha), bottleneck
        self.config = {"kind": kind, "rank": rank, "alpha": float(alpha), "bottleneck": bottleneck,
                       "hidden": hidden, "embedding_dim": embedding_dim,
                       "decompose_rank": decompose_rank, "scaling_kernel": scaling_kernel}
        self.condition = condition
        layers = sorted({m.layer for m in modules})
        kinds = sorted({m.kind for m in modules})
        self.register_buffer("layer_ids", torch.tensor([layers.index(m.layer) for m in modules]))
        self.register_buffer("type_ids", torch.tensor([kinds.index(m.kind) for m in modules]))
        self.layer_embedding = nn.Embedding(len(layers), embedding_dim)
        self.type_embedding = nn.Embedding(len(kinds), embedding_dim)
        self.projector = mlp((condition.out_dim + 2 * embedding_dim, hidden, hidden))
        # one pair of heads per (first shape, second shape): modules of equal shapes share them
        groups: dict[tuple, list[int]] = {}
        for i, m in enumerate(modules):
            groups.setdefault(adapter_shapes(m, kind, rank, bottleneck), []).append(i)
        self.groups = list(groups.items())
        self.heads = nn.ModuleList()
        for (first, second), _ in self.groups:
            bound = 1.0 / math.sqrt(first[1])       # peft's LoRA A: kaiming_uniform(a=sqrt(5))
            self.heads.append(nn.ModuleList([
                self._head(hidden, first, bound, False, len(layers), decompose_rank, scaling_kernel),
                self._head(hidden, second, bound, True, len(layers), decompose_rank, scaling_kernel)]))

    @staticmethod
    def _head(hidden, shape, bound, zero, num_layers, decompose_rank, scaling_kernel):
        rows, cols = shape
        along_rows = rows >= cols
        if scaling_kernel is not None:
            longer = rows if along_rows else cols
            if longer % scaling_kernel:
                raise ValueError(f"scaling_kernel={scaling_kernel} must divide the longer side "
                                 f"{longer} of an adapter matrix {shape}")
            rows, cols = (rows // scaling_kernel, cols) if along_rows else (rows, cols // scaling_kernel)
        if decompose_rank is not None:
            head = DecomposedFactorHead(hidden, rows, cols, k=decompose_rank, bound=bound, zero=zero)
        else:
            head = FactorHead(hidden, rows, cols, bound=bound, zero=zero)
        if scaling_kernel is None:
            return head
        return ScalingKernelHead(head, num_layers=num_layers, scale=scaling_kernel, along_rows=along_rows)

    @property
    def adapted_modules(self) -> list[AdaptedModule]:
        return self.modules_

    @property
    def scaling(self) -> float:
        """LoRA's ``alpha / r`` (1 for bottleneck adapters)."""
        return self.alpha / self.rank if self.kind == "lora" else 1.0

    @property
    def num_tasks(self) -> int | None:
        """Rows of the condition's task table, if it has one."""
        return getattr(self.condition, "num_tasks", None)

    def forward(self, condition) -> dict[str, tuple[Tensor, Tensor]]:
        """``{module name: (first (W, *shape), second (W, *shape))}``."""
        code = self.condition(condition)                                       # (W, d_c)
        sets, count = code.shape[0], len(self.modules_)
        position = torch.cat([self.layer_embedding(self.layer_ids), self.type_embedding(self.type_ids)], 1)
        joint = torch.cat([code[:, None].expand(sets, count, -1),
                           position[None].expand(sets, -1, -1)], dim=2)         # (W, S, d_c + 2e)
        features = self.projector(joint)                                        # (W, S, hidden)
        out = {}
        for ((_, _), members), (first_head, second_head) in zip(self.groups, self.heads):
            index = torch.tensor(members, device=features.device)
            feats = features[:, index].reshape(sets * len(members), -1)
            layers = self.layer_ids[index].repeat(sets)
            first = first_head(feats, layers).view(sets, len(members), *emitted_shape(first_head))
            second = second_head(feats, layers).view(sets, len(members), *emitted_shape(second_head))
            for j, i in enumerate(members):
                out[self.modules_[i].name] = (first[:, j], second[:, j])
        return out


def emitted_shape(head: nn.Module) -> tuple[int, int]:
    """The ``(rows, cols)`` a factor head emits."""
    if isinstance(head, ScalingKernelHead):
        rows, cols = head.inner.rows, head.inner.cols
        return (rows * head.scale, cols) if head.along_rows else (rows, cols * head.scale)
    return head.rows, head.cols
