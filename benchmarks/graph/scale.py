"""The scale run: predict every parameter of a GPT-2-small-shaped model (``GPT2Config()``, 124M
parameters, built randomly, no download) with a graph hypernetwork of at most 2M parameters,
streaming shape group by shape group into the model. Run in its own process so that its peak
resident memory is its own: ``python -m benchmarks.graph.scale OUT.json [--smoke]``.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time


def _rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024        # KiB on Linux


def run(smoke: bool, allocation: str = "empty") -> dict:
    """One measurement. ``allocation="empty"``: the target is built on the meta device and
    allocated uninitialised (``to_empty``), since every parameter is predicted anyway;
    ``"hf_init"``: built normally, with transformers' own random initialisation first."""
    import warnings

    import torch
    import transformers

    from hyperweights.graph import GraphHyperNetwork, model_graph, predict_parameters
    torch.set_num_threads(1)
    baseline = _rss_mb()
    config = (transformers.GPT2Config(n_layer=2, n_embd=64, n_head=2, vocab_size=500, n_positions=64)
              if smoke else transformers.GPT2Config())
    torch.manual_seed(0)
    tic = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # transformers' notices about its own defaults
        if allocation == "empty":
            with torch.device("meta"):
                model = transformers.GPT2LMHeadModel(config)
            # the graph of the meta model is the model's graph, and its forward pass costs nothing
            tic_graph = time.perf_counter()
            graph = model_graph(model, torch.zeros(1, 8, dtype=torch.long, device="meta"))
            graph_s = time.perf_counter() - tic_graph
            model = model.to_empty(device="cpu")
            model.tie_weights()                  # to_empty unties the LM head from the embedding
        else:
            model = transformers.GPT2LMHeadModel(config)
    tied = model.lm_head.weight is model.transformer.wte.weight
    build_s = time.perf_counter() - tic
    target_params = sum(p.numel() for p in model.parameters())
    target_mb = target_params * 4 / 2 ** 20
    after_model = _rss_mb()
    widest = max(max(p.shape) for p in model.parameters() if p.ndim == 2 and max(p.shape) < 10_000)
    ghn = GraphHyperNetwork(hidden=64, gnn="graphormer", layers=3, heads=4, decoder="lowrank", rank=32,
                            max_ck=widest, cutoff=50)
    ghn_params = sum(p.numel() for p in ghn.parameters())
    ids = torch.randint(0, config.vocab_size, (1, 8))
    if allocation != "empty":
        tic = time.perf_counter()
        graph = model_graph(model, ids)
        graph_s = time.perf_counter() - tic
    after_graph, peak_graph = _rss_mb(), _peak_mb()
    tic = time.perf_counter()
    predict_parameters(ghn, model, graph=graph, max_elements=1 << 20)
    predict_s = time.perf_counter() - tic
    peak = _peak_mb()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logits = model(ids).logits
    return {
        "target": "GPT2LMHeadModel(GPT2Config())" if not smoke else "GPT2LMHeadModel(tiny)",
        "allocation": allocation, "tied_lm_head": tied, "buffers": len(list(model.buffers())),
        "target_params": target_params, "target_fp32_mb": round(target_mb, 1),
        "ghn_params": ghn_params, "ghn_config": ghn.config, "graph_nodes": graph.num_nodes,
        "graph_method": graph.method, "build_target_s": round(build_s, 1), "graph_s": round(graph_s, 2),
        "predict_s": round(predict_s, 2), "max_elements": 1 << 20, "rss_after_imports_mb": round(baseline, 1),
        "rss_after_target_mb": round(after_model, 1), "rss_after_graph_mb": round(after_graph, 1),
        "peak_rss_after_graph_mb": round(peak_graph, 1), "peak_rss_mb": round(peak, 1),
        "peak_over_imports_mb": round(peak - baseline, 1),
        "peak_over_imports_x_target": round((peak - baseline) / target_mb, 3),
        "peak_x_target": round(peak / target_mb, 3),
        "outputs_finite": bool(torch.isfinite(logits).all()),
        "note": "the GHN is untrained here: this run measures time and memory, not quality",
    }


if __name__ == "__main__":
    out = run("--smoke" in sys.argv, "hf_init" if "--hf-init" in sys.argv else "empty")
    with open(sys.argv[1], "w") as f:
        json.dump(out, f, indent=2)
