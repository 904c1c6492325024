"""``hyperweights`` command line: the demo, the benchmarks and the recipes.

Each command lives in its own module, imported only when it runs, which exposes
``add_arguments(parser)`` and ``main(args) -> int | None``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main", "COMMANDS", "BENCHMARKS"]

#: top-level commands -> module
COMMANDS = {
    "demo": ("hyperweights.demo", "tour of the design axes on scikit-learn's digits (< 2 min)"),
    "inspect": ("hyperweights.inspect", "list which parameters of a model a selection generates"),
    "continual": ("hyperweights.continual.cli", "continual-learning runs (HNET, HyperInterval, RNN)"),
}

#: `hyperweights bench NAME` -> module
BENCHMARKS = {
    "core": ("hyperweights.bench.core", "core speed vs plain MLP and peer libraries"),
    "continual": ("hyperweights.continual.bench", "continual learning vs baselines and hypnettorch"),
    "uncertainty": ("hyperweights.uncertainty.bench", "implicit/Bayesian hypernetworks vs ensembles"),
    "hyperparams": ("hyperweights.hyperparams.bench", "sweep fidelity, Self-Tuning Networks, MIP study"),
    "tabular": ("hyperweights.tabular.bench", "HyperTab vs trees, MLP and the reference package"),
}


def _add_lazy(sub, name: str, module: str, help_text: str, argv: list[str]) -> None:
    parser = sub.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(_module=module)
    # Only the command being run is imported (its optional dependencies may be missing).
    if name in argv:
        importlib.import_module(module).add_arguments(parser)


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hyperweights", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, text) in COMMANDS.items():
        _add_lazy(sub, name, module, text, argv)
    bench = sub.add_parser("bench", help="run a benchmark and write results/<name>.json")
    bench_sub = bench.add_subparsers(dest="benchmark", required=True)
    for name, (module, text) in BENCHMARKS.items():
        _add_lazy(bench_sub, name, module, text, argv)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    result = importlib.import_module(args._module).main(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
