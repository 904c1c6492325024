"""Why HyperFL's compact heads learn slowly: a measurement of each head at initialisation.

``diagnose(...)`` builds HyperFL with every head of the grid and, on one client's minibatch of the
benchmark's data, measures per generated tensor (conv1, conv2, fc1):

- ``std``: the generated weights' standard deviation, beside PyTorch's default initialisation of
  the same CNN (``torch_std``);
- ``grad``: the loss gradient on the generated tensor, ``|dL/dw|``;
- ``gain``: the first-order loss decrease of one SGD step on the hypernetwork's parameters over
  that of one SGD step of the same lr on the weights themselves: ``(g_w . J J^T g_w) / |g_w|^2``,
  measured with a step on the hypernetwork (``Delta w = w(phi - lr dL/dphi) - w(phi)``) as
  ``-g_w . Delta w / (lr |g_w|^2)``. ``1`` means the hypernetwork trains that tensor as fast as a
  plain network would; far below ``1`` means a too small effective learning rate;
- ``cosine``: the cosine of that step ``Delta w`` with the plain step ``-g_w`` (``1``: the
  hypernetwork steps where a plain network would; near ``0``: the step is mostly crosstalk from
  other tensors' gradients, e.g. through rows shared by every chunk), and ``step_over_plain``
  ``|Delta w| / (lr |g_w|)``;

and per head: the norm of the gradient reaching the hypernetwork's parameters (the local SGD clips
it at ``Schedule.clip``), and for the chunked head the mean cosine similarity of the trunk features
of different chunks (near ``1``: every chunk is emitted from nearly the same features).
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch.func import functional_call

from hyperweights.federated import build_method

__all__ = ["diagnose", "SWEEP", "variant"]

#: the heads' entries as they were before the sweep: the core's defaults, only the head changed
CORE_DEFAULTS = {
    "hyperfl_chunked": ("hyperfl", {"head": "ChunkedHead", "head_options": {"chunk_size": 2048}}),
    "hyperfl_lowrank": ("hyperfl", {"head": "LowRankHead", "head_options": {"rank": 4}}),
}


def variant(head: str, head_options: dict, lr: float, init: str = "target_stats", feature_scale: float | None = None,
            hidden: tuple[int, ...] | None = None) -> tuple[str, dict]:
    """A HyperFL grid entry: the head, the local SGD lr, the hypernetwork's init / feature scale
    and (if given) its trunk's hidden widths."""
    hnet = {"init": init, **({} if feature_scale is None else {"feature_scale": feature_scale})}
    trunk = {} if hidden is None else {"hidden": list(hidden)}
    return "hyperfl", {"head": head, "head_options": head_options, "hnet_options": hnet, "schedule": {"lr": lr}, **trunk}


_CHUNK, _CHUNK_WIDE, _RANK = {"chunk_size": 2048}, {"chunk_size": 2048, "embedding_dim": 256}, {"rank": 4}
#: ``--parts heads``: the variants measured at the selection seed (name -> grid entry)
SWEEP = {
    **{f"{k}_core": v for k, v in CORE_DEFAULTS.items()},
    "chunked_lr0.1": variant("ChunkedHead", _CHUNK, 0.1),
    "lowrank_lr0.1": variant("LowRankHead", _RANK, 0.1),
    "chunked_hyperfan_fs1_lr0.002": variant("ChunkedHead", _CHUNK, 0.002, "hyperfan_in", 1.0),
    **{f"chunked_emb256_hyperfan_fs1_lr{lr}": variant("ChunkedHead", _CHUNK_WIDE, lr, "hyperfan_in", 1.0)
       for lr in (0.001, 0.002, 0.004)},
    **{f"lowrank_hyperfan_fs1_lr{lr}": variant("LowRankHead", _RANK, lr, "hyperfan_in", 1.0)
       for lr in (0.001, 0.002, 0.004)},
    "pertensor_hyperfan_fs1_lr0.002": variant("PerTensorHead", {}, 0.002, "hyperfan_in", 1.0),
    "lowrank_fs1_lr0.002": variant("LowRankHead", _RANK, 0.002, "target_stats", 1.0),
    **{f"lowrank_r6_hyperfan_fs1_lr{lr}": variant("LowRankHead", {"rank": 6}, lr, "hyperfan_in", 1.0)
       for lr in (0.001, 0.002)},
    "lowrank_r12_trunk64_hyperfan_fs1_lr0.002": variant("LowRankHead", {"rank": 12}, 0.002, "hyperfan_in", 1.0, (64,)),
}


def _loss_of_weights(method, weights, head, x, y):
    params = {**weights, **head}
    return F.cross_entropy(functional_call(method.target, params, (x,)), y)


