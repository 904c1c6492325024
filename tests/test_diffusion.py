"""D2NWG: shapes, classifier-free guidance, seeded sampling, checkpoints, bad input, a tiny fit."""

import pytest
import torch

import hyperweights as hw

pytest.importorskip("diffusers")

from hyperweights.data import Split  # noqa: E402
from hyperweights.diffusion import (D2NWG, DatasetEncoder, DiffusionConfig, WeightVAE, ZooData,  # noqa: E402
                                    evaluate, fit, generate_for_tasks)
from hyperweights.zoo import (ZooConfig, accuracy_after_steps, class_subset_tasks, init_members,  # noqa: E402
                              train_zoo)

SMALL = dict(token_size=16, latent_dim=2, vae_dim=16, vae_layers=1, cond_dim=16, encoder_hidden=16,
             denoiser_width=64, denoiser_blocks=2)


def _blobs(classes=5, features=8, per_class=60, seed=0):
    gen = torch.Generator().manual_seed(seed)
    centres = 3 * torch.randn(classes, features, generator=gen)
    y = torch.arange(classes * per_class) % classes
    x = centres[y] + torch.randn(len(y), features, generator=gen)
    x_test = centres[y] + torch.randn(len(y), features, generator=gen)
    return Split(x, y, x_test, y, "blobs")


def _model(features=8, classes=2, **kw):
    torch.manual_seed(0)
    return D2NWG(hw.mlp([features, 6, classes]), features, classes, **{**SMALL, **kw})


def _randomise_output(model):
    """The denoiser starts by predicting zero noise; give it an output so conditions matter."""
    with torch.no_grad():
        model.denoiser.out[1].weight.normal_(0, 0.5)


def test_parts_shapes():
    vae = WeightVAE(num_tokens=4, token_size=8, latent_dim=3, dim=16, heads=2, layers=1)
    mean, logvar = vae.encode(torch.randn(5, 4, 8))
    assert mean.shape == logvar.shape == (5, 4, 3) and vae.latent_size == 12
    assert vae.loss(torch.randn(5, 4, 8), torch.ones(4, 8, dtype=torch.bool), 0.1).ndim == 0
    enc = DatasetEncoder(8, 2, dim=6, hidden=16)
    assert enc(torch.randn(3, 7, 8), torch.randint(0, 2, (3, 7))).shape == (3, 6)
    model = _model()
    weights = init_members(model.target, [0, 1, 2])
    model.set_normalization(model.layout.table.flatten(init_members(model.target, range(6))))
    latent = model.encode_weights(weights)
    assert latent.shape == (3, model.vae.latent_size)
    decoded = model.decode_latents(latent)
    assert {n: tuple(w.shape) for n, w in decoded.items()} == {n: tuple(w.shape) for n, w in weights.items()}


def test_generate_is_seeded_and_sorted():
    model = _model()
    _randomise_output(model)
    x, y = torch.randn(12, 8), torch.arange(12) % 2
    a = model.generate(x, y, samples=5, sample_steps=4, seed=3)
    b = model.generate(x, y, samples=5, sample_steps=4, seed=3)
    c = model.generate(x, y, samples=5, sample_steps=4, seed=4)
    assert a.weights["0.weight"].shape == (5, 6, 8) and a.support_accuracy.shape == (5,)
    assert all(torch.equal(a.weights[n], b.weights[n]) for n in a.weights)
    assert not torch.equal(a.weights["0.weight"], c.weights["0.weight"])
    assert torch.all(a.support_accuracy[:-1] >= a.support_accuracy[1:])
    assert a.best()["2.bias"].shape == (1, 2)
    tuned = model.generate(x, y, samples=5, sample_steps=4, seed=3, finetune_steps=20)
    assert tuned.support_accuracy[0] >= a.support_accuracy[0]


def test_classifier_free_guidance():
    model = _model()
    _randomise_output(model)
    cond = torch.randn(2, 16)
    same = cond[:1].expand(2, -1)
    # guidance 0 is the unconditional model: the condition has no effect
    torch.testing.assert_close(model.sample_latents(cond, guidance=0.0, sample_steps=3),
                               model.sample_latents(same, guidance=0.0, sample_steps=3))
    # guidance 1 is the conditional model; larger scales extrapolate away from the null condition
    g1 = model.sample_latents(cond, guidance=1.0, sample_steps=3)
    g3 = model.sample_latents(cond, guidance=3.0, sample_steps=3)
    assert not torch.allclose(g1, model.sample_latents(same, guidance=1.0, sample_steps=3))
    assert not torch.allclose(g1, g3)


