"""Data, training and generalised zero-shot evaluation of a :class:`ZeroShotClassifier`.

Generalised zero-shot learning (GZSL, Xian et al. 2018's protocol): the classifier is trained on
images of the *seen* classes only; at test time it ranks every candidate class, seen and unseen,
and the score is the per-class mean accuracy on the seen classes' test images (``seen``), on the
unseen classes' (``unseen``) and their harmonic mean ``H = 2 s u / (s + u)``.

Calibrated stacking (Chao et al., 2016) subtracts a constant ``gamma`` from the seen classes'
scores (trained models favour the classes they saw); :func:`select_calibration` picks ``gamma`` on
a validation split whose "unseen" classes are seen classes held out of training
(:meth:`ZeroShotData.validation`), never on the test classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..data.loaders import Split
from ..optim import make_optimizer
from ..training import FitResult, TrainConfig, config_field, train_loop
from .models import ZeroShotClassifier

__all__ = ["ZeroShotData", "ZeroShotConfig", "fit", "evaluate", "select_calibration", "gzsl_scores"]


@dataclass
class ZeroShotData:
    """A zero-shot problem: images, labels over all classes, one description per class.

    ``x_train, y_train`` hold only seen classes; ``x_test, y_test`` any of ``classes``;
    ``class_embeddings: (C_all, K)`` is indexed by label; ``classes`` are the candidate labels at
    test time and ``unseen`` those among them never trained on.
    """

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    class_embeddings: Tensor
    classes: tuple[int, ...]
    unseen: tuple[int, ...]

    @property
    def seen(self) -> tuple[int, ...]:
        return tuple(c for c in self.classes if c not in self.unseen)

    @classmethod
    def from_split(cls, split: Split, class_embeddings: Tensor, unseen: Sequence[int]) -> ZeroShotData:
        """Drop the ``unseen`` classes' images from the training part of ``split``.

        Example:
            >>> split = Split(torch.rand(6, 2), torch.tensor([0, 1, 2, 0, 1, 2]),
            ...               torch.rand(3, 2), torch.tensor([0, 1, 2]))
            >>> data = ZeroShotData.from_split(split, torch.randn(3, 4), unseen=[2])
            >>> data.y_train.tolist(), data.seen, data.unseen
            ([0, 1, 0, 1], (0, 1), (2,))
        """
        num = len(class_embeddings)
        labels = torch.cat([split.y_train, split.y_test])
        if not (isinstance(class_embeddings, Tensor) and class_embeddings.ndim == 2):
            raise ValueError("class_embeddings must be a (C, K) tensor, one row per class label")
        if int(labels.min()) < 0 or int(labels.max()) >= num:
            raise ValueError(f"labels run {int(labels.min())}..{int(labels.max())} but there are "
                             f"{num} class embeddings; give one embedding per class label")
        unseen = tuple(sorted({int(c) for c in unseen}))
        if not unseen or not all(0 <= c < num for c in unseen) or len(unseen) >= num:
            raise ValueError(f"unseen must name at least one and fewer than all of the {num} classes "
                             f"(labels 0..{num - 1}), got {unseen}")
        keep = ~torch.isin(split.y_train, torch.tensor(unseen))
        return cls(split.x_train[keep], split.y_train[keep], split.x_test, split.y_test,
                   class_embeddings, tuple(range(num)), unseen)

    def validation(self, held_out: Sequence[int], fraction: float = 0.2, seed: int = 0) -> ZeroShotData:
        """A GZSL validation problem inside the training part: the ``held_out`` seen classes play
        the unseen ones (all their training images become validation images), and ``fraction``
        of the other seen classes' images are validation images too. The test classes are not
        candidates. Used to choose the calibration ``gamma``."""
        held_out = tuple(sorted({int(c) for c in held_out}))
        if not held_out or not set(held_out) < set(self.seen):
            raise ValueError(f"held_out must be some (not all) of the seen classes {self.seen}, got {held_out}")
        gen = torch.Generator().manual_seed(seed)
        is_held = torch.isin(self.y_train, torch.tensor(held_out))
        to_val = (torch.rand(len(self.y_train), generator=gen) < fraction) | is_held
        return ZeroShotData(self.x_train[~to_val], self.y_train[~to_val], self.x_train[to_val],
                            self.y_train[to_val], self.class_embeddings, self.seen, held_out)


@dataclass
class ZeroShotConfig(TrainConfig):
    """Training of a :class:`ZeroShotClassifier` on the seen classes."""

    steps: int = config_field(1500, "optimizer steps")
    weight_decay: float = config_field(0.0, "Adam's L2 penalty")

    def validate(self) -> None:
        super().validate()
        self.positive_int("steps", allow_zero=True)
        self._require("weight_decay", isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0,
                      ">= 0")


def fit(model: ZeroShotClassifier, data: ZeroShotData, config: ZeroShotConfig) -> FitResult:
    """Train ``model`` on the seen classes of ``data`` (minibatches of its training images).

    Example:
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> split = Split(torch.rand(60, 4), torch.arange(60) % 3, torch.rand(9, 4), torch.arange(9) % 3)
        >>> data = ZeroShotData.from_split(split, torch.eye(3), unseen=[2])
        >>> model = ZeroShotClassifier(4, 3, hidden=(8,), feature_dim=4, hyper_hidden=(8,))
        >>> fit(model, data, ZeroShotConfig(steps=5, batch_size=8, progress=False)).steps
        5
    """
    config.validate()
    if not isinstance(model, ZeroShotClassifier):
        raise TypeError(f"fit trains a ZeroShotClassifier, got {type(model).__name__}")
    if not isinstance(data, ZeroShotData) or not len(data.y_train):
        raise ValueError("fit needs a ZeroShotData with training images of the seen classes "
                         "(build it with ZeroShotData.from_split)")
    device = torch.device(config.device)
    model.to(device).train()
    seen = torch.tensor(data.seen)
    remap = torch.full((len(data.class_embeddings),), -1, dtype=torch.long)
    remap[seen] = torch.arange(len(seen))
    x, y = data.x_train.to(device), remap[data.y_train].to(device)   # labels -> rows of the seen set
    if (y < 0).any():
        raise ValueError(f"the training labels include classes outside the seen ones {data.seen}")
    seen_embeddings = data.class_embeddings[seen].to(device)
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)

    def step(i):
        idx = torch.randint(0, len(y), (config.batch_size,), generator=gen).to(device)
        return model.loss(x[idx], y[idx], seen_embeddings)

    optimizer = make_optimizer(model.parameters(), config.lr, weight_decay=config.weight_decay)
    return train_loop(step, optimizer, config, total_steps=config.steps, model=model, generators=[gen],
                      settings={**config.settings(), "model": model.config},
                      desc=f"zero-shot {model.method}")


@torch.no_grad()
def _scores(model: ZeroShotClassifier, data: ZeroShotData, batch: int = 4096) -> Tensor:
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        classes = data.class_embeddings[list(data.classes)].to(device)
        return torch.cat([model(data.x_test[s:s + batch].to(device), classes).cpu()
                          for s in range(0, len(data.x_test), batch)])
    finally:
        model.train(was_training)


def gzsl_scores(scores: Tensor, labels: Tensor, classes: Sequence[int], unseen: Sequence[int],
                calibration: float = 0.0) -> dict[str, float]:
    """Seen / unseen per-class mean accuracy and their harmonic mean from ``scores: (N, C)``
    over the candidate ``classes`` (column order), with ``calibration`` subtracted from the seen
    columns.

    Example:
        >>> s = torch.tensor([[2.0, 1.0], [2.0, 1.5], [0.0, 1.0]])
        >>> gzsl_scores(s, torch.tensor([0, 1, 1]), classes=[0, 1], unseen=[1])["harmonic"]
        0.6666666666666666
        >>> gzsl_scores(s, torch.tensor([0, 1, 1]), classes=[0, 1], unseen=[1], calibration=0.6)["unseen"]
        1.0
    """
    classes_t = torch.tensor(list(classes))
    is_unseen = torch.isin(classes_t, torch.tensor(list(unseen)))
    predicted = classes_t[(scores - calibration * (~is_unseen).float()).argmax(1)]
    correct = (predicted == labels).float()
    per_class = {int(c): correct[labels == c].mean().item() for c in classes if (labels == c).any()}

    def mean(group):
        values = [per_class[c] for c in group if c in per_class]
        return sum(values) / len(values) if values else float("nan")

    seen = mean([c for c in classes if c not in set(unseen)])
    unseen_acc = mean(list(unseen))
    harmonic = 2 * seen * unseen_acc / (seen + unseen_acc) if seen + unseen_acc > 0 else 0.0
    return {"seen": seen, "unseen": unseen_acc, "harmonic": harmonic}


def evaluate(model: ZeroShotClassifier, data: ZeroShotData, *, calibration: float = 0.0) -> dict[str, float]:
    """Generalised zero-shot accuracy on ``data``'s test images over all its candidate classes.

    Returns:
        ``{"seen", "unseen", "harmonic"}`` (GZSL, per-class mean accuracies), ``"zsl"`` (unseen
        images ranked among the unseen classes only, the classic zero-shot number) and
        ``"calibration"`` (the ``gamma`` used).
    """
    if not isinstance(data, ZeroShotData):
        raise TypeError(f"evaluate needs a ZeroShotData, got {type(data).__name__}")
    scores = _scores(model, data)
    result = gzsl_scores(scores, data.y_test, data.classes, data.unseen, calibration)
    columns = [data.classes.index(c) for c in data.unseen]
    mask = torch.isin(data.y_test, torch.tensor(data.unseen))
    zsl = gzsl_scores(scores[mask][:, columns], data.y_test[mask], data.unseen, data.unseen)
    return {**result, "zsl": zsl["unseen"], "calibration": float(calibration)}


def select_calibration(model: ZeroShotClassifier, validation: ZeroShotData, grid: int = 101) -> float:
    """The calibrated-stacking ``gamma`` with the best harmonic mean on ``validation`` (a split
    whose unseen classes were held out of training, see :meth:`ZeroShotData.validation`).

    The candidates are ``0`` and ``grid`` quantiles of the margin between each validation
    image's best seen and best unseen score: the points where a prediction can change, so the
    grid adapts to each method's score scale.
    """
    scores = _scores(model, validation)
    margin = _margins(scores, validation)
    candidates = torch.cat([torch.zeros(1), torch.quantile(margin, torch.linspace(0, 1, grid))])
    best = max(candidates.tolist(), key=lambda g: gzsl_scores(
        scores, validation.y_test, validation.classes, validation.unseen, g)["harmonic"])
    return float(best)



def _margins(scores: Tensor, data: ZeroShotData) -> Tensor:
    """Per image: best seen-class score minus best unseen-class score ``(N,)``."""
    is_unseen = torch.isin(torch.tensor(list(data.classes)), torch.tensor(list(data.unseen)))
    return scores[:, ~is_unseen].max(1).values - scores[:, is_unseen].max(1).values
