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


def test_readme_repr_block_matches():
    import hyperweights as hw
    import torch
    from torch import nn
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    block = re.search(r"shows the design and its parameter counts:\n\n```\n(.*?)```", readme, re.S).group(1)
    torch.manual_seed(0)
    target = nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))
    assert repr(hw.HyperNetwork(target, condition=hw.TaskEmbedding(5, 32))) == block.rstrip("\n")
