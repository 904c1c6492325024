"""Issue 19's fidelity study: the same runs before and after making HNET and HyperInterval follow
their papers' official code, same seeds, same data.

Each study is one learner on one protocol; ``--label`` names the code version that ran it (run it
once from the commit before the change with ``--label old`` and once after with ``--label new``).
Every row records the learner's ``config()``, so the two files say which settings they used.

    python -m benchmarks.continual.fidelity --label new --threads 1   # from the repository root
    (the same with --label old from a checkout of the commit before the change, 4c2cc85)

Writes ``results/continual/fidelity_<label>.json``.
"""

from __future__ import annotations

import argparse
import time

import torch

from hyperweights.bench import write_results

from .bench import _protocol, _run

__all__ = ["STUDIES", "add_arguments", "main"]

#: study -> (protocol kind, dataset, steps per task, CL1 test images per task, learner, options)
STUDIES = {
    "hnet_split_mnist5k": ("split", "mnist5k", 400, None, "hnet", {"feature_scale": 1.0}),
    "hnet_permuted_fashion": ("permuted", "fashion_mnist", 300, 2000, "hnet",
                              {"beta": 0.05, "feature_scale": None, "trunk_hidden": (100, 100)}),
    "hyperinterval_split_mnist5k": ("split", "mnist5k", 400, None, "hyperinterval", {"feature_scale": 1.0}),
    "hyperinterval_nested_split_fashion": ("split", "fashion_mnist", 500, None, "hyperinterval",
                                           {"nesting": True, "feature_scale": 1.0}),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--label", required=True, help="the code version (e.g. old, new)")
    parser.add_argument("--studies", nargs="*", default=list(STUDIES), choices=list(STUDIES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-dir", default=None)


def main(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    rows = []
    for study in args.studies:
        kind, dataset, steps, limit, name, opts = STUDIES[study]
        protocol = _protocol(kind, dataset, False, data_dir=args.data_dir)
        for seed in args.seeds:
            tic = time.perf_counter()
            row = _run(name, protocol, steps, seed=seed, eval_limit=limit, cl3=False, **dict(opts))
            rows.append({"study": study, **row})
            print(f"  {args.label} {study} seed {seed}: final {row['final_avg']:.4f} "
                  f"universal {row.get('universal_acc', '-')} ({time.perf_counter() - tic:.0f} s)",
                  flush=True)
            write_results(f"continual/fidelity_{args.label}", {"label": args.label, "rows": rows})
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    raise SystemExit(main(parser.parse_args()))
