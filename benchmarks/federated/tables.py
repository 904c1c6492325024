"""The federated rows of the generated docs tables (see :mod:`benchmarks.tables`), from the
accuracy run (``results/federated/federated_r8.json``) and the attack study
(``results/federated/federated_attack.json``)."""

from __future__ import annotations

from benchmarks.tables import Context, goals_table, markdown_table

RUN = "federated/federated_r8.json"
ATTACK = "federated/federated_attack.json"
ATTACKERS = {"full": "knows the model", "joint": "joint (`v`, `fc2` guessed and optimised)",
             "recovered": "recovered (`v` read off the upload)",
             "oracle": "oracle (`v`, `fc2` handed over)"}


def _size(nbytes: int) -> str:
    return f"{nbytes / 1e3:.1f} kB" if nbytes < 1e5 else f"{nbytes / 1e6:.2f} MB"


def federated_runs(ctx: Context) -> str:
    data = ctx.load(RUN)
    target = round(100 * data["sizes"]["target"])
    return markdown_table([{
        "method": r["method"], "accuracy (%)": f"{r['accuracy']:.2f}", "best (%)": f"{r['best_accuracy']:.2f}",
        f"rounds to {target} %": "-" if r["rounds_to_target"] is None else r["rounds_to_target"],
        "upload / client / round": _size(r["bytes_up"]), "download": _size(r["bytes_down"]),
        "s / round": f"{r['seconds_per_round']:.1f}"} for r in data["accuracy"]["runs"]])


def federated_goals(ctx: Context) -> str:
    return goals_table(ctx.load(RUN)["accuracy"]["goals"])


def federated_attack(ctx: Context) -> str:
    data = ctx.load(ATTACK)
    return markdown_table([{
        "method": {"fedavg": "FedAvg", "hyperfl": "HyperFL"}[r["method"]], "attack": r["attack"].upper(),
        "attacker": ATTACKERS[r["attacker"]], "PSNR (dB)": f"{r['psnr']:.1f} ± {r['psnr_std']:.1f}",
        "SSIM": f"{r['ssim']:.3f}", "per-seed PSNR": ", ".join(f"{p:.1f}" for p in r["per_seed_psnr"])}
        for r in data["table"]])


def federated_attack_goals(ctx: Context) -> str:
    return goals_table(ctx.load(ATTACK)["goals"])


def headline(ctx: Context) -> str:
    runs = {r["method"]: r for r in ctx.load(RUN)["accuracy"]["runs"]}
    attack = {(r["method"], r["attack"], r["attacker"]): r["psnr"] for r in ctx.load(ATTACK)["table"]}
    ratio = runs["hyperfl"]["bytes_up"] / runs["hyperfl_chunked"]["bytes_up"]
    return (f"HyperFL / pFedHN / FedAvg / Local in process and on Flower (simulation and loopback "
            f"deployment tested); a reduced Fashion-MNIST run (20 clients, 8 rounds): HyperFL "
            f"{runs['hyperfl']['accuracy']:.1f} % vs FedAvg {runs['fedavg']['accuracy']:.1f} % and Local "
            f"{runs['local']['accuracy']:.1f} %; chunked head uploads **{ratio:.0f}×** less than the "
            f"reference design; Inverting Gradients {attack[('fedavg', 'ig', 'full')]:.1f} dB on FedAvg vs "
            f"{attack[('hyperfl', 'ig', 'joint')]:.1f} dB on HyperFL ({attack[('hyperfl', 'ig', 'recovered')]:.1f}"
            f" dB once the embedding is read off the upload)")


HEADLINE = ("federated learning (Flower)", "hyperweights.federated", "docs/federated.md", headline)
TABLES: dict = {"federated-runs": federated_runs, "federated-goals": federated_goals,
                "federated-attack": federated_attack, "federated-attack-goals": federated_attack_goals}
