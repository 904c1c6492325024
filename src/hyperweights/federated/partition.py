"""Splitting a dataset over federated clients: HyperFL's non-IID "s" scheme, pFedHN's classes per
client, and IID.

Every scheme first fixes a count matrix ``counts: (C, K)`` (samples of class ``k`` at client ``c``)
and then allocates actual rows in one vectorised step (:func:`allocate`): each class's rows are
shuffled once and handed out in consecutive runs, so training rows never repeat across clients
(an error says so when a class has too few rows); test rows follow the same class mix and may
repeat across clients when the test set is smaller than the clients' total (it is, for 100
clients on Fashion-MNIST's 10,000 test images).

Every client gets the same number of samples, so the clients' data stacks into ``(C, N, D)``
tensors and a round trains all clients in one batched call.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..data import Split

__all__ = ["FederatedData", "partition", "class_counts", "allocate", "SCHEMES"]

SCHEMES = ("s", "classes", "iid")


@dataclass
class FederatedData:
    """Per-client data, stacked: ``x_train: (C, N, D)``, ``y_train: (C, N)``, ``x_test: (C, M, D)``,
    ``y_test: (C, M)``; ``counts: (C, K)`` the training class counts."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    counts: Tensor
    num_classes: int
    scheme: str = ""
    #: ``(C, N)`` the rows of the source training set each client holds (None if not known)
    train_index: Tensor | None = None

    @property
    def num_clients(self) -> int:
        return self.x_train.shape[0]

    @property
    def samples_per_client(self) -> int:
        return self.x_train.shape[1]

    def clients(self, ids: Tensor | list[int]) -> FederatedData:
        """The rows of clients ``ids`` (in that order)."""
        ids = torch.as_tensor(ids, dtype=torch.long)
        return FederatedData(self.x_train[ids], self.y_train[ids], self.x_test[ids], self.y_test[ids],
                             self.counts[ids], self.num_classes, self.scheme,
                             None if self.train_index is None else self.train_index[ids])


