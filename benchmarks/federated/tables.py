"""The federated rows of the generated docs tables (see :mod:`benchmarks.tables`), from the
3-seed accuracy run (``results/federated/federated_s20x3.json``), the earlier 8-method run
(``federated_r8.json``), the Flower overhead run (``federated_flower.json``) and the attack study
(``results/federated/federated_attack.json``)."""

from __future__ import annotations

import statistics

from benchmarks.federated.attack import attack_goals
from benchmarks.tables import Context, goals_table, markdown_table
from hyperweights.bench.goals import goal_status

RUN = "federated/federated_s20x3.json"
EIGHT = "federated/federated_r8.json"
#: the issue's other two configurations, 3 seeds, 3 methods, 12 rounds
HUNDRED = "federated/federated_100x03.json"
CLASSES2 = "federated/federated_classes2.json"
#: s = 20 at the paper's 5 local epochs, 30 rounds, 3 seeds, 3 methods (its first 15 rounds are
#: bit-identical to the 15-round run ``federated_s20e5.json``)
EPOCHS5 = "federated/federated_s20e5r30.json"
FLOWER = "federated/federated_flower.json"
DEPLOY = "federated/federated_flower_deploy.json"
ATTACK = "federated/federated_attack.json"
#: the attack at a longer budget, FedAvg's and HyperFL's rows run separately (`--rows ... --ig-steps 3000 --tag ...`)
ATTACK_LONGER = ("federated/federated_attack_fedavg_ig3000.json", "federated/federated_attack_hyperfl_ig3000.json")
#: the multi-step study (what a live run's clients upload) and its FedAvg-only longer budget
MULTISTEP = "federated/federated_attack_multistep.json"
MULTISTEP_FEDAVG = "federated/federated_attack_multistep_fedavg_ig600.json"
#: the compact heads at their chosen settings against the per-tensor reference (the communication goal)
HEADS = "federated/federated_s20_heads.json"
ATTACKERS = {"full": "knows the model", "joint": "joint (`v`, `fc2` guessed and optimised)",
             "recovered": "recovered (`v` read off the upload)",
             "oracle": "oracle (`v`, `fc2` handed over)"}


def _size(nbytes: int) -> str:
    return f"{nbytes / 1e3:.1f} kB" if nbytes < 1e5 else f"{nbytes / 1e6:.2f} MB"


def _rows(data: dict) -> list[dict]:
    """One row per method: mean ± stdev over the seeds, and every seed's value."""
    runs = data["accuracy"]["runs"]
    target = round(100 * data["sizes"]["target"])
    rows = []
    for method in dict.fromkeys(r["method"] for r in runs):
        mine = [r for r in runs if r["method"] == method]
        acc = [r["accuracy"] for r in mine]
        spread = f" ± {statistics.stdev(acc):.2f}" if len(acc) > 1 else ""
        rows.append({"method": method, "accuracy (%)": f"{statistics.mean(acc):.2f}{spread}",
                     "per seed": ", ".join(f"{a:.1f}" for a in acc),
                     "best (%)": f"{statistics.mean(r['best_accuracy'] for r in mine):.2f}",
                     **({"gain, last 2 rounds": f"{statistics.mean(r['gain_last_2_rounds'] for r in mine):+.1f}"}
                        if "gain_last_2_rounds" in mine[0] else {}),
                     f"rounds to {target} %": ", ".join("-" if r["rounds_to_target"] is None else str(r["rounds_to_target"])
                                                       for r in mine),
                     "upload / client / round": _size(mine[0]["bytes_up"]), "download": _size(mine[0]["bytes_down"]),
                     "s / round": f"{statistics.median(r['seconds_per_round'] for r in mine):.1f}"})
    return rows


def federated_runs(ctx: Context) -> str:
    return markdown_table(_rows(ctx.load(RUN)))


def federated_goals(ctx: Context) -> str:
    return goals_table(ctx.load(RUN)["accuracy"]["goals"])


def federated_r8(ctx: Context) -> str:
    return markdown_table(_rows(ctx.load(EIGHT)))


def federated_other_configs(ctx: Context) -> str:
    """100 clients at 30 % sampling (s = 20) and pFedHN's 2-classes split (20 clients)."""
    rows = []
    for label, path in (("s = 20, 100 clients, 30 % per round", HUNDRED), ("2 classes per client, 20 clients", CLASSES2)):
        rows += [{"configuration": label, **row} for row in _rows(ctx.load(path))]
    return markdown_table(rows)


