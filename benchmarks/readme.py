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
import importlib
import re
import sys
from collections.abc import Callable
from pathlib import Path

from benchmarks.tables import ROOT, Context, goals_table, markdown_table, times

__all__ = ["DOCUMENTS", "TABLES", "main", "render"]

#: the files whose marked tables are generated (paths relative to the repository)
DOCUMENTS = ("README.md", "docs")
MARKER = re.compile(r"<!-- table:(?P<name>[\w-]+) -->\n(?P<body>.*?)<!-- /table:(?P=name) -->",
                    re.DOTALL)


# --- core benchmark (results/core/bench_core.json) -----------------------------------------------

def core_training(ctx: Context) -> str:
    rows = ctx.load("core/bench_core.json")["training"]
    return markdown_table([{
        "model": r["model"], "trainable params": f"{r['params']:,}", "step ms": f"{r['step_ms']:.3g}",
        "× plain": times(r["x_plain"]), "× fastest peer (same fused Adam)": times(r.get("x_fastest_peer")),
        "× fastest peer (torch's default Adam)": times(r.get("x_fastest_peer_default_adam")),
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
        "speed-up vs loop": f"{e['speedup_vs_loop']:.1f}×", "× hand-written": times(e["x_handwritten"])}
        for e in ctx.load("core/bench_core.json")["ensemble"]])


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


#: the areas in the order of the README's applications table; each may ship ``<area>/tables.py``
AREAS = ("continual", "uncertainty", "hyperparams", "tabular", "sequence", "graph", "adapters",
         "federated", "physics", "pruning", "zeroshot", "rl", "diffusion")


def _area_tables() -> list:
    return [importlib.import_module(f"benchmarks.{area}.tables") for area in AREAS
            if (ROOT / "benchmarks" / area / "tables.py").is_file()]


APPLICATIONS = (("core: any `nn.Module`, every design axis", "hyperweights", "docs/results.md",
                 _core_headline),) + tuple(module.HEADLINE for module in _area_tables())


def applications(ctx: Context) -> str:
    return markdown_table([{"application": name, "module": ", ".join(f"`{m}`" for m in module.split(", ")), "headline (measured)": head(ctx),
                            "docs": f"[{Path(doc).stem}]({ctx.link(doc)})"}
                           for name, module, doc, head in APPLICATIONS])


TABLES: dict[str, Callable[[Context], str]] = {
    "applications": applications, "core-machine": core_machine, "core-training": core_training,
    "core-default-seeds": core_default_seeds, "core-per-sample": core_per_sample,
    "core-ensemble": core_ensemble, "core-goals": core_goals, "demo": demo,
}
for _module in _area_tables():
    TABLES.update(_module.TABLES)


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
