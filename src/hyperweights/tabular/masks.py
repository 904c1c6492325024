"""Fixed random feature-subset masks: the "views" of a HyperTab ensemble."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["feature_masks", "subset_size"]


def subset_size(n_features: int, subsample: float) -> int:
    """Features each mask keeps: ``max(1, int(subsample * n_features))`` (the reference package
    uses ``int(subsample * d)``, which is 0 for one feature at ``subsample=0.5``)."""
    return max(1, min(n_features, int(subsample * n_features)))


def feature_masks(n_features: int, n_masks: int, subsample: float,
                  generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Draw ``K = n_masks`` masks, each keeping ``s`` distinct features chosen uniformly.

    Args:
        n_features: ``d``, the number of input columns.
        n_masks: ``K``.
        subsample: fraction of the features each mask keeps, in ``(0, 1]``.
        generator: a local ``torch.Generator`` (the global RNG is not touched).

    Returns:
        ``(index, mask)``: ``index`` is ``(K, s)`` int64 with each row sorted ascending (the
        column order of the view); ``mask`` is the ``(K, d)`` float32 0/1 matrix, the hypernetwork's
        input.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> index, mask = feature_masks(6, n_masks=4, subsample=0.5, generator=g)
        >>> index.shape, mask.shape, mask.sum(1).tolist()
        (torch.Size([4, 3]), torch.Size([4, 6]), [3.0, 3.0, 3.0, 3.0])
    """
    if n_features < 1 or n_masks < 1:
        raise ValueError(f"need n_features >= 1 and n_masks >= 1, got {n_features}, {n_masks}")
    if not 0.0 < subsample <= 1.0:
        raise ValueError(f"subsample must be in (0, 1], got {subsample!r}")
    s = subset_size(n_features, subsample)
    # argsort of uniform noise = a random permutation per row, all K rows in one call.
    noise = torch.rand(n_masks, n_features, generator=generator, dtype=torch.float32)
    index = noise.argsort(dim=1)[:, :s].sort(dim=1).values
    mask = torch.zeros(n_masks, n_features, dtype=torch.float32)
    mask.scatter_(1, index, 1.0)
    return index, mask
