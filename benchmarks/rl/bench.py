"""``hyperweights bench rl``: task-conditioned CartPole policies on training and held-out poles.

Training tasks: pole half-length in {0.3, 0.6, 1.0} m x pole mass in {0.05, 0.2} kg (6 tasks, 8
environments each). Held-out tasks (:data:`HELD_OUT`): two inside the training ranges, four
outside them. Three policies (the hypernetwork, the parameters-as-input policy, one policy per
training task), each trained with the same PPO settings for the same environment steps at each
seed, then scored greedily (10 episodes per task, the 500-step cap of CartPole-v1).
Learning curves (mean return of the training episodes) are plotted.

Also measured: one step of all environments, the batched torch CartPole against gymnasium's
``SyncVectorEnv`` of the same environments (interleaved medians; noisy on a shared machine).

Goal: the hypernetwork policy has the best held-out return of the three (count of seeds).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass

import torch

from hyperweights.bench import interleaved, markdown_table, write_results
from hyperweights.bench.goals import goal
from hyperweights.bench.progress import progress
from hyperweights.bench.report import result_path
from hyperweights.rl import POLICY_METHODS, CartPoleBatch, RLConfig, TaskPolicy, evaluate, fit, gym_cartpole

__all__ = ["add_arguments", "main", "TRAIN_TASKS", "HELD_OUT", "StudyConfig"]

#: (half-length m, pole mass kg) of the training tasks
TRAIN_TASKS = tuple((length, mass) for length in (0.3, 0.6, 1.0) for mass in (0.05, 0.2))
#: held-out tasks: two interpolations, then four extrapolations (short, long, heavy, long + heavy)
HELD_OUT = ((0.45, 0.12), (0.8, 0.15), (0.15, 0.1), (1.6, 0.1), (0.5, 0.6), (1.6, 0.5))


@dataclass
class StudyConfig:
    env_steps: int = 200_000
    num_envs: int = 48
    rollout_steps: int = 64
    hidden: int = 32
    hyper_hidden: tuple[int, ...] = (64,)
    episodes: int = 10
    max_steps: int = 500
    seeds: tuple[int, ...] = (0, 1, 2)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (< 60 s), for CI")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds (default 0 1 2)")
    parser.add_argument("--env-steps", type=int, default=None, help="environment steps per policy")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...)")
    parser.add_argument("--tag", default="", help="suffix of the result file names (e.g. _200k)")


def _env_speed(num_envs: int, smoke: bool) -> dict:
    """Milliseconds per step of all environments: ours against gymnasium's SyncVectorEnv."""
    import gymnasium
    tasks = [TRAIN_TASKS[i % len(TRAIN_TASKS)] for i in range(num_envs)]
    ours = CartPoleBatch(tasks, generator=torch.Generator().manual_seed(0))
    ours.reset()
    theirs = gymnasium.vector.SyncVectorEnv([lambda t=t: gym_cartpole(*t) for t in tasks])
    theirs.reset(seed=0)
    actions = torch.randint(0, 2, (num_envs,))
    steps = 10 if smoke else 100
    times = interleaved({"ours": lambda: [ours.step(actions) for _ in range(steps)],
                         "gymnasium": lambda: [theirs.step(actions.numpy()) for _ in range(steps)]},
                        rounds=3 if smoke else 10, warmup=1)
    theirs.close()
    return {"num_envs": num_envs, "ours_ms_per_step": round(times["ours"] / steps, 4),
            "gymnasium_ms_per_step": round(times["gymnasium"] / steps, 4),
            "speedup": round(times["gymnasium"] / times["ours"], 2)}


def _plot(runs: list[dict], cfg: StudyConfig, path) -> None:
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
    ax.set_title(f"CartPole, {len(TRAIN_TASKS)} training poles, {len(cfg.seeds)} seeds")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def main(args) -> int:
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    tic = time.perf_counter()
    cfg = (StudyConfig(env_steps=1536, num_envs=12, rollout_steps=32, hidden=8, hyper_hidden=(16,),
                       episodes=1, max_steps=100, seeds=(0,)) if args.smoke else StudyConfig())
    if args.seeds:
        cfg.seeds = tuple(args.seeds)
    if args.env_steps:
        cfg.env_steps = args.env_steps
    held_out = HELD_OUT[:2] if args.smoke else HELD_OUT
    print("[rl] environment step time", flush=True)
    speed = _env_speed(cfg.num_envs, args.smoke)
    runs = []
    bar = progress(total=len(cfg.seeds) * len(POLICY_METHODS), desc="rl")
    for seed in cfg.seeds:
        for method in POLICY_METHODS:
            torch.manual_seed(seed)
            model = TaskPolicy(4, 2, 2, method, TRAIN_TASKS, hidden=cfg.hidden, hyper_hidden=cfg.hyper_hidden)
            config = RLConfig(env_steps=cfg.env_steps, num_envs=cfg.num_envs, seed=seed,
                              rollout_steps=cfg.rollout_steps, device=str(device), progress=False)
            result = fit(model, config)
            train = evaluate(model, TRAIN_TASKS, episodes=cfg.episodes, seed=1000 + seed, max_steps=cfg.max_steps)
            held = evaluate(model, held_out, episodes=cfg.episodes, seed=2000 + seed, max_steps=cfg.max_steps)
            runs.append({"seed": seed, "method": method, "params": sum(p.numel() for p in model.parameters()),
                         "train_return": round(train["return"], 1), "held_out_return": round(held["return"], 1),
                         "held_out_min": round(held["min_task_return"], 1),
                         "held_out_per_task": [round(held[f"task_{i}"], 1) for i in range(len(held_out))],
                         "env_steps": result.steps // (config.epochs * config.minibatches) * cfg.num_envs
                         * cfg.rollout_steps,
                         "train_s": round(result.seconds, 1),
                         "curve": [(s, round(r, 1)) for s, r in result.extra["curve"]]})
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
    name = ("rl_smoke" if args.smoke else "rl") + args.tag
    summary = [{"method": m, "train_return": round(mean(m, "train_return"), 1),
                "held_out_return": round(mean(m, "held_out_return"), 1)} for m in POLICY_METHODS]
    payload = {"config": asdict(cfg), "train_tasks": TRAIN_TASKS, "held_out_tasks": held_out,
               "threads": args.threads, "device": str(device), "env_speed": speed, "runs": runs,
               "summary": summary, "held_out_margin_per_seed": margins, "goal_hypernetwork_best": target,
               "seconds": round(time.perf_counter() - tic, 1)}
    _plot(runs, cfg, result_path(f"{name}_curves.png", "rl"))
    path = write_results(name, payload)
    print(markdown_table(runs, ["seed", "method", "params", "train_return", "held_out_return", "held_out_min"]))
    print(markdown_table(summary))
    print(f"env step ({cfg.num_envs} envs): ours {speed['ours_ms_per_step']} ms, gymnasium SyncVectorEnv "
          f"{speed['gymnasium_ms_per_step']} ms ({speed['speedup']}x)")
    print(f"goal (hypernetwork best held-out): met at {target['seeds_met']} of {len(margins)} seeds; "
          f"margins {margins}")
    print(f"wrote {path}")
    return 0