def diagnose(x, y, grid: dict, seed: int = 0, default_lr: float = 0.02, cnn: dict | None = None) -> dict:
    """Measure every HyperFL entry of ``grid`` (name -> ``(method, options)``) on one minibatch
    ``x: (B, 784)``, ``y: (B,)``; returns ``{name: {...}}`` (see the module docstring). Each entry
    steps at its own schedule lr (``default_lr`` if it sets none); ``effective_lr = gain * lr`` is
    the lr a plain network would need for the same first-order loss decrease."""
    torch_init = {k: v.detach() for k, v in build_method("fedavg", seed=seed, cnn=cnn).target.named_parameters()}
    out = {}
    for name, (method_name, options) in grid.items():
        if method_name != "hyperfl":
            continue
        lr = options.get("schedule", {}).get("lr", default_lr)   # the entry's own local lr
        options = {k: v for k, v in options.items() if k != "schedule"}
        method = build_method(method_name, seed=seed, cnn=cnn, **options)
        server = {k: v.detach().clone().requires_grad_(True) for k, v in method.init_server().items()}
        private = method.init_clients(torch.tensor([0]), 20)
        embedding = private["embedding"][0]
        head = {k: v[0] for k, v in private.items() if k != "embedding"}
        weights = method.extractor(server, embedding)
        leaves = {k: w.detach().requires_grad_(True) for k, w in weights.items()}
        g_w = torch.autograd.grad(_loss_of_weights(method, leaves, head, x, y), list(leaves.values()))
        g_w = dict(zip(leaves, g_w))
        loss = _loss_of_weights(method, method.extractor(server, embedding), head, x, y)
        g_phi = dict(zip(server, torch.autograd.grad(loss, list(server.values()))))
        with torch.no_grad():
            stepped = method.extractor({k: v - lr * g_phi[k] for k, v in server.items()}, embedding)
        tensors = {}
        for k, w in weights.items():
            delta = stepped[k] - w.detach()
            tensors[k] = {"std": w.detach().std().item(), "torch_std": torch_init[k].std().item(),
                          "mean": w.detach().mean().item(), "grad": g_w[k].norm().item(),
                          "gain": (-(g_w[k] * delta).sum() / (lr * g_w[k].pow(2).sum())).item(),
                          "effective_lr": (-(g_w[k] * delta).sum() / g_w[k].pow(2).sum()).item(),
                          "cosine": F.cosine_similarity(-g_w[k].flatten(), delta.flatten(), dim=0).item(),
                          "step_over_plain": (delta.norm() / (lr * g_w[k].norm())).item()}
        total_w = sum(g.pow(2).sum() for g in g_w.values())
        total_gain = -sum((g_w[k] * (stepped[k] - weights[k].detach())).sum() for k in g_w) / (lr * total_w)
        row = {"tensors": tensors, "hnet_grad_norm": torch.sqrt(sum(g.pow(2).sum() for g in g_phi.values())).item(),
               "hnet_grad_norms": {k: g.norm().item() for k, g in g_phi.items()},
               "gain_all": total_gain.item(), "effective_lr_all": lr * total_gain.item(), "lr": lr,
               "upload_scalars": sum(v.numel() for v in server.values())}
        hnet = method.hnet
        if hnet.head.tokens is not None:
            with torch.no_grad():
                feats = hnet.features(embedding.unsqueeze(0))[0]             # (N, d_h)
                unit = F.normalize(feats, dim=-1)
                cos = unit @ unit.T
                n = cos.shape[0]
                row["chunk_feature_cosine"] = ((cos.sum() - n) / (n * (n - 1))).item()
        out[name] = row
    return out


def sweep(args, sizes, device, accuracy, write) -> dict:
    """``--parts heads``: :func:`diagnose` of the chosen grid entries and of the core defaults on
    client 0's first minibatch, then ``accuracy`` (the bench's runner) over the ``--head-variants``
    of :data:`SWEEP` at the given seeds (the selection seed: 0)."""
    from hyperweights.data import load_dataset
    from hyperweights.federated import partition

    from .bench import METHOD_GRID, SPLITS
    split = load_dataset(sizes["dataset"], seed=0)
    scheme, kw = SPLITS[args.splits[0]]
    clients = int(sizes["federations"][0].split("x")[0])
    data = partition(split, scheme, clients, train_per_client=sizes["train"], test_per_client=sizes["test"], seed=0, **kw)
    batch = min(50, sizes["train"])
    grid = {**{f"{k}_core": v for k, v in CORE_DEFAULTS.items()},
            **{k: v for k, v in METHOD_GRID.items() if v[0] == "hyperfl"}}
    result = {"diagnosis": diagnose(data.x_train[0, :batch], data.y_train[0, :batch], grid, cnn=sizes["cnn"])}
    write(result)
    variants = {name: SWEEP[name] for name in args.head_variants}
    if not variants:
        return result
    runs = accuracy(argparse.Namespace(**{**vars(args), "methods": list(variants)}), sizes, device, grid=variants,
                    on_run=lambda part: write({**result, "sweep": part}))
    result["sweep"] = {**runs, "grid": {k: list(v) for k, v in variants.items()}}
    return result

