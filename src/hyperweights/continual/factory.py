"""Build any learner of this package by name, with the settings the CLI and the benchmark use."""

from __future__ import annotations

import hyperweights as hw

from .base import ContinualMethod

__all__ = ["METHODS", "build_method"]

#: name -> one-line description
METHODS = {
    "hnet": "task-embedding hypernetwork + batched output regularizer (von Oswald et al. 2020)",
    "hyperinterval": "interval embeddings + IBP, worst-case loss (Krukowski et al. 2024)",
    "rnn_hnet": "recurrent (dependency-preserving) hypernetwork with growth (Chandra et al. 2023)",
    "finetune": "one multi-head network, no protection",
    "ewc": "online EWC (Schwarz et al. 2018)",
    "separate": "one network per task",
    "joint": "multi-task training on all tasks seen so far",
}


def build_method(name: str, protocol, *, steps: int = 400, hidden=(100, 100), emb_dim: int = 32,
                 trunk_hidden=(100, 32), chunk_size: int = 4096, chunk_emb: int = 16,
                 beta: float = 0.01, subset: int | None = None, targets: str = "stored",
                 lookahead: bool = False, mask_heads: bool = False, ewc_lambda: float = 1e4,
                 eps: float = 1.0, nesting: bool = False, rnn_hidden: int = 32,
                 max_growth: int = 1, lr: float = 1e-3,
                 feature_scale: float | None = None, warm_start: bool = False,
                 train_past_embeddings: bool = False) -> ContinualMethod:
    """A learner for ``protocol`` (target ``D -> hidden -> 10``).

    ``feature_scale`` applies to our hypernetwork learners (hnet, hyperinterval, rnn_hnet):
    ``None`` = the core default ``1/sqrt(d_h)``, ``1.0`` = unscaled trunk features.
    ``warm_start`` (hnet only): each new task embedding starts as the previous task's;
    ``train_past_embeddings`` (hnet only): the optimizer also moves earlier tasks' embeddings.

    Example:
        >>> from hyperweights.data.protocols import make_protocol
        >>> p = make_protocol("split", "digits")
        >>> build_method("hnet", p).param_counts()["target"]
        17610
    """
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of {sorted(METHODS)}")
    classes = protocol.classes
    target = hw.mlp((protocol.num_features, *hidden, protocol.num_outputs))
    head = hw.ChunkedHead(chunk_size, chunk_emb)
    if name == "hnet":
        from .hnet import HNET
        return HNET(target, classes, emb_dim=emb_dim, trunk=hw.MLP(trunk_hidden), head=head, beta=beta,
                    targets=targets, subset=subset, lookahead=lookahead, mask_heads=mask_heads, lr=lr,
                    feature_scale=feature_scale, warm_start=warm_start,
                    train_past_embeddings=train_past_embeddings)
    if name == "hyperinterval":
        from .hyperinterval import HyperInterval
        return HyperInterval(target, classes, steps_per_task=steps, emb_dim=emb_dim, eps=eps, beta=beta,
                             nesting=nesting, trunk=hw.MLP(trunk_hidden), head=head, subset=subset, lr=lr,
                             feature_scale=feature_scale)
    if name == "rnn_hnet":
        from .rnn import RNNHNET
        return RNNHNET(target, classes, hidden=rnn_hidden, head=head, emb_dim=emb_dim, beta=beta,
                       subset=subset, max_growth=max_growth, lr=lr, feature_scale=feature_scale)
    from .baselines import FineTune, Joint, OnlineEWC, SeparateNetworks
    if name == "finetune":
        return FineTune(target, classes, lr=lr)
    if name == "ewc":
        return OnlineEWC(target, classes, lam=ewc_lambda, lr=lr)
    if name == "separate":
        return SeparateNetworks(target, classes, lr=lr)
    return Joint(target, classes, protocol, lr=lr)
