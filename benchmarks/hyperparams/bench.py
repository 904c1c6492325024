"""``hyperweights bench hyperparams``: sweep fidelity, Self-Tuning Networks vs searches, MIP study.

Writes ``results/hyperparams.json`` (``hyperparams_smoke.json`` with ``--smoke``) and the plots
``results/hyperparams_{sweep,stn_schedule,mip}.png``; prints the Markdown tables of
docs/hyperparams.md. Runs single-threaded (``torch.set_num_threads(1)``) so that time ratios
measured in one process are stable on a shared machine.
"""

from __future__ import annotations

import argparse
import time

import torch

from hyperweights.bench import markdown_table, write_results
from hyperweights.bench.plotting import pyplot
from hyperweights.bench.report import result_path
from benchmarks.hyperparams.init import InitConfig, run_init_study
from benchmarks.hyperparams.mip import SETTINGS, MipConfig, run_mip_settings
from benchmarks.hyperparams.stn import StnConfig, run_stn_study
from benchmarks.hyperparams.sweep import SweepConfig, run_sweep

__all__ = ["add_arguments", "main"]

PARTS = ("sweep", "stn", "mip", "init")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (< 60 s), for CI")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                        help="which studies to run (default: all)")
    parser.add_argument("--data", choices=("fashion_mnist", "mnist5k"), default="fashion_mnist",
                        help="Fashion-MNIST (falls back to MNIST-5k when its files are missing)")
    parser.add_argument("--data-dir", default=None, help="folder with the Fashion-MNIST IDX files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")


def _load(args) -> tuple[object, str]:
    from hyperweights.data import load_fashion_mnist, load_mnist5k
    if args.data == "fashion_mnist":
        try:
            return load_fashion_mnist(args.data_dir, seed=args.seed), "fashion_mnist"
        except FileNotFoundError as err:
            print(f"[hyperparams] {err}\n[hyperparams] falling back to MNIST-5k")
    return load_mnist5k(seed=args.seed), "mnist5k"


def _sizes(smoke: bool) -> dict:
    if smoke:
        return {"sweep": SweepConfig(hidden=16, grid_steps=30, cond_steps=30, block=10, trunk=(16,)),
                "stn": StnConfig(hidden=16, steps=40, warmup=10, grid_per_axis=1, random_trials=3, block=10),
                "mip": MipConfig(hidden=8, trunk=(16,), lrs=(1e-3,), seeds=(0,), steps=20, eval_every=10,
                                 eval_examples=200),
                "init": InitConfig(steps=10, seeds=(0,)),
                "n": {"sweep_train": 300, "val": 300, "stn_train": 300, "test": 500, "mip_train": 300}}
    return {"sweep": SweepConfig(), "stn": StnConfig(), "mip": MipConfig(), "init": InitConfig(),
            "n": {"sweep_train": 2000, "val": 2000, "stn_train": 5000, "test": 10000, "mip_train": 2000}}


