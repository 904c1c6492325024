"""Interval bound propagation (IBP) for HyperInterval: through the hypernetwork and the target.

- :func:`interval_flat`: an interval of conditions ``[centre - radius, centre + radius]`` goes
  through an MLP-trunk hypernetwork in centre/radius form (``mu' = W mu + b``, ``r' = |W| r``;
  a monotone activation maps the bounds) and comes out as lower / middle / upper weights.
- :func:`interval_target_forward`: those weight intervals go through the target. ``nn.Sequential``
  targets of ``Linear`` layers and monotone activations are propagated exactly layer by layer
  (``W+ / W-`` split when the inputs are non-negative, midpoint-radius arithmetic otherwise);
  any other target falls back to running it with the three weight sets (one ensemble call) and
  taking the elementwise min / max, as the paper does for convolutional targets (not a sound
  bound).

References:
    Krukowski, Bielawski, Zielinski, Dubinski, Spurek, Tabor. HyperInterval: Hypernetwork approach
    to training weight interval regions in continual learning. https://arxiv.org/abs/2405.15444
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

import hyperweights as hw
from hyperweights.heads import ChunkedHead, FullHead, PerLayerHead
from hyperweights.trunks import MLP

__all__ = ["interval_flat", "interval_target_forward", "worst_case_logits", "interval_intersection"]

_MONOTONE = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.Tanh, nn.Sigmoid, nn.Identity)


def _linear(layer: nn.Linear, mu: Tensor, r: Tensor) -> tuple[Tensor, Tensor]:
    return layer(mu), r @ layer.weight.abs().T


def _act(act: nn.Module, mu: Tensor, r: Tensor) -> tuple[Tensor, Tensor]:
    if not isinstance(act, _MONOTONE):
        raise TypeError(f"IBP needs a monotone activation (relu, leaky_relu, elu, tanh, sigmoid), got "
                        f"{type(act).__name__}")
    lo, up = act(mu - r), act(mu + r)
    return (up + lo) / 2, (up - lo) / 2


def _head_layout(head, z: Tensor) -> Tensor:
    """The head's reshaping of its linear output ``(W, N, width) -> (W, P)`` (a linear map)."""
    if isinstance(head, FullHead):
        return z[:, 0]
    if isinstance(head, ChunkedHead):
        return z.reshape(z.shape[0], -1)[:, : head.specs.total]
    if isinstance(head, PerLayerHead):
        return z.reshape(z.shape[0], -1).index_select(1, head.index)
    raise TypeError(f"IBP supports FullHead, ChunkedHead and PerLayerHead, got {type(head).__name__}")


