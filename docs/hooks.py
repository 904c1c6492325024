"""mkdocs hook: serve the repository's ``results/`` folder with the site.

The pages link result files and plots as ``../results/<area>/<file>`` so that the links also work
when the Markdown is read on a code host; mkdocs only knows files under ``docs/``. This hook adds
every file of ``results/`` to the site under ``results/`` and rewrites those links to point there,
so ``mkdocs build --strict`` still fails on a link to a result file that does not exist.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File

RESULTS = Path(__file__).resolve().parents[1] / "results"
LINK = re.compile(r"\]\(((?:\.\./)+)results/")


def on_files(files, config):
    for path in sorted(RESULTS.rglob("*")):
        if path.is_file() and path.suffix != ".md":          # data and plots, not the index
            uri = "results/" + path.relative_to(RESULTS).as_posix()
            files.append(File(uri, str(RESULTS.parent), config["site_dir"], config["use_directory_urls"]))
    return files


def on_page_markdown(markdown, page, config, files):
    depth = posixpath.dirname(page.file.src_uri).count("/") + bool(posixpath.dirname(page.file.src_uri))

    def relink(match: re.Match) -> str:
        ups = match[1].count("../")
        # one "../" leaves docs/; the rest climb the page's own folders, which the site keeps
        return "](" + "../" * (ups - 1) + "results/" if ups == depth + 1 else match[0]
    return LINK.sub(relink, markdown)