def _plot_sweep(res: dict, path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    ax.plot(res["lambda_grid"], res["grid_val_loss"], "o", color="C0",
            label=f"{len(res['lambda_grid'])} separately trained networks")
    ax.plot(res["lambda_fine"], res["cond_fine_val_loss"], "-", color="C1",
            label="one conditioned hypernetwork (sweep)")
    ax.axvline(res["grid_best_lambda"], color="C0", ls=":", lw=1)
    ax.axvline(res["cond_best_lambda"], color="C1", ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("weight decay lambda")
    ax.set_ylabel("validation loss")
    ax.set_title(f"Sweep fidelity: conditioned/grid compute = {res['compute_ratio_flops']:.2f} (FLOPs), "
                 f"{res['compute_ratio_time']:.2f} (time)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_schedule(res: dict, path) -> None:
    plt = pyplot()
    runs = [("paper's init", res["schedule"], "-")]
    if res.get("stn_poor_init", {}).get("schedule"):
        runs.append(("poor init", res["stn_poor_init"]["schedule"], "--"))
    fig, (a, b) = plt.subplots(1, 2, figsize=(8.0, 3.4), dpi=100)
    for label, sched, style in runs:
        steps = [r["step"] for r in sched]
        for i, name in enumerate(("dropout_in", "dropout_h1", "dropout_h2")):
            a.plot(steps, [r[name] for r in sched], style, color=f"C{i}", label=f"{name} ({label})")
        b.plot(steps, [r["cutout"] for r in sched], style, color="C3", label=label)
    a.set_yscale("log")
    a.set_xlabel("training step")
    a.set_ylabel("dropout rate")
    a.legend(fontsize=6)
    b.set_xlabel("training step")
    b.set_ylabel("cutout length (px of the pooled image)")
    b.legend(fontsize=7)
    fig.suptitle("Hyperparameter schedules discovered by the STN", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_mip(res: dict, path) -> None:
    plt = pyplot()
    import statistics
    cfg = res["config"]
    lrs = cfg["lrs"]
    fig, axes = plt.subplots(1, len(lrs), figsize=(3.2 * len(lrs), 3.2), dpi=100, squeeze=False)
    for ax, lr in zip(axes[0], lrs):
        for i, variant in enumerate(cfg["variants"]):
            curves = [r["curve"] for r in res["runs"] if r["variant"] == variant and r["lr"] == lr]
            med = [statistics.median(v) for v in zip(*curves)]
            xs = [j * cfg["eval_every"] for j in range(len(med))]
            ax.plot(xs, med, color=f"C{i}", label=variant)
        ax.axhline(res["target_loss"], color="k", ls=":", lw=1)
        ax.set_yscale("log")
        ax.set_title(f"Adam lr {lr:g}", fontsize=9)
        ax.set_xlabel("step")
    axes[0][0].set_ylabel("training objective (median of seeds)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _tables(out: dict) -> dict:
    tables = {}
    if "sweep" in out:
        r = out["sweep"]
        tables["sweep"] = markdown_table([{
            "grid best lambda": f"{r['grid_best_lambda']:.3g}",
            "conditioned best lambda": f"{r['cond_best_lambda']:.3g}",
            "grid steps apart": r["grid_steps_apart"],
            "loss at choice vs separate net": f"{100 * r['cond_loss_at_choice_vs_separate']:+.1f}%",
            "best vs grid best": f"{100 * r['cond_best_vs_grid_best']:+.1f}%",
            "regret of the choice (grid)": (f"{100 * r['grid_regret_at_cond_choice']:+.1f}%"
                                            if "grid_regret_at_cond_choice" in r else "-"),
            "compute ratio (FLOPs)": f"{r['compute_ratio_flops']:.3f}",
            "compute ratio (time)": f"{r['compute_ratio_time']:.3f}",
            "compute ratio (examples)": f"{r['compute_ratio_examples']:.3f}",
        }])
    if "stn" in out:
        tables["stn"] = markdown_table([
            {"method": r["method"], "test loss": r["test_loss"], "test acc": r["test_acc"],
             "val loss": r["val_loss"], "cost (STN runs)": r["cost_in_stn_runs"],
             "chosen": ", ".join(f"{k}={v:.3g}" for k, v in r["chosen"].items())}
            for r in out["stn"]["rows"]])
    if "mip" in out:
        tables["mip"] = markdown_table(_mip_rows(out["mip"]))
        tables["mip comparison"] = markdown_table([
            {"initialisation": name, "MIP fewest steps at every lr": c["goal_mip_wins_everywhere"],
             **{f"median final ({v})": f"{loss:.3f}" for v, loss in c["final_loss_median"].items()},
             "std(delta)/std(theta0) per tensor": ", ".join(f"{k} {r:.3g}" for k, r in c["initial_delta_over_theta0"].items())}
            for name, c in out["mip"]["comparison"].items()])
        for name, res in out["mip"].get("settings", {}).items():
            tables[f"mip ({name})"] = markdown_table(_mip_rows(res))
    if "init" in out:
        res = out["init"]
        rows = []
        for name, s in res["summary"].items():
            seeds = [r for r in res["rows"] if r["model"] == name]
            rows.append({"head init": name, "mean test acc": f"{s['mean_acc']:.4f}",
                         "per seed": ", ".join(f"{r['test_acc']:.4f}" for r in seeds),
                         "beats the default at": res["seeds_beating_default"].get(name, "-"),
                         "initial std / own (seed 0)": ", ".join(
                             f"{k} {v:.2f}" for k, v in seeds[0].get("initial_std_over_own", {}).items())})
        tables["init"] = markdown_table(rows)
    return tables


def _mip_rows(res: dict) -> list[dict]:
    rows = []
    for row in res["table"]:
        for variant in res["config"]["variants"]:
            v = row[variant]
            rows.append({"lr": row["lr"], "variant": variant, "reached": v["reached"],
                         "median steps to target": v["steps_median"] if v["steps_median"] is not None else "not all",
                         "steps per seed": str(v["steps"]),
                         "spread (max-min)": v["steps_spread"] if v["steps_spread"] is not None else "-",
                         "final loss": f"{v['final_loss_mean']:.3f} ± {v['final_loss_std']:.3f}"})
    return rows


def main(args) -> int:
    from tqdm import tqdm

    torch.set_num_threads(args.threads)
    split, dataset = _load(args)
    sizes = _sizes(args.smoke)
    n = sizes["n"]
    xtr, ytr = split.x_train, split.y_train
    val = slice(n["stn_train"], n["stn_train"] + n["val"])   # shared validation rows, disjoint from training
    out: dict = {"dataset": dataset, "smoke": args.smoke, "torch_threads": args.threads,
                 "sizes": n, "seed": args.seed}
    start = time.perf_counter()
    if "sweep" in args.parts:
        cfg = sizes["sweep"]
        cfg.seed = args.seed
        data = {"x_train": xtr[: n["sweep_train"]], "y_train": ytr[: n["sweep_train"]],
                "x_val": xtr[val], "y_val": ytr[val]}
        with tqdm(total=cfg.grid_steps + cfg.cond_steps, desc="sweep fidelity") as bar:
            out["sweep"] = run_sweep(cfg, data, bar)
        _plot_sweep(out["sweep"], result_path("hyperparams_sweep.png"))
    if "stn" in args.parts:
        cfg = sizes["stn"]
        cfg.seed = args.seed
        data = {"x_train": xtr[: n["stn_train"]], "y_train": ytr[: n["stn_train"]],
                "x_val": xtr[val], "y_val": ytr[val],
                "x_test": split.x_test[: n["test"]], "y_test": split.y_test[: n["test"]]}
        with tqdm(total=3, desc="STN vs searches") as bar:
            out["stn"] = run_stn_study(cfg, data, bar)
        _plot_schedule(out["stn"], result_path("hyperparams_stn_schedule.png"))
    if "mip" in args.parts:
        cfg = sizes["mip"]
        data = {"x_train": xtr[: n["mip_train"]], "y_train": ytr[: n["mip_train"]]}
        runs = len(SETTINGS) * len(cfg.variants) * len(cfg.lrs) * len(cfg.seeds)
        with tqdm(total=runs, desc="MIP study") as bar:
            out["mip"] = run_mip_settings(cfg, data, bar)
        _plot_mip(out["mip"], result_path("hyperparams_mip.png"))
    if "init" in args.parts:
        from hyperweights.data import load_mnist5k
        cfg = sizes["init"]
        with tqdm(total=len(cfg.seeds) * len(cfg.modes), desc="head init (MNIST-5k)") as bar:
            out["init"] = run_init_study(cfg, load_mnist5k(seed=0), bar)
    out["seconds_total"] = time.perf_counter() - start
    name = "hyperparams_smoke" if args.smoke else "hyperparams"
    previous = result_path(f"{name}.json")
    if set(args.parts) != set(PARTS) and previous.exists():
        # a partial rerun keeps the other studies' results (and notes which parts were rerun)
        import json
        old = json.loads(previous.read_text())
        kept = {k: old[k] for k in PARTS if k in old and k not in args.parts}
        out = {**kept, **out, "rerun_parts": list(args.parts),
               "machine_of_kept_parts": old.get("machine")}
    out["tables"] = _tables(out)
    path = write_results(name, out)
    for name, table in out["tables"].items():
        print(f"\n## {name}\n{table}")
    print(f"\nwrote {path} ({out['seconds_total']:.0f} s)")
    return 0
