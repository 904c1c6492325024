"""Task-conditioned MLP hypernetworks built with the peer libraries, at sizes we choose.

Each builder returns a :class:`Contender`: its trainable parameters and a ``logits(x, task)``
closure, so the core benchmark trains and times every library through the same loop. The peers are
optional (``make peers``); a missing one raises ``ImportError`` and the benchmark skips its row.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor, nn

__all__ = ["Contender", "hypnettorch_hmlp", "hypnettorch_chunked", "hyperlight_full", "hypernn_full"]


@dataclass
class Contender:
    name: str
    parameters: list[nn.Parameter]
    logits: Callable[[Tensor, int], Tensor]


def _hypnettorch_mnet(sizes):
    # (hypnettorch's data package needs numpy aliases removed in 1.24; its nets do not, so no shim)
    from hypnettorch.mnets import MLP as MainMLP
    return MainMLP(n_in=sizes[0], n_out=sizes[-1], hidden_layers=tuple(sizes[1:-1]),
                   no_weights=True, verbose=False)


def hypnettorch_hmlp(sizes, num_tasks: int, emb: int, hidden) -> Contender:
    """hypnettorch ``HMLP`` (one output layer for all target weights) + its functional ``MLP``."""
    from hypnettorch.hnets import HMLP
    mnet = _hypnettorch_mnet(sizes)
    hnet = HMLP(mnet.param_shapes, cond_in_size=emb, layers=tuple(hidden),
                num_cond_embs=num_tasks, verbose=False)
    return Contender("hypnettorch HMLP", list(hnet.parameters()),
                     lambda x, t: mnet.forward(x, weights=hnet.forward(cond_id=t)))


def hypnettorch_chunked(sizes, num_tasks: int, emb: int, hidden, chunk: int, chunk_emb: int) -> Contender:
    """hypnettorch ``ChunkedHMLP``."""
    from hypnettorch.hnets import ChunkedHMLP
    mnet = _hypnettorch_mnet(sizes)
    hnet = ChunkedHMLP(mnet.param_shapes, chunk_size=chunk, chunk_emb_size=chunk_emb,
                       cond_in_size=emb, layers=tuple(hidden), num_cond_embs=num_tasks,
                       verbose=False)
    return Contender("hypnettorch ChunkedHMLP", list(hnet.parameters()),
                     lambda x, t: mnet.forward(x, weights=hnet.forward(cond_id=t)))


def _plain_mlp(sizes) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes, sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def hyperlight_full(sizes, num_tasks: int, emb: int, hidden) -> Contender:
    """HyperLight ``HyperNet`` (MLP, one output layer) over ``hypernetize``d target; learned task
    embeddings, ``encoding=None`` (its cos|sin encoding expects inputs in [0, 1])."""
    import hyperlight as hl
    base = _plain_mlp(sizes)
    main = hl.hypernetize(base, parameters=list(base.parameters()))
    hnet = hl.HyperNet(input_shapes={"task": (emb,)}, output_shapes=main.external_shapes(),
                       hidden_sizes=list(hidden), encoding=None)
    table = nn.Embedding(num_tasks, emb)

    def logits(x, t):
        weights = hnet(task=table.weight[t:t + 1])
        with main.using_externals(weights):
            return main(x)

    return Contender("HyperLight HyperNet", [*hnet.parameters(), *table.parameters()], logits)


def hypernn_full(sizes, num_tasks: int, emb: int, hidden) -> Contender:
    """hyper-nn: a ``TorchHyperNetwork`` subclass (task embedding -> MLP -> all weights), its
    documented extension point."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from hypernn.torch.hypernet import TorchHyperNetwork

    class TaskHyperNet(TorchHyperNetwork):
        def __init__(self):
            super().__init__(_plain_mlp(sizes))
            self.table = nn.Embedding(num_tasks, emb)
            widths = [emb, *hidden]
            body: list[nn.Module] = []
            for a, b in zip(widths, widths[1:]):
                body += [nn.Linear(a, b), nn.ReLU()]
            self.body = nn.Sequential(*body, nn.Linear(widths[-1], self.num_target_parameters))

        def generate_params(self, task):
            return self.body(self.table.weight[task]), {}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hnet = TaskHyperNet()

    def logits(x, t):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return hnet(x, generate_params_kwargs={"task": t})

    return Contender("hyper-nn", [p for n, p in hnet.named_parameters() if "dummy" not in n], logits)
