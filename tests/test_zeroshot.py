"""hyperweights.zeroshot: generated class weights, new classes without training, GZSL metrics."""

import pytest
import torch

import hyperweights as hw
from hyperweights.data import load_digits
from hyperweights.zeroshot import (FASHION_MNIST, METHODS, ZeroShotClassifier, ZeroShotConfig, ZeroShotData,
                                   class_texts, evaluate, fit, gzsl_scores, oracle_harmonic,
                                   seen_rate_calibration, select_calibration)


def small(method="hypernetwork", cosine=True):
    torch.manual_seed(0)
    return ZeroShotClassifier(64, 64, method, hidden=(32,), feature_dim=16, hyper_hidden=(32,), cosine=cosine)


@pytest.fixture(scope="module")
def digits():
    # attribute vectors stand in for description embeddings: each class's mean ink per pixel
    # (centred, unit norm), a crude "where the strokes are" attribute table
    split = load_digits()
    means = torch.stack([split.x_train[split.y_train == c].mean(0) for c in range(10)])
    attributes = torch.nn.functional.normalize(means - means.mean(0), dim=1)
    return ZeroShotData.from_split(split, attributes, unseen=[0, 3, 7])


@pytest.mark.parametrize("cosine", [True, False])
def test_scores_use_generated_rows_of_every_class(cosine):
    model = small(cosine=cosine)
    x, classes = torch.rand(5, 64), torch.randn(7, 64)
    rows = model.class_weights(classes)                    # all 7 classes in one call
    assert rows["weight"].shape == (7, 1, 16) and rows["bias"].shape == (7, 1)
    features = model.encoder(x)
    if cosine:
        expected = 10 * torch.nn.functional.normalize(features, dim=1) @ torch.nn.functional.normalize(
            rows["weight"][:, 0], dim=1).T
    else:
        expected = features @ rows["weight"][:, 0].T + rows["bias"][:, 0]
    torch.testing.assert_close(model(x, classes), expected)
    # one class's row depends on its own description only: a new class leaves the others unchanged
    more = torch.cat([classes, torch.randn(1, 64)])
    torch.testing.assert_close(model(x, more)[:, :7], model(x, classes))
    torch.testing.assert_close(model.class_weights(classes[3:4])["weight"], rows["weight"][3:4])


def test_unseen_class_weights_come_from_its_description(digits):
    model = small()
    fit(model, digits, ZeroShotConfig(steps=2, batch_size=16, progress=False))
    unseen = digits.class_embeddings[list(digits.unseen)]
    generated = model.class_weights(unseen)["weight"][:, 0]
    direct = model.net.hypernetwork(unseen)["weight"][:, 0]
    torch.testing.assert_close(generated, direct)
    assert not torch.allclose(generated[0], generated[1])       # different descriptions, different rows


@pytest.mark.parametrize("method", METHODS)
def test_fit_learns_and_zero_shot_beats_chance(method, digits):
    model = small(method)
    before = evaluate(model, digits)["zsl"]
    result = fit(model, digits, ZeroShotConfig(steps=150, batch_size=64, lr=3e-3, progress=False))
    scores = evaluate(model, digits)
    assert result.losses[-1] < result.losses[0]
    assert scores["seen"] > 0.8                     # 7 seen digits
    assert scores["zsl"] > 0.45 and scores["zsl"] > before    # 3 unseen digits: chance is 1/3
    assert 0 <= scores["harmonic"] <= min(1.0, max(scores["seen"], scores["unseen"]))


def test_calibration_trades_seen_for_unseen(digits):
    train, held_out = digits.calibration_split(0.2, seed=0)
    assert len(train.y_train) + len(held_out) == len(digits.y_train) and train.unseen == digits.unseen
    model = small()
    fit(model, train, ZeroShotConfig(steps=100, batch_size=64, lr=3e-3, progress=False))
    gamma = select_calibration(model, digits, held_out)            # default rate: 3 of 10 classes
    assert gamma == select_calibration(model, digits, held_out, rate=0.3)
    plain, calibrated = evaluate(model, digits), evaluate(model, digits, calibration=gamma)
    assert calibrated["calibration"] == gamma
    assert calibrated["unseen"] >= plain["unseen"] and calibrated["seen"] <= plain["seen"] + 1e-9
    # the test-set oracle bounds every calibration, the chosen one and none at all
    bound = oracle_harmonic(model, digits)
    assert bound >= max(plain["harmonic"], calibrated["harmonic"]) - 0.02
    with pytest.raises(ValueError, match="grid must be an int >= 2"):
        oracle_harmonic(model, digits, grid=1)


