"""The continual goals (issue #3), computed from a section's rows: per seed, then over seeds.

A goal is evaluated only when the section has the rows it compares (e.g. HNET and separate
networks at the same seed); each result says the per-seed values, how many seeds meet it and a
status: "met" (every seed), "met on the mean" (the mean does, some seed does not) or "not met".

    python -m benchmarks.continual.goals results/continual/continual_split_mnist5k_core_default.json

adds (or refreshes) the ``goals`` of a result file written before this module existed.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

__all__ = ["GOALS", "section_goals"]


#: section prefix -> [(goal text, reference method or None, per-seed test, mean test)]
GOALS = {
    "split_mnist5k": [
        ("HNET CL1 final average >= 0.99", None, lambda o, r: o["final_avg"] >= 0.99,
         lambda o, r: statistics.mean(x["final_avg"] for x in o) >= 0.99),
    ],
    "split_fashion": [
        ("HNET CL1 within 0.5 points of separate networks", "separate",
         lambda o, r: o["final_avg"] >= r["final_avg"] - 0.005,
         lambda o, r: _mean(o) >= _mean(r) - 0.005),
        ("HNET forgetting <= 0.3 points", None, lambda o, r: o["forgetting"] <= 0.003,
         lambda o, r: statistics.mean(x["forgetting"] for x in o) <= 0.003),
        ("HNET >= hypnettorch at identical settings", "hypnettorch",
         lambda o, r: o["final_avg"] >= r["final_avg"], lambda o, r: _mean(o) >= _mean(r)),
    ],
    "permuted_fashion": [
        ("HNET CL1 >= 95% of separate networks", "separate",
         lambda o, r: o["final_avg"] >= 0.95 * r["final_avg"], lambda o, r: _mean(o) >= 0.95 * _mean(r)),
    ],
}


def _mean(rows):
    return statistics.mean(r["final_avg"] for r in rows)


def section_goals(section: str, rows: list[dict]) -> list[dict]:
    """The goals of ``section`` that its ``rows`` can decide (HNET = the rows labelled ``hnet``)."""
    prefix = next((p for p in GOALS if section.startswith(p)), None)
    if prefix is None or "_val" in section:
        return []
    ours = {r["seed"]: r for r in rows if r["method"] == "hnet"}
    out = []
    for text, reference, per_seed, on_mean in GOALS[prefix]:
        refs = {r["seed"]: r for r in rows if r["method"] == reference} if reference else {}
        seeds = sorted(s for s in ours if reference is None or s in refs)
        if not seeds:
            continue
        met = [bool(per_seed(ours[s], refs.get(s))) for s in seeds]
        mean_ok = bool(on_mean([ours[s] for s in seeds], [refs[s] for s in seeds] if reference else None))
        out.append({"goal": text, "seeds": seeds, "hnet": [ours[s]["final_avg"] for s in seeds],
                    **({reference: [refs[s]["final_avg"] for s in seeds]} if reference else {}),
                    "met_seeds": f"{sum(met)}/{len(met)}",
                    "status": "met" if all(met) else "met on the mean" if mean_ok else "not met"})
    return out


if __name__ == "__main__":
    for name in sys.argv[1:]:
        path = Path(name)
        data = json.loads(path.read_text())
        data["goals"] = section_goals(data["benchmark"].removeprefix("continual_"), data["rows"])
        path.write_text(json.dumps(data, indent=2) + "\n")
        print(name, json.dumps(data["goals"], indent=1))
