"""The docs' generated tables equal what `make readme` produces from results/ (no hand edits)."""

import json
import re

import pytest

from benchmarks import readme


@pytest.mark.parametrize("document", readme.documents(), ids=lambda p: str(p.relative_to(readme.ROOT)))
def test_committed_tables_match_the_results(document):
    text = document.read_text()
    assert readme.render(text, document, readme.ROOT / "results") == text, (
        f"{document.name} has a generated table that differs from results/: run `make readme`")


def test_the_readme_has_the_applications_table():
    assert "<!-- table:applications -->\n| application |" in (readme.ROOT / "README.md").read_text()


def test_the_docs_overview_example_runs():
    text = (readme.ROOT / "docs" / "index.md").read_text()
    block = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    namespace = {}
    exec(compile(block, "docs/index.md", "exec"), namespace)
    assert namespace["y"].shape == (128, 10)


def test_a_hand_edited_status_is_detected(tmp_path):
    doc = readme.ROOT / "docs" / "results.md"
    text = doc.read_text()
    marker = "<!-- table:core-goals -->\n"
    assert marker in text
    edited = text.replace(marker, marker + "| a goal | 1.0x | met |\n", 1)
    assert readme.render(edited, doc, readme.ROOT / "results") != edited


def test_unknown_or_unclosed_markers_are_errors(tmp_path):
    doc = tmp_path / "page.md"
    with pytest.raises(ValueError, match="unknown generated table.*'nope'"):
        readme.render("<!-- table:nope -->\n<!-- /table:nope -->\n", doc, tmp_path)
    with pytest.raises(ValueError, match="no matching"):
        readme.render("<!-- table:demo -->\n| a |\n", doc, tmp_path)


def test_a_missing_result_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"demo/demo.json"):
        readme.render("<!-- table:demo -->\n<!-- /table:demo -->", tmp_path / "page.md", tmp_path)


def test_tables_are_rendered_from_the_json(tmp_path):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "demo.json").write_text(json.dumps({"rows": [
        {"config": "plain", "hypernet_params": 0, "target_params": 4290, "accuracy": 0.9911,
         "step_ms": 0.75, "step_x_plain": 1.0}]}))
    out = readme.render("<!-- table:demo -->\nold\n<!-- /table:demo -->", tmp_path / "p.md", tmp_path)
    assert "| plain | 0 | 4,290 | 0.991 | 0.75 | 1.0 |" in out and "old" not in out


def test_check_mode_reports_stale_files_without_writing(tmp_path, monkeypatch, capsys):
    doc = tmp_path / "README.md"
    doc.write_text("<!-- table:demo -->\nold\n<!-- /table:demo -->\n")
    monkeypatch.setattr(readme, "ROOT", tmp_path)
    monkeypatch.setattr(readme, "DOCUMENTS", ("README.md",))
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "demo.json").write_text(json.dumps({"rows": [
        {"config": "plain", "hypernet_params": 0, "target_params": 1, "accuracy": 1.0,
         "step_ms": 1.0, "step_x_plain": 1.0}]}))
    assert readme.main(["--check", "--results", str(tmp_path)]) == 1
    assert "stale (run `make readme`): README.md" in capsys.readouterr().out
    assert "old" in doc.read_text()
    assert readme.main(["--results", str(tmp_path)]) == 0 and "old" not in doc.read_text()
    assert readme.main(["--check", "--results", str(tmp_path)]) == 0
