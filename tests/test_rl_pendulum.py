"""hyperweights.rl on Pendulum: the batched dynamics against gymnasium, Gaussian policies, PPO."""

import math

import numpy as np
import pytest
import torch
from torch.func import functional_call

import hyperweights as hw

from hyperweights.rl import PendulumBatch, RLConfig, TaskPolicy, evaluate, fit, gym_pendulum, make_env

TASKS = torch.tensor([[0.7, 0.7], [1.0, 1.0], [1.3, 1.3]])


@pytest.mark.parametrize("m, l", [(1.0, 1.0), (1.7, 0.6)])
def test_batched_pendulum_matches_gymnasium_step_by_step(m, l):  # noqa: E741
    pytest.importorskip("gymnasium")
    env = gym_pendulum(m=m, l=l)
    obs, _ = env.reset(seed=0)
    ours = PendulumBatch([[m, l]])
    ours.reset()
    ours.state = torch.as_tensor(env.unwrapped.state, dtype=torch.float64)[None].clone()
    torques = torch.randn(200, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 3  # some clip
    for t, u in enumerate(torques.tolist()):
        obs, reward, terminated, truncated, _ = env.step(np.array([u]))
        mine, my_reward, my_terminated, my_truncated = ours.step(torch.tensor([[u]], dtype=torch.float64))
        assert (bool(my_terminated[0]), bool(my_truncated[0])) == (terminated, truncated) == (False, t == 199)
        assert float(my_reward[0]) == pytest.approx(reward, rel=1e-6)
        np.testing.assert_allclose(ours.final_obs[0].numpy(), obs, rtol=1e-6, atol=1e-6)
        if not truncated:        # at the time limit ours has reset already; gymnasium's wrapper has not
            torch.testing.assert_close(ours.state[0], torch.as_tensor(env.unwrapped.state, dtype=torch.float64))
    assert len(ours.episode_returns) == 1 and int(ours.steps[0]) == 0


def test_mass_and_length_change_the_dynamics_as_the_equations_say():
    envs = PendulumBatch([[1.0, 1.0], [2.0, 1.0], [1.0, 2.0]])
    envs.reset()
    envs.state[:] = torch.tensor([0.0, 0.0], dtype=torch.float64)       # upright, at rest
    _, reward, _, _ = envs.step(torch.full((3, 1), 2.0))
    # from rest upright only the torque acts: 3 u / (m l^2) dt
    torch.testing.assert_close(envs.state[:, 1], torch.tensor([6.0, 3.0, 1.5], dtype=torch.float64) * 0.05)
    torch.testing.assert_close(reward, torch.full((3,), -0.004))         # 0.001 u^2, nothing else


def test_angles_are_normalised_and_torques_and_speeds_clipped():
    envs = PendulumBatch([[1.0, 1.0]] * 2)
    envs.reset()
    envs.state[:] = torch.tensor([[4 * math.pi, 0.0], [math.pi - 0.1, 7.99]], dtype=torch.float64)
    _, reward, _, _ = envs.step(torch.tensor([[50.0], [2.0]]))
    assert float(reward[0]) == pytest.approx(-0.004)                     # 4 pi is upright; u clipped to 2
    assert float(envs.state[1, 1]) == 8.0                                # max speed


def policy(method="hypernetwork"):
    torch.manual_seed(0)
    return TaskPolicy.for_env("pendulum", method, TASKS, hidden=8, depth=2, hyper_hidden=(8,), critic_hidden=16)


@pytest.mark.parametrize("method", ["hypernetwork", "per_task"])
def test_each_environment_acts_with_its_own_tasks_weights(method):
    model = policy(method)
    params, obs = TASKS[[0, 2, 1, 2]], torch.randn(4, 3)
    weights = model.policy_weights(params)
    assert weights["2.weight"].shape == (4, 8, 8)                         # depth 2
    mean, _ = model(obs, params)
    for i in range(4):          # the reference: each environment alone with its own weight set
        one = functional_call(model.actor, {n: w[i] for n, w in weights.items()}, (obs[i:i + 1],))
        torch.testing.assert_close(mean[i:i + 1], one)
    assert not torch.allclose(mean[0], mean[1])
    used = model.net.hypernetwork.parameters() if method == "hypernetwork" else model.table.parameters()
    assert model.policy_parameter_count() == sum(p.numel() for p in used) + 1      # + the log-std


def test_gaussian_distribution_is_diagonal_with_a_shared_log_std():
    model = policy("input")
    mean, _ = model(torch.randn(5, 3), TASKS[[0, 1, 2, 0, 1]])
    with torch.no_grad():
        model.log_std.fill_(math.log(0.5))
    dist = model.distribution(mean)
    action = dist.sample()
    assert action.shape == (5, 1) and dist.log_prob(action).shape == (5,)
    expected = torch.distributions.Normal(mean, 0.5).log_prob(action).squeeze(1)
    torch.testing.assert_close(dist.log_prob(action), expected)
    torch.testing.assert_close(model.greedy(mean), mean)
    assert model.policy_parameter_count() == sum(p.numel() for p in model.actor.parameters()) + 1


def test_ppo_learns_to_swing_up_a_light_short_pendulum():
    # m = 0.2 kg, l = 0.5 m: the torque outweighs gravity (3 u / (m l^2) = 120 > 3 g / (2 l) = 30),
    # so a few thousand steps suffice to learn to hold it upright (the default pendulum needs ~10^5)
    torch.manual_seed(0)
    task = [[0.2, 0.5]]
    model = TaskPolicy.for_env("pendulum", "input", task, hidden=32, critic_hidden=32)
    before = evaluate(model, task, env="pendulum", episodes=8)["return"]
    cfg = RLConfig.pendulum(env_steps=3200, num_envs=8, rollout_steps=200, minibatches=4, progress=False)
    result = fit(model, cfg)
    after = evaluate(model, task, env="pendulum", episodes=8)["return"]
    assert len(result.extra["curve"]) == cfg.iterations
    assert before < -1000 and after > -400, (before, after)


def test_gaussian_policy_save_load_round_trip(tmp_path):
    model = policy("hypernetwork")
    with torch.no_grad():
        model.log_std.fill_(-0.7)
    hw.save(model, tmp_path / "pendulum.safetensors")
    again = hw.load(tmp_path / "pendulum.safetensors")
    obs = torch.randn(3, 3)
    torch.testing.assert_close(again(obs, TASKS)[0], model(obs, TASKS)[0])
    assert again.config["action"] == "gaussian" and again.log_std.item() == pytest.approx(-0.7)


@pytest.mark.parametrize("call, words", [
    (lambda: PendulumBatch([[1.0, 0.0]]), "positive finite"),
    (lambda: make_env("acrobot", [[1.0, 1.0]]), "unknown environment"),
    (lambda: TaskPolicy.for_env("mountaincar", "input", TASKS), "unknown environment"),
    (lambda: TaskPolicy(3, 1, 2, "input", TASKS, action="beta"), "action must be one of"),
    (lambda: fit(TaskPolicy(4, 2, 2, "input", TASKS), RLConfig.pendulum(num_envs=4, progress=False)),
     "does not fit 'pendulum'"),
    (lambda: evaluate(policy(), TASKS), "does not fit 'cartpole'"),
    (lambda: RLConfig(env="acrobot").validate(), "RLConfig.env"),
])
def test_bad_input_is_a_clear_error(call, words):
    with pytest.raises(ValueError) as info:
        call()
    assert words in str(info.value)
