"""Generated weights for ``nn.RNN``, ``nn.GRU`` and ``nn.LSTM``: a batched time-step recurrence.

Why: the fused recurrent kernels (``_VF.lstm`` …) take one weight set, so ``torch.func.vmap``
cannot batch them over per-sample or per-member weights. This module computes the same recurrence
with one batched matmul per time step over *all* weight sets (``S`` of them) at once:

- the input projection of every time step is one batched matmul before the time loop, both biases
  folded in (a GRU keeps ``b_hn`` in the step, where ``r`` multiplies it); for ``K`` sets on shared
  inputs it is instead one ``(N, D) @ (D, K*G)`` GEMM per step, which never holds the
  ``(T, K, N, G)`` block (~100 MB at the benchmark's size) whose copies would cost more than the
  matmul;
- each step is one ``baddbmm`` of the ``(S, N, H)`` hidden states with the ``(S, H, G)`` recurrent
  weights onto the step's projection, plus the gate math in few kernels (an LSTM's gate rows are
  reordered once to ``(i, f, o, g)``: one sigmoid, one tanh for the candidate; a GRU's update is a
  ``lerp``).

Weights may also change at every time step: a tensor ``(S, T, *shape)`` instead of ``(S, *shape)``
(:func:`stepwise_forward`; the input projection is then one matmul over the ``S * T`` pairs).

Every option that changes the math is supported: ``num_layers``, ``bidirectional``,
``batch_first``, ``bias``, LSTM ``proj_size``, inter-layer ``dropout`` (training mode, explicit
paths only), initial states ``hx``, unbatched inputs. A ``PackedSequence`` is refused with a clear
error (pad the batch instead). The results equal the fused kernel run one weight set at a time, in
values and gradients (``tests/test_targets_recurrent.py``, ``tests/test_recurrent_fast_paths.py``,
``tests/test_sequence_stepwise.py``).

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

__all__ = ["recurrent_forward", "recurrent_ensemble", "stepwise_forward", "vmappable_recurrent",
           "run_recurrence"]

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


def _lstm_gate_order(w: dict[str, Tensor]) -> dict[str, Tensor]:
    """An LSTM's gate rows reordered from torch's (i, f, g, o) to (i, f, o, g), so that one sigmoid
    covers the three gates and one tanh the candidate."""
    def reorder(t: Tensor, dim: int) -> Tensor:
        i, f, g, o = t.chunk(4, dim)
        return torch.cat((i, f, o, g), dim)
    return {k: reorder(v, -2 if k in ("ih", "hh") else -1) if k in ("ih", "hh", "b_ih", "b_hh") else v
            for k, v in w.items()}


def _input_projection(x: Tensor, w: dict[str, Tensor], bias: Tensor | None, timed: bool):
    """``W_ih x_t + bias`` for every step, laid out ``(T, S, N, G)`` so each step reads one block
    (one batched matmul over sets, or over (set, step) pairs for per-step weights);
    ``x: (S, N, T, D)``, ``bias: (S, G)`` / ``(S, T, G)`` or None."""
    sets, n, steps, d = w["ih"].shape[0], x.shape[1], x.shape[2], x.shape[3]
    x = x.expand(sets, n, steps, d)
    if timed:                                     # (S, T, G, D): one matmul per (set, step) pair
        xs = x.transpose(1, 2).reshape(sets * steps, n, d)
        ih = w["ih"].flatten(0, 1).transpose(-1, -2)
        b = bias.reshape(sets * steps, 1, -1) if bias is not None else None
        xp = torch.bmm(xs, ih) if b is None else torch.baddbmm(b, xs, ih)
        return xp.view(sets, steps, n, -1).transpose(0, 1)
    ih = w["ih"].transpose(-1, -2)
    xs = x.reshape(sets, n * steps, d)
    xp = torch.bmm(xs, ih) if bias is None else torch.baddbmm(bias[:, None, :], xs, ih)
    return xp.view(sets, n, steps, -1).permute(2, 0, 1, 3).contiguous()


def _layer(x: Tensor, w: dict[str, Tensor], mode: str, h: Tensor, c: Tensor | None,
           reverse: bool, timed: frozenset = frozenset()) -> tuple[Tensor, Tensor, Tensor | None]:
    """One layer, one direction. ``x: (S or 1, N, T, D)``, weights ``(S, ...)`` (or ``(S, T, ...)``
    for the names in ``timed``: one weight set per set *and* time step), ``h: (S, N, Hp)``.

    Per step: one ``baddbmm`` of the hidden states with the recurrent weights onto the step's input
    projection (biases folded in), then the gate math in few element-wise kernels."""
    sets, n, steps, d = w["ih"].shape[0], x.shape[1], x.shape[2], x.shape[3]
    if mode == "LSTM":
        w = _lstm_gate_order(w)
    hidden = w["hh"].shape[-2] // _GATES[mode]
    # biases: all of them go into the input projection, except a GRU's b_hh (r multiplies its n part)
    in_names = ("ih", "b_ih") + (("b_hh",) if mode != "GRU" else ())
    timed_in = any(k in timed for k in in_names)

    def get(name):                  # with per-step input weights, every input-side tensor (S, T|1, ...)
        return w[name] if not timed_in or name in timed else w[name].unsqueeze(1)
    in_bias = None
    if "b_ih" in w:
        in_bias = get("b_ih") + get("b_hh") if mode != "GRU" else get("b_ih")
    if timed_in:
        w = {**w, "ih": get("ih").expand(sets, steps, *w["ih"].shape[-2:])}
        in_bias = in_bias.expand(sets, steps, in_bias.shape[-1]) if in_bias is not None else None
    shared = x.shape[0] == 1 and sets > 1 and not timed_in
    if shared:
        # x shared by every set (an ensemble): each step's projection is one (N, D) @ (D, S*G)
        # product, computed in the loop so the (T, S, N, G) block never has to be held in memory
        ih_all = w["ih"].reshape(-1, d).t()                                 # (D, S*G)
        b_all = in_bias.reshape(1, -1) if in_bias is not None else None
        x_steps = x[0]
    else:
        xp = _input_projection(x, w, in_bias, timed_in)
    w_hh = w["hh"].transpose(-1, -2)                                       # (S, [T,] Hp, G)
    b_hh = w.get("b_hh") if mode == "GRU" else None
    w_hr = w["hr"].transpose(-1, -2) if "hr" in w else None
    outputs: list[Tensor] = [None] * steps                                 # type: ignore[list-item]
    for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
        if shared:
            step = x_steps[:, t] @ ih_all if b_all is None else torch.addmm(b_all, x_steps[:, t], ih_all)
            xt = step.view(n, sets, -1).transpose(0, 1)
        else:
            xt = xp[t]
        hh = w_hh[:, t] if "hh" in timed else w_hh
        if mode == "LSTM":
            gates = torch.baddbmm(xt, h, hh)
            sig = torch.sigmoid(gates[..., : 3 * hidden])
            c = torch.addcmul(sig[..., hidden: 2 * hidden] * c, sig[..., :hidden],
                              torch.tanh(gates[..., 3 * hidden:]))
            h = sig[..., 2 * hidden:] * torch.tanh(c)
            if w_hr is not None:
                h = torch.bmm(h, w_hr[:, t] if "hr" in timed else w_hr)
        elif mode == "GRU":
            if b_hh is None:
                gh = torch.bmm(h, hh)
            else:
                gh = torch.baddbmm((b_hh[:, t] if "b_hh" in timed else b_hh)[:, None, :], h, hh)
            rz = torch.sigmoid(xt[..., : 2 * hidden] + gh[..., : 2 * hidden])
            cand = torch.tanh(torch.addcmul(xt[..., 2 * hidden:], rz[..., :hidden], gh[..., 2 * hidden:]))
            h = torch.lerp(cand, h, rz[..., hidden:])
        else:
            pre = torch.baddbmm(xt, h, hh)
            h = torch.tanh(pre) if mode == "RNN_TANH" else torch.relu(pre)
        outputs[t] = h
    return torch.stack(outputs, 2), h, c


def run_recurrence(module: nn.RNNBase, weights: dict[str, Tensor], x: Tensor,
                   h0: Tensor | None = None, c0: Tensor | None = None, *, training: bool = False):
    """The recurrence of ``module`` for ``S`` weight sets at once.

    Args:
        module: the ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` whose options define the math (its own
            parameters are not read).
        weights: ``{parameter name: (S, *shape)}`` for every parameter of ``module``; a tensor of
            shape ``(S, T, *shape)`` instead gives every set its own weights at every time step
            (see :mod:`hyperweights.sequence.stepwise`).
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
    layer_in = x
    for layer in range(module.num_layers):
        outs = []
        for d in range(dirs):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            names = {"ih": f"weight_ih{sfx}", "hh": f"weight_hh{sfx}"}
            if module.bias:
                names.update(b_ih=f"bias_ih{sfx}", b_hh=f"bias_hh{sfx}")
            if module.proj_size:
                names["hr"] = f"weight_hr{sfx}"
            w = {key: weights[name] for key, name in names.items()}
            timed = frozenset(key for key, name in names.items()
                              if w[key].ndim == getattr(module, name).ndim + 2)
            k = layer * dirs + d
            h = (h0[k] if h0 is not None else zeros).expand(sets, n, out_size)
            c = (c0[k] if c0 is not None else zeros).expand(sets, n, hidden) if mode == "LSTM" else None
            out, h, c = _layer(layer_in, w, mode, h, c, reverse=bool(d), timed=timed)
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


def stepwise_forward(module: nn.RNNBase, weights: dict[str, Tensor], x: Tensor, hx=None):
    """``module(x, hx)`` with weights that change at every time step, per sample.

    Args:
        module: an ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM``; parameters not in ``weights`` are its own.
        weights: ``{name: (B, T, *param.shape)}``: sample ``i`` uses ``weights[name][i, t]`` at
            time step ``t`` (both directions of a bidirectional layer index the same ``t``).
        x: ``(B, T, D)`` if ``batch_first`` else ``(T, B, D)``.
        hx: as for ``module``, or ``None``.

    Returns:
        what ``module`` returns: ``(output, h_n)`` or ``(output, (h_n, c_n))``.

    Raises:
        ValueError / TypeError: a name that is not a parameter of ``module``, a weight whose shape is
            not ``(B, T, *param.shape)``, or an input the module cannot take.

    Example:
        >>> gru = nn.GRU(3, 4, batch_first=True)
        >>> x = torch.randn(2, 6, 3)
        >>> w = {"bias_hh_l0": torch.randn(2, 6, 12)}       # a new recurrent bias at every step
        >>> out, h = stepwise_forward(gru, w, x)
        >>> out.shape, h.shape
        (torch.Size([2, 6, 4]), torch.Size([1, 2, 4]))
    """
    _check_input(module, x)
    if x.ndim == 2:
        raise ValueError("per-step weights need a batch: the input is unbatched (T, D)")
    xb = x if module.batch_first else x.transpose(0, 1)                   # (B, T, D)
    batch, steps = xb.shape[0], xb.shape[1]
    own = dict(module.named_parameters())
    if not isinstance(weights, dict) or not weights:
        raise TypeError("stepwise_forward takes the per-step weights as a non-empty dict "
                        "{name: (B, T, *param.shape)}")
    for name, value in weights.items():
        if name not in own:
            raise ValueError(f"{name!r} is not a parameter of {type(module).__name__}; its "
                             f"parameters: {', '.join(own)}")
        want = (batch, steps, *own[name].shape)
        if not isinstance(value, Tensor) or tuple(value.shape) != want:
            got = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise ValueError(f"per-step weights[{name!r}] must have shape (B, T, *param.shape) = "
                             f"{want} for this input (B={batch}, T={steps}); got {got}")
    full = {n: weights[n] if n in weights else p.expand(batch, *p.shape) for n, p in own.items()}
    return recurrent_forward(module, full, x, hx)


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
