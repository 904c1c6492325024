"""An in-process stand-in for Flower's ``Grid``: the server loop talks to ``ClientApp`` objects
directly, one after the other, with no Ray and no SuperLink.

It implements what :func:`~hyperweights.federated.flower.run_server` uses (``get_node_ids`` and
``send_and_receive``), runs the real ``ClientApp`` handlers on real ``Message`` objects, keeps one
``Context`` per node across rounds (as a SuperNode does) and turns a handler's exception into an
error reply (as Flower does). The fault tests use it; the simulation and deployment tests run the
same apps on Flower itself.

Example:
    >>> from hyperweights.federated.flower import make_client_app
    >>> grid = InProcessGrid(make_client_app(), num_nodes=2)
    >>> len(list(grid.get_node_ids()))
    2
"""

from __future__ import annotations

from collections.abc import Iterable

from .flower import Context, Error, Message, RecordDict   # flower.py imports flwr quietly
from flwr.supercore.task_identity import TaskIdentity

__all__ = ["InProcessGrid"]


class InProcessGrid:
    """``num_nodes`` virtual nodes (ids ``1001..``), partition ``i`` on node ``1001 + i``.

    Args:
        client_app: the ``ClientApp`` every node runs.
        num_nodes: how many nodes.
        run_config: what the nodes see as ``context.run_config``.
    """

    def __init__(self, client_app, num_nodes: int, run_config: dict | None = None):
        # Flower's Message reads the process's task identity, which its runtimes set (private API)
        for field, value in (("_run_id", 1), ("_task_id", 1), ("_node_id", 1)):
            if getattr(TaskIdentity, field) is None:
                setattr(TaskIdentity, field, value)
        self.client_app = client_app
        self.contexts = {
            1001 + i: Context(run_id=1, node_id=1001 + i,
                              node_config={"partition-id": i, "num-partitions": num_nodes},
                              state=RecordDict(), run_config=dict(run_config or {}))
            for i in range(num_nodes)
        }
        #: node -> first round it no longer answers (a killed SuperNode: still listed, silent)
        self.silent_from: dict[int, int] = {}

    def get_node_ids(self) -> Iterable[int]:
        return list(self.contexts)

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> list[Message]:
        replies = []
        for i, message in enumerate(messages):   # the nodes are separate machines: one call each
            node = message.metadata.dst_node_id
            config = message.content.config_records.get("config")
            server_round = int(config["server-round"]) if config is not None else 0
            if node in self.silent_from and server_round >= self.silent_from[node]:
                continue
            message.metadata.__dict__["_message_id"] = message.metadata.message_id or f"m{i}"
            message.metadata.__dict__["_src_node_id"] = 1
            try:
                reply = self.client_app(message, self.contexts[node])
            except Exception as err:   # Flower turns a ClientApp's exception into an error reply
                reply = Message(Error(code=0, reason=f"{type(err).__name__}: {err}"), reply_to=message)
            replies.append(reply)
        return replies
