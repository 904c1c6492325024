"""Per-time-step generated weights for any recurrent target (``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM``).

The HyperLSTM's idea ("the weights change along the sequence") for PyTorch's own recurrent
layers: a :class:`SequenceCondition` reads the sequence with a small GRU, whose state at step
``t`` (it has seen ``x_1 .. x_t``) is the condition of step ``t``; a
:class:`~hyperweights.HyperNetwork` turns the conditions of *all* ``B x T`` (sample, step) pairs
into weights in one batched trunk + head call; the target then runs its recurrence with sample
``i`` using weight set ``(i, t)`` at step ``t``
(:func:`hyperweights.targets.recurrent.stepwise_forward`: the input projections of every step are one
batched matmul over the ``B * T`` pairs, each step one batched matmul over the ``B`` samples).

Unlike the HyperLSTM's hyper cell, the condition reads the inputs only, not the main network's
state ``h_{t-1}``: that is what lets every step's weights come from one call before the time loop.
Generate few tensors (biases, one recurrent matrix, or a low-rank head): a full weight set per
(sample, step) is ``B * T`` times the target's size.
"""

from __future__ import annotations

from torch import Tensor, nn

from .. import io
from ..conditioning import Conditioner
from ..hypernetwork import HyperNetwork
from ..targets.recurrent import stepwise_forward

__all__ = ["SequenceCondition", "StepwiseModel"]


class SequenceCondition(Conditioner):
    """One condition per (sample, time step), read from the sequence by a GRU.

    Args:
        input_size: ``D``, the width of the sequence's elements.
        dim: the condition width (the reader GRU's hidden size).

    Shapes: ``forward(x: (B, T, D)) -> (B * T, dim)``, row ``i * T + t`` being sample ``i``'s
    condition at step ``t`` (a function of ``x_i[: t + 1]``).

    Example:
        >>> import torch
        >>> SequenceCondition(3, dim=8)(torch.randn(2, 5, 3)).shape
        torch.Size([10, 8])
    """

    def __init__(self, input_size: int, dim: int = 32):
        super().__init__()
        for name, value in (("input_size", input_size), ("dim", dim)):
            if not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
                raise ValueError(f"SequenceCondition: {name} must be a positive integer, got {value!r}")
        self._config = {"input_size": input_size, "dim": dim}
        self.input_size, self.out_dim = input_size, dim
        self.reader = nn.GRU(input_size, dim, batch_first=True)

    def forward(self, x: Tensor) -> Tensor:
        if not (isinstance(x, Tensor) and x.ndim == 3 and x.shape[-1] == self.input_size):
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"SequenceCondition reads a batch-first sequence (B, T, "
                             f"{self.input_size}); got {got}")
        states, _ = self.reader(x)                                          # (B, T, dim)
        return states.reshape(-1, self.out_dim)


#: the recurrent layers a checkpoint can rebuild from their constructor arguments
_REBUILDABLE = {"RNN": nn.RNN, "GRU": nn.GRU, "LSTM": nn.LSTM}


def _recurrent_config(target: nn.RNNBase) -> dict | None:
    """The constructor arguments that rebuild ``target`` (None for a user's subclass)."""
    if type(target) not in _REBUILDABLE.values():
        return None
    config = {"class": type(target).__name__, "input_size": target.input_size,
              "hidden_size": target.hidden_size, "num_layers": target.num_layers,
              "bias": target.bias, "batch_first": target.batch_first,
              "dropout": float(target.dropout), "bidirectional": target.bidirectional}
    if isinstance(target, nn.LSTM):
        config["proj_size"] = target.proj_size
    if isinstance(target, nn.RNN):
        config["nonlinearity"] = target.nonlinearity
    return config


