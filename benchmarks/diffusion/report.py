"""Tables of ``results/diffusion/*.json`` for docs/diffusion.md (and the README's headline).

``python -m benchmarks.diffusion.report`` prints them; ``benchmarks/readme.py`` can call
:func:`accuracy_table`, :func:`extras_table` and :func:`headline` with the results folder.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hyperweights.bench import markdown_table
from hyperweights.bench.goals import goal_status

__all__ = ["accuracy_table", "extras_table", "headline", "load"]

LABELS = {"generated": "D2NWG, best of K generated", "random": "random init",
          "nearest_zoo": "nearest zoo model (encoder)", "hypernetwork": "task-conditioned hypernetwork"}


def load(results: Path, dataset: str = "fashion_mnist") -> dict:
    return json.loads((Path(results) / "diffusion" / f"diffusion_{dataset}.json").read_text())


def _mean(runs, method, budget) -> float:
    return sum(r["mean"][method][budget] for r in runs) / len(runs)


def accuracy_table(data: dict) -> str:
    """Mean test accuracy on the held-out tasks at 0, 5 and 25 fine-tuning steps, per method."""
    runs = data["runs"]
    rows = [{"start": LABELS[m], **{f"{b} steps": round(_mean(runs, m, b), 3) for b in ("0", "5", "25")}}
            for m in LABELS]
    return markdown_table(rows)


def extras_table(data: dict) -> str:
    """Zoo, VAE reconstruction, timing, and the goals with their status."""
    runs = data["runs"]
    r = runs[0]
    rows = [{"measure": "zoo members (train tasks x seeds)", "value": r["zoo"]["members"]},
            {"measure": "zoo mean test accuracy (own tasks)", "value": r["zoo"]["test_accuracy_mean"]},
            {"measure": "VAE: accuracy of decoded zoo weights", "value": r["d2nwg"]["vae_reconstruction_accuracy"]},
            {"measure": "VAE: reconstruction MSE per weight", "value": f"{r['d2nwg']['vae_reconstruction_mse']:.2e}"},
            {"measure": "generated, mean over all K samples @0", "value":
             round(sum(r["generated_samples_accuracy"]) / len(r["generated_samples_accuracy"]), 3)},
            {"measure": f"zoo training, {r['zoo_timing']['members']} members: batched vs loop",
             "value": f"{r['zoo_timing']['speedup']}x"},
            {"measure": "D2NWG training seconds (3 stages)", "value": r["d2nwg"]["train_seconds"]}]
    goals = [{"goal": g["goal"], "measured": g["measured"], "status": goal_status(g)} for g in data["goals"]]
    return markdown_table(rows) + "\n\n" + markdown_table(goals)


def headline(data: dict) -> str:
    runs = data["runs"]
    return (f"unseen Fashion-MNIST 5-class tasks, 0 fine-tuning steps: generated "
            f"{_mean(runs, 'generated', '0'):.2f} vs random {_mean(runs, 'random', '0'):.2f}, nearest zoo "
            f"{_mean(runs, 'nearest_zoo', '0'):.2f}, task-conditioned hypernetwork "
            f"{_mean(runs, 'hypernetwork', '0'):.2f}; zoo training batched "
            f"{runs[0]['zoo_timing']['speedup']}x a loop")


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("results")
    data = load(root)
    print(accuracy_table(data), extras_table(data), headline(data), sep="\n\n")
