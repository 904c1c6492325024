"""A graph hypernetwork for language models: a family of tiny ``transformers`` GPT-2s.

LoGAH trains its GHN on "GPTs-1K", small random GPT-2s, and predicts the parameters of larger
ones (GPT-2 small to large) as their initialisation. This module is that setting in miniature,
on any token stream (the benchmark uses characters of the BBC News text):

- :class:`GPT2Spec`, :func:`build`: a ``GPT2LMHeadModel`` of ``n_layer`` blocks of width ``n_embd``
  with ``n_head`` heads over a small vocabulary (dropout off, an LM head of its own);
- :func:`sample_family`: the training family (1-3 blocks, width 16-32, 2 or 4 heads) and
  held-out models that are wider, deeper, or both, than any member;
- :class:`LMGraphConfig`, :func:`fit`: GHN-2's training with next-token cross-entropy, a
  meta-batch of GPT-2s per step, each run with its predicted parameters on the same windows;
- :func:`lm_loss`, :func:`evaluate`: mean next-token cross-entropy (nats per token) on fixed
  windows of a stream, of one model or of a GHN's zero-shot predictions;
- :func:`finetune`: train a model from its initialisation (predicted or ``transformers``' own)
  and record the loss on given streams after given numbers of steps.

Example:
    >>> import torch
    >>> from hyperweights.graph import GraphHyperNetwork
    >>> from hyperweights.graph import lm
    >>> tokens = torch.arange(400) % 7
    >>> models = [lm.build(s, vocab_size=7, n_positions=16) for s in lm.sample_family("train")[:2]]
    >>> ghn = GraphHyperNetwork(hidden=16, layers=1, heads=2, rank=4, max_ck=256)
    >>> cfg = lm.LMGraphConfig(steps=2, meta_batch=2, batch_size=2, seq_len=16, progress=False)
    >>> lm.fit(ghn, tokens, cfg, models).steps
    2
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from ..optim import make_optimizer
from ..training import FitResult, config_field, train_loop
from .ghn import GraphHyperNetwork, predict_parameters
from .graph import model_graph
from .train import GraphConfig

__all__ = ["GPT2Spec", "build", "sample_family", "SPLITS", "widest", "LMGraphConfig", "fit", "lm_loss",
           "evaluate", "finetune"]

SPLITS = ("train", "wider", "deeper", "larger")

_TRAIN_LAYERS, _TRAIN_WIDTHS, _TRAIN_HEADS = (1, 2, 3), (16, 24, 32), (2, 4)
# held out: every width above the widest trained (32) or every depth above the deepest (3)
_HELD_OUT = {
    "wider": ((2, 64, 4), (3, 48, 4)),
    "deeper": ((6, 32, 4), (5, 24, 2)),
    "larger": ((6, 64, 8), (4, 48, 4)),
}


@dataclass(frozen=True)
class GPT2Spec:
    """One GPT-2: ``n_layer`` blocks of width ``n_embd`` with ``n_head`` attention heads (MLP 4x)."""

    n_layer: int
    n_embd: int
    n_head: int

    def to_dict(self) -> dict:
        return asdict(self)


def build(spec: GPT2Spec, vocab_size: int, n_positions: int, *, tie_embeddings: bool = False) -> nn.Module:
    """A ``transformers.GPT2LMHeadModel`` of ``spec`` with ``transformers``' own random
    initialisation (no download) and dropout off. The LM head is its own matrix unless
    ``tie_embeddings`` (GPT-2's tying; see docs/graph.md for why the GHN's models are untied).

    Shapes: ``model(input_ids: (B, T) long).logits -> (B, T, vocab_size)``, ``T <= n_positions``.

    Example:
        >>> gpt = build(GPT2Spec(2, 32, 2), vocab_size=50, n_positions=16)
        >>> gpt(torch.zeros(1, 5, dtype=torch.long)).logits.shape
        torch.Size([1, 5, 50])
    """
    import transformers

    if not isinstance(spec, GPT2Spec):
        raise TypeError(f"spec must be a GPT2Spec, got {type(spec).__name__}")
    if spec.n_embd % spec.n_head:
        raise ValueError(f"n_embd ({spec.n_embd}) must be a multiple of n_head ({spec.n_head})")
    for name, value in (("vocab_size", vocab_size), ("n_positions", n_positions)):
        if not (isinstance(value, int) and value >= 2):
            raise ValueError(f"{name} must be an integer >= 2, got {value!r}")
    config = transformers.GPT2Config(
        vocab_size=vocab_size, n_positions=n_positions, n_layer=spec.n_layer, n_embd=spec.n_embd,
        n_head=spec.n_head, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        # GPT-2's bos/eos id 50256 lies outside a small vocabulary (transformers warns about it)
        bos_token_id=None, eos_token_id=None, tie_word_embeddings=tie_embeddings)
    return transformers.GPT2LMHeadModel(config)


def sample_family(split: str) -> list[GPT2Spec]:
    """The GPT-2s of ``split``: ``train`` (18: 1-3 blocks x width 16/24/32 x 2/4 heads),
    ``wider`` (width 48-64, depth as trained), ``deeper`` (5-6 blocks, width as trained) or
    ``larger`` (both, and 8 heads: never seen in training). Two held-out models per split.

    Example:
        >>> len(sample_family("train")), sample_family("larger")[0]
        (18, GPT2Spec(n_layer=6, n_embd=64, n_head=8))
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if split == "train":
        return [GPT2Spec(n, d, h) for n in _TRAIN_LAYERS for d in _TRAIN_WIDTHS for h in _TRAIN_HEADS]
    return [GPT2Spec(*s) for s in _HELD_OUT[split]]


