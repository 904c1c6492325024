"""The prediction API shared by every method: members in one call, then uncertainty scores."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..io import ConfigCheckpoint
from ..model import IGNORED_BY_DDP
from .checks import check_features, check_labels, check_member_logits

__all__ = ["Prediction", "Predictive", "uncertainty_scores", "MAX_SAMPLES"]

#: upper bound on members per call; above it the (K, B, C) outputs and the K generated weight sets
#: rarely fit in memory, so asking for more is almost always a typo.
MAX_SAMPLES = 4096


@dataclass
class Prediction:
    """What :meth:`Predictive.predict` returns (``K`` members, ``B`` inputs, ``C`` classes).

    Attributes:
        probs: mean predictive probabilities ``(B, C)``.
        member_probs: per-member probabilities ``(K, B, C)``.
        member_logits: per-member logits ``(K, B, C)``.
        entropy: predictive entropy ``H[mean_k p_k]`` in nats, ``(B,)``.
        mutual_information: ``H[mean_k p_k] - mean_k H[p_k]`` (epistemic part), ``(B,)``.
        variance: member variance of the probabilities, averaged over classes, ``(B,)``.
    """

    probs: Tensor
    member_probs: Tensor
    member_logits: Tensor
    entropy: Tensor
    mutual_information: Tensor
    variance: Tensor


def _entropy(p: Tensor) -> Tensor:
    return -(p * torch.log(p.clamp_min(1e-12))).sum(-1)


def uncertainty_scores(member_logits: Tensor) -> Prediction:
    """Scores from per-member logits ``(K, B, C)``.

    Example:
        >>> logits = torch.tensor([[[4.0, 0.0]], [[0.0, 4.0]]])   # two members that disagree
        >>> p = uncertainty_scores(logits)
        >>> p.probs
        tensor([[0.5000, 0.5000]])
        >>> bool(p.mutual_information[0] > 0.5)
        True
    """
    check_member_logits(member_logits)
    member_probs = member_logits.softmax(-1)
    probs = member_probs.mean(0)
    entropy = _entropy(probs)
    expected = _entropy(member_probs).mean(0)
    variance = member_probs.var(0, unbiased=False).mean(-1)
    return Prediction(probs, member_probs, member_logits, entropy, entropy - expected, variance)


class Predictive(ConfigCheckpoint, nn.Module):
    """Base of every method here: :meth:`members` gives ``(K, B, C)`` logits in one batched call.

    Subclasses set ``in_features`` (the input width they check), ``num_classes`` (the outputs,
    which training labels must index), ``fixed_members`` (``None`` for
    models that sample any number of members, ``n`` for a fixed ensemble of ``n``) and implement
    ``_members(x, samples, generator)``.
    """

    in_features: int
    num_classes: int
    fixed_members: int | None = None
    default_samples: int = 32
    # DistributedDataParallel(model) leaves a hypernetwork's generated target parameters out of its
    # gradient reduction (they are never used; see hyperweights.model.IGNORED_BY_DDP)
    _ddp_params_and_buffers_to_ignore = IGNORED_BY_DDP

    def _members(self, x: Tensor, samples: int, generator: torch.Generator | None) -> Tensor:
        raise NotImplementedError  # pragma: no cover - abstract

    def checkpoint_config(self) -> dict:
        """The constructor arguments that rebuild the model (JSON), for :func:`hyperweights.save`."""
        raise NotImplementedError  # pragma: no cover - abstract

    def trainable_parameters(self) -> list[nn.Parameter]:
        """What training updates (and what a parameter budget counts)."""
        return list(self.parameters())

    # ------------------------------------------------------------------ checkpoints (hw.save / hw.load)
    def checkpoint_state(self) -> tuple[dict[str, Tensor], dict]:
        """``(tensors, config)``: the state dict and :meth:`checkpoint_config`."""
        return {k: v.detach() for k, v in self.state_dict().items()}, self.checkpoint_config()


    def check_input(self, x) -> Tensor:
        """Raise a clear error unless ``x`` is a finite float tensor ``(B, in_features)`` with the
        model's dtype and device."""
        return check_features(x, self.in_features, self.reference_parameter())

    def check_data(self, x, y) -> tuple[Tensor, Tensor]:
        """Training data: ``x`` as :meth:`check_input` requires, ``y`` integer classes ``(B,)`` in
        ``0..num_classes - 1``."""
        self.check_input(x)
        return x, check_labels(y, len(x), self.num_classes)

    def reference_parameter(self) -> Tensor:
        """A parameter of the model: the dtype and device its inputs must have."""
        return next(self.parameters())

    def check_samples(self, samples) -> int:
        """Resolve ``samples`` (None -> the default) and raise a clear error if it is unusable."""
        if samples is None:
            return self.fixed_members or self.default_samples
        if not isinstance(samples, int) or isinstance(samples, bool):
            raise TypeError(f"samples must be an int, got {type(samples).__name__}")
        if samples < 1:
            raise ValueError(f"samples must be >= 1 (the number of ensemble members), got {samples}")
        if samples > MAX_SAMPLES:
            raise ValueError(
                f"samples={samples} exceeds the limit of {MAX_SAMPLES} members per call (the (K, B, C) "
                "outputs and K weight sets would not fit in memory); call predict several times with "
                "different seeds and average, or raise hyperweights.uncertainty.predict.MAX_SAMPLES"
            )
        if self.fixed_members is not None and samples > self.fixed_members:
            raise ValueError(
                f"{type(self).__name__} has {self.fixed_members} fixed member(s); got samples={samples}. "
                f"Use samples <= {self.fixed_members} (or None for all of them)."
            )
        return samples

    def forward(self, x: Tensor, samples: int | None = None, generator: torch.Generator | None = None) -> Tensor:
        """``model(x, samples)``: :meth:`members` (the baselines' ``forward`` is their training call)."""
        return self.members(x, samples, generator)

    def members(self, x: Tensor, samples: int | None = None, generator: torch.Generator | None = None) -> Tensor:
        """Per-member logits ``(K, B, C)`` for ``x: (B, in_features)``, all members in one call."""
        return self._members(self.check_input(x), self.check_samples(samples), generator)

    @torch.no_grad()
    def predict(self, x: Tensor, samples: int | None = None, seed: int | None = None) -> Prediction:
        """Mean probabilities, per-member outputs and uncertainty scores for ``x: (B, in_features)``.

        Args:
            x: inputs ``(B, in_features)``.
            samples: members ``K`` (None: all members of a fixed ensemble, else ``default_samples``).
            seed: seeds the member draw (same seed -> same members); None uses the global RNG.
        """
        was_training = self.training
        self.eval()
        try:
            generator = None if seed is None else torch.Generator().manual_seed(int(seed))
            return uncertainty_scores(self.members(x, samples, generator))
        finally:
            self.train(was_training)
