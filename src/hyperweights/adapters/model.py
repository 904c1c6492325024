"""A frozen pretrained encoder with generated (or plain) adapters and one classifier per task.

:class:`MultiTaskAdapterModel` runs a mixed-task batch in one pass: the adapter source (an
:class:`~hyperweights.adapters.AdapterGenerator` or a :class:`~hyperweights.adapters.LoRATable`)
emits one adapter per task, every sample uses its task's adapter through the gather-and-bmm path
of :func:`~hyperweights.adapters.adapted`, the token states are mean-pooled over the attention mask
(all-MiniLM-L6-v2's pooling) and a per-task linear classifier, gathered the same way, scores
them. Tasks with fewer classes than the widest have their missing logits masked out.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..data.text import mean_pool
from ..io import checkpointable
from .apply import adapted
from .cache import check_splittable, lower_states, upper_states

__all__ = ["MultiTaskAdapterModel"]

_MASKED = -1e4           # logit of a class the sample's task does not have


@checkpointable("adapters.MultiTaskAdapterModel")
class MultiTaskAdapterModel(nn.Module):
    """``model(input_ids, attention_mask, task_ids) -> logits (B, max classes)``.

    Args:
        base: the pretrained encoder (e.g. ``transformers.AutoModel``); frozen here and never copied.
        adapters: an ``AdapterGenerator``, a ``LoRATable``, or None (a linear probe).
        num_classes: classes of each task.
        start_layer: first block that holds adapters; blocks below run without gradients and
            their output can be cached (:meth:`lower`, ``hidden=``); None runs ``base`` whole.

    Checkpoints (``hw.save``) hold the adapters and classifiers only, not the pretrained weights:
    pass the base (and the adapter source, rebuilt the same way) to ``hw.load(path, base=...,
    adapters=...)``.

    Example:
        >>> from transformers import BertConfig, BertModel
        >>> import hyperweights as hw
        >>> from hyperweights.adapters import AdapterGenerator, select_modules
        >>> bert = BertModel(BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=2,
        ...                             num_attention_heads=2, intermediate_size=16))
        >>> mods = select_modules(bert, ["query", "value"], layers=[1])
        >>> gen = AdapterGenerator(mods, hw.TaskEmbedding(2, 4), rank=2, hidden=8)
        >>> model = MultiTaskAdapterModel(bert, gen, [2, 3], start_layer=1)
        >>> ids, mask = torch.randint(0, 30, (4, 6)), torch.ones(4, 6, dtype=torch.long)
        >>> model(ids, mask, torch.tensor([0, 1, 1, 0])).shape
        torch.Size([4, 3])
    """

    def __init__(self, base: nn.Module, adapters: nn.Module | None, num_classes: list[int], *,
                 start_layer: int | None = None):
        super().__init__()
        if not num_classes or not all(isinstance(c, int) and c >= 2 for c in num_classes):
            raise ValueError(f"num_classes must list at least two classes per task, got {num_classes!r}")
        if start_layer is not None:
            check_splittable(base, start_layer)
            below = [m.name for m in getattr(adapters, "adapted_modules", []) if m.layer < start_layer]
            if below:
                raise ValueError(f"start_layer={start_layer}, but adapters sit in lower blocks: {below}")
        base.requires_grad_(False).eval()
        self.base, self.adapters = base, adapters
        self.num_classes, self.start_layer = list(num_classes), start_layer
        hidden, widest = int(base.config.hidden_size), max(num_classes)
        bound = 1.0 / math.sqrt(hidden)                 # nn.Linear's default initialisation
        self.head_weight = nn.Parameter(torch.empty(len(num_classes), widest, hidden).uniform_(-bound, bound))
        self.head_bias = nn.Parameter(torch.zeros(len(num_classes), widest))
        self.register_buffer("class_mask", torch.arange(widest)[None] < torch.tensor(num_classes)[:, None])

    def train(self, mode: bool = True):
        super().train(mode)
        self.base.eval()                                # frozen: dropout stays off
        return self

    @property
    def num_tasks(self) -> int:
        return len(self.num_classes)

    def lower(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """Cacheable states ``(B, T, H)`` entering ``start_layer`` (needs ``start_layer``)."""
        if self.start_layer is None:
            raise ValueError("lower() needs start_layer (the first adapted block)")
        return lower_states(self.base, input_ids, attention_mask, self.start_layer)

    def adapter_weights(self, condition=None):
        """The adapter source's weights for ``condition`` (default: every task, ``W = T``)."""
        if condition is None:
            condition = torch.arange(self.adapters.num_tasks, device=self.head_bias.device)
        return self.adapters(condition)

    def forward(self, input_ids: Tensor | None, attention_mask: Tensor, task_ids: Tensor, *,
                hidden: Tensor | None = None, condition=None, weights=None) -> Tensor:
        """Logits ``(B, max classes)``.

        Args:
            input_ids / attention_mask: ``(B, T)`` tokens and mask.
            task_ids: ``(B,)`` task of every sample (picks its classifier and, by default, adapter).
            hidden: cached :meth:`lower` states instead of ``input_ids``.
            condition: a condition batch for the adapter source instead of every task's id
                (e.g. a description embedding); with ``W`` sets, ``W`` must be 1 or ``B``.
            weights: adapter weights already generated (``W`` in {1, B}), e.g. from
                :meth:`adapter_weights`.
        """
        task_ids = torch.as_tensor(task_ids, device=self.head_bias.device)
        states = self._states(input_ids, attention_mask, task_ids, hidden, condition, weights)
        pooled = mean_pool(states, attention_mask)                            # (B, H)
        logits = torch.bmm(self.head_weight[task_ids], pooled[:, :, None])[:, :, 0]
        logits = logits + self.head_bias[task_ids]
        return logits.masked_fill(~self.class_mask[task_ids], _MASKED)

    def _states(self, input_ids, attention_mask, task_ids, hidden, condition, weights) -> Tensor:
        if hidden is None and self.start_layer is not None:
            hidden = self.lower(input_ids, attention_mask)
        if self.adapters is None:
            return self._run(input_ids, attention_mask, hidden)
        index = None
        if weights is None:
            weights = self.adapter_weights(condition)
            sets = next(iter(weights.values()))[0].shape[0]
            index = task_ids if condition is None and sets > 1 else None
        with adapted(self.base, self.adapters.adapted_modules, weights, kind=self.adapters.kind,
                     scaling=self.adapters.scaling, index=index):
            return self._run(input_ids, attention_mask, hidden)

    def _run(self, input_ids, attention_mask, hidden) -> Tensor:
        if hidden is not None:
            return upper_states(self.base, hidden, attention_mask, self.start_layer)
        return self.base(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The adapter source's and the classifiers' parameters (the base stays frozen)."""
        return [p for p in self.parameters() if p.requires_grad]

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_state(self):
        own = {n: t for n, t in self.state_dict().items() if not n.startswith("base.")}
        return own, {"num_classes": self.num_classes, "start_layer": self.start_layer,
                     "adapters": getattr(self.adapters, "config", None)}

    @classmethod
    def from_checkpoint(cls, tensors, config, *, base: nn.Module | None = None,
                        adapters: nn.Module | None = None):
        if base is None:
            raise ValueError("a MultiTaskAdapterModel checkpoint holds no pretrained weights: pass "
                             "hw.load(path, base=<the same pretrained model>, adapters=<the adapter "
                             "source built the same way>)")
        model = cls(base, adapters, config["num_classes"], start_layer=config["start_layer"])
        missing, unexpected = model.load_state_dict(tensors, strict=False)
        missing = [n for n in missing if not n.startswith("base.")]
        if missing or unexpected:
            raise ValueError(f"the checkpoint does not fit this model: missing {missing}, "
                             f"unexpected {unexpected} (was the adapter source built the same way?)")
        return model