def widest(models: Sequence[nn.Module]) -> int:
    """The largest side of any parameter matrix but the embeddings of ``models`` (a GHN's
    ``max_ck`` for predicting them without repetition)."""
    return max(max(p.shape) for m in models for n, p in m.named_parameters() if p.ndim == 2 and "wte" not in n)


@dataclass
class LMGraphConfig(GraphConfig):
    """Training of a graph hypernetwork on a family of GPT-2s (next-token prediction)."""

    seq_len: int = config_field(64, "tokens per training window (<= every model's n_positions)")

    def validate(self) -> None:
        super().validate()
        self.positive_int("seq_len")


def _check_models(models, vocab_size: int | None = None, seq_len: int | None = None) -> None:
    if not models or not all(isinstance(m, nn.Module) and hasattr(m, "config") for m in models):
        raise ValueError("models must be a non-empty list of transformers GPT2LMHeadModels "
                         "(e.g. [lm.build(s, vocab, seq_len) for s in lm.sample_family('train')])")
    for m in models:
        if seq_len is not None and m.config.n_positions < seq_len:
            raise ValueError(f"seq_len={seq_len} exceeds a model's n_positions={m.config.n_positions}; "
                             "build the models with n_positions >= seq_len")
        if vocab_size is not None and m.config.vocab_size < vocab_size:
            raise ValueError(f"the tokens use ids up to {vocab_size - 1} but a model's vocabulary has "
                             f"{m.config.vocab_size}; build the models with vocab_size >= {vocab_size}")


def _check_stream(tokens, least: int, name: str = "tokens") -> None:
    if not (isinstance(tokens, Tensor) and tokens.ndim == 1 and not tokens.is_floating_point()):
        raise ValueError(f"{name} must be a 1-D integer tensor of token ids (the whole stream), got "
                         f"{type(tokens).__name__}{'' if not isinstance(tokens, Tensor) else tuple(tokens.shape)}")
    if len(tokens) < least or int(tokens.min()) < 0:
        raise ValueError(f"{name} needs at least {least} non-negative token ids, got {len(tokens)} "
                         f"(min {int(tokens.min()) if len(tokens) else None})")


