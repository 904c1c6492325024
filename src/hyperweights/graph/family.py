"""The family of architectures a graph hypernetwork trains on, and its held-out test splits.

Every member reads flat images ``(B, side * side)`` (as :class:`~hyperweights.data.Split` holds
them) and returns logits ``(B, classes)``. :class:`ArchSpec` describes one member; :func:`build`
makes it; :func:`sample_family` draws members of a split:

- ``train``: MLPs (1-3 hidden layers, width 32-128), CNNs (1-3 conv blocks, 8-32 channels,
  BatchNorm, residual connections or not, average pooling), tiny ViTs (1-2 blocks, width 16-32);
- ``in_distribution``: new draws from the training distribution (not among the training members);
- ``wider``: the same kinds 2-4x wider than any training member;
- ``deeper``: the same kinds 2x deeper than any training member;
- ``unseen_ops``: CNNs with DenseNet-style concatenation, max pooling and SiLU, and MLPs with
  LayerNorm, an op mix no training member has.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ArchSpec", "build", "sample_family", "SPLITS"]

SPLITS = ("train", "in_distribution", "wider", "deeper", "unseen_ops")


@dataclass(frozen=True)
class ArchSpec:
    """One architecture: ``kind`` (``mlp`` / ``cnn`` / ``vit``), ``depth`` (hidden layers / blocks),
    ``width`` (units / channels / embedding size) and its op options."""

    kind: str
    depth: int
    width: int
    residual: bool = False
    dense: bool = False
    pool: str = "avg"
    activation: str = "relu"
    layer_norm: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


_ACT = {"relu": nn.ReLU, "silu": nn.SiLU, "gelu": nn.GELU}


class ConvBlock(nn.Module):
    """Conv 3x3 -> BatchNorm -> activation, with a residual sum or a dense concatenation + 1x1 conv."""

    def __init__(self, width: int, residual: bool, dense: bool, activation: str):
        super().__init__()
        self.conv = nn.Conv2d(width, width, 3, padding=1)
        self.bn = nn.BatchNorm2d(width)
        self.act = _ACT[activation]()
        self.residual, self.dense = residual, dense
        self.merge = nn.Conv2d(2 * width, width, 1) if dense else None

    def forward(self, x: Tensor) -> Tensor:
        y = self.act(self.bn(self.conv(x)))
        if self.merge is not None:
            return self.merge(torch.cat([x, y], 1))
        return x + y if self.residual else y


class SmallCNN(nn.Module):
    """Stem conv (stride 2 on images of 16 pixels or more) -> blocks -> pooling -> linear."""

    def __init__(self, spec: ArchSpec, side: int, classes: int):
        super().__init__()
        self.side = side
        stride = 2 if side >= 16 else 1
        self.stem = nn.Conv2d(1, spec.width, 3, stride=stride, padding=1)
        self.stem_bn = nn.BatchNorm2d(spec.width)
        self.act = _ACT[spec.activation]()
        self.blocks = nn.Sequential(*(ConvBlock(spec.width, spec.residual, spec.dense, spec.activation)
                                      for _ in range(spec.depth)))
        self.pool = nn.MaxPool2d(2) if spec.pool == "max" else nn.AvgPool2d(2)
        self.head = nn.Linear(spec.width, classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.act(self.stem_bn(self.stem(x.view(-1, 1, self.side, self.side))))
        x = self.pool(self.blocks(x))
        return self.head(F.adaptive_avg_pool2d(x, 1).flatten(1))


class TinyViT(nn.Module):
    """Patch embedding (a 4x4 grid of patches) + class token + position embedding -> pre-norm
    blocks (attention with 2 heads, GELU MLP) -> LayerNorm -> linear head on the class token."""

    def __init__(self, spec: ArchSpec, side: int, classes: int, heads: int = 2):
        super().__init__()
        self.side, self.heads = side, heads
        patch = max(1, side // 4)
        tokens = (side // patch) ** 2
        d = spec.width
        self.patch = nn.Conv2d(1, d, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embedding = nn.Parameter(torch.randn(1, tokens + 1, d) * 0.02)
        self.norm1 = nn.ModuleList(nn.LayerNorm(d) for _ in range(spec.depth))
        self.qkv = nn.ModuleList(nn.Linear(d, 3 * d) for _ in range(spec.depth))
        self.proj = nn.ModuleList(nn.Linear(d, d) for _ in range(spec.depth))
        self.norm2 = nn.ModuleList(nn.LayerNorm(d) for _ in range(spec.depth))
        self.fc1 = nn.ModuleList(nn.Linear(d, 2 * d) for _ in range(spec.depth))
        self.fc2 = nn.ModuleList(nn.Linear(2 * d, d) for _ in range(spec.depth))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.patch(x.view(-1, 1, self.side, self.side)).flatten(2).transpose(1, 2)   # (B, T, d)
        b, t, d = x.shape
        x = torch.cat([self.cls_token.expand(b, 1, d), x], 1) + self.pos_embedding
        for norm1, qkv, proj, norm2, fc1, fc2 in zip(self.norm1, self.qkv, self.proj, self.norm2,
                                                     self.fc1, self.fc2):
            q, k, v = qkv(norm1(x)).view(b, t + 1, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
            x = x + proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t + 1, d))
            x = x + fc2(F.gelu(fc1(norm2(x))))
        return self.head(self.norm(x[:, 0]))


def build(spec: ArchSpec, features: int, classes: int) -> nn.Module:
    """The model of ``spec`` for flat square images of ``features`` pixels and ``classes`` classes.

    Example:
        >>> net = build(ArchSpec("cnn", depth=2, width=8, residual=True), 64, 10)
        >>> net(torch.randn(5, 64)).shape
        torch.Size([5, 10])
    """
    side = math.isqrt(features)
    if side * side != features:
        raise ValueError(f"the family reads square images; {features} features is not a square")
    if spec.kind == "mlp":
        layers: list[nn.Module] = []
        width_in = features
        for _ in range(spec.depth):
            layers += [nn.Linear(width_in, spec.width)]
            if spec.layer_norm:
                layers += [nn.LayerNorm(spec.width)]
            layers += [_ACT[spec.activation]()]
            width_in = spec.width
        return nn.Sequential(*layers, nn.Linear(width_in, classes))
    if spec.kind == "cnn":
        return SmallCNN(spec, side, classes)
    if spec.kind == "vit":
        return TinyViT(spec, side, classes)
    raise ValueError(f"ArchSpec.kind must be 'mlp', 'cnn' or 'vit', got {spec.kind!r}")


_TRAIN_WIDTHS = {"mlp": (32, 48, 64, 96, 128), "cnn": (8, 12, 16, 24, 32), "vit": (16, 24, 32)}
_TRAIN_DEPTHS = {"mlp": (1, 2, 3), "cnn": (1, 2, 3), "vit": (1, 2)}


def _training_space() -> list[ArchSpec]:
    """Every architecture of the training distribution (51 of them)."""
    return [ArchSpec(kind, depth, width, residual=residual)
            for kind in ("mlp", "cnn", "vit") for depth in _TRAIN_DEPTHS[kind] for width in _TRAIN_WIDTHS[kind]
            for residual in ((False, True) if kind == "cnn" else (False,))]


def _draw(split: str, rng: random.Random, index: int) -> ArchSpec:
    """Draw ``index`` of ``split``: the kinds take turns (MLP, CNN, ViT; unseen ops: CNN, MLP)."""
    kind = ("mlp", "cnn", "vit")[index % 3]
    if split == "unseen_ops":
        if index % 2 == 0:
            return ArchSpec("cnn", rng.randint(1, 3), rng.choice(_TRAIN_WIDTHS["cnn"]), dense=True, pool="max",
                            activation="silu")
        return ArchSpec("mlp", rng.randint(1, 3), rng.choice(_TRAIN_WIDTHS["mlp"]), layer_norm=True)
    depth, width = rng.choice(_TRAIN_DEPTHS[kind]), rng.choice(_TRAIN_WIDTHS[kind])
    if split == "wider":
        width = {"mlp": rng.choice((256, 384, 512)), "cnn": rng.choice((64, 96)), "vit": rng.choice((64, 96))}[kind]
    else:                                                    # deeper
        depth = {"mlp": rng.randint(5, 6), "cnn": rng.randint(5, 6), "vit": rng.randint(3, 4)}[kind]
    return ArchSpec(kind, depth, width, residual=kind == "cnn" and rng.random() < 0.5)


def sample_family(split: str, count: int | None = None, seed: int = 0) -> list[ArchSpec]:
    """``count`` distinct architectures of ``split`` (see the module docstring), reproducibly.

    The training distribution's 51 architectures are shuffled by ``seed`` and cut 80 / 20 into
    ``train`` (40) and ``in_distribution`` (11), so those two never share a member; ``count=None``
    takes all of them. The other splits are drawn at random (``count`` required), the kinds taking
    turns so that a few draws cover every kind.

    Example:
        >>> train, held_out = sample_family("train"), sample_family("in_distribution")
        >>> len(train), len(held_out), bool(set(train) & set(held_out))
        (40, 11, False)
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if count is not None and not (isinstance(count, int) and count >= 1):
        raise ValueError(f"count must be a positive integer or None, got {count!r}")
    if split in ("train", "in_distribution"):
        space = _training_space()
        random.Random(f"space-{seed}").shuffle(space)
        cut = int(0.8 * len(space))
        members = space[:cut] if split == "train" else space[cut:]
        if count is not None and count > len(members):
            raise ValueError(f"split {split!r} has {len(members)} architectures, fewer than count={count}")
        return members if count is None else random.Random(f"pick-{split}-{seed}").sample(members, count)
    if count is None:
        raise ValueError(f"split {split!r} is drawn at random: give count=")
    rng = random.Random(f"{split}-{seed}")
    drawn: list[ArchSpec] = []
    for _ in range(100 * count):
        spec = _draw(split, rng, len(drawn))
        if spec not in drawn:
            drawn.append(spec)
        if len(drawn) == count:
            return drawn
    raise ValueError(f"split {split!r} has fewer than {count} distinct architectures")
