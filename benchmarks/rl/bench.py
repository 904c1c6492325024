"""``hyperweights bench rl``: task-conditioned policies on training and held-out physics.

``--env cartpole`` (default): pole half-length in {0.3, 0.6, 1.0} m x pole mass in {0.05, 0.2} kg
(6 tasks, 8 environments each); held-out poles :data:`HELD_OUT` (two inside the training ranges,
four outside). ``--env pendulum``: mass in {0.7, 1.0, 1.3} kg x length in {0.7, 1.0, 1.3} m
(9 tasks, 4 environments each); held-out pendulums :data:`PENDULUM_HELD_OUT` (two inside, four
outside). Three policies (the hypernetwork, the parameters-as-input policy, one policy per training
task), each trained with the same PPO settings for the same environment steps at each seed, then
scored greedily (10 episodes per task, the environment's time limit). Learning curves (mean return
of the training episodes) are plotted. A uniformly random policy's return is measured for scale.

Also measured: one step of all environments, the batched torch environment against gymnasium's
``SyncVectorEnv`` of the same environments (interleaved medians; noisy on a shared machine).

Goal: the hypernetwork policy has the best held-out return of the three (count of seeds).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass, field, replace

import torch

from hyperweights.bench import interleaved, markdown_table, write_results
from hyperweights.bench.goals import goal
from hyperweights.bench.progress import progress
from hyperweights.bench.report import result_path
from hyperweights.rl import (ENVIRONMENTS, POLICY_METHODS, RLConfig, TaskPolicy, evaluate, fit, gym_cartpole,
                             gym_pendulum, make_env)

__all__ = ["add_arguments", "main", "TRAIN_TASKS", "HELD_OUT", "PENDULUM_TASKS", "PENDULUM_HELD_OUT",
           "StudyConfig", "STUDIES"]

#: (half-length m, pole mass kg) of the training tasks
TRAIN_TASKS = tuple((length, mass) for length in (0.3, 0.6, 1.0) for mass in (0.05, 0.2))
#: held-out tasks: two interpolations, then four extrapolations (short, long, heavy, long + heavy)
HELD_OUT = ((0.45, 0.12), (0.8, 0.15), (0.15, 0.1), (1.6, 0.1), (0.5, 0.6), (1.6, 0.5))
#: (mass kg, length m) of the Pendulum training tasks
PENDULUM_TASKS = tuple((m, length) for m in (0.7, 1.0, 1.3) for length in (0.7, 1.0, 1.3))
#: two interpolations, then four extrapolations (light, heavy, short, long + heavy)
PENDULUM_HELD_OUT = ((0.85, 1.15), (1.15, 0.85), (0.5, 1.0), (1.6, 1.0), (1.0, 0.5), (1.5, 1.5))


@dataclass
class StudyConfig:
    env: str = "cartpole"
    env_steps: int = 200_000
    num_envs: int = 48
    rollout_steps: int = 64
    hidden: int = 32
    depth: int = 1
    input_hidden: int | None = None     # the parameters-as-input network's width (None: hidden)
    hyper_hidden: tuple[int, ...] = (64,)
    episodes: int = 10
    max_steps: int | None = None        # None: the environment's time limit
    seeds: tuple[int, ...] = (0, 1, 2)
    ppo: dict = field(default_factory=dict)   # RLConfig overrides


#: per environment: (training tasks, held-out tasks, the real run's sizes, the smoke sizes).
#: Pendulum's policy networks are 3 -> 32 -> 32 -> 1 (1,217 weights); the hypernetwork's trunk of
#: width 8 and the input policy's width 100 bring the three actors to ~11k parameters each.
STUDIES = {
    "cartpole": (TRAIN_TASKS, HELD_OUT, StudyConfig(),
                 StudyConfig(env_steps=1536, num_envs=12, rollout_steps=32, hidden=8, hyper_hidden=(16,),
                             episodes=1, max_steps=100, seeds=(0,))),
    "pendulum": (PENDULUM_TASKS, PENDULUM_HELD_OUT,
                 StudyConfig(env="pendulum", env_steps=144_000, num_envs=36, rollout_steps=200, depth=2,
                             input_hidden=100, hyper_hidden=(8,)),
                 StudyConfig(env="pendulum", env_steps=1800, num_envs=9, rollout_steps=100, hidden=8, depth=2,
                             hyper_hidden=(4,), episodes=1, max_steps=50, seeds=(0,),
                             ppo={"epochs": 2, "minibatches": 4})),
}
GYM = {"cartpole": gym_cartpole, "pendulum": gym_pendulum}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", choices=sorted(STUDIES), default="cartpole", help="environment (default cartpole)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (seconds), for CI")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds (default 0 1 2)")
    parser.add_argument("--env-steps", type=int, default=None, help="environment steps per policy")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...)")
    parser.add_argument("--tag", default="", help="suffix of the result file names (e.g. _200k)")


def _random_actions(env: str, num: int) -> torch.Tensor:
    spec = ENVIRONMENTS[env]
    if spec.continuous:      # uniform over gymnasium's action box (the torque range, +-2)
        return torch.rand(num, spec.action_dim) * 4 - 2
    return torch.randint(0, spec.action_dim, (num,))


def _random_return(env: str, tasks, episodes: int, seed: int) -> float:
    """Mean return of uniformly random actions over the first ``episodes`` episodes of each task."""
    envs = make_env(env, torch.tensor(tasks).repeat_interleave(episodes, 0),
                    generator=torch.Generator().manual_seed(seed))
    envs.reset()
    torch.manual_seed(seed)
    first = torch.full((envs.num,), float("nan"))        # each environment's first episode's return
    while first.isnan().any():
        _, _, terminated, truncated = envs.step(_random_actions(env, envs.num))
        ended = torch.full((envs.num,), float("nan"))
        ended[(terminated | truncated).cpu()] = envs.episode_returns
        first = torch.where(first.isnan(), ended, first)
    return first.mean().item()


def _env_speed(env: str, tasks, num_envs: int, smoke: bool) -> dict:
    """Milliseconds per step of all environments: ours against gymnasium's SyncVectorEnv."""
    import gymnasium
    rows = [tasks[i % len(tasks)] for i in range(num_envs)]
    ours = make_env(env, rows, generator=torch.Generator().manual_seed(0))
    ours.reset()
    theirs = gymnasium.vector.SyncVectorEnv([lambda t=t: GYM[env](*t) for t in rows])
    theirs.reset(seed=0)
    actions = _random_actions(env, num_envs)
    steps = 10 if smoke else 100
    times = interleaved({"ours": lambda: [ours.step(actions) for _ in range(steps)],
                         "gymnasium": lambda: [theirs.step(actions.numpy()) for _ in range(steps)]},
                        rounds=3 if smoke else 10, warmup=1)
    theirs.close()
    return {"num_envs": num_envs, "ours_ms_per_step": round(times["ours"] / steps, 4),
            "gymnasium_ms_per_step": round(times["gymnasium"] / steps, 4),
            "speedup": round(times["gymnasium"] / times["ours"], 2)}


