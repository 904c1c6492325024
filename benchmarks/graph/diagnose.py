"""Diagnosis of the graph hypernetwork's zero-shot accuracy (digits, seconds per variant).

Not a benchmark (no goals, no JSON): the small experiments behind docs/graph.md's "Why zero-shot
was low" table. Trains the bench's GHN (Graphormer, hidden 64, 3 layers, low-rank r = 16,
ck = 1,024) on the family's 40 training architectures for ``steps`` steps (meta-batch 8, batch 64,
Adam, clipping 5, as ``hyperweights.graph.fit``) and prints zero-shot test accuracy on 3 held-out
architectures per split at a third, two thirds and all of the steps. Variants (first argument):
``base``; ``zeroemb`` (op-type embeddings initialised at zero, so unseen op types add nothing);
``cos`` (cosine learning-rate decay over the steps); ``logf`` (sinusoids of log2(1 + s) instead of
s in the shape code); ``tr`` (A and Bᵀ read as the transpose of the [2r, ck] code instead of
LoGAH's [2ck, r] view). Extra ``key=value`` arguments: ``lr`` and GraphHyperNetwork options.

Two variants diagnose the out-of-distribution splits after the last step instead:
``wider`` prints which of the decoder's 2r code rows training changed (the rows that serve ``A``
and ``Bᵀ`` rows past the widest trained layer never get a gradient), zero-shot accuracy against
width for MLPs, CNNs and ViTs with and without ``tile_untrained``, and, for a CNN of width 48
(trained: <= 32), which single tensor of the prediction breaks it against the tiled prediction of
width 32; ``unseen`` prints which op types the unseen-ops architectures add, their zero-shot
accuracy with those types' embeddings as trained / zeroed / set to the mean of the trained ones,
and for LayerNorm MLPs the accuracy of their predicted linear layers against those predicted for
the same MLP without LayerNorm (LayerNorm affine set to the identity in both).

    PYTHONPATH=src:. OMP_NUM_THREADS=1 python benchmarks/graph/diagnose.py wider 500 digits
    PYTHONPATH=src:. OMP_NUM_THREADS=1 python benchmarks/graph/diagnose.py unseen 500 digits
    PYTHONPATH=src:. OMP_NUM_THREADS=1 python benchmarks/graph/diagnose.py ood 500 digits   # both

    PYTHONPATH=src:. OMP_NUM_THREADS=1 python benchmarks/graph/diagnose.py base 600 digits
    PYTHONPATH=src:. OMP_NUM_THREADS=1 python benchmarks/graph/diagnose.py base 300 digits lr=5e-3
    PYTHONPATH=src:. OMP_NUM_THREADS=1 python benchmarks/graph/diagnose.py ck128 300 digits max_ck=128
"""

import sys, time, torch, copy, torch.nn.functional as F
from torch.func import functional_call
import hyperweights as hw
from hyperweights.graph import GraphHyperNetwork, family, model_graph, predict_parameters
from hyperweights.graph.graph import OP_TYPES
from hyperweights.graph.ghn import _tile_dims
from hyperweights.graph.train import calibrate_batchnorm, accuracy

KINDS = {"mlp": ((32, 64, 128, 192, 256, 384, 512), {"depth": 2}),
         "cnn": ((16, 32, 48, 64, 96), {"depth": 2, "residual": True}), "vit": ((16, 32, 48, 64, 96), {"depth": 1})}


def _score(ghn, data, model, state=None):
    if state is None:
        predict_parameters(ghn, model)
    else:
        model.load_state_dict(state)
    calibrate_batchnorm(model, data.x_train[:1024])
    return round(100 * accuracy(model, data.x_test, data.y_test), 1)


@torch.no_grad()
def per_parameter_tiling(ghn, model) -> dict:
    """The prediction with each parameter tiled by its own type's trained sizes only (no plan
    shared across the model), the first version of the fix."""
    graph = model_graph(model)
    h = ghn.embed([graph])[0]
    state = dict(model.state_dict())
    for node in graph.param_nodes():
        name, kind = graph.params[node], OP_TYPES[int(graph.types[node])]
        shape = graph.shape_of[name]
        plan = {s: ghn._trained_size(kind, d, s) for d, s in enumerate(shape[:4])}
        state[name] = ghn.decode(ghn.decoder.code(h[node:node + 1]), shape, [kind], plan)[0]
    return state


