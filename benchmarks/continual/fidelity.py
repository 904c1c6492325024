"""Issue 19's fidelity study: the same runs before and after making HNET and HyperInterval follow
their papers' official code, same seeds, same data.

Each study is one learner on one protocol; ``--label`` names the code version that ran it (run it
once from the commit before the change with ``--label old`` and once after with ``--label new``).
Every row records the learner's ``config()``, so the two files say which settings they used.

    python -m benchmarks.continual.fidelity --label new --threads 1   # from the repository root
    (the same with --label old from a checkout of the commit before the change, 4c2cc85)

Writes ``results/continual/continual_fidelity_<label>.json``; ``--summarize`` then reads the ``old`` and
``new`` files and writes ``results/continual/continual_fidelity.json``: per study and seed the two final
averages (and universal accuracies), their means, and the goal statuses computed from them with
per-seed counts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from hyperweights.bench import write_results
from hyperweights.bench.report import result_path

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


#: goals checked on the new code's rows: study -> (label, metric, threshold)
GOALS = {"hnet_split_mnist5k": ("Split-MNIST-5k CL1 final average >= 0.99", "final_avg", 0.99)}


def _mean(values):
    return round(statistics.mean(values), 5) if values else None


def summarize(old: list[dict], new: list[dict]) -> dict:
    """Per study: seeds run by both versions, per-seed values, means, and goal statuses."""
    studies = {}
    for study in dict.fromkeys(r["study"] for r in new):
        pick = {label: {r["seed"]: r for r in rows if r["study"] == study}
                for label, rows in (("old", old), ("new", new))}
        seeds = sorted(set(pick["old"]) & set(pick["new"]))
        entry = {"seeds": seeds, "lookahead": pick["new"][seeds[0]]["config"].get("lookahead") if seeds else None}
        for metric in ("final_avg", "forgetting", "universal_acc", "universal_box_width_mean"):
            if seeds and metric in pick["new"][seeds[0]]:
                per = {label: [pick[label][s][metric] for s in seeds] for label in ("old", "new")}
                entry[metric] = {**per, "mean_old": _mean(per["old"]), "mean_new": _mean(per["new"]),
                                 "new_minus_old": [round(n - o, 5) for o, n in zip(per["old"], per["new"])]}
        if study in GOALS and seeds:
            text, metric, threshold = GOALS[study]
            values = entry[metric]["new"]
            met = sum(v >= threshold for v in values)
            entry["goal"] = {"goal": text, "per_seed": values, "mean": _mean(values),
                             "met_seeds": f"{met}/{len(values)}",
                             "status": "met" if _mean(values) >= threshold and met == len(values)
                             else "met on the mean" if _mean(values) >= threshold else "not met"}
        studies[study] = entry
    return studies


def markdown(studies: dict) -> str:
    """The docs' table: one row per study, old and new per seed and their means."""
    lines = ["| study | seeds | look-ahead | metric | old (per seed) | new (per seed) | old mean | new mean |",
             "|---|---|---|---|---|---|---|---|"]
    for study, entry in studies.items():
        for metric in ("final_avg", "forgetting", "universal_acc", "universal_box_width_mean"):
            if metric not in entry:
                continue
            m = entry[metric]
            fmt = lambda v: " / ".join(f"{x:.4g}" for x in v)  # noqa: E731
            look = {None: "n/a", False: "off", True: "on"}[entry["lookahead"]]
            lines.append(f"| {study} | {len(entry['seeds'])} | {look} | {metric} | {fmt(m['old'])} | "
                         f"{fmt(m['new'])} | {m['mean_old']:.4g} | {m['mean_new']:.4g} |")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--label", default="new", help="the code version (e.g. old, new)")
    parser.add_argument("--summarize", action="store_true",
                        help="combine continual_fidelity_old.json and _new.json into continual_fidelity.json")
    parser.add_argument("--studies", nargs="*", default=list(STUDIES), choices=list(STUDIES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-dir", default=None)


def main(args: argparse.Namespace) -> int:
    if args.summarize:
        rows = {label: json.loads(result_path(f"continual_fidelity_{label}.json").read_text())["rows"]
                for label in ("old", "new")}
        out = summarize(rows["old"], rows["new"])
        write_results("continual_fidelity", {"studies": out, "old_commit": "4c2cc85", "new_commit": "dfc5f25"})
        print(markdown(out))
        return 0
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
            write_results(f"continual_fidelity_{args.label}", {"label": args.label, "rows": rows})
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    raise SystemExit(main(parser.parse_args()))