def _plot(runs: list[dict], cfg: StudyConfig, tasks, path) -> None:
    from hyperweights.bench.plotting import pyplot, save_figure
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for method in POLICY_METHODS:
        for k, run in enumerate(r for r in runs if r["method"] == method):
            steps, returns = zip(*run["curve"]) if run["curve"] else ((), ())
            ax.plot(steps, returns, color=f"C{POLICY_METHODS.index(method)}", alpha=0.8,
                    label=method if k == 0 else None)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("training episode return")
    ax.set_title(f"{cfg.env.capitalize()}, {len(tasks)} training tasks, {len(cfg.seeds)} seeds")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def _train_and_score(method: str, seed: int, cfg: StudyConfig, tasks, held_out, device) -> dict:
    torch.manual_seed(seed)
    hidden = cfg.input_hidden if method == "input" and cfg.input_hidden else cfg.hidden
    model = TaskPolicy.for_env(cfg.env, method, tasks, hidden=hidden, depth=cfg.depth,
                               hyper_hidden=cfg.hyper_hidden)
    sizes = dict(env_steps=cfg.env_steps, num_envs=cfg.num_envs, rollout_steps=cfg.rollout_steps, seed=seed,
                 device=str(device), progress=False, **cfg.ppo)
    config = RLConfig.pendulum(**sizes) if cfg.env == "pendulum" else RLConfig(**sizes)
    result = fit(model, config)
    score = dict(env=cfg.env, episodes=cfg.episodes, max_steps=cfg.max_steps)
    train = evaluate(model, tasks, seed=1000 + seed, **score)
    held = evaluate(model, held_out, seed=2000 + seed, **score)
    return {"seed": seed, "method": method, "params": sum(p.numel() for p in model.parameters()),
            "actor_params": model.policy_parameter_count(),
            "train_return": round(train["return"], 1), "held_out_return": round(held["return"], 1),
            "held_out_min": round(held["min_task_return"], 1),
            "held_out_per_task": [round(held[f"task_{i}"], 1) for i in range(len(held_out))],
            "env_steps": result.steps // (config.epochs * config.minibatches) * cfg.num_envs * cfg.rollout_steps,
            "train_s": round(result.seconds, 1),
            "curve": [(s, round(r, 1)) for s, r in result.extra["curve"]]}


