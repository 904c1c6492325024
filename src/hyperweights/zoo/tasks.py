"""A family of small classification datasets cut from one labelled set (the zoo's tasks).

:func:`class_subset_tasks` turns a :class:`~hyperweights.data.Split` into every ``k``-class subset
of its classes (or a given list of them), each relabelled ``0..k-1`` in the order of its classes,
with the same number of training and test images per class. The images are not copied per task:
a :class:`TaskSet` keeps the split's arrays once and an index table ``(T, n)`` per part, so batches
of many tasks are gathered in one indexing call.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..data import Split

__all__ = ["TaskSet", "class_subset_tasks"]


@dataclass
class TaskSet:
    """``T`` classification tasks over shared images.

    Attributes:
        x_train, x_test: the images of the source split, ``(N_train, D)`` and ``(N_test, D)``.
        train_index, test_index: ``(T, n)`` and ``(T, m)`` rows of ``x_train`` / ``x_test`` per task.
        y_train, y_test: ``(T, n)`` and ``(T, m)`` labels in ``0..k-1`` (relabelled per task).
        classes: ``(T, k)`` source classes of each task; task ``t``'s label ``j`` is ``classes[t, j]``.
        name: the source dataset's name.

    Example:
        >>> split = Split(torch.randn(60, 3), torch.arange(60) % 3, torch.randn(30, 3), torch.arange(30) % 3)
        >>> tasks = class_subset_tasks(split, classes_per_task=2, train_per_class=5, test_per_class=4)
        >>> len(tasks), tasks.train_batch([0, 2])[0].shape, tasks.ids[:2]
        (3, torch.Size([2, 10, 3]), ['0-1', '0-2'])
    """

    x_train: Tensor
    train_index: Tensor
    y_train: Tensor
    x_test: Tensor
    test_index: Tensor
    y_test: Tensor
    classes: Tensor
    name: str = ""

    def __len__(self) -> int:
        return self.classes.shape[0]

    @property
    def num_classes(self) -> int:
        """``k``: classes per task (the width of a task model's output)."""
        return self.classes.shape[1]

    @property
    def num_features(self) -> int:
        return self.x_train.shape[1]

    @property
    def ids(self) -> list[str]:
        """A readable id per task: its source classes joined by ``-``."""
        return ["-".join(str(c) for c in row) for row in self.classes.tolist()]

    def _tasks(self, tasks) -> Tensor:
        index = torch.as_tensor(tasks, dtype=torch.long).reshape(-1)
        if index.numel() and (int(index.min()) < 0 or int(index.max()) >= len(self)):
            raise IndexError(f"task indices must be in 0..{len(self) - 1}, got "
                             f"{int(index.min())}..{int(index.max())}")
        return index

    def train_batch(self, tasks, rows: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Training images and labels of ``tasks`` (``K`` indices): ``(K, n, D)``, ``(K, n)``; with
        ``rows: (K, b)`` (positions inside each task) only those: ``(K, b, D)``, ``(K, b)``."""
        index = self._tasks(tasks)
        table, labels = self.train_index[index], self.y_train[index]
        if rows is not None:
            table, labels = table.gather(1, rows), labels.gather(1, rows)
        return self.x_train[table], labels

    def test_batch(self, tasks) -> tuple[Tensor, Tensor]:
        """Test images and labels of ``tasks``: ``(K, m, D)``, ``(K, m)``."""
        index = self._tasks(tasks)
        return self.x_test[self.test_index[index]], self.y_test[index]

    def subset(self, tasks) -> TaskSet:
        """The tasks at the given indices, as a new :class:`TaskSet` over the same images."""
        index = self._tasks(tasks)
        return TaskSet(self.x_train, self.train_index[index], self.y_train[index], self.x_test,
                       self.test_index[index], self.y_test[index], self.classes[index], self.name)


def _per_class_rows(y: Tensor, num_classes: int, count: int, generator: torch.Generator, part: str) -> Tensor:
    """``(C, count)``: ``count`` random rows of each class of ``y``."""
    counts = torch.bincount(y, minlength=num_classes)
    if int(counts.min()) < count:
        raise ValueError(f"{part} has {int(counts.min())} images of its rarest class, fewer than the "
                         f"{count} per class asked for; ask for at most that many")
    order = torch.randperm(len(y), generator=generator)
    by_class = order[torch.argsort(y[order], stable=True)]          # shuffled inside each class
    starts = torch.cumsum(counts, 0) - counts
    return by_class[starts[:, None] + torch.arange(count)]


def class_subset_tasks(split: Split, classes_per_task: int = 5, *, train_per_class: int = 100,
                       test_per_class: int = 100, subsets: Sequence[Sequence[int]] | None = None,
                       seed: int = 0) -> TaskSet:
    """Every ``classes_per_task``-class subset of ``split``'s classes as its own task.

    Args:
        split: the source images (``x_*: (N, D)``, ``y_*: (N,)``).
        classes_per_task: ``k``; labels are relabelled ``0..k-1`` in increasing source-class order.
        train_per_class, test_per_class: images per class of each task (the same images of a class
            serve every task containing it).
        subsets: the class subsets to use (default: all ``C(num_classes, k)`` of them, in
            lexicographic order).
        seed: which images are drawn.

    Raises:
        ValueError: ``k`` out of range, a subset of another size or with classes out of range, or
            fewer images per class than asked for.
    """
    num_classes = split.num_classes
    if not (isinstance(classes_per_task, int) and 2 <= classes_per_task <= num_classes):
        raise ValueError(f"classes_per_task must be an integer in 2..{num_classes} (the split's "
                         f"classes), got {classes_per_task!r}")
    if subsets is None:
        subsets = list(itertools.combinations(range(num_classes), classes_per_task))
    classes = torch.as_tensor([sorted(s) for s in subsets], dtype=torch.long)
    if classes.ndim != 2 or classes.shape[1] != classes_per_task or classes.numel() == 0:
        raise ValueError(f"every subset must have {classes_per_task} classes; got {list(subsets)[:3]}...")
    if int(classes.min()) < 0 or int(classes.max()) >= num_classes:
        raise ValueError(f"subset classes must be in 0..{num_classes - 1}")
    generator = torch.Generator().manual_seed(seed)
    train_rows = _per_class_rows(split.y_train, num_classes, train_per_class, generator, "the training split")
    test_rows = _per_class_rows(split.y_test, num_classes, test_per_class, generator, "the test split")
    tasks = len(classes)
    labels = torch.arange(classes_per_task)
    return TaskSet(
        x_train=split.x_train, train_index=train_rows[classes].reshape(tasks, -1),
        y_train=labels.repeat_interleave(train_per_class).expand(tasks, -1).contiguous(),
        x_test=split.x_test, test_index=test_rows[classes].reshape(tasks, -1),
        y_test=labels.repeat_interleave(test_per_class).expand(tasks, -1).contiguous(),
        classes=classes, name=split.name)
