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

__all__ = ["accuracy_table", "extras_table", "headline", "load", "configs_table"]

#: the earlier, shorter configurations of the same study (same seed, same tasks), kept as ablations
CONFIGS = {"diffusion_fashion_mnist_short.json": "VAE 500 / align 150 / diffusion 700 steps, latent 26x4",
           "diffusion_fashion_mnist_latent8.json": "VAE 2000 / align 300 / diffusion 1200 steps, latent 26x8",
           "diffusion_fashion_mnist.json": "VAE 1500 / align 300 / diffusion 1500 steps, latent 26x4 (main)"}

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
    rows += [{"measure": f"generated @0, guidance {scale}", "value": acc}
             for scale, acc in r.get("generated_accuracy_by_guidance", {}).items()]
    goals = [{"goal": g["goal"], "measured": g["measured"], "status": goal_status(g)} for g in data["goals"]]
    return markdown_table(rows) + "\n\n" + markdown_table(goals)


def configs_table(results: Path) -> str:
    """Generated accuracy and VAE reconstruction accuracy for each stored configuration."""
    rows = []
    for name, label in CONFIGS.items():
        path = Path(results) / "diffusion" / name
        if not path.is_file():
            continue
        r = json.loads(path.read_text())["runs"][0]
        rows.append({"configuration": label,
                     "VAE reconstruction acc": r["d2nwg"]["vae_reconstruction_accuracy"],
                     **{f"generated @{b}": r["mean"]["generated"][b] for b in ("0", "5", "25")}})
    return markdown_table(rows)


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
    print(accuracy_table(data), extras_table(data), configs_table(root), headline(data), sep="\n\n")
