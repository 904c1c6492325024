"""``hyperweights continual``: train one learner through a protocol, with checkpoints and resume.

Example (shell)::

    hyperweights continual --method hnet --protocol split --dataset mnist5k --steps 400 \\
        --checkpoint runs/hnet.safetensors --cl3
    hyperweights continual ... --checkpoint runs/hnet.safetensors --resume     # continue a run
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from ..cli import positive_int
from .factory import METHODS, build_method

__all__ = ["add_arguments", "main"]


def feature_scale_arg(text: str) -> float | None:
    """``--feature-scale``: a positive number, or ``auto`` for the core default ``1/sqrt(d_h)``."""
    if text.lower() == "auto":
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number or 'auto', got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", default="hnet", choices=sorted(METHODS))
    parser.add_argument("--protocol", default="split", choices=["split", "permuted"])
    parser.add_argument("--dataset", default="mnist5k", choices=["mnist5k", "fashion_mnist", "digits"])
    parser.add_argument("--num-tasks", type=int, default=None, help="Permuted only (default 10)")
    parser.add_argument("--data-dir", default=None, help="Fashion-MNIST IDX folder")
    parser.add_argument("--steps", type=positive_int, default=400, help="optimizer steps per task")
    parser.add_argument("--batch", type=positive_int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--beta", type=float, default=0.01, help="regularizer strength")
    parser.add_argument("--subset", type=int, default=None, help="earlier tasks regularized per step")
    parser.add_argument("--targets", default="stored", choices=["stored", "snapshot"])
    parser.add_argument("--lookahead", action="store_true")
    parser.add_argument("--mask-heads", action="store_true")
    parser.add_argument("--ewc-lambda", type=float, default=1e4)
    parser.add_argument("--emb-dim", type=int, default=32, help="task-embedding width")
    parser.add_argument("--trunk-hidden", type=int, nargs="+", default=[100, 32],
                        help="hypernetwork MLP trunk widths")
    parser.add_argument("--chunk-emb", type=int, default=16, help="chunk-embedding width")
    parser.add_argument("--feature-scale", type=feature_scale_arg, default=None,
                        help="factor on the trunk features before the head; 'auto' = 1/sqrt(d_h)")
    parser.add_argument("--warm-start", action="store_true",
                        help="HNET: a new task's embedding starts as the previous task's")
    parser.add_argument("--train-past-embeddings", action="store_true",
                        help="HNET: also optimise the earlier tasks' embeddings (not the paper's method)")
    parser.add_argument("--nesting", action="store_true", help="HyperInterval: sigma*cos centres")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads (default 1)")
    parser.add_argument("--checkpoint", default=None,
                        help="checkpoint file, written after every task (hw.load reads it)")
    parser.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    parser.add_argument("--stop-after", type=int, default=None, help="stop after this task")
    parser.add_argument("--eval-limit", type=int, default=None, help="test images per task")
    parser.add_argument("--cl3", action="store_true", help="also report CL3 (entropy task inference)")


def main(args: argparse.Namespace) -> int:
    """Run the command; a bad value or a missing file is one line on stderr and exit code 2."""
    try:
        return _run(args)
    except (ValueError, TypeError, IndexError, FileNotFoundError) as err:
        print(f"hyperweights continual: error: {err}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from ..data.protocols import make_protocol
    from .curriculum import ContinualConfig, fit

    torch.set_num_threads(args.threads)
    protocol = make_protocol(args.protocol, args.dataset, num_tasks=args.num_tasks, seed=args.seed,
                             data_dir=args.data_dir)
    torch.manual_seed(args.seed)
    method = build_method(args.method, protocol, steps=args.steps, beta=args.beta, subset=args.subset,
                          targets=args.targets, lookahead=args.lookahead, mask_heads=args.mask_heads,
                          ewc_lambda=args.ewc_lambda, nesting=args.nesting, lr=args.lr,
                          emb_dim=args.emb_dim, trunk_hidden=tuple(args.trunk_hidden),
                          chunk_emb=args.chunk_emb, feature_scale=args.feature_scale,
                          warm_start=args.warm_start, train_past_embeddings=args.train_past_embeddings)
    config = ContinualConfig(steps=args.steps, batch_size=args.batch, seed=args.seed, lr=args.lr,
                             checkpoint_path=args.checkpoint, resume=args.resume,
                             stop_after=args.stop_after, eval_limit=args.eval_limit, cl3=args.cl3)
    result = fit(method, protocol, config)
    n, acc = result.extra["completed"], result.extra["acc"]
    print(f"{method.name} on {protocol.name}: {n}/{protocol.num_tasks} tasks, "
          f"train {result.seconds:.1f} s, params {method.param_counts()}")
    print("accuracy matrix (row = task, column = after training task):")
    for i in range(n):
        print("  T%-3d " % i + " ".join("  .  " if j < i else f"{acc[i, j]:.3f}" for j in range(n)))
    print(json.dumps({**result.extra["summary"], **(result.extra["cl3"] or {})}))
    return 0