def test_bad_input_is_explained():
    model = _model()
    with pytest.raises(ValueError, match=r"float tensor \(N, 8\)"):
        model.generate(torch.randn(5, 7), torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="labels must be in 0..1"):
        model.generate(torch.randn(5, 8), torch.full((5,), 3))
    with pytest.raises(ValueError, match="samples must be a positive integer"):
        model.generate(torch.randn(5, 8), torch.zeros(5, dtype=torch.long), samples=0)
    with pytest.raises(ValueError, match="uncond_prob"):
        DiffusionConfig(uncond_prob=1.0).validate()
    tasks = class_subset_tasks(_blobs(), 2, train_per_class=10, test_per_class=5)
    with pytest.raises(ValueError, match="one task id per member"):
        ZooData(init_members(model.target, [0, 1]), torch.tensor([0]), tasks)


def test_save_load_round_trip(tmp_path):
    model = _model()
    _randomise_output(model)
    model.set_normalization(torch.randn(4, model.layout.table.total))
    hw.save(model, tmp_path / "d2nwg.safetensors")
    again = hw.load(tmp_path / "d2nwg.safetensors", target=hw.mlp([8, 6, 2]))
    x, y = torch.randn(10, 8), torch.arange(10) % 2
    a, b = model.generate(x, y, samples=3, sample_steps=3), again.generate(x, y, samples=3, sample_steps=3)
    assert all(torch.equal(a.weights[n], b.weights[n]) for n in a.weights)
    with pytest.raises(ValueError, match="not those the model was trained for"):
        hw.load(tmp_path / "d2nwg.safetensors", target=hw.mlp([8, 7, 2]))
    with pytest.raises(TypeError, match="target=net"):
        hw.load(tmp_path / "d2nwg.safetensors")


def test_tiny_fit_generates_better_than_random_on_unseen_tasks():
    split = _blobs(classes=5)
    tasks = class_subset_tasks(split, 2, train_per_class=30, test_per_class=30)
    held, seen = torch.tensor([3, 6]), torch.tensor([i for i in range(10) if i not in (3, 6)])
    model = _model()
    ids = seen.repeat(3)
    zoo, _ = train_zoo(model.target, tasks, ids, range(len(ids)), ZooConfig(steps=40, progress=False),
                       init=init_members(model.target, [0] * len(ids)))
    cfg = DiffusionConfig(vae_steps=80, align_steps=30, diffusion_steps=120, batch_size=16, lr=3e-3,
                          support_size=20, progress=False)
    result = fit(model, ZooData(zoo, ids, tasks), cfg)
    assert result.steps == 230
    unseen = tasks.subset(held)
    scores = evaluate(model, unseen, samples=6, support_size=20, sample_steps=10)
    random = accuracy_after_steps(model.target, unseen, [0, 1], init_members(model.target, [5, 6]), (0,))
    assert scores["accuracy_0"] > float(random[0].mean()) + 0.2
    # every sample, not only the best of K on the support set: the condition carries the task
    assert scores["mean_sample_accuracy"] > float(random[0].mean()) + 0.2
    best, every, support = generate_for_tasks(model, unseen, samples=4, support_size=20, sample_steps=5)
    assert best["0.weight"].shape == (2, 6, 8) and every["0.weight"].shape == (8, 6, 8)
    assert support.shape == (2, 4)


def test_functional_reconstruction_loss():
    from hyperweights.diffusion.fit import _functional_loss
    model = _model()
    weights = init_members(model.target, [0, 1, 2])
    model.set_normalization(model.layout.table.flatten(init_members(model.target, range(6))))
    x = torch.randn(3, 10, 8)
    exact = _functional_loss(model, weights, model.tokens(weights), x)
    torch.testing.assert_close(exact, torch.tensor(0.0), atol=1e-6, rtol=0)  # same function: no loss
    valid = model.layout.valid
    decoded, _ = model.vae.reconstruct(model.tokens(weights), valid, 0.01)
    loss = _functional_loss(model, weights, decoded, x)
    loss.backward()
    assert loss > 0 and model.vae.to_tokens.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="functional_weight"):
        DiffusionConfig(functional_weight=-1.0).validate()
    # the VAE stage runs with it and stays seeded
    tasks = class_subset_tasks(_blobs(), 2, train_per_class=10, test_per_class=5)
    data = ZooData(init_members(model.target, range(6)), torch.arange(6) % len(tasks), tasks)
    cfg = DiffusionConfig(vae_steps=4, align_steps=0, diffusion_steps=0, batch_size=4,
                          functional_weight=1.0, functional_images=8, progress=False)
    assert fit(_model(), data, cfg).losses == fit(_model(), data, cfg).losses
