"""The one benchmark harness: interleaved timing, medians, ratios, JSON, plots, README tables.

Every benchmark (core and applications) uses these helpers rather than its own:

- :func:`interleaved` times several callables in alternating rounds (noise hits all alike) and
  returns medians; report *ratios* between them, never bare absolute times.
- :func:`write_results` writes ``results/<name>.json`` with the date and machine.
- :func:`markdown_table` renders rows for the README.
"""

from .report import machine_info as machine_info
from .report import markdown_table as markdown_table
from .report import write_results as write_results
from .timing import interleaved as interleaved
from .timing import median_ms as median_ms

__all__ = ["interleaved", "machine_info", "markdown_table", "median_ms", "write_results"]
