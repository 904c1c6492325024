"""Implicit ensemble, Bayesian hypernetwork, flow and baselines: correctness of the batched paths."""

import math

import pytest
import torch
from torch.func import functional_call

import hyperweights as hw
from hyperweights.uncertainty import (BayesianHypernetwork, DeepEnsemble, ImplicitEnsemble, MCDropout,
                                      NoiseMixer, RealNVP, SingleNetwork, UncertaintyConfig, fit)
from hyperweights.uncertainty.flow import AffineCoupling


def small_implicit(seed=0, sizes=(6, 16, 3)):
    torch.manual_seed(seed)
    return ImplicitEnsemble(hw.mlp(sizes), noise_dim=4, code_dim=8, mixer_hidden=(16,),
                            trunk_hidden=(16,), chunk_size=40, chunk_embedding=4)


def randomize(module, std=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(std * torch.randn(p.shape, generator=g, dtype=p.dtype))


@pytest.mark.parametrize("dim,couplings", [(2, 1), (5, 3), (8, 4)])
def test_flow_logdet_matches_autograd_jacobian(dim, couplings):
    flow = RealNVP(dim, couplings=couplings, hidden=7, shift=0.3, scale=0.7).double()
    randomize(flow, seed=dim)                  # away from the identity initialisation
    eps = torch.randn(3, dim, dtype=torch.float64)
    _, logdet = flow(eps)
    for i in range(3):
        jac = torch.autograd.functional.jacobian(lambda e: flow(e.unsqueeze(0))[0][0], eps[i])
        sign, expected = torch.linalg.slogdet(jac)
        assert sign != 0
        torch.testing.assert_close(logdet[i], expected, rtol=1e-9, atol=1e-9)


def test_flow_is_invertible_and_starts_as_affine():
    flow = RealNVP(10, couplings=4, hidden=8, shift=1.5, scale=0.1).double()
    eps = torch.randn(6, 10, dtype=torch.float64)
    theta, logdet = flow(eps)
    torch.testing.assert_close(theta, 1.5 + 0.1 * eps)            # couplings start as the identity
    torch.testing.assert_close(logdet, torch.full((6,), 10 * math.log(0.1), dtype=torch.float64))
    randomize(flow)
    torch.testing.assert_close(flow.inverse(flow(eps)[0]), eps)


def test_flow_and_coupling_reject_bad_input():
    with pytest.raises(ValueError, match=r"\(K, 4\)"):
        RealNVP(4)(torch.randn(3, 5))
    with pytest.raises(ValueError, match="mask"):
        AffineCoupling(torch.ones(4, dtype=torch.bool))


def test_bayesian_log_q_is_the_change_of_variables_density():
    bhn = BayesianHypernetwork((4, 5, 3), couplings=2, hidden=6).double()
    randomize(bhn.flow)
    torch.manual_seed(0)
    theta, log_q = bhn.sample_scales(5)
    eps = bhn.flow.inverse(theta)
    jac = torch.stack([torch.autograd.functional.jacobian(lambda e: bhn.flow(e.unsqueeze(0))[0][0], e)
                       for e in eps])
    normal = torch.distributions.Normal(0.0, 1.0).log_prob(eps).sum(-1)
    torch.testing.assert_close(log_q, normal - torch.linalg.slogdet(jac)[1])


def test_bayesian_members_use_generated_scales_and_train_the_rest():
    bhn = BayesianHypernetwork((6, 8, 3), couplings=2, hidden=8)
    x = torch.randn(5, 6)
    theta, _ = bhn.sample_scales(4)
    out = bhn.forward_scales(x, theta)
    for k in range(4):                                           # batched == one member at a time
        torch.testing.assert_close(out[k], bhn.forward_scales(x, theta[k:k + 1])[0])
    # member k equals the target with its scales replaced by theta[k]
    params = dict(bhn.target.named_parameters()) | bhn.specs.split(theta[1:2])
    params = {n: (p[0] if n.endswith("scale") else p) for n, p in params.items()}
    torch.testing.assert_close(out[1], functional_call(bhn.target, params, (x,)))
    bhn.loss(x, torch.tensor([0, 1, 2, 0, 1]), samples=3, num_data=100).backward()
    assert bhn.target[0].scale.grad is None                     # generated, never used
    assert bhn.target[0].direction.grad is not None and bhn.flow.affine.shift.grad is not None


def test_kl_weight_scales_only_the_kl_term_and_must_not_be_negative():
    bhn = BayesianHypernetwork((6, 8, 3), couplings=2, hidden=8)
    x, y = torch.randn(5, 6), torch.tensor([0, 1, 2, 0, 1])
    losses = []
    for weight in (0.0, 1.0, 3.0):                               # same draws: loss is affine in the weight
        torch.manual_seed(0)
        losses.append(bhn.loss(x, y, samples=2, num_data=100, kl_weight=weight))
    torch.testing.assert_close(losses[2] - losses[0], 3 * (losses[1] - losses[0]))
    with pytest.raises(ValueError, match="kl_weight must be a finite number >= 0"):
        fit(bhn, x, y, UncertaintyConfig(epochs=1, batch_size=5, progress=False, kl_weight=-1.0))


def test_implicit_members_batched_equal_loop_and_are_independent():
    ens = small_implicit()
    x = torch.randn(7, 6)
    noise = ens.sample_noise(5, torch.Generator().manual_seed(3))
    batched = ens.forward_noise(x, noise)
    loop = torch.cat([ens.forward_noise(x, noise[k:k + 1]) for k in range(5)])
    torch.testing.assert_close(batched, loop)
    # a member's output depends only on its own noise, not on which other members share the call
    torch.testing.assert_close(ens.forward_noise(x, noise[[4, 1]]), batched[[4, 1]])
    assert not torch.allclose(batched[0], batched[1])                      # members differ


def test_seeded_members_are_reproducible():
    ens = small_implicit()
    x = torch.randn(4, 6)
    a = ens.predict(x, samples=6, seed=11)
    b = ens.predict(x, samples=6, seed=11)
    c = ens.predict(x, samples=6, seed=12)
    torch.testing.assert_close(a.member_logits, b.member_logits, rtol=0, atol=0)
    assert not torch.allclose(a.member_logits, c.member_logits)
    for model in (BayesianHypernetwork((6, 8, 3), couplings=1, hidden=4), MCDropout((6, 8, 3), 0.5)):
        torch.testing.assert_close(model.predict(x, samples=4, seed=1).member_logits,
                                   model.predict(x, samples=4, seed=1).member_logits, rtol=0, atol=0)


def test_saved_implicit_ensemble_reloads_with_identical_members(tmp_path):
    ens = small_implicit()
    randomize(ens.hypernetwork)
    path = tmp_path / "implicit.safetensors"
    hw.save(ens, path)
    again = hw.load(path)                                   # the target was an hw.mlp: rebuilt from the file
    x = torch.randn(5, 6)
    torch.testing.assert_close(again.predict(x, samples=8, seed=4).member_logits,
                               ens.predict(x, samples=8, seed=4).member_logits, rtol=0, atol=0)
    assert isinstance(again.mixer, NoiseMixer) and again.mixer.noise_dim == 4
    assert isinstance(again, ImplicitEnsemble)
    given = hw.load(path, hw.mlp((6, 16, 3)))               # or given, e.g. a custom module
    torch.testing.assert_close(given.predict(x, samples=8, seed=4).member_logits,
                               ens.predict(x, samples=8, seed=4).member_logits, rtol=0, atol=0)
    with pytest.raises(ValueError, match="does not fit"):
        hw.load(path, hw.mlp((6, 17, 3)))


def test_implicit_gradients_reach_mixer_trunk_and_head_only():
    ens = small_implicit()
    out = ens.members(torch.randn(3, 6), samples=4)
    out.sum().backward()
    assert all(p.grad is not None for p in ens.trainable_parameters())
    assert all(p.grad is None for p in ens.model.target.parameters())
    assert ens.mixer.net[0].weight.grad.abs().sum() > 0


def test_deep_ensemble_is_n_independent_networks():
    torch.manual_seed(0)
    ens = DeepEnsemble((6, 8, 3), members=4)
    x = torch.randn(4, 5, 6)                                       # one minibatch per member
    out = ens(x)
    net = hw.mlp((6, 8, 3))
    for i in range(4):
        torch.testing.assert_close(out[i], functional_call(net, ens.member(i), (x[i],)))
    # the summed loss gives each member exactly its own gradient
    out.pow(2).mean(dim=(1, 2)).sum().backward()
    grads = {n: p.grad.clone() for n, p in ens.stacked.items()}
    for i in range(4):
        params = {n: p.detach().clone().requires_grad_() for n, p in ens.member(i).items()}
        functional_call(net, params, (x[i],)).pow(2).mean().backward()
        for n, p in params.items():
            torch.testing.assert_close(grads[n.replace(".", "__")][i], p.grad)
    assert not torch.allclose(out[0], out[1])                        # distinct initialisations


def test_mc_dropout_members_match_the_masks_and_eval_is_deterministic():
    m = MCDropout((6, 8, 3), p=0.5)
    x = torch.randn(4, 6)
    members = m.members(x, samples=16)
    assert members.shape == (16, 4, 3) and not torch.allclose(members[0], members[1])
    m.eval()
    torch.testing.assert_close(m(x), m(x))
    keep_all = MCDropout((6, 8, 3), p=1e-9)
    keep_all.net.load_state_dict(m.net.state_dict())
    torch.testing.assert_close(keep_all.members(x, 3)[2], m(x))      # no mask -> the plain network


def test_single_network_has_one_member():
    net = SingleNetwork((6, 8, 3))
    p = net.predict(torch.randn(2, 6))
    assert p.member_probs.shape == (1, 2, 3)
    assert torch.all(p.mutual_information.abs() < 1e-6) and torch.all(p.variance == 0)