def federated_other_goals(ctx: Context) -> str:
    return goals_table([g for path in (HUNDRED, CLASSES2) for g in ctx.load(path)["accuracy"]["goals"]])


def federated_e5_runs(ctx: Context) -> str:
    return markdown_table(_rows(ctx.load(EPOCHS5)))


def federated_e5_goals(ctx: Context) -> str:
    return goals_table(ctx.load(EPOCHS5)["accuracy"]["goals"])


def federated_flower(ctx: Context) -> str:
    part = dict(ctx.load(FLOWER)["flower"])
    part.update({k: v for k, v in ctx.load(DEPLOY)["flower"].items() if k == "deployment"})
    rows = []
    for runtime in ("simulation", "deployment"):
        if runtime in part:
            r = part[runtime]
            rows.append({"runtime": {"simulation": "simulation (Ray, 1 CPU per client)",
                                     "deployment": "loopback deployment (SuperLink + SuperNodes)"}[runtime],
                         "clients": r["clients"], "rounds": r["rounds"],
                         "Flower s / round": f"{r['flower_seconds_per_round']:.2f}",
                         "in-process s / round": f"{r['inprocess_seconds_per_round']:.2f}",
                         "ratio": f"{r['ratio']:.2f}x",
                         "load average": f"{r['load_average_before'][0]:.0f} -> {r['load_average_after'][0]:.0f}"})
    return markdown_table(rows)


def federated_flower_goals(ctx: Context) -> str:
    return goals_table(ctx.load(FLOWER)["flower"]["goals"])


def federated_attack(ctx: Context) -> str:
    data = ctx.load(ATTACK)
    return markdown_table([{
        "method": {"fedavg": "FedAvg", "hyperfl": "HyperFL"}[r["method"]], "attack": r["attack"].upper(),
        "attacker": ATTACKERS[r["attacker"]], "PSNR (dB)": f"{r['psnr']:.1f} ± {r['psnr_std']:.1f}",
        "SSIM": f"{r['ssim']:.3f}", "per-seed PSNR": ", ".join(f"{p:.1f}" for p in r["per_seed_psnr"])}
        for r in data["table"]])


def federated_attack_goals(ctx: Context) -> str:
    return goals_table(ctx.load(ATTACK)["goals"])


def _attack_budgets(ctx: Context) -> dict[int, list[dict]]:
    """IG steps -> the attack rows at that budget: the study's (every row) and the longer runs
    (FedAvg and HyperFL measured by separate ``--rows`` runs on the same seeds and images)."""
    study = ctx.load(ATTACK)
    longer = [r for path in ATTACK_LONGER for r in ctx.load(path)["table"]]
    return {study["config"]["ig_steps"]: study["table"], ctx.load(ATTACK_LONGER[0])["config"]["ig_steps"]: longer}


def federated_attack_long(ctx: Context) -> str:
    """Inverting Gradients on FedAvg and HyperFL at the study's budget and at a longer one."""
    rows = []
    for steps, table in _attack_budgets(ctx).items():
        rows += [{"IG steps": steps, "method": {"fedavg": "FedAvg", "hyperfl": "HyperFL"}[r["method"]],
                  "attacker": ATTACKERS[r["attacker"]], "images": r["images"],
                  "PSNR (dB)": f"{r['psnr']:.1f} ± {r['psnr_std']:.1f}", "SSIM": f"{r['ssim']:.3f}",
                  "per-seed PSNR": ", ".join(f"{p:.1f}" for p in r["per_seed_psnr"])}
                 for r in table if r["attack"] == "ig" and r["attacker"] in ("full", "joint", "recovered")]
    return markdown_table(rows)


def federated_attack_long_goals(ctx: Context) -> str:
    """The study's goals (its own rule) at the longer budget."""
    steps, table = list(_attack_budgets(ctx).items())[-1]
    return goals_table([{**g, "goal": f"{steps} IG steps: {g['goal']}"} for g in attack_goals(table)])


