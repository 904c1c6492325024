"""Generated weights for ``nn.RNN``, ``nn.GRU`` and ``nn.LSTM``: a batched time-step recurrence.

Why: the fused recurrent kernels (``_VF.lstm`` …) take one weight set, so ``torch.func.vmap``
cannot batch them over per-sample or per-member weights. This module computes the same recurrence
with one batched matmul per time step over *all* weight sets (``S`` of them) at once:

- the input projection of every time step is one batched matmul before the time loop;
- each step is one ``baddbmm`` of the ``(S, N, H)`` hidden states with the ``(S, H, G)`` recurrent
  weights, plus the element-wise gate math.

Every option that changes the math is supported: ``num_layers``, ``bidirectional``,
``batch_first``, ``bias``, LSTM ``proj_size``, inter-layer ``dropout`` (training mode, explicit
paths only), initial states ``hx``, unbatched inputs. A ``PackedSequence`` is refused with a clear
error (pad the batch instead). The results equal the fused kernel run one weight set at a time, in
values and gradients (``tests/test_targets_recurrent.py``).

Two ways in, both used by :mod:`hyperweights.targets.functional`:

- the target *is* a recurrent module: :func:`recurrent_forward` (per sample) and
  :func:`recurrent_ensemble` (``K`` sets, shared inputs) run the explicit batched recurrence;
- the recurrent module is *inside* a larger target, run under ``vmap``: :func:`vmappable_recurrent`
  temporarily routes those modules' ``forward`` through the same recurrence written with ordinary
  ops, which ``vmap`` batches into the same batched matmuls.
"""

from __future__ import annotations

import contextlib
import types

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

