"""The physics row of the README's applications table (see :mod:`benchmarks.tables`)."""

from __future__ import annotations

from benchmarks.tables import Context


def headline(ctx: Context) -> str:
    data = ctx.load("physics/physics.json")
    rounds, run = data["round_means"][0], data["runs"][0]
    final = run["mean_curves"]["random_init"][-1]
    return (f"held-out 2-D PDEs (Poisson, Helmholtz, advection–diffusion; square and disk): zero-shot "
            f"relative L2 **{rounds[0]:.3f}**, {rounds[-1]:.3f} after {len(rounds) - 1} delta-PINN "
            f"rounds; fine-tuning from the prediction reaches the random-init PINN's {final[0]}-step "
            f"error in {run['steps_to_random_final']} steps (seed {run['seed']})")


HEADLINE = ("physics-informed PDE solving", "hyperweights.physics", "docs/physics.md", headline)
TABLES: dict = {}