def _multistep_rows(data: dict, *, method: bool = True) -> list[dict]:
    rows = []
    for r in data["table"]:
        row = {"state": r["state"]}
        if method:
            row.update({"method": {"fedavg": "FedAvg", "hyperfl": "HyperFL"}[r["method"]],
                        "attacker": ATTACKERS[r["attacker"]]})
        row.update({"IG steps": data["config"]["ig_steps"], "PSNR (dB)": f"{r['psnr']:.1f} ± {r['psnr_std']:.1f}",
                    "SSIM": f"{r['ssim']:.3f}", "per-seed PSNR": ", ".join(f"{p:.1f}" for p in r["per_seed_psnr"])})
        rows.append(row)
    return rows


def federated_attack_multistep(ctx: Context) -> str:
    return markdown_table(_multistep_rows(ctx.load(MULTISTEP)))


def federated_attack_multistep_goals(ctx: Context) -> str:
    return goals_table(ctx.load(MULTISTEP)["goals"])


def federated_attack_multistep_fedavg(ctx: Context) -> str:
    data = ctx.load(MULTISTEP_FEDAVG)
    status = {g["goal"].split("]")[0].strip("["): goal_status(g) for g in data["goals"]}
    return markdown_table([{**row, "PSNR >= 20 dB": status[row["state"]]}
                           for row in _multistep_rows(data, method=False)])


def federated_heads(ctx: Context) -> str:
    return markdown_table(_rows(ctx.load(HEADS)))


def federated_heads_goals(ctx: Context) -> str:
    return goals_table(ctx.load(HEADS)["accuracy"]["goals"])


def headline(ctx: Context) -> str:
    data = ctx.load(EPOCHS5)
    mean = lambda m: statistics.mean(r["accuracy"] for r in data["accuracy"]["runs"] if r["method"] == m)  # noqa: E731
    steps, table = list(_attack_budgets(ctx).items())[-1]
    attack = {(r["method"], r["attack"], r["attacker"]): r["psnr"] for r in table}
    heads = ctx.load(HEADS)["accuracy"]["runs"]
    first = {r["method"]: r for r in heads if r["seed"] == 0}
    ratio = first["hyperfl"]["bytes_up"] / first["hyperfl_chunked"]["bytes_up"]
    head_mean = lambda m: statistics.mean(r["accuracy"] for r in heads if r["method"] == m)  # noqa: E731
    sim = ctx.load(FLOWER)["flower"]["simulation"]
    return (f"HyperFL / pFedHN / FedAvg / Local in process and on Flower (simulation and loopback "
            f"deployment tested; simulation {sim['ratio']:.2f}x the in-process loop's time per round at "
            f"{sim['clients']} clients); Fashion-MNIST, 20 clients, {data['sizes']['rounds']} rounds of 1 + "
            f"{data['sizes']['epochs']} local epochs, "
            f"{len(data['sizes']['seeds'])} seeds: HyperFL {mean('hyperfl'):.1f} % vs FedAvg {mean('fedavg'):.1f} % "
            f"and Local {mean('local'):.1f} %; chunked head uploads **{ratio:.0f}×** less than the reference "
            f"design at {head_mean('hyperfl_chunked'):.1f} % vs its {head_mean('hyperfl'):.1f} % (12 rounds of 1 + 1); Inverting Gradients ({steps:,} steps) {attack[('fedavg', 'ig', 'full')]:.1f} dB on FedAvg vs "
            f"{attack[('hyperfl', 'ig', 'joint')]:.1f} dB on HyperFL ({attack[('hyperfl', 'ig', 'recovered')]:.1f}"
            f" dB once the embedding is read off the upload)")


HEADLINE = ("federated learning (Flower)", "hyperweights.federated", "docs/federated.md", headline)
TABLES: dict = {"federated-runs": federated_runs, "federated-goals": federated_goals, "federated-r8": federated_r8,
                "federated-other-configs": federated_other_configs, "federated-other-goals": federated_other_goals,
                "federated-e5-runs": federated_e5_runs, "federated-e5-goals": federated_e5_goals,
                "federated-flower": federated_flower, "federated-flower-goals": federated_flower_goals,
                "federated-attack": federated_attack, "federated-attack-goals": federated_attack_goals,
                "federated-attack-long": federated_attack_long,
                "federated-attack-long-goals": federated_attack_long_goals,
                "federated-attack-multistep": federated_attack_multistep,
                "federated-attack-multistep-goals": federated_attack_multistep_goals,
                "federated-attack-multistep-fedavg": federated_attack_multistep_fedavg,
                "federated-heads": federated_heads, "federated-heads-goals": federated_heads_goals}
