"""Every ```python block of docs/extending.md runs: the blocks of one ``##`` section share a fresh
namespace and run in order, in a temporary working directory, so each section is a complete
program and the page cannot go stale."""

import os
import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


def sections(text: str) -> dict[str, list[tuple[int, str]]]:
    """``{section title: [(line number, code), ...]}`` for the page's python blocks."""
    found: dict[str, list[tuple[int, str]]] = {}
    fence = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
    heading = re.compile(r"^## (.+)$", re.M)
    headings = [(m.start(), m.group(1).strip()) for m in heading.finditer(text)]
    for block in fence.finditer(text):
        title = next((t for start, t in reversed(headings) if start < block.start()), "(preamble)")
        line = text.count("\n", 0, block.start(1)) + 1
        found.setdefault(title, []).append((line, block.group(1)))
    return found


SECTIONS = sections(PAGE.read_text())


def test_the_page_has_the_sections_the_contract_promises():
    for title in ("A custom head", "A custom conditioner", "A custom parametrization",
                  "A new application"):
        assert title in SECTIONS, f"docs/extending.md has no python example under '## {title}'"


@pytest.mark.parametrize("title", list(SECTIONS))
def test_section_runs(title, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    slug = re.sub(r"\W+", "_", title).lower()
    namespace = {"__name__": f"docs_extending_{slug}"}
    for line, code in SECTIONS[title]:
        # compiled with the page's line numbers, so a traceback points into the .md file
        exec(compile("\n" * (line - 1) + code, str(PAGE), "exec"), namespace)
    assert os.getcwd() == str(tmp_path)
