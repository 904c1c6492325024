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

#: configurations of the same study (same seed-0 tasks and held-out draw; the ablations are seed 0,
#: the main files hold seed 0 first), in the order they were run
CONFIGS = {"diffusion_fashion_mnist_short.json": "VAE 500 / align 150 / diffusion 700 steps, latent 26x4",
           "diffusion_fashion_mnist_latent8.json": "VAE 2000 / align 300 / diffusion 1200 steps, latent 26x8",
           "diffusion_fashion_mnist_mse.json": "VAE 1500 / align 300 / diffusion 1500 steps, latent 26x4, "
                                               "weight-space MSE alone (the previous main run)",
           "diffusion_fashion_mnist.json": "the same + functional reconstruction loss, weight 10 (main)"}
MNIST5K_CONFIGS = {"diffusion_mnist5k_mse.json": "weight-space MSE alone (the previous run)",
                   "diffusion_mnist5k.json": "+ functional reconstruction loss, weight 10 (main)"}

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


def _per_seed(values: list, fmt: str = "{}") -> str:
    """The mean over seeds, and each seed's value when there are several."""
    mean = sum(values) / len(values)
    text = fmt.format(round(mean, 3) if fmt == "{}" else mean)
    return text if len(values) == 1 else f"{text} ({', '.join(fmt.format(v) for v in values)})"


def extras_table(data: dict) -> str:
    """Zoo, VAE reconstruction, timing (means over seeds, and per seed), and the goals."""
    runs = data["runs"]
    each = lambda f: [f(r) for r in runs]                                    # noqa: E731
    samples = each(lambda r: round(sum(r["generated_samples_accuracy"]) / len(r["generated_samples_accuracy"]), 3))
    rows = [{"measure": "zoo members (train tasks x seeds)", "value": runs[0]["zoo"]["members"]},
            {"measure": "zoo mean test accuracy (own tasks)",
             "value": _per_seed(each(lambda r: r["zoo"]["test_accuracy_mean"]))},
            {"measure": "VAE: accuracy of decoded zoo weights",
             "value": _per_seed(each(lambda r: r["d2nwg"]["vae_reconstruction_accuracy"]))},
            {"measure": "VAE: reconstruction MSE per weight",
             "value": _per_seed(each(lambda r: r["d2nwg"]["vae_reconstruction_mse"]), "{:.2e}")},
            {"measure": "generated, mean over all K samples @0", "value": _per_seed(samples)},
            {"measure": f"zoo training, {runs[0]['zoo_timing']['members']} members: batched vs loop",
             "value": _per_seed(each(lambda r: r["zoo_timing"]["speedup"]), "{:.2f}x")},
            {"measure": "D2NWG training seconds (3 stages)",
             "value": _per_seed(each(lambda r: r["d2nwg"]["train_seconds"]), "{:.0f}")}]
    for scale in runs[0].get("generated_accuracy_by_guidance", {}):
        rows.append({"measure": f"generated @0, guidance {scale}",
                     "value": _per_seed(each(lambda r: r["generated_accuracy_by_guidance"][scale]))})
    goals = [{"goal": g["goal"], "measured": g["measured"], "status": goal_status(g)} for g in data["goals"]]
    return markdown_table(rows) + "\n\n" + markdown_table(goals)


def configs_table(results: Path, configs: dict[str, str] = CONFIGS) -> str:
    """Generated accuracy and VAE reconstruction accuracy at seed 0 for each stored configuration."""
    rows = []
    for name, label in configs.items():
        path = Path(results) / "diffusion" / name
        if not path.is_file():
            continue
        r = json.loads(path.read_text())["runs"][0]
        rows.append({"configuration": label,
                     "VAE reconstruction acc": r["d2nwg"]["vae_reconstruction_accuracy"],
                     **{f"generated @{b}": r["mean"]["generated"][b] for b in ("0", "5", "25")},
                     "nearest zoo @0": r["mean"]["nearest_zoo"]["0"]})
    return markdown_table(rows)


def headline(data: dict) -> str:
    runs = data["runs"]
    return (f"unseen Fashion-MNIST 5-class tasks, 0 fine-tuning steps: generated "
            f"{_mean(runs, 'generated', '0'):.2f} vs random {_mean(runs, 'random', '0'):.2f}, nearest zoo "
            f"{_mean(runs, 'nearest_zoo', '0'):.2f}, task-conditioned hypernetwork "
            f"{_mean(runs, 'hypernetwork', '0'):.2f}; zoo training batched "
            f"{sum(r['zoo_timing']['speedup'] for r in runs) / len(runs):.1f}x a loop "
            f"({len(runs)} seed{'s' if len(runs) > 1 else ''})")


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("results")
    data = load(root)
    print(accuracy_table(data), extras_table(data), configs_table(root),
          configs_table(root, MNIST5K_CONFIGS), headline(data), sep="\n\n")