def interval_flat(hnet: hw.HyperNetwork, centre: Tensor, radius: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Lower, middle and upper generated weights, each ``(W, P)``, for conditions in a box.

    Args:
        hnet: a hypernetwork with an :class:`~hyperweights.MLP` trunk (monotone activation), a
            Full/Chunked/PerLayer head and no parametrization.
        centre: ``(W, d_c)`` box centres in the trunk's input space (the condition code).
        radius: ``(W, d_c)`` non-negative half-widths.

    Example:
        >>> torch.manual_seed(0) and None
        >>> hnet = hw.HyperNetwork(nn.Linear(3, 2), condition=hw.TaskEmbedding(2, 4))
        >>> lo, mid, up = interval_flat(hnet, torch.randn(1, 4), torch.full((1, 4), 0.1))
        >>> bool((lo <= mid).all() and (mid <= up).all()), mid.shape
        (True, torch.Size([1, 8]))
    """
    trunk, head = hnet.trunk, hnet.head
    if not isinstance(trunk, MLP):
        raise TypeError(f"IBP through the hypernetwork needs an MLP trunk, got {type(trunk).__name__}")
    if hnet.parametrization is not None:
        raise TypeError("IBP does not support a parametrization (MIP); build the hypernetwork without one")
    tokens = head.tokens
    if not trunk.hidden:
        mu = hw.trunks.base.join_tokens(centre, tokens)
        zeros = None if tokens is None else torch.zeros_like(tokens)
        r = hw.trunks.base.join_tokens(radius, zeros)
    else:
        mu, r = _linear(trunk.first_cond, centre, radius)
        mu, r = mu.unsqueeze(1), r.unsqueeze(1)
        if tokens is not None and trunk.first_token is not None:
            mu = mu + trunk.first_token(tokens).unsqueeze(0)        # tokens are exact: no radius
        mu, r = _act(trunk.act, mu, r)
        for layer in trunk.rest:
            mu, r = _act(trunk.act, *_linear(layer, mu, r))
    scale = hnet.feature_scale                       # the hypernetwork scales features before the head
    mu, r = _linear(head.out, mu * scale, r * scale)
    mu, r = _head_layout(head, mu), _head_layout(head, r)
    return mu - r, mu, mu + r


def _interval_linear(x_lo, x_mid, x_up, w_lo, w_mid, w_up, b_lo, b_mid, b_up):
    mid = x_mid @ w_mid.T + b_mid
    if bool((x_lo >= 0).all()):
        # exact for non-negative inputs: the minimum of w*x takes w_lo, and x_lo where w_lo >= 0
        lo = x_lo @ w_lo.clamp(min=0).T + x_up @ w_lo.clamp(max=0).T + b_lo
        up = x_up @ w_up.clamp(min=0).T + x_lo @ w_up.clamp(max=0).T + b_up
        return lo, mid, up
    # midpoint-radius arithmetic (sound for inputs of any sign)
    xc, xr = (x_up + x_lo) / 2, (x_up - x_lo) / 2
    wc, wr = (w_up + w_lo) / 2, (w_up - w_lo) / 2
    yc = xc @ wc.T + (b_up + b_lo) / 2
    yr = xc.abs() @ wr.T + xr @ wc.abs().T + xr @ wr.T + (b_up - b_lo) / 2
    return yc - yr, mid, yc + yr


def _exact_sequential(target: nn.Module) -> bool:
    return isinstance(target, nn.Sequential) and all(
        isinstance(m, (nn.Linear, nn.Flatten, *_MONOTONE)) for m in target)


def interval_target_forward(target: nn.Module, lo: dict[str, Tensor], mid: dict[str, Tensor],
                            up: dict[str, Tensor], x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Output bounds of ``target`` for weights anywhere between ``lo`` and ``up``.

    Args:
        target: the target network (never modified).
        lo, mid, up: ``{name: (1, *shape)}`` generated weights (one weight set each).
        x: ``(B, D)`` inputs (exact).

    Returns:
        ``(lower, middle, upper)`` outputs, each ``(B, O)``.

    Example:
        >>> net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
        >>> w = {k: v.detach()[None] for k, v in net.named_parameters()}
        >>> lo, mid, up = interval_target_forward(net, w, w, w, torch.randn(5, 3))
        >>> torch.allclose(lo, mid) and torch.allclose(up, mid)      # a point interval
        True
    """
    if not _exact_sequential(target):
        stacked = {n: torch.cat([lo[n], mid[n], up[n]]) for n in mid}
        out = hw.ensemble_forward(target, stacked, x)             # (3, B, O) in one call
        return out.min(0).values, out[1], out.max(0).values
    x_lo = x_mid = x_up = x
    for idx, module in enumerate(target):
        if isinstance(module, nn.Linear):
            names = [f"{idx}.weight", f"{idx}.bias"]
            own = dict(module.named_parameters())
            def pick(d, n, attr):
                return d[n][0] if n in d else own.get(attr)
            w = [pick(d, names[0], "weight") for d in (lo, mid, up)]
            b = [pick(d, names[1], "bias") for d in (lo, mid, up)]
            if b[0] is None:
                b = [torch.zeros(module.out_features)] * 3
            x_lo, x_mid, x_up = _interval_linear(x_lo, x_mid, x_up, *w, *b)
        else:      # monotone: bounds map to bounds
            x_lo, x_mid, x_up = module(x_lo), module(x_mid), module(x_up)
    return x_lo, x_mid, x_up


def worst_case_logits(lower: Tensor, upper: Tensor, y: Tensor) -> Tensor:
    """The adversarial logits inside the bounds: lower for the true class, upper for the rest.

    Example:
        >>> worst_case_logits(torch.zeros(1, 3), torch.ones(1, 3), torch.tensor([1]))
        tensor([[1., 0., 1.]])
    """
    true = torch.nn.functional.one_hot(y, lower.shape[-1]).bool()
    return torch.where(true, lower, upper)


def interval_intersection(lower: Tensor, upper: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Coordinate-wise intersection of ``T`` boxes ``(T, d)``: ``lo* = max lo``, ``up* = min up``;
    where it is empty both collapse to their midpoint. Returns ``(lo*, up*, centre)``, each ``(d,)``.

    Example:
        >>> lo, up, c = interval_intersection(torch.tensor([[0.0, 0.0], [1.0, 3.0]]),
        ...                                   torch.tensor([[2.0, 1.0], [3.0, 4.0]]))
        >>> lo.tolist(), up.tolist(), c.tolist()
        ([1.0, 2.0], [2.0, 2.0], [1.5, 2.0])
    """
    lo, up = lower.max(0).values, upper.min(0).values
    empty = lo > up
    middle = (lo + up) / 2
    lo, up = torch.where(empty, middle, lo), torch.where(empty, middle, up)
    return lo, up, (lo + up) / 2