def wider(ghn, data, init_last) -> None:
    changed = (ghn.decoder.net[-1].weight.detach() - init_last).abs().sum(1).view(2 * ghn.decoder.rank, -1).sum(1)
    print("decoder code rows changed by training (first r: A, last r: B):", [int(v > 0) for v in changed.tolist()])
    build = lambda spec: family.build(spec, data.num_features, data.num_classes)   # noqa: E731
    for kind, (widths, kw) in KINDS.items():
        for tile in (False, True):
            ghn.tile_untrained = tile
            print(f"{kind} tile_untrained={tile}:", {w: _score(ghn, data, build(family.ArchSpec(kind, width=w, **kw)))
                                                    for w in widths}, flush=True)
    spec = lambda w: family.ArchSpec("cnn", 2, w, residual=True)                    # noqa: E731
    wide = per_parameter_tiling(ghn, build(spec(48)))
    oracle = {k: _tile_dims(v[None], tuple(wide[k].shape))[0]
              for k, v in predict_parameters(ghn, build(spec(32)), out="state_dict").items()}
    print("cnn 48: predicted, each tensor tiled by its own type's sizes", _score(ghn, data, build(spec(48)), wide),
          "| width-32 prediction tiled to 48",
          _score(ghn, data, build(spec(48)), oracle))
    for k in (k for k in wide if "running" not in k and "num_batches" not in k):
        print(f"  {k} {tuple(wide[k].shape)}: tiled width-32 prediction but this tensor as predicted for 48:",
              _score(ghn, data, build(spec(48)), {**oracle, k: wide[k]}), "| the 48 prediction but this tensor "
              "from the tiled width-32 one:", _score(ghn, data, build(spec(48)), {**wide, k: oracle[k]}), flush=True)


def unseen(ghn, data, graphs) -> None:
    build = lambda spec: family.build(spec, data.num_features, data.num_classes)   # noqa: E731
    specs = family.sample_family("unseen_ops", 6, seed=0)
    seen = sorted({t for g in graphs for t in g.types.tolist()})
    for spec in specs:
        new = {OP_TYPES[t] for t in model_graph(build(spec)).types.tolist()} - {OP_TYPES[t] for t in seen}
        print(f"{spec.kind} depth {spec.depth} width {spec.width}: op types unseen in training {sorted(new)}")
    table = ghn.encoder.type_embedding.weight
    trained = table.detach().clone()
    unknown = [i for i in range(len(OP_TYPES)) if i not in seen]
    for name, fill in (("as trained", trained[unknown]), ("zero", torch.zeros_like(trained[unknown])),
                       ("mean of trained", trained[seen].mean(0).expand(len(unknown), -1))):
        with torch.no_grad():
            table[unknown] = fill
        print(f"unseen types' embeddings {name}:", [_score(ghn, data, build(s)) for s in specs], flush=True)
    with torch.no_grad():
        table.copy_(trained)
    for depth, width in ((1, 96), (2, 32), (3, 128)):
        ln_spec = family.ArchSpec("mlp", depth, width, layer_norm=True)
        ln = predict_parameters(ghn, build(ln_spec), out="state_dict")
        plain = predict_parameters(ghn, build(family.ArchSpec("mlp", depth, width)), out="state_dict")
        norms = {k for k in ln if k.split(".")[0] in {str(3 * i + 1) for i in range(depth)}}
        identity = {k: torch.ones_like(v) if k.endswith("weight") else torch.zeros_like(v)
                    for k, v in ln.items() if k in norms}
        linears = dict(zip([k for k in ln if k not in norms], plain.values()))
        print(f"mlp {depth}x{width} + LayerNorm: predicted {_score(ghn, data, build(ln_spec), ln)} | its linears, "
              f"LN = identity {_score(ghn, data, build(ln_spec), {**ln, **identity})} | the plain MLP's predicted "
              f"linears, LN = identity {_score(ghn, data, build(ln_spec), {**ln, **identity, **linears})}", flush=True)


