"""``hyperweights bench physics``: HyPINO-style hypernetwork PINNs on held-out PDEs.

One HyperPINN is trained on problems drawn from the family (Poisson, Helmholtz, advection–diffusion;
Dirichlet or mixed boundaries; square or disk; mixed supervision). On held-out problems — MMS ones
(analytic solution) and source-only ones on the square (finite-difference solution) — it reports the
relative L2 error zero-shot, after each delta-PINN refinement round, and along ``k`` fine-tuning steps
from the prediction, against a PINN per problem from random initialisation and one from a
Reptile-meta-learned initialisation (the same steps, the same physics loss, batched over problems).

Goals (computed here, stored in ``results/physics/physics.json``):

- zero-shot error below a per-PDE PINN trained for the wall time of one hypernetwork forward
  (time ratio: interleaved medians in this process);
- refinement lowers the mean error at each of the first 3 rounds;
- fine-tuning from the prediction reaches the random-init PINN's final error in <= 1/5 of its steps.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass, field

import torch

from hyperweights.bench import interleaved, markdown_table, write_results
from hyperweights.bench.goals import goal
from hyperweights.bench.report import result_path
from hyperweights.physics import (HyperPINN, PDEFamily, PhysicsConfig, evaluation_grid, fit, pinn_values,
                                  random_member, reference_solution, refine, relative_l2, reptile_init,
                                  round_errors, shared_member, train_pinns)

__all__ = ["add_arguments", "main", "PhysicsBench"]


@dataclass
class PhysicsBench:
    """Sizes and budgets of the study."""

    train_steps: int = 600
    batch_size: int = 8
    lr: float = 1e-3
    held_out_mms: int = 12
    held_out_fd: int = 4
    grid: int = 33                    # evaluation grid (and the FD solve) per side
    rounds: int = 3
    finetune_steps: int = 200
    finetune_lr: float = 1e-3
    every: int = 5                    # fine-tuning curves: error every this many steps
    reptile_meta_steps: int = 40
    reptile_inner_steps: int = 5
    reptile_tasks: int = 8
    points: tuple[int, int] = (128, 32)   # interior and boundary collocation points per PDE and step
    timing_rounds: int = 7
    model: dict = field(default_factory=dict)   # HyperPINN size overrides (the smoke run's is tiny)
    seed: int = 0


SMOKE = PhysicsBench(train_steps=3, batch_size=4, held_out_mms=2, held_out_fd=1, grid=9, rounds=3,
                     finetune_steps=10, every=5, reptile_meta_steps=1, reptile_inner_steps=2,
                     reptile_tasks=2, points=(32, 8), timing_rounds=2,
                     model={"features": 4, "width": 8, "hidden": (32,), "code_dim": 16})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (< 60 s), for CI")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds (default 0)")
    parser.add_argument("--train-steps", type=int, default=None, help="hypernetwork training steps")
    parser.add_argument("--finetune-steps", type=int, default=None, help="PINN steps per baseline")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _held_out(cfg: PhysicsBench, seed: int, device):
    gen = torch.Generator().manual_seed(10_000 + seed)
    mms = PDEFamily().sample(cfg.held_out_mms, gen, labelled=True)
    fd = PDEFamily(geometries=("square",)).sample(cfg.held_out_fd, gen, labelled=False)
    fields = {f: torch.cat([getattr(mms, f), getattr(fd, f)]) for f in mms.__dataclass_fields__}
    return type(mms)(**fields).to(device)


def _steps_to_reach(curve: list[tuple[int, float]], level: float) -> int | None:
    return next((step for step, err in curve if err <= level), None)


def _run_seed(cfg: PhysicsBench, seed: int, device, show: bool) -> dict:
    family = PDEFamily()
    model = HyperPINN(seed=seed, **cfg.model)
    t0 = time.perf_counter()
    fit_result = fit(model, family, PhysicsConfig(steps=cfg.train_steps, batch_size=cfg.batch_size, lr=cfg.lr,
                                                  interior_points=cfg.points[0], boundary_points=cfg.points[1],
                                                  seed=seed, device=str(device), progress=show))
    train_seconds = time.perf_counter() - t0
    model.eval()
    problems = _held_out(cfg, seed, device)
    reference = reference_solution(problems, cfg.grid)
    nodes, mask = evaluation_grid(problems, cfg.grid)
    labelled = problems.labelled

    members = refine(model, problems, cfg.rounds)
    per_round = [e.tolist() for e in round_errors(model.target, members, nodes, reference, mask)]

    def monitor(member):
        return relative_l2(pinn_values(model.target, member, nodes), reference, mask).tolist()

    def curve_of(start, label):
        run = train_pinns(model.target, start, problems, steps=cfg.finetune_steps, lr=cfg.finetune_lr,
                          interior=cfg.points[0], boundary_points=cfg.points[1], seed=seed, monitor=monitor,
                          every=cfg.every)
        print(f"  {label}: error {sum(run.curve[0][1]) / len(problems):.3g} -> "
              f"{sum(run.curve[-1][1]) / len(problems):.3g} in {cfg.finetune_steps} steps", flush=True)
        return [(step, errs) for step, errs in run.curve]

    gen = torch.Generator().manual_seed(seed)
    random_start = random_member(model.target, problems, gen)
    t0 = time.perf_counter()
    reptile = reptile_init(model.target, family, meta_steps=cfg.reptile_meta_steps,
                           inner_steps=cfg.reptile_inner_steps, tasks=cfg.reptile_tasks, lr=cfg.finetune_lr,
                           seed=seed, interior=cfg.points[0], boundary_points=cfg.points[1], progress=show)
    reptile_seconds = time.perf_counter() - t0
    curves = {"hypernetwork": curve_of(members[0], "fine-tune from the prediction"),
              "random_init": curve_of(random_start, "PINN from random init"),
              "reptile_init": curve_of(shared_member(reptile, problems), "PINN from Reptile init")}

    # equal wall time: PINN steps that fit into one (batched) hypernetwork forward
    forward = lambda: torch.no_grad()(model.generate)(problems)                         # noqa: E731
    one_step = lambda: train_pinns(model.target, random_start, problems, steps=1, lr=cfg.finetune_lr,  # noqa: E731
                                   interior=cfg.points[0], boundary_points=cfg.points[1])
    times = interleaved({"forward": forward, "pinn_step": one_step}, rounds=cfg.timing_rounds, warmup=1)
    equal_steps = int(times["forward"] // times["pinn_step"])
    if equal_steps:
        equal = train_pinns(model.target, random_start, problems, steps=equal_steps, lr=cfg.finetune_lr,
                            interior=cfg.points[0], boundary_points=cfg.points[1], seed=seed,
                            monitor=monitor, every=equal_steps).curve[-1][1]
    else:
        equal = curves["random_init"][0][1]
    return {"seed": seed, "train_seconds": round(train_seconds, 1), "reptile_seconds": round(reptile_seconds, 1),
            "final_train_loss": sum(fit_result.losses[-50:]) / len(fit_result.losses[-50:]),
            "labelled": labelled.tolist(), "operator": problems.operator.tolist(),
            "geometry": problems.geometry.tolist(), "mixed": problems.mixed.tolist(),
            "round_errors": per_round, "curves": curves, "forward_ms": times["forward"],
            "pinn_step_ms": times["pinn_step"], "equal_time_steps": equal_steps,
            "equal_time_pinn_errors": equal}


def _mean(values) -> float:
    return float(sum(values) / len(values))


def _summarise(runs: list[dict], cfg: PhysicsBench) -> dict:
    zero_shot = [_mean(r["round_errors"][0]) for r in runs]
    equal = [_mean(r["equal_time_pinn_errors"]) for r in runs]
    rounds = [[_mean(e) for e in r["round_errors"]] for r in runs]
    drops = [min(rr[i] - rr[i + 1] for i in range(min(3, len(rr) - 1))) for rr in rounds]
    finals, reach = [], []
    for r in runs:
        mean_curve = {k: [(s, _mean(e)) for s, e in v] for k, v in r["curves"].items()}
        target = mean_curve["random_init"][-1][1]
        steps = _steps_to_reach(mean_curve["hypernetwork"], target)
        finals.append({k: v[-1][1] for k, v in mean_curve.items()})
        reach.append((steps if steps is not None else float("inf")) / cfg.finetune_steps)
        r["mean_curves"] = mean_curve
        r["steps_to_random_final"] = steps
    goals = [
        goal("zero-shot error < a per-PDE PINN trained for one hypernetwork forward's wall time",
             _mean([z - e for z, e in zip(zero_shot, equal)]), 0.0, per_seed=[z - e for z, e in zip(zero_shot, equal)],
             unit=" (rel. L2 difference)"),
        goal("refinement lowers the mean error at each of the first 3 rounds (smallest drop > 0)",
             min(drops), 0.0, at_most=False, per_seed=drops),
        goal("fine-tuning from the prediction reaches the random-init PINN's final error in <= 1/5 of its steps",
             max(reach), 0.2, per_seed=reach, unit=" of the steps"),
    ]
    goals[1]["met"] = goals[1]["met"] and min(drops) > 0 and cfg.rounds >= 3
    return {"zero_shot": zero_shot, "equal_time_pinn": equal, "round_means": rounds, "finals": finals,
            "reach_fraction": reach, "goals": goals}


def _plot(runs: list[dict], path) -> None:
    """Left: error per refinement round; right: fine-tuning curves. One colour per held-out set or
    start, one line style per seed, so the methods stay apart however many seeds there are."""
    from hyperweights.bench.plotting import pyplot, save_figure
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    styles = ("-", "--", ":", "-.")
    for k, r in enumerate(runs):
        style, seed_label = styles[k % len(styles)], f", seed {r['seed']}" if len(runs) > 1 else ""
        labelled = torch.tensor(r["labelled"])
        errors = torch.tensor(r["round_errors"])
        for colour, (name, sel) in enumerate((("MMS", labelled), ("FD reference", ~labelled))):
            if sel.any():
                left.plot(range(len(errors)), errors[:, sel].mean(1), style, marker="o", color=f"C{colour}",
                          label=f"{name}{seed_label}")
        for colour, (name, curve) in enumerate(r["mean_curves"].items()):
            right.plot([s for s, _ in curve], [e for _, e in curve], style, color=f"C{colour + 2}",
                       label=f"{name}{seed_label}")
    left.set_xlabel("refinement round (0 = zero-shot)")
    left.set_ylabel("mean relative L2 error")
    left.set_yscale("log")
    left.legend(fontsize=6)
    right.set_xlabel("PINN fine-tuning steps")
    right.set_yscale("log")
    right.legend(fontsize=6)
    right.set_title("held-out PDEs")
    save_figure(fig, path)


def main(args) -> int:
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cfg = SMOKE if args.smoke else PhysicsBench()
    if args.train_steps:
        cfg.train_steps = args.train_steps
    if args.finetune_steps:
        cfg.finetune_steps = args.finetune_steps
    seeds = tuple(args.seeds or (cfg.seed,))
    name = "physics_smoke" if args.smoke else "physics"
    show = not args.no_progress and not args.smoke
    tic = time.perf_counter()
    runs = []
    for seed in seeds:
        print(f"[physics] seed {seed}: HyperPINN {cfg.train_steps} steps, {cfg.held_out_mms}+{cfg.held_out_fd} "
              "held-out PDEs", flush=True)
        runs.append(_run_seed(cfg, seed, device, show))
    summary = _summarise(runs, cfg)
    payload = {"threads": args.threads, "device": str(device), "config": asdict(cfg), "seeds": list(seeds),
               "runs": runs, **summary, "seconds": round(time.perf_counter() - tic, 1)}
    path = write_results(name, payload)
    _plot(runs, result_path(f"{name}.png"))
    rows = [{"seed": r["seed"], "zero_shot": z, **{f"round {i}": e for i, e in enumerate(rr[1:], 1)},
             **{f"{k} final": v for k, v in f.items()}, "steps to random final": r["steps_to_random_final"]}
            for r, z, rr, f in zip(runs, summary["zero_shot"], summary["round_means"], summary["finals"])]
    print(markdown_table(rows))
    for g in summary["goals"]:
        print(f"  goal: {g['goal']}: measured {g['measured']:.4g} -> {'met' if g['met'] else 'NOT met'}")
    print(f"wrote {path}")
    return 0
