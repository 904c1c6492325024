"""Model zoos: many small networks trained over a family of datasets, stored and read as data.

- :func:`class_subset_tasks` / :class:`TaskSet`: a family of small classification tasks (e.g.
  every 5-class subset of Fashion-MNIST, relabelled ``0..4``).
- :func:`train_zoo`: train ``K`` members of one architecture, each on its own task, in one
  batched call (the core's per-sample weight sets); :func:`train_one` is the one-at-a-time
  reference; :func:`member_accuracy` scores members on their own tasks in one call.
- :func:`save_zoo` / :class:`Zoo`: safetensors shards + a JSON manifest (architecture
  fingerprint, dataset, seed, metrics), loaded lazily.
- :class:`TokenLayout`, :func:`spec_table`, :func:`pad_vectors`, :func:`pad_tokens`: weights as
  model-wise vectors or layer-wise tokens, by the core's parameter table, with padding.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from hyperweights.data import Split
    >>> from hyperweights.zoo import ZooConfig, class_subset_tasks, member_accuracy, train_zoo
    >>> split = Split(torch.randn(90, 4), torch.arange(90) % 3, torch.randn(30, 4), torch.arange(30) % 3)
    >>> tasks = class_subset_tasks(split, 2, train_per_class=10, test_per_class=5)
    >>> weights, _ = train_zoo(nn.Linear(4, 2), tasks, [0, 1, 2], [0, 1, 2], ZooConfig(steps=3, progress=False))
    >>> member_accuracy(nn.Linear(4, 2), weights, *tasks.test_batch([0, 1, 2])).shape
    torch.Size([3])
"""

from .store import Zoo as Zoo
from .store import save_zoo as save_zoo
from .tasks import TaskSet as TaskSet
from .tasks import class_subset_tasks as class_subset_tasks
from .train import ZooConfig as ZooConfig
from .train import accuracy_after_steps as accuracy_after_steps
from .train import batch_schedule as batch_schedule
from .train import init_members as init_members
from .train import member_accuracy as member_accuracy
from .train import train_one as train_one
from .train import train_zoo as train_zoo
from .vectorize import TokenLayout as TokenLayout
from .vectorize import pad_tokens as pad_tokens
from .vectorize import pad_vectors as pad_vectors
from .vectorize import spec_table as spec_table

__all__ = ["TaskSet", "TokenLayout", "Zoo", "ZooConfig", "accuracy_after_steps", "batch_schedule",
           "class_subset_tasks", "init_members", "member_accuracy", "pad_tokens", "pad_vectors", "save_zoo",
           "spec_table", "train_one", "train_zoo"]
