"""A validation protocol: the same tasks, evaluated on held-out *training* images, never the test set.

Model selection (beta, widths, feature scale, EWC's lambda) done on test accuracy overstates the
selected configuration. :func:`validation_protocol` builds the protocol from the training images
only: the last ``fraction`` of the (already shuffled) training rows become the evaluation rows and
the rest stay for training. Permutations and class splits are those of the real protocol (same
``seed``), so a configuration chosen here is then run once on the test set.

Example:
    >>> p = validation_protocol("split", "digits", fraction=0.2)
    >>> p.name, p.data.x_test.shape[0] + p.data.x_train.shape[0]
    ('split_digits_val', 1347)
"""

from __future__ import annotations

from ..data.loaders import Split, load_dataset
from ..data.protocols import Protocol, make_protocol

__all__ = ["validation_protocol"]


def validation_protocol(kind: str, dataset: str, *, fraction: float = 0.1, num_tasks: int | None = None,
                        seed: int = 0, data_dir: str | None = None,
                        train_limit: int | None = None) -> Protocol:
    """Split/Permuted protocol whose "test" rows are the held-out last ``fraction`` of training.

    Args:
        kind, dataset, num_tasks, seed, data_dir: as :func:`~hyperweights.data.protocols.make_protocol`.
        fraction: share of the training images held out for validation, in ``(0, 1)``.
        train_limit: keep only the first ``n`` remaining training images (smoke runs).

    Raises:
        ValueError: ``fraction`` outside ``(0, 1)``.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    kwargs = {"seed": seed, **({"data_dir": data_dir} if dataset == "fashion_mnist" and data_dir else {})}
    full = load_dataset(dataset, **kwargs)
    n_val = max(1, round(len(full.y_train) * fraction))
    keep = len(full.y_train) - n_val
    data = Split(full.x_train[:keep][:train_limit], full.y_train[:keep][:train_limit],
                 full.x_train[keep:], full.y_train[keep:], full.name + "_val")
    p = make_protocol(kind, dataset, num_tasks=num_tasks, seed=seed, data=data)
    p.name += "_val"
    p.config = {**p.config, "validation_fraction": fraction, "train_limit": train_limit}
    return p
