"""hyperweights.rl: CartPole physics per environment, task-conditioned policies, PPO."""

import pytest
import torch
from torch.func import functional_call

import hyperweights as hw
from hyperweights.rl import CartPoleBatch, RLConfig, TaskPolicy, evaluate, fit, gym_cartpole

TASKS = torch.tensor([[0.3, 0.05], [0.6, 0.2], [1.0, 0.1]])


def test_gym_cartpole_sets_the_parameters_and_their_derived_terms():
    pytest.importorskip("gymnasium")
    core = gym_cartpole(length=0.9, masspole=0.4).unwrapped
    assert (core.length, core.masspole) == (0.9, 0.4)
    assert core.total_mass == pytest.approx(1.4) and core.polemass_length == pytest.approx(0.36)


@pytest.mark.parametrize("length, masspole", [(0.5, 0.1), (1.2, 0.45)])
def test_batched_cartpole_matches_gymnasium_step_by_step(length, masspole):
    pytest.importorskip("gymnasium")
    env = gym_cartpole(length=length, masspole=masspole)
    env.reset(seed=0)
    ours = CartPoleBatch([[length, masspole]])
    ours.reset()
    ours.state = torch.as_tensor(env.unwrapped.state, dtype=torch.float64)[None].clone()
    actions = torch.randint(0, 2, (200,), generator=torch.Generator().manual_seed(1))
    for a in actions.tolist():
        obs, reward, terminated, truncated, _ = env.step(a)
        mine, my_reward, my_terminated, _ = ours.step(torch.tensor([a]))
        assert bool(my_terminated[0]) == terminated and float(my_reward[0]) == reward
        if terminated:
            break
        torch.testing.assert_close(ours.state[0], torch.as_tensor(env.unwrapped.state, dtype=torch.float64))
    assert terminated, "200 random actions should drop the pole"


def test_parameters_change_the_dynamics():
    envs = CartPoleBatch([[0.3, 0.1], [1.5, 0.1], [0.3, 0.8]])
    envs.reset()
    envs.state[:] = torch.tensor([0.0, 0.0, 0.05, 0.0], dtype=torch.float64)
    envs.step(torch.ones(3, dtype=torch.long))
    theta_dot = envs.state[:, 3]
    assert theta_dot[0] != theta_dot[1] != theta_dot[2]
    assert abs(theta_dot[1]) < abs(theta_dot[0])       # a longer pole tips more slowly


def test_episodes_end_and_reset_automatically():
    envs = CartPoleBatch([[0.5, 0.1]] * 4, generator=torch.Generator().manual_seed(0))
    envs.reset()
    ended = []
    for _ in range(60):                                  # always pushing right drops the pole
        _, _, terminated, _ = envs.step(torch.ones(4, dtype=torch.long))
        ended.append(envs.episode_returns)
    returns = torch.cat(ended)
    assert len(returns) >= 4 and (returns > 0).all() and envs.steps.max() < 60


def policy(method="hypernetwork"):
    torch.manual_seed(0)
    return TaskPolicy(4, 2, 2, method, TASKS, hidden=8, hyper_hidden=(16,), critic_hidden=16)


def test_hypernetwork_policy_runs_each_env_with_its_tasks_generated_weights():
    model = policy()
    params = TASKS[[0, 2, 1, 2]]
    obs = torch.randn(4, 4)
    weights = model.policy_weights(params)
    generated = model.net.hypernetwork(model.normalise(params))
    for name in weights:
        torch.testing.assert_close(weights[name], generated[name])
    assert not torch.allclose(weights["0.weight"][0], weights["0.weight"][1])   # tasks differ
    torch.testing.assert_close(weights["0.weight"][1], weights["0.weight"][3])  # same task, same weights
    logits, _ = model(obs, params)
    for i in range(4):          # the reference: each environment alone with its own weight set
        one = functional_call(model.actor, {n: w[i] for n, w in weights.items()}, (obs[i:i + 1],))
        torch.testing.assert_close(logits[i:i + 1], one)


def test_per_task_policy_uses_the_nearest_training_tasks_weights():
    model = policy("per_task")
    unseen = torch.tensor([[0.32, 0.06], [0.95, 0.12]])
    assert model.task_index(torch.cat([TASKS, unseen])).tolist() == [0, 1, 2, 0, 2]
    weights = model.policy_weights(unseen)
    torch.testing.assert_close(weights["2.weight"][1], model.table["2_weight"][2])
    obs = torch.randn(2, 4)
    logits, _ = model(obs, unseen)
    logits.sum().backward()
    grad = model.table["0_weight"].grad
    assert grad[1].abs().sum() == 0 and grad[0].abs().sum() > 0     # only the tasks used learn


def test_input_policy_sees_the_parameters():
    model = policy("input")
    obs = torch.randn(1, 4)
    a, _ = model(obs, TASKS[:1])
    b, _ = model(obs, TASKS[2:])
    assert not torch.allclose(a, b)


def test_ppo_improves_the_return():
    model = policy("hypernetwork")
    cfg = RLConfig(env_steps=6144, num_envs=24, rollout_steps=64, epochs=2, progress=False, seed=0)
    before = evaluate(model, TASKS, episodes=4)["return"]
    result = fit(model, cfg)
    curve = [r for _, r in result.extra["curve"]]
    assert len(curve) == cfg.iterations and curve[-1] > curve[0]
    assert evaluate(model, TASKS, episodes=4)["return"] > before


def test_save_load_round_trip(tmp_path):
    for method in ("hypernetwork", "per_task"):
        model = policy(method)
        hw.save(model, tmp_path / f"{method}.safetensors")
        again = hw.load(tmp_path / f"{method}.safetensors")
        obs, params = torch.randn(3, 4), TASKS
        torch.testing.assert_close(again(obs, params)[0], model(obs, params)[0])


@pytest.mark.parametrize("call, words", [
    (lambda: TaskPolicy(4, 2, 2, "lstm", TASKS), "method must be one of"),
    (lambda: TaskPolicy(4, 2, 3, "input", TASKS), "(K, 3)"),
    (lambda: policy()(torch.randn(2, 4), TASKS), "one row per observation"),
    (lambda: policy("input").policy_weights(TASKS), "'hypernetwork' and 'per_task'"),
    (lambda: CartPoleBatch([[0.5, -0.1]]), "positive finite"),
    (lambda: CartPoleBatch([0.5, 0.1]), "(N, 2)"),
    (lambda: fit(policy(), RLConfig(num_envs=4, progress=False)), "multiple of the 3 training tasks"),
    (lambda: RLConfig(gamma=1.5).validate(), "gamma"),
])
def test_bad_input_is_a_clear_error(call, words):
    with pytest.raises(ValueError) as info:
        call()
    assert words in str(info.value)
