"""Data, training and generalised zero-shot evaluation of a :class:`ZeroShotClassifier`.

Generalised zero-shot learning (GZSL, Xian et al. 2018's protocol): the classifier is trained on
images of the *seen* classes only; at test time it ranks every candidate class, seen and unseen,
and the score is the per-class mean accuracy on the seen classes' test images (``seen``), on the
unseen classes' (``unseen``) and their harmonic mean ``H = 2 s u / (s + u)``.

Calibrated stacking (Chao et al., 2016) subtracts a constant ``gamma`` from the seen classes'
scores (trained models favour the classes they saw). :func:`select_calibration` picks ``gamma``
on the final model itself from held-out images of seen classes
(:meth:`ZeroShotData.calibration_split`): the ``gamma`` that sends a fixed share of them (by
default the unseen share of the classes) to unseen classes. No unseen-class image is used.
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

__all__ = ["ZeroShotData", "ZeroShotConfig", "fit", "evaluate", "select_calibration", "seen_rate_calibration",
           "oracle_harmonic", "gzsl_scores"]


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

    def calibration_split(self, fraction: float = 0.2, seed: int = 0) -> tuple[ZeroShotData, Tensor]:
        """Hold ``fraction`` of the seen classes' training images out of training.

        Returns ``(train, held_out_images)``: the same problem without those images, and the
        images ``(M, D)`` themselves, for :func:`select_calibration` on the model trained on
        ``train``. Only seen-class images are involved; the test images take no part.

        Example:
            >>> split = Split(torch.rand(50, 2), torch.arange(50) % 5, torch.rand(5, 2), torch.arange(5))
            >>> data = ZeroShotData.from_split(split, torch.randn(5, 4), unseen=[4])
            >>> train, images = data.calibration_split(0.25)
            >>> len(train.y_train) + len(images) == len(data.y_train), images.shape[1]
            (True, 2)
        """
        if not (isinstance(fraction, float) and 0 < fraction < 1):
            raise ValueError(f"fraction must be a float in (0, 1) (the share of seen training images held "
                             f"out for calibration), got {fraction!r}")
        gen = torch.Generator().manual_seed(seed)
        held = torch.rand(len(self.y_train), generator=gen) < fraction
        if not held.any() or held.all():
            raise ValueError(f"fraction={fraction} of {len(self.y_train)} training images leaves no image on "
                             f"one side; use a fraction nearer 0.2 or more training images")
        train = ZeroShotData(self.x_train[~held], self.y_train[~held], self.x_test, self.y_test,
                             self.class_embeddings, self.classes, self.unseen)
        return train, self.x_train[held]


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


def select_calibration(model: ZeroShotClassifier, data: ZeroShotData, seen_images: Tensor,
                       rate: float | None = None) -> float:
    """The calibrated-stacking ``gamma`` of ``model`` from held-out images of *seen* classes.

    ``seen_images: (M, D)`` (from :meth:`ZeroShotData.calibration_split`, never trained on) are
    scored against all of ``data``'s candidate classes; ``gamma`` is set so that a share
    ``rate`` of them is sent to an unseen class (:func:`seen_rate_calibration`). ``rate``
    defaults to the unseen share of the candidate classes (3/10 for 7 seen + 3 unseen). No
    unseen-class image is used, and the rule is chosen on the final model itself.
    """
    if not (isinstance(seen_images, Tensor) and seen_images.ndim == 2 and len(seen_images)):
        raise ValueError(f"seen_images must be a non-empty (M, D) tensor of held-out seen-class images, got "
                         f"{tuple(seen_images.shape) if isinstance(seen_images, Tensor) else type(seen_images).__name__}")
    rate = len(data.unseen) / len(data.classes) if rate is None else rate
    held_out = ZeroShotData(data.x_train, data.y_train, seen_images, torch.zeros(len(seen_images), dtype=torch.long),
                            data.class_embeddings, data.classes, data.unseen)
    return seen_rate_calibration(_scores(model, held_out), data.classes, data.unseen, rate)


def seen_rate_calibration(scores: Tensor, classes: Sequence[int], unseen: Sequence[int], rate: float) -> float:
    """The ``gamma`` that sends a share ``rate`` of seen-class images to unseen classes.

    ``scores: (M, C)`` are seen-class images' scores over the candidate ``classes`` (column
    order). With ``m`` = best seen minus best unseen score per image, an image goes to an unseen
    class once ``gamma > m``, so ``gamma`` is the ``rate``-quantile of ``m``. A rate is free of
    the score scale: multiplying the scores by ``a`` multiplies ``gamma`` by ``a``.

    Example:
        >>> s = torch.tensor([[3.0, 0.0], [2.0, 0.0], [1.0, 0.0], [0.0, 0.0]])   # margins 3, 2, 1, 0
        >>> seen_rate_calibration(s, classes=[0, 1], unseen=[1], rate=0.5)
        1.5
    """
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
        raise ValueError(f"rate must be a number in [0, 1] (the share of seen images to send to unseen "
                         f"classes), got {rate!r}")
    if not (isinstance(scores, Tensor) and scores.ndim == 2 and scores.shape[1] == len(classes) and len(scores)):
        raise ValueError(f"scores must be an (M, {len(classes)}) tensor, one column per candidate class, got "
                         f"{tuple(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__}")
    margin = _margins(scores.float(), classes, unseen)
    return float(torch.quantile(margin, float(rate)))


def oracle_harmonic(model: ZeroShotClassifier, data: ZeroShotData, grid: int = 201) -> float:
    """Diagnostic only, never a result: the best test ``H`` over ``gamma``, i.e. what a perfect
    calibration would reach.

    It tries ``grid`` values of ``gamma`` (quantiles of the test images' seen-minus-unseen score
    margin) *on the test set itself*, so it bounds how much of a method's gap is calibration.

    Example:
        >>> import torch
        >>> from hyperweights.zeroshot import ZeroShotClassifier
        >>> torch.manual_seed(0) and None
        >>> model = ZeroShotClassifier(8, 6, hidden=(8,), feature_dim=4, hyper_hidden=(8,))
        >>> data = ZeroShotData(torch.rand(20, 8), torch.randint(0, 3, (20,)), torch.rand(30, 8),
        ...                     torch.arange(30) % 4, torch.randn(4, 6), classes=(0, 1, 2, 3), unseen=(3,))
        >>> 0.0 <= oracle_harmonic(model, data, grid=11) <= 1.0
        True
    """
    if isinstance(grid, bool) or not isinstance(grid, int) or grid < 2:
        raise ValueError(f"grid must be an int >= 2 (how many gamma values to try), got {grid!r}")
    scores = _scores(model, data)
    candidates = torch.quantile(_margins(scores, data.classes, data.unseen), torch.linspace(0, 1, grid))
    return max(gzsl_scores(scores, data.y_test, data.classes, data.unseen, g)["harmonic"]
               for g in candidates.tolist())


def _margins(scores: Tensor, classes: Sequence[int], unseen: Sequence[int]) -> Tensor:
    """Per image: best seen-class score minus best unseen-class score ``(N,)``."""
    is_unseen = torch.isin(torch.tensor(list(classes)), torch.tensor(list(unseen)))
    return scores[:, ~is_unseen].max(1).values - scores[:, is_unseen].max(1).values
