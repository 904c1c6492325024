"""hyperweights.pruning: PruningNet weights sliced to the requested widths, FLOPs, the search,
the baselines, dynamic channel masks, training and checkpoints."""

import pytest
import torch
import torch.nn.functional as F

import hyperweights as hw
from hyperweights.data import Split
from hyperweights.pruning import (MAX_WIDTHS, DynamicCNN, MaskedCNN, PruningConfig, PruningNet, channel_masks,
                                  dynamic_keep, evaluate, evolutionary_search, fit, flops, l1_prune,
                                  random_widths, recalibrate, score_widths, slice_weights, uniform_widths)


def tiny_split(n=96, seed=0):
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=gen)
    prototypes = torch.rand(10, 784, generator=torch.Generator().manual_seed(99))
    x = (0.7 * prototypes[y] + 0.3 * torch.rand(n, 784, generator=gen))
    return Split(x, y, x[:48], y[:48], "tiny")


def test_pruningnet_weights_are_sliced_to_the_requested_widths():
    net = PruningNet(hidden=(8,))
    widths = torch.tensor([[5, 17, 9], [16, 32, 32], [1, 8, 30]])
    x = torch.rand(6, 784)
    batched = net(x, widths)                                          # masked max-width networks
    generated = net.hypernetwork(net.encoding(widths))
    for k, row in enumerate(widths.tolist()):
        pruned = net.pruned(row)
        assert pruned.widths == tuple(row)
        assert pruned.conv1.weight.shape == (row[1], row[0], 3, 3) and pruned.fc.weight.shape == (10, row[2])
        torch.testing.assert_close(pruned.conv1.weight, generated["conv1.weight"][k, :row[1], :row[0]])
        torch.testing.assert_close(pruned.fc.weight, generated["fc.weight"][k, :, :row[2]])
        torch.testing.assert_close(pruned(x), batched[k], rtol=1e-5, atol=1e-5)


def test_channel_masks_equal_slicing_for_any_weights():
    full = MaskedCNN()
    widths = (7, 20, 30)
    small = MaskedCNN(widths)
    small.load_state_dict({**small.state_dict(), **slice_weights(dict(full.named_parameters()), widths)})
    masks = {k: v[0] for k, v in channel_masks(torch.tensor([widths])).items()}
    x = torch.rand(4, 784)
    masked = torch.func.functional_call(full, {**dict(full.named_parameters()), **masks}, (x,))
    torch.testing.assert_close(small(x), masked, rtol=1e-5, atol=1e-5)


def test_flops_count_multiply_accumulates():
    c = (4, 8, 16)
    expected = 28 * 28 * 9 * 1 * 4 + 14 * 14 * 9 * 4 * 8 + 7 * 7 * 9 * 8 * 16 + 10 * 16
    assert flops(c) == expected
    assert flops(torch.tensor([c, MAX_WIDTHS])).tolist() == [expected, flops(MAX_WIDTHS)]


def test_uniform_widths_are_the_largest_multiplier_within_budget():
    full = flops(MAX_WIDTHS)
    for fraction in (0.5, 0.25):
        widths = uniform_widths(int(full * fraction))
        assert flops(widths) <= full * fraction
        bigger = tuple(c + 1 for c in widths)
        assert flops(bigger) > full * fraction


def test_evolutionary_search_respects_the_budget_and_improves():
    budget = flops(MAX_WIDTHS) // 4
    optimum = torch.tensor([3, 10, 28])                              # within the budget
    calls = []

    def score(w):
        calls.append([tuple(row) for row in w.tolist()])
        return -(w - optimum).square().sum(-1).float()

    result = evolutionary_search(score, budget, population=30, generations=15, parents=6)
    assert flops(result.widths) <= budget
    assert result.history == sorted(result.history) and result.history[-1] > result.history[0]
    assert result.history[-1] >= -6                                   # (nearly) found
    every = [row for call in calls for row in call]
    assert len(calls[0]) == 30 and len(every) == len(set(every)) == result.evaluated < 30 * 15   # none twice
    samples = random_widths(200, generator=torch.Generator().manual_seed(0))
    assert samples.min(0).values.tolist() == [2, 4, 4] and samples.max(0).values.tolist() == [16, 32, 32]


def test_l1_prune_keeps_the_filters_of_largest_norm():
    net = MaskedCNN((6, 8, 8))
    with torch.no_grad():
        net.conv0.weight[[1, 4]] *= 100                              # filters 1 and 4 dominate layer 0
    pruned = l1_prune(net, (2, 8, 8))
    torch.testing.assert_close(pruned.conv0.weight, net.conv0.weight[[1, 4]])
    torch.testing.assert_close(pruned.conv1.weight, net.conv1.weight[:, [1, 4]])
    masked = MaskedCNN((6, 8, 8))
    masked.load_state_dict({**net.state_dict(), "mask0": torch.tensor([0, 1, 0, 0, 1, 0.0])})
    x = torch.rand(3, 784)
    torch.testing.assert_close(pruned(x), masked(x), rtol=1e-5, atol=1e-5)


