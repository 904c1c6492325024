"""Split / Permuted protocols, CL3 entropy task inference, metrics."""

import math

import pytest
import torch

from hyperweights.continual import infer_task, predict_cl3, summarize
from hyperweights.continual.curriculum import evaluate_cl3
from hyperweights.continual.factory import build_method
from hyperweights.continual import ContinualConfig, fit
from hyperweights.data.protocols import make_protocol


def test_split_mnist5k_is_shuffled_and_stratified():
    p = make_protocol("split", "mnist5k")
    assert p.num_tasks == 5 and p.classes.tolist()[4] == [8, 9]
    for t in range(5):
        x, y_local, y = p.test_set(t)
        counts = torch.bincount(y_local, minlength=2)
        assert counts.min() >= 0.4 * counts.sum()           # both classes, balanced
        assert set(y.tolist()) == set(p.classes[t].tolist())
        assert (y[1:] != y[:-1]).any()                       # not sorted by class
    assert p.data.x_train.max() <= 1.0 and p.data.x_train.min() >= 0.0


def test_permuted_tasks_share_images_and_fix_permutations():
    a = make_protocol("permuted", "digits", num_tasks=4, seed=1)
    b = make_protocol("permuted", "digits", num_tasks=4, seed=1)
    assert torch.equal(a.permutations, b.permutations)
    assert torch.equal(a.permutations[0], torch.arange(64))
    assert all(torch.equal(torch.sort(p).values, torch.arange(64)) for p in a.permutations)
    x0, y0, _ = a.test_set(0)
    x2, y2, _ = a.test_set(2)
    assert torch.equal(y0, y2) and torch.equal(x2, x0[:, a.permutations[2]])
    with pytest.raises(ValueError, match="5 tasks"):
        make_protocol("split", "digits", num_tasks=3)
    with pytest.raises(ValueError, match="unknown protocol"):
        make_protocol("rotated", "digits")


def test_missing_fashion_mnist_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        make_protocol("split", "fashion_mnist", data_dir=str(tmp_path))


def test_entropy_inference_batched_over_tasks():
    logits = torch.tensor([[[0.0, 0.0], [9.0, 0.0]],        # task 0: unsure, sure
                           [[8.0, -8.0], [0.1, 0.0]]])      # task 1: sure, unsure
    assert infer_task(logits).tolist() == [1, 0]
    task, cls = predict_cl3(logits, torch.tensor([[0, 1], [2, 3]]))
    assert task.tolist() == [1, 0] and cls.tolist() == [2, 0]


def test_cl3_with_separate_networks_beats_chance():
    p = make_protocol("split", "digits")
    torch.manual_seed(0)
    m = build_method("separate", p, hidden=(32,))
    fit(m, p, ContinualConfig(steps=60, batch_size=32, progress=False))
    r = evaluate_cl3(m, p, 5)
    assert r["cl3_acc"] > 0.3 and r["task_inference_acc"] > 0.3     # chance: 0.1 and 0.2


def test_metrics():
    acc = torch.tensor([[1.0, 0.8, 0.6], [math.nan, 1.0, 0.9], [math.nan, math.nan, 0.9]])
    s = summarize(acc)
    assert s["final_avg"] == pytest.approx(0.8)
    assert s["bwt"] == pytest.approx(-0.25)
    assert s["forgetting"] == pytest.approx(0.25)