def _windows(tokens: Tensor, starts: Tensor, seq_len: int) -> Tensor:
    """``(B, seq_len + 1)`` windows of ``tokens`` beginning at ``starts: (B,)``."""
    return tokens[starts.to(tokens.device)[:, None] + torch.arange(seq_len + 1, device=tokens.device)]


def _next_token_loss(logits: Tensor, window: Tensor) -> Tensor:
    """Mean cross-entropy of ``logits: (B, T, V)`` (read from ``window[:, :-1]``) at ``window[:, 1:]``."""
    return F.cross_entropy(logits.flatten(0, 1), window[:, 1:].flatten())


def fit(ghn: GraphHyperNetwork, tokens: Tensor, config: LMGraphConfig, models: Sequence[nn.Module]
        ) -> FitResult:
    """Train ``ghn`` to predict parameters of low next-token loss for every GPT-2 in ``models``.

    Per step: ``meta_batch`` models drawn at random, one GHN call predicts all their parameters,
    each model runs on the same ``batch_size`` random windows of ``tokens`` with its predicted
    parameters (``torch.func.functional_call``; the models' own parameters are never used or
    changed), and the mean of their losses is back-propagated into the GHN.

    Args:
        ghn: the graph hypernetwork (trained in place).
        tokens: ``(N,)`` token ids, the training stream.
        config: steps, meta-batch, window length, learning rate, ...
        models: the training family (:func:`build`).
    """
    config.validate()
    if not isinstance(ghn, GraphHyperNetwork):
        raise TypeError(f"expected a GraphHyperNetwork, got {type(ghn).__name__}")
    _check_stream(tokens, config.seq_len + 2)
    _check_models(models, int(tokens.max()) + 1, config.seq_len)
    device = torch.device(config.device)
    ghn.to(device).train()
    models = [m.to(device).train() for m in models]
    example = tokens[: min(8, config.seq_len)].to(device)[None]
    graphs = [model_graph(m, example, cutoff=ghn.cutoff) for m in models]
    tokens = tokens.to(device)
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    meta = min(config.meta_batch, len(models))

    def step(i: int) -> Tensor:
        chosen = torch.randperm(len(models), generator=gen)[:meta].tolist()
        window = _windows(tokens, torch.randint(0, len(tokens) - config.seq_len - 1, (config.batch_size,),
                                                generator=gen), config.seq_len)
        predicted = ghn([graphs[c] for c in chosen])
        losses = [_next_token_loss(functional_call(models[c], p, (window[:, :-1],)).logits, window)
                  for c, p in zip(chosen, predicted)]        # architectures differ: one forward each
        return torch.stack(losses).mean()

    optimizer = make_optimizer(ghn.parameters(), config.lr, weight_decay=config.weight_decay)
    return train_loop(step, optimizer, config, total_steps=config.steps, model=ghn, generators=[gen],
                      clip_grad_norm=config.clip or None,
                      settings={**config.settings(), "ghn": ghn.config,
                                "models": [_spec_of(m).to_dict() for m in models]},
                      desc="graph hypernetwork (GPT-2s)")


def _spec_of(model: nn.Module) -> GPT2Spec:
    c = model.config
    return GPT2Spec(c.n_layer, c.n_embd, c.n_head)


def _eval_starts(tokens: Tensor, seq_len: int, windows: int) -> Tensor:
    """``windows`` evenly spaced window starts over the stream (the same ones every call)."""
    last = len(tokens) - seq_len - 1
    return torch.linspace(0, last, min(windows, last + 1)).long()


