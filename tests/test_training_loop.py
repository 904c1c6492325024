"""The core training loop: resume is bit-identical, checkpoints are validated, configs round-trip."""

import argparse
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F

import hyperweights as hw
from hyperweights.training import FitResult, TrainConfig, config_field, train_loop


def _problem(seed=0):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Dropout(0.2), torch.nn.Linear(8, 3))
    x, y = torch.randn(96, 5), torch.randint(0, 3, (96,))
    return net, x, y


def _run(tmp_path, total, cfg, stop_at=None):
    """Train; with ``stop_at``, the step function raises there (a crash mid-run)."""
    net, x, y = _problem()
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = hw.make_optimizer(net.parameters(), cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, total)

    def step(i):
        if i == stop_at:
            raise KeyboardInterrupt
        idx = torch.randint(0, len(x), (cfg.batch_size,), generator=gen)
        return F.cross_entropy(net(x[idx]), y[idx])   # dropout draws from the global RNG

    result = train_loop(step, opt, cfg, total_steps=total, model=net, scheduler=sched, generators=[gen])
    return net, result


def test_resume_after_a_crash_is_bit_identical(tmp_path):
    path = str(tmp_path / "run.safetensors")
    straight_net, straight = _run(tmp_path, 30, TrainConfig(batch_size=8, progress=False))
    cfg = TrainConfig(batch_size=8, progress=False, checkpoint_every=10, checkpoint_path=path)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, 30, cfg, stop_at=25)
    resumed_net, resumed = _run(tmp_path, 30, TrainConfig(batch_size=8, progress=False,
                                                           checkpoint_every=10, checkpoint_path=path,
                                                           resume=True))
    assert resumed.losses == straight.losses and resumed.steps == 30
    for a, b in zip(straight_net.parameters(), resumed_net.parameters()):
        assert torch.equal(a, b)


def test_resume_with_other_settings_names_the_field(tmp_path):
    path = str(tmp_path / "run.safetensors")
    _run(tmp_path, 5, TrainConfig(batch_size=8, progress=False, checkpoint_path=path))
    with pytest.raises(ValueError, match="batch_size"):
        _run(tmp_path, 5, TrainConfig(batch_size=4, progress=False, checkpoint_path=path, resume=True))


def test_resume_without_a_checkpoint_says_where_it_looked(tmp_path):
    path = tmp_path / "none.safetensors"
    with pytest.raises(FileNotFoundError, match="none.safetensors"):
        _run(tmp_path, 5, TrainConfig(progress=False, checkpoint_path=str(path), resume=True))


def test_a_non_finite_loss_is_an_error_naming_the_step():
    w = torch.nn.Parameter(torch.ones(1))
    opt = hw.make_optimizer([w], 1e-3)
    losses = [1.0, 2.0, float("nan")]
    with pytest.raises(ValueError, match="nan at step 2"):
        train_loop(lambda i: (w * losses[i]).sum(), opt, TrainConfig(progress=False),
                   total_steps=3, model=torch.nn.Module())


@pytest.mark.parametrize("field, value, phrase", [
    ("lr", 0.0, "lr must be a positive finite number"),
    ("lr", float("nan"), "lr must be"),
    ("batch_size", 0, "batch_size must be a positive integer"),
    ("batch_size", 2.5, "batch_size must be a positive integer"),
    ("seed", "1", "seed must be an integer"),
    ("checkpoint_every", -1, "checkpoint_every must be a non-negative integer"),
    ("device", "gpu7", "not a torch device"),
])
def test_validate_names_the_field(field, value, phrase):
    with pytest.raises(ValueError, match=phrase):
        TrainConfig(**{field: value}).validate()


def test_checkpointing_options_need_a_path():
    with pytest.raises(ValueError, match="needs a checkpoint_path"):
        TrainConfig(checkpoint_every=5).validate()
    with pytest.raises(ValueError, match="resume=True needs"):
        TrainConfig(resume=True).validate()


def test_negative_total_steps_is_an_error():
    w = torch.nn.Parameter(torch.ones(1))
    with pytest.raises(ValueError, match="total_steps"):
        train_loop(lambda i: w.sum(), hw.make_optimizer([w], 1e-3), TrainConfig(), total_steps=-1,
                   model=torch.nn.Module())


@dataclass
class _AppConfig(TrainConfig):
    steps: int = config_field(100, "optimizer steps")
    widths: list = config_field([8, 8], "hidden widths")


def test_config_round_trips_through_dict_and_cli():
    cfg = _AppConfig(lr=3e-3, steps=7)
    assert _AppConfig.from_dict(cfg.to_dict()) == cfg
    parser = argparse.ArgumentParser()
    _AppConfig.add_arguments(parser)
    args = parser.parse_args(["--steps", "9", "--no-progress", "--widths", "4", "5"])
    parsed = _AppConfig.from_args(args)
    assert parsed.steps == 9 and parsed.progress is False and parsed.widths == [4, 5]
    assert "optimizer steps" in parser.format_help()
    with pytest.raises(ValueError, match=r"no field\(s\) \['stepz'\]"):
        _AppConfig.from_dict({"stepz": 3})


def test_fit_result_fields():
    r = FitResult(losses=[1.0], seconds=0.5, steps=1)
    assert r.extra == {}


def test_after_step_returning_true_ends_the_run_and_writes_the_checkpoint(tmp_path):
    w = torch.nn.Parameter(torch.ones(1))
    path = str(tmp_path / "run.safetensors")
    result = train_loop(lambda i: w.square().sum(), hw.make_optimizer([w], 1e-2),
                        TrainConfig(progress=False, checkpoint_path=path), total_steps=50,
                        model=torch.nn.ParameterList([w]), after_step=lambda i: i == 6)
    assert result.steps == 7 and len(result.losses) == 7
    from hyperweights._files import load_tensors
    assert load_tensors(path)[1]["step"] == 7


def test_extra_state_is_checkpointed_and_restored(tmp_path):
    path = str(tmp_path / "run.safetensors")

    def run(crash_at=None, resume=False):
        torch.manual_seed(0)
        main, side = torch.nn.Linear(3, 1), torch.nn.Linear(3, 1)
        side_opt = hw.make_optimizer(side.parameters(), 1e-2)
        x = torch.randn(16, 3)

        def after(i):                      # a companion trained in the hook, as a GAN's discriminator
            if i == crash_at:
                raise KeyboardInterrupt
            side_opt.zero_grad()
            side(x).square().mean().backward()
            side_opt.step()

        cfg = TrainConfig(progress=False, checkpoint_every=3, checkpoint_path=path, resume=resume)
        train_loop(lambda i: main(x).square().mean(), hw.make_optimizer(main.parameters(), 1e-2), cfg,
                   total_steps=10, model=torch.nn.ModuleList([main, side]), after_step=after,
                   extra_state={"side_optimizer": side_opt})
        return side

    straight = run()
    with pytest.raises(KeyboardInterrupt):
        run(crash_at=7)
    resumed = run(resume=True)
    assert torch.equal(straight.weight, resumed.weight)
