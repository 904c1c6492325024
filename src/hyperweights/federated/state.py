"""A client's private state as a model ``hw.save`` / ``hw.load`` handle (safetensors, no pickle)."""

from __future__ import annotations

from torch import Tensor

from ..io import checkpointable

__all__ = ["ClientState"]


@checkpointable("federated.ClientState")
class ClientState:
    """What one client keeps and never sends (HyperFL: embedding and head), plus the last round
    it completed, so a restarted client continues where it stopped.

    Example:
        >>> import tempfile, torch
        >>> import hyperweights as hw
        >>> state = ClientState("hyperfl", 3, {"embedding": torch.ones(64)}, completed_round=2)
        >>> path = tempfile.mkdtemp() + "/client3.safetensors"
        >>> hw.save(state, path)
        >>> again = hw.load(path)
        >>> again.client_id, again.completed_round, again.tensors["embedding"].shape
        (3, 2, torch.Size([64]))
    """

    def __init__(self, method: str, client_id: int, tensors: dict[str, Tensor], completed_round: int = 0):
        self.method, self.client_id = method, int(client_id)
        self.tensors = {k: v.detach() for k, v in tensors.items()}
        self.completed_round = int(completed_round)

    def checkpoint_state(self):
        return dict(self.tensors), {"method": self.method, "client_id": self.client_id,
                                    "completed_round": self.completed_round}

    @classmethod
    def from_checkpoint(cls, tensors, config, **overrides):
        if overrides:
            raise TypeError(f"ClientState takes no load options, got {sorted(overrides)}")
        return cls(config["method"], config["client_id"], tensors, config["completed_round"])