def _spread(total: int, parts: int, num_clients: int) -> Tensor:
    """``(C, parts)`` counts summing to ``total`` per row, the remainder rotated over clients."""
    base = torch.full((num_clients, parts), total // parts, dtype=torch.long)
    extra = (torch.arange(parts)[None, :] - torch.arange(num_clients)[:, None]) % parts < total % parts
    return base + extra.long()


def class_counts(scheme: str, num_clients: int, num_classes: int, samples: int, *, s: int = 20,
                 dominant: int = 3, classes_per_client: int = 2, seed: int = 0) -> Tensor:
    """The ``(C, K)`` class counts of a scheme, each row summing to ``samples``.

    - ``"s"`` (HyperFL / FedPAC): ``s`` % of a client's samples spread evenly over all classes,
      the rest over a dominant group of ``dominant`` consecutive classes starting at a class drawn
      per client (balanced: the starts cycle through a seeded permutation of the classes).
    - ``"classes"`` (pFedHN): ``classes_per_client`` classes per client, equal counts, the classes
      taken cyclically from a seeded permutation so every class serves as many clients.
    - ``"iid"``: every class equally.

    Example:
        >>> class_counts("s", 2, 10, 600, seed=0).sum(1).tolist()
        [600, 600]
        >>> (class_counts("classes", 4, 10, 100) > 0).sum(1).tolist()
        [2, 2, 2, 2]
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown partition scheme {scheme!r}; choose one of {SCHEMES}")
    for name, value in (("num_clients", num_clients), ("num_classes", num_classes), ("samples", samples)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    perm = torch.randperm(num_classes, generator=torch.Generator().manual_seed(seed))
    clients = torch.arange(num_clients)
    if scheme == "iid":
        return _spread(samples, num_classes, num_clients)
    if scheme == "s":
        if not 0 <= s <= 100 or not 1 <= dominant <= num_classes:
            raise ValueError(f"the 's' scheme needs 0 <= s <= 100 and 1 <= dominant <= num_classes "
                             f"({num_classes}); got s={s}, dominant={dominant}")
        iid = round(samples * s / 100)
        counts = _spread(iid, num_classes, num_clients)
        group = (perm[clients % num_classes][:, None] + torch.arange(dominant)[None, :]) % num_classes
        counts.scatter_add_(1, group, _spread(samples - iid, dominant, num_clients))
        return counts
    if not 1 <= classes_per_client <= num_classes:
        raise ValueError(f"classes_per_client must be in 1..{num_classes}, got {classes_per_client}")
    slots = (clients[:, None] * classes_per_client + torch.arange(classes_per_client)[None, :]) % num_classes
    counts = torch.zeros(num_clients, num_classes, dtype=torch.long)
    counts.scatter_add_(1, perm[slots], _spread(samples, classes_per_client, num_clients))
    return counts


def allocate(labels: Tensor, counts: Tensor, generator: torch.Generator, *, disjoint: bool) -> Tensor:
    """Row indices ``(C, N)`` of ``labels`` realising ``counts: (C, K)`` (every row sums to ``N``).

    Each class's rows are shuffled once; client ``c`` takes the next ``counts[c, k]`` of class
    ``k``. With ``disjoint`` a class that runs out is an error; otherwise the run wraps around
    (rows repeat across clients, never within one client unless a client asks for more rows of a
    class than exist).
    """
    num_classes = counts.shape[1]
    available = torch.bincount(labels, minlength=num_classes)[:num_classes]
    demand = counts.sum(0)
    if disjoint and bool((demand > available).any()):
        short = [(k, int(demand[k]), int(available[k])) for k in range(num_classes) if demand[k] > available[k]]
        raise ValueError(f"not enough distinct rows per class for this split: (class, needed, available) "
                         f"{short}; use fewer clients or fewer samples per client")
    if bool((available[demand > 0] == 0).any()):
        raise ValueError(f"a class the split needs has no rows at all (rows per class: {available.tolist()})")
    noise = torch.rand(labels.shape[0], generator=generator)
    by_class = torch.argsort(labels.double() * 2 + noise.double())   # class-major, shuffled within class
    starts = torch.cumsum(available, 0) - available                   # (K,)
    offsets = torch.cumsum(counts, 0) - counts                        # (C, K): run start within class
    flat = counts.flatten()
    run = torch.repeat_interleave(torch.arange(flat.numel()), flat)   # client-major runs
    within = torch.arange(run.numel()) - (torch.cumsum(flat, 0) - flat)[run]
    k = run % num_classes
    position = (offsets.flatten()[run] + within) % available[k].clamp_min(1)
    return by_class[starts[k] + position].reshape(counts.shape[0], -1)


def partition(split: Split, scheme: str, num_clients: int, *, train_per_client: int = 600,
              test_per_client: int = 300, s: int = 20, dominant: int = 3, classes_per_client: int = 2,
              seed: int = 0) -> FederatedData:
    """Split ``split`` over ``num_clients`` clients with one of :data:`SCHEMES` (see
    :func:`class_counts`); each client's test rows follow its training class mix.

    Example:
        >>> import torch
        >>> from hyperweights.data import Split
        >>> x, y = torch.randn(400, 5), torch.arange(400) % 10
        >>> fed = partition(Split(x, y, x[:100], y[:100]), "classes", 4, train_per_client=40,
        ...                 test_per_client=10)
        >>> fed.x_train.shape, fed.y_test.shape
        (torch.Size([4, 40, 5]), torch.Size([4, 10]))
    """
    if not isinstance(split, Split):
        raise TypeError(f"partition takes a hyperweights.data.Split, got {type(split).__name__}")
    num_classes = split.num_classes
    kw = dict(s=s, dominant=dominant, classes_per_client=classes_per_client, seed=seed)
    counts = class_counts(scheme, num_clients, num_classes, train_per_client, **kw)
    test_counts = class_counts(scheme, num_clients, num_classes, test_per_client, **kw)
    gen = torch.Generator().manual_seed(seed + 1)
    train = allocate(split.y_train, counts, gen, disjoint=True)
    test = allocate(split.y_test, test_counts, gen, disjoint=False)
    return FederatedData(split.x_train[train], split.y_train[train], split.x_test[test],
                         split.y_test[test], counts, num_classes, scheme, train)
