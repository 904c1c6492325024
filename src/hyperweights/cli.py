"""``hyperweights`` command line: the demo, the benchmarks and the recipes.

Each command lives in its own module, imported only when it runs, which exposes
``add_arguments(parser)`` and ``main(args) -> int | None``.

Errors: a mistake in the command line or in what it names prints ONE line on stderr and exits
non-zero (2 for a usage error, 1 otherwise). A user error is an exception the library raises on
purpose: a ``ValueError``, ``TypeError``, ``LookupError``, ``FloatingPointError`` or
``RuntimeError`` raised by a ``raise`` statement in ``hyperweights`` or ``benchmarks`` code, or a
missing/unreadable file. Anything else is a bug and keeps its traceback; so does every error when
the environment variable ``HYPERWEIGHTS_TRACEBACK=1`` is set.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from pathlib import Path

__all__ = ["main", "COMMANDS", "BENCHMARKS", "is_user_error", "positive_int"]

_PACKAGE = Path(__file__).resolve().parent
_REPO = _PACKAGE.parents[1]
_DELIBERATE = (ValueError, TypeError, LookupError, FloatingPointError, RuntimeError)
_FILE_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)

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
    "graph": ("benchmarks.graph.bench", "graph hypernetworks on unseen architectures (GHN, LoGAH)"),
    "federated": ("benchmarks.federated.bench", "pFedHN / HyperFL vs FedAvg and Local, on Flower"),
    "federated-attack": ("benchmarks.federated.attack", "gradient inversion against FedAvg / HyperFL"),
    "adapters": ("benchmarks.adapters.bench", "generated LoRA / adapters for a frozen transformer"),
    "physics": ("benchmarks.physics.bench", "HyPINO-style PINNs vs per-PDE and Reptile PINNs"),
    "pruning": ("benchmarks.pruning.bench", "MetaPruning search vs uniform and L1 pruning"),
    "zeroshot": ("benchmarks.zeroshot.bench", "classifiers for unseen classes from descriptions"),
    "rl": ("benchmarks.rl.bench", "task-conditioned policies on held-out physics"),
    "diffusion": ("benchmarks.diffusion.bench", "weight diffusion (D2NWG) from a model zoo"),
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


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (argparse prints the usage block too)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def positive_int(text: str) -> int:
    """An argparse ``type`` for counts that must be >= 1 (steps, batch sizes, threads), so a bad
    value is a one-line usage error before any work.

    Example:
        >>> positive_int("3")
        3
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def is_user_error(err: BaseException) -> bool:
    """True for an error the library raised on purpose about its input (see the module docs)."""
    if isinstance(err, _FILE_ERRORS):
        return True
    if not isinstance(err, _DELIBERATE) or err.__traceback__ is None:
        return False
    frame = traceback.extract_tb(err.__traceback__)[-1]
    path = Path(frame.filename).resolve()
    ours = path.is_relative_to(_PACKAGE) or path.is_relative_to(_REPO / "benchmarks")
    return ours and (frame.line or "").lstrip().startswith("raise")


def _add_lazy(sub, name: str, module: str, help_text: str, argv: list[str]) -> None:
    parser = sub.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(_module=module)
    # Only the command being run is imported (its optional dependencies may be missing).
    if name in argv:
        importlib.import_module(module).add_arguments(parser)


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = _Parser(prog="hyperweights", description=__doc__.splitlines()[0])
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
    try:
        result = importlib.import_module(args._module).main(args)
    except Exception as err:
        if os.environ.get("HYPERWEIGHTS_TRACEBACK") or not is_user_error(err):
            raise
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"hyperweights {args.command}: error: {message}", file=sys.stderr)
        return 1
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
