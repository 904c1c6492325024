"""``python -m benchmarks.adapters.cache_speed``: what caching the frozen lower blocks saves.

One training step (forward + backward, 16 sequences of 32 tokens from the benchmark's tasks, one
LoRA per task on block 5's ``query`` and ``value`` of all-MiniLM-L6-v2) from cached block-5 input
states against the same step from tokens through all six blocks; interleaved medians in one
process, one thread. Also checks that both give the same logits (to 1e-5). Writes
``results/adapters/adapters_cache.json``.
"""

from __future__ import annotations

import torch

from hyperweights.adapters import LoRATable, MultiTaskAdapterModel, select_modules
from hyperweights.bench import interleaved, write_results

from .bench import _base_and_tokenizer, _task_data
from .data import load_tasks


def main(rounds: int = 7) -> dict:
    torch.set_num_threads(1)
    base, tokenize, name = _base_and_tokenizer(smoke=False)
    tasks = load_tasks(train_per_task=16, test_per_task=1)
    data = _task_data(tasks, "train", tokenize, 32)
    rows = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:16]
    ids, mask, task_ids, labels = data.input_ids[rows], data.attention_mask[rows], data.tasks[rows], data.labels[rows]
    mods = select_modules(base, ["query", "value"], layers=[5])
    torch.manual_seed(0)
    cached = MultiTaskAdapterModel(base, LoRATable(mods, len(tasks)), [len(t.classes) for t in tasks], start_layer=5)
    with torch.no_grad():
        for b in cached.adapters.second:
            b.normal_(0, 0.1)                          # a trained-looking adapter
    hidden = cached.lower(ids, mask)

    def step(**inputs):
        loss = torch.nn.functional.cross_entropy(cached(**inputs), labels)
        loss.backward()
        cached.zero_grad(set_to_none=True)

    def from_cache():
        step(input_ids=None, attention_mask=mask, task_ids=task_ids, hidden=hidden)

    def from_tokens():
        cached.start_layer = None
        try:
            step(input_ids=ids, attention_mask=mask, task_ids=task_ids)
        finally:
            cached.start_layer = 5

    with torch.no_grad():
        a = cached(None, mask, task_ids, hidden=hidden)
        cached.start_layer = None
        b = cached(ids, mask, task_ids)
        cached.start_layer = 5
    ms = interleaved({"cached_lower_blocks": from_cache, "from_tokens": from_tokens}, rounds=rounds,
                     warmup=1, desc="cache")
    payload = {"model": name, "batch": 16, "tokens": 32, "adapted_blocks": [5], "ms_per_step": ms,
               "speedup": ms["from_tokens"] / ms["cached_lower_blocks"],
               "max_abs_logit_difference": float((a - b).abs().max()), "rounds": rounds}
    path = write_results("adapters_cache", payload)
    print(payload, f"\nwrote {path}")
    return payload


if __name__ == "__main__":
    main()
