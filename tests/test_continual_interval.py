"""IBP bounds: lower <= middle <= upper, and the true outputs for conditions / weights sampled
inside the boxes lie inside the bounds (hypernetwork and target)."""

import pytest
import torch
from torch import nn

import hyperweights as hw
from hyperweights.continual.hyperinterval import HyperInterval
from hyperweights.continual.interval import (interval_flat, interval_intersection,
                                             interval_target_forward, worst_case_logits)

HEADS = {"chunked": lambda: hw.ChunkedHead(40, 4), "full": hw.FullHead,
         "per_layer": lambda: hw.PerLayerHead(4)}


@pytest.mark.parametrize("head", sorted(HEADS))
@pytest.mark.parametrize("activation", ["relu", "tanh", "elu"])
def test_hypernetwork_bounds_contain_sampled_outputs(head, activation):
    torch.manual_seed(0)
    target = hw.mlp((6, 8, 4))
    hnet = hw.HyperNetwork(target, condition=hw.TaskEmbedding(3, 5), trunk=hw.MLP((16, 12), activation),
                           head=HEADS[head]())
    centre, radius = torch.randn(2, 5), 0.2 * torch.rand(2, 5)
    lo, mid, up = interval_flat(hnet, centre, radius)
    assert (lo <= mid).all() and (mid <= up).all() and (up - lo).max() > 0
    samples = centre + radius * (2 * torch.rand(200, 2, 5) - 1)          # inside the boxes
    for k in range(2):
        flat = hnet.flat_from_code(samples[:, k])
        assert (flat >= lo[k] - 1e-5).all() and (flat <= up[k] + 1e-5).all()
    # zero radius: the middle is exactly the ordinary forward
    lo0, mid0, up0 = interval_flat(hnet, centre, torch.zeros_like(radius))
    torch.testing.assert_close(mid0, hnet.flat_from_code(centre))
    torch.testing.assert_close(lo0, up0)


@pytest.mark.parametrize("signed_inputs", [False, True])
def test_target_bounds_contain_outputs_of_sampled_weights(signed_inputs):
    torch.manual_seed(1)
    target = hw.mlp((6, 8, 8, 4))
    own = {n: p.detach()[None] for n, p in target.named_parameters()}
    rad = {n: 0.05 * torch.rand_like(w) for n, w in own.items()}
    lo = {n: own[n] - rad[n] for n in own}
    up = {n: own[n] + rad[n] for n in own}
    x = torch.randn(32, 6) if signed_inputs else torch.rand(32, 6)
    out_lo, out_mid, out_up = interval_target_forward(target, lo, own, up, x)
    assert (out_lo <= out_mid + 1e-6).all() and (out_mid <= out_up + 1e-6).all()
    torch.testing.assert_close(out_mid, target(x))
    for _ in range(50):
        w = {n: (own[n] + rad[n] * (2 * torch.rand_like(own[n]) - 1))[0] for n in own}
        y = torch.func.functional_call(target, w, (x,))
        assert (y >= out_lo - 1e-5).all() and (y <= out_up + 1e-5).all()


def test_fallback_runs_the_target_three_times():
    class NotSequential(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(5, 7), nn.Linear(7, 3)

        def forward(self, x):
            return self.b(torch.relu(self.a(x)))

    torch.manual_seed(2)
    net = NotSequential()
    own = {n: p.detach()[None] for n, p in net.named_parameters()}
    lo = {n: w - 0.01 for n, w in own.items()}
    up = {n: w + 0.01 for n, w in own.items()}
    x = torch.rand(4, 5)
    out_lo, out_mid, out_up = interval_target_forward(net, lo, own, up, x)
    torch.testing.assert_close(out_mid, net(x))
    assert (out_lo <= out_mid).all() and (out_mid <= out_up).all()


def test_worst_case_and_intersection():
    z = worst_case_logits(torch.tensor([[0.0, 1.0]]), torch.tensor([[2.0, 3.0]]), torch.tensor([0]))
    assert z.tolist() == [[0.0, 3.0]]
    lo, up, c = interval_intersection(torch.tensor([[0.0], [0.5]]), torch.tensor([[1.0], [2.0]]))
    assert lo.item() == 0.5 and up.item() == 1.0 and c.item() == 0.75


def _hyperinterval(nesting=False, steps=6, **kw):
    torch.manual_seed(0)
    return HyperInterval(hw.mlp((6, 8, 4)), torch.tensor([[0, 1], [2, 3]]), steps_per_task=steps,
                         emb_dim=5, trunk=hw.MLP((12,)), head=hw.ChunkedHead(40, 4), beta=1.0,
                         nesting=nesting, **kw)


def test_kappa_and_eps_schedule_follow_the_official_script():
    hi = _hyperinterval(steps=10)                    # half = 5: ramp over steps 0..4
    assert hi.schedule(0) == (0.0, 1.0)
    eps, kappa = hi.schedule(2)
    assert eps == pytest.approx(0.5) and kappa == pytest.approx(1 - 2 * 5e-5)
    assert hi.schedule(4) == (1.0, pytest.approx(1 - 4 * 5e-5))
    for i in (5, 6, 9, 50):                          # past the half: the final values
        assert hi.schedule(i) == (1.0, 0.5)
    assert _hyperinterval(steps=1).schedule(0) == (1.0, 0.5)


@pytest.mark.parametrize("nesting", [False, True])
def test_hyperinterval_protects_the_official_bounds(nesting):
    hi = _hyperinterval(nesting)
    assert hi.targets.shape[0] == (3 if nesting else 1)     # middle only, unless nested
    x, y = torch.rand(8, 6), torch.randint(0, 2, (8,))
    hi.begin_task(0)
    for _ in range(6):
        hi.step(0, x, y)
    hi.begin_task(1)
    bounds = torch.stack(hi.interval_weights(torch.tensor([0])))[:, 0]
    torch.testing.assert_close(hi.targets[:, 0], bounds if nesting else bounds[1:2])
    emb0 = hi.hnet.condition.weight[0].detach().clone()
    radius0 = hi.radius_logits[0].detach().clone()
    for _ in range(3):
        hi.step(1, x, y)
    torch.testing.assert_close(hi.hnet.condition.weight[0], emb0)     # earlier embedding frozen
    torch.testing.assert_close(hi.radius_logits[0], radius0)
    w = hi.universal_weights(2)
    assert w["0.weight"].shape == (1, 8, 6)
    assert hi.universal_logits(torch.rand(2, 3, 6), torch.tensor([0, 1]), 2).shape == (2, 3, 2)


def test_nesting_radii_are_fixed_and_the_intersection_is_never_empty():
    hi = _hyperinterval(nesting=True, eps=2.0)
    with torch.no_grad():                                    # far-apart, concentrated centres
        hi.hnet.condition.weight.copy_(torch.tensor([[0.0] * 5, [3.14] * 5]))
        hi.radius_logits.copy_(torch.randn(2, 5) * 10)       # ignored: radii are eps / M
    centre, radius = hi.boxes(torch.arange(2))
    torch.testing.assert_close(radius, torch.full((2, 5), 2.0 / 5))
    assert centre.abs().max() <= 2.0 / (2 * 5) + 1e-6
    lo, up, _ = hi.universal_box(2)
    assert (up - lo).min() >= 2.0 / 5 - 1e-5                 # contains [-eps/2M, eps/2M] in each coordinate
    centre, radius = hi.boxes(torch.arange(2), eps=0.5)      # sigma and the radii ramp with eps
    torch.testing.assert_close(radius, torch.full((2, 5), 0.5 / 5))
    assert all(p is not hi.radius_logits for p in hi.trainable(0))
