"""Recurrent cells: a layer-normalised LSTM cell and the HyperLSTM cell of Ha, Dai & Le (2017).

The HyperLSTM keeps one set of main LSTM weights ``W_x, W_h, b_0`` and lets a small "hyper" LSTM,
reading ``[x_t ; h_{t-1}]`` at every step, rescale them row by row: for each gate ``g`` of
``(i, j, f, o)`` the hyper cell's state ``ĥ_t`` gives embeddings ``z_x, z_h, z_b`` (size ``N_z``),
projected to the scalings ``d_x, d_h`` and a dynamic bias, and

    pre_g = d_x^g ⊙ (W_x^g x_t) + d_h^g ⊙ (W_h^g h_{t-1}) + b_0^g + W_bz^g z_b^g

so the weights change along the sequence at the memory cost of vectors, not matrices.

Initialisation as in the paper's code (hardmaru/supercell): ``ĥ -> z_x, z_h`` weights 0 and bias 1,
``z -> d`` constant ``0.1 / N_z`` (so every scaling starts at 0.1), ``ĥ -> z_b`` ``N(0, 0.01)`` without
bias, ``z_b -> bias`` 0; a forget bias of 1; ``W_x`` Glorot-uniform and ``W_h`` orthogonal per gate
block; layer norm (epsilon 1e-3) on each gate and on the cell (optional), the hyper cell's gate
norms standing in for its bias;
recurrent dropout on the candidate ``j`` (Semeniuta et al. 2016) as an option.

References: Ha, Dai & Le, "HyperNetworks", ICLR 2017 (arXiv 1609.09106).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["LayerNormLSTMCell", "HyperLSTMCell"]

State = tuple[Tensor, Tensor]
_EPS = 1e-3          # the paper's code's layer-norm epsilon ("found this works best")


def _init_lstm_weights(w_x: nn.Linear, w_h: nn.Linear) -> None:
    """The paper's code's LSTM initialisation: ``W_x`` Glorot-uniform (TensorFlow's default),
    ``W_h`` orthogonal *per gate block* (``lstm_ortho_initializer``), so every gate's recurrent
    matrix is orthogonal (an orthogonal ``(4H, H)`` matrix would give each block norm ~1/2)."""
    nn.init.xavier_uniform_(w_x.weight)
    for block in w_h.weight.data.chunk(4, 0):
        nn.init.orthogonal_(block)


class _GateNorm(nn.Module):
    """Layer norm of each of the four gates separately (own gain and shift): ``(B, 4H) -> (B, 4H)``."""

    def __init__(self, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.weight = nn.Parameter(torch.ones(4, hidden))
        self.bias = nn.Parameter(torch.zeros(4, hidden))

    def forward(self, pre: Tensor) -> Tensor:
        gates = pre.unflatten(-1, (4, self.hidden))
        gates = F.layer_norm(gates, (self.hidden,), eps=_EPS) * self.weight + self.bias
        return gates.flatten(-2)


def _lstm_update(pre: Tensor, c: Tensor, gate_norm, cell_norm, forget_bias: float,
                 dropout: float, training: bool) -> State:
    if gate_norm is not None:
        pre = gate_norm(pre)
    i, j, f, o = pre.chunk(4, -1)
    candidate = torch.tanh(j)
    if dropout:
        candidate = F.dropout(candidate, dropout, training)
    c = c * torch.sigmoid(f + forget_bias) + torch.sigmoid(i) * candidate
    h = torch.tanh(cell_norm(c) if cell_norm is not None else c) * torch.sigmoid(o)
    return h, c


class LayerNormLSTMCell(nn.Module):
    """An LSTM cell with optional layer norm on each gate and on the cell (Ba et al. 2016).

    Args:
        input_size: ``D``; hidden_size: ``H``.
        layer_norm: normalise the gates and the cell.
        forget_bias: added to the forget gate's pre-activation.
        dropout: recurrent dropout on the candidate (0: off).

    Shapes: ``forward(x: (B, D), state: ((B, H), (B, H)) | None) -> (h, c)``, each ``(B, H)``;
    ``input_projection(x: (..., D)) -> (..., 4H)`` precomputes ``W_x x`` for many steps at once.

    Example:
        >>> cell = LayerNormLSTMCell(3, 5)
        >>> h, c = cell(torch.randn(2, 3))
        >>> h.shape, c.shape
        (torch.Size([2, 5]), torch.Size([2, 5]))
    """

    def __init__(self, input_size: int, hidden_size: int, *, layer_norm: bool = True,
                 forget_bias: float = 1.0, dropout: float = 0.0):
        super().__init__()
        _check_sizes(input_size=input_size, hidden_size=hidden_size)
        _check_dropout(dropout)
        self.input_size, self.hidden_size = input_size, hidden_size
        self.forget_bias, self.dropout = forget_bias, dropout
        self.w_x = nn.Linear(input_size, 4 * hidden_size, bias=False)
        self.w_h = nn.Linear(hidden_size, 4 * hidden_size, bias=False)
        # with layer norm the gates' shift is the norm's own bias (the paper's code has no other)
        self.bias = None if layer_norm else nn.Parameter(torch.zeros(4 * hidden_size))
        self.gate_norm = _GateNorm(hidden_size) if layer_norm else None
        self.cell_norm = nn.LayerNorm(hidden_size, eps=_EPS) if layer_norm else None
        _init_lstm_weights(self.w_x, self.w_h)

    def initial_state(self, batch: int, like: Tensor) -> State:
        zeros = like.new_zeros(batch, self.hidden_size)
        return zeros, zeros

    def input_projection(self, x: Tensor) -> Tensor:
        return self.w_x(x)

    def step(self, x_proj: Tensor, state: State) -> State:
        """One step from a precomputed ``W_x x_t`` (``(B, 4H)``)."""
        h, c = state
        pre = x_proj + self.w_h(h)
        if self.bias is not None:
            pre = pre + self.bias
        return _lstm_update(pre, c, self.gate_norm, self.cell_norm, self.forget_bias, self.dropout,
                            self.training)

    def forward(self, x: Tensor, state: State | None = None) -> State:
        state = state if state is not None else self.initial_state(x.shape[0], x)
        return self.step(self.input_projection(x), state)


class HyperLSTMCell(nn.Module):
    """The HyperLSTM cell: a main LSTM whose weights a small hyper LSTM rescales at every step.

    Args:
        input_size: ``D``; hidden_size: ``H`` (the main cell).
        hyper_size: ``N_h``, units of the hyper LSTM (the paper's default 128).
        embedding_size: ``N_z``, per-gate embedding size (default 16).
        layer_norm: layer norm in the main and the hyper cell (the paper's best variant).
        forget_bias: added to the forget gate; dropout: recurrent dropout on the candidate.

    Shapes: ``forward(x: (B, D), state | None) -> state`` where ``state = (h, c, ĥ, ĉ)`` with
    ``h, c: (B, H)`` and ``ĥ, ĉ: (B, N_h)``; the output is ``state[0]``.

    Example:
        >>> cell = HyperLSTMCell(3, 8, hyper_size=4, embedding_size=2)
        >>> state = cell(torch.randn(5, 3))
        >>> [tuple(s.shape) for s in state]
        [(5, 8), (5, 8), (5, 4), (5, 4)]
    """

    def __init__(self, input_size: int, hidden_size: int, *, hyper_size: int = 128,
                 embedding_size: int = 16, layer_norm: bool = True, forget_bias: float = 1.0,
                 dropout: float = 0.0):
        super().__init__()
        _check_sizes(input_size=input_size, hidden_size=hidden_size, hyper_size=hyper_size,
                     embedding_size=embedding_size)
        _check_dropout(dropout)
        self.input_size, self.hidden_size = input_size, hidden_size
        self.hyper_size, self.embedding_size = hyper_size, embedding_size
        self.forget_bias, self.dropout = forget_bias, dropout
        h, nz = hidden_size, embedding_size
        self.w_x = nn.Linear(input_size, 4 * h, bias=False)
        self.w_h = nn.Linear(h, 4 * h, bias=False)
        self.bias = nn.Parameter(torch.zeros(4 * h))
        self.hyper = LayerNormLSTMCell(input_size + h, hyper_size, layer_norm=layer_norm,
                                       forget_bias=forget_bias, dropout=dropout)
        # ĥ -> (z_x, z_h) for the four gates at once, and ĥ -> z_b
        self.to_z = nn.Linear(hyper_size, 2 * 4 * nz)
        self.to_zb = nn.Linear(hyper_size, 4 * nz, bias=False)
        # per gate: z (N_z) -> a scaling of that gate's H rows; stored as (4, N_z, H) blocks
        self.z_to_dx = nn.Parameter(torch.empty(4, nz, h))
        self.z_to_dh = nn.Parameter(torch.empty(4, nz, h))
        self.zb_to_bias = nn.Parameter(torch.empty(4, nz, h))
        self.gate_norm = _GateNorm(h) if layer_norm else None
        self.cell_norm = nn.LayerNorm(h, eps=_EPS) if layer_norm else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The paper's code's initialisation (see the module docstring)."""
        _init_lstm_weights(self.w_x, self.w_h)
        nn.init.zeros_(self.bias)
        nn.init.zeros_(self.to_z.weight)
        nn.init.ones_(self.to_z.bias)
        nn.init.normal_(self.to_zb.weight, std=0.01)
        nn.init.constant_(self.z_to_dx, 0.1 / self.embedding_size)
        nn.init.constant_(self.z_to_dh, 0.1 / self.embedding_size)
        nn.init.zeros_(self.zb_to_bias)

    def initial_state(self, batch: int, like: Tensor) -> tuple[Tensor, ...]:
        main = like.new_zeros(batch, self.hidden_size)
        hyper = like.new_zeros(batch, self.hyper_size)
        return main, main, hyper, hyper

    def input_projection(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``W_x x`` of the main cell and the hyper cell's ``x`` part: ``(..., 4H), (..., 4N_h)``."""
        hyper_x = F.linear(x, self.hyper.w_x.weight[:, : self.input_size])
        return self.w_x(x), hyper_x

    def step(self, x_proj: tuple[Tensor, Tensor], state: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """One step from precomputed input projections (:meth:`input_projection` of ``x_t``)."""
        main_x, hyper_x = x_proj
        h, c, hh, hc = state
        hyper_pre = hyper_x + F.linear(h, self.hyper.w_x.weight[:, self.input_size:])
        hh, hc = self.hyper.step(hyper_pre, (hh, hc))
        nz = self.embedding_size
        z = self.to_z(hh).unflatten(-1, (2, 4, nz))                         # (B, 2, 4, N_z)
        zb = self.to_zb(hh).unflatten(-1, (4, nz))                          # (B, 4, N_z)
        d_x = torch.einsum("bgz,gzh->bgh", z[:, 0], self.z_to_dx).flatten(1)  # (B, 4H)
        d_h = torch.einsum("bgz,gzh->bgh", z[:, 1], self.z_to_dh).flatten(1)
        dyn_bias = torch.einsum("bgz,gzh->bgh", zb, self.zb_to_bias).flatten(1)
        pre = d_x * main_x + d_h * self.w_h(h) + self.bias + dyn_bias
        h, c = _lstm_update(pre, c, self.gate_norm, self.cell_norm, self.forget_bias, self.dropout,
                            self.training)
        return h, c, hh, hc

    def forward(self, x: Tensor, state: tuple[Tensor, ...] | None = None) -> tuple[Tensor, ...]:
        state = state if state is not None else self.initial_state(x.shape[0], x)
        return self.step(self.input_projection(x), state)


def _check_sizes(**sizes) -> None:
    for name, value in sizes.items():
        if not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_dropout(p) -> None:
    if not (isinstance(p, (int, float)) and 0.0 <= p < 1.0):
        raise ValueError(f"dropout must be in [0, 1), got {p!r}")
