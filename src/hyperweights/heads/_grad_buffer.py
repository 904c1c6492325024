"""A linear layer whose weight gradient is written into a reused buffer.

Why: an output head of a hypernetwork is a very tall matrix (``P x d_h``: 9M entries for an
89.6k-parameter MLP with ``d_h = 100``). Autograd allocates a fresh gradient of that size every
step and the optimizer's ``zero_grad(set_to_none=True)`` frees it again; on CPU each 36 MB
allocation is fresh pages from the OS, and the page faults cost several times the matrix product
itself (measured: 13.7 ms to allocate-and-compute vs 1.6-3.0 ms into an existing buffer). This
layer computes the weight gradient straight into a buffer it keeps (or accumulates into an existing
``.grad``), the same result autograd would produce.

The fast path is taken only when it is exactly equivalent to autograd's: a plain ``backward()``
that will accumulate into ``weight.grad`` of a leaf weight, no ``create_graph``, no hooks on the
weight, no autocast, no ``torch.func`` transform, no distributed process group (DDP/FSDP attach to
gradient accumulation), and nobody else holding the previous gradient tensor or a view of it. Otherwise it returns the
gradient to autograd as usual.
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._parts import is_traced

__all__ = ["GradBufferLinear"]


def _others_hold(buf: Tensor) -> bool:
    # refs: the owner's attribute, the caller's local, this function's argument, getrefcount's
    # argument (tests check both that the buffer is reused and that a held gradient is not)
    if sys.getrefcount(buf) > 4:
        return True
    # a view (e.g. p.grad.flatten()) shares the storage without referencing the tensor
    return torch._C._storage_Use_Count(buf.untyped_storage()._cdata) > 2


def _engine_accumulates(weight: Tensor) -> bool:
    # a computed weight (MAML-style functional_call, nn.utils.parametrize) passes its gradient on
    if not weight.is_leaf or weight._backward_hooks or getattr(weight, "_post_accumulate_grad_hooks", None):
        return False
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return False
    try:
        node = torch.autograd.graph.get_gradient_edge(weight).node
        return bool(torch._C._will_engine_execute_node(node))
    except (AttributeError, RuntimeError):
        return False


class _LinearGradBuffer(torch.autograd.Function):
    @staticmethod
    def forward(x, weight, bias, owner):
        return F.linear(x, weight, bias)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, weight, bias, owner = inputs
        ctx.save_for_backward(x, weight)
        ctx.owner = owner
        ctx.has_bias = bias is not None

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad_x = grad @ weight if ctx.needs_input_grad[0] else None
        grad_b = grad.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        grad_w = None
        if ctx.needs_input_grad[1]:
            if torch.is_grad_enabled() or not ctx.owner._accumulate(weight, grad, x):
                grad_w = grad.t() @ x
        return grad_x, grad_w, grad_b, None


class GradBufferLinear(nn.Linear):
    """``nn.Linear`` (2-D input ``(N, in)``) whose weight gradient reuses one buffer.

    Example:
        >>> import torch
        >>> layer = GradBufferLinear(3, 4)
        >>> ref = torch.nn.Linear(3, 4)
        >>> _ = ref.load_state_dict(layer.state_dict())
        >>> x = torch.randn(2, 3)
        >>> layer(x).square().sum().backward(); ref(x).square().sum().backward()
        >>> torch.allclose(layer.weight.grad, ref.weight.grad)
        True
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._grad_buffer: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        if (x.ndim != 2 or not torch.is_grad_enabled() or is_traced(x) or is_traced(self.weight)
                or torch.is_autocast_enabled(x.device.type)):
            return F.linear(x, self.weight, self.bias)
        return _LinearGradBuffer.apply(x, self.weight, self.bias, self)

    @torch.no_grad()
    def _accumulate(self, weight: Tensor, grad: Tensor, x: Tensor) -> bool:
        if not _engine_accumulates(weight):
            return False
        if weight.grad is not None:
            if weight.grad.shape != weight.shape or not weight.grad.is_contiguous():
                return False
            weight.grad.addmm_(grad.t(), x)
            return True
        buf = self._grad_buffer
        if (buf is None or buf.shape != weight.shape or buf.dtype != weight.dtype
                or buf.device != weight.device or _others_hold(buf)):
            buf = torch.empty_like(weight, memory_format=torch.contiguous_format)
        self._grad_buffer = buf
        torch.mm(grad.t(), x, out=buf)
        weight.grad = buf
        return True
