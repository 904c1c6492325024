"""The one-default study (issue 11): the core defaults against the overrides the continual designs
were tuned with, on validation splits (held-out training images, never the test set), same seeds.
An override is kept only where it wins here. Two knobs:

- ``feature_scale``: the core ``1/sqrt(d_h)`` (``None``) against ``1.0``;
- ``trunk``: the core trunk ``MLP()`` (hidden ``DEFAULT_HIDDEN``) against the ``(100, 32)`` trunk of
  the factory's HNET design.

    python -m benchmarks.continual.defaults --threads 1 [--knob trunk]

Writes ``results/continual/continual_defaults_val.json`` (``_trunk`` for the trunk knob) with
per-seed rows and, per study, the mean of each setting and how many seeds the override wins.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from hyperweights.bench import write_results
from hyperweights.trunks.mlp import DEFAULT_HIDDEN

from .bench import _protocol, _run

__all__ = ["STUDIES", "main"]

#: study -> (protocol kind, dataset, held-out fraction, steps per task, learner, seeds)
STUDIES = {
    "hnet_split_mnist5k": ("split", "mnist5k", 0.2, 400, "hnet", (0, 1, 2)),
    "hyperinterval_split_mnist5k": ("split", "mnist5k", 0.2, 400, "hyperinterval", (0,)),
}
#: knob -> {setting label -> learner options}; the first label is the core default
KNOBS = {
    "feature_scale": {"core_default": {"feature_scale": None}, "override_1.0": {"feature_scale": 1.0}},
    "trunk": {"core_default": {"trunk_hidden": DEFAULT_HIDDEN},
              "override_(100, 32)": {"trunk_hidden": (100, 32)}},
}
RESULT = {"feature_scale": "continual_defaults_val", "trunk": "continual_defaults_val_trunk"}


def _verdict(rows: list[dict], knob: str) -> dict:
    core, override = KNOBS[knob]
    by = {label: [r["final_avg"] for r in rows if r["scale_label"] == label] for label in KNOBS[knob]}
    wins = sum(o > c for o, c in zip(by[override], by[core]))
    means = {label: round(statistics.mean(v), 5) for label, v in by.items() if v}
    return {"per_seed": by, "mean": means, "override_wins_seeds": f"{wins}/{len(by[core])}",
            "keep_override": bool(means and means[override] > means[core] and wins > len(by[core]) / 2)}


def main(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    knob = args.knob
    rows, verdicts = [], {}
    for study in args.studies:
        kind, dataset, fraction, steps, name, seeds = STUDIES[study]
        protocol = _protocol(kind, dataset, False, validation=fraction)
        for seed in seeds:
            for label, options in KNOBS[knob].items():
                row = _run(name, protocol, steps, seed=seed, cl3=False, **options)
                rows.append({"study": study, "knob": knob, "scale_label": label, **row})
                print(f"  {study} {label} seed {seed}: final {row['final_avg']:.4f}", flush=True)
                write_results(RESULT[knob], {"rows": rows, "verdicts": verdicts})
        verdicts[study] = _verdict([r for r in rows if r["study"] == study], knob)
        print(f"  {study}: {verdicts[study]}", flush=True)
        write_results(RESULT[knob], {"rows": rows, "verdicts": verdicts})
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--studies", nargs="*", default=list(STUDIES), choices=list(STUDIES))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--knob", choices=list(KNOBS), default="feature_scale")
    raise SystemExit(main(parser.parse_args()))
