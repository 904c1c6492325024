"""Character-level language models: the recipe of the HyperLSTM paper, with its baselines.

``CharLM(vocab, cell=...)`` is an embedding, a recurrent stack and a softmax over the vocabulary;
``cell`` is ``"lstm"`` (PyTorch's fused ``nn.LSTM``), ``"layernorm_lstm"`` or ``"hyperlstm"``.
:func:`fit` trains it on a token stream with truncated back-propagation through time (random
windows of ``seq_len`` characters); :func:`evaluate` reports bits per character over a whole
stream, carrying the recurrent state across windows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..io import ConfigCheckpoint, checkpointable
from ..optim import make_optimizer
from ..training import FitResult, TrainConfig, config_field, train_loop
from .layers import HyperLSTM, LayerNormLSTM

__all__ = ["CharLM", "SequenceConfig", "fit", "evaluate", "CELLS"]

CELLS = ("lstm", "layernorm_lstm", "hyperlstm")


@dataclass
class SequenceConfig(TrainConfig):
    """Training of a :class:`CharLM` (the paper trains with Adam and gradient clipping)."""

    steps: int = config_field(2000, "optimizer steps")
    seq_len: int = config_field(100, "characters per training window (truncated BPTT length)")
    clip: float = config_field(1.0, "gradient-norm clipping (0: off)")

    def validate(self) -> None:
        super().validate()
        self.positive_int("steps", allow_zero=True)
        self.positive_int("seq_len")
        self._require("clip", isinstance(self.clip, (int, float)) and self.clip >= 0, ">= 0")


@checkpointable("sequence.CharLM")
class CharLM(ConfigCheckpoint, nn.Module):
    """Embedding -> recurrent stack -> logits over the vocabulary.

    Args:
        vocab_size: number of symbols.
        cell: ``"lstm"``, ``"layernorm_lstm"`` or ``"hyperlstm"``.
        hidden_size, num_layers: of the recurrent stack; embedding_dim: input embedding size.
        hyper_size, embedding_size: the HyperLSTM's ``N_h`` and ``N_z`` (ignored by other cells).
        dropout: recurrent dropout (our cells) / inter-layer dropout (``nn.LSTM``).

    Shapes: ``forward(tokens: (B, T) long, state=None) -> (logits (B, T, V), state)``.

    Example:
        >>> lm = CharLM(20, cell="hyperlstm", hidden_size=16, hyper_size=8, embedding_size=4)
        >>> logits, state = lm(torch.randint(0, 20, (2, 9)))
        >>> logits.shape
        torch.Size([2, 9, 20])
    """

    def __init__(self, vocab_size: int, cell: str = "hyperlstm", *, hidden_size: int = 256,
                 num_layers: int = 1, embedding_dim: int = 32, hyper_size: int = 64,
                 embedding_size: int = 8, dropout: float = 0.0):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
        if not (isinstance(vocab_size, int) and vocab_size >= 2):
            raise ValueError(f"vocab_size must be an integer >= 2, got {vocab_size!r}")
        self.config = {"vocab_size": vocab_size, "cell": cell, "hidden_size": hidden_size,
                       "num_layers": num_layers, "embedding_dim": embedding_dim,
                       "hyper_size": hyper_size, "embedding_size": embedding_size, "dropout": dropout}
        self.embed = nn.Embedding(vocab_size, embedding_dim)
        if cell == "lstm":
            self.rnn = nn.LSTM(embedding_dim, hidden_size, num_layers, batch_first=True,
                               dropout=dropout if num_layers > 1 else 0.0)
        elif cell == "layernorm_lstm":
            self.rnn = LayerNormLSTM(embedding_dim, hidden_size, num_layers, dropout=dropout)
        else:
            self.rnn = HyperLSTM(embedding_dim, hidden_size, num_layers, hyper_size=hyper_size,
                                 embedding_size=embedding_size, dropout=dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, tokens: Tensor, state=None):
        if not (isinstance(tokens, Tensor) and tokens.ndim == 2 and not tokens.is_floating_point()):
            raise ValueError(f"CharLM expects integer tokens of shape (B, T); got "
                             f"{tokens.dtype if isinstance(tokens, Tensor) else type(tokens).__name__} "
                             f"{tuple(tokens.shape) if isinstance(tokens, Tensor) else ''}")
        out, state = self.rnn(self.embed(tokens), state)
        return self.head(out), state


def _check_stream(model: CharLM, data: Tensor, least: int) -> None:
    if not (isinstance(data, Tensor) and data.ndim == 1 and not data.is_floating_point()):
        raise ValueError("the data is a 1-D integer tensor of token ids (the whole stream)")
    if len(data) < least:
        raise ValueError(f"the stream has {len(data)} tokens, fewer than the {least} needed")
    vocab = model.config["vocab_size"]
    if int(data.min()) < 0 or int(data.max()) >= vocab:
        raise ValueError(f"token ids must be in 0..{vocab - 1} (the model's vocabulary); got "
                         f"{int(data.min())}..{int(data.max())}")


def fit(model: CharLM, data: Tensor, config: SequenceConfig) -> FitResult:
    """Train on random windows of the token stream ``data: (N,)`` (next-character prediction).

    Example:
        >>> lm = CharLM(5, cell="layernorm_lstm", hidden_size=8, embedding_dim=4)
        >>> stream = torch.arange(200) % 5
        >>> cfg = SequenceConfig(steps=30, seq_len=10, batch_size=4, lr=1e-2, progress=False)
        >>> fit(lm, stream, cfg).losses[-1] < 1.0
        True
    """
    config.validate()
    _check_stream(model, data, config.seq_len + 2)
    device = torch.device(config.device)
    model.to(device).train()
    data = data.to(device)
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    offsets = torch.arange(config.seq_len + 1, device=device)

    def step(i):
        start = torch.randint(0, len(data) - config.seq_len - 1, (config.batch_size, 1), generator=gen)
        window = data[start.to(device) + offsets]                                 # (B, T + 1)
        logits, _ = model(window[:, :-1])
        return F.cross_entropy(logits.flatten(0, 1), window[:, 1:].flatten())

    optimizer = make_optimizer(model.parameters(), config.lr)
    return train_loop(step, optimizer, config, total_steps=config.steps, model=model,
                      generators=[gen], clip_grad_norm=config.clip or None,
                      settings={**config.settings(), "model": model.config},
                      desc=f"char-LM {model.config['cell']}")


@torch.no_grad()
def evaluate(model: CharLM, data: Tensor, *, seq_len: int = 100, streams: int = 16) -> dict[str, float]:
    """Bits per character over the whole stream ``data: (N,)``: ``streams`` parallel slices, read in
    windows of ``seq_len`` with the recurrent state carried from window to window.

    Returns:
        ``{"bpc": ..., "nll": ... (nats per character), "tokens": ...}``.
    """
    _check_stream(model, data, streams * 2)
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        length = (len(data) - 1) // streams
        inputs = data[: streams * length].view(streams, length).to(device)
        targets = data[1: streams * length + 1].view(streams, length).to(device)
        total, state = 0.0, None
        for s in range(0, length, seq_len):
            logits, state = model(inputs[:, s:s + seq_len], state)
            total += F.cross_entropy(logits.flatten(0, 1), targets[:, s:s + seq_len].flatten(),
                                     reduction="sum").item()
        count = streams * length
    finally:
        model.train(was_training)
    nll = total / count
    return {"bpc": nll / math.log(2), "nll": nll, "tokens": count}