def main(args) -> int:
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    tic = time.perf_counter()
    env = getattr(args, "env", "cartpole")
    tasks, held_out, real, smoke = STUDIES[env]
    cfg = replace(smoke if args.smoke else real)
    if args.seeds:
        cfg.seeds = tuple(args.seeds)
    if args.env_steps:
        cfg.env_steps = args.env_steps
    held_out = held_out[:2] if args.smoke else held_out
    print(f"[rl] {env}: environment step time", flush=True)
    speed = _env_speed(env, tasks, cfg.num_envs, args.smoke)
    random_return = {"train": round(_random_return(env, tasks, cfg.episodes, 0), 1),
                     "held_out": round(_random_return(env, held_out, cfg.episodes, 1), 1)}
    runs = []
    bar = progress(total=len(cfg.seeds) * len(POLICY_METHODS), desc=f"rl {env}")
    for seed in cfg.seeds:
        for method in POLICY_METHODS:
            runs.append(_train_and_score(method, seed, cfg, tasks, held_out, device))
            bar.update()
            bar.set_postfix_str(f"seed {seed} {method}: held-out {runs[-1]['held_out_return']}")
    bar.close()

    margins = []    # per seed: the hypernetwork's held-out return minus the best other policy's
    for seed in cfg.seeds:
        score = {r["method"]: r["held_out_return"] for r in runs if r["seed"] == seed}
        margins.append(round(score["hypernetwork"] - max(score["input"], score["per_task"]), 1))
    mean = lambda m, key: sum(r[key] for r in runs if r["method"] == m) / len(cfg.seeds)  # noqa: E731
    target = goal("hypernetwork policy has the best held-out return", min(margins), 0.0, at_most=False,
                  per_seed=margins)
    target["met"] = all(m > 0 for m in margins)
    target["seeds_met"] = sum(m > 0 for m in margins)
    stem = "rl" if env == "cartpole" else f"rl_{env}"
    name = stem + ("_smoke" if args.smoke else "") + args.tag
    summary = [{"method": m, "train_return": round(mean(m, "train_return"), 1),
                "held_out_return": round(mean(m, "held_out_return"), 1)} for m in POLICY_METHODS]
    payload = {"env": env, "config": asdict(cfg), "train_tasks": tasks, "held_out_tasks": held_out,
               "threads": args.threads, "device": str(device), "env_speed": speed,
               "random_policy_return": random_return, "runs": runs, "summary": summary,
               "held_out_margin_per_seed": margins, "goal_hypernetwork_best": target,
               "seconds": round(time.perf_counter() - tic, 1)}
    _plot(runs, cfg, tasks, result_path(f"{name}_curves.png", "rl"))
    path = write_results(name, payload)
    print(markdown_table(runs, ["seed", "method", "params", "actor_params", "train_return", "held_out_return",
                                "held_out_min"]))
    print(markdown_table(summary))
    print(f"random policy: train {random_return['train']}, held-out {random_return['held_out']}")
    print(f"env step ({cfg.num_envs} envs): ours {speed['ours_ms_per_step']} ms, gymnasium SyncVectorEnv "
          f"{speed['gymnasium_ms_per_step']} ms ({speed['speedup']}x)")
    print(f"goal (hypernetwork best held-out): met at {target['seeds_met']} of {len(margins)} seeds; "
          f"margins {margins}")
    print(f"wrote {path}")
    return 0