@torch.no_grad()
def lm_loss(model: nn.Module, tokens: Tensor, *, seq_len: int = 64, windows: int = 64, batch: int = 64) -> float:
    """Mean next-token cross-entropy (nats per token) of ``model`` over ``windows`` evenly spaced
    windows of ``seq_len + 1`` tokens of ``tokens: (N,)`` (evaluation mode; the flag is restored).

    Example:
        >>> gpt = build(GPT2Spec(1, 32, 2), vocab_size=5, n_positions=16)
        >>> 1.0 < lm_loss(gpt, torch.arange(300) % 5, seq_len=16) < 2.5      # about ln 5 at init
        True
    """
    _check_stream(tokens, seq_len + 2)
    device = next(model.parameters()).device
    stream = tokens.to(device)
    starts = _eval_starts(stream, seq_len, windows)
    was_training = model.training
    model.eval()
    try:
        total = 0.0
        for s in range(0, len(starts), batch):               # memory bound, not a loop over samples
            window = _windows(stream, starts[s:s + batch], seq_len)
            total += float(_next_token_loss(model(window[:, :-1]).logits, window)) * len(window)
    finally:
        model.train(was_training)
    return total / len(starts)


def evaluate(ghn: GraphHyperNetwork, tokens: Tensor, models: Sequence[nn.Module], *, seq_len: int = 64,
             windows: int = 64) -> dict[str, float]:
    """Zero-shot next-token loss of the parameters ``ghn`` predicts for each of ``models`` (copies
    are filled; the given models are not modified).

    Returns:
        ``{"loss": mean, "loss_min": ..., "loss_max": ..., "models": count}`` (nats per token).
    """
    if not isinstance(ghn, GraphHyperNetwork):
        raise TypeError(f"expected a GraphHyperNetwork, got {type(ghn).__name__}")
    _check_models(models, None, seq_len)
    device = next(ghn.parameters()).device
    example = tokens[: min(8, seq_len)].to(device)[None]
    scores = [lm_loss(predict_parameters(ghn, copy.deepcopy(m).to(device), example), tokens,
                      seq_len=seq_len, windows=windows) for m in models]
    return {"loss": sum(scores) / len(scores), "loss_min": min(scores), "loss_max": max(scores),
            "models": len(scores)}


def finetune(model: nn.Module, tokens: Tensor, streams: Mapping[str, Tensor], checkpoints: Sequence[int], *,
             lr: float = 1e-3, batch_size: int = 16, seq_len: int = 64, seed: int = 0, windows: int = 64,
             device: str = "cpu") -> dict[int, dict[str, float]]:
    """Train ``model`` (in place, Adam) on random windows of ``tokens`` from its current
    parameters; after each number of steps in ``checkpoints`` (``0`` = as initialised) record
    :func:`lm_loss` on every stream of ``streams`` (e.g. ``{"train": ..., "valid": ...}``).

    Returns:
        ``{step: {stream name: loss}}``.

    Example:
        >>> gpt = build(GPT2Spec(1, 32, 2), vocab_size=5, n_positions=16)
        >>> stream = torch.arange(300) % 5
        >>> curve = finetune(gpt, stream, {"train": stream}, [0, 30], lr=1e-2, seq_len=16)
        >>> curve[30]["train"] < curve[0]["train"]
        True
    """
    _check_stream(tokens, seq_len + 2)
    for name, stream in streams.items():
        _check_stream(stream, seq_len + 2, name=f"streams[{name!r}]")
    if any(not isinstance(c, int) or c < 0 for c in checkpoints):
        raise ValueError(f"checkpoints must be non-negative integers, got {list(checkpoints)}")
    device = torch.device(device)
    model.to(device)
    stream = tokens.to(device)
    gen = torch.Generator().manual_seed(seed)
    optimizer = make_optimizer(model.parameters(), lr)
    curve: dict[int, dict[str, float]] = {}
    done = 0
    for target in sorted(set(checkpoints)):
        model.train()
        while done < target:
            window = _windows(stream, torch.randint(0, len(stream) - seq_len - 1, (batch_size,), generator=gen),
                              seq_len)
            loss = _next_token_loss(model(window[:, :-1]).logits, window)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            done += 1
        curve[target] = {name: lm_loss(model, s, seq_len=seq_len, windows=windows) for name, s in streams.items()}
    return curve
