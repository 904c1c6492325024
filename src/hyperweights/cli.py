"""``hyperweights`` command line: the demo, the benchmarks and the recipes.

Each command lives in its own module, imported only when it runs, which exposes
``add_arguments(parser)`` and ``main(args) -> int | None``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

__all__ = ["main", "COMMANDS", "BENCHMARKS"]

#: top-level commands -> module
COMMANDS = {
    "demo": ("hyperweights.demo", "tour of the design axes on scikit-learn's digits (< 2 min)"),
    "inspect": ("hyperweights.inspect", "list which parameters of a model a selection generates"),
    "continual": ("hyperweights.continual.cli", "continual-learning runs (HNET, HyperInterval, RNN)"),
}

#: `hyperweights bench NAME` -> module
BENCHMARKS = {
    "core": ("benchmarks.core", "core speed vs plain MLP and peer libraries"),
    "continual": ("benchmarks.continual.bench", "continual learning vs baselines and hypnettorch"),
    "uncertainty": ("benchmarks.uncertainty.bench", "implicit/Bayesian hypernetworks vs ensembles"),
    "hyperparams": ("benchmarks.hyperparams.bench", "sweep fidelity, Self-Tuning Networks, MIP study"),
    "tabular": ("benchmarks.tabular.bench", "HyperTab vs trees, MLP and the reference package"),
    "sequence": ("benchmarks.sequence.bench", "recurrent targets per sample, HyperLSTM char-LM"),
}


def _benchmarks_on_path() -> None:
    """Benchmarks live in the source repository's ``benchmarks/`` folder, not in the wheel: put the
    repository (this package's checkout, else the working directory) on ``sys.path``."""
    here = Path(__file__).resolve().parents[2]
    for root in (here, Path.cwd()):
        if (root / "benchmarks" / "__init__.py").is_file():
            if str(root) not in sys.path:
                sys.path.insert(0, str(root))
            return
    raise SystemExit(
        "hyperweights bench: the benchmarks are not installed with the package; run this command "
        "from a clone of the hyperweights repository (it needs its benchmarks/ folder)"
    )


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
    if "bench" in argv:
        _benchmarks_on_path()
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