@io.checkpointable("sequence.StepwiseModel")
class StepwiseModel(nn.Module):
    """A recurrent target whose generated weights change at every time step, per sample.

    Args:
        target: an ``nn.RNN``, ``nn.GRU`` or ``nn.LSTM`` (never modified; parameters the
            hypernetwork does not generate stay ordinary parameters of it).
        hnet: a :class:`~hyperweights.HyperNetwork` for ``target`` whose condition is a
            :class:`SequenceCondition` (or any conditioner mapping ``(B, T, D)`` to ``(B * T, d)``).

    Shapes: ``forward(x, hx=None)`` takes and returns what ``target`` does (``x: (B, T, D)`` if
    ``batch_first`` else ``(T, B, D)``); :meth:`weights` gives ``{name: (B, T, *param.shape)}``.

    Example:
        >>> import torch
        >>> import hyperweights as hw
        >>> gru = nn.GRU(3, 8, batch_first=True)
        >>> hnet = hw.HyperNetwork(gru, condition=SequenceCondition(3, dim=16), generate="bias_.*")
        >>> model = StepwiseModel(gru, hnet)
        >>> out, h = model(torch.randn(4, 10, 3))
        >>> out.shape, model.weights(torch.randn(4, 10, 3))["bias_hh_l0"].shape
        (torch.Size([4, 10, 8]), torch.Size([4, 10, 24]))
    """

    def __init__(self, target: nn.RNNBase, hnet: HyperNetwork):
        super().__init__()
        if not isinstance(target, nn.RNNBase):
            raise TypeError("StepwiseModel generates per-step weights for an nn.RNN, nn.GRU or "
                            f"nn.LSTM target; got {type(target).__name__}")
        if not isinstance(hnet, HyperNetwork):
            raise TypeError(f"hnet must be a HyperNetwork built for the target, got {type(hnet).__name__}")
        own = dict(target.named_parameters())
        foreign = [n for n in hnet.generated_parameter_names if n not in own]
        if foreign:
            raise ValueError(f"the hypernetwork generates {foreign}, which are not parameters of this "
                             f"{type(target).__name__} ({', '.join(own)}); build it for this target")
        self.target, self.hnet = target, hnet

    def weights(self, x: Tensor) -> dict[str, Tensor]:
        """``{name: (B, T, *param.shape)}``: every (sample, step) pair's weights, one hnet call."""
        xb = x if self.target.batch_first or not isinstance(x, Tensor) or x.ndim != 3 else x.transpose(0, 1)
        code = self.hnet.encode(xb)                                        # (B * T, d_c)
        if code.ndim != 2 or code.shape[0] != xb.shape[0] * xb.shape[1]:
            raise ValueError(f"the condition must give one row per (sample, step), {xb.shape[0]} x "
                             f"{xb.shape[1]}; {type(self.hnet.condition).__name__} gave {tuple(code.shape)}")
        flat = self.hnet.flat_from_code(code)                              # (B * T, P): one call
        return {name: w.unflatten(0, xb.shape[:2]) for name, w in self.hnet.unflatten(flat).items()}

    def forward(self, x: Tensor, hx=None):
        return stepwise_forward(self.target, self.weights(x), x, hx)

    # ------------------------------------------------------------------ checkpoints (hw.save / hw.load)
    def checkpoint_state(self) -> tuple[dict[str, Tensor], dict]:
        """The hypernetwork's tensors (its :class:`SequenceCondition` included), the target's
        non-generated ones, the hypernetwork's design and the target's constructor arguments."""
        hnet = self.hnet
        tensors = {f"hypernetwork.{k}": v.detach() for k, v in hnet.state_dict().items()}
        tensors.update((f"target.{k}", v) for k, v in
                       io._static_state(self.target, hnet.generated_parameter_names).items())
        return tensors, {"hypernetwork": hnet.config(), "target": _recurrent_config(self.target)}

    @classmethod
    def from_checkpoint(cls, tensors: dict[str, Tensor], config: dict, target: nn.RNNBase | None = None,
                        **parts) -> StepwiseModel:
        """Rebuild from :meth:`checkpoint_state`. ``target`` (same architecture) is needed only for
        a subclass of ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM``; ``parts``: ``condition`` / ``trunk`` /
        ``head`` for parts that wrap user code, ``strict``.

        Example:
            >>> import tempfile, torch
            >>> import hyperweights as hw
            >>> gru = nn.GRU(3, 8, batch_first=True)
            >>> model = StepwiseModel(gru, hw.HyperNetwork(gru, condition=SequenceCondition(3, dim=4),
            ...                                            generate="bias_.*"))
            >>> path = tempfile.mkdtemp() + "/stepwise.safetensors"
            >>> hw.save(model, path)
            >>> x = torch.randn(2, 5, 3)
            >>> torch.equal(hw.load(path)(x)[0], model(x)[0])
            True
        """
        if not isinstance(config, dict) or "hypernetwork" not in config:
            raise ValueError("not a StepwiseModel checkpoint: its config lacks the hypernetwork design")
        unknown = set(parts) - {"condition", "trunk", "head", "strict"}
        if unknown:
            raise TypeError(f"unknown load option(s) {sorted(unknown)}; a StepwiseModel takes "
                            "target=, condition=, trunk=, head=, strict=")
        if target is None:
            target = _rebuild_recurrent(config.get("target"))
        model = io._load_hypernetwork("the StepwiseModel checkpoint", tensors,
                                      {"kind": "HyperModel", "hypernetwork": config["hypernetwork"]},
                                      target, parts.get("condition"), parts.get("trunk"),
                                      parts.get("head"), parts.get("strict", True))
        return cls(model.target, model.hypernetwork)


def _rebuild_recurrent(config: dict | None) -> nn.RNNBase:
    if config is None:
        raise TypeError("this StepwiseModel's target is a subclass of nn.RNN / nn.GRU / nn.LSTM, which "
                        "the checkpoint cannot rebuild: pass a freshly built one, hw.load(path, target)")
    config = dict(config)
    name = config.pop("class", None)
    if name not in _REBUILDABLE:
        raise ValueError(f"the checkpoint's target class is {name!r}; expected one of "
                         f"{sorted(_REBUILDABLE)} (a damaged file?)")
    return _REBUILDABLE[name](**config)
