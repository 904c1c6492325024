"""Data-conditioned input: any encoder of the data (per sample) or of a support set."""

from __future__ import annotations

from torch import Tensor, nn

from .._checks import check_input, check_int, translate_errors
from .base import Conditioner

__all__ = ["DataCondition"]


def _infer_out_dim(encoder: nn.Module) -> int | None:
    last = None
    for module in encoder.modules():
        if hasattr(module, "out_features"):
            last = module.out_features
    return last


class DataCondition(Conditioner):
    """Wraps an encoder that maps data to condition vectors.

    Args:
        encoder: module mapping ``(B, ...)`` to ``(B, dim)``.
        dim: the encoder's output width; inferred from its last ``out_features`` when omitted.
        pool: ``None`` gives one condition per sample (``W = B``, dynamic per-sample weights);
            ``"mean"`` pools a support set ``(N, ...)`` into a single condition (``W = 1``).

    The encoder is arbitrary code, so a checkpoint cannot rebuild it: pass the same
    ``DataCondition`` to :func:`hyperweights.load` as ``condition=``.

    Example:
        >>> import torch
        >>> cond = DataCondition(nn.Linear(4, 6))
        >>> cond(torch.randn(10, 4)).shape
        torch.Size([10, 6])
        >>> DataCondition(nn.Linear(4, 6), pool="mean")(torch.randn(10, 4)).shape
        torch.Size([1, 6])
    """

    serializable = False

    def __init__(self, encoder: nn.Module, dim: int | None = None, pool: str | None = None):
        super().__init__()
        if not isinstance(encoder, nn.Module):
            raise TypeError(f"DataCondition needs an nn.Module encoder mapping (B, ...) to (B, dim), "
                            f"got {type(encoder).__name__}")
        if dim is not None:
            check_int(dim, "dim", "DataCondition")
        dim = dim if dim is not None else _infer_out_dim(encoder)
        if dim is None:
            raise ValueError(
                "could not infer the encoder's output width (no submodule has `out_features`); "
                "pass DataCondition(encoder, dim=...)"
            )
        if pool not in (None, "mean"):
            raise ValueError(f"pool must be None (per sample) or 'mean' (support set), got {pool!r}")
        self._config = {"dim": dim, "pool": pool}
        self.encoder = encoder
        self.out_dim = dim
        self.pool = pool

    def forward(self, data: Tensor) -> Tensor:
        if not isinstance(data, Tensor) or data.ndim < 1:
            raise TypeError(f"DataCondition expects a batched tensor (B, ...), got {type(data).__name__}; "
                            "convert it with torch.as_tensor(data, dtype=torch.float32)")
        weight = next(self.encoder.parameters(), None)
        check_input(data, "DataCondition's data", like=weight, owner=self.encoder)
        code = translate_errors(lambda: self.encoder(data), self.encoder, "DataCondition's encoder", (data,))
        if code.ndim != 2 or code.shape[1] != self.out_dim:
            raise ValueError(
                f"the encoder must return (B, {self.out_dim}); it returned {tuple(code.shape)} for "
                f"input {tuple(data.shape)}"
            )
        return code.mean(0, keepdim=True) if self.pool == "mean" else code

    def describe(self) -> str:
        mode = "support-set mean" if self.pool else "per sample"
        return f"DataCondition({type(self.encoder).__name__} -> {self.out_dim}, {mode})"
