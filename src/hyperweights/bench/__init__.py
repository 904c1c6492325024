"""The one benchmark harness: interleaved timing, medians, ratios, JSON, progress, tables.

Every benchmark (core and applications) uses these helpers rather than its own:

- :func:`interleaved` times several callables in alternating rounds (noise hits all alike) and
  returns medians; report *ratios* between them, never bare absolute times.
- :func:`write_results` writes ``results/<area>/<name>.json`` with the date and machine
  (:func:`results_dir` / :func:`result_path` for plots next to it; ``$HYPERWEIGHTS_RESULTS``
  redirects everything into one folder).
- :func:`progress` shows a tqdm bar for anything that runs longer than a few seconds.
- :func:`markdown_table` renders rows for the docs.
"""

from .progress import progress as progress
from .report import area_of as area_of
from .report import machine_info as machine_info
from .report import markdown_table as markdown_table
from .report import result_path as result_path
from .report import results_dir as results_dir
from .report import write_results as write_results
from .timing import interleaved as interleaved
from .timing import median_ms as median_ms

__all__ = ["area_of", "interleaved", "machine_info", "markdown_table", "median_ms", "progress",
           "result_path", "results_dir", "write_results"]