def main() -> None:
    torch.set_num_threads(1)
    variant = sys.argv[1]; steps = int(sys.argv[2]); ds = sys.argv[3] if len(sys.argv) > 3 else "digits"
    opts = dict(a.split("=") for a in sys.argv[4:]); lr = float(opts.pop("lr", 2e-3))
    data = hw.data.load_digits(seed=0) if ds == "digits" else hw.data.load_fashion_mnist(seed=0).subset(None, 2000)
    torch.manual_seed(0)
    if variant.startswith("tr"):
        from hyperweights.graph import decoders as D
        def code(self, h):
            r, ck = self.rank, self.max_ck
            z = self.up(torch.relu(self.net(h).view(-1, 2 * r, r)))
            return torch.cat([z[:, :r].transpose(1, 2), z[:, r:].transpose(1, 2)], 1)
        D.LowRankDecoder.code = code
    if "logf" in variant:
        from hyperweights.graph import gnn as G
        def enc_forward(self, batch):
            s = batch.shapes.float()
            logs = torch.log2(1 + s)
            angle = logs.unsqueeze(-1) * self.freq
            code = torch.cat([logs.unsqueeze(-1) / 4, angle.sin(), angle.cos()], -1)
            code = code * (s > 0).unsqueeze(-1)
            return self.type_embedding(batch.types) + self.shape_proj(code.flatten(-2))
        G.NodeEncoder.forward = enc_forward
    kw = dict(hidden=64, layers=3, heads=4, rank=16, max_ck=1024); kw.update({k: (v if k in ("gnn","decoder") else int(v)) for k, v in opts.items()})
    ghn = GraphHyperNetwork(**kw)
    init_last = ghn.decoder.net[-1].weight.detach().clone()
    if variant == "zeroemb":
        torch.nn.init.zeros_(ghn.encoder.type_embedding.weight)
    F_, C = data.num_features, data.num_classes
    archs = [family.build(s, F_, C) for s in family.sample_family("train", seed=0)]
    graphs = [model_graph(m) for m in archs]
    held = {sp: [family.build(s, F_, C) for s in family.sample_family(sp, 3, seed=0)] for sp in ("in_distribution","wider","deeper","unseen_ops")}
    opt = hw.make_optimizer(ghn.parameters(), lr)
    gen = torch.Generator().manual_seed(0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps) if 'cos' in variant else None
    x, y = data.x_train, data.y_train
    def ev():
        out = {}
        for sp, ms in held.items():
            accs = []
            for m in ms:
                m = predict_parameters(ghn, copy.deepcopy(m)); calibrate_batchnorm(m, x[:1024]); accs.append(accuracy(m, data.x_test, data.y_test))
            out[sp] = round(sum(accs)/len(accs), 3)
        return out
    t = time.time(); losses = []
    for i in range(1, steps + 1):
        chosen = torch.randperm(len(archs), generator=gen)[:8].tolist()
        idx = torch.randint(0, len(x), (64,), generator=gen)
        pred = ghn([graphs[c] for c in chosen])
        loss = torch.stack([F.cross_entropy(functional_call(archs[c], p, (x[idx],)), y[idx]) for c, p in zip(chosen, pred)]).mean()
        opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(ghn.parameters(), 5.0); opt.step()
        sched and sched.step()
        losses.append(loss.item())
        if variant in ("wider", "unseen", "ood"):
            continue
        if i % (steps // 3) == 0:
            print(variant, ds, i, f"{time.time()-t:.0f}s", "loss", round(sum(losses[-20:])/20, 3), ev(), flush=True)

    ghn.eval()
    if variant in ("wider", "ood"):
        wider(ghn, data, init_last)
    if variant in ("unseen", "ood"):
        unseen(ghn, data, graphs)


if __name__ == "__main__":
    main()
