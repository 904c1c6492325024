"""The README's quickstart runs as written."""

import re
from pathlib import Path


def test_readme_quickstart_runs(tmp_path, monkeypatch):
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    block = re.search(r"## Quickstart\n\n```python\n(.*?)```", readme, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(block, "README quickstart", "exec"), namespace)
    assert namespace["y"].shape == (128, 10)
    assert namespace["per_task"].shape == (5, 128, 10)
    assert namespace["weights"]["0.weight"].shape == (2, 100, 784)
    assert (tmp_path / "model.safetensors").is_file()
