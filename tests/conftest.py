"""Suite-wide fixtures: no test reads a file outside the repository.

Fashion-MNIST is replaced by a tiny synthetic copy in the real IDX format (``data_fixture.py``),
written once per session and pointed to by ``$HYPERWEIGHTS_DATA``: the loader then searches only
there, never the system folder, so the suite passes on a machine without the dataset.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from data_fixture import write_fashion_folder  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def fashion_mnist_fixture(tmp_path_factory) -> Path:
    """``$HYPERWEIGHTS_DATA`` -> a session folder with a synthetic ``fashion-mnist/`` (gzipped)."""
    root = tmp_path_factory.mktemp("hyperweights_data")
    write_fashion_folder(root / "fashion-mnist", gzipped=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HYPERWEIGHTS_DATA", str(root))
        yield root
