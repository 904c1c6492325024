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

    PYTHONPATH=src:. OMP_NUM_THREADS=1 python benchmarks/graph/diagnose.py base 600 digits
    PYTHONPATH=src:. OMP_NUM_THREADS=1 python benchmarks/graph/diagnose.py base 300 digits lr=5e-3
    PYTHONPATH=src:. OMP_NUM_THREADS=1 python benchmarks/graph/diagnose.py ck128 300 digits max_ck=128
"""

import sys, time, torch, copy, torch.nn.functional as F
from torch.func import functional_call
import hyperweights as hw
from hyperweights.graph import GraphHyperNetwork, family, model_graph, predict_parameters
from hyperweights.graph.train import calibrate_batchnorm, accuracy


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
        if i % (steps // 3) == 0:
            print(variant, ds, i, f"{time.time()-t:.0f}s", "loss", round(sum(losses[-20:])/20, 3), ev(), flush=True)


if __name__ == "__main__":
    main()