__all__ = ["recurrent_forward", "recurrent_ensemble", "vmappable_recurrent", "run_recurrence"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _check_input(module: nn.RNNBase, x) -> None:
    if isinstance(x, PackedSequence):
        raise TypeError(
            f"generated weights for {type(module).__name__} do not take a PackedSequence; pass the "
            "padded batch (torch.nn.utils.rnn.pad_packed_sequence) and mask the padded steps"
        )
    if not isinstance(x, Tensor) or x.ndim not in (2, 3):
        raise ValueError(
            f"{type(module).__name__} expects an input of shape (T, D) or (B, T, D) / (T, B, D); got "
            f"{type(x).__name__} {tuple(x.shape) if isinstance(x, Tensor) else ''}"
        )
    if x.shape[-1] != module.input_size:
        raise ValueError(f"{type(module).__name__} was built for input_size={module.input_size}, "
                         f"the input's last dimension is {x.shape[-1]}")


def _layer(x: Tensor, w: dict[str, Tensor], mode: str, h: Tensor, c: Tensor | None,
           reverse: bool) -> tuple[Tensor, Tensor, Tensor | None]:
    """One layer, one direction. ``x: (S, N, T, D)``, weights ``(S, ...)``, ``h: (S, N, Hp)``."""
    steps = x.shape[2]
    xp = torch.matmul(x, w["ih"].transpose(-1, -2).unsqueeze(1))           # (S, N, T, G)
    if "b_ih" in w:
        xp = xp + w["b_ih"][:, None, None, :]
    w_hh = w["hh"].transpose(-1, -2)                                       # (S, Hp, G)
    b_hh = w["b_hh"][:, None, :] if "b_hh" in w else None
    outputs: list[Tensor] = [None] * steps                                 # type: ignore[list-item]
    for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
        gh = torch.bmm(h, w_hh) if b_hh is None else torch.baddbmm(b_hh, h, w_hh)
        xt = xp[:, :, t]
        if mode == "LSTM":
            i, f, g, o = (xt + gh).chunk(4, -1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            if "hr" in w:
                h = torch.bmm(h, w["hr"].transpose(-1, -2))
        elif mode == "GRU":
            xr, xz, xn = xt.chunk(3, -1)
            hr, hz, hn = gh.chunk(3, -1)
            r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
            h = (1 - z) * torch.tanh(xn + r * hn) + z * h
        else:
            h = torch.tanh(xt + gh) if mode == "RNN_TANH" else torch.relu(xt + gh)
        outputs[t] = h
    return torch.stack(outputs, 2), h, c


def run_recurrence(module: nn.RNNBase, weights: dict[str, Tensor], x: Tensor,
                   h0: Tensor | None = None, c0: Tensor | None = None, *, training: bool = False):
    """The recurrence of ``module`` for ``S`` weight sets at once.

    Args:
        module: the ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` whose options define the math (its own
            parameters are not read).
        weights: ``{parameter name: (S, *shape)}`` for every parameter of ``module``.
        x: ``(S or 1, N, T, D)`` batch-first inputs (``1``: shared by every set).
        h0, c0: ``(L * dirs, S or 1, N, Hp / H)`` initial states (``None``: zeros).
        training: apply the inter-layer dropout (explicit calls only: ``vmap`` refuses randomness).

    Returns:
        ``output (S, N, T, dirs * Hp)``, ``h_n (L * dirs, S, N, Hp)`` and, for an LSTM,
        ``c_n (L * dirs, S, N, H)`` (else ``None``).
    """
    mode = module.mode
    dirs = 2 if module.bidirectional else 1
    sets = next(iter(weights.values())).shape[0]
    n = x.shape[1]
    hidden, out_size = module.hidden_size, module.proj_size or module.hidden_size
    zeros = x.new_zeros(())
    h_n, c_n = [], []
    layer_in = x.expand(sets, *x.shape[1:])
    for layer in range(module.num_layers):
        outs = []
        for d in range(dirs):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            w = {"ih": weights[f"weight_ih{sfx}"], "hh": weights[f"weight_hh{sfx}"]}
            if module.bias:
                w["b_ih"], w["b_hh"] = weights[f"bias_ih{sfx}"], weights[f"bias_hh{sfx}"]
            if module.proj_size:
                w["hr"] = weights[f"weight_hr{sfx}"]
            k = layer * dirs + d
            h = (h0[k] if h0 is not None else zeros).expand(sets, n, out_size)
            c = (c0[k] if c0 is not None else zeros).expand(sets, n, hidden) if mode == "LSTM" else None
            out, h, c = _layer(layer_in, w, mode, h, c, reverse=bool(d))
            outs.append(out)
            h_n.append(h)
            c_n.append(c)
        layer_in = torch.cat(outs, -1) if dirs == 2 else outs[0]
        if training and module.dropout and layer < module.num_layers - 1:
            layer_in = F.dropout(layer_in, module.dropout, training=True)
    return layer_in, torch.stack(h_n), (torch.stack(c_n) if mode == "LSTM" else None)


def _split_hx(module: nn.RNNBase, hx):
    if hx is None:
        return None, None
    if module.mode == "LSTM":
        if not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise ValueError("an LSTM's hx is a pair (h_0, c_0)")
        return hx[0], hx[1]
    return hx, None


def _result(module, output, h_n, c_n):
    return output, ((h_n, c_n) if module.mode == "LSTM" else h_n)


def recurrent_forward(module: nn.RNNBase, weights: dict[str, Tensor], x: Tensor, hx=None):
    """``module(x, hx)`` with one weight set per sample (``W == B``), in the module's own layout.

    Args:
        weights: ``{name: (B, *shape)}`` for every parameter of ``module``.
        x: ``(B, T, D)`` if ``batch_first`` else ``(T, B, D)``.
        hx: as for ``module`` (``(L * dirs, B, H)``, a pair for an LSTM), or ``None``.

    Returns:
        what ``module`` returns: ``(output, h_n)`` or ``(output, (h_n, c_n))``.

    Example:
        >>> lstm = nn.LSTM(3, 5, batch_first=True)
        >>> w = {n: p.detach().expand(4, *p.shape) for n, p in lstm.named_parameters()}
        >>> x = torch.randn(4, 7, 3)
        >>> out, (h, c) = recurrent_forward(lstm, w, x)
        >>> torch.allclose(out, lstm(x)[0], atol=1e-6), h.shape
        (True, torch.Size([1, 4, 5]))
    """
    _check_input(module, x)
    if x.ndim == 2:
        raise ValueError("per-sample weights need a batch: the input is unbatched (T, D)")
    xb = x if module.batch_first else x.transpose(0, 1)                   # (B, T, D)
    sets = next(iter(weights.values())).shape[0]
    if sets != xb.shape[0]:
        raise ValueError(
            f"generated weights have W={sets} sets but the {type(module).__name__}'s data batch is "
            f"B={xb.shape[0]} (dimension {0 if module.batch_first else 1} of the input, batch_first="
            f"{module.batch_first}); W must be 1 or B. For K sets on the same inputs use ensemble_forward"
        )
    h0, c0 = _split_hx(module, hx)
    per_set = (lambda s: s.unsqueeze(2)) if hx is not None else (lambda s: s)
    output, h_n, c_n = run_recurrence(
        module, weights, xb.unsqueeze(1), per_set(h0) if h0 is not None else None,
        per_set(c0) if c0 is not None else None, training=module.training)
    output = output.squeeze(1)                                            # (B, T, ·)
    if not module.batch_first:
        output = output.transpose(0, 1)
    h_n = h_n.squeeze(2)
    c_n = c_n.squeeze(2) if c_n is not None else None
    return _result(module, output, h_n, c_n)


def recurrent_ensemble(module: nn.RNNBase, weights: dict[str, Tensor], x: Tensor, hx=None):
    """``K`` weight sets applied to the same inputs: every output gets a leading ``K``.

    Args:
        weights: ``{name: (K, *shape)}``.
        x: the module's usual input (batched or unbatched, in its own layout), shared by all sets.

    Returns:
        ``(output (K, *module output), h_n (K, L * dirs, …))`` (a pair of states for an LSTM).
    """
    _check_input(module, x)
    unbatched = x.ndim == 2
    xb = x.unsqueeze(0) if unbatched else (x if module.batch_first else x.transpose(0, 1))
    h0, c0 = _split_hx(module, hx)
    shape = (lambda s: s.unsqueeze(1).unsqueeze(2)) if unbatched else (lambda s: s.unsqueeze(1))
    output, h_n, c_n = run_recurrence(
        module, weights, xb.unsqueeze(0), shape(h0) if h0 is not None else None,
        shape(c0) if c0 is not None else None, training=module.training)
    if unbatched:
        output, h_n = output[:, 0], h_n[:, :, 0]
        c_n = c_n[:, :, 0] if c_n is not None else None
    elif not module.batch_first:
        output = output.transpose(1, 2)
    h_n = h_n.transpose(0, 1)
    c_n = c_n.transpose(0, 1) if c_n is not None else None
    return _result(module, output, h_n, c_n)


def _single_set_forward(self: nn.RNNBase, x, hx=None):
    """``forward`` of a recurrent module as ordinary ops (for one weight set: run under ``vmap``,
    the ops become the batched matmuls of :func:`run_recurrence`)."""
    _check_input(self, x)
    weights = {name: p.unsqueeze(0) for name, p in self.named_parameters(recurse=False)}
    unbatched = x.ndim == 2
    xb = x.unsqueeze(0) if unbatched else (x if self.batch_first else x.transpose(0, 1))
    h0, c0 = _split_hx(self, hx)
    lift = (lambda s: s[:, None, None]) if unbatched else (lambda s: s[:, None])
    output, h_n, c_n = run_recurrence(self, weights, xb.unsqueeze(0),
                                      lift(h0) if h0 is not None else None,
                                      lift(c0) if c0 is not None else None)
    output, h_n = output[0], h_n[:, 0]
    c_n = c_n[:, 0] if c_n is not None else None
    if unbatched:
        output, h_n = output[0], h_n[:, 0]
        c_n = c_n[:, 0] if c_n is not None else None
    elif not self.batch_first:
        output = output.transpose(0, 1)
    return _result(self, output, h_n, c_n)


@contextlib.contextmanager
def vmappable_recurrent(target: nn.Module):
    """Within the block, every ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` inside ``target`` computes its
    recurrence with ordinary ops, which ``vmap`` can batch; the modules are restored afterwards,
    also when the block raises. Inter-layer dropout in training mode is refused (``vmap`` cannot
    draw it per set): put the target in eval mode or build it with ``dropout=0``."""
    modules = [m for m in target.modules() if isinstance(m, nn.RNNBase)]
    for m in modules:
        if m.training and m.dropout and m.num_layers > 1:
            raise RuntimeError(
                f"{type(m).__name__}(dropout={m.dropout}) in training mode inside a target run under "
                "vmap: its dropout cannot be drawn per weight set; call target.eval() or use dropout=0"
            )
        if "forward" in m.__dict__:
            raise RuntimeError(f"{type(m).__name__} already has an instance-level forward; "
                               "cannot route it through the batched recurrence")
    try:
        for m in modules:
            m.forward = types.MethodType(_single_set_forward, m)
        yield
    finally:
        for m in modules:
            m.__dict__.pop("forward", None)
