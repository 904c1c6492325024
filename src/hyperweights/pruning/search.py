"""Choosing widths under a FLOPs budget: MetaPruning's evolutionary search and the baselines.

- :func:`evolutionary_search`: a population of width vectors under the budget; every generation is
  scored in batched calls (a :class:`~hyperweights.pruning.PruningNet` scores ``K`` candidates in
  one ensemble call), the top ``parents`` survive and breed children by mutation and crossover
  (MetaPruning, Liu et al. 2019, Algorithm 1); over-budget children are rejected.
- :func:`uniform_widths`: the largest uniform width multiplier within the budget.
- :func:`l1_prune`: L1-norm filter pruning (Li et al., 2017): from a trained network keep, in each
  layer, the filters of largest L1 norm, and the matching input channels of the next layer.

Example:
    >>> import torch
    >>> from hyperweights.pruning import flops, MAX_WIDTHS
    >>> budget = flops(MAX_WIDTHS) // 2
    >>> widths = uniform_widths(budget)
    >>> flops(widths) <= budget, widths
    (True, (11, 22, 22))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from .cnn import MAX_WIDTHS, MaskedCNN, flops

__all__ = ["SearchResult", "evolutionary_search", "random_widths", "uniform_widths", "l1_prune", "min_widths"]


def min_widths(max_widths: Sequence[int] = MAX_WIDTHS, min_fraction: float = 0.125) -> Tensor:
    """The smallest width of every layer the search and the PruningNet use: ``ceil(fraction * C_l)``."""
    return (torch.tensor(list(max_widths), dtype=torch.float64) * min_fraction).ceil().long().clamp_min(1)


def random_widths(count: int, max_widths: Sequence[int] = MAX_WIDTHS, min_fraction: float = 0.125,
                  generator: torch.Generator | None = None) -> Tensor:
    """``(count, L)`` widths, each uniform over ``min_widths .. C_l`` (MetaPruning's random encodings)."""
    low = min_widths(max_widths, min_fraction)
    high = torch.tensor(list(max_widths))
    return low + (torch.rand(count, len(max_widths), generator=generator) * (high - low + 1)).long().clamp(
        max=high - low)


def uniform_widths(budget: int, max_widths: Sequence[int] = MAX_WIDTHS) -> tuple[int, ...]:
    """The widths ``floor(m * C_l)`` of the largest multiplier ``m`` whose FLOPs fit ``budget``
    (bisection on ``m``; FLOPs grow with it)."""
    full = torch.tensor(list(max_widths), dtype=torch.float64)
    lo, hi = 0.0, 1.0
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if flops((full * mid).floor().clamp_min(1).long()) <= budget else (lo, mid)
    widths = tuple(int(c) for c in (full * lo).floor().clamp_min(1).long())
    if flops(widths) > budget:
        raise ValueError(f"no uniform scaling of {tuple(max_widths)} fits {budget} FLOPs")
    return widths


@dataclass
class SearchResult:
    """The best widths found, their score, the best score of every generation, and how many
    distinct candidates were scored."""

    widths: tuple[int, ...]
    score: float
    history: list[float] = field(default_factory=list)
    evaluated: int = 0


def _within(candidates: Tensor, budget: int) -> Tensor:
    return candidates[flops(candidates) <= budget]


def evolutionary_search(score: Callable[[Tensor], Tensor], budget: int, *, max_widths: Sequence[int] = MAX_WIDTHS,
                        min_fraction: float = 0.125, population: int = 50, generations: int = 20,
                        parents: int = 10, mutation_prob: float = 0.1, seed: int = 0,
                        progress: bool = False) -> SearchResult:
    """MetaPruning's evolutionary search for the best widths within ``budget`` FLOPs.

    Args:
        score: ``(K, L)`` widths -> ``(K,)`` scores (higher is better), batched; called once per
            generation with the candidates not scored before (a deterministic score is assumed).
        budget: the FLOPs bound (multiply–accumulates per image, :func:`flops`).
        population: candidates per generation; half the children come from mutation, half from
            crossover of random parent pairs.
        generations, parents, mutation_prob: as in the paper (each gene of a mutated child is
            resampled with ``mutation_prob``).
    """
    from ..bench.progress import progress as bar

    if not (isinstance(budget, int) and budget >= flops(min_widths(max_widths, min_fraction))):
        raise ValueError(f"budget must be an int of at least the smallest network's "
                         f"{flops(min_widths(max_widths, min_fraction))} FLOPs, got {budget!r}")
    gen = torch.Generator().manual_seed(seed)
    low, high = min_widths(max_widths, min_fraction), torch.tensor(list(max_widths))

    def fill(pool: Tensor, make: Callable[[int], Tensor], count: int) -> Tensor:
        for _ in range(100):                      # rejection sampling of over-budget candidates
            if len(pool) >= count:
                break
            pool = torch.cat([pool, _within(make(4 * count), budget)])
        return pool[:count]

    members = fill(torch.zeros(0, len(max_widths), dtype=torch.long),
                   lambda n: random_widths(n, max_widths, min_fraction, gen), population)
    history, scored = [], {}                      # widths -> score: survivors and clones are not re-scored
    best_widths, best_score = None, float("-inf")
    for _ in bar(range(generations), desc="evolution", enabled=progress):
        keys = [tuple(row) for row in members.tolist()]
        new = [k for k in dict.fromkeys(keys) if k not in scored]
        if new:
            scored.update(zip(new, score(torch.tensor(new)).tolist()))
        scores = torch.tensor([scored[k] for k in keys])
        order = scores.argsort(descending=True)
        if float(scores[order[0]]) > best_score:
            best_score, best_widths = float(scores[order[0]]), tuple(int(c) for c in members[order[0]])
        history.append(best_score)
        top = members[order[:parents]]

        def mutate(n: int) -> Tensor:
            child = top[torch.randint(len(top), (n,), generator=gen)]
            fresh = random_widths(n, max_widths, min_fraction, gen)
            return torch.where(torch.rand(n, len(max_widths), generator=gen) < mutation_prob, fresh, child)

        def crossover(n: int) -> Tensor:
            a = top[torch.randint(len(top), (n,), generator=gen)]
            b = top[torch.randint(len(top), (n,), generator=gen)]
            return torch.where(torch.rand(n, len(max_widths), generator=gen) < 0.5, a, b).clamp(low, high)

        half = (population - parents) // 2
        members = torch.cat([top, fill(top[:0], mutate, half),
                             fill(top[:0], crossover, population - parents - half)])
    return SearchResult(best_widths, best_score, history, len(scored))


@torch.no_grad()
def l1_prune(net: MaskedCNN, widths: Sequence[int]) -> MaskedCNN:
    """Li et al.'s L1-norm filter pruning of a trained ``net`` to ``widths``: the ``c_l`` filters
    of largest ``sum |W|`` per convolution (and their BatchNorm channels) are kept, and the next
    layer (or the classifier) keeps the matching input channels."""
    if not isinstance(net, MaskedCNN):
        raise TypeError(f"l1_prune prunes a MaskedCNN, got {type(net).__name__}")
    widths = [int(c) for c in widths]
    if len(widths) != len(net.widths) or any(not 1 <= c <= m for c, m in zip(widths, net.widths)):
        raise ValueError(f"widths must be {len(net.widths)} channel counts within {net.widths}, got {widths}")
    state, kept_in = {}, None
    for l, c in enumerate(widths):
        weight = getattr(net, f"conv{l}").weight
        if kept_in is not None:
            weight = weight[:, kept_in]
        keep = weight.abs().sum((1, 2, 3)).topk(c).indices.sort().values
        state[f"conv{l}.weight"] = weight[keep]
        for stat in ("weight", "bias", "running_mean", "running_var"):   # the kept filters' BatchNorm
            value = getattr(getattr(net, f"bn{l}"), stat)
            if value is not None:
                state[f"bn{l}.{stat}"] = value[keep]
        kept_in = keep
    state["fc.weight"], state["fc.bias"] = net.fc.weight[:, kept_in], net.fc.bias
    pruned = MaskedCNN(widths, net.config["num_classes"], net.config["in_channels"], net.config["side"],
                       net.config["track_running_stats"])
    pruned.load_state_dict({**pruned.state_dict(), **{k: v.clone() for k, v in state.items()}})
    return pruned.to(net.fc.weight.device)