def test_seen_rate_rule_on_synthetic_scores():
    # 1000 seen images over 4 classes (class 3 unseen): seen scores N(2, 1), unseen N(0, 1)
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(1000, 4, generator=gen) + torch.tensor([2.0, 2.0, 2.0, 0.0])
    labels = torch.zeros(1000, dtype=torch.long)        # the rule needs no labels: any seen class
    for rate in (0.0, 0.1, 0.3, 0.5):
        gamma = seen_rate_calibration(scores, classes=[0, 1, 2, 3], unseen=[3], rate=rate)
        predicted = (scores - gamma * torch.tensor([1.0, 1.0, 1.0, 0.0])).argmax(1)
        assert (predicted == 3).float().mean().item() == pytest.approx(rate, abs=2e-3)
    # scale-free, and blind to a shift of every score: what makes it transfer between models
    gamma = seen_rate_calibration(scores, [0, 1, 2, 3], [3], 0.3)
    assert seen_rate_calibration(7 * scores + 5, [0, 1, 2, 3], [3], 0.3) == pytest.approx(7 * gamma, rel=1e-5)
    # a larger share costs seen accuracy monotonically
    seen_acc = [gzsl_scores(scores, labels, [0, 1, 2, 3], [3], seen_rate_calibration(
        scores, [0, 1, 2, 3], [3], rate))["seen"] for rate in (0.1, 0.3, 0.5)]
    assert seen_acc[0] > seen_acc[1] > seen_acc[2]
    with pytest.raises(ValueError, match="rate must be a number in \\[0, 1\\]"):
        seen_rate_calibration(scores, [0, 1, 2, 3], [3], 1.5)
    with pytest.raises(ValueError, match="one column per candidate class"):
        seen_rate_calibration(scores[:, :3], [0, 1, 2, 3], [3], 0.3)


def test_gzsl_scores_are_per_class_means():
    scores = torch.tensor([[3.0, 0.0, 1.0], [3.0, 0.0, 1.0], [0.0, 3.0, 1.0], [1.0, 0.0, 3.0]])
    labels = torch.tensor([0, 0, 0, 2])          # class 0: 2 of 3 right, class 2 (unseen): 1 of 1
    out = gzsl_scores(scores, labels, classes=[0, 1, 2], unseen=[2])
    assert out["seen"] == pytest.approx(2 / 3) and out["unseen"] == 1.0
    assert out["harmonic"] == pytest.approx(2 * (2 / 3) / (2 / 3 + 1))


def test_save_load_round_trip(tmp_path, digits):
    model = small()
    fit(model, digits, ZeroShotConfig(steps=3, batch_size=8, progress=False))
    hw.save(model, tmp_path / "zs.safetensors")
    again = hw.load(tmp_path / "zs.safetensors")
    x = digits.x_test[:6]
    torch.testing.assert_close(again(x, digits.class_embeddings), model(x, digits.class_embeddings))


def test_descriptions_are_fixed_one_per_class():
    # the MiniLM embedding itself is tested in test_text_encoder.py and run by the bench smoke test
    texts = class_texts(FASHION_MNIST)
    assert len(texts) == 10 and len(set(texts)) == 10 and texts[0].startswith("t-shirt: ")


@pytest.mark.parametrize("call, error, words", [
    (lambda: ZeroShotClassifier(64, 64, "ridge"), ValueError, "method must be one of"),
    (lambda: small()(torch.rand(2, 63), torch.randn(3, 64)), ValueError, "(B, 64)"),
    (lambda: small()(torch.rand(2, 64), torch.randn(3, 11)), ValueError, "(C, 64)"),
    (lambda: small("devise").class_weights(torch.randn(3, 64)), ValueError, "method='hypernetwork'"),
    (lambda: ZeroShotConfig(steps=-1).validate(), ValueError, "steps"),
    (lambda: class_texts((("a", ""),)), ValueError, "(name, description)"),
])
def test_bad_input_is_a_clear_error(call, error, words):
    with pytest.raises(error, match=None) as info:
        call()
    assert words in str(info.value)


def test_bad_splits_are_clear_errors(digits):
    split = load_digits()
    with pytest.raises(ValueError, match="one embedding per class"):
        ZeroShotData.from_split(split, torch.randn(5, 64), unseen=[1])
    with pytest.raises(ValueError, match="fewer than all"):
        ZeroShotData.from_split(split, torch.randn(10, 64), unseen=range(10))
    with pytest.raises(ValueError, match="fraction must be a float in \\(0, 1\\)"):
        digits.calibration_split(1.0)
    with pytest.raises(ValueError, match="held-out seen-class images"):
        select_calibration(small(), digits, torch.rand(0, 64))


def test_resume_refuses_other_settings(tmp_path, digits):
    path = str(tmp_path / "run.safetensors")
    fit(small(), digits, ZeroShotConfig(steps=3, batch_size=8, progress=False, checkpoint_path=path))
    with pytest.raises(ValueError, match="other settings"):
        fit(small(), digits, ZeroShotConfig(steps=3, batch_size=9, progress=False, checkpoint_path=path,
                                            resume=True))
