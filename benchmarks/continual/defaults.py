"""The one-default study (issue 11): the core ``feature_scale`` (``None`` = ``1/sqrt(d_h)``) against
the ``1.0`` the Split designs were tuned with, on validation splits (held-out training images,
never the test set), same seeds. An override is kept only where it wins here.

    python -m benchmarks.continual.defaults --threads 1

Writes ``results/continual/continual_defaults_val.json`` with per-seed rows and, per study, the mean of each
setting and how many seeds the override wins.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from hyperweights.bench import write_results

from .bench import _protocol, _run

__all__ = ["STUDIES", "main"]

#: study -> (protocol kind, dataset, held-out fraction, steps per task, learner, seeds)
STUDIES = {
    "hnet_split_mnist5k": ("split", "mnist5k", 0.2, 400, "hnet", (0, 1, 2)),
    "hyperinterval_split_mnist5k": ("split", "mnist5k", 0.2, 400, "hyperinterval", (0,)),
}
SCALES = {"core_default": None, "override_1.0": 1.0}


def _verdict(rows: list[dict]) -> dict:
    by = {label: [r["final_avg"] for r in rows if r["scale_label"] == label] for label in SCALES}
    wins = sum(o > c for o, c in zip(by["override_1.0"], by["core_default"]))
    means = {label: round(statistics.mean(v), 5) for label, v in by.items() if v}
    return {"per_seed": by, "mean": means, "override_wins_seeds": f"{wins}/{len(by['core_default'])}",
            "keep_override": bool(means and means["override_1.0"] > means["core_default"]
                                  and wins > len(by["core_default"]) / 2)}


def main(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    rows, verdicts = [], {}
    for study in args.studies:
        kind, dataset, fraction, steps, name, seeds = STUDIES[study]
        protocol = _protocol(kind, dataset, False, validation=fraction)
        for seed in seeds:
            for label, scale in SCALES.items():
                row = _run(name, protocol, steps, seed=seed, cl3=False, feature_scale=scale)
                rows.append({"study": study, "scale_label": label, **row})
                print(f"  {study} {label} seed {seed}: final {row['final_avg']:.4f}", flush=True)
                write_results("continual_defaults_val", {"rows": rows, "verdicts": verdicts})
        verdicts[study] = _verdict([r for r in rows if r["study"] == study])
        print(f"  {study}: {verdicts[study]}", flush=True)
        write_results("continual_defaults_val", {"rows": rows, "verdicts": verdicts})
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--studies", nargs="*", default=list(STUDIES), choices=list(STUDIES))
    parser.add_argument("--threads", type=int, default=1)
    raise SystemExit(main(parser.parse_args()))