def test_bn_recalibration_equals_calibrated_forward_sliced_and_masked():
    net = PruningNet(hidden=(8,))
    x_cal, x = torch.rand(40, 784), torch.rand(6, 784)
    widths = torch.tensor([[5, 17, 9], [16, 32, 32]])
    masked = net(torch.cat([x_cal, x]), widths, calibration=40)[:, 40:]
    for k, row in enumerate(widths.tolist()):
        pruned = net.pruned(row, calibrate=x_cal).eval()              # running statistics of x_cal
        torch.testing.assert_close(pruned.bn1.running_mean, pruned.conv1(
            F.max_pool2d(pruned.block(0, x_cal.reshape(-1, 1, 28, 28), calibration=40), 2)).mean((0, 2, 3)))
        torch.testing.assert_close(pruned(x), masked[k], rtol=1e-4, atol=1e-4)
    assert recalibrate(MaskedCNN(), x_cal).training                    # the mode is kept


def test_score_widths_is_batched_and_matches_evaluate():
    data = tiny_split()
    net = PruningNet(hidden=(8,))
    widths = torch.tensor([[8, 16, 16], [16, 32, 32], [4, 8, 8], [8, 16, 16]])
    for mode in ("sliced", "masked"):
        scores = score_widths(net, data.x_train, data.x_test, data.y_test, widths, chunk=2, mode=mode)
        single = [evaluate(net, data, widths=row)["accuracy"] for row in widths.tolist()]
        torch.testing.assert_close(scores, torch.tensor(single))
    per_image = score_widths(net, data.x_train, data.x_test, data.y_test, widths, per_image=True)
    assert per_image.shape == (4, 48) and torch.equal(per_image[0], per_image[3])


def test_fit_trains_the_pruningnet_and_checkpoints_round_trip(tmp_path):
    data = tiny_split()
    net = PruningNet(hidden=(16,))
    result = fit(net, data, PruningConfig(steps=12, batch_size=16, candidates=2, lr=1e-3, progress=False))
    assert sum(result.losses[-3:]) < sum(result.losses[:3])
    hw.save(net, tmp_path / "p.safetensors")
    again = hw.load(tmp_path / "p.safetensors")
    x = torch.rand(2, 784)
    torch.testing.assert_close(again(x, [[8, 16, 16]]), net(x, [[8, 16, 16]]))


def test_dynamic_masks_keep_k_channels_per_input_and_train():
    data = tiny_split()
    net = DynamicCNN(keep=(8, 4), widths=(8, 16, 16))
    captured = []
    net.net.conv2.register_forward_hook(lambda m, i, o: captured.append(i[0]))
    net(data.x_train[:5])
    active = captured[0].abs().sum((-2, -1)) > 0                     # (B, 16) input channels of conv2
    assert active.sum(-1).le(8).all()
    result = fit(net, data, PruningConfig(steps=25, batch_size=32, lr=3e-3, progress=False))
    assert sum(result.losses[-5:]) < sum(result.losses[:5])
    assert evaluate(net, data)["flops"] == flops((8, 8, 4))
    assert dynamic_keep(flops(MAX_WIDTHS) // 2)[0] < 32


@pytest.mark.parametrize("make, match", [
    (lambda: PruningNet()(torch.rand(2, 784), [[0, 8, 8]]), "every width"),
    (lambda: PruningNet()(torch.rand(2, 784), [[8.5, 8, 8]]), "integer channel counts"),
    (lambda: uniform_widths(10), "no uniform scaling"),
    (lambda: evolutionary_search(lambda w: w.sum(-1), 5), "budget"),
    (lambda: l1_prune(MaskedCNN((4, 8, 8)), (5, 8, 8)), "within"),
    (lambda: PruningConfig(candidates=0).validate(), "candidates"),
    (lambda: evaluate(PruningNet(), tiny_split()), "needs the widths"),
    (lambda: fit(MaskedCNN(), Split(torch.rand(4, 64), torch.zeros(4).long(), torch.rand(4, 64),
                                    torch.zeros(4).long()), PruningConfig(steps=1)), r"\(N, 784\)"),
    (lambda: DynamicCNN(keep=(100, 4)), "keep"),
    (lambda: score_widths(PruningNet(), torch.rand(4, 784), torch.rand(2, 784), torch.zeros(2).long(),
                          [[8, 8, 8]], mode="fast"), "sliced"),
    (lambda: PruningConfig(schedule="cosine").validate(), "schedule"),
])
def test_bad_input_is_a_clear_error(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()
